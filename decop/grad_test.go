package decop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/internal/gemm"
)

// The gradient tests. Three layers, each checked against an independent one:
//
//   - referenceBackward (float64, plain loops over outputs and patch entries, straight from the
//     formulas in grad.go) against central finite differences of referenceForward, the float64
//     forward pass written from the spec in reference_test.go;
//   - the fast float32 Backward against referenceBackward.
//
// Both run on problems drawn away from the places where the operator is not differentiable or
// where its derivatives blow up (see awayFromKinks).

// grads64 are float64 gradients with the layouts of Grads.
type grads64 struct {
	dx, dw, db, dalpha, drho, dbeta []float64
}

// gradKinds names the gradient tensors in a fixed order.
var gradKinds = []string{"X", "W", "B", "Alpha", "Rho", "Beta"}

// of returns the tensor of the named kind.
func (g *grads64) of(kind string) []float64 {
	return *g.ptr(kind)
}

func (g *grads64) ptr(kind string) *[]float64 {
	switch kind {
	case "X":
		return &g.dx
	case "W":
		return &g.dw
	case "B":
		return &g.db
	case "Alpha":
		return &g.dalpha
	case "Rho":
		return &g.drho
	}
	return &g.dbeta
}

// values returns a pointer to the problem's input of the named kind.
func (p *problem) values(kind string) *[]float64 {
	switch kind {
	case "X":
		return &p.x
	case "W":
		return &p.w
	case "B":
		return &p.b
	case "Alpha":
		return &p.alpha
	case "Rho":
		return &p.rho
	}
	return &p.beta
}

// gradsOf picks the float32 gradient of the named kind.
func gradsOf(g *Grads, kind string) []float32 {
	switch kind {
	case "X":
		return g.DX
	case "W":
		return g.DW
	case "B":
		return g.DB
	case "Alpha":
		return g.DAlpha
	case "Rho":
		return g.DRho
	}
	return g.DBeta
}

// referenceBackward computes, in float64, the gradients of L = Σ dy·y (y = referenceForward(p))
// with plain loops: for every output (image, channel m, position) it reads the patch, forms
// s, n_p, Nw_m, c and r, and scatters the output's contributions
//
//	dW_m += A_s·x_p + A_N·w_m/Nw_m,   dx_p += A_s·w_m + A_n·x_p/n_p
//
// with A_s, A_n, A_N as in grad.go, plus its terms of dB, dα, dρ and dβ. Where a norm is zero
// the cosine is 0 (as in referenceForward) and the terms divided by that norm are dropped.
//
// It also returns the gradients' magnitudes: the same sums with every term (A_n and A_N split
// into their c and r parts) replaced by its absolute value. A sum of terms computed with a
// relative error δ each is off by at most δ·Σ|terms|, however much the terms cancel.
func referenceBackward(p *problem, dy []float64) (grad, mag grads64) {
	g := p.g
	oh, ow, k := g.OutH(), g.OutW(), g.K()
	alloc := func() grads64 {
		return grads64{
			dx: make([]float64, len(p.x)), dw: make([]float64, len(p.w)), db: make([]float64, g.M),
			dalpha: make([]float64, len(p.alpha)), drho: make([]float64, len(p.rho)), dbeta: make([]float64, len(p.beta)),
		}
	}
	grad, mag = alloc(), alloc()
	add := func(get func(*grads64) []float64, i int, terms ...float64) {
		d, a := get(&grad), get(&mag)
		if len(d) == 1 {
			i = 0 // a scalar parameter sums over the channels
		}
		if len(d) == 0 {
			return
		}
		for _, v := range terms {
			d[i] += v
			a[i] += math.Abs(v)
		}
	}
	dx := func(g *grads64) []float64 { return g.dx }
	dw := func(g *grads64) []float64 { return g.dw }
	idx := make([]int, k)
	for n := range p.n {
		for m := range g.M {
			wm := p.filter(m)
			nw := math.Sqrt(sumSquares(wm) + p.eps)
			prm := p.params(m)
			for i := range oh {
				for j := range ow {
					gy := dy[((n*g.M+m)*oh+i)*ow+j]
					p.patchIndices(idx, n, m, i, j)
					var dot, sq float64
					for t, xi := range idx {
						if xi >= 0 {
							dot += wm[t] * p.x[xi]
							sq += p.x[xi] * p.x[xi]
						}
					}
					np := math.Sqrt(sq + p.eps)
					var c float64
					if nw > 0 && np > 0 {
						c = dot / (nw * np)
					}
					r := np
					if p.weighted {
						r = nw * np
					}
					h := H(p.mag, r, prm)
					hr, hrho, halpha, hbeta := DH(p.mag, r, prm)
					gv, gp := G(p.ang, c, p.k), DG(p.ang, c, p.k)

					add(func(g *grads64) []float64 { return g.db }, m, gy)
					add(func(g *grads64) []float64 { return g.dalpha }, m, gy*gv*halpha)
					add(func(g *grads64) []float64 { return g.drho }, m, gy*gv*hrho)
					add(func(g *grads64) []float64 { return g.dbeta }, m, gy*gv*hbeta)

					// A_n = anC + anR and A_N = aNC + aNR: the parts through c and through r.
					gc, grr := gy*h*gp, gy*gv*hr
					var as, anC, aNC float64
					if nw > 0 && np > 0 {
						as, anC, aNC = gc/(nw*np), -gc*c/np, -gc*c/nw
					}
					anR, aNR := grr, 0.0
					if p.weighted {
						anR, aNR = grr*nw, grr*np
					}
					for t, xi := range idx {
						wi := m*k + t
						if nw > 0 {
							add(dw, wi, aNC*wm[t]/nw, aNR*wm[t]/nw)
						}
						if xi < 0 {
							continue
						}
						add(dw, wi, as*p.x[xi])
						add(dx, xi, as*wm[t])
						if np > 0 {
							add(dx, xi, anC*p.x[xi]/np, anR*p.x[xi]/np)
						}
					}
				}
			}
		}
	}
	return grad, mag
}

