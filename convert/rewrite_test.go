package convert_test

import (
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

type smallModel struct {
	name  string
	build func() *onnx.ModelProto
	input []int
}

var smallModels = []smallModel{
	{"conv_relu_gemm", func() *onnx.ModelProto { return convReluGemm(13) }, []int{2, 3, 8, 8}},
	{"conv_relu_gemm_opset18", func() *onnx.ModelProto { return convReluGemm(18) }, []int{1, 3, 8, 8}},
	{"conv_relu_gemm_opset9", func() *onnx.ModelProto { return convReluGemm(9) }, []int{1, 3, 8, 8}},
	{"conv_bn", func() *onnx.ModelProto { return convBN(13) }, []int{1, 3, 6, 6}},
	{"grouped", func() *onnx.ModelProto { return grouped(11) }, []int{2, 3, 9, 9}},
	{"unsupported", func() *onnx.ModelProto { return unsupported(11) }, []int{1, 2, 10}},
}

// rewriteIdentity returns the identity rewrite of m in form f.
func rewriteIdentity(t *testing.T, m *onnx.ModelProto, f convert.Form) (*onnx.ModelProto, *convert.Result) {
	t.Helper()
	out := proto.Clone(m).(*onnx.ModelProto)
	res, err := convert.Rewrite(out, convert.Options{Operator: convert.Identity()})
	if err != nil {
		t.Fatal(err)
	}
	if err := convert.Convert(out, f); err != nil {
		t.Fatal(err)
	}
	return out, res
}

func inputsFor(sm smallModel, m *onnx.ModelProto) map[string]*runtime.Tensor {
	in := map[string]*runtime.Tensor{m.Graph.Input[0].GetName(): smallInput(sm.input, 5)}
	if sm.name == "unsupported" {
		in["w_in"] = smallInput([]int{3, 4, 1, 1}, 6)
	}
	return in
}

// The identity rewrite reproduces the original model through our runtime in
// every form: custom and functions run the fused DecoupledConv kernel,
// expanded runs standard operators only.
func TestIdentityFormsMatchOriginal(t *testing.T) {
	for _, sm := range smallModels {
		for _, f := range []convert.Form{convert.Custom, convert.Functions, convert.Expanded} {
			t.Run(sm.name+"/"+f.String(), func(t *testing.T) {
				orig := sm.build()
				conv, _ := rewriteIdentity(t, orig, f)
				in := inputsFor(sm, orig)
				ref := runModel(t, orig, in)
				got := runModel(t, conv, in, runtime.WithRegistry(decoupledRegistry()))
				rel := maxRelError(got.Float32s(), ref.Float32s())
				t.Logf("max rel error %.3g", rel)
				if rel > 1e-5 {
					t.Errorf("max|y-ref|/max|ref| = %.3g > 1e-5", rel)
				}
			})
		}
	}
}

// Rewrite selects layers as asked and reports the Convs it cannot rewrite.
func TestRewriteSelection(t *testing.T) {
	cases := []struct {
		name    string
		model   func() *onnx.ModelProto
		sel     convert.Selection
		want    []string
		skipped []string // "node: reason fragment"
	}{
		{"all", func() *onnx.ModelProto { return grouped(11) }, convert.Selection{}, []string{"stem", "dw", "gconv"}, nil},
		{"skip first", func() *onnx.ModelProto { return grouped(11) }, convert.Selection{SkipFirst: true}, []string{"dw", "gconv"},
			[]string{`"stem": first Conv`}},
		{"skip last", func() *onnx.ModelProto { return grouped(11) }, convert.Selection{SkipLast: true}, []string{"stem", "dw"},
			[]string{`"gconv": last Conv`}},
		{"exclude depthwise", func() *onnx.ModelProto { return grouped(11) }, convert.Selection{ExcludeDepthwise: true}, []string{"stem", "gconv"},
			[]string{`"dw": depthwise`}},
		{"regexp", func() *onnx.ModelProto { return grouped(11) }, convert.Selection{Layers: regexp.MustCompile(`conv$`)}, []string{"gconv"},
			[]string{`"stem": does not match`, `"dw": does not match`}},
		{"unsupported", func() *onnx.ModelProto { return unsupported(11) }, convert.Selection{}, []string{""},
			[]string{`"conv1d": 1-D convolution`, `"dynamic": weight "w_in" is not a constant`}},
		{"3-D", conv3D, convert.Selection{}, nil, []string{`"conv3d": 3-D convolution`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model()
			res, err := convert.Rewrite(m, convert.Options{Operator: convert.Identity(), Selection: c.sel})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range res.Layers {
				got = append(got, l.Node)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("rewrote %q, want %q", got, c.want)
			}
			if len(res.Skipped) != len(c.skipped) {
				t.Fatalf("skipped %v, want %d", res.Skipped, len(c.skipped))
			}
			for i, s := range res.Skipped {
				node, frag, _ := strings.Cut(c.skipped[i], ": ")
				if s.Node != node || !strings.Contains(s.Reason, frag) {
					t.Errorf("skip %d = %v, want node %s with %q", i, s, node, frag)
				}
			}
			decoupled := 0
			for _, n := range m.Graph.Node {
				if n.GetOpType() == "DecoupledConv" {
					decoupled++
				}
			}
			if decoupled != len(c.want) {
				t.Errorf("%d DecoupledConv nodes, want %d", decoupled, len(c.want))
			}
		})
	}
}

// conv3D is a single 3-D convolution.
func conv3D() *onnx.ModelProto {
	b := newGraph("conv3d", 13, 5)
	b.node("conv3d", "Conv", []string{"x", b.weight("w", 0.3, 2, 1, 3, 3, 3)}, []string{"y"})
	return b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, 1, 1, 4, 4, 4), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, 1, 2, 2, 2, 2))
}
