package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// CNN9 (../shared/docs/anchors.md): three stages of three 3×3 convolutions
// with 32, 64 and 128 channels (padding 1), each followed by
// BatchNormalization and Relu; 2×2 max-pooling after stages 1 and 2;
// global average pooling; a fully-connected layer to 10 classes.
//
// Input "input": float32 [N, 1, 28, 28]; output "logits": float32 [N, 10].
// Names follow PyTorch's export of models/fmnist/torch/train_cnn9.py where
// it has names: conv{1..9}.weight, bn{1..9}.{weight,bias,running_mean,
// running_var}, fc.weight [10, 128], fc.bias [10].

// stageWidths are the channels of the three stages.
var stageWidths = []int{32, 64, 128}

// cnn9Options choose the layers of the network.
type cnn9Options struct {
	// Op is nil for standard Conv layers, or the decoupled operator of
	// every convolution (DecoupledConv without bias, BatchNormalization
	// follows).
	Op *convert.Operator
	// Seed seeds the initial weights.
	Seed uint64
	// Scale is the input size (28 for Fashion-MNIST; smaller for tests).
	Size int
}

// Decoupled layers use the authors' parameterisation (anchors.md): α = 1
// (a constant; batch normalisation follows), and for magnitudes with ρ a
// learned per-channel ρ = (r² + 1e-4)·m, where r [M] is the trained
// initializer convN.rho_r (initialised so that ρ = m) and m, the constant
// convN.rho_scale, is the mean patch norm of the layer's input measured on
// training images at initialisation (measurePatchNorms) — the authors keep
// a moving average of it; here it stays at its initial value, which batch
// normalisation keeps meaningful since it fixes the scale of every layer's
// input. For a weighted operator the patch norm is multiplied by the
// filter norm, as r is.
const rhoOffset = 1e-4

// graphBuilder accumulates the nodes and initializers of a graph.
type graphBuilder struct {
	g   *onnx.GraphProto
	rng *rand.Rand
}

func (b *graphBuilder) node(op, name string, inputs, outputs []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	n := &onnx.NodeProto{OpType: str(op), Name: str(name), Input: inputs, Output: outputs, Attribute: attrs}
	b.g.Node = append(b.g.Node, n)
	return n
}

func (b *graphBuilder) init(name string, shape []int, data []float32) {
	tp, err := runtime.New(shape, data).ToProto(name)
	if err != nil {
		panic(err) // a float32 tensor always encodes
	}
	b.g.Initializer = append(b.g.Initializer, tp)
}

// uniform returns n values drawn from U(−bound, bound).
func (b *graphBuilder) uniform(n int, bound float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32((2*b.rng.Float64() - 1) * bound)
	}
	return out
}

