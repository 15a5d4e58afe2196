package runtime_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// poolCase is one MaxPool or AveragePool node: shapes, attributes and data, with a float64
// reference computed from the ONNX definition.
type poolCase struct {
	max                      bool
	n, c                     int
	spatial, kernel          []int
	strides, dilations, pads []int // nil: attribute omitted
	autoPad                  string
	ceil, countPad, colMajor bool
	indices                  bool
	x                        []float64
}

func (pc *poolCase) axis(i int) (s, d, pb, pe int) {
	s, d = 1, 1
	if pc.strides != nil {
		s = pc.strides[i]
	}
	if pc.dilations != nil {
		d = pc.dilations[i]
	}
	if pc.pads != nil {
		pb, pe = pc.pads[i], pc.pads[len(pc.spatial)+i]
	}
	in, k := pc.spatial[i], pc.kernel[i]
	switch pc.autoPad {
	case "VALID":
		pb, pe = 0, 0
	case "SAME_UPPER", "SAME_LOWER":
		out := int(math.Ceil(float64(in) / float64(s)))
		total := max(0, (out-1)*s+(k-1)*d+1-in)
		pb, pe = total/2, total-total/2
		if pc.autoPad == "SAME_LOWER" {
			pb, pe = pe, pb
		}
	}
	return s, d, pb, pe
}

// outSize follows the ONNX formula: floor or (ceil_mode) ceil of (padded − span)/stride + 1,
// where in ceil mode a window that would start in the end padding is dropped; the SAME modes
// give ceil(in/stride).
func (pc *poolCase) outSize(i int) int {
	s, d, pb, pe := pc.axis(i)
	in := pc.spatial[i]
	if pc.autoPad == "SAME_UPPER" || pc.autoPad == "SAME_LOWER" {
		return int(math.Ceil(float64(in) / float64(s)))
	}
	q := float64(in+pb+pe-(pc.kernel[i]-1)*d-1) / float64(s)
	if !pc.ceil {
		return int(math.Floor(q)) + 1
	}
	out := int(math.Ceil(q)) + 1
	if (out-1)*s >= in+pb {
		out--
	}
	return out
}

func (pc *poolCase) outShape() []int {
	shape := []int{pc.n, pc.c}
	for i := range pc.spatial {
		shape = append(shape, pc.outSize(i))
	}
	return shape
}

// reference returns the pooled values and, for MaxPool, the indices of the maxima.
func (pc *poolCase) reference() ([]float64, []int64) {
	out := pc.outShape()[2:]
	rank := len(pc.spatial)
	planeLen := runtime.NumElements(pc.spatial)
	var ys []float64
	var idx []int64
	for plane := range pc.n * pc.c {
		for o := range runtime.NumElements(out) {
			oc := unflatten(o, out)
			best, bestAt := math.Inf(-1), int64(-1)
			var sum float64
			var count, padded int
			for k := range runtime.NumElements(pc.kernel) {
				kc := unflatten(k, pc.kernel)
				inside, inPadded := true, true
				at := make([]int, rank)
				for a := range rank {
					s, d, pb, pe := pc.axis(a)
					at[a] = oc[a]*s - pb + kc[a]*d
					inside = inside && at[a] >= 0 && at[a] < pc.spatial[a]
					inPadded = inPadded && at[a] < pc.spatial[a]+pe
				}
				if inPadded {
					padded++
				}
				if !inside {
					continue
				}
				pos := 0
				for a := range rank {
					pos = pos*pc.spatial[a] + at[a]
				}
				v := pc.x[plane*planeLen+pos]
				sum += v
				count++
				if v > best || bestAt < 0 {
					best = v
					bestAt = int64(plane*planeLen + pos)
					if pc.colMajor {
						cm, stride := 0, 1
						for a := range rank {
							cm += at[a] * stride
							stride *= pc.spatial[a]
						}
						bestAt = int64(plane*planeLen + cm)
					}
				}
			}
			switch {
			case pc.max:
				ys, idx = append(ys, best), append(idx, bestAt)
			case pc.countPad:
				ys = append(ys, sum/float64(padded))
			default:
				ys = append(ys, sum/float64(count))
			}
		}
	}
	return ys, idx
}

