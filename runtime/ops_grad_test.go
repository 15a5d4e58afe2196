package runtime_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Finite-difference checks of every backward kernel, one case per operator
// and attribute variant (see grad_check_test.go for the method and the
// tolerance).

func TestGradFiniteDifferences(t *testing.T) {
	cases := gradCases()
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.spec.op] = true
		t.Run(c.name, func(t *testing.T) {
			for _, threads := range []int{1, 2} {
				runGradCase(t, c, threads)
			}
		})
	}
	gradWorst.log(t)
	for _, op := range runtime.Builtins().GradOps() {
		if !covered[op] {
			t.Errorf("operator %s has a gradient but no finite-difference case", op)
		}
	}
}

func gradCases() []*gradCase {
	rng := rand.New(rand.NewPCG(1, 2))
	var cases []*gradCase
	add := func(c ...*gradCase) { cases = append(cases, c...) }
	add(convGradCases(rng)...)
	add(poolGradCases(rng)...)
	add(gemmGradCases(rng)...)
	add(normGradCases(rng)...)
	add(activationGradCases(rng)...)
	add(elementwiseGradCases(rng)...)
	add(shapeGradCases(rng)...)
	return cases
}

// ---- Conv ----

func convGradCases(rng *rand.Rand) []*gradCase {
	fixed := []*convCase{
		{batch: 2, c: 3, m: 4, group: 1, spatial: []int{6, 5}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
		{batch: 2, c: 4, m: 6, group: 2, spatial: []int{7, 6}, kernel: []int{3, 2}, strides: []int{2, 1}, dilations: []int{1, 2}, pads: []int{1, 0, 2, 1}},
		{batch: 3, c: 3, m: 6, group: 3, spatial: []int{5, 5}, kernel: []int{3, 3}, strides: []int{2, 2}, dilations: []int{2, 2}, pads: []int{2, 2, 2, 2}},
		{batch: 2, c: 5, m: 3, group: 1, spatial: []int{4, 4}, kernel: []int{1, 1}},
		{batch: 2, c: 2, m: 3, group: 1, spatial: []int{9}, kernel: []int{3}, strides: []int{2}, pads: []int{1, 2}},
		{batch: 2, c: 2, m: 2, group: 1, spatial: []int{5, 6}, kernel: []int{3, 3}, strides: []int{2, 2}, autoPad: "SAME_UPPER"},
		{batch: 2, c: 2, m: 2, group: 1, spatial: []int{5, 6}, kernel: []int{2, 3}, strides: []int{2, 1}, autoPad: "SAME_LOWER"},
		// Many small images: the workers batch several into one patch matrix.
		{batch: 7, c: 3, m: 5, group: 1, spatial: []int{3, 3}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
		// Large images: one per patch matrix, several chunks per worker.
		{batch: 5, c: 2, m: 3, group: 1, spatial: []int{24, 24}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
		// Layers Winograd's F(2×2, 3×3) computes (with its vector kernels; the portable ones
		// run them where DCNET_CONV=generic): both gradients come from its transforms.
		{batch: 3, c: 16, m: 17, group: 1, spatial: []int{9, 12}, kernel: []int{3, 3}, pads: []int{0, 1, 2, 0}},
		{batch: 9, c: 16, m: 16, group: 1, spatial: []int{5, 6}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
	}
	var cases []*gradCase
	for i, cc := range fixed {
		xShape := append([]int{cc.batch, cc.c}, cc.spatial...)
		wShape := append([]int{cc.m, cc.c / cc.group}, cc.kernel...)
		cc.x, cc.w, cc.b = gradUniform(rng, -1, 1, xShape...), gradUniform(rng, -1, 1, wShape...), gradUniform(rng, -1, 1, cc.m)
		cases = append(cases, convGradCase(cc, "Conv/fixed"+strconv.Itoa(i), nil))
	}
	for i := range 6 {
		cc := randomConvCase(rng)
		if cc.b == nil {
			cc.b = gradUniform(rng, -1, 1, cc.m)
		}
		cases = append(cases, convGradCase(cc, "Conv/random"+string(rune('0'+i)), nil))
	}
	// x as data: only dW and dB.
	cc := fixed[1]
	cases = append(cases, convGradCase(cc, "Conv/data_x", map[int]bool{0: true}))
	return cases
}

func convGradCase(cc *convCase, name string, data map[int]bool) *gradCase {
	ns := cc.spec(false)
	return &gradCase{name: name, spec: ns, data: data, ref: func(in []*runtime.Tensor) []*runtime.Tensor {
		var b []float64
		if len(in) > 2 {
			b = in[2].Float64s()
		}
		return []*runtime.Tensor{runtime.New(cc.outShape(), convReference64(cc, in[0].Float64s(), in[1].Float64s(), b))}
	}}
}

// convReference64 is Conv in float64 with cc's geometry and the given data.
func convReference64(cc *convCase, x, w, b []float64) []float64 {
	out := cc.outShape()
	in, k, o := []int{1, 1}, []int{1, 1}, []int{1, out[len(out)-1]}
	s, d, pb := []int{1, 1}, []int{1, 1}, []int{0, 0}
	for i := range cc.spatial {
		j := 2 - len(cc.spatial) + i
		in[j], k[j], o[j] = cc.spatial[i], cc.kernel[i], out[2+i]
		s[j], d[j], _, _ = cc.axis(i)
		pb[j], _ = cc.resolvedPads(i)
	}
	cg, mg := cc.c/cc.group, cc.m/cc.group
	var y []float64
	for n := range cc.batch {
		for m := range cc.m {
			for oy := range o[0] {
				for ox := range o[1] {
					var sum float64
					if b != nil {
						sum = b[m]
					}
					for c := range cg {
						ci := m/mg*cg + c
						for ky := range k[0] {
							for kx := range k[1] {
								iy, ix := oy*s[0]-pb[0]+ky*d[0], ox*s[1]-pb[1]+kx*d[1]
								if iy < 0 || iy >= in[0] || ix < 0 || ix >= in[1] {
									continue
								}
								sum += x[((n*cc.c+ci)*in[0]+iy)*in[1]+ix] * w[((m*cg+c)*k[0]+ky)*k[1]+kx]
							}
						}
					}
					y = append(y, sum)
				}
			}
		}
	}
	return y
}

// ---- Pooling ----

func poolGradCases(rng *rand.Rand) []*gradCase {
	type pc struct {
		name  string
		op    string
		shape []int
		attrs []*onnx.AttributeProto
		opset int
	}
	list := []pc{
		{"MaxPool/2x2s2", "MaxPool", []int{2, 3, 6, 6}, []*onnx.AttributeProto{attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2)}, 12},
		{"MaxPool/3x3s2pad1", "MaxPool", []int{2, 2, 7, 6}, []*onnx.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 1)}, 12},
		{"MaxPool/ceil_dilation", "MaxPool", []int{1, 2, 8, 7}, []*onnx.AttributeProto{attrInts("kernel_shape", 2, 3), attrInts("strides", 2, 2), attrInts("dilations", 2, 1), attrInt("ceil_mode", 1)}, 12},
		{"MaxPool/1d", "MaxPool", []int{2, 3, 9}, []*onnx.AttributeProto{attrInts("kernel_shape", 3), attrInts("strides", 2), attrInts("pads", 1, 1)}, 12},
		{"MaxPool/3d", "MaxPool", []int{1, 2, 4, 4, 5}, []*onnx.AttributeProto{attrInts("kernel_shape", 2, 2, 2), attrInts("strides", 2, 1, 2)}, 12},
		{"MaxPool/same_upper", "MaxPool", []int{1, 2, 5, 5}, []*onnx.AttributeProto{attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2), attrString("auto_pad", "SAME_UPPER")}, 12},
		{"AveragePool/pads", "AveragePool", []int{2, 2, 6, 7}, []*onnx.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 1)}, 19},
		{"AveragePool/pads_countpad", "AveragePool", []int{2, 2, 6, 7}, []*onnx.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 1), attrInt("count_include_pad", 1)}, 19},
		{"AveragePool/ceil", "AveragePool", []int{1, 2, 7, 8}, []*onnx.AttributeProto{attrInts("kernel_shape", 3, 2), attrInts("strides", 2, 3), attrInt("ceil_mode", 1)}, 19},
		{"AveragePool/ceil_pads_countpad", "AveragePool", []int{1, 2, 7, 8}, []*onnx.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrInts("pads", 1, 0, 1, 2), attrInt("ceil_mode", 1), attrInt("count_include_pad", 1)}, 19},
		{"AveragePool/dilation", "AveragePool", []int{1, 2, 8, 8}, []*onnx.AttributeProto{attrInts("kernel_shape", 2, 2), attrInts("dilations", 2, 2), attrInts("pads", 1, 1, 0, 0)}, 19},
		{"AveragePool/1d", "AveragePool", []int{2, 2, 9}, []*onnx.AttributeProto{attrInts("kernel_shape", 4), attrInts("strides", 2), attrInts("pads", 1, 2), attrInt("count_include_pad", 1)}, 19},
		{"AveragePool/3d", "AveragePool", []int{1, 2, 4, 5, 4}, []*onnx.AttributeProto{attrInts("kernel_shape", 2, 3, 2), attrInts("pads", 0, 1, 1, 1, 1, 0)}, 19},
		{"GlobalAveragePool", "GlobalAveragePool", []int{2, 3, 5, 4}, nil, 17},
		{"GlobalMaxPool", "GlobalMaxPool", []int{2, 3, 5, 4}, nil, 17},
	}
	var cases []*gradCase
	for _, p := range list {
		x := gradUniform(rng, -1, 1, p.shape...)
		if p.op == "MaxPool" || p.op == "GlobalMaxPool" {
			x = gradDistinct(rng, p.shape...)
		}
		cases = append(cases, &gradCase{name: p.name, spec: nodeSpec{op: p.op, opset: p.opset, attrs: p.attrs, inputs: []*runtime.Tensor{x}}})
	}
	// ReduceMean and ReduceSum, the dynamo exporter's pooling.
	x := gradUniform(rng, -1, 1, 2, 3, 4, 5)
	cases = append(cases,
		&gradCase{name: "ReduceMean/axes_attr", spec: nodeSpec{op: "ReduceMean", opset: 13, attrs: []*onnx.AttributeProto{attrInts("axes", 2, 3)}, inputs: []*runtime.Tensor{x}}},
		&gradCase{name: "ReduceMean/axes_input_nokeep", spec: nodeSpec{op: "ReduceMean", opset: 18, attrs: []*onnx.AttributeProto{attrInt("keepdims", 0)}, inputs: []*runtime.Tensor{x, gradInt64(-1, 1)}}},
		&gradCase{name: "ReduceMean/all", spec: nodeSpec{op: "ReduceMean", opset: 18, inputs: []*runtime.Tensor{x}}},
		&gradCase{name: "ReduceSum/axes_input", spec: nodeSpec{op: "ReduceSum", opset: 13, inputs: []*runtime.Tensor{x, gradInt64(0, 2)}}},
	)
	return cases
}

