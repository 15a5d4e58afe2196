package convert_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Small graphs built in the test: they cover Conv with and without bias,
// Conv followed by an unfolded BatchNormalization, depthwise and grouped
// convolutions with strides, dilations and auto_pad, Gemm heads, and Convs
// the rewrite must leave alone.

// graphBuilder assembles a one-input, one-output model.
type graphBuilder struct {
	g     *onnx.GraphProto
	rng   *rand.Rand
	opset int64
}

func newGraph(name string, opset int64, seed uint64) *graphBuilder {
	return &graphBuilder{g: &onnx.GraphProto{Name: proto.String(name)}, rng: rand.New(rand.NewPCG(seed, 7)), opset: opset}
}

// weight adds a random float initializer; scale sets its magnitude.
func (b *graphBuilder) weight(name string, scale float64, dims ...int) string {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(scale * b.rng.NormFloat64())
	}
	b.init(name, dims, data)
	return name
}

func (b *graphBuilder) init(name string, dims []int, data []float32) {
	t, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: dims, Data: data})
	if err != nil {
		panic(err)
	}
	b.g.Initializer = append(b.g.Initializer, t)
}

// positive adds an initializer of values in [lo, hi).
func (b *graphBuilder) positive(name string, lo, hi float64, n int) string {
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(lo + (hi-lo)*b.rng.Float64())
	}
	b.init(name, []int{n}, data)
	return name
}

func (b *graphBuilder) node(name, op string, in, out []string, attrs ...*onnx.AttributeProto) {
	b.g.Node = append(b.g.Node, &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: out, Attribute: attrs})
}

func (b *graphBuilder) model(in, out *onnx.ValueInfoProto) *onnx.ModelProto {
	b.g.Input = append(b.g.Input, in)
	b.g.Output = append(b.g.Output, out)
	return &onnx.ModelProto{
		IrVersion:    proto.Int64(7),
		ProducerName: proto.String("convert test"),
		DocString:    proto.String("a test model"),
		Graph:        b.g,
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(b.opset)}},
		MetadataProps: []*onnx.StringStringEntryProto{
			{Key: proto.String("source"), Value: proto.String("built by models_test.go")},
		},
	}
}

// convReluGemm: Conv(bias, pads) → Relu → Conv(stride 2, no bias) → Relu →
// Flatten → Gemm.
func convReluGemm(opset int64) *onnx.ModelProto {
	b := newGraph("conv_relu_gemm", opset, 1)
	b.node("conv1", "Conv", []string{"x", b.weight("conv1.weight", 0.3, 4, 3, 3, 3), b.weight("conv1.bias", 0.1, 4)}, []string{"c1"},
		onnx.AttrInts("pads", 1, 1, 1, 1), onnx.AttrInts("kernel_shape", 3, 3))
	b.node("relu1", "Relu", []string{"c1"}, []string{"r1"})
	b.node("conv2", "Conv", []string{"r1", b.weight("conv2.weight", 0.3, 6, 4, 3, 3)}, []string{"c2"},
		onnx.AttrInts("strides", 2, 2))
	b.node("relu2", "Relu", []string{"c2"}, []string{"r2"})
	b.node("flatten", "Flatten", []string{"r2"}, []string{"f"}, onnx.AttrInt("axis", 1))
	b.node("fc", "Gemm", []string{"f", b.weight("fc.weight", 0.1, 5, 54), b.weight("fc.bias", 0.1, 5)}, []string{"y"},
		onnx.AttrInt("transB", 1))
	b.g.Node[0].DocString = proto.String("the stem")
	return b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 3, 8, 8), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, "N", 5))
}

