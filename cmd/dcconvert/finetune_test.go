package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

// ftModel is a small CNN on x: [N, 1, 8, 8]: Conv(4) → BN → Relu →
// MaxPool → Conv(8) → BN → Relu → GlobalAveragePool → Flatten → Gemm(2).
func ftModel() *onnx.ModelProto {
	rng := rand.New(rand.NewPCG(5, 6))
	var inits []*onnx.TensorProto
	tensor := func(name string, dims []int, f func() float32) string {
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = f()
		}
		t, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: dims, Data: data})
		if err != nil {
			panic(err)
		}
		inits = append(inits, t)
		return name
	}
	normal := func(s float64) func() float32 { return func() float32 { return float32(s * rng.NormFloat64()) } }
	constant := func(v float32) func() float32 { return func() float32 { return v } }
	bn := func(name string, c int) []string {
		return []string{tensor(name+".scale", []int{c}, constant(1)), tensor(name+".bias", []int{c}, constant(0)),
			tensor(name+".mean", []int{c}, constant(0)), tensor(name+".var", []int{c}, constant(1))}
	}
	node := func(name, op string, in, out []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
		return &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
	}
	pads := onnx.AttrInts("pads", 1, 1, 1, 1)
	nodes := []*onnx.NodeProto{
		node("conv1", "Conv", []string{"x", tensor("conv1.w", []int{4, 1, 3, 3}, normal(0.4))}, []string{"c1"}, pads),
		node("bn1", "BatchNormalization", append([]string{"c1"}, bn("bn1", 4)...), []string{"b1"}),
		node("relu1", "Relu", []string{"b1"}, []string{"r1"}),
		node("pool", "MaxPool", []string{"r1"}, []string{"p1"}, onnx.AttrInts("kernel_shape", 2, 2), onnx.AttrInts("strides", 2, 2)),
		node("conv2", "Conv", []string{"p1", tensor("conv2.w", []int{8, 4, 3, 3}, normal(0.2))}, []string{"c2"}, pads),
		node("bn2", "BatchNormalization", append([]string{"c2"}, bn("bn2", 8)...), []string{"b2"}),
		node("relu2", "Relu", []string{"b2"}, []string{"r2"}),
		node("gap", "GlobalAveragePool", []string{"r2"}, []string{"g"}),
		node("flat", "Flatten", []string{"g"}, []string{"f"}),
		node("fc", "Gemm", []string{"f", tensor("fc.w", []int{2, 8}, normal(0.3)), tensor("fc.b", []int{2}, constant(0))}, []string{"logits"}, onnx.AttrInt("transB", 1)),
	}
	g := &onnx.GraphProto{
		Name: proto.String("finetune"), Node: nodes, Initializer: inits,
		Input:  []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 1, 8, 8)},
		Output: []*onnx.ValueInfoProto{onnx.ValueInfo("logits", onnx.TensorProto_FLOAT, "N", 2)},
	}
	return &onnx.ModelProto{
		IrVersion: proto.Int64(8), Graph: g, ProducerName: proto.String("finetune test"),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
	}
}

// ftImages draws n noisy images [1, 8, 8] of two classes: class 0 has
// horizontal stripes, class 1 vertical ones, each with a random phase
// (horizontal flips keep the class).
func ftImages(n int, seed uint64) ([]float32, []int64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*64)
	y := make([]int64, n)
	for i := range n {
		y[i] = int64(rng.IntN(2))
		phase := rng.IntN(2)
		for p := range 64 {
			row, col := p/8, p%8
			k := row
			if y[i] == 1 {
				k = col
			}
			v := 0.5 * rng.NormFloat64()
			if (k+phase)%2 == 0 {
				v += 1
			} else {
				v -= 1
			}
			x[i*64+p] = float32(v)
		}
	}
	return x, y
}

// ftFixture writes the standard and the decoupled (tanh:cos, calibrated)
// models and .npy training and validation data into dir.
type ftFixture struct {
	dir, standard, decoupled         string
	data, labels, valData, valLabels string
}