// ---- Gemm, MatMul ----

func gemmGradCases(rng *rand.Rand) []*gradCase {
	var cases []*gradCase
	m, k, n := 4, 5, 3
	for _, ta := range []int64{0, 1} {
		for _, tb := range []int64{0, 1} {
			aShape, bShape := []int{m, k}, []int{k, n}
			if ta == 1 {
				aShape = []int{k, m}
			}
			if tb == 1 {
				bShape = []int{n, k}
			}
			for ci, cShape := range [][]int{{n}, {m, 1}, {m, n}, {}, {1}, nil} {
				in := []*runtime.Tensor{gradUniform(rng, -1, 1, aShape...), gradUniform(rng, -1, 1, bShape...)}
				if cShape != nil {
					in = append(in, gradUniform(rng, -1, 1, cShape...))
				}
				attrs := []*onnx.AttributeProto{attrInt("transA", ta), attrInt("transB", tb), attrFloat("alpha", 0.7), attrFloat("beta", -1.3)}
				name := "Gemm/tA" + string(rune('0'+ta)) + "_tB" + string(rune('0'+tb)) + "_C" + string(rune('0'+ci))
				cases = append(cases, &gradCase{name: name, spec: nodeSpec{op: "Gemm", opset: 13, attrs: attrs, inputs: in}})
			}
		}
	}
	for i, shapes := range [][2][]int{
		{{4, 5}, {5, 3}},
		{{2, 3, 4, 5}, {5, 6}},
		{{2, 1, 3, 4}, {3, 4, 5}},
		{{4}, {4, 5}},
		{{2, 3, 4}, {4}},
		{{3, 4}, {2, 4, 2}},
	} {
		in := []*runtime.Tensor{gradUniform(rng, -1, 1, shapes[0]...), gradUniform(rng, -1, 1, shapes[1]...)}
		cases = append(cases, &gradCase{name: "MatMul/" + string(rune('0'+i)), spec: nodeSpec{op: "MatMul", opset: 13, inputs: in}})
	}
	return cases
}

