package runtime_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"google.golang.org/protobuf/proto"
)

// Helpers shared by the operator tests: build a one-node model and run it.

func attrInt(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INTS.Enum(), Ints: v}
}

func attrFloat(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func attrFloats(name string, v ...float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_FLOATS.Enum(), Floats: v}
}

func attrString(name, v string) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// nodeSpec describes a one-node model: inputs[i] == nil is an absent
// optional input; constant[i] makes input i an initializer instead of a
// graph input.
type nodeSpec struct {
	op       string
	domain   string
	opset    int
	attrs    []*onnx.AttributeProto
	inputs   []*runtime.Tensor
	constant map[int]bool
	outputs  int
}

// model builds the ModelProto for the spec (graph input/initializer names
// "x0", "x1", ..., outputs "y0", "y1", ...).
func (ns nodeSpec) model(t testing.TB) *onnx.ModelProto {
	t.Helper()
	node := &onnx.NodeProto{Name: proto.String("n"), OpType: proto.String(ns.op), Domain: proto.String(ns.domain), Attribute: ns.attrs}
	g := &onnx.GraphProto{Name: proto.String("g")}
	for i, in := range ns.inputs {
		if in == nil {
			node.Input = append(node.Input, "")
			continue
		}
		name := fmt.Sprintf("x%d", i)
		node.Input = append(node.Input, name)
		if ns.constant[i] {
			tp, err := in.ToProto(name)
			if err != nil {
				t.Fatal(err)
			}
			g.Initializer = append(g.Initializer, tp)
			continue
		}
		g.Input = append(g.Input, &onnx.ValueInfoProto{Name: proto.String(name), Type: tensorType(in.DType(), nil)})
	}
	nOut := max(ns.outputs, 1)
	for i := 0; i < nOut; i++ {
		name := fmt.Sprintf("y%d", i)
		node.Output = append(node.Output, name)
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: proto.String(name)})
	}
	g.Node = []*onnx.NodeProto{node}
	opset := ns.opset
	if opset == 0 {
		opset = 17
	}
	m := &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(opset))}}}
	if ns.domain != "" {
		m.OpsetImport = append(m.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(ns.domain), Version: proto.Int64(1)})
	}
	return m
}

func tensorType(dt runtime.DType, shape []int) *onnx.TypeProto {
	tt := &onnx.TypeProto_Tensor{ElemType: proto.Int32(int32(dt))}
	if shape != nil {
		tt.Shape = &onnx.TensorShapeProto{}
		for _, d := range shape {
			tt.Shape.Dim = append(tt.Shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		}
	}
	return &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: tt}}
}

// run plans and runs the spec, returning the outputs in order.
func (ns nodeSpec) run(t testing.TB, opts ...runtime.Option) ([]*runtime.Tensor, error) {
	t.Helper()
	s, err := runtime.NewSessionFromModel(ns.model(t), opts...)
	if err != nil {
		return nil, err
	}
	feeds := map[string]*runtime.Tensor{}
	for i, in := range ns.inputs {
		if in != nil && !ns.constant[i] {
			feeds[fmt.Sprintf("x%d", i)] = in
		}
	}
	res, err := s.Run(context.Background(), feeds)
	if err != nil {
		return nil, err
	}
	out := make([]*runtime.Tensor, max(ns.outputs, 1))
	for i := range out {
		out[i] = res[fmt.Sprintf("y%d", i)]
	}
	return out, nil
}

// mustRun is run that fails the test on error.
func (ns nodeSpec) mustRun(t testing.TB, opts ...runtime.Option) []*runtime.Tensor {
	t.Helper()
	out, err := ns.run(t, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
