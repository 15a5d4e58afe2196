package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// linearNet is a Network computing logits = x·Wᵀ + b for x: [N, D]
// (flattened samples), W: [K, D], b: [K], with hand-written gradients. It
// lets the loop be tested without the runtime's training engine; its Model
// is the equivalent ONNX graph (Flatten → Gemm).
type linearNet struct {
	params []*runtime.Param
	x      []float32 // the last training forward's input
	n      int
}

func newLinearNet(d, k int, seed uint64) *linearNet {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, k*d)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.1)
	}
	return &linearNet{params: []*runtime.Param{
		{Name: "W", Value: runtime.New([]int{k, d}, w), Grad: runtime.Zeros(runtime.Float32, k, d), Trainable: true},
		{Name: "b", Value: runtime.Zeros(runtime.Float32, k), Grad: runtime.Zeros(runtime.Float32, k), Trainable: true},
	}}
}

// linearNetFrom rebuilds a linearNet from its ONNX model.
func linearNetFrom(t *testing.T, m *onnx.ModelProto) *linearNet {
	t.Helper()
	net := &linearNet{}
	for _, tp := range m.GetGraph().GetInitializer() {
		v, dims, err := onnx.Float32s(tp, "")
		if err != nil {
			t.Fatal(err)
		}
		net.params = append(net.params, &runtime.Param{Name: tp.GetName(), Value: runtime.New(dims, v), Grad: runtime.Zeros(runtime.Float32, dims...), Trainable: true})
	}
	return net
}

func (l *linearNet) Params() []*runtime.Param { return l.params }

func (l *linearNet) dims() (k, d int) { s := l.params[0].Value.Shape(); return s[0], s[1] }

func (l *linearNet) Forward(_ context.Context, in map[string]*runtime.Tensor, training bool) (map[string]*runtime.Tensor, error) {
	x := in["x"]
	if x == nil {
		return nil, errors.New("no input x")
	}
	k, d := l.dims()
	n := x.Shape()[0]
	xs := x.Float32s()
	if len(xs) != n*d {
		return nil, errors.New("bad input size")
	}
	w, b := l.params[0].Value.Float32s(), l.params[1].Value.Float32s()
	out := make([]float32, n*k)
	for i := range n {
		for c := range k {
			s := b[c]
			for j := range d {
				s += xs[i*d+j] * w[c*d+j]
			}
			out[i*k+c] = s
		}
	}
	if training {
		l.x, l.n = append([]float32(nil), xs...), n
	}
	return map[string]*runtime.Tensor{"logits": runtime.New([]int{n, k}, out)}, nil
}

func (l *linearNet) Backward(_ context.Context, dOut map[string]*runtime.Tensor) error {
	k, d := l.dims()
	dy := dOut["logits"].Float32s()
	gw, gb := l.params[0].Grad.Float32s(), l.params[1].Grad.Float32s()
	for i := range l.n {
		for c := range k {
			gb[c] += dy[i*k+c]
			for j := range d {
				gw[c*d+j] += dy[i*k+c] * l.x[i*d+j]
			}
		}
	}
	return nil
}

func (l *linearNet) ZeroGrad() {
	for _, p := range l.params {
		clear(p.Grad.Float32s())
	}
}

func (l *linearNet) Model() (*onnx.ModelProto, error) {
	g := &onnx.GraphProto{
		Name:   proto("linear"),
		Input:  []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 1, 2, 4)},
		Output: []*onnx.ValueInfoProto{onnx.ValueInfo("logits", onnx.TensorProto_FLOAT, "N", 3)},
		Node: []*onnx.NodeProto{
			{OpType: proto("Flatten"), Input: []string{"x"}, Output: []string{"flat"}},
			{OpType: proto("Gemm"), Input: []string{"flat", "W", "b"}, Output: []string{"logits"}, Attribute: []*onnx.AttributeProto{onnx.AttrInt("transB", 1)}},
		},
	}
	for _, p := range l.params {
		tp, err := p.Value.ToProto(p.Name)
		if err != nil {
			return nil, err
		}
		g.Initializer = append(g.Initializer, tp)
	}
	return &onnx.ModelProto{IrVersion: int64p(8), Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{{Version: int64p(13)}}}, nil
}

func proto(s string) *string { return &s }
func int64p(v int64) *int64  { return &v }

