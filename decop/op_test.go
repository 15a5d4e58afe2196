package decop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/runtime"
)

// tolerance is the spec's bound on ‖y − y_ref‖/‖y_ref‖ for a float32 implementation.
const tolerance = 1e-5

// forwardErrors tracks the largest relative error per configuration for the report, and how
// many problems were too ill-conditioned to compare (checkOutput's NaN).
type forwardErrors struct {
	worst      map[string]float64
	skipped, n int
}

func newForwardErrors() *forwardErrors { return &forwardErrors{worst: map[string]float64{}} }

func (fe *forwardErrors) add(key string, err float64) {
	fe.n++
	if math.IsNaN(err) {
		fe.skipped++
		return
	}
	fe.worst[key] = max(fe.worst[key], err)
}

func (fe *forwardErrors) log(t *testing.T) {
	keys := make([]string, 0, len(fe.worst))
	for k := range fe.worst {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-28s %.2e", k, fe.worst[k])
	}
	t.Logf("largest relative error per configuration (%d of %d problems too ill-conditioned to compare):%s", fe.skipped, fe.n, b.String())
}

// checkOutput checks that y is finite and compares it with the reference. It returns the
// relative error, or NaN when the problem is too ill-conditioned for float32 to meet the
// spec's tolerance at all (wellConditioned; e.g. a 1×1 depthwise filter with a tiny eps puts
// every cosine within 1e-5 of ±1, where the linear and sigmoid angulars are steep): then only
// finiteness is required.
func checkOutput(t *testing.T, p *problem, y []float32, what string) float64 {
	t.Helper()
	for i, v := range y {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("%s %s: output %d is %v", what, p.describe(), i, v)
		}
	}
	ref := referenceForward(p)
	err := relativeError(y, ref)
	if !wellConditioned(p, ref) {
		return math.NaN()
	}
	if !(err <= tolerance) {
		t.Errorf("%s %s: relative error %.3g > %g", what, p.describe(), err, tolerance)
	}
	return err
}

// forEachKernel runs f once per row kernel this machine has.
func forEachKernel(t *testing.T, f func(kernel string)) {
	for _, name := range Kernels() {
		restore, ok := UseKernel(name)
		if !ok {
			t.Fatalf("kernel %q listed but not usable", name)
		}
		f(name)
		restore()
	}
}

// TestForwardMatchesReference runs random problems of every configuration (7 magnitudes × 4
// angulars × weighted 0/1) through a Session on every row kernel, cycling through the ways of
// giving α, ρ, β (absent, [], [1], [M]), with and without bias, over dense, grouped, depthwise
// and 1×1 geometries with random strides, dilations, pads and auto_pad, batch 1–3, threads 1–3,
// and W (with the parameters) constant or fed at run time.
func TestForwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	worst := newForwardErrors()
	shapes := []shapeKind{shapeAny, shapeDense, shapeGrouped, shapeDepthwise, shapePointwise}
	params := []paramKind{paramsAbsent, paramsScalar, paramsScalar1, paramsPerChannel}
	perConfig := 20
	if testing.Short() {
		perConfig = 4
	}
	forEachKernel(t, func(kernel string) {
		for _, mag := range Magnitudes() {
			for _, ang := range Angulars() {
				for _, weighted := range []bool{false, true} {
					for i := range perConfig {
						o := problemOpts{mag: mag, ang: ang, weighted: weighted, params: params[i%4], bias: i%3 != 0,
							shape: shapes[i%5], maxBatch: 3}
						p := randomProblem(rng, o)
						constant := i%2 == 0
						threads := 1 + i%3
						what := fmt.Sprintf("kernel %s constant=%v threads=%d", kernel, constant, threads)
						err := checkOutput(t, p, p.mustRunProblem(t, constant, threads), what)
						w := 0
						if weighted {
							w = 1
						}
						worst.add(fmt.Sprintf("%s %v:%v w=%d", kernel, mag, ang, w), err)
					}
				}
			}
		}
	})
	worst.log(t)
}

// convOutput runs the problem's convolution (W and B, no decoupling) as an ONNX Conv node.
func convOutput(t *testing.T, p *problem, constant bool, threads int) []float32 {
	t.Helper()
	in := p.opInputs()[:inB+1]
	m, feeds, err := oneNodeModel("Conv", "", windowAttributes(p.g, p.autoPad), in, func(i int) bool { return constant && i != inX })
	if err != nil {
		t.Fatal(err)
	}
	y, err := runModel(m, feeds, runtime.WithThreads(threads))
	if err != nil {
		t.Fatal(err)
	}
	return y.Float32s()
}

