package runtime

import (
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Reductions (ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
// ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp) and
// ArgMax/ArgMin.
//
// Every reduction is "map, combine, finish": each element is mapped (|x|,
// x², ...), combined into an accumulator (sum, product, max, min) and the
// accumulator is finished (divide by the count, square root, log). The
// input shape is first simplified: size-1 dimensions dropped, neighbours
// that are both reduced or both kept merged. When only trailing dimensions
// are reduced (the global-average-pool ReduceMean over [N, C, H, W]'s last
// two axes) each output reduces one contiguous run, computed directly and
// in parallel; otherwise the input is walked once in memory order into an
// accumulator per output.
//
// Floating-point values accumulate in float64, so a float32 mean of a few
// thousand values is correctly rounded in practice; integers accumulate in
// int64, except where the result is not an integer (mean, L2, logs).

type reduceKind int

const (
	reduceSum reduceKind = iota
	reduceMean
	reduceMax
	reduceMin
	reduceProd
	reduceL1
	reduceL2
	reduceSumSquare
	reduceLogSum
	reduceLogSumExp
)

// reduceOps lists each reduction with the opsets that changed it and the
// first opset taking axes as an input instead of an attribute.
var reduceOps = []struct {
	name      string
	kind      reduceKind
	versions  []int
	axesInput int
}{
	{"ReduceSum", reduceSum, []int{1, 11, 13}, 13},
	{"ReduceMean", reduceMean, []int{1, 11, 13, 18}, 18},
	{"ReduceMax", reduceMax, []int{1, 11, 12, 13, 18}, 18},
	{"ReduceMin", reduceMin, []int{1, 11, 12, 13, 18}, 18},
	{"ReduceProd", reduceProd, []int{1, 11, 13, 18}, 18},
	{"ReduceL1", reduceL1, []int{1, 11, 13, 18}, 18},
	{"ReduceL2", reduceL2, []int{1, 11, 13, 18}, 18},
	{"ReduceSumSquare", reduceSumSquare, []int{1, 11, 13, 18}, 18},
	{"ReduceLogSum", reduceLogSum, []int{1, 11, 13, 18}, 18},
	{"ReduceLogSumExp", reduceLogSumExp, []int{1, 11, 13, 18}, 18},
}

func registerReduce(r *Registry) {
	for _, op := range reduceOps {
		for _, v := range op.versions {
			r.Register("", op.name, v, reduceBuilder(op.kind, v >= op.axesInput))
		}
	}
	for _, v := range []int{1, 11, 12, 13} {
		r.Register("", "ArgMax", v, argReduceBuilder(true))
		r.Register("", "ArgMin", v, argReduceBuilder(false))
	}
}

// reduceKernel is a planned reduction of data: any shape, over the given
// axes (all of them when none are given, unless noopEmpty).
type reduceKernel struct {
	kind      reduceKind
	keepDims  bool
	noopEmpty bool
	// axes holds the attribute or the constant axes input; fromInput means
	// the axes arrive as input 1 at run time instead.
	axes      []int64
	fromInput bool
}

func reduceBuilder(kind reduceKind, axesInput bool) Builder {
	return func(n *Node) (Kernel, error) {
		k := &reduceKernel{kind: kind, keepDims: n.IntIn("keepdims", 1, 0, 1) == 1}
		if axesInput {
			k.noopEmpty = n.IntIn("noop_with_empty_axes", 0, 0, 1) == 1
			if n.HasAttr("axes") {
				n.fail("attribute \"axes\": not allowed from this opset on (axes is an input)")
			}
		} else {
			k.axes = n.Ints("axes", nil)
		}
		if err := n.Err(); err != nil {
			return nil, err
		}
		if n.NumInputs() < 1 || !n.HasInput(0) {
			return nil, n.Errorf("missing input data")
		}
		if axesInput && n.HasInput(1) {
			k.fromInput = true
			if c := n.Const(1); c != nil {
				axes, err := reduceAxesValues(c)
				if err != nil {
					return nil, n.Errorf("input axes: %v", err)
				}
				k.axes, k.fromInput = axes, false
			}
		}
		return k, nil
	}
}

// reduceAxesValues reads an axes tensor: a 1-D (or scalar) integer tensor.
func reduceAxesValues(t *Tensor) ([]int64, error) {
	v, ok := t.AsInts()
	if !ok || t.Rank() > 1 {
		return nil, fmt.Errorf("expected a 1-D integer tensor, got %v", t)
	}
	return v, nil
}

// reduceAxesMask resolves axes (negative ones count from the end) against a
// rank, rejecting out-of-range and repeated axes. An empty list reduces
// everything, or nothing if noop.
func reduceAxesMask(axes []int64, rank int, noop bool) ([]bool, error) {
	mask := make([]bool, rank)
	if len(axes) == 0 {
		if !noop {
			for i := range mask {
				mask[i] = true
			}
		}
		return mask, nil
	}
	for _, a := range axes {
		if a < -int64(rank) || a >= int64(rank) {
			return nil, fmt.Errorf("axis %d is out of range for rank %d", a, rank)
		}
		if a < 0 {
			a += int64(rank)
		}
		if mask[a] {
			return nil, fmt.Errorf("axis %d is repeated", a)
		}
		mask[a] = true
	}
	return mask, nil
}

// reduceSupports reports whether reductions and ArgMax/ArgMin accept
// the element type.
func reduceSupports(dt DType) bool {
	switch dt {
	case Float32, Float64, Int64, Int32, Int8, Uint8:
		return true
	}
	return false
}

// reducedShape is the output shape: reduced dimensions become 1, or go.
func reducedShape(shape []int, mask []bool, keepDims bool) []int {
	out := make([]int, 0, len(shape))
	for i, d := range shape {
		switch {
		case !mask[i]:
			out = append(out, d)
		case keepDims:
			out = append(out, 1)
		}
	}
	return out
}

func (k *reduceKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	axes := k.axes
	if k.fromInput && len(in) > 1 && in[1] != nil {
		var err error
		if axes, err = reduceAxesValues(in[1]); err != nil {
			return rc.Errorf("input axes: %v", err)
		}
	}
	mask, err := reduceAxesMask(axes, x.Rank(), k.noopEmpty)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	if !reduceSupports(x.dtype) {
		return rc.Errorf("unsupported element type %v", x.dtype)
	}
	y := rc.NewShaped(x.dtype, reducedShape(x.shape, mask, k.keepDims))
	lay := newReduceLayout(x.shape, mask)
	switch x.dtype {
	case Float32:
		reduceFloat(rc, k.kind, lay, x.Float32s(), y.Float32s())
	case Float64:
		reduceFloat(rc, k.kind, lay, x.Float64s(), y.Float64s())
	case Int64:
		reduceInt(rc, k.kind, lay, x.Int64s(), y.Int64s())
	case Int32:
		reduceInt(rc, k.kind, lay, Values[int32](x), Values[int32](y))
	case Int8:
		reduceInt(rc, k.kind, lay, Values[int8](x), Values[int8](y))
	case Uint8:
		reduceInt(rc, k.kind, lay, Values[uint8](x), Values[uint8](y))
	}
	out[0] = y
	return nil
}

// reduceLayout is the input shape simplified for a reduction: size-1
// dimensions dropped, neighbours of the same kind (reduced or kept)
// merged. dims alternate between kept and reduced groups.
type reduceLayout struct {
	dims    []int
	reduced []bool
	// outStrides[d] is merged dimension d's stride in the output (0 if
	// reduced).
	outStrides []int
	// count is how many inputs combine into each output; outLen is the
	// number of outputs; empty is true when the input has no elements.
	count, outLen int
	empty         bool
}

func newReduceLayout(shape []int, mask []bool) *reduceLayout {
	l := &reduceLayout{count: 1, outLen: 1}
	for i, d := range shape {
		if mask[i] {
			l.count *= d
		} else {
			l.outLen *= d
		}
		if d == 0 {
			l.empty = true
		}
		if d == 1 {
			continue
		}
		if last := len(l.dims) - 1; last >= 0 && l.reduced[last] == mask[i] {
			l.dims[last] *= d
			continue
		}
		l.dims = append(l.dims, d)
		l.reduced = append(l.reduced, mask[i])
	}
	l.outStrides = make([]int, len(l.dims))
	stride := 1
	for d := len(l.dims) - 1; d >= 0; d-- {
		if !l.reduced[d] {
			l.outStrides[d] = stride
			stride *= l.dims[d]
		}
	}
	return l
}

// trailingRun returns the length of the contiguous run that each output
// reduces when only the innermost merged dimension is reduced (1 when
// nothing is), and ok = false for any other layout.
func (l *reduceLayout) trailingRun() (n int, ok bool) {
	last := len(l.dims) - 1
	for d := 0; d < last; d++ {
		if l.reduced[d] {
			return 0, false
		}
	}
	if last >= 0 && l.reduced[last] {
		return l.dims[last], true
	}
	return 1, true
}

// reduceStep is how elements combine into an accumulator.
type reduceStep int

const (
	stepSum reduceStep = iota
	stepAbsSum
	stepSquareSum
	stepProd
	stepMax
	stepMin
	stepExpSum // Σ exp(x − m), m the maximum found by a stepMax pass
)

// steps returns the combining passes of a reduction.
func (k reduceKind) steps() []reduceStep {
	switch k {
	case reduceL1:
		return []reduceStep{stepAbsSum}
	case reduceL2, reduceSumSquare:
		return []reduceStep{stepSquareSum}
	case reduceProd:
		return []reduceStep{stepProd}
	case reduceMax:
		return []reduceStep{stepMax}
	case reduceMin:
		return []reduceStep{stepMin}
	case reduceLogSumExp:
		return []reduceStep{stepMax, stepExpSum}
	}
	return []reduceStep{stepSum}
}

// reduceElem is the element types reductions accept.
type reduceElem interface {
	float32 | float64 | int64 | int32 | int8 | uint8
}

// reduceAcc is an accumulator type.
type reduceAcc interface{ float64 | int64 }

// reduceFloat reduces float32 or float64 data with float64 accumulators.
func reduceFloat[T float32 | float64](rc *RunContext, kind reduceKind, l *reduceLayout, x, y []T) {
	lo, hi := T(math.Inf(-1)), T(math.Inf(1))
	reduceWith[T, float64](rc, kind, l, x, y, float64(lo), float64(hi))
}

// reduceInt reduces integer data: in int64 where the result is an integer
// combination of the inputs, in float64 otherwise.
func reduceInt[T int64 | int32 | int8 | uint8](rc *RunContext, kind reduceKind, l *reduceLayout, x, y []T) {
	lo, hi := intRange[T]()
	switch kind {
	case reduceMean, reduceL2, reduceLogSum, reduceLogSumExp:
		reduceWith[T, float64](rc, kind, l, x, y, float64(lo), float64(hi))
	default:
		reduceWith[T, int64](rc, kind, l, x, y, lo, hi)
	}
}

// intRange returns the smallest and largest value of an integer type.
func intRange[T int64 | int32 | int8 | uint8]() (lo, hi int64) {
	var z T
	switch any(z).(type) {
	case int64:
		return math.MinInt64, math.MaxInt64
	case int32:
		return math.MinInt32, math.MaxInt32
	case int8:
		return math.MinInt8, math.MaxInt8
	}
	return 0, math.MaxUint8
}

// reduceParallelMin is the input size from which a reduction splits its
// outputs over goroutines.
const reduceParallelMin = 1 << 15

// reduceWith runs a reduction with accumulator type A; lo and hi are the
// identities of max and min (the type's extremes).
func reduceWith[T reduceElem, A reduceAcc](rc *RunContext, kind reduceKind, l *reduceLayout, x, y []T, lo, hi A) {
	ident := func(s reduceStep) A {
		switch s {
		case stepProd:
			return 1
		case stepMax:
			return lo
		case stepMin:
			return hi
		}
		return 0
	}
	steps := kind.steps()
	if l.empty {
		for i := range y {
			y[i] = reduceFinish[T](kind, ident(steps[0]), ident(steps[len(steps)-1]), l.count)
		}
		return
	}
	if run, ok := l.trailingRun(); ok {
		threads := 1
		if len(x) >= reduceParallelMin {
			threads = rc.Threads()
		}
		parallel.For(threads, len(y), func(o0, o1 int) {
			for o := o0; o < o1; o++ {
				seg := x[o*run : (o+1)*run]
				first := reduceRun(steps[0], ident(steps[0]), seg, 0)
				last := first
				if len(steps) > 1 {
					last = reduceRun(steps[1], ident(steps[1]), seg, first)
				}
				y[o] = reduceFinish[T](kind, first, last, l.count)
			}
		})
		return
	}
	first := reduceScratch[A](rc, len(y))
	reduceWalk(steps[0], l, x, first, nil, ident(steps[0]))
	last := first
	if len(steps) > 1 {
		last = reduceScratch[A](rc, len(y))
		reduceWalk(steps[1], l, x, last, first, ident(steps[1]))
	}
	for o := range y {
		y[o] = reduceFinish[T](kind, first[o], last[o], l.count)
	}
}

// reduceScratch returns a temporary accumulator buffer, released with the
// node's other scratch buffers after Run.
func reduceScratch[A reduceAcc](rc *RunContext, n int) []A {
	dt := Float64
	var z A
	if _, isInt := any(z).(int64); isInt {
		dt = Int64
	}
	buf := rc.alloc.get(dt, n)
	rc.scratch = append(rc.scratch, scratchBuf{dt, buf})
	return buf.([]A)
}

// reduceFinish turns accumulators into an output value: first is the first
// pass's (the maximum, for log-sum-exp), last the final pass's.
func reduceFinish[T reduceElem, A reduceAcc](kind reduceKind, first, last A, count int) T {
	switch kind {
	case reduceMean:
		return T(float64(last) / float64(count))
	case reduceL2:
		return T(math.Sqrt(float64(last)))
	case reduceLogSum:
		return T(math.Log(float64(last)))
	case reduceLogSumExp:
		m := float64(first)
		if math.IsInf(m, 0) || math.IsNaN(m) {
			return T(m) // all −∞ (or none), some +∞, or NaN
		}
		return T(m + math.Log(float64(last)))
	}
	return T(last)
}

// reduceRun combines a contiguous run into acc; m is the maximum for
// stepExpSum.
func reduceRun[T reduceElem, A reduceAcc](s reduceStep, acc A, x []T, m A) A {
	switch s {
	case stepSum:
		return sumRun(acc, x)
	case stepAbsSum:
		for _, v := range x {
			a := A(v)
			if a < 0 {
				a = -a
			}
			acc += a
		}
	case stepSquareSum:
		for _, v := range x {
			acc += A(v) * A(v)
		}
	case stepProd:
		for _, v := range x {
			acc *= A(v)
		}
	case stepMax:
		for _, v := range x {
			if a := A(v); a > acc || a != a {
				acc = a
			}
		}
	case stepMin:
		for _, v := range x {
			if a := A(v); a < acc || a != a {
				acc = a
			}
		}
	case stepExpSum:
		for _, v := range x {
			acc += A(math.Exp(float64(v) - float64(m)))
		}
	}
	return acc
}

// sumRun adds a run with four independent accumulators (for speed; the
// float64 accumulators make the order immaterial for float32 input).
// Reslicing instead of indexing lets the compiler drop bounds checks.
func sumRun[T reduceElem, A reduceAcc](acc A, x []T) A {
	var s0, s1, s2, s3 A
	for len(x) >= 4 {
		s0 += A(x[0])
		s1 += A(x[1])
		s2 += A(x[2])
		s3 += A(x[3])
		x = x[4:]
	}
	for _, v := range x {
		s0 += A(v)
	}
	return acc + (s0 + s1) + (s2 + s3)
}

// reduceWalk combines all of x into acc (one accumulator per output,
// initialised to ident), walking x in memory order by runs of the innermost
// merged dimension; m holds the per-output maxima for stepExpSum.
func reduceWalk[T reduceElem, A reduceAcc](s reduceStep, l *reduceLayout, x []T, acc, m []A, ident A) {
	for i := range acc {
		acc[i] = ident
	}
	last := len(l.dims) - 1
	run := l.dims[last]
	outer := l.dims[:last]
	idx := make([]int, len(outer))
	out := 0
	for off := 0; off < len(x); off += run {
		seg := x[off : off+run]
		if l.reduced[last] {
			var mo A
			if m != nil {
				mo = m[out]
			}
			acc[out] = reduceRun(s, acc[out], seg, mo)
		} else {
			var mo []A
			if m != nil {
				mo = m[out : out+run]
			}
			reduceVec(s, acc[out:out+run], seg, mo)
		}
		// Advance the outer index and the output offset.
		for d := len(outer) - 1; d >= 0; d-- {
			idx[d]++
			out += l.outStrides[d]
			if idx[d] < outer[d] {
				break
			}
			out -= idx[d] * l.outStrides[d]
			idx[d] = 0
		}
	}
}

// reduceVec combines x into acc elementwise (the innermost dimension is
// kept).
func reduceVec[T reduceElem, A reduceAcc](s reduceStep, acc []A, x []T, m []A) {
	x = x[:len(acc)]
	switch s {
	case stepSum:
		for i, v := range x {
			acc[i] += A(v)
		}
	case stepAbsSum:
		for i, v := range x {
			a := A(v)
			if a < 0 {
				a = -a
			}
			acc[i] += a
		}
	case stepSquareSum:
		for i, v := range x {
			acc[i] += A(v) * A(v)
		}
	case stepProd:
		for i, v := range x {
			acc[i] *= A(v)
		}
	case stepMax:
		for i, v := range x {
			if a := A(v); a > acc[i] || a != a {
				acc[i] = a
			}
		}
	case stepMin:
		for i, v := range x {
			if a := A(v); a < acc[i] || a != a {
				acc[i] = a
			}
		}
	case stepExpSum:
		for i, v := range x {
			acc[i] += A(math.Exp(float64(v) - float64(m[i])))
		}
	}
}

// argReduceKernel is a planned ArgMax or ArgMin: int64 indices along one
// axis of data.
type argReduceKernel struct {
	isMax, keepDims, last bool
	axis                  int64
}

func argReduceBuilder(isMax bool) Builder {
	return func(n *Node) (Kernel, error) {
		k := &argReduceKernel{
			isMax:    isMax,
			axis:     n.Int("axis", 0),
			keepDims: n.IntIn("keepdims", 1, 0, 1) == 1,
			last:     n.IntIn("select_last_index", 0, 0, 1) == 1,
		}
		if err := n.Err(); err != nil {
			return nil, err
		}
		if n.NumInputs() < 1 || !n.HasInput(0) {
			return nil, n.Errorf("missing input data")
		}
		return k, nil
	}
}

func (k *argReduceKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	axis, ok := normAxis(int(k.axis), x.Rank())
	if !ok {
		return rc.Errorf("attribute \"axis\": %d is out of range for rank %d", k.axis, x.Rank())
	}
	if x.shape[axis] == 0 {
		return rc.Errorf("axis %d of input %v is empty", axis, ShapeString(x.shape))
	}
	if !reduceSupports(x.dtype) {
		return rc.Errorf("unsupported element type %v", x.dtype)
	}
	mask := make([]bool, x.Rank())
	mask[axis] = true
	y := rc.NewShaped(Int64, reducedShape(x.shape, mask, k.keepDims))
	outer, inner := NumElements(x.shape[:axis]), NumElements(x.shape[axis+1:])
	g := argGeometry{outer: outer, n: x.shape[axis], inner: inner, isMax: k.isMax, last: k.last}
	switch x.dtype {
	case Float32:
		argReduce(g, x.Float32s(), y.Int64s())
	case Float64:
		argReduce(g, x.Float64s(), y.Int64s())
	case Int64:
		argReduce(g, x.Int64s(), y.Int64s())
	case Int32:
		argReduce(g, Values[int32](x), y.Int64s())
	case Int8:
		argReduce(g, Values[int8](x), y.Int64s())
	case Uint8:
		argReduce(g, Values[uint8](x), y.Int64s())
	}
	out[0] = y
	return nil
}

// argGeometry views the input as [outer, n, inner] with the axis in the
// middle.
type argGeometry struct {
	outer, n, inner int
	isMax, last     bool
}

// argReduce writes, for each (outer, inner) position, the index along the
// axis of the largest (or smallest) value; NaN counts as the extreme, as in
// numpy. Ties go to the first index, or the last if g.last.
func argReduce[T reduceElem](g argGeometry, x []T, y []int64) {
	for o := range g.outer {
		for i := range g.inner {
			base := o*g.n*g.inner + i
			best, bi := x[base], 0
			for j := 1; j < g.n; j++ {
				v := x[base+j*g.inner]
				if argBetter(v, best, g.isMax, g.last) {
					best, bi = v, j
				}
			}
			y[o*g.inner+i] = int64(bi)
		}
	}
}

// argBetter reports whether v replaces the current best.
func argBetter[T reduceElem](v, best T, isMax, last bool) bool {
	vNaN, bNaN := v != v, best != best
	switch {
	case bNaN:
		return vNaN && last
	case vNaN:
		return true
	case v == best:
		return last
	case isMax:
		return v > best
	}
	return v < best
}