// patchIndices sets idx[t] to the index in p.x of tap t = (c·KH + kh)·KW + kw of the patch of
// output (n, m, i, j), or −1 where the tap reads padding.
func (p *problem) patchIndices(idx []int, n, m, i, j int) {
	g := p.g
	c0 := m / g.MG() * g.CG()
	for c := range g.CG() {
		for kh := range g.KH {
			for kw := range g.KW {
				ih, iw := i*g.SH-g.PadTop+kh*g.DH, j*g.SW-g.PadLeft+kw*g.DW
				t := (c*g.KH+kh)*g.KW + kw
				idx[t] = -1
				if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
					idx[t] = ((n*g.C+c0+c)*g.H+ih)*g.W + iw
				}
			}
		}
	}
}

// Margins that keep a problem away from the kinks of the operator:
//
//   - |c| ≤ cosMargin: the clamp of c to [−1, 1] (and ĉ's at 1 − 1e-6) is a kink, and near it
//     the derivatives of the linear and sigmoid angular functions grow like 1/sqrt(1 − c²), so
//     finite differences lose accuracy and float32 rounding of c is amplified;
//   - |r − ρ| ≥ rhoMargin·ρ: ball and seg have a kink at r = ρ. A finite-difference step
//     (1e-6 relative) moves r by far less than that.
const (
	cosMargin = 0.95
	rhoMargin = 1e-3
)

// awayFromKinks reports whether every output of p keeps the margins above, and, for ball and
// seg, whether both branches (r < ρ and r > ρ) occur, so that both are checked. With
// zeroNorms, outputs with a zero norm (eps = 0 and an all-zero patch or filter), where the
// operator's gradient does not exist and both implementations drop the terms divided by the
// norm, are allowed too; zeros counts them.
func (p *problem) awayFromKinks(zeroNorms bool) (ok bool, zeros int) {
	g := p.g
	oh, ow := g.OutH(), g.OutW()
	idx := make([]int, g.K())
	below, above := false, false
	for n := range p.n {
		for m := range g.M {
			wm := p.filter(m)
			nw := math.Sqrt(sumSquares(wm) + p.eps)
			rho := p.params(m).Rho
			for i := range oh {
				for j := range ow {
					p.patchIndices(idx, n, m, i, j)
					var dot, sq float64
					for t, xi := range idx {
						if xi >= 0 {
							dot += wm[t] * p.x[xi]
							sq += p.x[xi] * p.x[xi]
						}
					}
					np := math.Sqrt(sq + p.eps)
					if nw == 0 || np == 0 {
						if !zeroNorms {
							return false, zeros
						}
						zeros++
					} else if math.Abs(dot/(nw*np)) > cosMargin {
						return false, zeros
					}
					r := np
					if p.weighted {
						r = nw * np
					}
					if math.Abs(r-rho) < rhoMargin*rho {
						return false, zeros
					}
					below, above = below || r < rho, above || r > rho
				}
			}
		}
	}
	return (p.mag != Ball && p.mag != Seg) || (below && above), zeros
}

// gradGeometries are the fixed geometries of the finite-difference checks: groups, a channel
// multiplier, strides 2, dilations 2 and asymmetric pads.
var gradGeometries = []struct {
	name  string
	g     conv.Geometry
	batch int
}{
	{"groups2_stride2_pads", conv.Geometry{C: 4, H: 7, W: 6, M: 6, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1,
		PadTop: 1, PadLeft: 2, PadBottom: 0, PadRight: 1, Group: 2}, 2},
	{"dense_dilation2_stride1x2", conv.Geometry{C: 3, H: 8, W: 7, M: 4, KH: 3, KW: 2, SH: 1, SW: 2, DH: 2, DW: 2,
		PadTop: 2, PadLeft: 1, PadBottom: 1, PadRight: 2, Group: 1}, 1},
	{"depthwise_x2_stride2_dilation2", conv.Geometry{C: 3, H: 7, W: 7, M: 6, KH: 3, KW: 3, SH: 2, SW: 2, DH: 2, DW: 2,
		PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, Group: 3}, 2},
}

// kinkFreeProblem draws the data of a problem with geometry g until it keeps away from kinks.
func kinkFreeProblem(rng *rand.Rand, g conv.Geometry, batch int, o problemOpts) *problem {
	for {
		p := &problem{n: batch, g: g, mag: o.mag, ang: o.ang, weighted: o.weighted,
			k: f32(DefaultK), eps: f32(DefaultEps)}
		p.x = randomValues(rng, batch*g.InputLen(), 1)
		p.w = randomValues(rng, g.FilterLen(), 1)
		p.b = randomValues(rng, g.M, 1)
		p.setRandomParams(rng, o.params)
		if ok, _ := p.awayFromKinks(false); ok {
			return p
		}
	}
}