// ---- Normalisation ----

func normGradCases(rng *rand.Rand) []*gradCase {
	var cases []*gradCase
	bnTraining := func(ns nodeSpec) nodeSpec {
		ns.opset = 15
		ns.attrs = append(slices.Clone(ns.attrs), attrInt("training_mode", 1))
		return ns
	}
	for _, shape := range [][]int{{3, 4, 5, 6}, {6, 3}, {2, 3, 7}} {
		c := shape[1]
		in := []*runtime.Tensor{
			gradUniform(rng, -2, 3, shape...), gradUniform(rng, 0.5, 1.5, c), gradUniform(rng, -1, 1, c),
			gradUniform(rng, -1, 1, c), gradUniform(rng, 0.5, 2, c),
		}
		attrs := []*onnx.AttributeProto{attrFloat("epsilon", 1e-3), attrFloat("momentum", 0.8)}
		cases = append(cases,
			&gradCase{name: "BatchNormalization/training" + runtime.ShapeString(shape), spec: nodeSpec{op: "BatchNormalization", opset: 15, attrs: attrs, inputs: in}, refSpec: bnTraining},
			&gradCase{name: "BatchNormalization/frozen" + runtime.ShapeString(shape), spec: nodeSpec{op: "BatchNormalization", opset: 15, attrs: attrs, inputs: in},
				opts: []runtime.TrainerOption{runtime.WithFrozenBatchNorm(true)}},
		)
	}
	// x as data: only the affine parameters train.
	in := []*runtime.Tensor{gradUniform(rng, -1, 1, 2, 3, 4, 4), gradUniform(rng, 0.5, 1.5, 3), gradUniform(rng, -1, 1, 3), gradUniform(rng, -1, 1, 3), gradUniform(rng, 0.5, 2, 3)}
	cases = append(cases, &gradCase{name: "BatchNormalization/training_data_x", spec: nodeSpec{op: "BatchNormalization", opset: 9, inputs: in}, data: map[int]bool{0: true},
		refSpec: bnTraining})
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		x3 := gradUniform(rng, -2, 2, 2, 3, 4)
		cases = append(cases,
			&gradCase{name: op + "/axis-1", spec: nodeSpec{op: op, opset: 13, inputs: []*runtime.Tensor{gradUniform(rng, -2, 2, 4, 5)}}},
			&gradCase{name: op + "/axis1", spec: nodeSpec{op: op, opset: 13, attrs: []*onnx.AttributeProto{attrInt("axis", 1)}, inputs: []*runtime.Tensor{x3}}},
			&gradCase{name: op + "/coerced", spec: nodeSpec{op: op, opset: 11, attrs: []*onnx.AttributeProto{attrInt("axis", 1)}, inputs: []*runtime.Tensor{x3}}},
		)
	}
	return cases
}

