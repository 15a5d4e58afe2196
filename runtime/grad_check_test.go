package runtime_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/dcnet-go/dcnet/runtime"
)

// The finite-difference harness of the gradient tests.
//
// A gradCase is one node with float32 inputs. The trainer differentiates
// L = Σ r·y (r random, one per output element) with respect to every float
// input that is not data: those inputs become initializers, hence
// parameters. The reference is central differences of the same L computed
// in float64: by the runtime itself on the DOUBLE version of the node where
// the operator has a DOUBLE kernel, otherwise by a float64 function written
// in the test from the operator's definition (Conv). Each output difference
// is taken before summing (Σ r·(y⁺ − y⁻)/2h), with h = 1e-4·max(1, |θ|).
//
// Tolerance. The error of a gradient tensor is max_j |g_j − fd_j| over the
// checked coordinates divided by max(max_j |fd_j|, gradFloor), plus the same
// for random directions v (Σ g·v against the difference along v, divided by
// ‖g‖). The float64 differences are accurate to about 1e-8 of the
// gradients here (truncation h²·|f”'| with data kept away from kinks by
// ≥ 1e-2 ≫ h, rounding 1e-16/h); the float32 gradients carry rounding errors
// of at most about 1e-5 relative (sums of up to a few thousand terms,
// accumulated in float32 by gemm). gradTolerance = 1e-4 sits well above both
// and far below what a wrong gradient gives: data and r are random, so a
// missing term, a wrong factor or a misrouted index changes the affected
// coordinates by O(1) of their size.
const (
	gradTolerance = 1e-4
	gradFloor     = 1e-2
	// gradCoords bounds the coordinates checked one by one per tensor (chosen
	// at random); gradDirections random directions cover all of them.
	gradCoords     = 24
	gradDirections = 3
)

// gradCase is one operator configuration.
type gradCase struct {
	name string
	spec nodeSpec
	// data lists float inputs fed as data (no gradient).
	data map[int]bool
	// ref is a float64 forward (inputs and outputs DOUBLE, integer inputs
	// as given); nil means the runtime on the DOUBLE version of spec, or of
	// refSpec(spec) if set.
	ref     func(in []*runtime.Tensor) []*runtime.Tensor
	refSpec func(ns nodeSpec) nodeSpec
	opts    []runtime.TrainerOption
}

// gradReport collects the worst error per operator for the log.
type gradReport struct {
	mu    sync.Mutex
	worst map[string]float64
}

var gradWorst = &gradReport{worst: map[string]float64{}}

func (r *gradReport) add(op string, err float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.worst[op] = max(r.worst[op], err)
}