// lossChange returns Σ dy·(y⁺ − y⁻) / (2h), the central difference of L = Σ dy·y when input
// value *v moves by ±h. Subtracting outputs before summing keeps the outputs that do not depend
// on *v out of the rounding error.
func lossChange(p *problem, dy []float64, v *float64, h float64) float64 {
	v0 := *v
	*v = v0 + h
	plus := referenceForward(p)
	*v = v0 - h
	minus := referenceForward(p)
	*v = v0
	var d float64
	for i, w := range dy {
		d += w * (plus[i] - minus[i])
	}
	return d / (2 * h)
}

// maxFiniteDifferences bounds the entries of X and W checked per problem (chosen at random),
// to keep the test fast; B, α, ρ and β are checked whole.
const maxFiniteDifferences = 40

// fdTolerance bounds max_i |analytic_i − fd_i| / max(max_i |fd_i|, fdFloor). Central differences
// with a step of 1e-6 relative have a truncation error of about step²·|f”'| (≪ 1e-9 away from
// kinks) and a rounding error of about 1e-16·|y|/1e-6 per output involved, so both stay below
// 1e-8 of the gradients here; a wrong term in a formula shows up as an error of order 1.
// fdFloor stands for the size of the gradients when a whole tensor is zero (dβ of most
// magnitudes), where only rounding noise remains.
const (
	fdTolerance = 1e-6
	fdFloor     = 1e-2
)

// fdError checks the named gradient of p against central differences and returns the error
// measure of fdTolerance.
func fdError(rng *rand.Rand, p *problem, dy []float64, ref *grads64, kind string) float64 {
	vals := *p.values(kind)
	an := ref.of(kind)
	if len(an) != len(vals) {
		panic(fmt.Sprintf("%s: gradient has %d values, input %d", kind, len(an), len(vals)))
	}
	entries := rng.Perm(len(vals))
	if len(entries) > maxFiniteDifferences && (kind == "X" || kind == "W") {
		entries = entries[:maxFiniteDifferences]
	}
	var worstDiff, scale float64
	for _, i := range entries {
		h := 1e-6 * max(1, math.Abs(vals[i]))
		fd := lossChange(p, dy, &vals[i], h)
		worstDiff = max(worstDiff, math.Abs(an[i]-fd))
		scale = max(scale, math.Abs(fd))
	}
	return worstDiff / max(scale, fdFloor)
}

// paramKindName names a parameter kind in test names.
func paramKindName(k paramKind) string {
	return map[paramKind]string{paramsAbsent: "absent", paramsScalar: "scalar", paramsScalar1: "scalar1",
		paramsPerChannel: "perchannel"}[k]
}

// combo is one operator configuration of the exhaustive tests.
type combo struct {
	mag      Magnitude
	ang      Angular
	weighted bool
}

func (c combo) String() string {
	w := 0
	if c.weighted {
		w = 1
	}
	return fmt.Sprintf("%v:%v:w%d", c.mag, c.ang, w)
}

// allCombos lists the 7 × 4 × 2 configurations.
func allCombos() []combo {
	var out []combo
	for _, mag := range Magnitudes() {
		for _, ang := range Angulars() {
			for _, w := range []bool{false, true} {
				out = append(out, combo{mag, ang, w})
			}
		}
	}
	return out
}

// worstTable collects the worst error per configuration and gradient kind, and logs it.
type worstTable struct {
	rows  []string
	worst map[string][]float64
}

func newWorstTable() *worstTable { return &worstTable{worst: map[string][]float64{}} }

func (w *worstTable) add(row, kind string, err float64) {
	if w.worst[row] == nil {
		w.rows = append(w.rows, row)
		w.worst[row] = make([]float64, len(gradKinds))
		for i := range w.worst[row] {
			w.worst[row][i] = -1
		}
	}
	i := slices.Index(gradKinds, kind)
	w.worst[row][i] = max(w.worst[row][i], err)
}

func (w *worstTable) log(t *testing.T, title string) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s\n%-22s", title, "config")
	for _, k := range gradKinds {
		fmt.Fprintf(&sb, " %9s", k)
	}
	overall := make([]float64, len(gradKinds))
	for i := range overall {
		overall[i] = -1
	}
	for _, row := range w.rows {
		fmt.Fprintf(&sb, "\n%-22s", row)
		for i, v := range w.worst[row] {
			sb.WriteString(" " + fmtErr(v))
			overall[i] = max(overall[i], v)
		}
	}
	fmt.Fprintf(&sb, "\n%-22s", "worst")
	for _, v := range overall {
		sb.WriteString(" " + fmtErr(v))
	}
	t.Log(sb.String())
}

func fmtErr(v float64) string {
	if v < 0 {
		return fmt.Sprintf("%9s", "-")
	}
	return fmt.Sprintf("%9.2e", v)
}