// ---- Activations ----

func activationGradCases(rng *rand.Rand) []*gradCase {
	shape := []int{2, 3, 4, 5}
	plain := func(lo, hi float64, kinks ...float64) *runtime.Tensor {
		return gradAway(rng, lo, hi, 0.02, kinks, shape...)
	}
	type ac struct {
		op    string
		opset int
		attrs []*onnx.AttributeProto
		x     *runtime.Tensor
	}
	list := []ac{
		{"Relu", 14, nil, plain(-2, 2, 0)},
		{"LeakyRelu", 16, []*onnx.AttributeProto{attrFloat("alpha", 0.1)}, plain(-2, 2, 0)},
		{"Sigmoid", 13, nil, plain(-4, 4)},
		{"Tanh", 13, nil, plain(-3, 3)},
		{"HardSigmoid", 6, nil, plain(-4, 4, -2.5, 2.5)},
		{"HardSigmoid", 6, []*onnx.AttributeProto{attrFloat("alpha", 0.5), attrFloat("beta", 0.25)}, plain(-2, 2, -0.5, 1.5)},
		{"HardSwish", 14, nil, plain(-5, 5, -3, 3)},
		{"Gelu", 20, nil, plain(-3, 3)},
		{"Gelu", 20, []*onnx.AttributeProto{attrString("approximate", "tanh")}, plain(-3, 3)},
		{"Softplus", 1, nil, plain(-4, 4)},
		{"Softsign", 1, nil, plain(-3, 3, 0)},
		{"Elu", 6, []*onnx.AttributeProto{attrFloat("alpha", 0.7)}, plain(-2, 2, 0)},
		{"Selu", 6, nil, plain(-2, 2, 0)},
		{"Celu", 12, []*onnx.AttributeProto{attrFloat("alpha", 1.5)}, plain(-2, 2, 0)},
		{"Mish", 18, nil, plain(-3, 3)},
		{"ThresholdedRelu", 10, []*onnx.AttributeProto{attrFloat("alpha", 0.5)}, plain(-2, 2, 0.5)},
		{"Clip", 6, []*onnx.AttributeProto{attrFloat("min", -0.5), attrFloat("max", 0.8)}, plain(-2, 2, -0.5, 0.8)},
	}
	var cases []*gradCase
	for i, a := range list {
		cases = append(cases, &gradCase{name: a.op + "/" + string(rune('a'+i)), spec: nodeSpec{op: a.op, opset: a.opset, attrs: a.attrs, inputs: []*runtime.Tensor{a.x}}})
	}
	// Clip with trainable bounds, and with one bound absent.
	lo, hi := runtime.Scalar(float32(-0.5)), runtime.Scalar(float32(0.8))
	cases = append(cases,
		&gradCase{name: "Clip/bounds_inputs", spec: nodeSpec{op: "Clip", opset: 13, inputs: []*runtime.Tensor{plain(-2, 2, -0.5, 0.8), lo, hi}}},
		&gradCase{name: "Clip/max_only", spec: nodeSpec{op: "Clip", opset: 13, inputs: []*runtime.Tensor{plain(-2, 2, 0.8), nil, hi}}},
		&gradCase{name: "PRelu/channel_slope", spec: nodeSpec{op: "PRelu", opset: 16, inputs: []*runtime.Tensor{plain(-2, 2, 0), gradUniform(rng, 0.05, 0.5, 3, 1, 1)}}},
		&gradCase{name: "PRelu/full_slope", spec: nodeSpec{op: "PRelu", opset: 16, inputs: []*runtime.Tensor{plain(-2, 2, 0), gradUniform(rng, 0.05, 0.5, shape...)}}},
	)
	return cases
}

