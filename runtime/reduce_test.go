package runtime_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

var redOps = []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
	"ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"}

// redProblem is one reduction: data of a shape and type, the axes as
// written in the model (nil: attribute/input absent), keepdims and
// noop_with_empty_axes. The opset decides whether axes is an attribute
// (before 18, before 13 for ReduceSum) or an input (constant or fed).
type redProblem struct {
	op         string
	opset      int
	shape      []int
	dt         runtime.DType
	data       []float64
	axes       []int64
	keepDims   bool
	noop       bool
	constAxes  bool
	emptyInput bool // pass axes as an empty tensor rather than leaving it out
}

func (p *redProblem) String() string {
	return fmt.Sprintf("%s-%d %v%v axes=%v keepdims=%v noop=%v const=%v", p.op, p.opset, p.dt, p.shape, p.axes, p.keepDims, p.noop, p.constAxes)
}

func (p *redProblem) axesIsInput() bool {
	return p.opset >= 18 || (p.op == "ReduceSum" && p.opset >= 13)
}

func (p *redProblem) spec() nodeSpec {
	ns := nodeSpec{op: p.op, opset: p.opset, inputs: []*runtime.Tensor{mmTensor(p.dt, p.shape, p.data)},
		attrs: []*onnx.AttributeProto{attrInt("keepdims", mmBool(p.keepDims))}, constant: map[int]bool{1: p.constAxes}}
	if p.axesIsInput() {
		if p.noop {
			ns.attrs = append(ns.attrs, attrInt("noop_with_empty_axes", 1))
		}
		if p.axes != nil || p.emptyInput {
			ns.inputs = append(ns.inputs, runtime.New([]int{len(p.axes)}, append([]int64{}, p.axes...)))
		}
	} else if p.axes != nil {
		ns.attrs = append(ns.attrs, attrInts("axes", p.axes...))
	}
	return ns
}

