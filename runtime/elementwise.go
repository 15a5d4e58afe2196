package runtime

import (
	"math"

	"github.com/dcnet-go/dcnet/internal/parallel"
	"github.com/dcnet-go/dcnet/onnx"
)

// Elementwise operators: arithmetic with numpy broadcasting (Add, Sub, Mul,
// Div, Mod, Pow and the variadic Sum, Mean, Min, Max), unary math, IsNaN and
// IsInf, comparisons and logic (bool outputs), Where, Cast and CastLike.
//
// Anatomy. Every binary op is a "loop" of type binLoop, called once per
// contiguous run of the broadcast output (see Broadcaster): within a run each
// input either advances with the output (step 1) or stays on one element
// (step 0), so a loop only has three shapes to handle — vector⊕vector,
// vector⊕scalar and scalar⊕vector — and each is a tight indexed loop with no
// call per element. The loops are generic over the element type; Go
// instantiates a separate copy of a generic function for each basic numeric
// type (its own "GC shape"), so addLoop[float32] compiles to the same code as
// a hand-written float32 loop. Ops off the hot path (comparisons, Mod, Pow)
// build their loops from a per-element function with mapBinary instead.
//
// Parallelism. A loop over n output elements is cut into contiguous element
// ranges, one per goroutine, only when the work exceeds parallelGrain, so the
// many tiny tensors of shape arithmetic never pay for goroutines. A range may
// start or end inside a broadcast run; broadcastSpans trims the runs.
//
// Types. float32, float64, int64, int32, int8 and uint8 are computed natively
// (integer Div truncates toward zero as in C, integer overflow wraps as in
// numpy; integer division by zero is an error, not a panic). Float16 inputs
// are widened to float32, computed, and rounded back (halfAsFloat).

// stepMode says how two inputs advance within one broadcast run.
type stepMode uint8

const (
	stepVV stepMode = iota // both inputs step with the output
	stepVS                 // a steps, b is one element
	stepSV                 // a is one element, b steps
	stepSS                 // both are one element (only with three or more inputs)
)

func stepModeOf(sa, sb, n int) stepMode {
	switch {
	case n == 1 || sa == 1 && sb == 1:
		return stepVV
	case sa == 1:
		return stepVS
	case sb == 1:
		return stepSV
	}
	return stepSS
}

// binLoop computes d[i] = f(a[i], b[i]) for one run: in mode stepVS, b holds one
// element; in mode stepSV, a does. len(a) and len(b) are at least len(d) where
// they step.
type binLoop[A, B, U any] func(d []U, a []A, b []B, m stepMode)

// numElem is the set of numeric element types the runtime computes with.
type numElem interface {
	float32 | float64 | int64 | int32 | int8 | uint8
}

// float is the set of floating-point element types.
type floatElem interface{ float32 | float64 }

// Work estimates, in units of one cheap arithmetic operation on one element.
const (
	costCheap = 1
	costMath  = 16 // a libm call (exp, log, erf, pow, ...) in float64
	// parallelGrain is the least work worth a goroutine of its own: starting
	// and joining one costs a few microseconds, while 32k cheap element
	// operations take tens of microseconds.
	parallelGrain = 1 << 15
)

// parallelChunks calls fn over contiguous chunks covering [0, n), using up to
// threads goroutines but none that would get less than parallelGrain work
// (a small loop runs inline as fn(0, n)). The chunks are fixed, one per
// goroutine (parallel.For), so that consecutive elementwise steps over the
// same tensor keep each part on the same core: with chunks handed out from a
// shared counter, half of every tensor came from the other core's cache,
// which on this machine reads at ~20 GB/s against ~100 from its own
// (a 353k-value Add at 2 threads: 0.08 → 0.05 ms).
func parallelChunks(threads, n, cost int, fn func(lo, hi int)) {
	grain := max(parallelGrain/cost, 1) // elements
	workers := min(threads, n/grain)
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	parallel.For(workers, n, fn)
}

// broadcastSpans calls fn for the output elements [lo, hi) of bc, one piece
// of a run at a time: o is the piece's output offset, n its length, offs[k]
// input k's offset of its first element.
func broadcastSpans(bc *Broadcaster, lo, hi int, fn func(o, n int, offs []int)) {
	runLen := bc.RunLen()
	if hi <= lo || runLen == 0 {
		return
	}
	steps := bc.Steps()
	adj := make([]int, len(steps))
	bc.Runs(lo/runLen, (hi+runLen-1)/runLen, func(o int, offs []int) {
		s, e := max(lo-o, 0), min(hi-o, runLen)
		for k := range offs {
			adj[k] = offs[k] + s*steps[k]
		}
		fn(o+s, e-s, adj)
	})
}

// runBinary fills d (the broadcast output of bc) with loop applied to inputs
// ia and ib of bc, whose data are a and b.
func runBinary[A, B, U any](threads int, bc *Broadcaster, d []U, a []A, b []B, ia, ib int, loop binLoop[A, B, U], cost int) {
	steps := bc.Steps()
	sa, sb := steps[ia], steps[ib]
	parallelChunks(threads, len(d), cost, func(lo, hi int) {
		broadcastSpans(bc, lo, hi, func(o, n int, offs []int) {
			oa, ob, dd := offs[ia], offs[ib], d[o:o+n]
			switch m := stepModeOf(sa, sb, n); m {
			case stepVV:
				loop(dd, a[oa:oa+n], b[ob:ob+n], stepVV)
			case stepVS:
				loop(dd, a[oa:oa+n], b[ob:ob+1], stepVS)
			case stepSV:
				loop(dd, a[oa:oa+1], b[ob:ob+n], stepSV)
			default:
				loop(dd[:1], a[oa:oa+1], b[ob:ob+1], stepVV)
				for i := 1; i < len(dd); i++ {
					dd[i] = dd[0]
				}
			}
		})
	})
}