// ---- Elementwise ----

func elementwiseGradCases(rng *rand.Rand) []*gradCase {
	u := func(shape ...int) *runtime.Tensor { return gradUniform(rng, -1, 1, shape...) }
	denom := func(shape ...int) *runtime.Tensor { return gradAway(rng, -2, 2, 0.5, []float64{0}, shape...) }
	pairs := [][2][]int{{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4, 5}, {3, 1, 1}}, {{2, 1, 4}, {3, 1}}, {{3, 4}, {}}, {{1}, {2, 3}}}
	var cases []*gradCase
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for i, p := range pairs {
			b := u(p[1]...)
			if op == "Div" {
				b = denom(p[1]...)
			}
			cases = append(cases, &gradCase{name: op + "/" + string(rune('0'+i)), spec: nodeSpec{op: op, opset: 14, inputs: []*runtime.Tensor{u(p[0]...), b}}})
		}
	}
	// The same tensor on both sides: the two gradients add up.
	cases = append(cases,
		&gradCase{name: "Mul/bias_data", spec: nodeSpec{op: "Mul", opset: 14, inputs: []*runtime.Tensor{u(2, 3, 4, 4), u(1, 3, 1, 1)}}, data: map[int]bool{0: true}},
		&gradCase{name: "Sum/3", spec: nodeSpec{op: "Sum", opset: 13, inputs: []*runtime.Tensor{u(2, 3), u(3), u(2, 1)}}},
		&gradCase{name: "Mean/3", spec: nodeSpec{op: "Mean", opset: 13, inputs: []*runtime.Tensor{u(2, 3), u(3), u(2, 1)}}},
		&gradCase{name: "Neg", spec: nodeSpec{op: "Neg", opset: 13, inputs: []*runtime.Tensor{u(3, 4)}}},
	)
	return cases
}

// ---- Shape and movement ----

