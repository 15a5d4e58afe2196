package runtime_test

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Tests for elementwise.go against references written independently of
// the runtime: numpy broadcasting by explicit index arithmetic, float64 math,
// C / Python integer division rules.

// ewShape broadcasts shapes by numpy's rules; ok is false if they clash.
func ewShape(shapes ...[]int) (out []int, ok bool) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out = make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		for i, d := range s {
			j := rank - len(s) + i
			switch {
			case d == out[j] || d == 1:
			case out[j] == 1:
				out[j] = d
			default:
				return nil, false
			}
		}
	}
	return out, true
}

// ewIndex returns, for output element o of shape out, the flat index of
// the broadcast element of an input of shape in.
func ewIndex(out, in []int, o int) int {
	idx, stride := 0, 1
	for d := len(out) - 1; d >= 0; d-- {
		c := o % out[d]
		o /= out[d]
		if k := d - (len(out) - len(in)); k >= 0 {
			if in[k] != 1 {
				idx += c * stride
			}
			stride *= in[k]
		}
	}
	return idx
}

func ewCount(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ewRandF32 returns a float32 tensor with values in [-3, 3) whose magnitude
// is at least 0.25 (so it can divide).
func ewRandF32(rng *rand.Rand, shape []int) *runtime.Tensor {
	d := make([]float32, ewCount(shape))
	for i := range d {
		v := rng.Float32()*2.75 + 0.25
		if rng.Intn(2) == 0 {
			v = -v
		}
		d[i] = v
	}
	return runtime.New(shape, d)
}

// ewRun runs a one-node model and returns its single output.
func ewRun(t *testing.T, op string, opset int, attrs []*onnx.AttributeProto, threads int, in ...*runtime.Tensor) *runtime.Tensor {
	t.Helper()
	return nodeSpec{op: op, opset: opset, attrs: attrs, inputs: in}.mustRun(t, runtime.WithThreads(threads))[0]
}

// ewWantError checks that running the spec fails with an error naming the
// node and containing every fragment.
func ewWantError(t *testing.T, ns nodeSpec, fragments ...string) {
	t.Helper()
	_, err := ns.run(t)
	if err == nil {
		t.Fatalf("%s: expected an error", ns.op)
	}
	msg := err.Error()
	for _, f := range append([]string{`node "n" (` + ns.op + `)`}, fragments...) {
		if !strings.Contains(msg, f) {
			t.Errorf("%s: error %q does not contain %q", ns.op, msg, f)
		}
	}
}

// ewBroadcastCases are shape pairs covering every broadcast pattern: equal
// shapes, scalars, per-channel, [N,1,H,W] vs [1,C,1,1], rank mismatch on
// either side, zero-size dimensions, and outputs big enough to be split
// between threads inside and across runs.
var ewBroadcastCases = [][2][]int{
	{{2, 3, 4, 5}, {2, 3, 4, 5}},
	{{2, 3, 4, 5}, {}},
	{{}, {2, 3, 4, 5}},
	{{}, {}},
	{{1}, {1}},
	{{2, 3, 4, 5}, {3, 1, 1}},
	{{1, 3, 1, 1}, {2, 3, 4, 5}},
	{{2, 1, 4, 5}, {1, 3, 1, 1}},
	{{4, 5}, {2, 3, 4, 5}},
	{{2, 3, 4, 5}, {5}},
	{{2, 3, 1, 5}, {3, 4, 1}},
	{{3, 1}, {1, 4}},
	{{0, 3}, {3}},
	{{2, 0, 4}, {1, 1, 4}},
	{{1, 8, 96, 96}, {1, 8, 96, 96}},
	{{1, 8, 96, 96}, {1, 8, 1, 1}},
	{{8, 1, 96}, {1, 96, 96}},
}

func TestArithmeticBroadcastFloat32(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	ops := []struct {
		op  string
		ref func(a, b float64) float64
	}{
		{"Add", func(a, b float64) float64 { return a + b }},
		{"Sub", func(a, b float64) float64 { return a - b }},
		{"Mul", func(a, b float64) float64 { return a * b }},
		{"Div", func(a, b float64) float64 { return a / b }},
		{"Min", math.Min},
		{"Max", math.Max},
	}
	for _, c := range ewBroadcastCases {
		a, b := ewRandF32(rng, c[0]), ewRandF32(rng, c[1])
		shape, _ := ewShape(c[0], c[1])
		for _, o := range ops {
			for _, threads := range []int{1, 2} {
				got := ewRun(t, o.op, 13, nil, threads, a, b)
				if !runtime.SameShape(got.Shape(), shape) {
					t.Fatalf("%s %v %v: shape %v, want %v", o.op, c[0], c[1], got.Shape(), shape)
				}
				g, av, bv := got.Float32s(), a.Float32s(), b.Float32s()
				for i := range g {
					x, y := av[ewIndex(shape, c[0], i)], bv[ewIndex(shape, c[1], i)]
					// An op of two float32s done in float64 and rounded once is
					// the correctly rounded float32 result, so equality holds.
					if want := float32(o.ref(float64(x), float64(y))); g[i] != want {
						t.Fatalf("%s %v %v threads %d: element %d = %v, want %v", o.op, c[0], c[1], threads, i, g[i], want)
					}
				}
			}
		}
	}
}

func TestPowBroadcastAndTypes(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, c := range ewBroadcastCases[:13] {
		base := ewRandF32(rng, c[0])
		for i, v := range base.Float32s() {
			base.Float32s()[i] = float32(math.Abs(float64(v)))
		}
		exp := ewRandF32(rng, c[1])
		got := ewRun(t, "Pow", 15, nil, 1, base, exp)
		shape, _ := ewShape(c[0], c[1])
		for i, g := range got.Float32s() {
			want := math.Pow(float64(base.Float32s()[ewIndex(shape, c[0], i)]), float64(exp.Float32s()[ewIndex(shape, c[1], i)]))
			if !ewNear(float64(g), want, 1e-6, 0) {
				t.Fatalf("Pow %v %v: element %d = %v, want %v", c[0], c[1], i, g, want)
			}
		}
	}
	// x^2 (the fast path) and x^-1.5 with a scalar exponent; integer
	// exponents; integer bases.
	x := runtime.New([]int{5}, []float32{-3, -0.5, 0, 1.5, 1e20})
	for _, e := range []float32{2, -1.5, 0.5} {
		got := ewRun(t, "Pow", 15, nil, 1, x, runtime.Scalar(e)).Float32s()
		for i, v := range x.Float32s() {
			want := float32(math.Pow(float64(v), float64(e)))
			if got[i] != want && !(math.IsNaN(float64(want)) && math.IsNaN(float64(got[i]))) {
				t.Errorf("Pow(%v, %v) = %v, want %v", v, e, got[i], want)
			}
		}
	}
	got := ewRun(t, "Pow", 15, nil, 1, runtime.New([]int{4}, []float32{2, -2, 1.5, 3}), runtime.New([]int{4}, []int64{3, 3, 2, -2})).Float32s()
	for i, want := range []float32{8, -8, 2.25, 1.0 / 9} {
		if got[i] != want {
			t.Errorf("Pow float^int element %d = %v, want %v", i, got[i], want)
		}
	}
	// 3^39 exceeds float64's exact integers; integer powers stay exact.
	gotI := ewRun(t, "Pow", 15, nil, 1, runtime.New([]int{5}, []int64{3, -2, 2, 1, -1}), runtime.New([]int{5}, []int64{39, 3, -1, -5, -3})).Int64s()
	for i, want := range []int64{4052555153018976267, -8, 0, 1, -1} {
		if gotI[i] != want {
			t.Errorf("Pow int64 element %d = %d, want %d", i, gotI[i], want)
		}
	}
	gotF := runtime.Values[int32](ewRun(t, "Pow", 15, nil, 1, runtime.New([]int{3}, []int32{2, 9, 10}), runtime.New([]int{3}, []float32{0.5, 0.5, 1.5})))
	for i, want := range []int32{1, 3, 31} { // truncated 1.41, 3, 31.6
		if gotF[i] != want {
			t.Errorf("Pow int32^float element %d = %d, want %d", i, gotF[i], want)
		}
	}
}

func TestIntegerArithmetic(t *testing.T) {
	a := []int64{7, -7, 7, -7, 0, 100, -128, 127}
	b := []int64{2, 2, -2, -2, 3, -7, -1, 1}
	for _, dt := range []runtime.DType{runtime.Int64, runtime.Int32, runtime.Int8} {
		ta, tb := ewIntTensor(dt, a), ewIntTensor(dt, b)
		div := (ewRun(t, "Div", 14, nil, 1, ta, tb)).Float64Values()
		mod := (ewRun(t, "Mod", 13, nil, 1, ta, tb)).Float64Values()
		fmod := (ewRun(t, "Mod", 13, []*onnx.AttributeProto{attrInt("fmod", 1)}, 1, ta, tb)).Float64Values()
		for i := range a {
			x, y := float64(a[i]), float64(b[i])
			wantDiv := math.Trunc(x / y) // C: toward zero
			if dt == runtime.Int8 && x == -128 && y == -1 {
				wantDiv = -128 // wraps
			}
			if div[i] != wantDiv {
				t.Errorf("%v Div(%v, %v) = %v, want %v", dt, x, y, div[i], wantDiv)
			}
			if want := x - math.Floor(x/y)*y; mod[i] != want { // Python: divisor's sign
				t.Errorf("%v Mod(%v, %v) = %v, want %v", dt, x, y, mod[i], want)
			}
			if want := math.Mod(x, y); fmod[i] != want { // C fmod: dividend's sign
				t.Errorf("%v Mod fmod=1 (%v, %v) = %v, want %v", dt, x, y, fmod[i], want)
			}
		}
	}
	// uint8 wraps like numpy.
	x := runtime.New([]int{3}, []uint8{250, 3, 200})
	y := runtime.New([]int{3}, []uint8{10, 5, 2})
	for op, want := range map[string][]uint8{"Add": {4, 8, 202}, "Sub": {240, 254, 198}, "Mul": {196, 15, 144}, "Div": {25, 0, 100}} {
		got := runtime.Values[uint8](ewRun(t, op, 14, nil, 1, x, y))
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("uint8 %s element %d = %d, want %d", op, i, got[i], want[i])
			}
		}
	}
	ewWantError(t, nodeSpec{op: "Div", inputs: []*runtime.Tensor{ewIntTensor(runtime.Int32, a), ewIntTensor(runtime.Int32, []int64{1, 2, 0, 1, 1, 1, 1, 1})}}, "division by zero")
	ewWantError(t, nodeSpec{op: "Mod", inputs: []*runtime.Tensor{runtime.Scalar(int64(3)), runtime.Scalar(int64(0))}}, "division by zero")
	ewWantError(t, nodeSpec{op: "Mod", inputs: []*runtime.Tensor{runtime.Scalar(float32(3)), runtime.Scalar(float32(2))}}, "fmod")
}

