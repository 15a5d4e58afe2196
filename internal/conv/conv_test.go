package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/internal/gemm"
)

// convProblem is one convolution with its data: it drives the random tests against the float64
// reference and the benchmarks.
type convProblem struct {
	g     Geometry
	batch int
	x, w  []float32
	ep    Epilogue
}

func newConvProblem(rng *rand.Rand, g Geometry, batch int, bias bool, act gemm.Activation) *convProblem {
	p := &convProblem{g: g, batch: batch, x: randFloats(rng, batch*g.InputLen()), w: randFloats(rng, g.FilterLen())}
	if bias {
		p.ep.Bias = randFloats(rng, g.M)
	}
	p.ep.Act = act
	if act == gemm.ActClip {
		p.ep.Min, p.ep.Max = -0.5, 0.75
	}
	return p
}

func randFloats(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// reference computes the output in float64 straight from the definition, walking the padded
// input coordinates, and for each output the sum of |w·x| (plus |bias|) that bounds the rounding
// error of any float32 evaluation order.
func (p *convProblem) reference() (y, mag []float64) {
	g := p.g
	oh, ow := g.OutH(), g.OutW()
	cg, mg := g.CG(), g.MG()
	y = make([]float64, p.batch*g.M*oh*ow)
	mag = make([]float64, len(y))
	i := 0
	for n := range p.batch {
		for m := range g.M {
			grp := m / mg
			for oy := range oh {
				for ox := range ow {
					var s, a float64
					if p.ep.Bias != nil {
						s, a = float64(p.ep.Bias[m]), math.Abs(float64(p.ep.Bias[m]))
					}
					for c := range cg {
						for kh := range g.KH {
							for kw := range g.KW {
								iy := oy*g.SH - g.PadTop + kh*g.DH
								ix := ox*g.SW - g.PadLeft + kw*g.DW
								if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
									continue
								}
								xv := float64(p.x[((n*g.C+grp*cg+c)*g.H+iy)*g.W+ix])
								wv := float64(p.w[((m*cg+c)*g.KH+kh)*g.KW+kw])
								s += xv * wv
								a += math.Abs(xv * wv)
							}
						}
					}
					if p.ep.Residual != nil {
						s += float64(p.ep.Residual[i])
						a += math.Abs(float64(p.ep.Residual[i]))
					}
					y[i], mag[i] = applyAct64(s, &p.ep), a
					i++
				}
			}
		}
	}
	return y, mag
}

func applyAct64(v float64, ep *Epilogue) float64 {
	switch ep.Act {
	case gemm.ActRelu:
		return math.Max(v, 0)
	case gemm.ActClip:
		return math.Min(math.Max(v, float64(ep.Min)), float64(ep.Max))
	}
	return v
}

// check compares y with the reference. A float32 sum of K+1 terms (taps and bias), in any order
// and with or without fused multiply-adds, differs from the exact sum by at most
// γ_{K+1}·Σ|terms| with γ_n = n·u/(1−n·u) and u = 2⁻²⁴ (Higham, Accuracy and Stability of
// Numerical Algorithms, §3.1); the products of float32 inputs are exact in float64, so the
// reference is exact to far below that, and ReLU and clipping never increase a difference.
func (p *convProblem) check(t *testing.T, y []float32, what string) {
	t.Helper()
	want, mag := p.reference()
	n := float64(p.g.K() + 1) // taps and bias
	if p.ep.Residual != nil {
		n++
	}
	u := math.Ldexp(1, -24)
	gamma := n * u / (1 - n*u)
	for i, w := range want {
		if d := math.Abs(float64(y[i]) - w); d > gamma*mag[i] || math.IsNaN(float64(y[i])) {
			t.Fatalf("%s: output %d = %v, want %v (|diff| %.3g > bound %.3g)", what, i, y[i], w, d, gamma*mag[i])
		}
	}
}