// TestReferenceBackwardFiniteDifferences checks referenceBackward against central finite
// differences of referenceForward for every magnitude, angular and weighting, with scalar and
// per-channel parameters, on the geometries of gradGeometries (with -short, on one of them per
// configuration, in turn).
func TestReferenceBackwardFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	table := newWorstTable()
	turn := 0
	for _, cb := range allCombos() {
		for _, kind := range []paramKind{paramsScalar, paramsPerChannel} {
			for gi, geo := range gradGeometries {
				if testing.Short() && gi != turn%len(gradGeometries) {
					continue
				}
				p := kinkFreeProblem(rng, geo.g, geo.batch, problemOpts{mag: cb.mag, ang: cb.ang, weighted: cb.weighted, params: kind})
				dy := randomValues(rng, p.n*p.g.OutputLen(), 1)
				ref, _ := referenceBackward(p, dy)
				for _, gk := range gradKinds {
					err := fdError(rng, p, dy, &ref, gk)
					table.add(cb.String(), gk, err)
					if err > fdTolerance || math.IsNaN(err) {
						t.Errorf("%v %s %s: d%s differs from finite differences by %.3g (tolerance %g)",
							cb, paramKindName(kind), geo.name, gk, err, fdTolerance)
					}
				}
			}
			turn++
		}
	}
	table.log(t, "worst max|analytic − finite difference| / max|finite difference| (float64)")
}

// Tolerances of the float32 Backward against the float64 reference, on the same (float32)
// inputs, so that the difference is float32 rounding only. Each term of each gradient sum is a
// product of a few float32 values, each a few ulps off: the elementwise functions (<= 5 ulps,
// see fastmath_test.go and TestExpNeg32AndTanhSech2), the dot products and norms (sums of K
// terms, whose error relative to Nw·n_p is at most K·6e-8 and typically sqrt(K)·6e-8), and c,
// whose error the angular derivatives amplify by up to |c|/(1 − c²) ≈ 10 at |c| = 0.95; the
// gemm sums over positions and channels add about sqrt(terms)·6e-8 of Σ|terms|. So a gradient
// sum is off by about 1e-6 of its magnitude Σ|terms| in the worst case here (measured: below
// 1e-6), which condTolerance bounds with a margin of 10 while a wrong term costs an error of
// order 1.
//
// Relative to the gradient itself, the same rounding is amplified by Σ|terms| / |Σ terms|,
// which has no bound: a scalar α, ρ or β sums over every output with random signs of ∂L/∂Y,
// and on the tiny random problems a tensor may have two entries whose terms nearly cancel (a
// patch of one pixel, where c hardly depends on x). Over the many entries of a layer-sized
// tensor the ratio averages out (measured: ‖g32 − g64‖/‖g64‖ below 1e-5), and relTolerance
// bounds it there (TestBackwardLargerProblems).
const (
	condTolerance = 1e-5
	relTolerance  = 1e-4
)

// checkFastError reports an error beyond the tolerances: condTolerance always, relTolerance
// with rel.
func checkFastError(t *testing.T, what, kind string, err fastError, rel bool) {
	t.Helper()
	if !(err.cond <= condTolerance) {
		t.Errorf("%s: d%s error %.3g of its magnitudes Σ|terms| (tolerance %g)", what, kind, err.cond, condTolerance)
	}
	if rel && !(err.rel <= relTolerance) {
		t.Errorf("%s: d%s relative error %.3g (tolerance %g)", what, kind, err.rel, relTolerance)
	}
}

// float32s converts values that float32 represents exactly.
func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// config returns the problem's Config.
func (p *problem) config() Config {
	return Config{Geom: p.g, Magnitude: p.mag, Angular: p.ang, Weighted: p.weighted, K: p.k, Eps: p.eps}
}

// convSums returns the convolution sums <w_m, x_p> of p (float64, rounded to float32):
// [n, M, OutH, OutW].
func (p *problem) convSums() []float32 {
	g := p.g
	oh, ow := g.OutH(), g.OutW()
	out := make([]float32, 0, p.n*g.OutputLen())
	for n := range p.n {
		for m := range g.M {
			for i := range oh {
				for j := range ow {
					dot, _ := p.patchSums(n, m, i, j)
					out = append(out, float32(dot))
				}
			}
		}
	}
	return out
}

// inputs returns the problem's tensors as float32.
func (p *problem) inputs() Inputs {
	return Inputs{X: float32s(p.x), W: float32s(p.w), Alpha: float32s(p.alpha), Rho: float32s(p.rho), Beta: float32s(p.beta)}
}

// fastError is the float32 Backward's error on one gradient tensor: rel = ‖g32 − g64‖/‖g64‖
// and cond = ‖g32 − g64‖/‖Σ|terms|‖, the error against the gradient's magnitudes (see
// referenceBackward), which stays meaningful where the terms of a sum cancel.
type fastError struct{ rel, cond float64 }

// fastErrors runs Backward on p (given the convolution sums if withSums), checks its errors
// per gradient kind against the reference with checkFastError (relative errors too if rel) and
// returns them.
func fastErrors(t *testing.T, p *problem, dy []float64, threads int, rel, withSums bool) map[string]fastError {
	t.Helper()
	ref, mag := referenceBackward(p, dy)
	var got Grads
	in := p.inputs()
	if withSums {
		in.Sums = p.convSums()
	}
	if err := Backward(p.config(), in, float32s(dy), p.n, &got, threads); err != nil {
		t.Fatal(err)
	}
	errs := map[string]fastError{}
	what := fmt.Sprintf("%v:%v:weighted=%v params %s threads %d batch %d sums given %v geometry %+v",
		p.mag, p.ang, p.weighted, paramKindName(paramKindOf(p)), threads, p.n, withSums, p.g)
	for _, gk := range gradKinds {
		g32, g64, m64 := gradsOf(&got, gk), ref.of(gk), mag.of(gk)
		if len(g32) != len(g64) {
			t.Fatalf("d%s has %d values, want %d", gk, len(g32), len(g64))
		}
		var diff, norm, magNorm float64
		for i, v := range g64 {
			d := float64(g32[i]) - v
			diff += d * d
			norm += v * v
			magNorm += m64[i] * m64[i]
		}
		e := fastError{rel: math.Sqrt(diff / norm), cond: math.Sqrt(diff / magNorm)}
		if diff == 0 {
			e = fastError{}
		}
		checkFastError(t, what, gk, e, rel)
		errs[gk] = e
	}
	return errs
}