func ewIntTensor(dt runtime.DType, v []int64) *runtime.Tensor {
	shape := []int{len(v)}
	switch dt {
	case runtime.Int32:
		d := make([]int32, len(v))
		for i, x := range v {
			d[i] = int32(x)
		}
		return runtime.New(shape, d)
	case runtime.Int8:
		d := make([]int8, len(v))
		for i, x := range v {
			d[i] = int8(x)
		}
		return runtime.New(shape, d)
	}
	return runtime.New(shape, append([]int64(nil), v...))
}

func TestVariadicBroadcastAndNaN(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	shapes := [][]int{{3, 1}, {1, 4}, {}, {2, 1, 1}}
	var in []*runtime.Tensor
	for _, s := range shapes {
		in = append(in, ewRandF32(rng, s))
	}
	out, _ := ewShape(shapes...)
	for _, op := range []string{"Sum", "Mean", "Min", "Max"} {
		for k := 1; k <= len(in); k++ {
			got := ewRun(t, op, 13, nil, 1, in[:k]...)
			wantShape, _ := ewShape(shapes[:k]...)
			if !runtime.SameShape(got.Shape(), wantShape) {
				t.Fatalf("%s of %d: shape %v, want %v", op, k, got.Shape(), wantShape)
			}
			for i, g := range got.Float32s() {
				var vals []float64
				for j := 0; j < k; j++ {
					vals = append(vals, float64(in[j].Float32s()[ewIndex(wantShape, shapes[j], i)]))
				}
				want, scale := ewFold(op, vals), 0.0
				for _, v := range vals {
					scale += math.Abs(v)
				}
				// float32 accumulation: each addition rounds relative to the
				// magnitudes involved, not to the (possibly cancelled) sum.
				if !ewNear(float64(g), want, 0, 1e-6*scale) {
					t.Fatalf("%s of %d inputs (out %v): element %d = %v, want %v", op, k, out, i, g, want)
				}
			}
		}
	}
	// NaN propagates through Min and Max from either side, as numpy's
	// minimum and maximum.
	nan := float32(math.NaN())
	a := runtime.New([]int{4}, []float32{nan, 1, nan, 2})
	b := runtime.New([]int{4}, []float32{0, nan, nan, 3})
	for _, op := range []string{"Min", "Max"} {
		got := ewRun(t, op, 13, nil, 1, a, b).Float32s()
		for i := 0; i < 3; i++ {
			if !math.IsNaN(float64(got[i])) {
				t.Errorf("%s element %d = %v, want NaN", op, i, got[i])
			}
		}
	}
	// Float16 goes through float32.
	h := func(v ...float32) *runtime.Tensor {
		d := make([]uint16, len(v))
		for i, x := range v {
			d[i] = onnx.Float32ToFloat16(x)
		}
		return runtime.New([]int{len(v)}, d)
	}
	got := runtime.Values[uint16](ewRun(t, "Max", 13, nil, 1, h(1, -2, 0.5), h(0.25, -3, 65504)))
	for i, want := range []float32{1, -2, 65504} {
		if g := onnx.Float16ToFloat32(got[i]); g != want {
			t.Errorf("float16 Max element %d = %v, want %v", i, g, want)
		}
	}
}