// randomGeometry draws a geometry from the shapes that matter: dense, grouped and depthwise
// channels, 1×1 to 7×7 and rectangular kernels, strides 1–3, dilation 1–2, asymmetric pads.
func randomGeometry(rng *rand.Rand) Geometry {
	for {
		g := Geometry{SH: 1, SW: 1, DH: 1, DW: 1}
		switch rng.IntN(4) {
		case 0: // dense
			g.Group = 1
			g.C, g.M = 1+rng.IntN(9), 1+rng.IntN(20)
		case 1: // grouped
			g.Group = 2 + rng.IntN(3)
			g.C, g.M = g.Group*(1+rng.IntN(4)), g.Group*(1+rng.IntN(5))
		default: // depthwise, with a channel multiplier sometimes
			g.Group = 1 + rng.IntN(6)
			g.C, g.M = g.Group, g.Group*(1+rng.IntN(2))
		}
		sizes := []int{1, 1, 2, 3, 3, 3, 5, 7}
		g.KH, g.KW = sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
		if rng.IntN(3) == 0 {
			g.KH = g.KW
		}
		g.SH, g.SW = 1+rng.IntN(3), 1+rng.IntN(3)
		if rng.IntN(4) == 0 {
			g.DH, g.DW = 2, 1+rng.IntN(2)
		}
		g.PadTop, g.PadBottom = rng.IntN(g.KH+1), rng.IntN(g.KH+1)
		g.PadLeft, g.PadRight = rng.IntN(g.KW+1), rng.IntN(g.KW+1)
		if rng.IntN(4) == 0 {
			g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = 0, 0, 0, 0
		}
		g.H, g.W = 1+rng.IntN(24), 1+rng.IntN(40)
		if g.Validate() == nil {
			return g
		}
	}
}

// algorithmsFor lists every algorithm that supports g.
func algorithmsFor(g Geometry) []Algorithm {
	var out []Algorithm
	for _, a := range []Algorithm{Im2col, Pointwise, Direct, Winograd, Stem} {
		if a.Supports(g) {
			out = append(out, a)
		}
	}
	return out
}

// runForward computes the problem with one algorithm into an output with NaN guard bands and
// checks that the guards and the input survive.
func (p *convProblem) runForward(t *testing.T, algo Algorithm, pack bool, threads int) []float32 {
	t.Helper()
	const guard = 19
	outLen := p.batch * p.g.OutputLen()
	buf := make([]float32, outLen+2*guard)
	for i := range buf {
		buf[i] = float32(math.NaN())
	}
	x0 := append([]float32(nil), p.x...)
	f := NewFilter(p.g, p.w, algo, pack)
	f.Forward(p.g, p.x, buf[guard:guard+outLen], p.batch, &p.ep, threads)
	for i := range guard {
		if !math.IsNaN(float64(buf[i])) || !math.IsNaN(float64(buf[guard+outLen+i])) {
			t.Fatalf("%v wrote outside the output", algo)
		}
	}
	for i := range x0 {
		if x0[i] != p.x[i] {
			t.Fatalf("%v modified its input", algo)
		}
	}
	return buf[guard : guard+outLen]
}

func TestForwardRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	acts := []gemm.Activation{gemm.ActNone, gemm.ActRelu, gemm.ActClip}
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		for iter := range 300 {
			g := randomGeometry(rng)
			p := newConvProblem(rng, g, 1+rng.IntN(3), rng.IntN(3) > 0, acts[rng.IntN(3)])
			if rng.IntN(3) == 0 {
				p.ep.Residual = randFloats(rng, p.batch*g.OutputLen())
			}
			threads := 1 + iter%3
			for _, algo := range algorithmsFor(g) {
				pack := rng.IntN(2) == 0
				y := p.runForward(t, algo, pack, threads)
				p.checkWith(t, algo, threads, y, fmt.Sprintf("row kernel %s, %v pack=%v threads=%d batch=%d %+v act=%v", rk, algo, pack, threads, p.batch, g, p.ep.Act))
			}
		}
		restore()
	}
}

// TestForwardGemmKernels runs the gemm-based algorithms on every gemm micro-kernel, so the
// epilogue plumbing is checked on the portable kernel too.
func TestForwardGemmKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, name := range gemm.Kernels() {
		restore, err := gemm.UseKernel(name)
		if err != nil {
			t.Fatal(err)
		}
		for range 40 {
			g := randomGeometry(rng)
			p := newConvProblem(rng, g, 1+rng.IntN(2), true, gemm.ActRelu)
			p.ep.Residual = randFloats(rng, p.batch*g.OutputLen())
			y := p.runForward(t, Im2col, true, 2)
			p.check(t, y, fmt.Sprintf("gemm %s im2col %+v", name, g))
		}
		restore()
	}
}

