package runtime_test

import (
	"math"
	"math/rand"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Tests for activation.go. References are the textbook formulas evaluated
// in float64 over a moderate range, asymptotic expansions in the tails
// (where the textbook formulas cancel or overflow), and the mathematical
// limits at ±Inf.

// actCase is one activation with its attributes and textbook formula.
type actCase struct {
	name  string
	op    string
	opset int
	attrs []*onnx.AttributeProto
	ref   func(x float64) float64
	// at lists exact expected values at special inputs: limits at ±Inf and
	// the values at ±3e38, where the textbook formula may give NaN.
	at map[float64]float64
}

const (
	actSeluAlpha = 1.67326319217681884765625
	actSeluGamma = 1.05070102214813232421875
	actHuge      = 3e38
)

func actCases() []actCase {
	inf := math.Inf(1)
	h := float64(float32(actHuge))
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	softplus := func(x float64) float64 { return math.Log(1 + math.Exp(x)) }
	return []actCase{
		{"Relu", "Relu", 14, nil, func(x float64) float64 { return math.Max(x, 0) },
			map[float64]float64{inf: inf, -inf: 0, h: h, -h: 0}},
		{"LeakyRelu", "LeakyRelu", 16, []*onnx.AttributeProto{attrFloat("alpha", 0.1)}, func(x float64) float64 {
			if x < 0 {
				return float64(float32(0.1)) * x
			}
			return x
		}, map[float64]float64{inf: inf, -inf: -inf, h: h, -h: float64(float32(0.1) * float32(-h))}},
		{"LeakyReluDefault", "LeakyRelu", 6, nil, func(x float64) float64 {
			if x < 0 {
				return float64(float32(0.01)) * x
			}
			return x
		}, map[float64]float64{inf: inf, -inf: -inf}},
		{"Sigmoid", "Sigmoid", 13, nil, sigmoid, map[float64]float64{inf: 1, -inf: 0, h: 1, -h: 0}},
		{"HardSigmoid", "HardSigmoid", 6, []*onnx.AttributeProto{attrFloat("alpha", 0.5), attrFloat("beta", 0.6)}, func(x float64) float64 {
			return math.Max(0, math.Min(1, float64(float32(0.5))*x+float64(float32(0.6))))
		}, map[float64]float64{inf: 1, -inf: 0, h: 1, -h: 0}},
		{"HardSigmoidDefault", "HardSigmoid", 6, nil, func(x float64) float64 {
			return math.Max(0, math.Min(1, float64(float32(0.2))*x+0.5))
		}, map[float64]float64{inf: 1, -inf: 0}},
		{"HardSwish", "HardSwish", 14, nil, func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) },
			map[float64]float64{inf: inf, -inf: 0, h: h, -h: 0}},
		{"Tanh", "Tanh", 13, nil, math.Tanh, map[float64]float64{inf: 1, -inf: -1, h: 1, -h: -1}},
		{"Gelu", "Gelu", 20, nil, func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
			map[float64]float64{inf: inf, -inf: 0, h: h, -h: 0}},
		{"GeluTanh", "Gelu", 20, []*onnx.AttributeProto{attrString("approximate", "tanh")}, func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}, map[float64]float64{inf: inf, -inf: 0, h: h, -h: 0}},
		{"Softplus", "Softplus", 1, nil, softplus, map[float64]float64{inf: inf, -inf: 0, h: h, -h: 0}},
		{"Softsign", "Softsign", 1, nil, func(x float64) float64 { return x / (1 + math.Abs(x)) },
			map[float64]float64{inf: 1, -inf: -1, h: 1, -h: -1}},
		{"Elu", "Elu", 6, []*onnx.AttributeProto{attrFloat("alpha", 2)}, func(x float64) float64 {
			if x < 0 {
				return 2 * (math.Exp(x) - 1)
			}
			return x
		}, map[float64]float64{inf: inf, -inf: -2, h: h, -h: -2}},
		{"Selu", "Selu", 6, nil, func(x float64) float64 {
			if x <= 0 {
				return float64(float32(actSeluGamma)) * (float64(float32(actSeluAlpha))*math.Exp(x) - float64(float32(actSeluAlpha)))
			}
			return float64(float32(actSeluGamma)) * x
		}, map[float64]float64{inf: inf, -inf: float64(float32(float64(float32(actSeluGamma)) * -float64(float32(actSeluAlpha)))), h: float64(float32(float64(float32(actSeluGamma)) * h))}},
		{"Celu", "Celu", 12, []*onnx.AttributeProto{attrFloat("alpha", 2)}, func(x float64) float64 {
			return math.Max(0, x) + math.Min(0, 2*(math.Exp(x/2)-1))
		}, map[float64]float64{inf: inf, -inf: -2, h: h, -h: -2}},
		{"Mish", "Mish", 18, nil, func(x float64) float64 { return x * math.Tanh(softplus(x)) },
			map[float64]float64{inf: inf, -inf: 0, h: h, -h: 0}},
		{"ThresholdedRelu", "ThresholdedRelu", 10, []*onnx.AttributeProto{attrFloat("alpha", 1.5)}, func(x float64) float64 {
			if x > 1.5 {
				return x
			}
			return 0
		}, map[float64]float64{inf: inf, -inf: 0, h: h, -h: 0}},
	}
}