func ewFold(op string, v []float64) float64 {
	r := v[0]
	for _, x := range v[1:] {
		switch op {
		case "Sum", "Mean":
			r += x
		case "Min":
			r = math.Min(r, x)
		case "Max":
			r = math.Max(r, x)
		}
	}
	if op == "Mean" {
		r /= float64(len(v))
	}
	return r
}

func TestUnaryMathFloat(t *testing.T) {
	inf := math.Inf(1)
	xs := []float64{0, math.Copysign(0, -1), 0.5, -0.5, 1, -1, 2.5, -2.5, 3.7, -3.7, 1e-30, 1e30, -1e30, 88, -88, 100, inf, -inf, math.NaN()}
	ops := map[string]func(float64) float64{
		"Abs": math.Abs, "Neg": func(x float64) float64 { return -x }, "Reciprocal": func(x float64) float64 { return 1 / x },
		"Floor": math.Floor, "Ceil": math.Ceil, "Round": math.RoundToEven, "Sqrt": math.Sqrt, "Exp": math.Exp,
		"Log": math.Log, "Erf": math.Erf, "Sin": math.Sin, "Cos": math.Cos, "Tan": math.Tan, "Asin": math.Asin,
		"Acos": math.Acos, "Atan": math.Atan, "Sinh": math.Sinh, "Cosh": math.Cosh, "Asinh": math.Asinh,
		"Acosh": math.Acosh, "Atanh": math.Atanh,
		"Sign": func(x float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return x
		},
	}
	x32 := make([]float32, len(xs))
	for i, v := range xs {
		x32[i] = float32(v)
	}
	for op, f := range ops {
		g32 := ewRun(t, op, 13, nil, 1, runtime.New([]int{len(xs)}, x32)).Float32s()
		g64 := ewRun(t, op, 13, nil, 1, runtime.New([]int{len(xs)}, append([]float64(nil), xs...))).Float64s()
		rtol32 := 0.0 // float64 math rounded once
		if op == "Erf" && runtime.VectorErf() {
			rtol32 = 4 * 0x1p-23 // the AVX-512 kernel's contract (4 ulp; vecmath_test.go)
		}
		for i, x := range xs {
			ewCheckClose(t, op+" float32", float64(x32[i]), float64(g32[i]), float64(float32(f(float64(x32[i])))), rtol32)
			ewCheckClose(t, op+" float64", x, g64[i], f(x), 0)
		}
	}
	// Integer Abs, Neg, Sign.
	v := []int64{-5, 0, 7, -128}
	for _, dt := range []runtime.DType{runtime.Int64, runtime.Int32, runtime.Int8} {
		in := ewIntTensor(dt, v)
		abs, neg, sign := (ewRun(t, "Abs", 13, nil, 1, in)).Float64Values(), (ewRun(t, "Neg", 13, nil, 1, in)).Float64Values(), (ewRun(t, "Sign", 13, nil, 1, in)).Float64Values()
		for i, x := range v {
			wantAbs, wantNeg := math.Abs(float64(x)), -float64(x)
			if dt == runtime.Int8 && x == -128 {
				wantAbs, wantNeg = -128, -128 // wraps, as numpy
			}
			if abs[i] != wantAbs || neg[i] != wantNeg || sign[i] != float64(ewSign(x)) {
				t.Errorf("%v: Abs/Neg/Sign(%d) = %v/%v/%v", dt, x, abs[i], neg[i], sign[i])
			}
		}
	}
	ewWantError(t, nodeSpec{op: "Sqrt", inputs: []*runtime.Tensor{runtime.Scalar(int64(4))}}, "INT64")
}