// TestForwardLarge covers products bigger than gemm's cache blocks (K > kc, many panels) and the
// thread split between images and gemm.
func TestForwardLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		g     Geometry
		batch int
	}{
		{Geometry{C: 40, H: 17, W: 19, M: 13, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 1}, 1},
		{Geometry{C: 64, H: 12, W: 12, M: 20, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 0, PadRight: 0, Group: 2}, 3},
		{Geometry{C: 300, H: 9, W: 7, M: 7, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Group: 1}, 2},
		{Geometry{C: 24, H: 30, W: 30, M: 24, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 24}, 2},
	}
	for _, c := range cases {
		p := newConvProblem(rng, c.g, c.batch, true, gemm.ActNone)
		for _, algo := range algorithmsFor(c.g) {
			for _, threads := range []int{1, 2, 3} {
				y := p.runForward(t, algo, true, threads)
				p.checkWith(t, algo, threads, y, fmt.Sprintf("%v threads=%d %+v", algo, threads, c.g))
			}
		}
	}
}

func TestChoose(t *testing.T) {
	base := Geometry{C: 8, H: 5, W: 5, M: 8, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Group: 1}
	dw := base
	dw.Group = 8
	pw := base
	pw.KH, pw.KW = 1, 1
	pw2 := pw
	pw2.SH = 2
	for _, c := range []struct {
		g    Geometry
		want Algorithm
	}{{base, Im2col}, {dw, Direct}, {pw, Pointwise}, {pw2, Im2col}} {
		if got := Choose(c.g); got != c.want {
			t.Errorf("Choose(%+v) = %v, want %v", c.g, got, c.want)
		}
	}
	// With the vector kernels: Winograd for 3×3 unit-stride layers of 32 input and 16 output
	// channels or more, Stem for first layers of 16 channels or of stride 4 (wider ones of
	// stride 2 pack faster by phased im2col); the portable row kernel keeps im2col for all.
	wide, few := square(32, 9, 16, 3, 1, 1, 1), square(16, 9, 64, 3, 1, 1, 1)
	stem16, stem4, stem64 := square(3, 224, 16, 3, 2, 1, 1), square(3, 224, 64, 11, 4, 2, 1), square(3, 224, 64, 7, 2, 3, 1)
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		k := activeRow.Load()
		wantWide, wantStem := Im2col, Im2col
		if k.winograd {
			wantWide = Winograd
		}
		if k.stem {
			wantStem = Stem
		}
		for _, c := range []struct {
			g    Geometry
			want Algorithm
		}{{wide, wantWide}, {few, Im2col}, {stem16, wantStem}, {stem4, wantStem}, {stem64, Im2col}} {
			if got := Choose(c.g); got != c.want {
				t.Errorf("%s: Choose(%+v) = %v, want %v", rk, c.g, got, c.want)
			}
		}
		restore()
	}
}

func TestGeometryErrors(t *testing.T) {
	ok := Geometry{C: 4, H: 5, W: 5, M: 4, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Group: 2}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mutate func(*Geometry)
		want   string
	}{
		{func(g *Geometry) { g.Group = 0 }, "group 0"},
		{func(g *Geometry) { g.Group = 3 }, "does not divide the 4 input channels"},
		{func(g *Geometry) { g.M = 6; g.Group = 4 }, "does not divide the 6 output channels"},
		{func(g *Geometry) { g.SW = 0 }, "strides"},
		{func(g *Geometry) { g.DH = 0 }, "dilations"},
		{func(g *Geometry) { g.PadLeft = -1 }, "pads"},
		{func(g *Geometry) { g.KH = 0 }, "kernel"},
		{func(g *Geometry) { g.KH = 7 }, "output size"},
		{func(g *Geometry) { g.H = 0 }, "input size"},
	} {
		g := ok
		c.mutate(&g)
		err := g.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", g, err, c.want)
		}
	}
}