// blobs is a labelled dataset of three Gaussian clusters of [1, 2, 4]
// samples.
func blobs(n int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 2))
	const d = 8
	centres := [3][d]float64{{1, 0, 0, 1, 0, 0, 1, 0}, {0, 1, 0, 0, 1, 0, 0, 1}, {0, 0, 1, -1, 0, 1, 0, -1}}
	ds := &Dataset{X: make([]float32, n*d), Shape: []int{n, 1, 2, 4}, Labels: make([]int, n)}
	for i := range n {
		c := rng.IntN(3)
		ds.Labels[i] = c
		for j := range d {
			ds.X[i*d+j] = float32(centres[c][j] + 0.6*rng.NormFloat64())
		}
	}
	return ds
}

// testRun trains a linearNet on blobs and returns it with the history.
func testRun(t *testing.T, cfg Config, net *linearNet, data *Dataset, ck *Checkpoint) (*linearNet, *History, error) {
	t.Helper()
	opt, err := NewSGD(net.Params(), SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
	if err != nil {
		t.Fatal(err)
	}
	steps := StepsPerEpoch(data.Len(), cfg.Batch)
	sched := NewOneCycle(0.2, cfg.Epochs*steps, 0.3)
	sched.CycleMomentum = true
	loop, err := NewLoop(net, opt, sched, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ck != nil {
		if err := loop.Restore(ck); err != nil {
			t.Fatal(err)
		}
	}
	h, err := loop.Run(context.Background())
	return net, h, err
}

func sameParams(t *testing.T, a, b *linearNet) {
	t.Helper()
	for i, p := range a.Params() {
		x, y := p.Value.Float32s(), b.Params()[i].Value.Float32s()
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				t.Fatalf("parameter %s[%d]: %v vs %v", p.Name, j, x[j], y[j])
			}
		}
	}
}

func TestLoopLearns(t *testing.T) {
	data, val := blobs(600, 1), blobs(300, 2)
	var progress bytes.Buffer
	cfg := Config{Epochs: 4, Batch: 32, Seed: 7, Flip: false, Val: val, Progress: &progress, ProgressEvery: 5}
	_, h, err := testRun(t, cfg, newLinearNet(8, 3, 1), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, last := h.Epochs[0], h.Epochs[len(h.Epochs)-1]
	if !(last.Train.Loss < first.Train.Loss) {
		t.Errorf("training loss did not fall: %v → %v", first.Train.Loss, last.Train.Loss)
	}
	// The clusters are 1.7σ apart: a linear classifier gets most of them.
	if last.Val.Accuracy < 0.85 {
		t.Errorf("validation accuracy %.3f, want ≥ 0.85", last.Val.Accuracy)
	}
	if len(h.Steps) != 4*StepsPerEpoch(600, 32) {
		t.Errorf("%d step records, want %d", len(h.Steps), 4*StepsPerEpoch(600, 32))
	}
	out := progress.String()
	for _, want := range []string{"epoch 1/4 [", "img/s", "ETA", "epoch 4/4: train loss", "val loss"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("progress output to a non-terminal contains carriage returns")
	}
}

func TestLoopDeterministic(t *testing.T) {
	data := blobs(200, 3)
	cfg := Config{Epochs: 2, Batch: 16, Seed: 11, Flip: true}
	a, ha, err := testRun(t, cfg, newLinearNet(8, 3, 5), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, hb, err := testRun(t, cfg, newLinearNet(8, 3, 5), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, a, b)
	for i := range ha.Steps {
		if ha.Steps[i].Loss != hb.Steps[i].Loss {
			t.Fatalf("step %d: loss %v vs %v", i, ha.Steps[i].Loss, hb.Steps[i].Loss)
		}
	}
	cfg.Seed = 12
	c, _, err := testRun(t, cfg, newLinearNet(8, 3, 5), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Params()[0].Value.Float32s()[0] == c.Params()[0].Value.Float32s()[0] {
		t.Errorf("another seed gave the same parameters")
	}
}

var errStop = errors.New("stop")

// TestResumeBitIdentical checks that 2 epochs equal 1 epoch, a checkpoint,
// a resume from it in a fresh network and optimiser, and 1 more epoch.
func TestResumeBitIdentical(t *testing.T) {
	data, val := blobs(150, 4), blobs(50, 5)
	dir := t.TempDir()
	cfg := Config{Epochs: 2, Batch: 16, Seed: 3, Flip: true, Val: val}
	full, hFull, err := testRun(t, cfg, newLinearNet(8, 3, 9), data, nil)
	if err != nil {
		t.Fatal(err)
	}

	cfg.Checkpoint = dir
	cfg.OnEpoch = func(s EpochStats) error {
		if s.Epoch == 1 {
			return errStop
		}
		return nil
	}
	if _, _, err := testRun(t, cfg, newLinearNet(8, 3, 9), data, nil); !errors.Is(err, errStop) {
		t.Fatalf("first half: %v", err)
	}
	ck, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Epoch != 1 || filepath.Base(ck.Dir) != "epoch-0001" {
		t.Fatalf("checkpoint after epoch %d in %s", ck.Epoch, ck.Dir)
	}
	cfg.OnEpoch = nil
	resumed, hRes, err := testRun(t, cfg, linearNetFrom(t, ck.Model), data, ck)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, full, resumed)
	if len(hRes.Steps) != len(hFull.Steps) || len(hRes.Epochs) != 2 {
		t.Fatalf("resumed history has %d steps and %d epochs, want %d and 2", len(hRes.Steps), len(hRes.Epochs), len(hFull.Steps))
	}
	for i := range hFull.Steps {
		if hFull.Steps[i] != hRes.Steps[i] {
			t.Fatalf("step %d: %+v vs %+v", i, hFull.Steps[i], hRes.Steps[i])
		}
	}
	if *hFull.Epochs[1].Val != *hRes.Epochs[1].Val {
		t.Errorf("validation after epoch 2: %+v vs %+v", *hFull.Epochs[1].Val, *hRes.Epochs[1].Val)
	}
	// Only the newest checkpoint is kept.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "epoch-0002" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("checkpoint directory holds %q, want [epoch-0002]", names)
	}
}

func TestResumeRejectsOtherSettings(t *testing.T) {
	data := blobs(100, 6)
	dir := t.TempDir()
	cfg := Config{Epochs: 1, Batch: 10, Seed: 1, Checkpoint: dir}
	if _, _, err := testRun(t, cfg, newLinearNet(8, 3, 1), data, nil); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Batch = 20
	net := linearNetFrom(t, ck.Model)
	opt, _ := NewSGD(net.Params(), SGDConfig{})
	loop, err := NewLoop(net, opt, Constant{0.1}, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := loop.Restore(ck); err == nil || !strings.Contains(err.Error(), "batch 10") {
		t.Errorf("restoring with another batch size: %v", err)
	}
	adam, _ := NewAdamW(net.Params(), DefaultAdamW())
	cfg.Batch = 10
	loop, _ = NewLoop(net, adam, Constant{0.1}, data, cfg)
	if err := loop.Restore(ck); err == nil || !strings.Contains(err.Error(), "sgd") {
		t.Errorf("restoring SGD state into AdamW: %v", err)
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "nothing")); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("loading from a missing directory: %v", err)
	}
}