// TestBackwardMatchesReference checks the float32 Backward against the float64 reference on
// random problems of every shape kind (dense, grouped, depthwise, pointwise, any) with every
// magnitude, angular and weighting and every way of giving the parameters, on 1 to 3 threads,
// with and without the convolution sums given, including zero patch norms (eps = 0 with
// all-padding patches), with every elementwise kernel.
func TestBackwardMatchesReference(t *testing.T) {
	eachKernelSubtest(t, testBackwardMatchesReference)
}

// eachKernelSubtest runs f as a subtest once per elementwise kernel this machine supports (see
// UseKernel), with that kernel active.
func eachKernelSubtest(t *testing.T, f func(t *testing.T)) {
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			restore, ok := UseKernel(name)
			if !ok {
				t.Fatalf("kernel %q is listed but cannot be used", name)
			}
			defer restore()
			f(t)
		})
	}
}

func testBackwardMatchesReference(t *testing.T) {
	zeroNormOutputs := 0
	rng := rand.New(rand.NewPCG(3, 5))
	table, condTable := newWorstTable(), newWorstTable()
	shapes := []shapeKind{shapeAny, shapeDense, shapeGrouped, shapeDepthwise, shapePointwise}
	kinds := []paramKind{paramsAbsent, paramsScalar, paramsScalar1, paramsPerChannel}
	for ci, cb := range allCombos() {
		for si, shape := range shapes {
			o := problemOpts{mag: cb.mag, ang: cb.ang, weighted: cb.weighted, params: kinds[(ci+si)%len(kinds)],
				bias: true, shape: shape, maxBatch: 3}
			p, zeros := kinkFreeRandomProblem(rng, o)
			zeroNormOutputs += zeros
			dy := randomValues(rng, p.n*p.g.OutputLen(), 1)
			threads := 1 + (ci+si)%3
			for gk, err := range fastErrors(t, p, dy, threads, false, (ci+si)%2 == 1) {
				table.add(cb.String(), gk, err.rel)
				condTable.add(cb.String(), gk, err.cond)
			}
		}
	}
	table.log(t, "worst ‖float32 Backward − float64 reference‖ / ‖reference‖")
	condTable.log(t, "worst ‖float32 Backward − float64 reference‖ / ‖Σ|terms|‖")
	if zeroNormOutputs == 0 {
		t.Error("no problem had an output with a zero norm; the convention for them went unchecked")
	}
	t.Logf("%d outputs with a zero norm", zeroNormOutputs)
}

// paramKindOf tells how p gives its parameters.
func paramKindOf(p *problem) paramKind {
	switch {
	case len(p.alpha) == 0:
		return paramsAbsent
	case len(p.alpha) > 1:
		return paramsPerChannel
	case p.paramRank1:
		return paramsScalar1
	}
	return paramsScalar
}

// kinkFreeRandomProblem draws random problems until one keeps away from kinks (zero norms
// allowed) and returns it with its number of zero-norm outputs.
func kinkFreeRandomProblem(rng *rand.Rand, o problemOpts) (*problem, int) {
	for {
		p := randomProblem(rng, o)
		if ok, zeros := p.awayFromKinks(true); ok {
			return p, zeros
		}
	}
}

// TestBackwardLargerProblems checks the fast path where gemm blocks and splits products among
// threads and where the item loop splits across threads both ways: layer-like shapes with
// batch 1 (threads inside each item) and batch 3 (threads across items, the convolution sums
// given), with every elementwise kernel and every gemm kernel (with -short, the active gemm
// kernel).
func TestBackwardLargerProblems(t *testing.T) {
	eachKernelSubtest(t, testBackwardLargerProblems)
}

func testBackwardLargerProblems(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	worst := map[string]fastError{}
	defer func() {
		for _, gk := range gradKinds {
			t.Logf("d%-5s worst relative error %.2e, of its magnitudes %.2e", gk, worst[gk].rel, worst[gk].cond)
		}
	}()
	geoms := []conv.Geometry{
		{C: 16, H: 20, W: 19, M: 24, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 1},
		{C: 16, H: 21, W: 20, M: 32, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 2},
		{C: 12, H: 17, W: 17, M: 12, KH: 3, KW: 3, SH: 1, SW: 1, DH: 2, DW: 2, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, Group: 12},
	}
	cbs := []combo{{Tanh, Cos, false}, {Seg, Sigmoid, true}, {Mix, LinearAng, false}}
	kernels := gemm.Kernels()
	if testing.Short() {
		kernels = []string{gemm.KernelName()}
	}
	for _, kernel := range kernels {
		t.Run(kernel, func(t *testing.T) {
			restore, err := gemm.UseKernel(kernel)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
			for i, g := range geoms {
				for _, batch := range []int{1, 3} {
					cb := cbs[i]
					p := kinkFreeProblem(rng, g, batch, problemOpts{mag: cb.mag, ang: cb.ang, weighted: cb.weighted, params: paramsPerChannel})
					dy := randomValues(rng, p.n*g.OutputLen(), 1)
					for gk, err := range fastErrors(t, p, dy, 2, true, batch > 1) {
						worst[gk] = fastError{max(worst[gk].rel, err.rel), max(worst[gk].cond, err.cond)}
					}
				}
			}
		})
	}
}