// mapBinary makes a loop from a per-element function, for ops off the hot
// path.
func mapBinary[A, B, U any](f func(A, B) U) binLoop[A, B, U] {
	return func(d []U, a []A, b []B, m stepMode) {
		switch m {
		case stepVV:
			a, b := a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] = f(a[i], b[i])
			}
		case stepVS:
			a, y := a[:len(d)], b[0]
			for i := range d {
				d[i] = f(a[i], y)
			}
		case stepSV:
			x, b := a[0], b[:len(d)]
			for i := range d {
				d[i] = f(x, b[i])
			}
		}
	}
}

func registerElementwise(r *Registry) {
	// Binary arithmetic; numpy broadcasting arrived in opset 7.
	r.Register("", "Add", 7, arithBuilder(opAdd, 2))
	r.Register("", "Sub", 7, arithBuilder(opSub, 2))
	r.Register("", "Mul", 7, arithBuilder(opMul, 2))
	r.Register("", "Div", 7, arithBuilder(opDiv, 2))
	r.Register("", "Mod", 10, buildMod)
	r.Register("", "Pow", 7, buildPow)
	// Variadic ops. Opset 6 required equal shapes, a case of broadcasting.
	r.Register("", "Sum", 6, arithBuilder(opAdd, -1))
	r.Register("", "Mean", 6, arithBuilder(opMean, -1))
	r.Register("", "Min", 6, arithBuilder(opMin, -1))
	r.Register("", "Max", 6, arithBuilder(opMax, -1))
	for _, u := range unaryOps() {
		r.Register("", u.name, u.since, unaryBuilder(u))
	}
	r.Register("", "IsNaN", 9, buildIsNaN)
	r.Register("", "IsInf", 10, buildIsInf)
	r.Register("", "Equal", 7, compareBuilder(cmpEqual))
	r.Register("", "Less", 7, compareBuilder(cmpLess))
	r.Register("", "Greater", 7, compareBuilder(cmpGreater))
	r.Register("", "LessOrEqual", 12, compareBuilder(cmpLessOrEqual))
	r.Register("", "GreaterOrEqual", 12, compareBuilder(cmpGreaterOrEqual))
	r.Register("", "Not", 1, buildNot)
	r.Register("", "And", 7, logicBuilder(logicAnd))
	r.Register("", "Or", 7, logicBuilder(logicOr))
	r.Register("", "Xor", 7, logicBuilder(logicXor))
	r.Register("", "Where", 9, buildWhere)
	r.Register("", "Cast", 6, buildCast)
	r.Register("", "CastLike", 15, buildCastLike)
}

// checkArity records an error unless the node has between lo and hi
// inputs (hi < 0: no limit), all present.
func checkArity(n *Node, lo, hi int) {
	if len(n.Inputs) < lo || hi >= 0 && len(n.Inputs) > hi {
		switch {
		case hi == lo:
			n.fail("expected %d inputs, got %d", lo, len(n.Inputs))
		case hi < 0:
			n.fail("expected at least %d inputs, got %d", lo, len(n.Inputs))
		default:
			n.fail("expected %d to %d inputs, got %d", lo, hi, len(n.Inputs))
		}
		return
	}
	for i := range n.Inputs {
		if !n.HasInput(i) {
			n.fail("input %d is empty; it is not optional", i)
		}
	}
}

// requireSameTypes returns an error unless every input has in[0]'s type.
func requireSameTypes(rc *RunContext, in []*Tensor) error {
	for i, t := range in[1:] {
		if t.dtype != in[0].dtype {
			return rc.Errorf("input %d has type %v but input 0 has %v", i+1, t.dtype, in[0].dtype)
		}
	}
	return nil
}

func errInputType(rc *RunContext, dt DType) error {
	return rc.Errorf("input type %v is not supported", dt)
}

// ---- Float16 ----

// halfAsFloat runs a float kernel on Float16 data: it widens every Float16
// input to float32 and, when input follow was Float16, rounds the Float32
// outputs back to Float16. Other inputs pass through unchanged.
type halfAsFloat struct {
	inner  Kernel
	follow int
}

func (h halfAsFloat) Run(rc *RunContext, in, out []*Tensor) error {
	wide, any16 := in, false
	for i, t := range in {
		if t != nil && t.dtype == Float16 {
			if !any16 {
				wide = append([]*Tensor(nil), in...)
				any16 = true
			}
			wide[i] = widenHalf(rc, t)
		}
	}
	if !any16 {
		return h.inner.Run(rc, in, out)
	}
	if err := h.inner.Run(rc, wide, out); err != nil {
		return err
	}
	if h.follow < len(in) && in[h.follow] != nil && in[h.follow].dtype == Float16 {
		for i, t := range out {
			if t != nil && t.dtype == Float32 {
				out[i] = narrowToHalf(rc, t)
				rc.release(t)
			}
		}
	}
	return nil
}

// widenHalf returns a Float32 copy of a Float16 tensor in scratch memory.
func widenHalf(rc *RunContext, t *Tensor) *Tensor {
	src := Values[uint16](t)
	dst := rc.Float32Scratch(len(src))
	for i, h := range src {
		dst[i] = onnx.Float16ToFloat32(h)
	}
	return &Tensor{dtype: Float32, shape: t.shape, data: dst}
}

// narrowToHalf returns t (Float32) rounded to a new Float16 tensor.
func narrowToHalf(rc *RunContext, t *Tensor) *Tensor {
	o := rc.New(Float16, t.shape...)
	dst := Values[uint16](o)
	for i, f := range t.Float32s() {
		dst[i] = onnx.Float32ToFloat16(f)
	}
	return o
}

// float64ToHalf rounds x to the nearest half, ties to even. Rounding to
// float32 first could round twice (onto a half-way point between two
// halves), so the float32 step rounds to odd instead: truncate, then set the
// last bit if anything was dropped. float32 keeps 13 more significand bits
// than a half, so the second rounding then sees the dropped part correctly.
func float64ToHalf(x float64) uint16 {
	f := float32(x)
	if g := float64(f); g != x && !math.IsNaN(x) {
		bits := math.Float32bits(f)
		if math.Abs(g) > math.Abs(x) {
			bits-- // one step toward zero: f was rounded away from zero
		}
		f = math.Float32frombits(bits | 1)
	}
	return onnx.Float32ToFloat16(f)
}