func ewSign(x int64) int64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// ewNear reports whether got is within rtol·|want| + atol of want; NaN
// matches only NaN and an infinity only itself.
func ewNear(got, want, rtol, atol float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	return got == want || math.Abs(got-want) <= rtol*math.Abs(want)+atol
}

// ewCheckClose requires got to equal want within rtol (exactly when rtol is
// 0), with matching NaN and infinities.
func ewCheckClose(t *testing.T, what string, x, got, want, rtol float64) {
	t.Helper()
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		if math.IsNaN(want) != math.IsNaN(got) {
			t.Errorf("%s(%v) = %v, want %v", what, x, got, want)
		}
	case got == want:
	case math.IsInf(want, 0) || math.Abs(got-want) > rtol*math.Abs(want):
		t.Errorf("%s(%v) = %v, want %v", what, x, got, want)
	}
}

func TestComparisonsAndLogic(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	nan := float32(math.NaN())
	cmp := map[string]func(a, b float64) bool{
		"Equal":          func(a, b float64) bool { return a == b },
		"Less":           func(a, b float64) bool { return a < b },
		"Greater":        func(a, b float64) bool { return a > b },
		"LessOrEqual":    func(a, b float64) bool { return a <= b },
		"GreaterOrEqual": func(a, b float64) bool { return a >= b },
	}
	sa, sb := []int{2, 3, 4}, []int{3, 1}
	a := ewRandF32(rng, sa)
	b := ewRandF32(rng, sb)
	a.Float32s()[0], b.Float32s()[1] = nan, nan
	a.Float32s()[1] = b.Float32s()[0] // some equal pairs
	shape, _ := ewShape(sa, sb)
	ai, bi := ewRoundInts(a), ewRoundInts(b)
	for op, f := range cmp {
		for _, pair := range [][2]*runtime.Tensor{{a, b}, {ai, bi}} {
			got := ewRun(t, op, 16, nil, 1, pair[0], pair[1]).Bools()
			av, bv := (pair[0]).Float64Values(), (pair[1]).Float64Values()
			for i, g := range got {
				if want := f(av[ewIndex(shape, sa, i)], bv[ewIndex(shape, sb, i)]); g != want {
					t.Fatalf("%s %v: element %d = %v, want %v", op, pair[0].DType(), i, g, want)
				}
			}
		}
	}
	p := runtime.New([]int{2, 2}, []bool{true, true, false, false})
	q := runtime.New([]int{2}, []bool{true, false})
	for op, want := range map[string][]bool{"And": {true, false, false, false}, "Or": {true, true, true, false}, "Xor": {false, true, true, false}} {
		got := ewRun(t, op, 7, nil, 1, p, q).Bools()
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s element %d = %v, want %v", op, i, got[i], want[i])
			}
		}
	}
	if got := ewRun(t, "Not", 1, nil, 1, q).Bools(); got[0] || !got[1] {
		t.Errorf("Not = %v", got)
	}
	if got := ewRun(t, "Equal", 13, nil, 1, p, q).Bools(); !got[0] || got[1] || got[2] || !got[3] {
		t.Errorf("Equal(bool) = %v", got)
	}
	ewWantError(t, nodeSpec{op: "Less", inputs: []*runtime.Tensor{a, ai}}, "type")
	ewWantError(t, nodeSpec{op: "And", inputs: []*runtime.Tensor{a, a}}, "FLOAT")
}