func filled(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func str(s string) *string { return &s }

// buildCNN9 returns the initialised CNN9 as an ONNX model (opset 13, plus
// ai.dcnet 1 for decoupled layers). Weights follow PyTorch's default
// initialisation: convolutions and the linear layer U(±1/√fan_in), the
// linear bias likewise, BatchNormalization scale 1, bias 0, running mean
// 0, variance 1. Decoupled layers get rho_scale = 1 until
// measurePatchNorms sets it.
func buildCNN9(opts cnn9Options) *onnx.ModelProto {
	if opts.Size == 0 {
		opts.Size = 28
	}
	b := &graphBuilder{g: &onnx.GraphProto{Name: str("cnn9")}, rng: rand.New(rand.NewPCG(opts.Seed, 0x636e6e39))}
	b.g.Input = []*onnx.ValueInfoProto{onnx.ValueInfo("input", onnx.TensorProto_FLOAT, "N", 1, opts.Size, opts.Size)}
	b.g.Output = []*onnx.ValueInfoProto{onnx.ValueInfo("logits", onnx.TensorProto_FLOAT, "N", 10)}
	x, cin, layer := "input", 1, 0
	for stage, width := range stageWidths {
		for range 3 {
			layer++
			x = b.convBNRelu(layer, x, cin, width, opts.Op)
			cin = width
		}
		if stage < 2 {
			out := fmt.Sprintf("pool%d", stage+1)
			b.node("MaxPool", out, []string{x}, []string{out}, onnx.AttrInts("kernel_shape", 2, 2), onnx.AttrInts("strides", 2, 2))
			x = out
		}
	}
	b.node("GlobalAveragePool", "gap", []string{x}, []string{"gap"})
	b.node("Flatten", "flatten", []string{"gap"}, []string{"features"}, onnx.AttrInt("axis", 1))
	bound := 1 / math.Sqrt(float64(cin))
	b.init("fc.weight", []int{10, cin}, b.uniform(10*cin, bound))
	b.init("fc.bias", []int{10}, b.uniform(10, bound))
	b.node("Gemm", "fc", []string{"features", "fc.weight", "fc.bias"}, []string{"logits"}, onnx.AttrInt("transB", 1))
	opsets := []*onnx.OperatorSetIdProto{{Domain: str(""), Version: int64p(13)}}
	if opts.Op != nil {
		opsets = append(opsets, &onnx.OperatorSetIdProto{Domain: str(decop.Domain), Version: int64p(decop.Version)})
	}
	return &onnx.ModelProto{
		IrVersion: int64p(8), ProducerName: str("dcnet models/fmnist"), OpsetImport: opsets, Graph: b.g,
		DocString: str("CNN9 for Fashion-MNIST (see models/fmnist/README.md); input (x/255 - 0.2860)/0.3530"),
	}
}

func int64p(v int64) *int64 { return &v }

// convBNRelu adds layer i: a convolution (or decoupled convolution) from
// cin to cout channels, BatchNormalization and Relu, and returns the
// output's name.
func (b *graphBuilder) convBNRelu(i int, x string, cin, cout int, op *convert.Operator) string {
	conv, bn, relu := fmt.Sprintf("conv%d", i), fmt.Sprintf("bn%d", i), fmt.Sprintf("relu%d", i)
	w := conv + ".weight"
	b.init(w, []int{cout, cin, 3, 3}, b.uniform(cout*cin*9, 1/math.Sqrt(float64(cin*9))))
	geometry := []*onnx.AttributeProto{onnx.AttrInts("kernel_shape", 3, 3), onnx.AttrInts("pads", 1, 1, 1, 1)}
	if op == nil {
		b.node("Conv", conv, []string{x, w}, []string{conv}, geometry...)
	} else {
		b.decoupled(conv, x, w, cout, *op, geometry)
	}
	b.init(bn+".weight", []int{cout}, filled(cout, 1))
	b.init(bn+".bias", []int{cout}, filled(cout, 0))
	b.init(bn+".running_mean", []int{cout}, filled(cout, 0))
	b.init(bn+".running_var", []int{cout}, filled(cout, 1))
	b.node("BatchNormalization", bn, []string{conv, bn + ".weight", bn + ".bias", bn + ".running_mean", bn + ".running_var"}, []string{bn},
		onnx.AttrFloat("epsilon", 1e-5), onnx.AttrFloat("momentum", 0.9))
	b.node("Relu", relu, []string{bn}, []string{relu})
	return relu
}

// decoupled adds a DecoupledConv node without bias, α = 1 and, when the
// magnitude uses it, ρ = (rho_r² + 1e-4)·rho_scale computed by three
// nodes.
func (b *graphBuilder) decoupled(name, x, w string, cout int, op convert.Operator, geometry []*onnx.AttributeProto) {
	alpha := name + ".alpha"
	b.init(alpha, []int{cout}, filled(cout, 1))
	inputs := []string{x, w, "", alpha}
	if usesRho(op.Magnitude) {
		r, scale := name+".rho_r", name+".rho_scale"
		b.init(r, []int{cout}, filled(cout, float32(math.Sqrt(1-rhoOffset))))
		b.init(scale, []int{}, []float32{1})
		b.init(name+".rho_offset", []int{}, []float32{rhoOffset})
		b.node("Mul", name+"/rho_sq", []string{r, r}, []string{name + "/rho_sq"})
		b.node("Add", name+"/rho_add", []string{name + "/rho_sq", name + ".rho_offset"}, []string{name + "/rho_rel"})
		b.node("Mul", name+"/rho", []string{name + "/rho_rel", scale}, []string{name + "/rho"})
		inputs = append(inputs, name+"/rho")
	}
	attrs := append([]*onnx.AttributeProto{
		onnx.AttrString("magnitude", op.Magnitude.String()),
		onnx.AttrString("angular", op.Angular.String()),
		onnx.AttrInt("weighted", boolInt(op.Weighted)),
	}, geometry...)
	n := b.node(decop.OpType, name, inputs, []string{name}, attrs...)
	n.Domain = str(decop.Domain)
}

func boolInt(v bool) int64 {
	if v {
		return 1
	}
	return 0
}

// usesRho reports whether a magnitude function has the parameter ρ.
func usesRho(m decop.Magnitude) bool {
	return m == decop.Ball || m == decop.Tanh || m == decop.Seg
}

// fixedParams are the initializers of a decoupled CNN9 that do not train:
// α (fixed to 1) and the constants of ρ's parameterisation.
func fixedParams(m *onnx.ModelProto) map[string]bool {
	out := map[string]bool{}
	for _, t := range m.GetGraph().GetInitializer() {
		name := t.GetName()
		if hasSuffix(name, ".alpha") || hasSuffix(name, ".rho_scale") || hasSuffix(name, ".rho_offset") {
			out[name] = true
		}
	}
	return out
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
