package runtime

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/onnx"
)

// fusionGraph is a small graph exercising one fusion pattern: x → Conv
// (3×3, pads 1, bias) → tail nodes → y. skip, if set, is a second graph
// input of that shape.
type fusionGraph struct {
	name      string
	tail      []*onnx.NodeProto // reads "c", writes "y"
	skipShape []int             // nil: no skip input
	extraOut  string            // a second graph output (to block fusion), or ""
	wantAct   gemm.Activation
	wantAdd   bool
	wantBN    bool // a BatchNormalization folds in (outputs then agree within rounding)
	wantGate  bool // a Sigmoid or HardSigmoid and its Mul fold in as the epilogue's Tail
	// selfGate: a gate and its Mul stay one step of their own (fuseSelfGate, not into the Conv).
	selfGate bool
}

func fusionNode(op string, out string, in ...string) *onnx.NodeProto {
	return &onnx.NodeProto{Name: proto.String(op + "_" + out), OpType: proto.String(op), Input: in, Output: []string{out}}
}

func (fg fusionGraph) model(t *testing.T, rng *rand.Rand) (*onnx.ModelProto, map[string]*Tensor) {
	t.Helper()
	const c, m, h, w = 5, 6, 7, 9
	x := New([]int{2, c, h, w}, randFloat32s(rng, 2*c*h*w))
	weights := New([]int{m, c, 3, 3}, randFloat32s(rng, m*c*9))
	bias := New([]int{m}, randFloat32s(rng, m))
	g := &onnx.GraphProto{Name: proto.String(fg.name)}
	for _, init := range []struct {
		name string
		t    *Tensor
	}{{"w", weights}, {"b", bias}, {"lo", New([]int{}, []float32{-0.3})}, {"hi", New([]int{}, []float32{0.4})},
		{"scale", New([]int{m}, randFloat32s(rng, m))}, {"shift", New([]int{m}, randFloat32s(rng, m))},
		{"mean", New([]int{m}, randFloat32s(rng, m))}, {"var", New([]int{m}, positive(randFloat32s(rng, m)))}} {
		tp, err := init.t.ToProto(init.name)
		if err != nil {
			t.Fatal(err)
		}
		g.Initializer = append(g.Initializer, tp)
	}
	conv := fusionNode("Conv", "c", "x", "w", "b")
	conv.Attribute = []*onnx.AttributeProto{{Name: proto.String("pads"), Type: onnx.AttributeProto_INTS.Enum(), Ints: []int64{1, 1, 1, 1}}}
	g.Node = append([]*onnx.NodeProto{conv}, fg.tail...)
	g.Input = append(g.Input, &onnx.ValueInfoProto{Name: proto.String("x"), Type: tensorTypeOf(Float32)})
	feeds := map[string]*Tensor{"x": x}
	if fg.skipShape != nil {
		n := 1
		for _, d := range fg.skipShape {
			n *= d
		}
		feeds["s"] = New(fg.skipShape, randFloat32s(rng, n))
		g.Input = append(g.Input, &onnx.ValueInfoProto{Name: proto.String("s"), Type: tensorTypeOf(Float32)})
	}
	g.Output = append(g.Output, &onnx.ValueInfoProto{Name: proto.String("y")})
	if fg.extraOut != "" {
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: proto.String(fg.extraOut)})
	}
	return &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}, feeds
}

func positive(v []float32) []float32 {
	for i := range v {
		v[i] = v[i]*v[i] + 0.1
	}
	return v
}

func tensorTypeOf(dt DType) *onnx.TypeProto {
	return &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(dt))}}}
}