func ewRoundInts(x *runtime.Tensor) *runtime.Tensor {
	d := make([]int32, x.Len())
	for i, v := range x.Float32s() {
		if v == v {
			d[i] = int32(math.Round(float64(v)))
		}
	}
	return runtime.New(x.Shape(), d)
}

func TestWhereThreeWayBroadcast(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, sh := range [][3][]int{
		{{2, 1, 3}, {1, 4, 1}, {}},
		{{}, {2, 3}, {2, 3}},
		{{4}, {3, 1}, {1}},
		{{1, 8, 96, 96}, {1, 8, 96, 96}, {1, 8, 1, 1}},
		{{0, 2}, {2}, {1, 2}},
	} {
		cond := make([]bool, ewCount(sh[0]))
		for i := range cond {
			cond[i] = rng.Intn(2) == 0
		}
		c := runtime.New(sh[0], cond)
		x, y := ewRandF32(rng, sh[1]), ewRandF32(rng, sh[2])
		shape, _ := ewShape(sh[0], sh[1], sh[2])
		got := ewRun(t, "Where", 16, nil, 2, c, x, y)
		gi := ewRun(t, "Where", 16, nil, 1, c, ewRoundInts(x), ewRoundInts(y))
		if !runtime.SameShape(got.Shape(), shape) {
			t.Fatalf("Where %v: shape %v, want %v", sh, got.Shape(), shape)
		}
		for i, g := range got.Float32s() {
			want := y.Float32s()[ewIndex(shape, sh[2], i)]
			if cond[ewIndex(shape, sh[0], i)] {
				want = x.Float32s()[ewIndex(shape, sh[1], i)]
			}
			if g != want || runtime.Values[int32](gi)[i] != int32(math.Round(float64(want))) {
				t.Fatalf("Where %v: element %d = %v, want %v", sh, i, g, want)
			}
		}
	}
	ewWantError(t, nodeSpec{op: "Where", inputs: []*runtime.Tensor{runtime.New([]int{2}, []bool{true, false}), runtime.New([]int{3}, []float32{1, 2, 3}), runtime.Scalar(float32(0))}}, "cannot be broadcast")
}