// convBN: Conv(no bias) → BatchNormalization → Relu → Conv 1×1 (bias).
func convBN(opset int64) *onnx.ModelProto {
	b := newGraph("conv_bn", opset, 2)
	b.node("conv1", "Conv", []string{"x", b.weight("conv1.weight", 0.3, 8, 3, 3, 3)}, []string{"c1"},
		onnx.AttrInts("pads", 1, 1, 1, 1))
	b.node("bn1", "BatchNormalization", []string{"c1", b.positive("bn1.scale", 0.5, 1.5, 8), b.weight("bn1.shift", 0.2, 8),
		b.weight("bn1.mean", 0.2, 8), b.positive("bn1.var", 0.5, 2, 8)}, []string{"b1"}, onnx.AttrFloat("epsilon", 1e-5))
	b.node("relu1", "Relu", []string{"b1"}, []string{"r1"})
	b.node("conv2", "Conv", []string{"r1", b.weight("conv2.weight", 0.3, 4, 8, 1, 1), b.weight("conv2.bias", 0.1, 4)}, []string{"y"})
	return b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, 1, 3, 6, 6), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, 1, 4, 6, 6))
}

// grouped: stem Conv → depthwise Conv (group 8, SAME_UPPER) → grouped Conv
// (group 2, dilations 2) → GlobalAveragePool.
func grouped(opset int64) *onnx.ModelProto {
	b := newGraph("grouped", opset, 3)
	b.node("stem", "Conv", []string{"x", b.weight("stem.weight", 0.3, 8, 3, 3, 3), b.weight("stem.bias", 0.1, 8)}, []string{"s"},
		onnx.AttrInts("pads", 1, 1, 1, 1))
	b.node("dw", "Conv", []string{"s", b.weight("dw.weight", 0.5, 8, 1, 3, 3), b.weight("dw.bias", 0.1, 8)}, []string{"d"},
		onnx.AttrInt("group", 8), onnx.AttrString("auto_pad", "SAME_UPPER"), onnx.AttrInts("strides", 2, 2))
	b.node("gconv", "Conv", []string{"d", b.weight("gconv.weight", 0.3, 6, 4, 3, 3)}, []string{"gc"},
		onnx.AttrInt("group", 2), onnx.AttrInts("dilations", 2, 2), onnx.AttrInts("pads", 2, 2, 2, 2))
	b.node("pool", "GlobalAveragePool", []string{"gc"}, []string{"y"})
	return b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, 2, 3, 9, 9), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, 2, 6, 1, 1))
}

// unsupported has a 1-D Conv, a Conv whose weight is a graph input and an
// unnamed 2-D Conv.
func unsupported(opset int64) *onnx.ModelProto {
	b := newGraph("unsupported", opset, 4)
	b.node("conv1d", "Conv", []string{"x", b.weight("conv1d.weight", 0.3, 4, 2, 3)}, []string{"c"}, onnx.AttrInts("pads", 1, 1))
	b.node("unsqueeze", "Unsqueeze", []string{"c"}, []string{"u"}, onnx.AttrInts("axes", 2))
	b.node("dynamic", "Conv", []string{"u", "w_in"}, []string{"dyn"})
	b.node("", "Conv", []string{"dyn", b.weight("last.weight", 0.3, 2, 3, 1, 1)}, []string{"y"})
	m := b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, 1, 2, 10), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, 1, 2, 1, 10))
	m.Graph.Input = append(m.Graph.Input, onnx.ValueInfo("w_in", onnx.TensorProto_FLOAT, 3, 4, 1, 1))
	return m
}

// smallInput returns deterministic random data for model input shape.
func smallInput(shape []int, seed uint64) *runtime.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return runtime.New(shape, data)
}

// runModel runs m on inputs with our runtime and returns the first output.
func runModel(t *testing.T, m *onnx.ModelProto, inputs map[string]*runtime.Tensor, opts ...runtime.Option) *runtime.Tensor {
	t.Helper()
	s, err := runtime.NewSessionFromModel(m, opts...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	return out[s.Outputs()[0].Name]
}

// maxRelError is max|y − ref| / max|ref| in float64 (+Inf for NaN).
func maxRelError(y, ref []float32) float64 {
	if len(y) != len(ref) {
		return math.Inf(1)
	}
	var diff, scale float64
	for i := range ref {
		if math.IsNaN(float64(y[i])) || math.IsInf(float64(y[i]), 0) {
			return math.Inf(1)
		}
		diff = math.Max(diff, math.Abs(float64(y[i])-float64(ref[i])))
		scale = math.Max(scale, math.Abs(float64(ref[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}