func shapeGradCases(rng *rand.Rand) []*gradCase {
	u := func(shape ...int) *runtime.Tensor { return gradUniform(rng, -1, 1, shape...) }
	ints := gradInt64
	return []*gradCase{
		{name: "Reshape", spec: nodeSpec{op: "Reshape", opset: 14, inputs: []*runtime.Tensor{u(2, 3, 4), ints(4, -1)}}},
		{name: "Flatten/axis1", spec: nodeSpec{op: "Flatten", opset: 13, inputs: []*runtime.Tensor{u(2, 3, 2, 2)}}},
		{name: "Flatten/axis2", spec: nodeSpec{op: "Flatten", opset: 13, attrs: []*onnx.AttributeProto{attrInt("axis", 2)}, inputs: []*runtime.Tensor{u(2, 3, 2, 2)}}},
		{name: "Squeeze/13", spec: nodeSpec{op: "Squeeze", opset: 13, inputs: []*runtime.Tensor{u(2, 1, 3, 1), ints(1, 3)}}},
		{name: "Squeeze/1", spec: nodeSpec{op: "Squeeze", opset: 11, attrs: []*onnx.AttributeProto{attrInts("axes", 1)}, inputs: []*runtime.Tensor{u(2, 1, 3)}}},
		{name: "Unsqueeze/13", spec: nodeSpec{op: "Unsqueeze", opset: 13, inputs: []*runtime.Tensor{u(2, 3), ints(0, 3)}}},
		{name: "Identity", spec: nodeSpec{op: "Identity", opset: 16, inputs: []*runtime.Tensor{u(3, 2)}}},
		{name: "Dropout/12", spec: nodeSpec{op: "Dropout", opset: 13, inputs: []*runtime.Tensor{u(3, 4)}, outputs: 2}},
		{name: "Dropout/7", spec: nodeSpec{op: "Dropout", opset: 7, attrs: []*onnx.AttributeProto{attrFloat("ratio", 0.3)}, inputs: []*runtime.Tensor{u(3, 4)}}},
		{name: "Transpose/perm", spec: nodeSpec{op: "Transpose", opset: 13, attrs: []*onnx.AttributeProto{attrInts("perm", 2, 0, 3, 1)}, inputs: []*runtime.Tensor{u(2, 3, 4, 5)}}},
		{name: "Transpose/default", spec: nodeSpec{op: "Transpose", opset: 13, inputs: []*runtime.Tensor{u(2, 3, 4)}}},
		{name: "Concat/axis1", spec: nodeSpec{op: "Concat", opset: 13, attrs: []*onnx.AttributeProto{attrInt("axis", 1)}, inputs: []*runtime.Tensor{u(2, 1, 3), u(2, 4, 3), u(2, 2, 3)}}},
		{name: "Concat/axis-1", spec: nodeSpec{op: "Concat", opset: 13, attrs: []*onnx.AttributeProto{attrInt("axis", -1)}, inputs: []*runtime.Tensor{u(2, 3, 2), u(2, 3, 1)}}},
		{name: "Split/13", spec: nodeSpec{op: "Split", opset: 13, attrs: []*onnx.AttributeProto{attrInt("axis", 1)}, inputs: []*runtime.Tensor{u(2, 5, 3), ints(2, 3)}, outputs: 2}},
		{name: "Split/18", spec: nodeSpec{op: "Split", opset: 18, attrs: []*onnx.AttributeProto{attrInt("axis", -1), attrInt("num_outputs", 3)}, inputs: []*runtime.Tensor{u(2, 3, 7)}, outputs: 3}},
		{name: "Split/2", spec: nodeSpec{op: "Split", opset: 11, attrs: []*onnx.AttributeProto{attrInt("axis", 0), attrInts("split", 1, 3)}, inputs: []*runtime.Tensor{u(4, 3)}, outputs: 2}},
		{name: "Expand", spec: nodeSpec{op: "Expand", opset: 13, inputs: []*runtime.Tensor{u(3, 1), ints(2, 3, 4)}}},
		{name: "Pad/18", spec: nodeSpec{op: "Pad", opset: 18, inputs: []*runtime.Tensor{u(2, 3, 4, 5), ints(0, 1, -1, 2, 0, 2, 1, -2), runtime.Scalar(float32(0.3))}}},
		{name: "Pad/axes", spec: nodeSpec{op: "Pad", opset: 18, inputs: []*runtime.Tensor{u(2, 3, 4, 5), ints(2, 1, 0, 3), nil, ints(-1, 1)}}},
		{name: "Pad/2", spec: nodeSpec{op: "Pad", opset: 2, attrs: []*onnx.AttributeProto{attrInts("pads", 0, 1, 2, 1, 0, 1), attrFloat("value", 1.5)}, inputs: []*runtime.Tensor{u(2, 3, 4)}}},
	}
}