func TestCast(t *testing.T) {
	x := runtime.New([]int{8}, []float32{-2.7, 2.7, -0.5, 0, float32(math.Copysign(0, -1)), 100.9, float32(math.NaN()), 65520})
	toInt := ewRun(t, "Cast", 13, []*onnx.AttributeProto{attrInt("to", int64(runtime.Int32))}, 1, x)
	for i, want := range []int32{-2, 2, 0, 0, 0, 100} { // toward zero
		if runtime.Values[int32](toInt)[i] != want {
			t.Errorf("Cast float->int32 element %d = %d, want %d", i, runtime.Values[int32](toInt)[i], want)
		}
	}
	toBool := ewRun(t, "Cast", 13, []*onnx.AttributeProto{attrInt("to", int64(runtime.Bool))}, 1, x).Bools()
	for i, want := range []bool{true, true, true, false, false, true, true, true} {
		if toBool[i] != want {
			t.Errorf("Cast float->bool element %d = %v, want %v", i, toBool[i], want)
		}
	}
	back := ewRun(t, "Cast", 13, []*onnx.AttributeProto{attrInt("to", int64(runtime.Float32))}, 1, runtime.New([]int{2}, []bool{true, false})).Float32s()
	if back[0] != 1 || back[1] != 0 {
		t.Errorf("Cast bool->float = %v", back)
	}
	// float64 -> float16 must round once: 1 + 2⁻¹¹ + 2⁻⁴⁰ lies just above the
	// midpoint between the halves 1 and 1 + 2⁻¹⁰, so it rounds up; rounding
	// to float32 first would land on the midpoint and round to even (1).
	d := runtime.New([]int{3}, []float64{1 + math.Pow(2, -11) + math.Pow(2, -40), 1 + math.Pow(2, -11), 70000})
	h := runtime.Values[uint16](ewRun(t, "Cast", 13, []*onnx.AttributeProto{attrInt("to", int64(runtime.Float16))}, 1, d))
	for i, want := range []uint16{0x3c01, 0x3c00, 0x7c00} {
		if h[i] != want {
			t.Errorf("Cast float64->float16 element %d = %#04x, want %#04x", i, h[i], want)
		}
	}
	// Opset 19 accepts saturate; CastLike takes the type of its second input.
	like := ewRun(t, "CastLike", 19, []*onnx.AttributeProto{attrInt("saturate", 0)}, 1, x, runtime.Scalar(int64(0)))
	if like.DType() != runtime.Int64 || like.Int64s()[0] != -2 {
		t.Errorf("CastLike to int64: %v %v", like, like.Int64s())
	}
	ewWantError(t, nodeSpec{op: "Cast", opset: 19, attrs: []*onnx.AttributeProto{attrInt("to", int64(onnx.TensorProto_FLOAT8E4M3FN))}, inputs: []*runtime.Tensor{x}}, "FLOAT8E4M3FN")
	ewWantError(t, nodeSpec{op: "Cast", inputs: []*runtime.Tensor{x}}, `"to"`)
	ewWantError(t, nodeSpec{op: "Cast", attrs: []*onnx.AttributeProto{attrInt("to", int64(onnx.TensorProto_STRING))}, inputs: []*runtime.Tensor{x}}, "STRING")
	ewWantError(t, nodeSpec{op: "Cast", attrs: []*onnx.AttributeProto{attrFloat("to", 1)}, inputs: []*runtime.Tensor{x}}, `"to"`, "FLOAT")
}