// actGrid is [-12, 12] in steps of 1/32 (exact in float32), plus values
// near zero.
func actGrid() []float32 {
	var xs []float32
	for i := -384; i <= 384; i++ {
		xs = append(xs, float32(i)/32)
	}
	return append(xs, 1e-20, -1e-20, 1e-7, -1e-7, float32(math.Copysign(0, -1)))
}

func actRun(t *testing.T, c actCase, threads int, x *runtime.Tensor) *runtime.Tensor {
	t.Helper()
	return ewRun(t, c.op, c.opset, c.attrs, threads, x)
}

func TestActivationsMatchFloat64(t *testing.T) {
	xs := actGrid()
	x64 := make([]float64, len(xs))
	for i, v := range xs {
		x64[i] = float64(v)
	}
	for _, c := range actCases() {
		g32 := actRun(t, c, 1, runtime.New([]int{len(xs)}, xs)).Float32s()
		g64 := actRun(t, c, 1, runtime.New([]int{len(xs)}, x64)).Float64s()
		for i, x := range x64 {
			want := c.ref(x)
			// The textbook formulas are accurate to ~1e-15 absolute on this
			// range; float32 adds one rounding (6e-8 relative).
			if !ewNear(float64(g32[i]), want, 1e-6, 1e-12) {
				t.Errorf("%s float32(%v) = %v, want %v", c.name, x, g32[i], want)
			}
			if !ewNear(g64[i], want, 1e-12, 1e-14) {
				t.Errorf("%s float64(%v) = %v, want %v", c.name, x, g64[i], want)
			}
		}
	}
}

func TestActivationsSpecialValues(t *testing.T) {
	for _, c := range actCases() {
		var xs []float32
		var want []float64
		for x, y := range c.at {
			xs = append(xs, float32(x))
			want = append(want, y)
		}
		xs = append(xs, float32(math.NaN()))
		for _, dt := range []runtime.DType{runtime.Float32, runtime.Float64} {
			in := runtime.New([]int{len(xs)}, xs)
			if dt == runtime.Float64 {
				in = runtime.New([]int{len(xs)}, convert(xs))
			}
			got := (actRun(t, c, 1, in)).Float64Values()
			for i := range want {
				w := want[i]
				if dt == runtime.Float32 {
					w = float64(float32(w))
				}
				if !ewNear(got[i], w, 1e-6, 0) {
					t.Errorf("%s %v(%v) = %v, want %v", c.name, dt, xs[i], got[i], w)
				}
			}
			if last := got[len(got)-1]; !math.IsNaN(last) {
				t.Errorf("%s %v(NaN) = %v, want NaN", c.name, dt, last)
			}
		}
	}
}