// ---- Arithmetic: Add, Sub, Mul, Div, Sum, Mean, Min, Max ----

type arithOp uint8

const (
	opAdd arithOp = iota
	opSub
	opMul
	opDiv
	opMin
	opMax
	opMean // Add over all inputs, then divide by their number
)

// arithKernel computes a broadcasting arithmetic op over two inputs (Add,
// Sub, Mul, Div) or one or more (Sum, Mean, Min, Max), all of one type.
type arithKernel struct{ op arithOp }

// arithBuilder plans an arithmetic op with exactly arity inputs, or at least
// one if arity < 0.
func arithBuilder(op arithOp, arity int) Builder {
	return func(n *Node) (Kernel, error) {
		if arity < 0 {
			checkArity(n, 1, -1)
		} else {
			checkArity(n, arity, arity)
		}
		if err := n.Err(); err != nil {
			return nil, err
		}
		return halfAsFloat{&arithKernel{op}, 0}, nil
	}
}

func (k *arithKernel) Run(rc *RunContext, in, out []*Tensor) error {
	if err := requireSameTypes(rc, in); err != nil {
		return err
	}
	shapes := make([][]int, len(in))
	for i, t := range in {
		shapes[i] = t.shape
	}
	shape, err := BroadcastShapes(shapes...)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	dt := in[0].dtype
	if k.op == opMean && dt != Float32 && dt != Float64 {
		return errInputType(rc, dt)
	}
	if len(in) == 1 {
		out[0] = in[0]
		return nil
	}
	if k.op == opDiv && hasZeroDivisor(in[1]) {
		return rc.Errorf("integer division by zero")
	}
	o := rc.New(dt, shape...)
	switch dt {
	case Float32:
		arithRun[float32](rc, k.op, in, o)
	case Float64:
		arithRun[float64](rc, k.op, in, o)
	case Int64:
		arithRun[int64](rc, k.op, in, o)
	case Int32:
		arithRun[int32](rc, k.op, in, o)
	case Int8:
		arithRun[int8](rc, k.op, in, o)
	case Uint8:
		arithRun[uint8](rc, k.op, in, o)
	default:
		rc.release(o)
		return errInputType(rc, dt)
	}
	out[0] = o
	return nil
}

// hasZeroDivisor reports whether an integer tensor holds a zero.
func hasZeroDivisor(t *Tensor) bool {
	switch d := t.data.(type) {
	case []int64:
		return hasZero(d)
	case []int32:
		return hasZero(d)
	case []int8:
		return hasZero(d)
	case []uint8:
		return hasZero(d)
	}
	return false
}

func hasZero[T numElem](d []T) bool {
	for _, v := range d {
		if v == 0 {
			return true
		}
	}
	return false
}

// arithRun folds the inputs into o left to right: o = in0 ⊕ in1, then
// o = o ⊕ ink for the rest, broadcasting each step to o's shape.
func arithRun[T numElem](rc *RunContext, op arithOp, in []*Tensor, o *Tensor) {
	loop := arithLoop[T](op)
	d := Values[T](o)
	if len(in) == 2 {
		bc, _ := NewBroadcaster(in[0].shape, in[1].shape)
		runBinary(rc.threads, bc, d, Values[T](in[0]), Values[T](in[1]), 0, 1, loop, costCheap)
	} else {
		bc, _ := NewBroadcaster(o.shape, in[0].shape, in[1].shape)
		runBinary(rc.threads, bc, d, Values[T](in[0]), Values[T](in[1]), 1, 2, loop, costCheap)
		for _, t := range in[2:] {
			bc, _ := NewBroadcaster(o.shape, t.shape)
			runBinary(rc.threads, bc, d, d, Values[T](t), 0, 1, loop, costCheap)
		}
	}
	if op == opMean {
		divideAll(d, len(in))
	}
}

// divideAll divides every element by n (Mean; floats only).
func divideAll[T numElem](d []T, n int) {
	k := T(n)
	for i := range d {
		d[i] /= k
	}
}

func arithLoop[T numElem](op arithOp) binLoop[T, T, T] {
	switch op {
	case opSub:
		return subLoop[T]
	case opMul:
		return mulLoop[T]
	case opDiv:
		return divLoop[T]
	case opMin:
		return minLoop[T]
	case opMax:
		return maxLoop[T]
	}
	return addLoop[T] // opAdd, opMean
}

func addLoop[T numElem](d, a, b []T, m stepMode) {
	d, a, b = binaryPrefix(bin32Add, d, a, b, m)
	switch m {
	case stepVV:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case stepVS:
		a, y := a[:len(d)], b[0]
		for i := range d {
			d[i] = a[i] + y
		}
	case stepSV:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x + b[i]
		}
	}
}

func subLoop[T numElem](d, a, b []T, m stepMode) {
	d, a, b = binaryPrefix(bin32Sub, d, a, b, m)
	switch m {
	case stepVV:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case stepVS:
		a, y := a[:len(d)], b[0]
		for i := range d {
			d[i] = a[i] - y
		}
	case stepSV:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x - b[i]
		}
	}
}

func mulLoop[T numElem](d, a, b []T, m stepMode) {
	d, a, b = binaryPrefix(bin32Mul, d, a, b, m)
	switch m {
	case stepVV:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] * b[i]
		}
	case stepVS:
		a, y := a[:len(d)], b[0]
		for i := range d {
			d[i] = a[i] * y
		}
	case stepSV:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x * b[i]
		}
	}
}

// The float32 vector kernels of the arithmetic loops (vecmath_amd64.go), nil where there are
// none: binary32Vec[op] computes dst[i] = a[i] op b[i]; divBy32Vec a[i]/y and divInto32Vec
// x/b[i]; the other broadcast forms go through affine32Vec. Each gives Go's float32 result bit
// for bit, 16 values at a time.
const (
	bin32Add = iota
	bin32Sub
	bin32Mul
	bin32Div
	numBinary32
)

var (
	binary32Vec              [numBinary32]func(dst, a, b []float32, n int)
	divBy32Vec, divInto32Vec func(dst, a []float32, y float32, n int)
)