func TestElementwiseErrors(t *testing.T) {
	a := runtime.New([]int{2, 3}, make([]float32, 6))
	b := runtime.New([]int{4}, make([]float32, 4))
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Sum", "Max"} {
		ewWantError(t, nodeSpec{op: op, opset: 13, inputs: []*runtime.Tensor{a, b}}, "cannot be broadcast", "[2 3]", "[4]")
	}
	ewWantError(t, nodeSpec{op: "Add", inputs: []*runtime.Tensor{a, runtime.Scalar(int64(1))}}, "INT64", "FLOAT")
	ewWantError(t, nodeSpec{op: "Add", inputs: []*runtime.Tensor{a}}, "expected 2 inputs")
	ewWantError(t, nodeSpec{op: "Mean", inputs: []*runtime.Tensor{runtime.Scalar(int32(1)), runtime.Scalar(int32(2))}}, "INT32")
	ewWantError(t, nodeSpec{op: "Mod", attrs: []*onnx.AttributeProto{attrInt("fmod", 2)}, inputs: []*runtime.Tensor{a, a}}, `"fmod"`)
	// Constant inputs fold at plan time and report the same error.
	ewWantError(t, nodeSpec{op: "Add", inputs: []*runtime.Tensor{a, b}, constant: map[int]bool{0: true, 1: true}}, "cannot be broadcast")
}

// BenchmarkAddResidual is a ResNet residual addition, [1, 64, 56, 56] + the
// same shape.
func BenchmarkAddResidual(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	shape := []int{1, 64, 56, 56}
	ewBench(b, nodeSpec{op: "Add", inputs: []*runtime.Tensor{ewRandF32(rng, shape), ewRandF32(rng, shape)}})
}

// BenchmarkAddPerChannel adds a [64, 1, 1] bias to [1, 64, 56, 56].
func BenchmarkAddPerChannel(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	ewBench(b, nodeSpec{op: "Add", inputs: []*runtime.Tensor{ewRandF32(rng, []int{1, 64, 56, 56}), ewRandF32(rng, []int{64, 1, 1})}})
}

// ewBench runs the spec at 1 and 2 threads, reporting GB/s of tensor data
// read and written.
func ewBench(b *testing.B, ns nodeSpec) {
	bytes := 0
	for _, in := range ns.inputs {
		bytes += 4 * in.Len()
	}
	bytes += 4 * ns.inputs[0].Len()
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "threads=1", 2: "threads=2"}[threads], func(b *testing.B) {
			s, err := runtime.NewSessionFromModel(ns.model(b), runtime.WithThreads(threads))
			if err != nil {
				b.Fatal(err)
			}
			feeds := map[string]*runtime.Tensor{}
			for i, in := range ns.inputs {
				if !ns.constant[i] {
					feeds["x"+string(rune('0'+i))] = in
				}
			}
			b.SetBytes(int64(bytes))
			for b.Loop() {
				if _, err := s.Run(b.Context(), feeds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