// TestActivationTails checks the regions where the textbook formulas lose
// all accuracy against asymptotic expansions.
func TestActivationTails(t *testing.T) {
	byName := map[string]actCase{}
	for _, c := range actCases() {
		byName[c.name] = c
	}
	// erfc(z) ~ e^(−z²)/(z√π) · Σ (−1)^n (2n−1)!!/(2z²)^n.
	erfcAsym := func(z float64) float64 {
		sum, term := 0.0, 1.0
		for n := 0; n < 7; n++ {
			sum += term
			term *= -float64(2*n+1) / (2 * z * z)
		}
		return math.Exp(-z*z) / (z * math.Sqrt(math.Pi)) * sum
	}
	tails := []struct {
		name string
		xs   []float64
		ref  func(x float64) float64
	}{
		{"Softplus", []float64{-20, -40, -60, -80}, func(x float64) float64 { return math.Exp(x) - math.Exp(2*x)/2 }},
		{"Softplus", []float64{20, 40, 1e10}, func(x float64) float64 { return x }},
		{"Gelu", []float64{-8, -10, -12}, func(x float64) float64 { return 0.5 * x * erfcAsym(-x/math.Sqrt2) }},
		{"GeluTanh", []float64{-5, -8}, func(x float64) float64 {
			u := math.Sqrt(2/math.Pi) * (x + 0.044715*x*x*x)
			return x * math.Exp(2*u) / (1 + math.Exp(2*u))
		}},
		{"Mish", []float64{-20, -40, -80}, func(x float64) float64 { return x * math.Exp(x) }},
		{"Elu", []float64{-1e-20, -1e-10}, func(x float64) float64 { return 2 * (x + x*x/2) }},
		{"Celu", []float64{-1e-20, -1e-10}, func(x float64) float64 { return x + x*x/4 }},
		{"Selu", []float64{-1e-20}, func(x float64) float64 {
			return float64(float32(actSeluGamma)) * float64(float32(actSeluAlpha)) * x
		}},
		{"Sigmoid", []float64{-20, -40, -80}, func(x float64) float64 { return math.Exp(x) / (1 + math.Exp(x)) }},
		{"Softsign", []float64{1e30, -1e30}, func(x float64) float64 { return math.Copysign(1, x) }},
	}
	for _, tc := range tails {
		xs := make([]float32, len(tc.xs))
		for i, x := range tc.xs {
			xs[i] = float32(x)
		}
		got := actRun(t, byName[tc.name], 1, runtime.New([]int{len(xs)}, xs)).Float32s()
		for i, x := range xs {
			want := tc.ref(float64(x))
			if !ewNear(float64(got[i]), want, 1e-6, 0) {
				t.Errorf("%s tail(%v) = %v, want %v", tc.name, x, got[i], want)
			}
		}
	}
}

// TestActivationsParallelAndHalf runs every activation over a tensor big
// enough to be split between two threads, in float32 and float16.
func TestActivationsParallelAndHalf(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	n := 1 << 17
	xs, hs := make([]float32, n), make([]uint16, n)
	for i := range xs {
		hs[i] = onnx.Float32ToFloat16(rng.Float32()*16 - 8)
		xs[i] = onnx.Float16ToFloat32(hs[i])
	}
	for _, c := range actCases() {
		got := actRun(t, c, 2, runtime.New([]int{2, n / 2}, xs)).Float32s()
		half := runtime.Values[uint16](actRun(t, c, 2, runtime.New([]int{n}, hs)))
		for i, x := range xs {
			want := c.ref(float64(x))
			if !ewNear(float64(got[i]), want, 1e-6, 1e-12) {
				t.Fatalf("%s float32(%v) = %v, want %v", c.name, x, got[i], want)
			}
			if h := onnx.Float16ToFloat32(half[i]); !ewNear(float64(h), want, 1e-3, 6e-8) {
				t.Fatalf("%s float16(%v) = %v, want %v", c.name, x, h, want)
			}
		}
	}
}