// unflatten converts a row-major index into coordinates of shape.
func unflatten(i int, shape []int) []int {
	c := make([]int, len(shape))
	for a := len(shape) - 1; a >= 0; a-- {
		c[a] = i % shape[a]
		i /= shape[a]
	}
	return c
}

func (pc *poolCase) attrs() []*onnx.AttributeProto {
	a := []*onnx.AttributeProto{attrInts("kernel_shape", convInt64s(pc.kernel)...)}
	if pc.strides != nil {
		a = append(a, attrInts("strides", convInt64s(pc.strides)...))
	}
	if pc.dilations != nil {
		a = append(a, attrInts("dilations", convInt64s(pc.dilations)...))
	}
	if pc.pads != nil {
		a = append(a, attrInts("pads", convInt64s(pc.pads)...))
	}
	if pc.autoPad != "" {
		a = append(a, attrString("auto_pad", pc.autoPad))
	}
	if pc.ceil {
		a = append(a, attrInt("ceil_mode", 1))
	}
	if pc.countPad {
		a = append(a, attrInt("count_include_pad", 1))
	}
	if pc.colMajor {
		a = append(a, attrInt("storage_order", 1))
	}
	return a
}

func (pc *poolCase) spec(dt runtime.DType) nodeSpec {
	shape := append([]int{pc.n, pc.c}, pc.spatial...)
	var x *runtime.Tensor
	switch dt {
	case runtime.Float32:
		x = runtime.New(shape, poolConvert[float32](pc.x))
	case runtime.Float64:
		x = runtime.New(shape, pc.x)
	case runtime.Int8:
		x = runtime.New(shape, poolConvert[int8](pc.x))
	case runtime.Uint8:
		x = runtime.New(shape, poolConvert[uint8](pc.x))
	}
	ns := nodeSpec{op: "AveragePool", opset: 19, attrs: pc.attrs(), inputs: []*runtime.Tensor{x}}
	if pc.max {
		ns.op, ns.opset = "MaxPool", 12
		if pc.indices {
			ns.outputs = 2
		}
	}
	return ns
}