func TestCheckpointDetectsDamage(t *testing.T) {
	data := blobs(60, 7)
	dir := t.TempDir()
	if _, _, err := testRun(t, Config{Epochs: 1, Batch: 10, Checkpoint: dir}, newLinearNet(8, 3, 1), data, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "epoch-0001", optimizerFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[5] ^= 1
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Errorf("damaged optimiser file: %v", err)
	}
}

func TestDivergenceIsReported(t *testing.T) {
	data := blobs(60, 8)
	for i := range data.X {
		data.X[i] *= 1e20
	}
	net := newLinearNet(8, 3, 1)
	opt, _ := NewSGD(net.Params(), SGDConfig{})
	loop, err := NewLoop(net, opt, Constant{1e10}, data, Config{Epochs: 1, Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loop.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Errorf("got %v, want a divergence error", err)
	}
}

func TestFlipAndStepsPerEpoch(t *testing.T) {
	src := []float32{1, 2, 3, 4, 5, 6}
	dst := make([]float32, 6)
	flipRows(dst, src, 3)
	if want := []float32{3, 2, 1, 6, 5, 4}; !slices.Equal(dst, want) {
		t.Errorf("flipRows = %v, want %v", dst, want)
	}
	for _, c := range []struct{ n, b, want int }{{60000, 256, 235}, {256, 256, 1}, {257, 256, 1}, {258, 256, 2}, {1, 256, 1}, {0, 256, 0}} {
		if got := StepsPerEpoch(c.n, c.b); got != c.want {
			t.Errorf("StepsPerEpoch(%d, %d) = %d, want %d", c.n, c.b, got, c.want)
		}
	}
}

func TestSamplerFlipsAboutHalf(t *testing.T) {
	d := &Dataset{X: make([]float32, 2000*2), Shape: []int{2000, 1, 1, 2}}
	for i := range 2000 {
		d.X[2*i], d.X[2*i+1] = 0, 1
	}
	s := newSampler(1)
	x, _ := s.batch(d, s.permutation(2000), true)
	flipped := 0
	for i := range 2000 {
		if x.Float32s()[2*i] == 1 {
			flipped++
		}
	}
	// Binomial(2000, ½): 6σ ≈ 134.
	if flipped < 866 || flipped > 1134 {
		t.Errorf("%d of 2000 samples flipped", flipped)
	}
}