func TestClipVersionsAndTypes(t *testing.T) {
	nan := float32(math.NaN())
	x := runtime.New([]int{7}, []float32{-10, -1, 0, 2.5, 6, 100, nan})
	clip := func(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }
	check := func(name string, got *runtime.Tensor, lo, hi float64) {
		t.Helper()
		for i, v := range x.Float32s() {
			want := clip(float64(v), lo, hi)
			g := (got).Float64Values()[i]
			if g != want && !(math.IsNaN(g) && math.IsNaN(want)) {
				t.Errorf("%s: Clip(%v) = %v, want %v", name, v, g, want)
			}
		}
	}
	inf := math.Inf(1)
	lo, hi := runtime.Scalar(float32(0)), runtime.Scalar(float32(6))
	check("opset 6 attributes", ewRun(t, "Clip", 6, []*onnx.AttributeProto{attrFloat("min", 0), attrFloat("max", 6)}, 1, x), 0, 6)
	check("opset 6 defaults", ewRun(t, "Clip", 6, []*onnx.AttributeProto{attrFloat("max", 1)}, 1, x), -math.MaxFloat32, 1)
	check("opset 13 both", ewRun(t, "Clip", 13, nil, 1, x, lo, hi), 0, 6)
	check("opset 13 max only", nodeSpec{op: "Clip", opset: 13, inputs: []*runtime.Tensor{x, nil, hi}}.mustRun(t)[0], -inf, 6)
	check("opset 13 min only", ewRun(t, "Clip", 13, nil, 1, x, lo), 0, inf)
	check("opset 11 none", ewRun(t, "Clip", 11, nil, 1, x), -inf, inf)
	check("constant bounds", nodeSpec{op: "Clip", opset: 13, inputs: []*runtime.Tensor{x, lo, hi}, constant: map[int]bool{1: true, 2: true}}.mustRun(t, runtime.WithoutConstantFolding())[0], 0, 6)
	check("min > max gives max", ewRun(t, "Clip", 13, nil, 1, x, hi, lo), 6, 0)
	check("bounds of shape [1]", ewRun(t, "Clip", 13, nil, 1, x, runtime.New([]int{1}, []float32{-1}), runtime.New([]int{1}, []float32{2})), -1, 2)

	xi := runtime.New([]int{5}, []int8{-128, -5, 0, 5, 127})
	gi := runtime.Values[int8](ewRun(t, "Clip", 13, nil, 1, xi, runtime.Scalar(int8(-3)), runtime.Scalar(int8(4))))
	for i, want := range []int8{-3, -3, 0, 4, 4} {
		if gi[i] != want {
			t.Errorf("int8 Clip element %d = %d, want %d", i, gi[i], want)
		}
	}
	x64 := runtime.New([]int{3}, []int64{math.MinInt64, 0, math.MaxInt64})
	g64 := ewRun(t, "Clip", 13, nil, 1, x64, nil).Int64s()
	if g64[0] != math.MinInt64 || g64[2] != math.MaxInt64 {
		t.Errorf("int64 Clip without bounds changed values: %v", g64)
	}
	ewWantError(t, nodeSpec{op: "Clip", opset: 13, inputs: []*runtime.Tensor{x, runtime.Scalar(float64(0))}}, "DOUBLE", "min")
	ewWantError(t, nodeSpec{op: "Clip", opset: 13, inputs: []*runtime.Tensor{x, nil, runtime.New([]int{2}, []float32{1, 2})}}, "max", "scalar")
	ewWantError(t, nodeSpec{op: "Clip", opset: 6, attrs: []*onnx.AttributeProto{attrInt("min", 0)}, inputs: []*runtime.Tensor{x}}, `"min"`, "INT")
}

