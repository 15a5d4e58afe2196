package convert_test

import (
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Malformed Conv nodes are all reported at once, each by name, and the
// model is left unchanged.
func TestRewriteReportsEveryMalformedConv(t *testing.T) {
	m := grouped(11)
	m.Graph.Node[1].Attribute = append(m.Graph.Node[1].Attribute[1:], onnx.AttrInt("group", 3)) // 8 channels
	m.Graph.Node[2].Input = []string{"d"}
	before := proto.Clone(m)
	_, err := convert.Rewrite(m, convert.Options{Operator: convert.Identity()})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`node "dw" (Conv): attribute "group": 3 does not divide the 8 output channels`, `node "gconv" (Conv): needs inputs X and W`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !proto.Equal(m, before) {
		t.Error("the model changed")
	}
}

func TestRewriteRejectsOtherDcnetOpset(t *testing.T) {
	m := convBN(13)
	m.OpsetImport = append(m.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(decop.Domain), Version: proto.Int64(2)})
	if _, err := convert.Rewrite(m, convert.Options{Operator: convert.Identity()}); err == nil || !strings.Contains(err.Error(), "imports opset 2 of domain \"ai.dcnet\"") {
		t.Errorf("error %v", err)
	}
}

func TestRewriteRejectsBadOperator(t *testing.T) {
	op := convert.Identity()
	op.Eps = 0
	if _, err := convert.Rewrite(convBN(13), convert.Options{Operator: op}); err == nil || !strings.Contains(err.Error(), "eps") {
		t.Errorf("eps 0: error %v", err)
	}
}

// Rewrite keeps everything it does not replace: other nodes, names,
// initializers, inputs, outputs, metadata and doc strings.
func TestRewriteKeepsTheRest(t *testing.T) {
	orig := convReluGemm(13)
	m := proto.Clone(orig).(*onnx.ModelProto)
	res, err := convert.Rewrite(m, convert.Options{Operator: convert.Identity()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) != 2 {
		t.Fatalf("%d layers", len(res.Layers))
	}
	if !proto.Equal(m.Graph.Input[0], orig.Graph.Input[0]) || !proto.Equal(m.Graph.Output[0], orig.Graph.Output[0]) ||
		!proto.Equal(m.MetadataProps[0], orig.MetadataProps[0]) || m.GetDocString() != orig.GetDocString() {
		t.Error("graph inputs, outputs, metadata or doc string changed")
	}
	for i, n := range m.Graph.Node {
		o := orig.Graph.Node[i]
		if n.GetName() != o.GetName() || n.GetDocString() != o.GetDocString() || n.Output[0] != o.Output[0] {
			t.Errorf("node %d: name, doc string or output changed", i)
		}
		if o.GetOpType() != "Conv" && !proto.Equal(n, o) {
			t.Errorf("node %q changed", o.GetName())
		}
	}
	for i, init := range orig.Graph.Initializer {
		if !proto.Equal(m.Graph.Initializer[i], init) {
			t.Errorf("initializer %q changed", init.GetName())
		}
	}
	var added []string
	for _, init := range m.Graph.Initializer[len(orig.Graph.Initializer):] {
		added = append(added, init.GetName())
	}
	if got := strings.Join(added, " "); got != "conv1.alpha conv2.bias conv2.alpha" {
		t.Errorf("added initializers %q", got)
	}
}

func TestSetParams(t *testing.T) {
	m := convBN(13)
	res, err := convert.Rewrite(m, convert.Options{Operator: convert.Operator{Magnitude: decop.Tanh, Angular: decop.Cos, K: 0.3, Eps: 1e-4}})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layers[0] // conv1: 8 output channels, no bias of its own
	if l.Rho == "" || l.Beta != "" || l.B != "conv1.bias" {
		t.Fatalf("layer %+v", l)
	}
	before := proto.Clone(m)
	for _, c := range []struct {
		p    convert.Params
		want string
	}{
		{convert.Params{Alpha: make([]float32, 3)}, "alpha has 3 values, want 1 or 8"},
		{convert.Params{Rho: []float32{0}}, "rho[0] = 0 is not a valid value"},
		{convert.Params{Beta: []float32{1}}, "magnitude tanh does not use beta"},
		{convert.Params{Bias: []float32{1}}, "bias has 1 values, want 8"},
	} {
		if err := convert.SetParams(m, &l, c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.p, err, c.want)
		}
	}
	if !proto.Equal(m, before) {
		t.Fatal("a failed SetParams changed the model")
	}
	if err := convert.SetParams(m, &l, convert.Params{Rho: []float32{2.5}, Bias: []float32{1, 2, 3, 4, 5, 6, 7, 8}}); err != nil {
		t.Fatal(err)
	}
	s, err := convert.Inspect(m)
	if err != nil {
		t.Fatal(err)
	}
	if op := s.Layers[0].Operator; op.Rho == nil || op.Rho.Min != 2.5 || op.Rho.Count != 1 || op.Alpha.Count != 8 {
		t.Errorf("after SetParams: %+v", op)
	}
}

