package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"google.golang.org/protobuf/proto"
)

// Tests of the Trainer as a whole: a small CNN against finite differences,
// determinism, BatchNormalization's running statistics, parameter updates,
// Model, and the errors.

// cnnSpec describes a plain CNN: stages of 3×3 convolutions (padding 1),
// each followed by BatchNormalization and Relu, a 2×2 max-pool after every
// stage but the last, global average pooling, Flatten and a Gemm.
type cnnSpec struct {
	batch, in, h, w int
	stages          [][]int // output channels of each convolution, per stage
	classes         int
}

// cnnModel builds the model with random weights (He-initialised) from seed.
// The input is "x" [batch, in, h, w] and the output "logits" [batch, classes].
func cnnModel(s cnnSpec, seed uint64) *onnx.ModelProto {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := &modelBuilder{g: &onnx.GraphProto{Name: proto.String("cnn")}, rng: rng}
	b.g.Input = append(b.g.Input, onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", s.in, s.h, s.w))
	cur, ch := "x", s.in
	for si, stage := range s.stages {
		for li, m := range stage {
			name := fmt.Sprintf("s%d_%d", si, li)
			w := b.param(name+".w", math.Sqrt(2/float64(9*ch)), m, ch, 3, 3)
			bias := b.param(name+".b", 0.1, m)
			cur = b.node("Conv", name+".conv", []string{cur, w, bias}, onnx.AttrInts("pads", 1, 1, 1, 1), onnx.AttrInts("kernel_shape", 3, 3))
			cur = b.batchNorm(name, cur, m)
			cur = b.node("Relu", name+".relu", []string{cur})
			ch = m
		}
		if si < len(s.stages)-1 {
			cur = b.node("MaxPool", fmt.Sprintf("pool%d", si), []string{cur}, onnx.AttrInts("kernel_shape", 2, 2), onnx.AttrInts("strides", 2, 2))
		}
	}
	cur = b.node("GlobalAveragePool", "gap", []string{cur})
	cur = b.node("Flatten", "flatten", []string{cur})
	w := b.param("fc.w", math.Sqrt(1/float64(ch)), s.classes, ch)
	bias := b.param("fc.b", 0.1, s.classes)
	out := b.node("Gemm", "fc", []string{cur, w, bias}, onnx.AttrInt("transB", 1))
	b.g.Node[len(b.g.Node)-1].Output = []string{"logits"}
	_ = out
	b.g.Output = append(b.g.Output, onnx.ValueInfo("logits", onnx.TensorProto_FLOAT, "N", s.classes))
	return &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: b.g,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
}

// modelBuilder appends nodes and initializers to a graph.
type modelBuilder struct {
	g   *onnx.GraphProto
	rng *rand.Rand
}

func (b *modelBuilder) node(op, name string, inputs []string, attrs ...*onnx.AttributeProto) string {
	out := name + ".out"
	b.g.Node = append(b.g.Node, &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: inputs, Output: []string{out}, Attribute: attrs})
	return out
}

// param adds a float initializer with normal values of standard deviation
// std (or uniform in [0.5, 1.5) when std is 0).
func (b *modelBuilder) param(name string, std float64, shape ...int) string {
	v := make([]float32, runtime.NumElements(shape))
	for i := range v {
		if std == 0 {
			v[i] = float32(0.5 + b.rng.Float64())
		} else {
			v[i] = float32(std * b.rng.NormFloat64())
		}
	}
	tp, err := runtime.New(shape, v).ToProto(name)
	if err != nil {
		panic(err)
	}
	b.g.Initializer = append(b.g.Initializer, tp)
	return name
}

func (b *modelBuilder) batchNorm(name, x string, c int) string {
	scale := b.param(name+".bn.scale", 0, c)
	bias := b.param(name+".bn.bias", 0.1, c)
	mean := b.param(name+".bn.mean", 0.1, c)
	variance := b.param(name+".bn.var", 0, c)
	return b.node("BatchNormalization", name+".bn", []string{x, scale, bias, mean, variance}, onnx.AttrFloat("epsilon", 1e-5), onnx.AttrFloat("momentum", 0.9))
}

// randomInput returns a tensor of normal values.
func randomInput(seed uint64, shape ...int) *runtime.Tensor {
	return randTensor(rand.New(rand.NewPCG(seed, 3)), shape...)
}

// smallCNN is the network of the whole-network checks.
var smallCNN = cnnSpec{batch: 4, in: 2, h: 8, w: 8, stages: [][]int{{4}, {6}}, classes: 3}

