package runtime

import (
	"context"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"google.golang.org/protobuf/proto"
)

// TestShapeViewsAreZeroCopy checks that the reshaping ops hand back views:
// same buffer, one more owner on the input's storage.
func TestShapeViewsAreZeroCopy(t *testing.T) {
	cases := []struct {
		op      string
		opset   int
		attrs   []*onnx.AttributeProto
		extra   []*Tensor // inputs after x, all constant
		shape   []int
		builder Builder
	}{
		{op: "Reshape", opset: 14, extra: []*Tensor{New([]int{2}, []int64{-1, 2})}, shape: []int{6, 2}, builder: buildReshape},
		{op: "Flatten", opset: 13, shape: []int{3, 4}, builder: buildFlatten},
		{op: "Squeeze", opset: 13, shape: []int{3, 4}, builder: buildSqueeze},
		{op: "Unsqueeze", opset: 13, extra: []*Tensor{New([]int{1}, []int64{1})}, shape: []int{3, 1, 1, 4}, builder: buildUnsqueeze},
		{op: "Identity", opset: 16, shape: []int{3, 1, 4}, builder: buildIdentity},
		{op: "Dropout", opset: 13, shape: []int{3, 1, 4}, builder: buildDropout},
		{op: "Expand", opset: 13, extra: []*Tensor{New([]int{2}, []int64{1, 4})}, shape: []int{3, 1, 4}, builder: buildExpand},
	}
	for _, c := range cases {
		rc := &RunContext{ctx: context.Background(), threads: 1, limit: DefaultMaxElements, alloc: newAllocator()}
		x := rc.New(Float32, 3, 1, 4)
		inputs := []string{"x"}
		consts := []*Tensor{nil}
		in := []*Tensor{x}
		for i, e := range c.extra {
			inputs = append(inputs, string(rune('a'+i)))
			consts = append(consts, e)
			in = append(in, e)
		}
		np := &onnx.NodeProto{Name: proto.String("n"), OpType: proto.String(c.op), Input: inputs, Output: []string{"y"}, Attribute: c.attrs}
		n := newNode(np, 0, c.opset, consts, &Options{})
		k, err := c.builder(n)
		if err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
		out := make([]*Tensor, 1)
		if err := k.Run(rc, in, out); err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
		y := out[0]
		if !SameShape(y.Shape(), c.shape) {
			t.Errorf("%s: shape %v, want %v", c.op, y.Shape(), c.shape)
		}
		if &y.Float32s()[0] != &x.Float32s()[0] || y.store != x.store || x.store.refs != 2 {
			t.Errorf("%s: output is not a counted view of the input", c.op)
		}
	}
}