// Forms convert into each other: custom → functions → custom gives the
// custom form back, and functions → expanded equals custom → expanded.
func TestFormsConvertIntoEachOther(t *testing.T) {
	custom, _ := rewriteIdentity(t, grouped(11), convert.Custom)
	m := proto.Clone(custom).(*onnx.ModelProto)
	if err := convert.Convert(m, convert.Functions); err != nil {
		t.Fatal(err)
	}
	functions := proto.Clone(m).(*onnx.ModelProto)
	if err := convert.Convert(m, convert.Custom); err != nil {
		t.Fatal(err)
	}
	m.IrVersion = custom.IrVersion // the functions form raised it
	if !proto.Equal(m, custom) {
		t.Error("custom → functions → custom changed the model")
	}
	a, b := proto.Clone(custom).(*onnx.ModelProto), functions
	for _, x := range []*onnx.ModelProto{a, b} {
		if err := convert.Convert(x, convert.Expanded); err != nil {
			t.Fatal(err)
		}
	}
	b.IrVersion = a.IrVersion
	if !proto.Equal(a, b) {
		t.Error("expanding the functions form differs from expanding the custom form")
	}
	if len(b.Functions) != 0 {
		t.Error("the expanded form kept DecoupledConv functions")
	}
	if _, ok := onnx.OpsetVersion(b, decop.Domain); ok {
		t.Error("the expanded form still imports ai.dcnet")
	}
}

func TestPortableFormsNeedOpset(t *testing.T) {
	m, _ := rewriteIdentity(t, convBN(13), convert.Custom)
	m.OpsetImport[0].Version = proto.Int64(7)
	for _, f := range []convert.Form{convert.Functions, convert.Expanded} {
		err := convert.Convert(proto.Clone(m).(*onnx.ModelProto), f)
		if err == nil || !strings.Contains(err.Error(), "opset ≥") {
			t.Errorf("%v at opset 7: error %v", f, err)
		}
	}
}

func TestExpandRejectsBadNodes(t *testing.T) {
	m, _ := rewriteIdentity(t, grouped(11), convert.Custom)
	for i, a := range m.Graph.Node[0].Attribute {
		if a.GetName() == "magnitude" {
			m.Graph.Node[0].Attribute[i] = onnx.AttrString("magnitude", "cube")
		}
	}
	m.Graph.Node[1].Attribute[0] = onnx.AttrInt("group", 0)
	before := proto.Clone(m)
	for _, f := range []convert.Form{convert.Functions, convert.Expanded} {
		err := convert.Convert(m, f)
		if err == nil {
			t.Fatalf("%v: no error", f)
		}
		for _, want := range []string{`node "stem" (DecoupledConv): attribute "magnitude": unknown magnitude "cube"`, `node "dw" (DecoupledConv): attribute "group": expected positive int, got 0`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error %q lacks %q", f, err, want)
			}
		}
		if !proto.Equal(m, before) {
			t.Fatalf("%v: a failed conversion changed the model", f)
		}
	}
}

// A DecoupledConv whose weight and parameters are graph inputs expands with
// norms and kernels computed at run time, and matches the fused kernel.
func TestExpandDynamicWeights(t *testing.T) {
	for _, opset := range []int64{11, 18} {
		m := operatorChain(opset, 40)
		decoupleChain(t, m, 2, 41)
		// Make conv3's weight and alpha, conv4's rho, graph inputs.
		feeds := map[string]*runtime.Tensor{"x": smallInput([]int{2, 4, 9, 9}, 42)}
		for _, name := range []string{"conv3.weight", "conv3.alpha", "conv4.rho"} {
			for i, init := range m.Graph.Initializer {
				if init.GetName() != name {
					continue
				}
				data, dims, err := onnx.Float32s(init, "")
				if err != nil {
					t.Fatal(err)
				}
				feeds[name] = runtime.New(dims, data)
				m.Graph.Initializer = append(m.Graph.Initializer[:i], m.Graph.Initializer[i+1:]...)
				shape := make([]any, len(dims))
				for j, d := range dims {
					shape[j] = d
				}
				m.Graph.Input = append(m.Graph.Input, onnx.ValueInfo(name, onnx.TensorProto_FLOAT, shape...))
				break
			}
		}
		ref := runModel(t, m, feeds, runtime.WithRegistry(decoupledRegistry()))
		if err := convert.Convert(m, convert.Expanded); err != nil {
			t.Fatal(err)
		}
		reshapes := 0
		for _, n := range m.Graph.Node {
			if n.GetOpType() == "ReduceSumSquare" || n.GetOpType() == "Reshape" {
				reshapes++
			}
		}
		if reshapes < 4 {
			t.Errorf("opset %d: %d ReduceSumSquare/Reshape nodes, want the dynamic path", opset, reshapes)
		}
		got := runModel(t, m, feeds)
		if rel := maxRelError(got.Float32s(), ref.Float32s()); rel > 1e-4 {
			t.Errorf("opset %d: max rel error %.3g > 1e-4", opset, rel)
		}
	}
}