// trainStep runs Forward (training) and Backward with dOutputs r and
// returns the logits.
func trainStep(t testing.TB, tr *runtime.Trainer, x, r *runtime.Tensor) *runtime.Tensor {
	t.Helper()
	out, err := tr.Forward(context.Background(), map[string]*runtime.Tensor{"x": x}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Backward(context.Background(), map[string]*runtime.Tensor{"logits": r}); err != nil {
		t.Fatal(err)
	}
	return out["logits"]
}

// TestTrainerNetworkFiniteDifferences checks the gradients of the small
// CNN's parameters (and so the engine: the order of the steps, the values
// it keeps, the sums where a value feeds several nodes) against central
// differences of the float32 training forward on random coordinates.
//
// The forward is float32 and BatchNormalization couples the whole batch,
// so the differences are noisier than the per-operator float64 checks:
// with h = 1e-2, L = Σ r·y of about 5 is evaluated with a rounding error
// of about 1e-6, i.e. 5e-5 in the difference, and the ReLU and max-pool
// kinks a step may cross add more (an error linear in h). A coordinate is
// compared only if the differences with h and h/2 agree to 0.5 % (else a
// kink lies within the step), and then to 2 % of the larger of |fd| and a
// tenth of the tensor's largest gradient (kink-free coordinates agree to
// about 1e-4); a wrong gradient in the engine (a missed sum, a stale
// value, a wrong order) is off by far more, and at least two thirds of the
// coordinates must be comparable.
func TestTrainerNetworkFiniteDifferences(t *testing.T) {
	m := cnnModel(smallCNN, 1)
	x := randomInput(2, smallCNN.batch, smallCNN.in, smallCNN.h, smallCNN.w)
	r := randomInput(3, smallCNN.batch, smallCNN.classes)
	tr, err := runtime.NewTrainer(m, runtime.WithTrainerThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	trainStep(t, tr, x, r)
	checkNetworkGradients(t, tr, x, r, rand.New(rand.NewPCG(4, 4)))
}

// TestTrainerResidualFiniteDifferences checks a residual block, where a
// value feeds two nodes and its gradient is the sum of both branches'. Its
// activations are smooth (Tanh): a BatchNormalization bias moves every unit
// of its channel, so in a network this small a ReLU would put kinks within
// any useful step; without kinks the differences agree to about 3e-4.
func TestTrainerResidualFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := &onnx.GraphProto{Name: proto.String("res")}
	g.Input = []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 2, 6, 6)}
	b := &modelBuilder{g: g, rng: rng}
	conv := func(name, in string, c, m int) string {
		w := b.param(name+".w", math.Sqrt(2/float64(9*c)), m, c, 3, 3)
		return b.node("Conv", name, []string{in, w}, onnx.AttrInts("pads", 1, 1, 1, 1))
	}
	a := b.node("Tanh", "act1", []string{b.batchNorm("c1", conv("c1", "x", 2, 4), 4)})
	r := b.batchNorm("c2", conv("c2", a, 4, 4), 4)
	sum := b.node("Tanh", "act2", []string{b.node("Add", "add", []string{a, r})})
	flat := b.node("Flatten", "flatten", []string{b.node("GlobalAveragePool", "gap", []string{sum})})
	w := b.param("fc.w", 0.5, 4, 3)
	b.node("MatMul", "fc", []string{flat, w})
	g.Node[len(g.Node)-1].Output = []string{"logits"}
	g.Output = []*onnx.ValueInfoProto{onnx.ValueInfo("logits", onnx.TensorProto_FLOAT, "N", 3)}
	m := &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
	tr, err := runtime.NewTrainer(m, runtime.WithTrainerThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(7, 3, 2, 6, 6)
	dy := randomInput(8, 3, 3)
	trainStep(t, tr, x, dy)
	checkNetworkGradients(t, tr, x, dy, rand.New(rand.NewPCG(9, 9)))
}