// TestBackwardFiniteAtKinks checks, with every elementwise kernel, that the gradients stay
// finite where the operator is not differentiable: all-zero inputs with eps = 0 (zero patch
// norms), patches equal to the filter (c = 1, the clamp active) and r = ρ. (With pads 1 the
// 3×3 input has nine output positions, so that the AVX2 kernel takes eight of them.)
func TestBackwardFiniteAtKinks(t *testing.T) {
	eachKernelSubtest(t, testBackwardFiniteAtKinks)
}

func testBackwardFiniteAtKinks(t *testing.T) {
	g := conv.Geometry{C: 2, H: 3, W: 3, M: 2, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1,
		PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 1}
	// Filter 1 is −filter 0, so a patch equal to filter 0 has c = 1 for one and −1 for the other.
	w0 := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2, -3, -4, -5, -6, -7, -8, -9}
	w := append(slices.Clone(w0), w0...)
	for i := range w0 {
		w[len(w0)+i] = -w0[i]
	}
	cases := []struct {
		name string
		x    []float32
		eps  float64
		rho  float32
	}{
		{"zero input, eps 0", make([]float32, 18), 0, 1},
		{"zero input", make([]float32, 18), DefaultEps, 1},
		{"patch equals filter, eps 0", w0, 0, 2},
		{"patch equals filter", w0, DefaultEps, 2},
		// r = ‖x‖ = sqrt(2·285) at ρ in the middle (weighted = 0, eps = 0), up to rounding.
		{"r at rho", w0, 0, float32(math.Sqrt(570))},
	}
	for _, cs := range cases {
		for _, cb := range allCombos() {
			cfg := Config{Geom: g, Magnitude: cb.mag, Angular: cb.ang, Weighted: cb.weighted, K: DefaultK, Eps: cs.eps}
			in := Inputs{X: cs.x, W: w, Alpha: []float32{1.5}, Rho: []float32{cs.rho, cs.rho}, Beta: []float32{0.25}}
			var got Grads
			dy := make([]float32, g.OutputLen())
			for i := range dy {
				dy[i] = 1 - 1.5*float32(i%2)
			}
			if err := Backward(cfg, in, dy, 1, &got, 1); err != nil {
				t.Fatal(err)
			}
			for _, gk := range gradKinds {
				for i, v := range gradsOf(&got, gk) {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Errorf("%s %v: d%s[%d] = %v", cs.name, cb, gk, i, v)
					}
				}
			}
		}
	}
}

// TestBackwardRejectsBadInput checks that wrong sizes and attribute values give errors that
// name the field, and that nothing is written then.
func TestBackwardRejectsBadInput(t *testing.T) {
	g := conv.Geometry{C: 2, H: 4, W: 4, M: 3, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Group: 1}
	good := func() (Config, Inputs, []float32) {
		return Config{Geom: g, Magnitude: Tanh, Angular: Cos, K: DefaultK, Eps: DefaultEps},
			Inputs{X: make([]float32, g.InputLen()), W: make([]float32, g.FilterLen())},
			make([]float32, g.OutputLen())
	}
	cases := []struct {
		name, want string
		edit       func(*Config, *Inputs, *[]float32)
	}{
		{"short X", "input X", func(_ *Config, in *Inputs, _ *[]float32) { in.X = in.X[1:] }},
		{"short W", "input W", func(_ *Config, in *Inputs, _ *[]float32) { in.W = in.W[1:] }},
		{"long dY", "dY", func(_ *Config, _ *Inputs, dy *[]float32) { *dy = append(*dy, 0) }},
		{"two alphas", "input Alpha", func(_ *Config, in *Inputs, _ *[]float32) { in.Alpha = []float32{1, 1} }},
		{"short sums", "sums", func(_ *Config, in *Inputs, _ *[]float32) { in.Sums = make([]float32, 5) }},
		{"rho zero", "input Rho[1]", func(_ *Config, in *Inputs, _ *[]float32) { in.Rho = []float32{1, 0, 1} }},
		{"rho NaN", "input Rho[0]", func(_ *Config, in *Inputs, _ *[]float32) { in.Rho = []float32{float32(math.NaN())} }},
		{"magnitude", "magnitude", func(c *Config, _ *Inputs, _ *[]float32) { c.Magnitude = 7 }},
		{"angular", "angular", func(c *Config, _ *Inputs, _ *[]float32) { c.Angular = -1 }},
		{"k", "k 0", func(c *Config, _ *Inputs, _ *[]float32) { c.K = 0 }},
		{"eps", "eps -1", func(c *Config, _ *Inputs, _ *[]float32) { c.Eps = -1 }},
		{"group", "group", func(c *Config, _ *Inputs, _ *[]float32) { c.Geom.Group = 4 }},
		{"window", "does not fit", func(c *Config, _ *Inputs, _ *[]float32) { c.Geom.KH = 5 }},
	}
	for _, cs := range cases {
		cfg, in, dy := good()
		cs.edit(&cfg, &in, &dy)
		sentinel := []float32{42}
		out := Grads{DX: sentinel}
		err := Backward(cfg, in, dy, 1, &out, 1)
		if err == nil || !strings.Contains(err.Error(), cs.want) {
			t.Errorf("%s: error %v, want one naming %q", cs.name, err, cs.want)
		}
		if len(out.DX) != 1 || out.DX[0] != 42 {
			t.Errorf("%s: DX was written despite the error", cs.name)
		}
	}
}

