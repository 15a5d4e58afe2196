package decop

import "math"

// referenceForward evaluates the problem in float64 straight from the spec
// (../shared/spec/decoupled-conv.md), one output at a time with plain loops and no sharing of
// work with the operator's code beyond H and G of spec.go. It returns y: [n, M, OutH, OutW].
//
// Where a norm is zero (eps = 0 with an all-zero patch or filter) the dot product is zero too,
// and the cosine is taken as 0, its limit along any path, so that y = B_m as the spec promises
// for all-zero patches.
func referenceForward(p *problem) []float64 { return referenceForwardShifted(p, 0) }

// referenceForwardShifted is referenceForward with every cosine moved by shift before the clamp:
// comparing it with the unshifted reference measures how much the output depends on rounding
// errors of the cosine (the fuzz test's conditioning check).
func referenceForwardShifted(p *problem, shift float64) []float64 {
	g := p.g
	oh, ow := g.OutH(), g.OutW()
	y := make([]float64, p.n*g.M*oh*ow)
	for n := range p.n {
		for m := range g.M {
			nw := math.Sqrt(sumSquares(p.filter(m)) + p.eps)
			prm := p.params(m)
			var bias float64
			if p.b != nil {
				bias = p.b[m]
			}
			for i := range oh {
				for j := range ow {
					dot, sq := p.patchSums(n, m, i, j)
					np := math.Sqrt(sq + p.eps)
					y[((n*g.M+m)*oh+i)*ow+j] = referenceDecoupled(p, dot, nw, np, prm, shift) + bias
				}
			}
		}
	}
	return y
}

// referenceDecoupled is h(r)·g(c) for one output with the dot product <w_m, x_p> and the norms
// Nw_m and n_p (the cosine moved by shift before the clamp).
func referenceDecoupled(p *problem, dot, nw, np float64, prm Params, shift float64) float64 {
	var c float64
	if nw > 0 && np > 0 {
		s := dot / nw
		c = math.Max(-1, math.Min(1, s/np+shift))
	}
	r := np
	if p.weighted {
		r = nw * np
	}
	return H(p.mag, r, prm) * G(p.ang, c, p.k)
}

// filter returns output channel m's filter w_m: [C/Group, KH, KW].
func (p *problem) filter(m int) []float64 {
	k := p.g.K()
	return p.w[m*k : (m+1)*k]
}

// patchSums returns <w_m, x_p> and Σ x_p² for image n, output channel m and output pixel
// (i, j), reading the patch of m's group with zero padding.
func (p *problem) patchSums(n, m, i, j int) (dot, sq float64) {
	g := p.g
	wm := p.filter(m)
	c0 := m / g.MG() * g.CG()
	for c := range g.CG() {
		for kh := range g.KH {
			for kw := range g.KW {
				v := p.input(n, c0+c, i*g.SH-g.PadTop+kh*g.DH, j*g.SW-g.PadLeft+kw*g.DW)
				dot += wm[(c*g.KH+kh)*g.KW+kw] * v
				sq += v * v
			}
		}
	}
	return dot, sq
}

// input returns x[n][c][ih][iw], or 0 in the padding.
func (p *problem) input(n, c, ih, iw int) float64 {
	g := p.g
	if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
		return 0
	}
	return p.x[((n*g.C+c)*g.H+ih)*g.W+iw]
}

func sumSquares(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return s
}

// relativeError is ‖got − want‖ / ‖want‖ (or ‖got − want‖ if want is zero), the spec's
// tolerance measure.
func relativeError(got []float32, want []float64) float64 {
	var diff, norm float64
	for i, w := range want {
		d := float64(got[i]) - w
		diff += d * d
		norm += w * w
	}
	if norm == 0 {
		return math.Sqrt(diff)
	}
	return math.Sqrt(diff / norm)
}