// checkNetworkGradients compares every trainable parameter's Grad (from one
// Backward with dOutputs r) with finite differences on random coordinates.
func checkNetworkGradients(t *testing.T, tr *runtime.Trainer, x, r *runtime.Tensor, rng *rand.Rand) {
	t.Helper()
	loss := func() float64 {
		out, err := tr.Forward(context.Background(), map[string]*runtime.Tensor{"x": x}, true)
		if err != nil {
			t.Fatal(err)
		}
		var l float64
		for i, v := range out["logits"].Float32s() {
			l += float64(v) * float64(r.Float32s()[i])
		}
		return l
	}
	diff := func(v []float32, j int, h float64) float64 {
		v0 := v[j]
		v[j] = float32(float64(v0) + h)
		plus := loss()
		v[j] = float32(float64(v0) - h)
		minus := loss()
		v[j] = v0
		return (plus - minus) / (2 * h)
	}
	checked, total, worst := 0, 0, 0.0
	for _, p := range tr.Params() {
		if !p.Trainable {
			continue
		}
		g := append([]float32(nil), p.Grad.Float32s()...)
		var gmax float64
		for _, v := range g {
			gmax = max(gmax, math.Abs(float64(v)))
		}
		v := p.Value.Float32s()
		for range 3 {
			j := rng.IntN(len(v))
			total++
			h := 1e-2
			fd1, fd2 := diff(v, j, h), diff(v, j, h/2)
			scale := max(math.Abs(fd1), 0.1*gmax, 1e-3)
			if math.Abs(fd1-fd2) > 0.005*scale {
				continue // a kink within the step
			}
			checked++
			d := math.Abs(float64(g[j]) - fd2)
			worst = max(worst, d/scale)
			if d > 0.02*scale {
				t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g (h %.0e: %.6g)", p.Name, j, g[j], fd2, h, fd1)
			}
		}
	}
	if checked < total*2/3 {
		t.Errorf("only %d of %d coordinates had consistent finite differences", checked, total)
	}
	t.Logf("%d of %d coordinates compared; worst error %.2e (tolerance 2e-2)", checked, total, worst)
}

// TestTrainerDeterministic checks that two trainers given the same model,
// inputs and thread count produce bit-identical gradients and running
// statistics.
func TestTrainerDeterministic(t *testing.T) {
	spec := cnnSpec{batch: 9, in: 3, h: 12, w: 12, stages: [][]int{{8, 8}, {16}}, classes: 5}
	x := randomInput(5, spec.batch, spec.in, spec.h, spec.w)
	r := randomInput(6, spec.batch, spec.classes)
	for _, threads := range []int{1, 2, 3} {
		var first []*runtime.Param
		for range 2 {
			tr, err := runtime.NewTrainer(cnnModel(spec, 9), runtime.WithTrainerThreads(threads))
			if err != nil {
				t.Fatal(err)
			}
			trainStep(t, tr, x, r)
			trainStep(t, tr, x, r) // gradients accumulate; statistics move twice
			if first == nil {
				first = tr.Params()
				continue
			}
			for i, p := range tr.Params() {
				if !bitsEqual(p.Value, first[i].Value) || (p.Grad != nil && !bitsEqual(p.Grad, first[i].Grad)) {
					t.Errorf("threads %d: parameter %s differs between runs", threads, p.Name)
				}
			}
		}
	}
}

func bitsEqual(a, b *runtime.Tensor) bool {
	av, bv := a.Float32s(), b.Float32s()
	if len(av) != len(bv) {
		return false
	}
	for i := range av {
		if math.Float32bits(av[i]) != math.Float32bits(bv[i]) {
			return false
		}
	}
	return true
}

// TestTrainerThreadCounts checks that the gradients agree (to rounding)
// whatever the thread count.
func TestTrainerThreadCounts(t *testing.T) {
	spec := cnnSpec{batch: 5, in: 2, h: 10, w: 10, stages: [][]int{{6}, {8}}, classes: 4}
	x := randomInput(7, spec.batch, spec.in, spec.h, spec.w)
	r := randomInput(8, spec.batch, spec.classes)
	var ref []*runtime.Param
	for _, threads := range []int{1, 2, 4} {
		tr, err := runtime.NewTrainer(cnnModel(spec, 3), runtime.WithTrainerThreads(threads))
		if err != nil {
			t.Fatal(err)
		}
		trainStep(t, tr, x, r)
		if ref == nil {
			ref = tr.Params()
			continue
		}
		for i, p := range tr.Params() {
			if p.Grad == nil {
				continue
			}
			// A convolution bias before BatchNormalization has a zero
			// gradient up to rounding: hence the floor.
			if e := maxDiffFloor(p.Grad.Float32s(), ref[i].Grad.Float32s(), 1e-3); e > 1e-4 {
				t.Errorf("threads %d: %s gradient differs from one thread's by %.3g", threads, p.Name, e)
			}
		}
	}
}