// TestBackwardReusesGrads checks that a Grads of the right sizes is reused rather than
// reallocated, and that the results do not depend on what it held before.
func TestBackwardReusesGrads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p, _ := kinkFreeRandomProblem(rng, problemOpts{mag: Tanh, ang: Cos, params: paramsPerChannel, shape: shapeGrouped})
	dy := float32s(randomValues(rng, p.n*p.g.OutputLen(), 1))
	var first Grads
	if err := Backward(p.config(), p.inputs(), dy, p.n, &first, 1); err != nil {
		t.Fatal(err)
	}
	again := Grads{}
	for _, gk := range gradKinds {
		v := gradsOf(&first, gk)
		buf := make([]float32, len(v))
		for i := range buf {
			buf[i] = float32(math.NaN())
		}
		setGrads(&again, gk, buf)
	}
	dx := again.DX
	if err := Backward(p.config(), p.inputs(), dy, p.n, &again, 2); err != nil {
		t.Fatal(err)
	}
	if &again.DX[0] != &dx[0] {
		t.Error("DX was reallocated although it had the right length")
	}
	for _, gk := range gradKinds {
		if !slices.Equal(gradsOf(&first, gk), gradsOf(&again, gk)) && relativeError(gradsOf(&again, gk), float64s(gradsOf(&first, gk))) > 1e-6 {
			t.Errorf("d%s differs between a fresh and a reused Grads", gk)
		}
	}
}

// TestBackwardEmptyBatch checks that a batch of no images gives zero gradients for W, B and
// the parameters and an empty one for X.
func TestBackwardEmptyBatch(t *testing.T) {
	g := conv.Geometry{C: 2, H: 4, W: 4, M: 3, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Group: 1}
	cfg := Config{Geom: g, Magnitude: Seg, Angular: Sigmoid, K: DefaultK, Eps: DefaultEps}
	in := Inputs{W: make([]float32, g.FilterLen()), Alpha: []float32{2}, Rho: []float32{1, 2, 3}}
	for i := range in.W {
		in.W[i] = float32(i%5) - 2
	}
	out := Grads{DW: slices.Repeat([]float32{7}, g.FilterLen()), DB: []float32{7, 7, 7}}
	if err := Backward(cfg, in, nil, 0, &out, 2); err != nil {
		t.Fatal(err)
	}
	if len(out.DX) != 0 || len(out.DAlpha) != 1 || len(out.DRho) != 3 || out.DBeta != nil {
		t.Fatalf("gradient sizes DX %d, DAlpha %d, DRho %d, DBeta %v", len(out.DX), len(out.DAlpha), len(out.DRho), out.DBeta)
	}
	for _, gk := range gradKinds {
		for i, v := range gradsOf(&out, gk) {
			if v != 0 {
				t.Errorf("d%s[%d] = %v, want 0", gk, i, v)
			}
		}
	}
}