// reference reduces in float64 by collecting each output's inputs and
// applying the operator's formula to the list.
func (p *redProblem) reference() (shape []int, want, mag []float64) {
	rank := len(p.shape)
	reduced := make([]bool, rank)
	switch {
	case len(p.axes) > 0:
		for _, a := range p.axes {
			reduced[(int(a)+rank)%rank] = true
		}
	case !(p.noop && p.axesIsInput()):
		for i := range reduced {
			reduced[i] = true
		}
	}
	var outDims []int
	for i, d := range p.shape {
		switch {
		case !reduced[i]:
			shape = append(shape, d)
			outDims = append(outDims, d)
		case p.keepDims:
			shape = append(shape, 1)
			outDims = append(outDims, 1)
		default:
			outDims = append(outDims, 1)
		}
	}
	if shape == nil {
		shape = []int{}
	}
	groups := make([][]float64, mmCount(outDims))
	idx := make([]int, rank)
	for _, v := range p.data {
		if p.dt == runtime.Float32 {
			v = float64(float32(v)) // what the tensor holds
		}
		o := 0
		for d := range rank {
			c := idx[d]
			if reduced[d] {
				c = 0
			}
			o = o*outDims[d] + c
		}
		groups[o] = append(groups[o], v)
		for d := rank - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < p.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	want, mag = make([]float64, len(groups)), make([]float64, len(groups))
	for o, g := range groups {
		want[o], mag[o] = redFormula(p.op, g)
		if p.dt != runtime.Float32 && p.dt != runtime.Float64 {
			want[o] = math.Trunc(want[o])
		}
	}
	return shape, want, mag
}

// redFormula applies an operator to one group; mag bounds the magnitude of
// the terms, for tolerances.
func redFormula(op string, g []float64) (v, mag float64) {
	sum, abs, sq := 0.0, 0.0, 0.0
	prod, hi, lo := 1.0, math.Inf(-1), math.Inf(1)
	for _, x := range g {
		sum += x
		abs += math.Abs(x)
		sq += x * x
		prod *= x
		hi, lo = math.Max(hi, x), math.Min(lo, x)
	}
	switch op {
	case "ReduceSum":
		return sum, abs
	case "ReduceMean":
		return sum / float64(len(g)), abs / float64(len(g))
	case "ReduceMax":
		return hi, 0
	case "ReduceMin":
		return lo, 0
	case "ReduceProd":
		return prod, math.Abs(prod)
	case "ReduceL1":
		return abs, abs
	case "ReduceL2":
		return math.Sqrt(sq), math.Sqrt(sq)
	case "ReduceSumSquare":
		return sq, sq
	case "ReduceLogSum":
		return math.Log(sum), 1
	}
	var e float64
	for _, x := range g {
		e += math.Exp(x)
	}
	return math.Log(e), 1
}

func (p *redProblem) check(t *testing.T, opts ...runtime.Option) {
	t.Helper()
	out, err := p.spec().run(t, opts...)
	if err != nil {
		t.Fatalf("%v: %v", p, err)
	}
	shape, want, mag := p.reference()
	y := out[0]
	if !runtime.SameShape(y.Shape(), shape) || y.DType() != p.dt {
		t.Fatalf("%v: got %v, want %v%v", p, y, p.dt, shape)
	}
	got := (y).Float64Values()
	for i := range want {
		if !redClose(got[i], want[i], mag[i], p.dt) {
			t.Fatalf("%v: y[%d] = %v, want %v", p, i, got[i], want[i])
		}
	}
}

// redClose compares with the accuracy the kernels promise: floats are
// accumulated in float64 and rounded once (so within one float32 ulp plus
// float64 noise), integers exactly.
func redClose(got, want, mag float64, dt runtime.DType) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(got)
	case got == want:
		return true
	case dt == runtime.Float32:
		return math.Abs(got-want) <= math.Ldexp(math.Abs(want), -23)+1e-12*mag
	case dt == runtime.Float64:
		return math.Abs(got-want) <= 1e-13*(math.Abs(want)+mag)
	}
	return false
}

// redData draws values suited to op: positive for logarithms, near one for
// products, small integers for integer types.
func redData(rng *rand.Rand, op string, dt runtime.DType, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		switch {
		case dt != runtime.Float32 && dt != runtime.Float64 && op == "ReduceProd":
			v[i] = float64(rng.Intn(3) - 1)
		case dt != runtime.Float32 && dt != runtime.Float64:
			v[i] = float64(rng.Intn(21) - 10)
		case op == "ReduceLogSum":
			v[i] = 0.1 + rng.Float64()
		case op == "ReduceProd":
			v[i] = 0.5 + rng.Float64()
		default:
			v[i] = rng.NormFloat64() * 3
		}
	}
	return v
}

func redRandShape(rng *rand.Rand) []int {
	shape := make([]int, rng.Intn(5))
	for i := range shape {
		shape[i] = 1 + rng.Intn(5)
	}
	return shape
}

// redRandAxes picks a random subset of axes, some written negatively, in
// random order; nil (no axes) sometimes.
func redRandAxes(rng *rand.Rand, rank int) []int64 {
	if rank == 0 || rng.Intn(6) == 0 {
		return nil
	}
	var axes []int64
	for _, a := range rng.Perm(rank) {
		if rng.Intn(2) == 0 {
			continue
		}
		if rng.Intn(2) == 0 {
			axes = append(axes, int64(a-rank))
		} else {
			axes = append(axes, int64(a))
		}
	}
	if len(axes) == 0 {
		axes = []int64{int64(rng.Intn(rank))}
	}
	return axes
}

func TestReduceRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for i := range 600 {
		op := redOps[i%len(redOps)]
		dts := []runtime.DType{runtime.Float32, runtime.Float32, runtime.Float64}
		switch op {
		case "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceMean", "ReduceL1", "ReduceSumSquare":
			dts = append(dts, runtime.Int64, runtime.Int32)
		}
		opsets := []int{11, 13, 18}
		p := &redProblem{op: op, opset: opsets[rng.Intn(3)], shape: redRandShape(rng), dt: dts[rng.Intn(len(dts))],
			keepDims: rng.Intn(2) == 0, constAxes: rng.Intn(2) == 0}
		p.axes = redRandAxes(rng, len(p.shape))
		p.data = redData(rng, op, p.dt, mmCount(p.shape))
		p.check(t, runtime.WithoutConstantFolding(), runtime.WithThreads(1+rng.Intn(2)))
	}
}

// TestReduceLargeParallel covers the parallel trailing-axes path and the
// general walk on sizes above the parallel threshold.
func TestReduceLargeParallel(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for _, op := range []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp"} {
		for _, axes := range [][]int64{{2, 3}, {1}, {0, 2}, {-1}} {
			p := &redProblem{op: op, opset: 18, shape: []int{2, 64, 24, 24}, dt: runtime.Float32, axes: axes, keepDims: true, constAxes: true}
			p.data = redData(rng, op, p.dt, mmCount(p.shape))
			p.check(t, runtime.WithThreads(2))
		}
	}
}

// TestReduceMeanGlobalPoolPrecision is the dynamo exporter's global average
// pool: ReduceMean over [2, 3] of [1, C, 7, 7] on data with a large
// offset, which a float32 running sum would get wrong in the last digits.
func TestReduceMeanGlobalPoolPrecision(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for _, c := range []int{512, 1280} {
		shape := []int{1, c, 7, 7}
		data := make([]float64, mmCount(shape))
		for i := range data {
			data[i] = float64(float32(1000 + rng.NormFloat64()))
		}
		p := &redProblem{op: "ReduceMean", opset: 18, shape: shape, dt: runtime.Float32, data: data, axes: []int64{2, 3}, keepDims: true, constAxes: true}
		out := p.spec().mustRun(t, runtime.WithThreads(2))[0]
		_, want, _ := p.reference()
		for i, g := range out.Float32s() {
			if math.Abs(float64(g)-want[i]) > 1e-6*math.Abs(want[i]) {
				t.Fatalf("C=%d: mean[%d] = %v, want %v", c, i, g, want[i])
			}
		}
	}
}

func TestReduceEmptyAxes(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	shape := []int{2, 3, 2}
	for _, op := range redOps {
		for _, noop := range []bool{false, true} {
			for _, emptyInput := range []bool{false, true} {
				for _, constAxes := range []bool{false, true} {
					p := &redProblem{op: op, opset: 18, shape: shape, dt: runtime.Float32, noop: noop, emptyInput: emptyInput,
						constAxes: constAxes, keepDims: true}
					p.data = redData(rng, op, p.dt, mmCount(shape))
					p.check(t, runtime.WithoutConstantFolding())
				}
			}
		}
	}
}

// TestReduceEmptySet reduces over a zero-sized axis: sums give 0, products
// 1, max −∞, min +∞, mean NaN, logs −∞.
func TestReduceEmptySet(t *testing.T) {
	want := map[string]float64{"ReduceSum": 0, "ReduceMean": math.NaN(), "ReduceMax": math.Inf(-1), "ReduceMin": math.Inf(1),
		"ReduceProd": 1, "ReduceL1": 0, "ReduceL2": 0, "ReduceSumSquare": 0, "ReduceLogSum": math.Inf(-1), "ReduceLogSumExp": math.Inf(-1)}
	for _, op := range redOps {
		p := &redProblem{op: op, opset: 18, shape: []int{2, 0, 3}, dt: runtime.Float32, axes: []int64{1}, keepDims: true, constAxes: true}
		y := p.spec().mustRun(t)[0]
		if !runtime.SameShape(y.Shape(), []int{2, 1, 3}) {
			t.Fatalf("%s: shape %v", op, y.Shape())
		}
		for i, g := range (y).Float64Values() {
			if !(g == want[op] || math.IsNaN(g) && math.IsNaN(want[op])) {
				t.Fatalf("%s: y[%d] = %v, want %v", op, i, g, want[op])
			}
		}
	}
	// Max of an empty int32 set is the type's minimum.
	p := &redProblem{op: "ReduceMax", opset: 18, shape: []int{0, 2}, dt: runtime.Int32, axes: []int64{0}, constAxes: true}
	if g := p.spec().mustRun(t)[0].Float64Values(); g[0] != math.MinInt32 || g[1] != math.MinInt32 {
		t.Fatalf("int32 ReduceMax over nothing: %v", g)
	}
}