// maxDiffFloor is max |a − b| / max(max |b|, floor).
func maxDiffFloor(a, b []float32, floor float64) float64 {
	var d, s float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = max(s, math.Abs(float64(b[i])))
	}
	return d / max(s, floor)
}

// maxRelDiff is max |a − b| / max |b|.
func maxRelDiff(a, b []float32) float64 {
	var d, s float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = max(s, math.Abs(float64(b[i])))
	}
	return d / max(s, 1e-30)
}

// TestTrainerBatchNormStatistics checks the running statistics after a
// training forward against a float64 computation (PyTorch's rule: the
// unbiased batch variance), that frozen BatchNormalization keeps them, and
// that an inference forward uses them.
func TestTrainerBatchNormStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	n, c, h, w := 3, 2, 4, 5
	x := gradUniform(rng, -1, 3, n, c, h, w)
	in := []*runtime.Tensor{x, gradUniform(rng, 0.5, 1.5, c), gradUniform(rng, -1, 1, c), gradUniform(rng, -1, 1, c), gradUniform(rng, 0.5, 2, c)}
	ns := nodeSpec{op: "BatchNormalization", opset: 15, attrs: []*onnx.AttributeProto{attrFloat("momentum", 0.8)}, inputs: in, constant: map[int]bool{1: true, 2: true, 3: true, 4: true}}
	mean0, var0 := append([]float32(nil), in[3].Float32s()...), append([]float32(nil), in[4].Float32s()...)
	for _, frozen := range []bool{false, true} {
		tr, err := runtime.NewTrainer(ns.model(t), runtime.WithFrozenBatchNorm(frozen))
		if err != nil {
			t.Fatal(err)
		}
		params := map[string]*runtime.Param{}
		for _, p := range tr.Params() {
			params[p.Name] = p
		}
		if params["x3"].Trainable || params["x4"].Trainable || params["x3"].Grad != nil {
			t.Fatalf("running statistics must not be trainable")
		}
		if _, err := tr.Forward(context.Background(), map[string]*runtime.Tensor{"x0": x}, true); err != nil {
			t.Fatal(err)
		}
		for ch := range c {
			var s, ss float64
			cnt := float64(n * h * w)
			for b := range n {
				for _, v := range x.Float32s()[(b*c+ch)*h*w : (b*c+ch+1)*h*w] {
					s += float64(v)
				}
			}
			mean := s / cnt
			for b := range n {
				for _, v := range x.Float32s()[(b*c+ch)*h*w : (b*c+ch+1)*h*w] {
					ss += (float64(v) - mean) * (float64(v) - mean)
				}
			}
			wantMean := 0.8*float64(mean0[ch]) + 0.2*mean
			wantVar := 0.8*float64(var0[ch]) + 0.2*ss/(cnt-1)
			if frozen {
				wantMean, wantVar = float64(mean0[ch]), float64(var0[ch])
			}
			gotMean, gotVar := float64(params["x3"].Value.Float32s()[ch]), float64(params["x4"].Value.Float32s()[ch])
			if math.Abs(gotMean-wantMean) > 1e-6*max(1, math.Abs(wantMean)) || math.Abs(gotVar-wantVar) > 1e-6*max(1, wantVar) {
				t.Errorf("frozen=%v channel %d: running mean %v var %v, want %v %v", frozen, ch, gotMean, gotVar, wantMean, wantVar)
			}
		}
		// Inference now uses the (updated) running statistics.
		out, err := tr.Forward(context.Background(), map[string]*runtime.Tensor{"x0": x}, false)
		if err != nil {
			t.Fatal(err)
		}
		ref := ns
		ref.inputs = []*runtime.Tensor{x, in[1], in[2], params["x3"].Value, params["x4"].Value}
		want := ref.mustRun(t)[0]
		if e := maxRelDiff(out["y0"].Float32s(), want.Float32s()); e > 1e-6 {
			t.Errorf("frozen=%v: inference output differs from a session with the running statistics by %.3g", frozen, e)
		}
	}
}