func randFloat32s(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// TestConvFusionPatterns plans each pattern with and without fusion: the
// fused plan must have absorbed what the pattern allows (one step fewer per
// absorbed node) and give the unfused plan's outputs bit for bit, including
// the broadcasting Add that falls back to the Add kernel at run time.
func TestConvFusionPatterns(t *testing.T) {
	full := []int{2, 6, 7, 9}
	cases := []fusionGraph{
		{name: "relu", tail: []*onnx.NodeProto{fusionNode("Relu", "y", "c")}, wantAct: gemm.ActRelu},
		{name: "clip", tail: []*onnx.NodeProto{fusionNode("Clip", "y", "c", "lo", "hi")}, wantAct: gemm.ActClip},
		{name: "add", tail: []*onnx.NodeProto{fusionNode("Add", "y", "c", "s")}, skipShape: full, wantAdd: true},
		{name: "skip+conv relu", tail: []*onnx.NodeProto{fusionNode("Add", "a", "s", "c"), fusionNode("Relu", "y", "a")},
			skipShape: full, wantAdd: true, wantAct: gemm.ActRelu},
		{name: "add clip", tail: []*onnx.NodeProto{fusionNode("Add", "a", "c", "s"), fusionNode("Clip", "y", "a", "lo", "hi")},
			skipShape: full, wantAdd: true, wantAct: gemm.ActClip},
		{name: "broadcast add relu", tail: []*onnx.NodeProto{fusionNode("Add", "a", "c", "s"), fusionNode("Relu", "y", "a")},
			skipShape: []int{1, 6, 1, 9}, wantAdd: true, wantAct: gemm.ActRelu},
		{name: "conv output also a graph output", tail: []*onnx.NodeProto{fusionNode("Relu", "y", "c")}, extraOut: "c"},
		{name: "conv read twice", tail: []*onnx.NodeProto{fusionNode("Add", "y", "c", "c")}},
		{name: "sigmoid not in the epilogue", tail: []*onnx.NodeProto{fusionNode("Sigmoid", "y", "c")}},
		{name: "batchnorm relu", tail: []*onnx.NodeProto{fusionNode("BatchNormalization", "n", "c", "scale", "shift", "mean", "var"),
			fusionNode("Relu", "y", "n")}, wantBN: true, wantAct: gemm.ActRelu},
		{name: "batchnorm with statistics fed at run time", tail: []*onnx.NodeProto{fusionNode("BatchNormalization", "y", "c", "scale", "shift", "s", "var")},
			skipShape: []int{6}},
		{name: "silu", tail: []*onnx.NodeProto{fusionNode("Sigmoid", "g", "c"), fusionNode("Mul", "y", "c", "g")}, wantGate: true},
		{name: "silu gate first", tail: []*onnx.NodeProto{fusionNode("Sigmoid", "g", "c"), fusionNode("Mul", "y", "g", "c")}, wantGate: true},
		{name: "hardsigmoid gate", tail: []*onnx.NodeProto{fusionNode("HardSigmoid", "g", "c"), fusionNode("Mul", "y", "c", "g")}, wantGate: true},
		{name: "relu then silu", tail: []*onnx.NodeProto{fusionNode("Relu", "r", "c"), fusionNode("Sigmoid", "g", "r"), fusionNode("Mul", "y", "r", "g")},
			wantAct: gemm.ActRelu, wantGate: true},
		{name: "add then silu", tail: []*onnx.NodeProto{fusionNode("Add", "a", "c", "s"), fusionNode("Sigmoid", "g", "a"), fusionNode("Mul", "y", "a", "g")},
			skipShape: full, wantAdd: true, wantGate: true},
		{name: "broadcast add then silu", tail: []*onnx.NodeProto{fusionNode("Add", "a", "c", "s"), fusionNode("Sigmoid", "g", "a"), fusionNode("Mul", "y", "a", "g")},
			skipShape: []int{1, 6, 1, 9}, wantAdd: true, wantGate: true},
		{name: "silu of a conv output read elsewhere", tail: []*onnx.NodeProto{fusionNode("Sigmoid", "g", "c"), fusionNode("Mul", "y", "c", "g")},
			extraOut: "c", selfGate: true},
		{name: "silu with the gate read elsewhere", tail: []*onnx.NodeProto{fusionNode("Sigmoid", "g", "c"), fusionNode("Mul", "y", "c", "g")},
			extraOut: "g"},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, fg := range cases {
		t.Run(fg.name, func(t *testing.T) {
			m, feeds := fg.model(t, rng)
			fused, plain := fusedAndPlain(t, func(o ...Option) (*Session, error) { return NewSessionFromModel(m, o...) })
			absorbed := 0
			if fg.wantAdd {
				absorbed++
			}
			if fg.wantAct != gemm.ActNone {
				absorbed++
			}
			if fg.wantBN {
				absorbed++
			}
			if fg.wantGate || fg.selfGate {
				absorbed++ // the Mul, into the gate's step or with it into the Conv
			}
			if fg.wantGate {
				absorbed++
			}
			if got, want := len(fused.plan.steps), len(plain.plan.steps)-absorbed; got != want {
				t.Fatalf("fused plan has %d steps, want %d (unfused %d)", got, want, len(plain.plan.steps))
			}
			ck := fused.plan.steps[0].kernel.(*convKernel)
			if ck.fuse.act != fg.wantAct || (ck.add != nil) != fg.wantAdd || (ck.fuse.gate != nil) != fg.wantGate {
				t.Fatalf("fused Conv: activation %v, add %v, gate %v; want %v, %v, %v", ck.fuse.act, ck.add != nil, ck.fuse.gate != nil,
					fg.wantAct, fg.wantAdd, fg.wantGate)
			}
			if fg.wantBN {
				assertCloseOutputs(t, fused, plain, feeds, 1e-5)
				return
			}
			assertSameOutputs(t, fused, plain, feeds)
		})
	}
}

// assertCloseOutputs runs both sessions on feeds and requires
// max|a − b| ≤ tol·max|b| on every output.
func assertCloseOutputs(t *testing.T, a, b *Session, feeds map[string]*Tensor, tol float64) {
	t.Helper()
	ra, rb := runBoth(t, a, b, feeds)
	for name, y := range rb {
		var diff, scale float64
		got := ra[name].Float32s()
		for i, v := range y.Float32s() {
			diff = math.Max(diff, math.Abs(float64(got[i])-float64(v)))
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		if diff > tol*scale || math.IsNaN(diff) {
			t.Fatalf("output %s: max|fused − unfused| = %.3g > %g·%.3g", name, diff, tol, scale)
		}
	}
}

// fusedAndPlain plans a model twice, 2 threads each: with fusion (the default) and without.
func fusedAndPlain(t *testing.T, open func(...Option) (*Session, error)) (fused, plain *Session) {
	t.Helper()
	var err error
	if fused, err = open(WithThreads(2)); err != nil {
		t.Fatal(err)
	}
	if plain, err = open(WithThreads(2), WithoutFusion()); err != nil {
		t.Fatal(err)
	}
	return fused, plain
}

// runBoth runs both sessions on feeds and returns their outputs.
func runBoth(t *testing.T, a, b *Session, feeds map[string]*Tensor) (ra, rb map[string]*Tensor) {
	t.Helper()
	var err error
	if ra, err = a.Run(context.Background(), feeds); err != nil {
		t.Fatal(err)
	}
	if rb, err = b.Run(context.Background(), feeds); err != nil {
		t.Fatal(err)
	}
	return ra, rb
}

// assertSameOutputs runs both sessions on feeds and requires every output
// to agree bit for bit.
func assertSameOutputs(t *testing.T, a, b *Session, feeds map[string]*Tensor) {
	t.Helper()
	ra, rb := runBoth(t, a, b, feeds)
	for name, y := range rb {
		got := ra[name].Float32s()
		for i, v := range y.Float32s() {
			if math.Float32bits(got[i]) != math.Float32bits(v) {
				t.Fatalf("output %s[%d]: fused %v, unfused %v", name, i, got[i], v)
			}
		}
	}
}

// TestConvFusionOnRealModels checks that fusion finds the ResNet and
// SqueezeNet patterns of the shared models and changes no output bit.
func TestConvFusionOnRealModels(t *testing.T) {
	dir := os.Getenv("DCNET_SHARED_MODELS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "models")
	}
	for _, name := range []string{"resnet18_dynamo", "squeezenet1_1_legacy", "mobilenet_v2_dynamo"} {
		path := filepath.Join(dir, name+".onnx")
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s: %v", path, err)
		}
		t.Run(name, func(t *testing.T) {
			fused, plain := fusedAndPlain(t, func(o ...Option) (*Session, error) { return NewSession(path, o...) })
			acts, adds := 0, 0
			for _, s := range fused.plan.steps {
				if ck, ok := s.kernel.(*convKernel); ok {
					if ck.fuse.act != gemm.ActNone {
						acts++
					}
					if ck.add != nil {
						adds++
					}
				}
			}
			t.Logf("%s: %d steps unfused, %d fused (%d activations, %d skip additions absorbed)",
				name, len(plain.plan.steps), len(fused.plan.steps), acts, adds)
			if acts == 0 || len(fused.plan.steps) != len(plain.plan.steps)-acts-adds {
				t.Fatalf("fusion absorbed %d activations and %d adds; steps %d → %d", acts, adds, len(plain.plan.steps), len(fused.plan.steps))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			in := fused.Inputs()[0]
			x := New([]int{1, 3, 224, 224}, randFloat32s(rng, 3*224*224))
			assertSameOutputs(t, fused, plain, map[string]*Tensor{in.Name: x})
		})
	}
}

// TestBatchNormFoldingOnCNN9 folds the BatchNormalization nodes of the
// committed Fashion-MNIST CNN9 and compares with the unfolded plan.
func TestBatchNormFoldingOnCNN9(t *testing.T) {
	path := filepath.Join("..", "models", "fmnist", "zoo", "cnn9_go.onnx")
	fused, plain := fusedAndPlain(t, func(o ...Option) (*Session, error) { return NewSession(path, o...) })
	bns := 0
	for _, s := range plain.plan.steps {
		if s.node.OpType == "BatchNormalization" {
			bns++
		}
	}
	for _, s := range fused.plan.steps {
		if s.node.OpType == "BatchNormalization" || s.node.OpType == "Relu" {
			t.Errorf("step %s (%s) was not fused", s.node.Name, s.node.OpType)
		}
	}
	t.Logf("CNN9: %d steps unfused (%d BatchNormalization), %d fused", len(plain.plan.steps), bns, len(fused.plan.steps))
	rng := rand.New(rand.NewPCG(3, 4))
	x := New([]int{8, 1, 28, 28}, randFloat32s(rng, 8*28*28))
	assertCloseOutputs(t, fused, plain, map[string]*Tensor{fused.Inputs()[0].Name: x}, 1e-5)
}

// TestBatchNormActivationFusion plans an inference BatchNormalization on a graph input
// followed by Relu or Clip, with and without fusion: the fused plan has one step fewer, and
// both agree bit for bit (any NaN for NaN) on values that include ±0, ±Inf and NaN, on planes
// whose size is not a multiple of the vector width.
func TestBatchNormActivationFusion(t *testing.T) {
	rng := rand.New(rand.NewPCG(101, 102))
	const c, h, w = 3, 5, 7
	negZero := float32(math.Copysign(0, -1))
	for _, tail := range [][]*onnx.NodeProto{
		{fusionNode("Relu", "y", "n")},
		{fusionNode("Clip", "y", "n", "lo", "hi")},
		{fusionNode("Clip", "y", "n", "zero", "hi")},
	} {
		g := &onnx.GraphProto{Name: proto.String("bn_act")}
		params := map[string]*Tensor{
			"scale": New([]int{c}, []float32{1, -2, 0.5}), "shift": New([]int{c}, []float32{negZero, 0.25, -1}),
			"mean": New([]int{c}, []float32{0, 1, -1}), "var": New([]int{c}, []float32{1, 4, 0.25}),
			"lo": New([]int{}, []float32{-0.3}), "hi": New([]int{}, []float32{0.4}), "zero": New([]int{}, []float32{0}),
		}
		for name, v := range params {
			tp, err := v.ToProto(name)
			if err != nil {
				t.Fatal(err)
			}
			g.Initializer = append(g.Initializer, tp)
		}
		g.Node = append([]*onnx.NodeProto{fusionNode("BatchNormalization", "n", "x", "scale", "shift", "mean", "var")}, tail...)
		g.Input = []*onnx.ValueInfoProto{{Name: proto.String("x"), Type: tensorTypeOf(Float32)}}
		g.Output = []*onnx.ValueInfoProto{{Name: proto.String("y")}}
		m := &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g,
			OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
		x := randFloat32s(rng, 2*c*h*w)
		special := []float32{0, negZero, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
		for i := range x {
			if rng.IntN(4) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
		}
		feeds := map[string]*Tensor{"x": New([]int{2, c, h, w}, x)}
		fused, plain := fusedAndPlain(t, func(o ...Option) (*Session, error) { return NewSessionFromModel(m, o...) })
		ra, rb := runBoth(t, fused, plain, feeds)
		got, want := ra["y"].Float32s(), rb["y"].Float32s()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s: y[%d] (x = %v): fused %v, unfused %v", tail[0].GetOpType(), i, x[i], got[i], want[i])
			}
		}
		_, steps, err := fused.RunProfiled(context.Background(), feeds)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != 1 || steps[0].OpType != "BatchNormalization" || len(steps[0].Fused) != 1 {
			t.Errorf("%s: fused plan runs %+v, want one BatchNormalization step with the activation fused", tail[0].GetOpType(), steps)
		}
	}
}

// TestSelfGateFusion plans Mul(x, Sigmoid(x)) and Mul(x, HardSigmoid(x)) in both operand
// orders, in float32 and float64, with and without fusion: the fused plan runs one step and
// agrees bit for bit (any NaN for NaN); a gate whose output is read elsewhere too, a Mul by
// another tensor, or another activation is not fused.
func TestSelfGateFusion(t *testing.T) {
	rng := rand.New(rand.NewPCG(103, 104))
	hardSigmoid := fusionNode("HardSigmoid", "s", "x")
	hardSigmoid.Attribute = []*onnx.AttributeProto{{Name: proto.String("alpha"), Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(1.0 / 6)}}
	cases := []struct {
		nodes []*onnx.NodeProto
		outs  []string
		steps int
	}{
		{[]*onnx.NodeProto{fusionNode("Sigmoid", "s", "x"), fusionNode("Mul", "y", "x", "s")}, []string{"y"}, 1},
		{[]*onnx.NodeProto{fusionNode("Sigmoid", "s", "x"), fusionNode("Mul", "y", "s", "x")}, []string{"y"}, 1},
		{[]*onnx.NodeProto{fusionNode("Sigmoid", "s", "x"), fusionNode("Mul", "y", "x", "s")}, []string{"y", "s"}, 2},
		{[]*onnx.NodeProto{fusionNode("Sigmoid", "s", "x"), fusionNode("Mul", "y", "z", "s")}, []string{"y"}, 2},
		{[]*onnx.NodeProto{hardSigmoid, fusionNode("Mul", "y", "x", "s")}, []string{"y"}, 1},
		{[]*onnx.NodeProto{hardSigmoid, fusionNode("Mul", "y", "s", "x")}, []string{"y"}, 1},
		{[]*onnx.NodeProto{hardSigmoid, fusionNode("Mul", "y", "x", "s")}, []string{"y", "s"}, 2},
		{[]*onnx.NodeProto{fusionNode("Tanh", "s", "x"), fusionNode("Mul", "y", "x", "s")}, []string{"y"}, 2},
	}
	for i, c := range cases {
		for _, dt := range []DType{Float32, Float64} {
			g := &onnx.GraphProto{Name: proto.String("silu"), Node: c.nodes,
				Input: []*onnx.ValueInfoProto{{Name: proto.String("x"), Type: tensorTypeOf(dt)}, {Name: proto.String("z"), Type: tensorTypeOf(dt)}}}
			for _, o := range c.outs {
				g.Output = append(g.Output, &onnx.ValueInfoProto{Name: proto.String(o)})
			}
			m := &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g,
				OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
			x32, z32 := randFloat32s(rng, 1003), randFloat32s(rng, 1003)
			for j := range x32 {
				x32[j] *= 20
				if rng.IntN(50) == 0 {
					x32[j] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0}[rng.IntN(4)]
				}
			}
			feeds := map[string]*Tensor{"x": New([]int{1003}, x32), "z": New([]int{1003}, z32)}
			if dt == Float64 {
				x64, z64 := make([]float64, len(x32)), make([]float64, len(z32))
				for j := range x32 {
					x64[j], z64[j] = float64(x32[j]), float64(z32[j])
				}
				feeds = map[string]*Tensor{"x": New([]int{1003}, x64), "z": New([]int{1003}, z64)}
			}
			fused, plain := fusedAndPlain(t, func(o ...Option) (*Session, error) { return NewSessionFromModel(m, o...) })
			ra, rb := runBoth(t, fused, plain, feeds)
			for name, want := range rb {
				got, wv := ra[name].Float64Values(), want.Float64Values()
				for j := range wv {
					a, b := got[j], wv[j]
					if a != b && !(a != a && b != b) {
						t.Fatalf("case %d %v: %s[%d]: fused %v, unfused %v", i, dt, name, j, a, b)
					}
				}
			}
			_, steps, err := fused.RunProfiled(context.Background(), feeds)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != c.steps {
				t.Errorf("case %d %v: fused plan runs %d steps, want %d", i, dt, len(steps), c.steps)
			}
		}
	}
}

// TestPadAveragePoolFusion checks that a Pad of zeros on the spatial axes, read only by an
// AveragePool without padding of its own, runs as that pool with counted padding (one step,
// the same bits as the two separate steps), and that every other Pad is left alone.
func TestPadAveragePoolFusion(t *testing.T) {
	rng := rand.New(rand.NewPCG(105, 106))
	ints := func(name string, v ...int64) *onnx.AttributeProto {
		return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INTS.Enum(), Ints: v}
	}
	pool := func(attrs ...*onnx.AttributeProto) *onnx.NodeProto {
		n := fusionNode("AveragePool", "y", "p")
		n.Attribute = append([]*onnx.AttributeProto{ints("kernel_shape", 3, 3)}, attrs...)
		return n
	}
	pad := func(mode string, inputs ...string) *onnx.NodeProto {
		n := fusionNode("Pad", "p", append([]string{"x"}, inputs...)...)
		n.Attribute = []*onnx.AttributeProto{{Name: proto.String("mode"), Type: onnx.AttributeProto_STRING.Enum(), S: []byte(mode)}}
		return n
	}
	spatial := []int64{0, 0, 1, 2, 0, 0, 2, 1}
	cases := []struct {
		name  string
		pads  []int64
		value float32
		nodes []*onnx.NodeProto
		outs  []string
		steps int
	}{
		{"symmetric", []int64{0, 0, 1, 1, 0, 0, 1, 1}, 0, []*onnx.NodeProto{pad("constant", "pads"), pool()}, []string{"y"}, 1},
		{"asymmetric strided", spatial, 0, []*onnx.NodeProto{pad("constant", "pads", "value"), pool(ints("strides", 2, 2))}, []string{"y"}, 1},
		{"count_include_pad", spatial, 0, []*onnx.NodeProto{pad("constant", "pads"), pool(&onnx.AttributeProto{Name: proto.String("count_include_pad"), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(1)})}, []string{"y"}, 1},
		{"nonzero value", spatial, 0.5, []*onnx.NodeProto{pad("constant", "pads", "value"), pool()}, []string{"y"}, 2},
		{"channel pad", []int64{0, 1, 1, 1, 0, 0, 1, 1}, 0, []*onnx.NodeProto{pad("constant", "pads"), pool()}, []string{"y"}, 2},
		{"reflect", spatial, 0, []*onnx.NodeProto{pad("reflect", "pads"), pool()}, []string{"y"}, 2},
		{"pool pads", spatial, 0, []*onnx.NodeProto{pad("constant", "pads"), pool(ints("pads", 1, 0, 0, 1))}, []string{"y"}, 2},
		{"ceil mode", spatial, 0, []*onnx.NodeProto{pad("constant", "pads"), pool(ints("strides", 2, 2), &onnx.AttributeProto{Name: proto.String("ceil_mode"), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(1)})}, []string{"y"}, 2},
		{"pad wider than window", []int64{0, 0, 3, 0, 0, 0, 0, 0}, 0, []*onnx.NodeProto{pad("constant", "pads"), pool()}, []string{"y"}, 2},
		{"pad read twice", spatial, 0, []*onnx.NodeProto{pad("constant", "pads"), pool()}, []string{"y", "p"}, 2},
	}
	for _, c := range cases {
		pads, err := New([]int{len(c.pads)}, c.pads).ToProto("pads")
		if err != nil {
			t.Fatal(err)
		}
		value, err := New([]int{}, []float32{c.value}).ToProto("value")
		if err != nil {
			t.Fatal(err)
		}
		g := &onnx.GraphProto{Name: proto.String("padpool"), Node: c.nodes, Initializer: []*onnx.TensorProto{pads, value},
			Input: []*onnx.ValueInfoProto{{Name: proto.String("x"), Type: tensorTypeOf(Float32)}}}
		for _, o := range c.outs {
			g.Output = append(g.Output, &onnx.ValueInfoProto{Name: proto.String(o)})
		}
		m := &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g,
			OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
		feeds := map[string]*Tensor{"x": New([]int{2, 3, 11, 13}, randFloat32s(rng, 2*3*11*13))}
		fused, plain := fusedAndPlain(t, func(o ...Option) (*Session, error) { return NewSessionFromModel(m, o...) })
		ra, rb := runBoth(t, fused, plain, feeds)
		if !SameShape(ra["y"].Shape(), rb["y"].Shape()) {
			t.Fatalf("%s: fused shape %v, unfused %v", c.name, ra["y"].Shape(), rb["y"].Shape())
		}
		got, want := ra["y"].Float32s(), rb["y"].Float32s()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: y[%d] fused %v, unfused %v", c.name, i, got[i], want[i])
			}
		}
		_, steps, err := fused.RunProfiled(context.Background(), feeds)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != c.steps {
			t.Errorf("%s: fused plan runs %d steps, want %d", c.name, len(steps), c.steps)
		}
	}
}