// binaryPrefix computes the longest prefix of a float32 run of op that the vector kernels
// handle and returns the rest. A broadcast operand y is folded into the affine kernel as
// a·x + b, exactly: x + y as 1·x + y, x − y as 1·x + (−y), y − x as (−1)·x + y, x·y as
// y·x + (−0); the clamp to ±Inf changes nothing.
func binaryPrefix[T numElem](op int, d, a, b []T, m stepMode) ([]T, []T, []T) {
	d32, ok := any(d).([]float32)
	if !ok || binary32Vec[op] == nil {
		return d, a, b
	}
	a32, b32 := any(a).([]float32), any(b).([]float32)
	n := len(d32) &^ 15
	if n == 0 {
		return d, a, b
	}
	inf, negZero := float32(math.Inf(1)), float32(math.Copysign(0, -1))
	switch m {
	case stepVV:
		binary32Vec[op](d32, a32, b32, n)
		return d[n:], a[n:], b[n:]
	case stepVS:
		y := b32[0]
		switch op {
		case bin32Add:
			affine32Vec(d32, a32, n, 1, y, -inf, inf, false)
		case bin32Sub:
			affine32Vec(d32, a32, n, 1, -y, -inf, inf, false)
		case bin32Mul:
			affine32Vec(d32, a32, n, y, negZero, -inf, inf, false)
		case bin32Div:
			divBy32Vec(d32, a32, y, n)
		}
		return d[n:], a[n:], b
	case stepSV:
		x := a32[0]
		switch op {
		case bin32Add:
			affine32Vec(d32, b32, n, 1, x, -inf, inf, false)
		case bin32Sub:
			affine32Vec(d32, b32, n, -1, x, -inf, inf, false)
		case bin32Mul:
			affine32Vec(d32, b32, n, x, negZero, -inf, inf, false)
		case bin32Div:
			divInto32Vec(d32, b32, x, n)
		}
		return d[n:], a, b[n:]
	}
	return d, a, b
}

// divLoop divides; integer callers have checked for zero divisors. Dividing
// by a broadcast float divisor stays a division (not a multiplication by its
// reciprocal), so results are correctly rounded as in numpy.
func divLoop[T numElem](d, a, b []T, m stepMode) {
	d, a, b = binaryPrefix(bin32Div, d, a, b, m)
	switch m {
	case stepVV:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] / b[i]
		}
	case stepVS:
		a, y := a[:len(d)], b[0]
		for i := range d {
			d[i] = a[i] / y
		}
	case stepSV:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x / b[i]
		}
	}
}

// minLoop and maxLoop use Go's min and max, which propagate NaN as numpy's
// minimum and maximum (and ONNX's reference) do.
func minLoop[T numElem](d, a, b []T, m stepMode) {
	switch m {
	case stepVV:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = min(a[i], b[i])
		}
	case stepVS:
		a, y := a[:len(d)], b[0]
		for i := range d {
			d[i] = min(a[i], y)
		}
	case stepSV:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = min(x, b[i])
		}
	}
}

func maxLoop[T numElem](d, a, b []T, m stepMode) {
	switch m {
	case stepVV:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = max(a[i], b[i])
		}
	case stepVS:
		a, y := a[:len(d)], b[0]
		for i := range d {
			d[i] = max(a[i], y)
		}
	case stepSV:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = max(x, b[i])
		}
	}
}

// ---- Mod ----

// modKernel is Mod: with fmod = 0 (integers only) the result takes the
// divisor's sign, as Python's %; with fmod = 1 it takes the dividend's, as
// C's fmod.
type modKernel struct{ fmod bool }

func buildMod(n *Node) (Kernel, error) {
	checkArity(n, 2, 2)
	fmod := n.IntIn("fmod", 0, 0, 1) == 1
	if err := n.Err(); err != nil {
		return nil, err
	}
	return halfAsFloat{&modKernel{fmod}, 0}, nil
}

func (k *modKernel) Run(rc *RunContext, in, out []*Tensor) error {
	if err := requireSameTypes(rc, in); err != nil {
		return err
	}
	bc, err := NewBroadcaster(in[0].shape, in[1].shape)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	dt := in[0].dtype
	if (dt == Float32 || dt == Float64) && !k.fmod {
		return rc.Errorf("attribute \"fmod\" must be 1 for floating-point inputs (type %v)", dt)
	}
	if hasZeroDivisor(in[1]) {
		return rc.Errorf("integer division by zero")
	}
	o := rc.New(dt, bc.Shape...)
	switch dt {
	case Float32:
		runMod(rc, bc, o, in, fmodFloat[float32])
	case Float64:
		runMod(rc, bc, o, in, fmodFloat[float64])
	case Int64:
		runMod(rc, bc, o, in, intMod[int64](k.fmod))
	case Int32:
		runMod(rc, bc, o, in, intMod[int32](k.fmod))
	case Int8:
		runMod(rc, bc, o, in, intMod[int8](k.fmod))
	case Uint8:
		runMod(rc, bc, o, in, intMod[uint8](k.fmod))
	default:
		rc.release(o)
		return errInputType(rc, dt)
	}
	out[0] = o
	return nil
}

func runMod[T numElem](rc *RunContext, bc *Broadcaster, o *Tensor, in []*Tensor, f func(T, T) T) {
	runBinary(rc.threads, bc, Values[T](o), Values[T](in[0]), Values[T](in[1]), 0, 1, mapBinary(f), costMath)
}

func fmodFloat[T floatElem](a, b T) T { return T(math.Mod(float64(a), float64(b))) }

type intElem interface{ int64 | int32 | int8 | uint8 }

func intMod[T intElem](fmod bool) func(T, T) T {
	if fmod {
		return func(a, b T) T { return a % b }
	}
	return func(a, b T) T {
		r := a % b
		if r != 0 && (r < 0) != (b < 0) {
			r += b
		}
		return r
	}
}

// ---- Pow ----

// powKernel is Pow: the result has the base's type; the exponent may have
// any numeric type. Integer bases with integer exponents use exact integer
// powers (wrapping on overflow); everything else goes through float64
// math.Pow, converted back to the base type (truncating for integers).
type powKernel struct{}