// TestTrainerLiveParams checks that writing Param.Value in place changes
// the next Forward, and that Model writes the current values back.
func TestTrainerLiveParams(t *testing.T) {
	m := cnnModel(smallCNN, 4)
	tr, err := runtime.NewTrainer(m)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(9, smallCNN.batch, smallCNN.in, smallCNN.h, smallCNN.w)
	feeds := map[string]*runtime.Tensor{"x": x}
	before, err := tr.Forward(context.Background(), feeds, false)
	if err != nil {
		t.Fatal(err)
	}
	var fcBias *runtime.Param
	for _, p := range tr.Params() {
		if p.Name == "fc.b" {
			fcBias = p
		}
	}
	fcBias.Value.Float32s()[1] += 0.5
	after, err := tr.Forward(context.Background(), feeds, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range smallCNN.batch {
		d := after["logits"].Float32s()[i*3+1] - before["logits"].Float32s()[i*3+1]
		if math.Abs(float64(d)-0.5) > 1e-5 {
			t.Fatalf("logit changed by %v after adding 0.5 to its bias", d)
		}
	}
	out, err := tr.Model()
	if err != nil {
		t.Fatal(err)
	}
	if len(out.GetGraph().GetNode()) != len(m.GetGraph().GetNode()) || len(out.GetGraph().GetInitializer()) != len(m.GetGraph().GetInitializer()) {
		t.Fatal("Model changed the graph")
	}
	s, err := runtime.NewSessionFromModel(out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), feeds)
	if err != nil {
		t.Fatal(err)
	}
	if e := maxRelDiff(res["logits"].Float32s(), after["logits"].Float32s()); e > 1e-6 {
		t.Errorf("the model written back differs from the trainer by %.3g", e)
	}
	// The original model is untouched.
	for _, tp := range m.GetGraph().GetInitializer() {
		if tp.GetName() == "fc.b" {
			orig, _ := runtime.TensorFromProto(tp, "")
			if orig.Float32s()[1] == fcBias.Value.Float32s()[1] {
				t.Error("the original model was modified")
			}
		}
	}
}

// TestTrainerTrainableSelection checks WithTrainable: frozen parameters get
// no gradient, the others the same as when everything trains.
func TestTrainerTrainableSelection(t *testing.T) {
	m := cnnModel(smallCNN, 5)
	x := randomInput(1, smallCNN.batch, smallCNN.in, smallCNN.h, smallCNN.w)
	r := randomInput(2, smallCNN.batch, smallCNN.classes)
	all, err := runtime.NewTrainer(m)
	if err != nil {
		t.Fatal(err)
	}
	trainStep(t, all, x, r)
	var seen []string
	some, err := runtime.NewTrainer(m, runtime.WithTrainable(func(name string, uses []runtime.ParamUse) bool {
		seen = append(seen, name)
		return uses[0].Node.GetOpType() == "BatchNormalization" && uses[0].Input == 1 || strings.HasPrefix(name, "fc.")
	}))
	if err != nil {
		t.Fatal(err)
	}
	trainStep(t, some, x, r)
	for i, p := range some.Params() {
		if strings.HasSuffix(p.Name, ".mean") || strings.HasSuffix(p.Name, ".var") {
			if p.Trainable {
				t.Errorf("%s: running statistic is trainable", p.Name)
			}
			continue
		}
		want := strings.HasSuffix(p.Name, ".bn.scale") || strings.HasPrefix(p.Name, "fc.")
		if p.Trainable != want {
			t.Errorf("%s: trainable %v, want %v", p.Name, p.Trainable, want)
			continue
		}
		if want && maxRelDiff(p.Grad.Float32s(), all.Params()[i].Grad.Float32s()) > 1e-6 {
			t.Errorf("%s: gradient differs from the all-trainable one", p.Name)
		}
	}
	if len(seen) == 0 {
		t.Error("the trainable predicate was never called")
	}
}

