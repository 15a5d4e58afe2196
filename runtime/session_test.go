package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"google.golang.org/protobuf/proto"
)

// testGraph builds small multi-node models for the session tests.
type testGraph struct {
	g      *onnx.GraphProto
	opsets []*onnx.OperatorSetIdProto
	funcs  []*onnx.FunctionProto
}

func newTestGraph(opset int) *testGraph {
	return &testGraph{g: &onnx.GraphProto{Name: proto.String("test")},
		opsets: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(opset))}}}
}

// input declares a float32 graph input; a negative dim is symbolic ("N").
func (tg *testGraph) input(name string, dims ...int) *testGraph {
	tt := &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(onnx.TensorProto_FLOAT)), Shape: &onnx.TensorShapeProto{}}
	for _, d := range dims {
		dim := &onnx.TensorShapeProto_Dimension{}
		if d < 0 {
			dim.Value = &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		} else {
			dim.Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
		}
		tt.Shape.Dim = append(tt.Shape.Dim, dim)
	}
	tg.g.Input = append(tg.g.Input, &onnx.ValueInfoProto{Name: proto.String(name), Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: tt}}})
	return tg
}

func (tg *testGraph) init(t testing.TB, name string, v *runtime.Tensor) *testGraph {
	tp, err := v.ToProto(name)
	if err != nil {
		t.Fatal(err)
	}
	tg.g.Initializer = append(tg.g.Initializer, tp)
	return tg
}

func (tg *testGraph) node(name, op string, in, out []string, attrs ...*onnx.AttributeProto) *testGraph {
	return tg.domainNode("", name, op, in, out, attrs...)
}

func (tg *testGraph) domainNode(domain, name, op string, in, out []string, attrs ...*onnx.AttributeProto) *testGraph {
	tg.g.Node = append(tg.g.Node, &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Domain: proto.String(domain), Input: in, Output: out, Attribute: attrs})
	return tg
}

func (tg *testGraph) output(names ...string) *testGraph {
	for _, n := range names {
		tg.g.Output = append(tg.g.Output, &onnx.ValueInfoProto{Name: proto.String(n)})
	}
	return tg
}

func (tg *testGraph) model() *onnx.ModelProto {
	return &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: tg.g, OpsetImport: tg.opsets, Functions: tg.funcs}
}