// TestIdentityIsConv checks the spec's identity: magnitude linear, angular cos, weighted = 1
// and α = 1 (absent or a constant of ones) give Conv(X, W, B). With α known at plan time the
// node runs as a plain Conv, so its output is Conv's bit for bit; with α fed at run time it takes
// the decoupled path and agrees to the spec's tolerance.
func TestIdentityIsConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := []shapeKind{shapeAny, shapeDense, shapeGrouped, shapeDepthwise, shapePointwise}
	for i := range 60 {
		o := problemOpts{mag: Linear, ang: Cos, weighted: true, bias: i%2 == 0, shape: shapes[i%5], maxBatch: 2}
		p := randomProblem(rng, o)
		switch i % 3 {
		case 1:
			p.alpha = []float64{1}
		case 2:
			p.alpha = make([]float64, p.g.M)
			for j := range p.alpha {
				p.alpha[j] = 1
			}
		}
		constant := i%4 != 3
		threads := 1 + i%2
		want := convOutput(t, p, constant, threads)
		got := p.mustRunProblem(t, constant, threads)
		if err := relativeError(got, widen32(want)); !(err <= tolerance) {
			t.Errorf("%s: relative error %.3g from Conv", p.describe(), err)
		}
		checkOutput(t, p, got, "identity")
		if constant {
			for j := range got {
				if got[j] != want[j] {
					t.Fatalf("%s constant: output %d = %v, Conv gives %v: not planned as a plain Conv", p.describe(), j, got[j], want[j])
				}
			}
		}
	}
}

func widen32(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestZeroPatchesAndExtremes runs every configuration on inputs with all-zero regions, padding
// wider than the window (whole windows of padding), a filter channel of zeros, eps 0 or not,
// and inputs scaled by 1e-30 and 1e30: the outputs stay finite, match the reference, and an
// all-zero patch gives exactly B_m.
func TestZeroPatchesAndExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, mag := range Magnitudes() {
		for _, ang := range Angulars() {
			for i, scale := range []float64{1, 1e-30, 1e30} {
				o := problemOpts{mag: mag, ang: ang, weighted: i != 1, params: paramsPerChannel, bias: true, shape: shapeAny}
				p := randomProblem(rng, o)
				g := &p.g
				p.autoPad = conv.NotSet
				g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = g.KH*g.DH+1, g.KW*g.DW, 2, g.KW*g.DW+1
				p.eps = []float64{0, f32(DefaultEps)}[rng.IntN(2)]
				for j := range p.x {
					p.x[j] = f32(p.x[j] * scale)
					if j%(g.H*g.W) < g.W*(g.H/2) { // the upper half of every plane is zero
						p.x[j] = 0
					}
				}
				for j := range p.filter(0) {
					p.w[j] = 0 // Nw_0 = sqrt(eps), possibly 0
				}
				y := p.mustRunProblem(t, i != 2, 1+i%2)
				checkOutput(t, p, y, fmt.Sprintf("scale %g eps %g", scale, p.eps))
				p.checkZeroPatches(t, y)
			}
		}
	}
}

// checkZeroPatches checks y = B_m exactly wherever the input patch is all zero.
func (p *problem) checkZeroPatches(t *testing.T, y []float32) {
	t.Helper()
	g := p.g
	oh, ow := g.OutH(), g.OutW()
	for n := range p.n {
		for m := range g.M {
			for i := range oh {
				for j := range ow {
					if _, sq := p.patchSums(n, m, i, j); sq != 0 {
						continue
					}
					if got := y[((n*g.M+m)*oh+i)*ow+j]; float64(got) != p.b[m] {
						t.Fatalf("%s: all-zero patch (%d, %d, %d, %d) gives %v, want B = %v", p.describe(), n, m, i, j, got, p.b[m])
					}
				}
			}
		}
	}
}

// TestForwardLarger runs problems big enough for the multi-threaded paths: one image whose
// product gemm splits over goroutines while the patch norms are computed concurrently, and a
// batch split over images, against the reference, on every row kernel.
func TestForwardLarger(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := []conv.Geometry{
		{C: 64, H: 17, W: 19, M: 24, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 1},
		{C: 96, H: 16, W: 16, M: 40, KH: 1, KW: 1, SH: 2, SW: 2, DH: 1, DW: 1, Group: 2},
		{C: 32, H: 23, W: 21, M: 32, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1, PadTop: 1, PadLeft: 0, PadBottom: 1, PadRight: 2, Group: 32},
	}
	forEachKernel(t, func(kernel string) {
		for i, g := range shapes {
			for _, batch := range []int{1, 3} {
				o := problemOpts{mag: Magnitudes()[(i+batch)%7], ang: Angulars()[i%4], weighted: batch == 1, params: paramsPerChannel, bias: true}
				p := randomProblem(rng, o)
				p.n, p.g, p.autoPad = batch, g, conv.NotSet
				p.x = randomValues(rng, batch*g.InputLen(), 1)
				p.w = randomValues(rng, g.FilterLen(), 1)
				p.b = randomValues(rng, g.M, 1)
				p.setRandomParams(rng, paramsPerChannel)
				for _, threads := range []int{1, 2} {
					checkOutput(t, p, p.mustRunProblem(t, threads == 2, threads), fmt.Sprintf("kernel %s threads %d", kernel, threads))
				}
			}
		}
	})
}