func (r *gradReport) log(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := make([]string, 0, len(r.worst))
	for op := range r.worst {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var sb strings.Builder
	sb.WriteString("worst finite-difference error per operator (tolerance 1e-4):")
	for _, op := range ops {
		fmt.Fprintf(&sb, "\n  %-20s %.2e", op, r.worst[op])
	}
	t.Log(sb.String())
}

// isParam reports whether input i of c is differentiated.
func (c *gradCase) isParam(i int) bool {
	in := c.spec.inputs[i]
	return in != nil && in.DType() == runtime.Float32 && !c.data[i]
}

// trainerSpec is the spec with the differentiated inputs (and every integer
// input) as initializers.
func (c *gradCase) trainerSpec() nodeSpec {
	ns := c.spec
	ns.constant = map[int]bool{}
	for i, in := range ns.inputs {
		if in != nil && (c.isParam(i) || in.DType() != runtime.Float32) {
			ns.constant[i] = true
		}
	}
	return ns
}

// runGradCase checks the case and returns its worst error.
func runGradCase(t *testing.T, c *gradCase, threads int) float64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(len(c.name)), 99))
	ns := c.trainerSpec()
	tr, err := runtime.NewTrainer(ns.model(t), append([]runtime.TrainerOption{runtime.WithTrainerThreads(threads)}, c.opts...)...)
	if err != nil {
		t.Fatalf("%s: NewTrainer: %v", c.name, err)
	}
	feeds := map[string]*runtime.Tensor{}
	for i, in := range ns.inputs {
		if in != nil && !ns.constant[i] {
			feeds[fmt.Sprintf("x%d", i)] = in
		}
	}
	out, err := tr.Forward(context.Background(), feeds, true)
	if err != nil {
		t.Fatalf("%s: Forward: %v", c.name, err)
	}
	nOut := max(ns.outputs, 1)
	r := make([][]float64, nOut)
	dOut := map[string]*runtime.Tensor{}
	for i := range nOut {
		y := out[fmt.Sprintf("y%d", i)]
		if y.DType() != runtime.Float32 {
			continue // an integer output (indices, mask) has no gradient
		}
		r[i] = make([]float64, y.Len())
		d := make([]float32, y.Len())
		for j := range d {
			d[j] = float32(2*rng.Float64() - 1)
			r[i][j] = float64(d[j])
		}
		dOut[fmt.Sprintf("y%d", i)] = runtime.New(y.Shape(), d)
	}
	if err := tr.Backward(context.Background(), dOut); err != nil {
		t.Fatalf("%s: Backward: %v", c.name, err)
	}
	ref := c.reference(t)
	in64 := make([]*runtime.Tensor, len(c.spec.inputs))
	for i, in := range c.spec.inputs {
		in64[i] = widenTensor(in)
	}
	c.checkForward(t, out, ref(in64))
	worst := 0.0
	for _, p := range tr.Params() {
		var i int
		if _, err := fmt.Sscanf(p.Name, "x%d", &i); err != nil || !p.Trainable {
			continue
		}
		e := gradError(rng, p.Grad.Float32s(), in64, i, r, ref)
		if e > gradTolerance || math.IsNaN(e) {
			t.Errorf("%s: gradient of input %d (%v): error %.3g > %.0e", c.name, i, p.Value.Shape(), e, gradTolerance)
		}
		worst = max(worst, e)
	}
	gradWorst.add(c.spec.op, worst)
	return worst
}

// checkForward compares the trainer's training-mode outputs with the
// reference (a sanity check of the setup, loose: 1e-4 relative).
func (c *gradCase) checkForward(t *testing.T, got map[string]*runtime.Tensor, want []*runtime.Tensor) {
	t.Helper()
	for i, w := range want {
		g := got[fmt.Sprintf("y%d", i)]
		if w.DType() != runtime.Float64 {
			continue
		}
		if !runtime.SameShape(g.Shape(), w.Shape()) {
			t.Fatalf("%s: output %d shape %v, reference %v", c.name, i, g.Shape(), w.Shape())
		}
		wv := w.Float64s()
		scale := 0.0
		for _, v := range wv {
			scale = max(scale, math.Abs(v))
		}
		for j, v := range g.Float32s() {
			if d := math.Abs(float64(v) - wv[j]); !(d <= 1e-4*max(scale, 1)) {
				t.Fatalf("%s: output %d[%d] = %v, reference %v", c.name, i, j, v, wv[j])
			}
		}
	}
}

// reference returns the float64 forward of the case.
func (c *gradCase) reference(t *testing.T) func(in []*runtime.Tensor) []*runtime.Tensor {
	if c.ref != nil {
		return c.ref
	}
	ns := c.spec
	if c.refSpec != nil {
		ns = c.refSpec(ns)
	}
	ns.inputs = append([]*runtime.Tensor(nil), ns.inputs...)
	ns.constant = map[int]bool{}
	for i, in := range ns.inputs {
		if in != nil && in.DType() != runtime.Float32 {
			ns.constant[i] = true
		} else if in != nil {
			ns.inputs[i] = widenTensor(in)
		}
	}
	s, err := runtime.NewSessionFromModel(ns.model(t), runtime.WithThreads(1))
	if err != nil {
		t.Fatalf("%s: float64 reference: %v", c.name, err)
	}
	return func(in []*runtime.Tensor) []*runtime.Tensor {
		feeds := map[string]*runtime.Tensor{}
		for i, x := range in {
			if x != nil && !ns.constant[i] {
				feeds[fmt.Sprintf("x%d", i)] = x
			}
		}
		res, err := s.Run(context.Background(), feeds)
		if err != nil {
			panic(fmt.Sprintf("%s: float64 reference: %v", c.name, err))
		}
		out := make([]*runtime.Tensor, max(ns.outputs, 1))
		for i := range out {
			out[i] = res[fmt.Sprintf("y%d", i)]
		}
		return out
	}
}