func TestParseOperatorAndForm(t *testing.T) {
	for s, want := range map[string]string{
		"identity": "linear:cos weighted", "tanh:cos": "tanh:cos", "seg:sigmoid": "seg:sigmoid k=0.3",
	} {
		op, err := convert.ParseOperator(s)
		if err != nil || op.String() != want {
			t.Errorf("ParseOperator(%q) = %v, %v; want %s", s, op, err, want)
		}
	}
	if op, _ := convert.ParseOperator("linear:cos"); op.IsIdentity() {
		t.Error("linear:cos (unweighted) is not the identity")
	}
	for _, bad := range []string{"tanh", "tanh:", "cube:cos", "tanh:sin", ""} {
		if _, err := convert.ParseOperator(bad); err == nil {
			t.Errorf("ParseOperator(%q): no error", bad)
		}
	}
	for _, s := range []string{"custom", "functions", "expanded"} {
		if f, err := convert.ParseForm(s); err != nil || f.String() != s {
			t.Errorf("ParseForm(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := convert.ParseForm("inline"); err == nil {
		t.Error("ParseForm(inline): no error")
	}
}

// Selecting one layer by name leaves the others as Conv.
func TestRewriteOneLayer(t *testing.T) {
	m := convReluGemm(13)
	res, err := convert.Rewrite(m, convert.Options{Operator: convert.Identity(), Selection: convert.Selection{Layers: regexp.MustCompile("2")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) != 1 || m.Graph.Node[0].GetOpType() != "Conv" || m.Graph.Node[2].GetOpType() != "DecoupledConv" {
		t.Errorf("layers %+v", res.Layers)
	}
}

// Conv nodes inside subgraphs are left alone, with a warning.
func TestRewriteSkipsSubgraphConvs(t *testing.T) {
	b := newGraph("if", 13, 6)
	w := b.weight("w", 0.3, 2, 2, 1, 1)
	branch := func(name string, op string, in []string) *onnx.AttributeProto {
		g := &onnx.GraphProto{
			Name:   proto.String(name),
			Node:   []*onnx.NodeProto{{Name: proto.String(name + "_conv"), OpType: proto.String(op), Input: in, Output: []string{name + "_y"}}},
			Output: []*onnx.ValueInfoProto{onnx.ValueInfo(name+"_y", onnx.TensorProto_FLOAT, 1, 2, 3, 3)},
		}
		return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_GRAPH.Enum(), G: g}
	}
	b.node("if", "If", []string{"cond"}, []string{"y"}, branch("then_branch", "Conv", []string{"x", w}), branch("else_branch", "Identity", []string{"x"}))
	m := b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, 1, 2, 3, 3), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, 1, 2, 3, 3))
	m.Graph.Input = append(m.Graph.Input, onnx.ValueInfo("cond", onnx.TensorProto_BOOL))
	res, err := convert.Rewrite(m, convert.Options{Operator: convert.Identity()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) != 0 || len(res.Skipped) != 1 || !res.Skipped[0].Unsupported ||
		!strings.Contains(res.Skipped[0].String(), `node "then_branch_conv" (Conv): inside a subgraph of node "if"`) {
		t.Errorf("result %+v", res)
	}
}

// Before IR 4 initializers are also graph inputs: they still count as
// constants, and the initializers a pass adds are declared as inputs too.
func TestRewriteIR3(t *testing.T) {
	orig := convBN(8)
	orig.IrVersion = proto.Int64(3)
	for _, init := range orig.Graph.Initializer {
		dims := make([]any, len(init.Dims))
		for i, d := range init.Dims {
			dims[i] = d
		}
		orig.Graph.Input = append(orig.Graph.Input, onnx.ValueInfo(init.GetName(), onnx.TensorProto_FLOAT, dims...))
	}
	in := map[string]*runtime.Tensor{"x": smallInput([]int{1, 3, 6, 6}, 8)}
	ref := runModel(t, orig, in)
	for _, f := range []convert.Form{convert.Custom, convert.Expanded} {
		m, res := rewriteIdentity(t, orig, f)
		if len(res.Layers) != 2 {
			t.Fatalf("%v: rewrote %d layers", f, len(res.Layers))
		}
		inputs := map[string]*onnx.ValueInfoProto{}
		for _, v := range m.Graph.Input {
			inputs[v.GetName()] = v
		}
		for _, init := range m.Graph.Initializer {
			v := inputs[init.GetName()]
			if v == nil {
				t.Errorf("%v: initializer %q is not a graph input", f, init.GetName())
				continue
			}
			if dims := v.GetType().GetTensorType().GetShape().GetDim(); len(dims) != len(init.Dims) {
				t.Errorf("%v: initializer %q has dims %v, its input declaration %d dims", f, init.GetName(), init.Dims, len(dims))
			}
		}
		got := runModel(t, m, in, runtime.WithRegistry(decoupledRegistry()))
		if rel := maxRelError(got.Float32s(), ref.Float32s()); rel > 1e-5 {
			t.Errorf("%v: max rel error %.3g", f, rel)
		}
	}
}