func buildPow(n *Node) (Kernel, error) {
	checkArity(n, 2, 2)
	if err := n.Err(); err != nil {
		return nil, err
	}
	return halfAsFloat{powKernel{}, 0}, nil
}

func (powKernel) Run(rc *RunContext, in, out []*Tensor) error {
	base, exp := in[0], in[1]
	bc, err := NewBroadcaster(base.shape, exp.shape)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	o := rc.New(base.dtype, bc.Shape...)
	ok := false
	switch base.dtype {
	case Float32:
		ok = powSquareFast(rc, bc, o, base, exp) || powBase[float32](rc, bc, o, base, exp)
	case Float64:
		ok = powBase[float64](rc, bc, o, base, exp)
	case Int64:
		ok = powBase[int64](rc, bc, o, base, exp)
	case Int32:
		ok = powBase[int32](rc, bc, o, base, exp)
	case Int8:
		ok = powBase[int8](rc, bc, o, base, exp)
	case Uint8:
		ok = powBase[uint8](rc, bc, o, base, exp)
	}
	if !ok {
		rc.release(o)
		return rc.Errorf("unsupported base/exponent types %v, %v", base.dtype, exp.dtype)
	}
	out[0] = o
	return nil
}

// powSquareFast handles x^2 for a float32 base and a one-element exponent of
// 2 (common in exported normalisations) with one multiplication, which gives
// the same correctly rounded result as math.Pow.
func powSquareFast(rc *RunContext, bc *Broadcaster, o, base, exp *Tensor) bool {
	if exp.Len() != 1 || exp.dtype != Float32 || exp.Float32s()[0] != 2 {
		return false
	}
	a := base.Float32s()
	runBinary(rc.threads, bc, o.Float32s(), a, a, 0, 0, mulLoop[float32], costCheap)
	return true
}

func powBase[B numElem](rc *RunContext, bc *Broadcaster, o, base, exp *Tensor) bool {
	d, a := Values[B](o), Values[B](base)
	intBase := !isFloatType[B]()
	switch e := exp.data.(type) {
	case []float32:
		runBinary(rc.threads, bc, d, a, e, 0, 1, mapBinary(floatPow[B, float32]), costMath)
	case []float64:
		runBinary(rc.threads, bc, d, a, e, 0, 1, mapBinary(floatPow[B, float64]), costMath)
	case []int64:
		runBinary(rc.threads, bc, d, a, e, 0, 1, powInts[B, int64](intBase), costMath)
	case []int32:
		runBinary(rc.threads, bc, d, a, e, 0, 1, powInts[B, int32](intBase), costMath)
	case []int8:
		runBinary(rc.threads, bc, d, a, e, 0, 1, powInts[B, int8](intBase), costMath)
	case []uint8:
		runBinary(rc.threads, bc, d, a, e, 0, 1, powInts[B, uint8](intBase), costMath)
	default:
		return false
	}
	return true
}

func isFloatType[T numElem]() bool {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return true
	}
	return false
}

func floatPow[B, E numElem](a B, e E) B { return B(math.Pow(float64(a), float64(e))) }

// powInts raises to integer exponents: exactly for integer bases, through
// math.Pow for float bases.
func powInts[B, E numElem](intBase bool) binLoop[B, E, B] {
	if !intBase {
		return mapBinary(floatPow[B, E])
	}
	return mapBinary(func(a B, e E) B { return intPow(a, int64(e)) })
}

// intPow is a^e by squaring, wrapping on overflow. A negative exponent gives
// the truncated quotient 1/a^|e|: 1 for a = 1, ±1 for a = −1, else 0 (a = 0
// gives 0 rather than dividing by zero).
func intPow[T numElem](a T, e int64) T {
	if e < 0 {
		one := T(1)
		switch {
		case a == one:
			return one
		case a < 0 && a == 0-one:
			if e%2 == 0 {
				return one
			}
			return a
		}
		return 0
	}
	r := T(1)
	for e > 0 {
		if e&1 == 1 {
			r *= a
		}
		a *= a
		e >>= 1
	}
	return r
}

// ---- Unary math ----

// unaryFuncs holds one op's loop per element type; nil means unsupported.
type unaryFuncs struct {
	f32 func(d, s []float32)
	f64 func(d, s []float64)
	i64 func(d, s []int64)
	i32 func(d, s []int32)
	i8  func(d, s []int8)
	u8  func(d, s []uint8)
}

type unaryOp struct {
	name  string
	since int
	cost  int
	fn    unaryFuncs
}

func floatUnary(f32 func(d, s []float32), f64 func(d, s []float64)) unaryFuncs {
	return unaryFuncs{f32: f32, f64: f64}
}