func TestReduceNaNPropagates(t *testing.T) {
	data := []float64{1, math.NaN(), 3, 4, 5, 6}
	for _, op := range []string{"ReduceMax", "ReduceMin", "ReduceSum"} {
		for _, axes := range [][]int64{{1}, {0}} {
			p := &redProblem{op: op, opset: 13, shape: []int{2, 3}, dt: runtime.Float32, data: data, axes: axes, keepDims: true}
			p.check(t)
		}
	}
}

func TestReduceErrors(t *testing.T) {
	x := runtime.Zeros(runtime.Float32, 2, 3)
	axes := func(v ...int64) *runtime.Tensor { return runtime.New([]int{len(v)}, v) }
	red := func(op string, opset int, attrs []*onnx.AttributeProto, in ...*runtime.Tensor) nodeSpec {
		return nodeSpec{op: op, opset: opset, attrs: attrs, inputs: in}
	}
	mmWantError(t, red("ReduceMean", 13, []*onnx.AttributeProto{attrInts("axes", 2)}, x), "axis 2 is out of range for rank 2")
	mmWantError(t, red("ReduceMean", 13, []*onnx.AttributeProto{attrInts("axes", -3)}, x), "out of range")
	mmWantError(t, red("ReduceMax", 13, []*onnx.AttributeProto{attrInts("axes", 1, -1)}, x), "repeated")
	mmWantError(t, red("ReduceSum", 13, nil, x, axes(5)), "out of range")
	mmWantError(t, red("ReduceMean", 18, nil, x, runtime.New([]int{1}, []float32{1})), "input axes")
	mmWantError(t, red("ReduceMean", 18, []*onnx.AttributeProto{attrInts("axes", 1)}, x), "not allowed")
	mmWantError(t, red("ReduceMean", 13, []*onnx.AttributeProto{attrInt("keepdims", 3)}, x), "keepdims")
	mmWantError(t, red("ReduceMean", 13, nil, runtime.Zeros(runtime.Bool, 2)), "unsupported element type")
	// Bad constant axes are reported while planning.
	ns := red("ReduceSum", 13, nil, x, runtime.New([]int{1, 1}, []int64{0}))
	ns.constant = map[int]bool{1: true}
	mmWantError(t, ns, "input axes")
}

// redArgReference returns the index of the first (or last) extreme along
// axis, NaN being the extreme.
func redArgReference(shape []int, data []float64, axis int, isMax, last bool) []float64 {
	outer, n, inner := mmCount(shape[:axis]), shape[axis], mmCount(shape[axis+1:])
	out := make([]float64, outer*inner)
	for o := range outer {
		for i := range inner {
			best := -1
			for j := range n {
				v := data[(o*n+j)*inner+i]
				if best < 0 {
					best = j
					continue
				}
				b := data[(o*n+best)*inner+i]
				better := v > b
				if !isMax {
					better = v < b
				}
				switch {
				case math.IsNaN(b):
					better = math.IsNaN(v) && last
				case math.IsNaN(v):
					better = true
				case v == b:
					better = last
				}
				if better {
					best = j
				}
			}
			out[o*inner+i] = float64(best)
		}
	}
	return out
}

func TestArgMaxArgMinRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	for i := range 200 {
		shape := redRandShape(rng)
		if len(shape) == 0 {
			shape = []int{4}
		}
		dt := []runtime.DType{runtime.Float32, runtime.Float64, runtime.Int64, runtime.Int32, runtime.Uint8, runtime.Int8}[rng.Intn(6)]
		data := make([]float64, mmCount(shape))
		for j := range data {
			data[j] = float64(rng.Intn(4)) // many ties
		}
		if dt == runtime.Float32 && rng.Intn(3) == 0 {
			data[rng.Intn(len(data))] = math.NaN()
		}
		axis := rng.Intn(len(shape))
		writeAxis := int64(axis)
		if rng.Intn(2) == 0 {
			writeAxis -= int64(len(shape))
		}
		isMax, last, keep := i%2 == 0, rng.Intn(2) == 0, rng.Intn(2) == 0
		op := "ArgMin"
		if isMax {
			op = "ArgMax"
		}
		ns := nodeSpec{op: op, opset: 13, inputs: []*runtime.Tensor{mmTensor(dt, shape, data)},
			attrs: []*onnx.AttributeProto{attrInt("axis", writeAxis), attrInt("keepdims", mmBool(keep)), attrInt("select_last_index", mmBool(last))}}
		y := ns.mustRun(t)[0]
		want := redArgReference(shape, data, axis, isMax, last)
		wantShape := append([]int(nil), shape...)
		if keep {
			wantShape[axis] = 1
		} else {
			wantShape = append(wantShape[:axis], wantShape[axis+1:]...)
		}
		if y.DType() != runtime.Int64 || !runtime.SameShape(y.Shape(), wantShape) {
			t.Fatalf("%s %v axis %d: got %v, want INT64%v", op, shape, axis, y, wantShape)
		}
		for j, g := range (y).Float64Values() {
			if g != want[j] {
				t.Fatalf("%s %v %v axis %d last=%v: y[%d] = %v, want %v (data %v)", op, dt, shape, axis, last, j, g, want[j], data)
			}
		}
	}
}

func TestArgMaxErrors(t *testing.T) {
	x := runtime.Zeros(runtime.Float32, 2, 3)
	mmWantError(t, nodeSpec{op: "ArgMax", opset: 13, inputs: []*runtime.Tensor{x}, attrs: []*onnx.AttributeProto{attrInt("axis", 2)}}, "out of range")
	mmWantError(t, nodeSpec{op: "ArgMin", opset: 13, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Float32, 0, 3)}}, "empty")
	mmWantError(t, nodeSpec{op: "ArgMin", opset: 13, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Bool, 3)}}, "unsupported element type")
}

// BenchmarkReduceMeanGlobalPool is the dynamo exporter's global average
// pool: ReduceMean(axes=[2, 3], keepdims=1) on resnet18's and
// mobilenet_v2's last feature maps.
func BenchmarkReduceMeanGlobalPool(b *testing.B) {
	for _, c := range []int{512, 1280} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("1x%dx7x7/threads=%d", c, threads), func(b *testing.B) {
				rng := rand.New(rand.NewSource(1))
				shape := []int{1, c, 7, 7}
				p := &redProblem{op: "ReduceMean", opset: 18, shape: shape, dt: runtime.Float32,
					data: redData(rng, "ReduceMean", runtime.Float32, mmCount(shape)), axes: []int64{2, 3}, keepDims: true, constAxes: true}
				ns := p.spec()
				s, err := runtime.NewSessionFromModel(ns.model(b), runtime.WithThreads(threads))
				if err != nil {
					b.Fatal(err)
				}
				feeds := map[string]*runtime.Tensor{"x0": ns.inputs[0]}
				for b.Loop() {
					run1(b, s, feeds, "y0")
				}
				b.ReportMetric(float64(mmCount(shape))*4*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