func TestPReluBroadcast(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, c := range [][2][]int{
		{{2, 3, 4, 5}, {3, 1, 1}},    // per channel
		{{2, 3, 4, 5}, {1}},          // one slope
		{{2, 3, 4, 5}, {2, 3, 4, 5}}, // elementwise
		{{2, 3, 4, 5}, {5}},
		{{1, 16, 64, 64}, {16, 1, 1}}, // split between threads
		{{0, 3, 2}, {3, 1}},
	} {
		x, s := ewRandF32(rng, c[0]), ewRandF32(rng, c[1])
		got := ewRun(t, "PRelu", 16, nil, 2, x, s)
		if !runtime.SameShape(got.Shape(), c[0]) {
			t.Fatalf("PRelu %v %v: shape %v", c[0], c[1], got.Shape())
		}
		for i, g := range got.Float32s() {
			v, slope := x.Float32s()[i], s.Float32s()[ewIndex(c[0], c[1], i)]
			want := float64(v)
			if v < 0 {
				want = float64(v) * float64(slope)
			}
			if g != float32(want) {
				t.Fatalf("PRelu %v %v: element %d = %v, want %v", c[0], c[1], i, g, want)
			}
		}
	}
	gi := ewRun(t, "PRelu", 16, nil, 1, runtime.New([]int{3}, []int32{-4, 0, 5}), runtime.Scalar(int32(3))).Data().([]int32)
	if gi[0] != -12 || gi[1] != 0 || gi[2] != 5 {
		t.Errorf("int32 PRelu = %v", gi)
	}
	// Unidirectional: the slope may not enlarge the input.
	ewWantError(t, nodeSpec{op: "PRelu", inputs: []*runtime.Tensor{ewRandF32(rng, []int{3, 1}), ewRandF32(rng, []int{4})}}, "slope shape [4]", "[3 1]")
	ewWantError(t, nodeSpec{op: "PRelu", inputs: []*runtime.Tensor{ewRandF32(rng, []int{3, 2}), ewRandF32(rng, []int{3})}}, "cannot be broadcast")
}

func TestReluIntegerTypes(t *testing.T) {
	for _, in := range []*runtime.Tensor{
		runtime.New([]int{4}, []int64{-9, 0, 9, math.MinInt64}),
		runtime.New([]int{4}, []int32{-9, 0, 9, math.MinInt32}),
		runtime.New([]int{4}, []int8{-9, 0, 9, -128}),
	} {
		got := (ewRun(t, "Relu", 14, nil, 1, in)).Float64Values()
		for i, v := range (in).Float64Values() {
			if want := math.Max(v, 0); got[i] != want {
				t.Errorf("%v Relu(%v) = %v, want %v", in.DType(), v, got[i], want)
			}
		}
	}
	ewWantError(t, nodeSpec{op: "Sigmoid", inputs: []*runtime.Tensor{runtime.Scalar(int32(1))}}, "INT32")
}

func TestActivationAttributeErrors(t *testing.T) {
	x := runtime.New([]int{2}, []float32{-1, 1})
	ewWantError(t, nodeSpec{op: "LeakyRelu", attrs: []*onnx.AttributeProto{attrInt("alpha", 1)}, inputs: []*runtime.Tensor{x}}, `attribute "alpha"`, "FLOAT", "INT")
	ewWantError(t, nodeSpec{op: "Gelu", opset: 20, attrs: []*onnx.AttributeProto{attrString("approximate", "fast")}, inputs: []*runtime.Tensor{x}}, `"approximate"`, "fast")
	ewWantError(t, nodeSpec{op: "Celu", opset: 12, attrs: []*onnx.AttributeProto{attrFloat("alpha", 0)}, inputs: []*runtime.Tensor{x}}, `"alpha"`)
	ewWantError(t, nodeSpec{op: "Selu", attrs: []*onnx.AttributeProto{attrFloats("gamma", 1, 2)}, inputs: []*runtime.Tensor{x}}, `"gamma"`)
	ewWantError(t, nodeSpec{op: "Relu", inputs: []*runtime.Tensor{x, x}}, "expected 1 inputs")
	// Gelu only exists from opset 20.
	if _, err := (nodeSpec{op: "Gelu", opset: 18, inputs: []*runtime.Tensor{x}}).run(t); err == nil {
		t.Error("Gelu at opset 18: expected an unsupported-operator error")
	}
}

func BenchmarkRelu(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	ewBench(b, nodeSpec{op: "Relu", inputs: []*runtime.Tensor{ewRandF32(rng, []int{1, 64, 56, 56})}})
}

func BenchmarkClip6(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	ewBench(b, nodeSpec{op: "Clip", opset: 13, inputs: []*runtime.Tensor{ewRandF32(rng, []int{1, 64, 56, 56}), runtime.Scalar(float32(0)), runtime.Scalar(float32(6))}, constant: map[int]bool{1: true, 2: true}})
}

func BenchmarkSigmoid(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	ewBench(b, nodeSpec{op: "Sigmoid", inputs: []*runtime.Tensor{ewRandF32(rng, []int{1, 64, 56, 56})}})
}