// unaryOps lists the unary math ops with the opset where their current
// semantics start.
func unaryOps() []unaryOp {
	return []unaryOp{
		{"Abs", 6, costCheap, unaryFuncs{absFloat[float32], absFloat[float64], absInt[int64], absInt[int32], absInt[int8], absInt[uint8]}},
		{"Neg", 6, costCheap, unaryFuncs{negLoop[float32], negLoop[float64], negLoop[int64], negLoop[int32], negLoop[int8], nil}},
		{"Sign", 9, costCheap, unaryFuncs{signLoop[float32], signLoop[float64], signLoop[int64], signLoop[int32], signLoop[int8], signLoop[uint8]}},
		{"Reciprocal", 6, costCheap, floatUnary(reciprocalLoop[float32], reciprocalLoop[float64])},
		{"Floor", 6, costCheap, floatUnary(floorLoop[float32], floorLoop[float64])},
		{"Ceil", 6, costCheap, floatUnary(ceilLoop[float32], ceilLoop[float64])},
		{"Round", 11, costCheap, floatUnary(roundLoop[float32], roundLoop[float64])},
		{"Sqrt", 6, costCheap, floatUnary(sqrtLoop[float32], sqrtLoop[float64])},
		{"Exp", 6, costMath, floatUnary(expLoop[float32], expLoop[float64])},
		{"Log", 6, costMath, floatUnary(logLoop[float32], logLoop[float64])},
		{"Erf", 9, costMath, floatUnary(erfLoop[float32], erfLoop[float64])},
		{"Sin", 7, costMath, floatUnary(mathLoop[float32](math.Sin), mathLoop[float64](math.Sin))},
		{"Cos", 7, costMath, floatUnary(mathLoop[float32](math.Cos), mathLoop[float64](math.Cos))},
		{"Tan", 7, costMath, floatUnary(mathLoop[float32](math.Tan), mathLoop[float64](math.Tan))},
		{"Asin", 7, costMath, floatUnary(mathLoop[float32](math.Asin), mathLoop[float64](math.Asin))},
		{"Acos", 7, costMath, floatUnary(mathLoop[float32](math.Acos), mathLoop[float64](math.Acos))},
		{"Atan", 7, costMath, floatUnary(mathLoop[float32](math.Atan), mathLoop[float64](math.Atan))},
		{"Sinh", 9, costMath, floatUnary(mathLoop[float32](math.Sinh), mathLoop[float64](math.Sinh))},
		{"Cosh", 9, costMath, floatUnary(mathLoop[float32](math.Cosh), mathLoop[float64](math.Cosh))},
		{"Asinh", 9, costMath, floatUnary(mathLoop[float32](math.Asinh), mathLoop[float64](math.Asinh))},
		{"Acosh", 9, costMath, floatUnary(mathLoop[float32](math.Acosh), mathLoop[float64](math.Acosh))},
		{"Atanh", 9, costMath, floatUnary(mathLoop[float32](math.Atanh), mathLoop[float64](math.Atanh))},
	}
}

func unaryBuilder(u unaryOp) Builder {
	return func(n *Node) (Kernel, error) {
		checkArity(n, 1, 1)
		if err := n.Err(); err != nil {
			return nil, err
		}
		return halfAsFloat{&unaryKernel{u.fn, u.cost}, 0}, nil
	}
}

// unaryKernel applies one elementwise function; the output has the input's
// type and shape.
type unaryKernel struct {
	fn   unaryFuncs
	cost int
}

func (k *unaryKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	var ok bool
	switch x.dtype {
	case Float32:
		ok = applyUnary(rc, k.fn.f32, x, out, k.cost)
	case Float64:
		ok = applyUnary(rc, k.fn.f64, x, out, k.cost)
	case Int64:
		ok = applyUnary(rc, k.fn.i64, x, out, k.cost)
	case Int32:
		ok = applyUnary(rc, k.fn.i32, x, out, k.cost)
	case Int8:
		ok = applyUnary(rc, k.fn.i8, x, out, k.cost)
	case Uint8:
		ok = applyUnary(rc, k.fn.u8, x, out, k.cost)
	}
	if !ok {
		return errInputType(rc, x.dtype)
	}
	return nil
}

// applyUnary sets out[0] to f over x, in parallel chunks when x is large;
// it reports false if f is nil (type unsupported).
func applyUnary[S, D Elem](rc *RunContext, f func(d []D, s []S), x *Tensor, out []*Tensor, cost int) bool {
	if f == nil {
		return false
	}
	o := rc.New(dtypeOf[D](), x.shape...)
	d, s := Values[D](o), Values[S](x)
	parallelChunks(rc.threads, len(d), cost, func(lo, hi int) { f(d[lo:hi], s[lo:hi]) })
	out[0] = o
	return true
}

func absFloat[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = T(math.Abs(float64(s[i])))
	}
}

func absInt[T intElem](d, s []T) {
	s = s[:len(d)]
	for i, x := range s {
		if x < 0 {
			x = -x
		}
		d[i] = x
	}
}

func negLoop[T numElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = -s[i]
	}
}

// signLoop gives −1, 0 or 1; NaN stays NaN (numpy's sign).
func signLoop[T numElem](d, s []T) {
	s = s[:len(d)]
	one := T(1)
	for i, x := range s {
		switch {
		case x > 0:
			x = one
		case x < 0:
			x = -one
		}
		d[i] = x
	}
}

func reciprocalLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = 1 / s[i]
	}
}

func floorLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = T(math.Floor(float64(s[i])))
	}
}

func ceilLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = T(math.Ceil(float64(s[i])))
	}
}

// roundLoop rounds half to even, as ONNX's Round.
func roundLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = T(math.RoundToEven(float64(s[i])))
	}
}

// sqrtLoop and the transcendental loops compute in float64 and round once,
// so float32 results are correctly rounded in almost every case.
func sqrtLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = T(math.Sqrt(float64(s[i])))
	}
}

func expLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = T(math.Exp(float64(s[i])))
	}
}

func logLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i := range d {
		d[i] = T(math.Log(float64(s[i])))
	}
}

// erf32Vec, if set, computes float32 error functions 16 at a time (vecmath_amd64.go).
var erf32Vec func(dst, src []float32, n int)

func erfLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	d, s = vectorPrefix(erf32Vec, d, s)
	for i := range d {
		d[i] = T(math.Erf(float64(s[i])))
	}
}

// mathLoop makes a loop from a float64 function, for the rarely used
// trigonometric and hyperbolic ops.
func mathLoop[T floatElem](f func(float64) float64) func(d, s []T) {
	return func(d, s []T) {
		s = s[:len(d)]
		for i := range d {
			d[i] = T(f(float64(s[i])))
		}
	}
}

// ---- IsNaN, IsInf ----

// predicateKernel maps a float tensor to a bool tensor.
type predicateKernel struct {
	f32 func(d []bool, s []float32)
	f64 func(d []bool, s []float64)
}

func (k *predicateKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	var ok bool
	switch x.dtype {
	case Float32:
		ok = applyUnary(rc, k.f32, x, out, costCheap)
	case Float64:
		ok = applyUnary(rc, k.f64, x, out, costCheap)
	}
	if !ok {
		return errInputType(rc, x.dtype)
	}
	return nil
}

func buildIsNaN(n *Node) (Kernel, error) {
	checkArity(n, 1, 1)
	if err := n.Err(); err != nil {
		return nil, err
	}
	return halfAsFloat{&predicateKernel{isNaNLoop[float32], isNaNLoop[float64]}, 0}, nil
}