func newFTFixture(t *testing.T) *ftFixture {
	t.Helper()
	dir := t.TempDir()
	f := &ftFixture{dir: dir, standard: filepath.Join(dir, "standard.onnx"), decoupled: filepath.Join(dir, "tanh_cos.onnx"),
		data: filepath.Join(dir, "x.npy"), labels: filepath.Join(dir, "y.npy"), valData: filepath.Join(dir, "vx.npy"), valLabels: filepath.Join(dir, "vy.npy")}
	x, y := ftImages(200, 1)
	vx, vy := ftImages(100, 2)
	for _, w := range []struct {
		path  string
		shape []int
		data  any
	}{{f.data, []int{200, 1, 8, 8}, x}, {f.labels, []int{200}, y}, {f.valData, []int{100, 1, 8, 8}, vx}, {f.valLabels, []int{100}, vy}} {
		if err := npy.WriteFile(w.path, w.shape, w.data); err != nil {
			t.Fatal(err)
		}
	}
	m := ftModel()
	if err := onnx.SaveFile(f.standard, m); err != nil {
		t.Fatal(err)
	}
	m = ftPretrain(t, m, x, y)
	op, err := convert.ParseOperator("tanh:cos")
	if err != nil {
		t.Fatal(err)
	}
	op.Weighted = true
	res, err := convert.Rewrite(m, convert.Options{Operator: op})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := convert.Calibrate(context.Background(), m, res.Layers, runtime.New([]int{200, 1, 8, 8}, x), convert.CalibrateOptions{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	if err := onnx.SaveFile(f.decoupled, m); err != nil {
		t.Fatal(err)
	}
	return f
}

// ftPretrain trains the standard model a little (in process), so that the
// decoupled model is converted from a model that has learnt the task.
func ftPretrain(t *testing.T, m *onnx.ModelProto, x []float32, y []int64) *onnx.ModelProto {
	t.Helper()
	tr, err := runtime.NewTrainer(m, runtime.WithTrainerThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := train.NewSGD(tr.Params(), train.SGDConfig{Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int, len(y))
	for i, v := range y {
		labels[i] = int(v)
	}
	data := &train.Dataset{X: x, Shape: []int{len(y), 1, 8, 8}, Labels: labels}
	loop, err := train.NewLoop(tr, opt, train.Constant{Base: 0.05}, data, train.Config{Epochs: 4, Batch: 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loop.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, err := tr.Model()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// args are the common arguments of a run of in writing out.
func (f *ftFixture) args(in, out string, extra ...string) []string {
	return append([]string{"finetune", in, "-o", out, "--data", f.data, "--labels", f.labels,
		"--val", f.valData, "--val-labels", f.valLabels, "--batch", "32", "--threads", "2", "--seed", "3", "--quiet"}, extra...)
}

// initializers reads a model's initializers by name.
func initializers(t *testing.T, path string) (*onnx.ModelProto, map[string][]float32) {
	t.Helper()
	m, err := onnx.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, tp := range m.GetGraph().GetInitializer() {
		v, _, err := onnx.Float32s(tp, "")
		if err != nil {
			t.Fatal(err)
		}
		out[tp.GetName()] = v
	}
	return m, out
}

func sameValues(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// sameGraph reports whether two models have equal nodes, inputs and
// outputs, and initializers of the same names and shapes.
func sameGraph(t *testing.T, a, b *onnx.ModelProto) {
	t.Helper()
	ga, gb := a.GetGraph(), b.GetGraph()
	if len(ga.GetNode()) != len(gb.GetNode()) {
		t.Fatalf("%d nodes, want %d", len(gb.GetNode()), len(ga.GetNode()))
	}
	for i := range ga.GetNode() {
		if !proto.Equal(ga.GetNode()[i], gb.GetNode()[i]) {
			t.Fatalf("node %d differs: %v vs %v", i, ga.GetNode()[i], gb.GetNode()[i])
		}
	}
	for i := range ga.GetInitializer() {
		x, y := ga.GetInitializer()[i], gb.GetInitializer()[i]
		if x.GetName() != y.GetName() || len(x.GetDims()) != len(y.GetDims()) {
			t.Fatalf("initializer %d: %s %v vs %s %v", i, x.GetName(), x.GetDims(), y.GetName(), y.GetDims())
		}
	}
	if !proto.Equal(&onnx.GraphProto{Input: ga.Input, Output: ga.Output}, &onnx.GraphProto{Input: gb.Input, Output: gb.Output}) {
		t.Fatal("graph inputs or outputs differ")
	}
	if len(a.GetOpsetImport()) != len(b.GetOpsetImport()) {
		t.Fatal("opset imports differ")
	}
}

func TestFinetuneTrainOp(t *testing.T) {
	f := newFTFixture(t)
	out := filepath.Join(f.dir, "op.onnx")
	history := filepath.Join(f.dir, "history.json")
	r := mustSucceed(t, f.args(f.decoupled, out, "--train", "op", "--epochs", "3", "--lr", "0.05", "--history", history)...)
	if !strings.Contains(r.Stdout, "val acc") {
		t.Errorf("no epoch table on stdout: %q", r.Stdout)
	}
	in, before := initializers(t, f.decoupled)
	m, after := initializers(t, out)
	sameGraph(t, in, m)
	opParams, err := train.OperatorParams(in)
	if err != nil {
		t.Fatal(err)
	}
	changed := 0
	for name, v := range before {
		same := sameValues(v, after[name])
		switch {
		case opParams[name] && !same:
			changed++
		case !opParams[name] && !same:
			t.Errorf("%s is not an operator parameter but changed (BatchNormalization statistics must stay frozen too)", name)
		}
	}
	if changed == 0 {
		t.Error("no operator parameter changed")
	}
	for name := range train.RhoParams(in) {
		for _, v := range after[name] {
			if !(v >= train.DefaultRhoMin) {
				t.Errorf("%s has %v < rho-min", name, v)
			}
		}
	}
	var h train.History
	data, err := os.ReadFile(history)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 3 || len(h.Steps) != 3*7 {
		t.Fatalf("history has %d epochs and %d steps, want 3 and 21", len(h.Epochs), len(h.Steps))
	}
	// The runtime runs the output as an inference model.
	if acc := ftAccuracy(t, out, f); acc < 0.9 {
		t.Errorf("validation accuracy of the output %.3f, want ≥ 0.9 on this easy task", acc)
	}
}

// ftAccuracy runs a model on the fixture's validation data.
func ftAccuracy(t *testing.T, path string, f *ftFixture) float64 {
	t.Helper()
	r := runtime.Builtins()
	decop.Register(r)
	s, err := runtime.NewSession(path, runtime.WithRegistry(r))
	if err != nil {
		t.Fatal(err)
	}
	_, xd, err := npy.ReadFile(f.valData)
	if err != nil {
		t.Fatal(err)
	}
	_, yd, err := npy.ReadFile(f.valLabels)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": runtime.New([]int{100, 1, 8, 8}, xd.([]float32))})
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int, 100)
	for i, v := range yd.([]int64) {
		labels[i] = int(v)
	}
	return float64(train.Correct(out["logits"], labels)) / 100
}

func TestFinetuneTrainAllLearnsAndIsDeterministic(t *testing.T) {
	f := newFTFixture(t)
	a, b := filepath.Join(f.dir, "a.onnx"), filepath.Join(f.dir, "b.onnx")
	history := filepath.Join(f.dir, "h.json")
	args := []string{"--train", "all", "--epochs", "3", "--lr", "0.1", "--schedule", "onecycle", "--nesterov", "--flip"}
	mustSucceed(t, f.args(f.standard, a, append(args, "--history", history)...)...)
	mustSucceed(t, f.args(f.standard, b, args...)...)
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Error("two runs with the same seed and threads wrote different models")
	}
	// The same for a decoupled model, whose DecoupledConv backward splits the batch across the
	// two threads and sums per-thread partial gradients.
	da2, db2 := filepath.Join(f.dir, "a2.onnx"), filepath.Join(f.dir, "b2.onnx")
	mustSucceed(t, f.args(f.decoupled, da2, args...)...)
	mustSucceed(t, f.args(f.decoupled, db2, args...)...)
	if x, y := mustRead(t, da2), mustRead(t, db2); !bytes.Equal(x, y) {
		t.Error("two runs of the decoupled model with the same seed and threads wrote different models")
	}
	in, before := initializers(t, f.standard)
	m, after := initializers(t, a)
	sameGraph(t, in, m)
	for _, name := range []string{"conv1.w", "fc.w", "bn1.scale", "bn1.mean", "bn2.var"} {
		if sameValues(before[name], after[name]) {
			t.Errorf("%s did not change with --train all", name)
		}
	}
	var h train.History
	data, _ := os.ReadFile(history)
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	if first, last := h.Epochs[0].Train.Loss, h.Epochs[2].Train.Loss; !(last < first) {
		t.Errorf("training loss %v → %v did not fall", first, last)
	}
	if acc := ftAccuracy(t, a, f); acc < 0.9 {
		t.Errorf("validation accuracy %.3f, want ≥ 0.9", acc)
	}
	c := filepath.Join(f.dir, "c.onnx")
	mustSucceed(t, f.args(f.standard, c, append(args[:len(args):len(args)], "--seed", "4")...)...)
	if dc, _ := os.ReadFile(c); bytes.Equal(da, dc) {
		t.Error("another seed wrote the same model")
	}
}

// TestFinetuneResume checks that 1 epoch + resume + 1 epoch writes the
// same model, bit for bit, as 2 epochs in one go.
func TestFinetuneResume(t *testing.T) {
	f := newFTFixture(t)
	ck := filepath.Join(f.dir, "ck")
	full, resumed := filepath.Join(f.dir, "full.onnx"), filepath.Join(f.dir, "resumed.onnx")
	args := []string{"--train", "all", "--epochs", "2", "--flip", "--optimizer", "adamw", "--lr", "0.003", "--checkpoint", ck, "--keep-checkpoints", "2"}
	mustSucceed(t, f.args(f.decoupled, full, args...)...)
	for _, e := range []string{"epoch-0001", "epoch-0002"} {
		for _, file := range []string{"model.onnx", "optimizer.bin", "state.json"} {
			if _, err := os.Stat(filepath.Join(ck, e, file)); err != nil {
				t.Fatalf("checkpoint file missing: %v", err)
			}
		}
	}
	// Pretend the run stopped after epoch 1.
	if err := os.RemoveAll(filepath.Join(ck, "epoch-0002")); err != nil {
		t.Fatal(err)
	}
	r := dcconvert(t, f.args(f.decoupled, resumed, append(args, "--resume")...)...)
	if r.Code != 0 {
		t.Fatalf("resume failed: %s", r.Stderr)
	}
	a, _ := os.ReadFile(full)
	b, _ := os.ReadFile(resumed)
	if !bytes.Equal(a, b) {
		t.Error("the resumed run wrote another model than the uninterrupted one")
	}
	// Resuming with other settings is refused.
	mustFail(t, "same settings", f.args(f.decoupled, resumed, "--train", "all", "--epochs", "3", "--optimizer", "adamw", "--checkpoint", ck, "--resume")...)
	mustFail(t, "another model", f.args(f.standard, resumed, "--train", "all", "--epochs", "2", "--checkpoint", ck, "--resume")...)
	mustFail(t, "no checkpoint", f.args(f.decoupled, resumed, "--train", "all", "--checkpoint", filepath.Join(f.dir, "none"), "--resume")...)
}

func TestFinetuneDistillation(t *testing.T) {
	f := newFTFixture(t)
	out := filepath.Join(f.dir, "student.onnx")
	// No labels: the teacher (the standard model) gives the targets.
	mustSucceed(t, "finetune", f.decoupled, "-o", out, "--data", f.data, "--teacher", f.standard, "--train", "all",
		"--epochs", "1", "--batch", "50", "--threads", "1", "--quiet")
	// Labels and teacher: both losses.
	mustSucceed(t, f.args(f.decoupled, out, "--teacher", f.standard, "--distill-weight", "0.3", "--temperature", "2", "--train", "op")...)
	mustFail(t, "no labels", "finetune", f.decoupled, "-o", out, "--data", f.data, "--quiet")
}

// TestFinetuneImageFolder trains on PNG images in class subfolders.
func TestFinetuneImageFolder(t *testing.T) {
	f := newFTFixture(t)
	root := filepath.Join(f.dir, "images")
	x, y := ftImages(40, 9)
	for i := range 40 {
		dir := filepath.Join(root, []string{"top", "bottom"}[y[i]])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		for p := range 64 {
			v := math.Max(0, math.Min(255, 128+60*float64(x[i*64+p])))
			img.SetGray(p%8, p/8, color.Gray{Y: uint8(v)})
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, string(rune('a'+i/26))+string(rune('a'+i%26))+".png"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(f.dir, "folder.onnx")
	r := mustSucceed(t, "finetune", f.standard, "-o", out, "--data", root, "--val", root, "--train", "all", "--mean", "0.5", "--std", "0.25",
		"--epochs", "1", "--batch", "8", "--threads", "1", "--quiet")
	if !strings.Contains(r.Stdout, "%") {
		t.Errorf("no epoch table: %q", r.Stdout)
	}
}

func TestFinetuneErrors(t *testing.T) {
	f := newFTFixture(t)
	out := filepath.Join(f.dir, "out.onnx")
	mustFail(t, "DecoupledConv node", f.args(f.standard, out, "--train", "op")...)
	mustFail(t, "--force", f.args(f.decoupled, f.decoupled)...)
	mustFail(t, "--train \"some\"", f.args(f.decoupled, out, "--train", "some")...)
	mustFail(t, "--schedule", f.args(f.decoupled, out, "--schedule", "linear")...)
	mustFail(t, "--optimizer", f.args(f.decoupled, out, "--optimizer", "adam")...)
	mustFail(t, "--resume needs --checkpoint", f.args(f.decoupled, out, "--resume")...)
	mustFail(t, "--batch 0", f.args(f.decoupled, out, "--batch", "0")...)
	mustFail(t, "--nesterov", f.args(f.decoupled, out, "--optimizer", "adamw", "--nesterov")...)
	mustFail(t, "--distill-weight", f.args(f.decoupled, out, "--distill-weight", "2")...)
	mustFail(t, "labels", "finetune", f.decoupled, "-o", out, "--data", f.data, "--labels", f.valLabels, "--quiet")
	small := filepath.Join(f.dir, "small.npy")
	if err := npy.WriteFile(small, []int{200, 1, 6, 6}, make([]float32, 200*36)); err != nil {
		t.Fatal(err)
	}
	mustFail(t, "do not fit", "finetune", f.decoupled, "-o", out, "--data", small, "--labels", f.labels, "--quiet")
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run wrote its output")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