func TestOutSizeAndPads(t *testing.T) {
	for _, c := range []struct {
		in, k, s, d, pb, pe int
		ceil                bool
		want                int
	}{
		{5, 3, 1, 1, 0, 0, false, 3},
		{5, 3, 2, 1, 1, 1, false, 3},
		{4, 3, 2, 1, 0, 0, false, 1},
		{4, 3, 2, 1, 0, 0, true, 2},
		{5, 2, 2, 1, 0, 0, true, 3},
		// The last window would start in the end padding: dropped in ceil mode.
		{4, 2, 2, 1, 1, 1, true, 3},
		{4, 2, 1, 2, 0, 0, false, 2},
		{2, 3, 1, 1, 0, 0, false, 0},
		// Ceil mode keeps a window that starts inside but sticks out past the end.
		{4, 3, 2, 2, 0, 0, true, 1},
		{4, 3, 2, 2, 0, 0, false, 0},
		{2, 3, 2, 2, 0, 0, true, 0},
	} {
		if got := OutSize(c.in, c.k, c.s, c.d, c.pb, c.pe, c.ceil); got != c.want {
			t.Errorf("OutSize%+v = %d, want %d", c, got, c.want)
		}
	}
	for _, c := range []struct {
		a              AutoPad
		in, k, s, d    int
		wantPB, wantPE int
	}{
		{SameUpper, 5, 3, 1, 1, 1, 1},
		{SameUpper, 32, 2, 1, 1, 0, 1},
		{SameLower, 32, 2, 1, 1, 1, 0},
		{SameLower, 5, 3, 2, 1, 1, 1},
		{SameUpper, 6, 3, 2, 1, 0, 1},
		{SameLower, 6, 3, 2, 1, 1, 0},
		{SameUpper, 7, 3, 1, 2, 2, 2},
		{Valid, 7, 3, 1, 2, 0, 0},
	} {
		pb, pe := c.a.Pads(c.in, c.k, c.s, c.d, 9, 9)
		if pb != c.wantPB || pe != c.wantPE {
			t.Errorf("%v.Pads(%d, %d, %d, %d) = %d, %d, want %d, %d", c.a, c.in, c.k, c.s, c.d, pb, pe, c.wantPB, c.wantPE)
		}
		if out := OutSize(c.in, c.k, c.s, c.d, pb, pe, false); c.a != Valid && out != (c.in+c.s-1)/c.s {
			t.Errorf("%v: %d outputs for input %d stride %d", c.a, out, c.in, c.s)
		}
	}
}

// TestDirectHugePadding covers padding far wider than the window: the direct algorithm must not
// build its padded copy (it would be mostly zeros) and hands over to im2col.
func TestDirectHugePadding(t *testing.T) {
	g := Geometry{C: 2, H: 3, W: 4, M: 2, KH: 2, KW: 1, SH: 1500, SW: 1000, DH: 1, DW: 1,
		PadTop: 1500, PadLeft: 1000, PadBottom: 1500, PadRight: 1000, Group: 2}
	if directFits(g) {
		t.Fatalf("padded copy of %d values accepted", directPlanSize(g))
	}
	p := newConvProblem(rand.New(rand.NewPCG(15, 16)), g, 2, true, gemm.ActNone)
	p.check(t, p.runForward(t, Direct, false, 2), "direct with huge pads")
}

// TestFilterAcrossInputSizes runs one filter on inputs of alternating sizes (its panel tables
// are cached per geometry) and checks every result against a fresh filter's, bit for bit.
func TestFilterAcrossInputSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	small, large := square(5, 9, 7, 3, 1, 1, 1), square(5, 23, 7, 3, 1, 1, 1)
	w := randFloats(rng, small.FilterLen())
	shared := NewFilter(small, w, Im2col, true)
	for i, g := range []Geometry{small, large, large, small, large} {
		x := randFloats(rng, g.InputLen())
		got, want := make([]float32, g.OutputLen()), make([]float32, g.OutputLen())
		shared.Forward(g, x, got, 1, nil, 1)
		NewFilter(g, w, Im2col, true).Forward(g, x, want, 1, nil, 1)
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("call %d (%dx%d input): y[%d] = %v, a fresh filter gives %v", i, g.H, g.W, j, got[j], want[j])
			}
		}
	}
}