func isNaNLoop[T floatElem](d []bool, s []T) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = x != x
	}
}

func buildIsInf(n *Node) (Kernel, error) {
	checkArity(n, 1, 1)
	neg := n.IntIn("detect_negative", 1, 0, 1) == 1
	pos := n.IntIn("detect_positive", 1, 0, 1) == 1
	if err := n.Err(); err != nil {
		return nil, err
	}
	return halfAsFloat{&predicateKernel{isInfLoop[float32](neg, pos), isInfLoop[float64](neg, pos)}, 0}, nil
}

func isInfLoop[T floatElem](neg, pos bool) func(d []bool, s []T) {
	return func(d []bool, s []T) {
		s = s[:len(d)]
		for i, x := range s {
			d[i] = neg && math.IsInf(float64(x), -1) || pos && math.IsInf(float64(x), 1)
		}
	}
}

// ---- Comparisons and logic ----

type cmpOp uint8

const (
	cmpEqual cmpOp = iota
	cmpLess
	cmpGreater
	cmpLessOrEqual
	cmpGreaterOrEqual
)

// compareKernel compares two broadcast inputs of one type into a Bool
// tensor. Any comparison with NaN is false.
type compareKernel struct{ op cmpOp }

func compareBuilder(op cmpOp) Builder {
	return func(n *Node) (Kernel, error) {
		checkArity(n, 2, 2)
		if err := n.Err(); err != nil {
			return nil, err
		}
		return halfAsFloat{&compareKernel{op}, 0}, nil
	}
}

func (k *compareKernel) Run(rc *RunContext, in, out []*Tensor) error {
	if err := requireSameTypes(rc, in); err != nil {
		return err
	}
	bc, err := NewBroadcaster(in[0].shape, in[1].shape)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	o := rc.New(Bool, bc.Shape...)
	d := o.Bools()
	switch dt := in[0].dtype; dt {
	case Float32:
		compareRun[float32](rc, bc, d, in, k.op)
	case Float64:
		compareRun[float64](rc, bc, d, in, k.op)
	case Int64:
		compareRun[int64](rc, bc, d, in, k.op)
	case Int32:
		compareRun[int32](rc, bc, d, in, k.op)
	case Int8:
		compareRun[int8](rc, bc, d, in, k.op)
	case Uint8:
		compareRun[uint8](rc, bc, d, in, k.op)
	case Bool:
		if k.op != cmpEqual {
			rc.release(o)
			return errInputType(rc, dt)
		}
		eq := mapBinary(func(x, y bool) bool { return x == y })
		runBinary(rc.threads, bc, d, in[0].Bools(), in[1].Bools(), 0, 1, eq, costCheap)
	default:
		rc.release(o)
		return errInputType(rc, dt)
	}
	out[0] = o
	return nil
}

func compareRun[T numElem](rc *RunContext, bc *Broadcaster, d []bool, in []*Tensor, op cmpOp) {
	var f func(x, y T) bool
	switch op {
	case cmpEqual:
		f = func(x, y T) bool { return x == y }
	case cmpLess:
		f = func(x, y T) bool { return x < y }
	case cmpGreater:
		f = func(x, y T) bool { return x > y }
	case cmpLessOrEqual:
		f = func(x, y T) bool { return x <= y }
	case cmpGreaterOrEqual:
		f = func(x, y T) bool { return x >= y }
	}
	runBinary(rc.threads, bc, d, Values[T](in[0]), Values[T](in[1]), 0, 1, mapBinary(f), costCheap)
}

type logicOp uint8

const (
	logicAnd logicOp = iota
	logicOr
	logicXor
)

// logicKernel is And, Or or Xor of two broadcast Bool tensors.
type logicKernel struct{ op logicOp }

func logicBuilder(op logicOp) Builder {
	return func(n *Node) (Kernel, error) {
		checkArity(n, 2, 2)
		if err := n.Err(); err != nil {
			return nil, err
		}
		return &logicKernel{op}, nil
	}
}

func (k *logicKernel) Run(rc *RunContext, in, out []*Tensor) error {
	for _, t := range in {
		if t.dtype != Bool {
			return errInputType(rc, t.dtype)
		}
	}
	bc, err := NewBroadcaster(in[0].shape, in[1].shape)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	var f func(x, y bool) bool
	switch k.op {
	case logicAnd:
		f = func(x, y bool) bool { return x && y }
	case logicOr:
		f = func(x, y bool) bool { return x || y }
	default:
		f = func(x, y bool) bool { return x != y }
	}
	o := rc.New(Bool, bc.Shape...)
	runBinary(rc.threads, bc, o.Bools(), in[0].Bools(), in[1].Bools(), 0, 1, mapBinary(f), costCheap)
	out[0] = o
	return nil
}

func buildNot(n *Node) (Kernel, error) {
	checkArity(n, 1, 1)
	if err := n.Err(); err != nil {
		return nil, err
	}
	return KernelFunc(func(rc *RunContext, in, out []*Tensor) error {
		if in[0].dtype != Bool {
			return errInputType(rc, in[0].dtype)
		}
		applyUnary(rc, notLoop, in[0], out, costCheap)
		return nil
	}), nil
}

func notLoop(d, s []bool) {
	s = s[:len(d)]
	for i := range d {
		d[i] = !s[i]
	}
}

// ---- Where ----

// whereKernel is Where(cond, x, y): x where cond is true, else y, with
// three-way broadcasting. It moves elements of any type, Float16 included,
// without converting them.
type whereKernel struct{}

func buildWhere(n *Node) (Kernel, error) {
	checkArity(n, 3, 3)
	if err := n.Err(); err != nil {
		return nil, err
	}
	return whereKernel{}, nil
}