func setGrads(g *Grads, kind string, v []float32) {
	switch kind {
	case "X":
		g.DX = v
	case "W":
		g.DW = v
	case "B":
		g.DB = v
	case "Alpha":
		g.DAlpha = v
	case "Rho":
		g.DRho = v
	default:
		g.DBeta = v
	}
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestExpNeg32AndTanhSech2 measures expNeg32 and tanhSech2 against package math in float32 ulps. The
// bounds: expNeg32 rounds in its reduction, polynomial and scaling (about 1 ulp measured);
// sech² adds the rounding of 1 + e, of the division and of the products to e's error, which it
// passes on with a factor (1 − e)/(1 + e) <= 1 (about 4 ulps measured); tanh = (1 − e)/(1 + e)
// for |x| >= 1/2 passes e's error on with a factor 2e/(1 − e²) <= 0.85 there.
func TestExpNeg32AndTanhSech2(t *testing.T) {
	if worst, at := sweep(-87, 0, 400000, func(x float32) (float32, float64) {
		return expNeg32(x), math.Exp(float64(x))
	}); worst > 3 {
		t.Errorf("expNeg32 on [−87, 0]: %.2f ulps at %v", worst, at)
	}
	if got, want := expNeg32(-200), expNeg32(-87); got != want {
		t.Errorf("expNeg32(−200) = %v, want e^−87 = %v", got, want)
	}
	sech2Want := func(x float64) float64 { c := math.Cosh(x); return 1 / (c * c) }
	if worst, at := sweep(-40, 40, 400000, func(x float32) (float32, float64) {
		_, s2 := tanhSech2(x)
		return s2, sech2Want(float64(x))
	}); worst > 5 {
		t.Errorf("sech² on [−40, 40]: %.2f ulps at %v", worst, at)
	}
	if worst, at := sweep(-12, 12, 400000, func(x float32) (float32, float64) {
		t, _ := tanhSech2(x)
		return t, math.Tanh(float64(x))
	}); worst > 4 {
		t.Errorf("tanh on [−12, 12]: %.2f ulps at %v", worst, at)
	}
}

// TestCoeffKernelsAgree checks the AVX2 elementwise kernel against the portable one on rows
// that cross every branch: cosines beyond ±1 and at the clamp bounds, r at ρ, zero norms, large
// r/ρ (the exponential side of tanhSech2) and a tail shorter than a vector. The kernels round
// differently (fused multiply-adds, float32 lane sums), so values may differ by a few ulps,
// amplified where g' is steep; valueTol allows for that relative to the row's largest value.
func TestCoeffKernelsAgree(t *testing.T) {
	if !slices.Contains(Kernels(), "avx2-fma") {
		t.Skip("no AVX2 kernel on this machine")
	}
	const valueTol, sumTol = 1e-5, 1e-5
	rng := rand.New(rand.NewPCG(4, 4))
	const n = 8*5 + 3
	for _, cb := range allCombos() {
		g := conv.Geometry{C: 1, H: 1, W: n, M: 1, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Group: 1}
		nw := float32(1.3)
		pl := newBackwardPlan(Config{Geom: g, Magnitude: cb.mag, Angular: cb.ang, Weighted: cb.weighted, K: 0.4, Eps: 0},
			Inputs{X: make([]float32, n), W: []float32{nw}, Alpha: []float32{1.25}, Rho: []float32{1.5}, Beta: []float32{-0.5}},
			make([]float32, n), 1)
		p := pl.prm32[0]
		s, dy, nrm, invN := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for j := range n {
			nrm[j] = float32(0.05 + 4*rng.Float64())
			switch j % 7 {
			case 0:
				nrm[j] = p.rho // r at ρ (unweighted)
			case 1:
				nrm[j] = p.rho / p.nw // r at ρ (weighted)
			case 2:
				nrm[j] = 0 // a zero patch
			case 3:
				nrm[j] = 200 // tanh saturated
			}
			if nrm[j] > 0 {
				invN[j] = 1 / nrm[j]
			}
			c := float32(2.4*rng.Float64() - 1.2)
			switch j % 5 {
			case 0:
				c = clampHi
			case 1:
				c = -1
			}
			s[j] = c * nrm[j] * nw
			dy[j] = float32(2*rng.Float64() - 1)
		}
		run := func(kernel string) (a, an []float32, sums chanSums) {
			restore, _ := UseKernel(kernel)
			defer restore()
			a, an, sums = slices.Clone(s), make([]float32, n), newChanSums(1)
			pl.coeffRow(0, a, dy, nrm, invN, an, &sums, newCoeffScratch(coeffBlock))
			return a, an, sums
		}
		wantA, wantAn, wantSums := run("generic")
		gotA, gotAn, gotSums := run("avx2-fma")
		for name, pair := range map[string][2][]float32{"A_s": {gotA, wantA}, "A_n": {gotAn, wantAn}} {
			var scale float64
			for _, v := range pair[1] {
				scale = max(scale, math.Abs(float64(v)))
			}
			for j := range pair[1] {
				if d := math.Abs(float64(pair[0][j] - pair[1][j])); !(d <= valueTol*scale) {
					t.Errorf("%v: %s[%d] = %v (avx2) vs %v (generic)", cb, name, j, pair[0][j], pair[1][j])
				}
			}
		}
		for i, pair := range [][2][]float64{{gotSums.b, wantSums.b}, {gotSums.alpha, wantSums.alpha},
			{gotSums.rho, wantSums.rho}, {gotSums.beta, wantSums.beta}, {gotSums.normW, wantSums.normW}} {
			if d := math.Abs(pair[0][0] - pair[1][0]); !(d <= sumTol*max(1, math.Abs(pair[1][0]))) {
				t.Errorf("%v: channel sum %d = %v (avx2) vs %v (generic)", cb, i, pair[0][0], pair[1][0])
			}
		}
	}
}

// TestBackwardIsDeterministic runs Backward repeatedly on the same batch with several thread
// counts: for a given count every gradient must come out bit for bit the same each time (the
// fine-tuning loop promises identical results for the same seed and thread count), whatever
// order the goroutines happen to run in.
func TestBackwardIsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, mag := range []Magnitude{Tanh, Seg} {
		o := problemOpts{mag: mag, ang: Cos, weighted: true, params: paramsPerChannel, bias: true, shape: shapeDense, maxBatch: 12}
		p := randomProblem(rng, o)
		for p.n < 6 { // enough images for every worker to get several
			p = randomProblem(rng, o)
		}
		dy := make([]float32, p.n*p.g.OutputLen())
		for i := range dy {
			dy[i] = float32(rng.NormFloat64())
		}
		for _, threads := range []int{2, 3, 4} {
			var first Grads
			if err := Backward(p.config(), p.inputs(), dy, p.n, &first, threads); err != nil {
				t.Fatal(err)
			}
			for run := range 8 {
				var again Grads
				if err := Backward(p.config(), p.inputs(), dy, p.n, &again, threads); err != nil {
					t.Fatal(err)
				}
				for _, gk := range gradKinds {
					a, b := gradsOf(&first, gk), gradsOf(&again, gk)
					for i := range a {
						if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
							t.Fatalf("%v threads %d run %d: d%s[%d] = %g, first run %g", mag, threads, run+2, gk, i, b[i], a[i])
						}
					}
				}
			}
		}
	}
}
