package convert

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/dcnet-go/dcnet/internal/parallel"
	"github.com/dcnet-go/dcnet/runtime"
)

// patchNormPercentiles returns, per channel group, the P-th percentile of
// the patch norms n_p = sqrt(Σ x_p² + eps) of the layer's input over every
// calibration image and output position (numpy's default, linear
// interpolation between the closest ranks).
func (c *calibrator) patchNormPercentiles(ctx context.Context, job *layerJob, acts *activations) ([]float64, error) {
	p, err := c.normsProbe(job)
	if err != nil {
		return nil, fmt.Errorf("planning the patch norms: %w", err)
	}
	group := int(job.cfg.group)
	norms := make([][]float32, group)
	eps := float64(job.cfg.op.Eps)
	stride, seen := 0, 0 // keep every stride-th norm of each group
	err = acts.each(ctx, func(x *runtime.Tensor) error {
		out, err := p.run(ctx, x)
		if err != nil {
			return fmt.Errorf("patch norms: %w", err)
		}
		s := out[0]
		n, plane := s.Shape()[0], s.Shape()[2]*s.Shape()[3]
		if stride == 0 {
			total := c.samples() * group * plane
			stride = (total + maxNorms - 1) / maxNorms
		}
		vals := s.Float32s()
		for img := range n {
			for g := range group {
				row := vals[(img*group+g)*plane : (img*group+g+1)*plane]
				for i, v := range row {
					if (seen+i)%stride == 0 {
						norms[g] = append(norms[g], float32(math.Sqrt(float64(v)+eps)))
					}
				}
			}
			seen += plane
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	q := make([]float64, group)
	for g, v := range norms {
		q[g] = percentile(v, c.percentile)
	}
	return q, nil
}

// percentile returns the p-quantile (0 < p ≤ 1) of v, which it sorts:
// linear interpolation between the values of ranks floor and ceil of
// p·(len − 1), as numpy.percentile does by default.
func percentile(v []float32, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	pos := p * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(v)-1)
	frac := pos - float64(lo)
	return float64(v[lo]) + frac*(float64(v[hi])-float64(v[lo]))
}

// layerFit is the result of a layer's least-squares fit.
type layerFit struct {
	alpha, beta, bias []float32
	relError          float64
	fallbacks         int
}

// normal holds one output channel's normal equations over the basis
// (1, u[, v]): G = Σ φφᵀ, r = Σ φ·y, and yy = Σ y².
type normal struct {
	g  [3][3]float64
	r  [3]float64
	yy float64
}

// fitLayer runs the original convolution and the unit responses over the
// calibration data, accumulates every channel's normal equations and
// solves them.
func (c *calibrator) fitLayer(ctx context.Context, job *layerJob, acts *activations, rho []float32) (*layerFit, error) {
	p, err := c.fitProbe(job, rho)
	if err != nil {
		return nil, fmt.Errorf("planning the fit: %w", err)
	}
	mOut := job.wDims[0]
	k := 2
	if len(p.outputs) == 3 {
		k = 3
	}
	eqs := make([]normal, mOut)
	err = acts.each(ctx, func(x *runtime.Tensor) error {
		out, err := p.run(ctx, x)
		if err != nil {
			return fmt.Errorf("unit responses: %w", err)
		}
		accumulate(eqs, out, k, c.threads)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return solveLayer(eqs, k), nil
}

// accumulate adds one batch to the channels' normal equations. out holds
// Y0, U and (k = 3) V, each [n, M, OH, OW].
func accumulate(eqs []normal, out []*runtime.Tensor, k, threads int) {
	shape := out[0].Shape()
	n, mOut, plane := shape[0], shape[1], shape[2]*shape[3]
	y, u := out[0].Float32s(), out[1].Float32s()
	var v []float32
	if k == 3 {
		v = out[2].Float32s()
	}
	parallel.For(threads, mOut, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			e := &eqs[m]
			for img := range n {
				off := (img*mOut + m) * plane
				addRows(e, y[off:off+plane], u[off:off+plane], v, off)
			}
		}
	})
}

// addRows adds the positions of one (image, channel) plane.
func addRows(e *normal, y, u, v []float32, off int) {
	var su, sy, suu, suy, syy float64
	for i, yv := range y {
		uf, yf := float64(u[i]), float64(yv)
		su += uf
		sy += yf
		suu += uf * uf
		suy += uf * yf
		syy += yf * yf
	}
	e.g[0][0] += float64(len(y))
	e.g[0][1] += su
	e.g[1][1] += suu
	e.r[0] += sy
	e.r[1] += suy
	e.yy += syy
	if v == nil {
		return
	}
	v = v[off : off+len(y)]
	var sv, suv, svv, svy float64
	for i, vv := range v {
		vf := float64(vv)
		sv += vf
		suv += float64(u[i]) * vf
		svv += vf * vf
		svy += vf * float64(y[i])
	}
	e.g[0][2] += sv
	e.g[1][2] += suv
	e.g[2][2] += svv
	e.r[2] += svy
}

// solveLayer solves every channel and sums the squared errors.
func solveLayer(eqs []normal, k int) *layerFit {
	mOut := len(eqs)
	fit := &layerFit{alpha: make([]float32, mOut), bias: make([]float32, mOut)}
	if k == 3 {
		fit.beta = make([]float32, mOut)
	}
	var sse, syy float64
	for m := range eqs {
		e := &eqs[m]
		e.symmetrize()
		theta, fallback := e.solve(k)
		if fallback {
			fit.fallbacks++
		}
		// θ is over (1, u, v): bias, α, β. Rounded to float32, as stored.
		for i := range theta {
			theta[i] = float64(float32(theta[i]))
		}
		fit.bias[m], fit.alpha[m] = float32(theta[0]), float32(theta[1])
		if k == 3 {
			fit.beta[m] = float32(theta[2])
		}
		sse += e.sse(theta, k)
		syy += e.yy
	}
	if syy > 0 {
		fit.relError = math.Sqrt(sse / syy)
	}
	return fit
}

func (e *normal) symmetrize() {
	for i := range 3 {
		for j := range i {
			e.g[i][j] = e.g[j][i]
		}
	}
}

// singular is the relative size below which a pivot counts as zero: the
// unit response's variance against its mean square.
const singular = 1e-10

// solve returns (bias, α[, β]) minimising Σ (bias + α·u + β·v − y)², and
// whether it had to fall back: with collinear u and v (k = 3), β is tied to
// α/2; with a constant response, α is 1 (β = 1/2) and only the bias is
// fitted.
func (e *normal) solve(k int) ([3]float64, bool) {
	if theta, ok := solveSPD(e.g, e.r, k); ok {
		return theta, false
	}
	if k == 3 {
		// Basis (1, u + v/2): transform G and r with T = [[1,0,0],[0,1,1/2]].
		var g [3][3]float64
		var r [3]float64
		g[0][0] = e.g[0][0]
		g[0][1] = e.g[0][1] + e.g[0][2]/2
		g[1][0] = g[0][1]
		g[1][1] = e.g[1][1] + e.g[1][2] + e.g[2][2]/4
		r[0] = e.r[0]
		r[1] = e.r[1] + e.r[2]/2
		if t, ok := solveSPD(g, r, 2); ok {
			return [3]float64{t[0], t[1], t[1] / 2}, true
		}
	}
	theta := [3]float64{0, 1, 0}
	if k == 3 {
		theta[2] = 0.5
	}
	// bias = mean(y − α·u − β·v).
	sum := e.r[0] - theta[1]*e.g[0][1] - theta[2]*e.g[0][2]
	if e.g[0][0] > 0 {
		theta[0] = sum / e.g[0][0]
	}
	return theta, true
}

// solveSPD solves the k×k system g·θ = r by Cholesky decomposition,
// failing when a pivot is relatively tiny (the basis is degenerate).
func solveSPD(g [3][3]float64, r [3]float64, k int) ([3]float64, bool) {
	var l [3][3]float64
	for i := range k {
		for j := 0; j <= i; j++ {
			s := g[i][j]
			for p := range j {
				s -= l[i][p] * l[j][p]
			}
			if i == j {
				if !(s > singular*g[i][i]) || g[i][i] == 0 {
					return [3]float64{}, false
				}
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][j] = s / l[j][j]
			}
		}
	}
	var z, theta [3]float64
	for i := range k {
		s := r[i]
		for p := range i {
			s -= l[i][p] * z[p]
		}
		z[i] = s / l[i][i]
	}
	for i := k - 1; i >= 0; i-- {
		s := z[i]
		for p := i + 1; p < k; p++ {
			s -= l[p][i] * theta[p]
		}
		theta[i] = s / l[i][i]
	}
	for _, t := range theta {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return [3]float64{}, false
		}
	}
	return theta, true
}

// sse is Σ (φ·θ − y)² = θᵀGθ − 2θᵀr + Σy², clamped at zero against
// rounding.
func (e *normal) sse(theta [3]float64, k int) float64 {
	s := e.yy
	for i := range k {
		s -= 2 * theta[i] * e.r[i]
		for j := range k {
			s += theta[i] * e.g[i][j] * theta[j]
		}
	}
	return math.Max(s, 0)
}