func (whereKernel) Run(rc *RunContext, in, out []*Tensor) error {
	c, x, y := in[0], in[1], in[2]
	if c.dtype != Bool {
		return rc.Errorf("condition has type %v, expected BOOL", c.dtype)
	}
	if x.dtype != y.dtype {
		return rc.Errorf("inputs 1 and 2 have types %v and %v; they must match", x.dtype, y.dtype)
	}
	bc, err := NewBroadcaster(c.shape, x.shape, y.shape)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	o := rc.New(x.dtype, bc.Shape...)
	switch d := o.data.(type) {
	case []float32:
		whereRun(rc, bc, d, c, x, y)
	case []float64:
		whereRun(rc, bc, d, c, x, y)
	case []int64:
		whereRun(rc, bc, d, c, x, y)
	case []int32:
		whereRun(rc, bc, d, c, x, y)
	case []int8:
		whereRun(rc, bc, d, c, x, y)
	case []uint8:
		whereRun(rc, bc, d, c, x, y)
	case []bool:
		whereRun(rc, bc, d, c, x, y)
	case []uint16:
		whereRun(rc, bc, d, c, x, y)
	}
	out[0] = o
	return nil
}

func whereRun[T Elem](rc *RunContext, bc *Broadcaster, d []T, c, x, y *Tensor) {
	cs, xs, ys := c.Bools(), Values[T](x), Values[T](y)
	steps := bc.Steps()
	parallelChunks(rc.threads, len(d), costCheap, func(lo, hi int) {
		broadcastSpans(bc, lo, hi, func(o, n int, offs []int) {
			cc, xx, yy := cs[offs[0]:], xs[offs[1]:], ys[offs[2]:]
			for i := range n {
				if cc[i*steps[0]] {
					d[o+i] = xx[i*steps[1]]
				} else {
					d[o+i] = yy[i*steps[2]]
				}
			}
		})
	})
}

// ---- Cast, CastLike ----

// castKernel converts between the runtime's element types: float to integer
// truncates toward zero, anything nonzero (NaN included) becomes true, and
// conversions to Float16 round to nearest even. CastLike takes the target
// type from its second input.
type castKernel struct {
	to   DType
	like bool
}

func buildCast(n *Node) (Kernel, error) {
	checkArity(n, 1, 1)
	if !n.HasAttr("to") {
		n.fail("attribute \"to\" is required")
	}
	to := n.Int("to", 0)
	checkCastAttrs(n, onnx.TensorProto_DataType(to))
	if err := n.Err(); err != nil {
		return nil, err
	}
	if !DType(to).Supported() {
		return nil, n.Errorf("attribute \"to\": casting to %v is not supported", onnx.TensorProto_DataType(to))
	}
	return &castKernel{to: DType(to)}, nil
}

func buildCastLike(n *Node) (Kernel, error) {
	checkArity(n, 2, 2)
	checkCastAttrs(n, onnx.TensorProto_UNDEFINED)
	if err := n.Err(); err != nil {
		return nil, err
	}
	return &castKernel{like: true}, nil
}

// checkCastAttrs validates "saturate" (opset 19), which only affects the
// float8 types; the runtime has no float8 tensors.
func checkCastAttrs(n *Node, to onnx.TensorProto_DataType) {
	n.IntIn("saturate", 1, 0, 1)
	switch to {
	case onnx.TensorProto_FLOAT8E4M3FN, onnx.TensorProto_FLOAT8E4M3FNUZ, onnx.TensorProto_FLOAT8E5M2, onnx.TensorProto_FLOAT8E5M2FNUZ:
		n.fail("attribute \"to\": casting to %v is not supported (no float8 tensors)", to)
	}
}

func (k *castKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x, to := in[0], k.to
	if k.like {
		to = in[1].dtype
	}
	if x.dtype == to {
		out[0] = x
		return nil
	}
	o := rc.New(to, x.shape...)
	switch d := o.data.(type) {
	case []float32:
		castNumbers(d, x.data)
	case []float64:
		castNumbers(d, x.data)
	case []int64:
		castNumbers(d, x.data)
	case []int32:
		castNumbers(d, x.data)
	case []int8:
		castNumbers(d, x.data)
	case []uint8:
		castNumbers(d, x.data)
	case []bool:
		castToBool(d, x.data)
	case []uint16:
		castToHalf(d, x.data)
	}
	out[0] = o
	return nil
}

func castNumbers[D numElem](d []D, src any) {
	switch s := src.(type) {
	case []float32:
		convertSlice(d, s)
	case []float64:
		convertSlice(d, s)
	case []int64:
		convertSlice(d, s)
	case []int32:
		convertSlice(d, s)
	case []int8:
		convertSlice(d, s)
	case []uint8:
		convertSlice(d, s)
	case []bool:
		for i, v := range s {
			d[i] = 0
			if v {
				d[i] = 1
			}
		}
	case []uint16:
		for i, h := range s {
			d[i] = D(onnx.Float16ToFloat32(h))
		}
	}
}

func convertSlice[D, S numElem](d []D, s []S) {
	s = s[:len(d)]
	for i := range d {
		d[i] = D(s[i])
	}
}

func castToBool(d []bool, src any) {
	switch s := src.(type) {
	case []float32:
		nonZero(d, s)
	case []float64:
		nonZero(d, s)
	case []int64:
		nonZero(d, s)
	case []int32:
		nonZero(d, s)
	case []int8:
		nonZero(d, s)
	case []uint8:
		nonZero(d, s)
	case []uint16:
		for i, h := range s {
			d[i] = h&0x7fff != 0 // not ±0
		}
	}
}

func nonZero[S numElem](d []bool, s []S) {
	s = s[:len(d)]
	for i := range d {
		d[i] = s[i] != 0
	}
}

func castToHalf(d []uint16, src any) {
	switch s := src.(type) {
	case []float64:
		for i, v := range s {
			d[i] = float64ToHalf(v)
		}
	case []float32:
		halfFrom(d, s)
	case []int64:
		halfFrom(d, s) // |v| ≥ 2²⁴ overflows a half anyway
	case []int32:
		halfFrom(d, s)
	case []int8:
		halfFrom(d, s)
	case []uint8:
		halfFrom(d, s)
	case []bool:
		for i, v := range s {
			d[i] = 0
			if v {
				d[i] = 0x3c00 // 1.0
			}
		}
	}
}

func halfFrom[S numElem](d []uint16, s []S) {
	for i, v := range s {
		d[i] = onnx.Float32ToFloat16(float32(v))
	}
}