// TestTrainerShapeSubgraph trains through a Reshape whose shape is computed
// from the input's shape (Shape → Gather → Unsqueeze → Concat), as
// exporters write a flatten with a dynamic batch: the integer subgraph has
// no gradient and must not need one.
func TestTrainerShapeSubgraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	g := &onnx.GraphProto{Name: proto.String("g")}
	g.Input = []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 2, 3)}
	b := &modelBuilder{g: g, rng: rng}
	w := b.param("w", 1, 2, 3)
	mul := b.node("Mul", "mul", []string{"x", w})
	shape := b.node("Shape", "shape", []string{mul})
	idx, _ := runtime.New([]int{}, []int64{0}).ToProto("idx")
	minus1, _ := runtime.New([]int{1}, []int64{-1}).ToProto("minus1")
	axes, _ := runtime.New([]int{1}, []int64{0}).ToProto("axes")
	g.Initializer = append(g.Initializer, idx, minus1, axes)
	batch := b.node("Gather", "gather", []string{shape, "idx"})
	batch1 := b.node("Unsqueeze", "unsq", []string{batch, "axes"})
	target := b.node("Concat", "concat", []string{batch1, "minus1"}, onnx.AttrInt("axis", 0))
	flat := b.node("Reshape", "reshape", []string{mul, target})
	g.Node[len(g.Node)-1].Output = []string{"y"}
	_ = flat
	g.Output = []*onnx.ValueInfoProto{onnx.ValueInfo("y", onnx.TensorProto_FLOAT, "N", 6)}
	m := &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
	tr, err := runtime.NewTrainer(m)
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(1, 4, 2, 3)
	if _, err := tr.Forward(context.Background(), map[string]*runtime.Tensor{"x": x}, true); err != nil {
		t.Fatal(err)
	}
	r := randomInput(2, 4, 6)
	if err := tr.Backward(context.Background(), map[string]*runtime.Tensor{"y": r}); err != nil {
		t.Fatal(err)
	}
	// y[n, j] = x[n, j]·w[j] (flattened), so dw[j] = Σ_n r[n, j]·x[n, j].
	for j, got := range tr.Params()[0].Grad.Float32s() {
		var want float64
		for n := range 4 {
			want += float64(r.Float32s()[n*6+j]) * float64(x.Float32s()[n*6+j])
		}
		if math.Abs(float64(got)-want) > 1e-5 {
			t.Errorf("dw[%d] = %v, want %v", j, got, want)
		}
	}
}

// TestTrainerErrors checks the errors: operators without a gradient
// (every one reported, naming node and op), Backward without a training
// Forward, and malformed output gradients.
func TestTrainerErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := &onnx.GraphProto{Name: proto.String("g")}
	g.Input = []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, 3)}
	b := &modelBuilder{g: g, rng: rng}
	w := b.param("w", 1, 3)
	a := b.node("Mul", "scale", []string{"x", w})
	s := b.node("Sin", "sine", []string{a})
	e := b.node("Cos", "cosine", []string{s})
	g.Node[len(g.Node)-1].Output = []string{"y"}
	_ = e
	g.Output = []*onnx.ValueInfoProto{onnx.ValueInfo("y", onnx.TensorProto_FLOAT, 3)}
	m := &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
	_, err := runtime.NewTrainer(m)
	if err == nil || !strings.Contains(err.Error(), `node "sine" (Sin)`) || !strings.Contains(err.Error(), `node "cosine" (Cos)`) {
		t.Fatalf("want errors naming both nodes without a gradient, got %v", err)
	}
	// Frozen w: nothing to differentiate, so the model trains (nothing).
	tr, err := runtime.NewTrainer(m, runtime.WithTrainable(func(string, []runtime.ParamUse) bool { return false }))
	if err != nil {
		t.Fatalf("no trainable parameter: %v", err)
	}
	if err := tr.Backward(context.Background(), nil); err == nil {
		t.Error("Backward without Forward: no error")
	}

	tr, err = runtime.NewTrainer(cnnModel(smallCNN, 1))
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(1, smallCNN.batch, smallCNN.in, smallCNN.h, smallCNN.w)
	ctx := context.Background()
	if _, err := tr.Forward(ctx, map[string]*runtime.Tensor{"x": x}, false); err != nil {
		t.Fatal(err)
	}
	if err := tr.Backward(ctx, map[string]*runtime.Tensor{"logits": randomInput(1, smallCNN.batch, smallCNN.classes)}); err == nil {
		t.Error("Backward after an inference Forward: no error")
	}
	for _, bad := range []map[string]*runtime.Tensor{
		{"logits": randomInput(1, smallCNN.batch, smallCNN.classes+1)},
		{"logits": runtime.New([]int{smallCNN.batch, smallCNN.classes}, make([]float64, smallCNN.batch*smallCNN.classes))},
		{"nope": randomInput(1, smallCNN.batch, smallCNN.classes)},
	} {
		if _, err := tr.Forward(ctx, map[string]*runtime.Tensor{"x": x}, true); err != nil {
			t.Fatal(err)
		}
		if err := tr.Backward(ctx, bad); err == nil {
			t.Errorf("Backward(%v): no error", bad)
		}
	}
	if _, err := tr.Forward(ctx, map[string]*runtime.Tensor{"y": x}, true); err == nil {
		t.Error("Forward with a wrong input name: no error")
	}
	// A cancelled context stops the pass.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tr.Forward(cctx, map[string]*runtime.Tensor{"x": x}, true); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Forward: %v", err)
	}
}