// widenTensor converts a float32 tensor to float64 (others are returned
// as they are).
func widenTensor(t *runtime.Tensor) *runtime.Tensor {
	if t == nil || t.DType() != runtime.Float32 {
		return t
	}
	v := make([]float64, t.Len())
	for i, x := range t.Float32s() {
		v[i] = float64(x)
	}
	return runtime.New(t.Shape(), v)
}

// lossDifference returns Σ r·(y(θ + h·v) − y(θ − h·v)) / 2h for input i,
// where v is the unit vector of coordinate j (dir == nil) or dir.
func lossDifference(in []*runtime.Tensor, i, j int, dir []float64, h float64, r [][]float64, ref func([]*runtime.Tensor) []*runtime.Tensor) float64 {
	x := in[i].Float64s()
	saved := append([]float64(nil), x...)
	move := func(s float64) {
		if dir == nil {
			x[j] = saved[j] + s*h
			return
		}
		for k := range x {
			x[k] = saved[k] + s*h*dir[k]
		}
	}
	move(1)
	plus := ref(in)
	move(-1)
	minus := ref(in)
	copy(x, saved)
	var d float64
	for o := range r {
		if r[o] == nil {
			continue
		}
		p, m := plus[o].Float64s(), minus[o].Float64s()
		for k, w := range r[o] {
			d += w * (p[k] - m[k])
		}
	}
	return d / (2 * h)
}

// gradError measures the analytic gradient g of input i against central
// differences (see gradTolerance).
func gradError(rng *rand.Rand, g []float32, in []*runtime.Tensor, i int, r [][]float64, ref func([]*runtime.Tensor) []*runtime.Tensor) float64 {
	x := in[i].Float64s()
	coords := rng.Perm(len(x))
	if len(coords) > gradCoords {
		coords = coords[:gradCoords]
	}
	var worst, scale float64
	for _, j := range coords {
		h := 1e-4 * max(1, math.Abs(x[j]))
		fd := lossDifference(in, i, j, nil, h, r, ref)
		worst = max(worst, math.Abs(float64(g[j])-fd))
		scale = max(scale, math.Abs(fd))
	}
	e := worst / max(scale, gradFloor)
	var norm float64
	for _, v := range g {
		norm += float64(v) * float64(v)
	}
	norm = math.Sqrt(norm)
	for range gradDirections {
		dir := make([]float64, len(x))
		var dot float64
		for k := range dir {
			dir[k] = 2*rng.Float64() - 1
			dot += dir[k] * float64(g[k])
		}
		fd := lossDifference(in, i, 0, dir, 1e-4, r, ref)
		e = max(e, math.Abs(dot-fd)/max(norm, gradFloor))
	}
	return e
}

// ---- data helpers ----

// gradUniform returns a float32 tensor uniform in [lo, hi).
func gradUniform(rng *rand.Rand, lo, hi float64, shape ...int) *runtime.Tensor {
	d := make([]float32, runtime.NumElements(shape))
	for i := range d {
		d[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return runtime.New(shape, d)
}

// gradAway returns a tensor uniform in [lo, hi) whose values keep at least
// margin from every kink.
func gradAway(rng *rand.Rand, lo, hi, margin float64, kinks []float64, shape ...int) *runtime.Tensor {
	d := make([]float32, runtime.NumElements(shape))
	for i := range d {
	draw:
		for {
			v := lo + (hi-lo)*rng.Float64()
			for _, k := range kinks {
				if math.Abs(v-k) < margin {
					continue draw
				}
			}
			d[i] = float32(v)
			break
		}
	}
	return runtime.New(shape, d)
}

// gradDistinct returns a tensor whose values are a random permutation of
// evenly spaced values 0.01 apart (so every window has a unique maximum
// that a step h ≪ 0.01 cannot change), centred on zero.
func gradDistinct(rng *rand.Rand, shape ...int) *runtime.Tensor {
	n := runtime.NumElements(shape)
	d := make([]float32, n)
	for i, p := range rng.Perm(n) {
		d[i] = float32(0.01 * (float64(p) - float64(n)/2))
	}
	return runtime.New(shape, d)
}

// gradInt64 returns an int64 tensor.
func gradInt64(v ...int64) *runtime.Tensor { return runtime.New([]int{len(v)}, v) }
