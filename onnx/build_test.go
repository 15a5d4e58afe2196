package onnx

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestBuildersMatchOnnxHelper rebuilds the graph testdata/gen_fixtures.py made
// with onnx.helper and checks the messages are identical.
func TestBuildersMatchOnnxHelper(t *testing.T) {
	want, err := LoadFile("testdata/builders.onnx")
	if err != nil {
		t.Fatal(err)
	}
	value, err := EncodeTensor("value", &Array{Type: TensorProto_INT64, Dims: []int{2, 2}, Data: []int64{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	node := &NodeProto{
		Name: proto.String("n"), OpType: proto.String("Custom"), Domain: proto.String("ai.dcnet"),
		Input: []string{"x"}, Output: []string{"y"},
		Attribute: []*AttributeProto{ // onnx.helper.make_node sorts attributes by name
			AttrFloat("alpha", 0.5),
			AttrInt("group", 2),
			AttrString("mode", "constant"),
			AttrInts("pads", 1, 2, 3, 4),
			AttrFloats("scales", 1.5, -2),
			AttrTensor("value", value),
		},
	}
	g := want.GetGraph()
	got := &GraphProto{
		Node:   []*NodeProto{node},
		Name:   proto.String("builders"),
		Input:  []*ValueInfoProto{ValueInfo("x", TensorProto_FLOAT, "N", 3, int64(224), ""), ValueInfo("s", TensorProto_INT64)},
		Output: []*ValueInfoProto{ValueInfo("y", TensorProto_FLOAT16, 1, "C")},
	}
	if !proto.Equal(got, g) {
		t.Errorf("built graph\n%v\nonnx.helper built\n%v", got, g)
	}
}

func TestOpsetVersion(t *testing.T) {
	m := &ModelProto{OpsetImport: []*OperatorSetIdProto{
		{Domain: proto.String("ai.onnx"), Version: proto.Int64(17)},
		{Domain: proto.String("ai.dcnet"), Version: proto.Int64(1)},
	}}
	for _, tc := range []struct {
		domain string
		want   int64
		ok     bool
	}{{"", 17, true}, {"ai.onnx", 17, true}, {"ai.dcnet", 1, true}, {"com.microsoft", 0, false}} {
		if v, ok := OpsetVersion(m, tc.domain); v != tc.want || ok != tc.ok {
			t.Errorf("OpsetVersion(%q) = %d, %v, want %d, %v", tc.domain, v, ok, tc.want, tc.ok)
		}
	}
	if v, ok := OpsetVersion(nil, ""); v != 0 || ok {
		t.Errorf("OpsetVersion(nil) = %d, %v", v, ok)
	}
	// The real models import the default domain without naming it.
	squeeze, err := LoadFile(sharedModel(t, "squeezenet1_1_legacy.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := OpsetVersion(squeeze, "ai.onnx"); v != 13 || !ok {
		t.Errorf("squeezenet opset = %d, %v, want 13", v, ok)
	}
}

func TestValueInfoPanicsOnBadDim(t *testing.T) {
	for _, dim := range []any{3.0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ValueInfo with dim %v (%T) did not panic", dim, dim)
				}
			}()
			ValueInfo("x", TensorProto_FLOAT, dim)
		}()
	}
}