// TestGroupedDirect runs grouped layers that an im2col filter hands to the direct algorithm
// (groupedDirect), with and without bias, a residual and each activation, at 1 and 2 threads,
// against the reference; and checks the neighbours that stay with im2col.
func TestGroupedDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	acts := []gemm.Activation{gemm.ActNone, gemm.ActRelu, gemm.ActClip}
	for i, g := range []Geometry{square(64, 28, 64, 3, 1, 1, 16), square(64, 56, 64, 3, 2, 1, 8), square(32, 30, 48, 3, 1, 1, 8)} {
		if !groupedDirect(g) {
			t.Fatalf("%+v: not taken by the direct algorithm", g)
		}
		for _, threads := range []int{1, 2} {
			p := newConvProblem(rng, g, 1+i%2, i != 1, acts[(i+threads)%3])
			if threads == 2 {
				p.ep.Residual = randFloats(rng, p.batch*g.OutputLen())
			}
			y := p.runForward(t, Im2col, true, threads)
			p.check(t, y, fmt.Sprintf("grouped direct %+v threads=%d residual=%v", g, threads, p.ep.Residual != nil))
		}
	}
	for _, g := range []Geometry{square(48, 56, 48, 3, 2, 1, 6), square(512, 14, 512, 3, 1, 1, 32), square(64, 27, 64, 3, 1, 1, 16)} {
		if groupedDirect(g) {
			t.Errorf("%+v: taken by the direct algorithm", g)
		}
	}
}

// TestTail runs a Tail through every algorithm (1×1, im2col with phased and per-piece packing,
// Winograd, the stem kernel, direct grouped and depthwise, channel-blocked depthwise, with a
// residual) at one to three threads: the output equals the same convolution without the tail
// followed by the tail over the whole output, bit for bit, which also shows that each value
// was passed exactly once (the tail is not idempotent).
func TestTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	tail := func(v []float32) {
		for i, x := range v {
			v[i] = x*0.5 + 1
		}
	}
	geoms := []Geometry{
		square(24, 9, 40, 1, 1, 0, 1),   // pointwise
		square(5, 13, 20, 3, 2, 1, 1),   // im2col
		square(32, 10, 32, 3, 1, 1, 1),  // Winograd
		square(3, 30, 16, 3, 2, 1, 1),   // stem
		square(16, 12, 16, 3, 1, 1, 16), // depthwise
		square(6, 40, 6, 3, 2, 1, 6),    // depthwise planes, stride 2 (bands of rows at 2-3 threads)
		square(6, 30, 6, 5, 2, 2, 6),    // depthwise planes, 5×5 stride 2
		square(4, 70, 4, 3, 1, 1, 4),    // depthwise planes, stride 1
		square(16, 12, 32, 3, 1, 1, 8),  // grouped
		square(8, 1, 40, 1, 1, 0, 1),    // one column
	}
	for _, g := range geoms {
		for _, algo := range []Algorithm{Auto, Im2col, Direct} {
			if algo != Auto && !algo.Supports(g) {
				continue
			}
			for threads := 1; threads <= 3; threads++ {
				p := newConvProblem(rng, g, 1+rng.IntN(2), true, gemm.ActRelu)
				if threads == 2 {
					p.ep.Residual = randFloats(rng, p.batch*g.OutputLen())
				}
				want := p.runForward(t, algo, true, threads)
				tail(want)
				p.ep.Tail = tail
				got := p.runForward(t, algo, true, threads)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%v %+v threads %d: y[%d] = %v, want %v", algo, g, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestSampledPoints runs strided 1×1 convolutions without padding, whose patch matrix is the
// copied grid of sampled pixels on one goroutine (samplePoints) and packed panels on more,
// for every stride combination that reaches a different copy loop, against the float64
// reference.
func TestSampledPoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, s := range [][2]int{{2, 2}, {2, 1}, {1, 2}, {1, 3}, {3, 3}, {3, 2}} {
		for _, group := range []int{1, 2} {
			g := Geometry{C: 6, H: 9 + rng.IntN(20), W: 7 + rng.IntN(40), M: 10, KH: 1, KW: 1, SH: s[0], SW: s[1],
				DH: 1, DW: 1, Group: group}
			if !g.sampledPoint() {
				t.Fatalf("%+v: not a sampled 1×1 geometry", g)
			}
			p := newConvProblem(rng, g, 2, true, gemm.ActRelu)
			for _, threads := range []int{1, 3} {
				y := p.runForward(t, Im2col, rng.IntN(2) == 0, threads)
				p.check(t, y, fmt.Sprintf("%+v threads=%d", g, threads))
			}
		}
	}
}