func (tg *testGraph) session(t testing.TB, opts ...runtime.Option) *runtime.Session {
	t.Helper()
	s, err := runtime.NewSessionFromModel(tg.model(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randTensor(rng *rand.Rand, shape ...int) *runtime.Tensor {
	data := make([]float32, runtime.NumElements(shape))
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return runtime.New(shape, data)
}

func run1(t testing.TB, s *runtime.Session, feeds map[string]*runtime.Tensor, out string) *runtime.Tensor {
	t.Helper()
	res, err := s.Run(context.Background(), feeds)
	if err != nil {
		t.Fatal(err)
	}
	return res[out]
}

func TestUnsupportedOpsReportedTogether(t *testing.T) {
	m := newTestGraph(13).input("x", 1).
		node("a", "FrobnicateA", []string{"x"}, []string{"y"}).
		node("b", "Relu", []string{"y"}, []string{"z"}).
		node("c", "FrobnicateB", []string{"z"}, []string{"w"}).
		output("w").model()
	_, err := runtime.NewSessionFromModel(m)
	if err == nil {
		t.Fatal("expected an error")
	}
	for _, want := range []string{`node "a" (FrobnicateA): unsupported operator ai.onnx/FrobnicateA at opset 13`, `node "c" (FrobnicateB): unsupported operator ai.onnx/FrobnicateB at opset 13`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var ue *runtime.UnsupportedError
	if !errors.As(err, &ue) {
		t.Errorf("error is not an UnsupportedError: %v", err)
	}
}

func TestGraphStructureErrors(t *testing.T) {
	cases := []struct {
		name  string
		graph *testGraph
		want  string
	}{
		{"dangling input", newTestGraph(13).input("x", 1).node("r", "Relu", []string{"nowhere"}, []string{"y"}).output("y"),
			`node "r" (Relu): input 0 "nowhere" is not a graph input, initializer or node output`},
		{"cycle", newTestGraph(13).input("x", 1).
			node("a", "Add", []string{"x", "c"}, []string{"b"}).
			node("b", "Relu", []string{"b"}, []string{"c"}).output("c"), "part of a cycle"},
		{"duplicate output", newTestGraph(13).input("x", 1).
			node("a", "Relu", []string{"x"}, []string{"y"}).
			node("b", "Relu", []string{"x"}, []string{"y"}).output("y"), `output "y" is also produced by node "a"`},
		{"missing graph output", newTestGraph(13).input("x", 1).node("a", "Relu", []string{"x"}, []string{"y"}).output("z"),
			`graph output "z": no node, input or initializer produces it`},
		{"no opset for domain", newTestGraph(13).input("x", 1).domainNode("com.example", "a", "Foo", []string{"x"}, []string{"y"}).output("y"),
			`node "a" (Foo): no opset_import for domain "com.example"`},
		{"negative input dim", newTestGraph(13).input("x", 1).output("x"), ""},
	}
	// A negative declared dimension is set by hand: the builder writes -1 as symbolic.
	bad := cases[len(cases)-1].graph
	bad.g.Input[0].GetType().GetTensorType().GetShape().GetDim()[0].Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: -3}
	cases[len(cases)-1].want = `graph input "x": dimension 0: invalid size -3`
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runtime.NewSessionFromModel(c.graph.model())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestMalformedBytes(t *testing.T) {
	good, err := onnx.Save(newTestGraph(13).input("x", 2).node("r", "Relu", []string{"x"}, []string{"y"}).output("y").model())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, len(good) / 2, len(good) - 1} {
		if _, err := runtime.NewSessionFromBytes(good[:n]); err == nil {
			t.Errorf("truncated to %d of %d bytes: no error", n, len(good))
		}
	}
	if _, err := runtime.NewSessionFromBytes(good); err != nil {
		t.Fatalf("intact model: %v", err)
	}
}

func TestInitializerErrorsNameTheTensor(t *testing.T) {
	tg := newTestGraph(13).input("x", 2).node("a", "Add", []string{"x", "w"}, []string{"y"}).output("y")
	tg.g.Initializer = append(tg.g.Initializer, &onnx.TensorProto{Name: proto.String("w"), Dims: []int64{2},
		DataType: proto.Int32(int32(onnx.TensorProto_FLOAT)), RawData: []byte{1, 2, 3}})
	_, err := runtime.NewSessionFromModel(tg.model())
	if err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Fatalf("got %v, want an error naming initializer \"w\"", err)
	}
}

func TestRunInputChecks(t *testing.T) {
	s := newTestGraph(13).input("x", -1, 3).node("r", "Relu", []string{"x"}, []string{"y"}).output("y").session(t)
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		feeds map[string]*runtime.Tensor
		want  string
	}{
		{"missing", map[string]*runtime.Tensor{}, `input "x": missing`},
		{"unknown", map[string]*runtime.Tensor{"x": randTensor(rng, 2, 3), "q": randTensor(rng, 1)}, `input "q": the model has no such input`},
		{"wrong dim", map[string]*runtime.Tensor{"x": randTensor(rng, 2, 4)}, `input "x": dimension 1: expected 3, got 4`},
		{"wrong rank", map[string]*runtime.Tensor{"x": randTensor(rng, 6)}, `input "x": expected shape`},
		{"wrong type", map[string]*runtime.Tensor{"x": runtime.New([]int{1, 3}, []int64{1, 2, 3})}, `expected element type FLOAT, got INT64`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Run(context.Background(), c.feeds)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// A chain long enough that buffers are recycled many times must still
// compute exactly what a direct evaluation does.
func TestBufferReuseChain(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tg := newTestGraph(13).input("x", -1, 4, 5)
	prev := "x"
	const depth = 12
	for i := 0; i < depth; i++ {
		next := fmt.Sprintf("v%d", i)
		if i%2 == 0 {
			tg.node(fmt.Sprintf("add%d", i), "Add", []string{prev, "x"}, []string{next})
		} else {
			tg.node(fmt.Sprintf("neg%d", i), "Neg", []string{prev}, []string{next})
		}
		prev = next
	}
	s := tg.output(prev).session(t)
	for _, n := range []int{1, 3, 2, 3} {
		x := randTensor(rng, n, 4, 5)
		got := run1(t, s, map[string]*runtime.Tensor{"x": x}, prev).Float32s()
		for j, xv := range x.Float32s() {
			want := float64(xv)
			for i := 0; i < depth; i++ {
				if i%2 == 0 {
					want += float64(xv)
				} else {
					want = -want
				}
			}
			if math.Abs(float64(got[j])-want) > 1e-5*math.Abs(want)+1e-6 {
				t.Fatalf("batch %d element %d: got %v want %v", n, j, got[j], want)
			}
		}
	}
}

// Concurrent runs on one session give the same results as sequential ones.
func TestConcurrentRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := newTestGraph(13).input("x", -1, 8).init(t, "w", randTensor(rng, 8)).
		node("m", "Mul", []string{"x", "w"}, []string{"a"}).
		node("r", "Relu", []string{"a"}, []string{"b"}).
		node("s", "Add", []string{"b", "x"}, []string{"y"}).output("y").session(t, runtime.WithThreads(2))
	const workers = 8
	inputs := make([]*runtime.Tensor, workers)
	want := make([][]float32, workers)
	for i := range inputs {
		inputs[i] = randTensor(rng, 1+i%3, 8)
		want[i] = run1(t, s, map[string]*runtime.Tensor{"x": inputs[i]}, "y").Float32s()
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for rep := 0; rep < 50; rep++ {
				res, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": inputs[i]})
				if err != nil {
					errs <- err
					return
				}
				got := res["y"].Float32s()
				for j := range got {
					if got[j] != want[i][j] {
						errs <- fmt.Errorf("worker %d rep %d element %d: %v != %v", i, rep, j, got[j], want[i][j])
						return
					}
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Shape → Gather → Unsqueeze → Concat → Reshape, the TorchScript exporter's
// flatten, with a dynamic batch: the shape-only chain is cached per input
// shape and must follow batch changes.
func TestShapeOnlySubgraphFollowsBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	s := newTestGraph(13).input("x", -1, 2, 3).
		init(t, "zero", runtime.Scalar[int64](0)).
		init(t, "axes0", runtime.New([]int{1}, []int64{0})).
		init(t, "minus1", runtime.New([]int{1}, []int64{-1})).
		node("shape", "Shape", []string{"x"}, []string{"s"}).
		node("gather", "Gather", []string{"s", "zero"}, []string{"n"}, attrInt("axis", 0)).
		node("unsq", "Unsqueeze", []string{"n", "axes0"}, []string{"n1"}).
		node("cat", "Concat", []string{"n1", "minus1"}, []string{"shape2"}, attrInt("axis", 0)).
		node("reshape", "Reshape", []string{"x", "shape2"}, []string{"y"}).output("y").session(t)
	for _, n := range []int{1, 4, 2, 4, 1} {
		x := randTensor(rng, n, 2, 3)
		y := run1(t, s, map[string]*runtime.Tensor{"x": x}, "y")
		if !runtime.SameShape(y.Shape(), []int{n, 6}) {
			t.Fatalf("batch %d: shape %v, want [%d 6]", n, y.Shape(), n)
		}
		for i, v := range x.Float32s() {
			if y.Float32s()[i] != v {
				t.Fatalf("batch %d: element %d differs", n, i)
			}
		}
	}
}

// An output that is a constant or an input is copied: mutating it must not
// change the session.
func TestOutputsAreOwnedByCaller(t *testing.T) {
	c := runtime.New([]int{2}, []float32{1, 2})
	s := newTestGraph(13).input("x", 2).init(t, "c", c).
		node("id", "Identity", []string{"c"}, []string{"y"}).output("y", "x").session(t)
	x := runtime.New([]int{2}, []float32{5, 6})
	for rep := 0; rep < 2; rep++ {
		res, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		if got := res["y"].Float32s(); got[0] != 1 || got[1] != 2 {
			t.Fatalf("rep %d: constant output %v, want [1 2]", rep, got)
		}
		res["y"].Float32s()[0] = 99
		res["x"].Float32s()[0] = 99
		if x.Float32s()[0] != 5 {
			t.Fatal("mutating an output changed the caller's input")
		}
	}
}

func TestKernelPanicBecomesError(t *testing.T) {
	reg := runtime.Builtins()
	reg.Register("com.example", "Boom", 1, func(n *runtime.Node) (runtime.Kernel, error) {
		return runtime.KernelFunc(func(rc *runtime.RunContext, in, out []*runtime.Tensor) error {
			var s []int
			_ = s[3]
			return nil
		}), nil
	})
	tg := newTestGraph(13).input("x", 1).domainNode("com.example", "kaboom", "Boom", []string{"x"}, []string{"y"}).output("y")
	tg.opsets = append(tg.opsets, &onnx.OperatorSetIdProto{Domain: proto.String("com.example"), Version: proto.Int64(1)})
	s := tg.session(t, runtime.WithRegistry(reg))
	_, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": runtime.New([]int{1}, []float32{1})})
	if err == nil || !strings.Contains(err.Error(), `node "kaboom" (com.example/Boom): internal error`) {
		t.Fatalf("got %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	s := newTestGraph(13).input("x", 1).node("r", "Relu", []string{"x"}, []string{"y"}).output("y").session(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Run(ctx, map[string]*runtime.Tensor{"x": runtime.New([]int{1}, []float32{1})})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// A custom-domain op with no kernel runs through its model-local function
// body; a registered kernel takes precedence over the body.
func TestModelLocalFunctionInlined(t *testing.T) {
	body := &onnx.FunctionProto{
		Name: proto.String("AddThenScale"), Domain: proto.String("com.example"),
		Input: []string{"a", "b"}, Output: []string{"out"}, Attribute: []string{"alpha"},
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Node: []*onnx.NodeProto{
			{OpType: proto.String("Add"), Input: []string{"a", "b"}, Output: []string{"sum"}},
			{OpType: proto.String("Constant"), Output: []string{"k"}, Attribute: []*onnx.AttributeProto{
				{Name: proto.String("value_float"), Type: onnx.AttributeProto_FLOAT.Enum(), RefAttrName: proto.String("alpha")}}},
			{OpType: proto.String("Mul"), Input: []string{"sum", "k"}, Output: []string{"out"}},
		},
	}
	build := func() *testGraph {
		tg := newTestGraph(13).input("x", 3).input("y", 3).
			domainNode("com.example", "f", "AddThenScale", []string{"x", "y"}, []string{"z"}, attrFloat("alpha", 2.5)).output("z")
		tg.opsets = append(tg.opsets, &onnx.OperatorSetIdProto{Domain: proto.String("com.example"), Version: proto.Int64(1)})
		tg.funcs = []*onnx.FunctionProto{body}
		return tg
	}
	feeds := map[string]*runtime.Tensor{"x": runtime.New([]int{3}, []float32{1, 2, 3}), "y": runtime.New([]int{3}, []float32{10, 20, 30})}
	got := run1(t, build().session(t), feeds, "z").Float32s()
	for i, want := range []float32{27.5, 55, 82.5} {
		if got[i] != want {
			t.Fatalf("function body: element %d = %v, want %v", i, got[i], want)
		}
	}
	reg := runtime.Builtins()
	reg.Register("com.example", "AddThenScale", 1, func(n *runtime.Node) (runtime.Kernel, error) {
		return runtime.KernelFunc(func(rc *runtime.RunContext, in, out []*runtime.Tensor) error {
			out[0] = rc.New(runtime.Float32, in[0].Shape()...)
			for i := range out[0].Float32s() {
				out[0].Float32s()[i] = -1
			}
			return nil
		}), nil
	})
	got = run1(t, build().session(t, runtime.WithRegistry(reg)), feeds, "z").Float32s()
	if got[0] != -1 {
		t.Fatalf("registered kernel not preferred over the function body: %v", got)
	}
}

// A model-local function that calls itself is rejected, not expanded
// forever.
func TestRecursiveFunctionRejected(t *testing.T) {
	loop := &onnx.FunctionProto{
		Name: proto.String("Loop"), Domain: proto.String("com.example"), Input: []string{"a"}, Output: []string{"b"},
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}, {Domain: proto.String("com.example"), Version: proto.Int64(1)}},
		Node: []*onnx.NodeProto{
			{OpType: proto.String("Loop"), Domain: proto.String("com.example"), Input: []string{"a"}, Output: []string{"m"}},
			{OpType: proto.String("Loop"), Domain: proto.String("com.example"), Input: []string{"m"}, Output: []string{"b"}},
		},
	}
	tg := newTestGraph(13).input("x", 1).domainNode("com.example", "f", "Loop", []string{"x"}, []string{"y"}).output("y")
	tg.opsets = append(tg.opsets, &onnx.OperatorSetIdProto{Domain: proto.String("com.example"), Version: proto.Int64(1)})
	tg.funcs = []*onnx.FunctionProto{loop}
	_, err := runtime.NewSessionFromModel(tg.model())
	if err == nil || !strings.Contains(err.Error(), "nested deeper than") {
		t.Fatalf("got %v, want a nesting error", err)
	}
}

// Every built-in operator given an absent (empty-named) first input, which
// no standard operator allows, fails with an error of its own rather than an
// internal error from a nil tensor.
func TestAbsentRequiredInput(t *testing.T) {
	for _, op := range runtime.Builtins().Ops() {
		m := newTestGraph(18).input("x", 2, 2).node("n", op, []string{"", "x"}, []string{"y"}).output("y").model()
		s, err := runtime.NewSessionFromModel(m)
		if err == nil {
			_, err = s.Run(context.Background(), map[string]*runtime.Tensor{"x": runtime.New([]int{2, 2}, []float32{1, 2, 3, 4})})
		}
		if err == nil {
			t.Errorf("%s: no error for an absent first input", op)
		} else if strings.Contains(err.Error(), "internal error") {
			t.Errorf("%s: %v", op, err)
		}
	}
}

// Two model-local functions with one name and different overloads: each
// call runs the body its overload names.
func TestFunctionOverloads(t *testing.T) {
	body := func(overload, op string) *onnx.FunctionProto {
		return &onnx.FunctionProto{
			Name: proto.String("F"), Domain: proto.String("com.example"), Overload: proto.String(overload),
			Input: []string{"a"}, Output: []string{"b"},
			OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
			Node:        []*onnx.NodeProto{{OpType: proto.String(op), Input: []string{"a"}, Output: []string{"b"}}},
		}
	}
	tg := newTestGraph(13).input("x", 2)
	tg.g.Node = append(tg.g.Node,
		&onnx.NodeProto{Name: proto.String("neg"), OpType: proto.String("F"), Domain: proto.String("com.example"), Overload: proto.String("neg"), Input: []string{"x"}, Output: []string{"y"}},
		&onnx.NodeProto{Name: proto.String("abs"), OpType: proto.String("F"), Domain: proto.String("com.example"), Overload: proto.String("abs"), Input: []string{"x"}, Output: []string{"z"}})
	tg.output("y", "z")
	tg.opsets = append(tg.opsets, &onnx.OperatorSetIdProto{Domain: proto.String("com.example"), Version: proto.Int64(1)})
	tg.funcs = []*onnx.FunctionProto{body("neg", "Neg"), body("abs", "Abs")}
	res, err := tg.session(t).Run(context.Background(), map[string]*runtime.Tensor{"x": runtime.New([]int{2}, []float32{-3, 4})})
	if err != nil {
		t.Fatal(err)
	}
	if y, z := res["y"].Float32s(), res["z"].Float32s(); y[0] != 3 || y[1] != -4 || z[0] != 3 || z[1] != 4 {
		t.Fatalf("y = %v (want [3 -4]), z = %v (want [3 4])", y, z)
	}
}