func poolConvert[T float32 | int8 | uint8](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// randomPoolCase draws a pool of rank 1–3 with strides, dilations, asymmetric pads smaller
// than the window, ceil mode or an auto_pad mode; values are small integers so that ties
// exercise the first-maximum rule and every type holds them exactly.
func randomPoolCase(rng *rand.Rand, isMax bool) *poolCase {
	for {
		pc := &poolCase{max: isMax, n: 1 + rng.IntN(2), c: 1 + rng.IntN(3)}
		rank := 1 + rng.IntN(3)
		for range rank {
			pc.spatial = append(pc.spatial, 1+rng.IntN(9))
			pc.kernel = append(pc.kernel, 1+rng.IntN(3))
		}
		if rng.IntN(3) > 0 {
			pc.strides, pc.dilations = make([]int, rank), make([]int, rank)
			for i := range rank {
				pc.strides[i], pc.dilations[i] = 1+rng.IntN(3), 1+rng.IntN(2)
			}
		}
		if rng.IntN(5) == 0 {
			pc.autoPad = []string{"SAME_UPPER", "SAME_LOWER", "VALID"}[rng.IntN(3)]
		} else if rng.IntN(3) > 0 {
			pc.pads = make([]int, 2*rank)
			for i := range pc.pads {
				pc.pads[i] = rng.IntN(pc.kernel[i%rank])
			}
		}
		pc.ceil = pc.autoPad == "" && rng.IntN(2) == 0
		pc.countPad = !isMax && rng.IntN(2) == 0
		pc.indices = isMax && rng.IntN(2) == 0
		pc.colMajor = pc.indices && rng.IntN(2) == 0
		if !pc.fits() {
			continue
		}
		pc.x = make([]float64, runtime.NumElements(append([]int{pc.n, pc.c}, pc.spatial...)))
		for i := range pc.x {
			pc.x[i] = float64(rng.IntN(9))
		}
		return pc
	}
}

// fits reports whether every output exists and every window sees at least one input value
// (ONNX leaves windows that lie wholly in the padding undefined).
func (pc *poolCase) fits() bool {
	for i := range pc.spatial {
		s, d, pb, _ := pc.axis(i)
		out := pc.outSize(i)
		if out <= 0 {
			return false
		}
		for o := range out {
			seen := false
			for k := range pc.kernel[i] {
				at := o*s - pb + k*d
				seen = seen || (at >= 0 && at < pc.spatial[i])
			}
			if !seen {
				return false
			}
		}
	}
	return true
}

func (pc *poolCase) String() string {
	return fmt.Sprintf("max=%v x [%d %d %v] kernel=%v strides=%v dilations=%v pads=%v auto_pad=%q ceil=%v countPad=%v indices=%v colMajor=%v",
		pc.max, pc.n, pc.c, pc.spatial, pc.kernel, pc.strides, pc.dilations, pc.pads, pc.autoPad, pc.ceil, pc.countPad, pc.indices, pc.colMajor)
}

func TestPoolRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for iter := range 300 {
		pc := randomPoolCase(rng, iter%2 == 0)
		want, wantIdx := pc.reference()
		types := []runtime.DType{runtime.Float32, runtime.Float64}
		if pc.max {
			types = append(types, runtime.Int8, runtime.Uint8)
		}
		for _, dt := range types {
			out := pc.spec(dt).mustRun(t, runtime.WithThreads(1+iter%3))
			what := fmt.Sprintf("%v %v", pc, dt)
			if !runtime.SameShape(out[0].Shape(), pc.outShape()) || out[0].DType() != dt {
				t.Fatalf("%s: got %v, want shape %v", what, out[0], pc.outShape())
			}
			got := (out[0]).Float64Values()
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-6*math.Abs(want[i]) {
					t.Fatalf("%s: output %d = %v, want %v", what, i, got[i], want[i])
				}
			}
			if pc.indices {
				if out[1].DType() != runtime.Int64 || !runtime.SameShape(out[1].Shape(), pc.outShape()) {
					t.Fatalf("%s: indices %v", what, out[1])
				}
				for i, v := range out[1].Int64s() {
					if v != wantIdx[i] {
						t.Fatalf("%s: index %d = %d, want %d", what, i, v, wantIdx[i])
					}
				}
			}
		}
	}
}

// TestPoolOlderOpsets runs the pools at the opsets before ceil_mode and dilations existed.
func TestPoolOlderOpsets(t *testing.T) {
	pc := &poolCase{max: true, n: 1, c: 2, spatial: []int{5, 6}, kernel: []int{2, 3}, strides: []int{2, 1}, pads: []int{1, 0, 0, 1}}
	rng := rand.New(rand.NewPCG(43, 44))
	pc.x = make([]float64, 60)
	for i := range pc.x {
		pc.x[i] = rng.NormFloat64()
	}
	for _, isMax := range []bool{true, false} {
		pc.max = isMax
		want, _ := pc.reference()
		for _, opset := range []int{1, 7, 8, 10, 11} {
			ns := pc.spec(runtime.Float32)
			ns.opset = opset
			got := ns.mustRun(t)[0].Float32s()
			for i := range want {
				if math.Abs(float64(got[i])-want[i]) > 1e-6*(1+math.Abs(want[i])) {
					t.Fatalf("%s opset %d: output %d = %v, want %v", ns.op, opset, i, got[i], want[i])
				}
			}
		}
	}
}

func TestGlobalPools(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for _, shape := range [][]int{{2, 3, 7}, {1, 4, 5, 6}, {2, 2, 3, 4, 5}, {1, 1, 1, 1}, {1, 300, 33, 33}} {
		x := randTensor(rng, shape...)
		plane := runtime.NumElements(shape[2:])
		for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
			y := nodeSpec{op: op, opset: 1, inputs: []*runtime.Tensor{x}}.mustRun(t, runtime.WithThreads(2))[0]
			wantShape := append([]int(nil), shape...)
			for i := 2; i < len(wantShape); i++ {
				wantShape[i] = 1
			}
			if !runtime.SameShape(y.Shape(), wantShape) {
				t.Fatalf("%s %v: shape %v", op, shape, y.Shape())
			}
			for p, got := range y.Float32s() {
				vals := x.Float32s()[p*plane : (p+1)*plane]
				var want, mag float64
				if op == "GlobalMaxPool" {
					want = math.Inf(-1)
				}
				for _, v := range vals {
					if op == "GlobalMaxPool" {
						want = math.Max(want, float64(v))
					} else {
						want += float64(v) / float64(plane)
						mag += math.Abs(float64(v)) / float64(plane)
					}
				}
				// The mean is summed in float64 and rounded once.
				if math.Abs(float64(got)-want) > math.Ldexp(1, -23)*mag+math.Ldexp(1, -24)*math.Abs(want) {
					t.Fatalf("%s %v: plane %d = %v, want %v", op, shape, p, got, want)
				}
			}
		}
	}
}

func TestPoolErrors(t *testing.T) {
	x := runtime.Zeros(runtime.Float32, 1, 2, 5, 5)
	spec := func(op string, attrs ...*onnx.AttributeProto) nodeSpec {
		return nodeSpec{op: op, opset: 12, attrs: attrs, inputs: []*runtime.Tensor{x}}
	}
	k := attrInts("kernel_shape", 3, 3)
	for _, op := range []string{"MaxPool", "AveragePool"} {
		convWantError(t, op+" no kernel_shape", spec(op), `"kernel_shape"`)
		convWantError(t, op+" zero stride", spec(op, k, attrInts("strides", 1, 0)), `"strides"`)
		convWantError(t, op+" negative pads", spec(op, k, attrInts("pads", 0, -1, 0, 0)), `"pads"`)
		convWantError(t, op+" pads length", spec(op, k, attrInts("pads", 0, 0)), `"pads"`)
		convWantError(t, op+" zero dilation", spec(op, k, attrInts("dilations", 0, 1)), `"dilations"`)
		convWantError(t, op+" auto_pad", spec(op, k, attrString("auto_pad", "FULL")), `"auto_pad"`)
		convWantError(t, op+" ceil_mode", spec(op, k, attrInt("ceil_mode", 2)), `"ceil_mode"`)
		convWantError(t, op+" rank", spec(op, attrInts("kernel_shape", 3)), "rank 3")
		convWantError(t, op+" window too large", spec(op, attrInts("kernel_shape", 6, 3)), "does not fit")
		convWantError(t, op+" 4-D", spec(op, attrInts("kernel_shape", 1, 1, 1, 1)), `"kernel_shape"`)
	}
	convWantError(t, "storage_order", spec("MaxPool", k, attrInt("storage_order", 2)), `"storage_order"`)
	convWantError(t, "count_include_pad", spec("AveragePool", k, attrInt("count_include_pad", 3)), `"count_include_pad"`)
	ints := nodeSpec{op: "AveragePool", opset: 12, attrs: []*onnx.AttributeProto{k}, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Uint8, 1, 1, 5, 5)}}
	convWantError(t, "AveragePool uint8", ints, "UINT8")
	i64 := nodeSpec{op: "MaxPool", opset: 12, attrs: []*onnx.AttributeProto{k}, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Int64, 1, 1, 5, 5)}}
	convWantError(t, "MaxPool int64", i64, "INT64")
	for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
		convWantError(t, op+" rank", nodeSpec{op: op, opset: 1, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Float32, 2, 3)}}, "rank")
		convWantError(t, op+" empty", nodeSpec{op: op, opset: 1, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Float32, 2, 3, 0)}}, "empty")
	}
}

// BenchmarkMaxPoolResNetStem measures ResNet's 3×3/2 max pool on the 64×112×112 stem output.
func BenchmarkMaxPoolResNetStem(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, 1, 64, 112, 112)
	ns := nodeSpec{op: "MaxPool", opset: 12, attrs: []*onnx.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 1)},
		inputs: []*runtime.Tensor{x}}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			s, err := runtime.NewSessionFromModel(ns.model(b), runtime.WithThreads(threads))
			if err != nil {
				b.Fatal(err)
			}
			feeds := map[string]*runtime.Tensor{"x0": x}
			b.ResetTimer()
			for range b.N {
				if _, err := s.Run(b.Context(), feeds); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(x.Len()*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
