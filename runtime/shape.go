package runtime

import (
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/internal/parallel"
	"github.com/dcnet-go/dcnet/onnx"
)

// Shape and data-movement operators. They are type-agnostic: every runtime
// dtype works. Ops that only reinterpret the shape (Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Dropout) return zero-copy views; the ones
// that move elements use the gather engine in movement.go; Pad is in
// pad.go.
//
// Shape-like inputs (Reshape's shape, Slice's starts/ends/axes/steps, ...)
// are decoded and checked at plan time when they are constant, else at run
// time (intsInput).

func registerShapeOps(r *Registry) {
	// Reshape-1 takes the shape as an attribute; from 5 it is input 1;
	// allowzero arrives in 14.
	r.Register("", "Reshape", 1, Requiring(1, buildReshapeV1))
	r.Register("", "Reshape", 5, Requiring(2, buildReshape))
	r.Register("", "Flatten", 1, Requiring(1, buildFlatten)) // negative axis from 11
	r.Register("", "Squeeze", 1, Requiring(1, buildSqueezeV1))
	r.Register("", "Squeeze", 13, Requiring(1, buildSqueeze)) // axes becomes an input
	r.Register("", "Unsqueeze", 1, Requiring(1, buildUnsqueezeV1))
	r.Register("", "Unsqueeze", 13, Requiring(2, buildUnsqueeze))
	r.Register("", "Identity", 1, Requiring(1, buildIdentity))
	r.Register("", "Dropout", 1, Requiring(1, buildDropoutV1))   // mask has the input's type
	r.Register("", "Dropout", 10, Requiring(1, buildDropoutV10)) // mask is bool
	r.Register("", "Dropout", 12, Requiring(1, buildDropout))    // ratio, training_mode inputs
	r.Register("", "Shape", 1, Requiring(1, buildShape))         // start/end from 15
	r.Register("", "Size", 1, Requiring(1, buildSize))
	r.Register("", "Constant", 1, buildConstant) // value_float(s)/value_int(s) from 12
	r.Register("", "ConstantOfShape", 9, Requiring(1, buildConstantOfShape))
	r.Register("", "Range", 11, Requiring(3, buildRange))
	r.Register("", "NonZero", 9, Requiring(1, buildNonZero))

	// movement.go
	r.Register("", "Transpose", 1, Requiring(1, buildTranspose))
	r.Register("", "Concat", 1, Requiring(1, buildConcat)) // axis optional (default 1) before 4
	r.Register("", "Concat", 4, Requiring(1, buildConcat))
	r.Register("", "Split", 1, Requiring(1, buildSplit))  // split attribute (or input 1 in Split-1)
	r.Register("", "Split", 13, Requiring(1, buildSplit)) // split input
	r.Register("", "Split", 18, Requiring(1, buildSplit)) // num_outputs
	r.Register("", "Slice", 1, Requiring(1, buildSliceV1))
	r.Register("", "Slice", 10, Requiring(3, buildSlice))
	r.Register("", "Gather", 1, Requiring(2, buildGather))
	r.Register("", "GatherElements", 11, Requiring(2, buildGatherElements))
	r.Register("", "Expand", 8, Requiring(2, buildExpand))
	r.Register("", "Tile", 6, Requiring(2, buildTile))
	r.Register("", "DepthToSpace", 1, Requiring(1, buildDepthToSpace)) // mode from 11
	r.Register("", "SpaceToDepth", 1, Requiring(1, buildSpaceToDepth))

	// pad.go
	r.Register("", "Pad", 1, Requiring(1, buildPadV1))
	r.Register("", "Pad", 2, Requiring(1, buildPadV2))
	r.Register("", "Pad", 11, Requiring(1, buildPad))
	r.Register("", "Pad", 18, Requiring(1, buildPad)) // axes input; wrap mode from 19
}

// ---- helpers shared by the shape ops ----

// intsInput is a shape-like integer list given as an input (or, in old
// opsets, an attribute). When the value is known at plan time it is decoded
// once; otherwise get decodes it from the run's inputs.
type intsInput struct {
	index   int    // input slot, -1 for an attribute
	what    string // the input's name in messages
	present bool   // the input or attribute is given
	known   bool   // vals holds the plan-time value
	vals    []int64
}

// planIntsInput describes optional or required input i, decoding it if it
// is constant.
func planIntsInput(n *Node, i int, what string) (intsInput, error) {
	a := intsInput{index: i, what: what, present: n.HasInput(i)}
	if t := n.Const(i); t != nil {
		v, err := intsOf(t)
		if err != nil {
			return a, n.Errorf("input %d (%s): %v", i, what, err)
		}
		a.vals, a.known = v, true
	}
	return a, nil
}

// attrIntsInput wraps an attribute's list.
func attrIntsInput(v []int64) intsInput {
	return intsInput{index: -1, present: true, known: true, vals: v}
}

// get returns the values and whether the input is present.
func (a *intsInput) get(rc *RunContext, in []*Tensor) ([]int64, bool, error) {
	if a.known {
		return a.vals, true, nil
	}
	if !a.present || a.index < 0 || a.index >= len(in) || in[a.index] == nil {
		return nil, false, nil
	}
	v, err := intsOf(in[a.index])
	if err != nil {
		return nil, false, rc.Errorf("input %d (%s): %v", a.index, a.what, err)
	}
	return v, true, nil
}

// intsOf reads a 1-D (or scalar) int64/int32 tensor.
func intsOf(t *Tensor) ([]int64, error) {
	if t.Rank() > 1 {
		return nil, fmt.Errorf("expected a 1-D tensor, got shape %s", ShapeString(t.shape))
	}
	if t.dtype != Int64 && t.dtype != Int32 {
		return nil, fmt.Errorf("expected int64 elements, got %v", t.dtype)
	}
	v, _ := t.AsInts()
	return v, nil
}

// dimsOf converts a list of sizes, rejecting negative or huge ones.
func dimsOf(v []int64) ([]int, error) {
	out := make([]int, len(v))
	for i, d := range v {
		if d < 0 || d > maxElements {
			return nil, fmt.Errorf("%v: invalid size %d", v, d)
		}
		out[i] = int(d)
	}
	return out, nil
}

// normAxis maps an axis in [-rank, rank) to [0, rank).
func normAxis(axis, rank int) (int, bool) {
	if axis < -rank || axis >= rank {
		return 0, false
	}
	if axis < 0 {
		axis += rank
	}
	return axis, true
}

// normAxes normalises a list of axes for the given rank, rejecting
// out-of-range and repeated ones; it returns a membership mask.
func normAxes(axes []int64, rank int) ([]bool, error) {
	mask := make([]bool, rank)
	for _, a := range axes {
		ax, ok := normAxis(int(max(min(a, math.MaxInt32), math.MinInt32)), rank)
		if !ok {
			return nil, fmt.Errorf("axes %v: axis %d out of range for rank %d", axes, a, rank)
		}
		if mask[ax] {
			return nil, fmt.Errorf("axes %v: axis %d repeated", axes, ax)
		}
		mask[ax] = true
	}
	return mask, nil
}

// scalarOf returns a rank-0 tensor of type dt holding v converted to it.
func scalarOf(dt DType, v float64) *Tensor {
	switch dt {
	case Float32:
		return Scalar(float32(v))
	case Float64:
		return Scalar(v)
	case Float16:
		return Scalar(onnx.Float32ToFloat16(float32(v)))
	case Int64:
		return Scalar(int64(v))
	case Int32:
		return Scalar(int32(v))
	case Int8:
		return Scalar(int8(v))
	case Uint8:
		return Scalar(uint8(v))
	case Bool:
		return Scalar(v != 0)
	}
	panic(fmt.Sprintf("runtime: scalar of %v", dt))
}

// floatOf reads a one-element numeric tensor as float64.
func floatOf(t *Tensor) (float64, error) {
	if t.Len() != 1 {
		return 0, fmt.Errorf("expected one element, got shape %s", ShapeString(t.shape))
	}
	switch d := t.data.(type) {
	case []float32:
		return float64(d[0]), nil
	case []float64:
		return d[0], nil
	case []uint16:
		return float64(onnx.Float16ToFloat32(d[0])), nil
	case []int64:
		return float64(d[0]), nil
	case []int32:
		return float64(d[0]), nil
	case []int8:
		return float64(d[0]), nil
	case []uint8:
		return float64(d[0]), nil
	}
	return 0, fmt.Errorf("expected a number, got %v", t.dtype)
}

// fillTensor sets every element of t to the single element of v (same
// dtype).
func fillTensor(rc *RunContext, t, v *Tensor) {
	threads := moveThreads(rc, t.Len())
	switch t.dtype.Size() {
	case 1:
		fillParallel(wordsOf[uint8](t), firstWord[uint8](v), threads)
	case 2:
		fillParallel(wordsOf[uint16](t), firstWord[uint16](v), threads)
	case 4:
		fillParallel(wordsOf[uint32](t), firstWord[uint32](v), threads)
	case 8:
		fillParallel(wordsOf[uint64](t), firstWord[uint64](v), threads)
	}
}

func fillParallel[W word](dst []W, v W, threads int) {
	parallel.For(threads, len(dst), func(lo, hi int) { fillWords(dst[lo:hi], v) })
}

// ---- Reshape ----

type reshapeKernel struct {
	shape     intsInput
	allowZero bool // a 0 is a zero-size dimension instead of "copy"
}

func buildReshapeV1(n *Node) (Kernel, error) {
	if !n.HasAttr("shape") {
		return nil, n.Errorf("attribute \"shape\": required")
	}
	k := &reshapeKernel{shape: attrIntsInput(n.Ints("shape", nil))}
	if err := n.Err(); err != nil {
		return nil, err
	}
	if err := checkReshapeSpec(k.shape.vals, false); err != nil {
		return nil, n.Errorf("attribute \"shape\": %v", err)
	}
	return k, nil
}

func buildReshape(n *Node) (Kernel, error) {
	k := &reshapeKernel{allowZero: n.IntIn("allowzero", 0, 0, 1) == 1}
	if err := n.Err(); err != nil {
		return nil, err
	}
	s, err := planIntsInput(n, 1, "shape")
	if err != nil {
		return nil, err
	}
	if !s.present {
		return nil, n.Errorf("input 1 (shape): required")
	}
	if s.known {
		if err := checkReshapeSpec(s.vals, k.allowZero); err != nil {
			return nil, n.Errorf("input 1 (shape): %v", err)
		}
	}
	k.shape = s
	return k, nil
}

// checkReshapeSpec validates a target shape on its own: entries ≥ -1, at
// most one -1, and no 0 next to a -1 under allowzero.
func checkReshapeSpec(spec []int64, allowZero bool) error {
	infer, zero := 0, false
	for _, v := range spec {
		switch {
		case v < -1 || v > maxElements:
			return fmt.Errorf("%v: invalid dimension %d", spec, v)
		case v == -1:
			infer++
		case v == 0:
			zero = true
		}
	}
	if infer > 1 {
		return fmt.Errorf("%v: more than one -1", spec)
	}
	if allowZero && zero && infer > 0 {
		return fmt.Errorf("%v: allowzero forbids a 0 together with a -1", spec)
	}
	return nil
}

// resolveReshape computes the output shape of reshaping `in` to spec: a 0
// copies the input's dimension (unless allowZero), one -1 is inferred.
func resolveReshape(in []int, spec []int64, allowZero bool) ([]int, error) {
	if err := checkReshapeSpec(spec, allowZero); err != nil {
		return nil, err
	}
	out := make([]int, len(spec))
	infer := -1
	for i, v := range spec {
		switch {
		case v == -1:
			infer = i
			out[i] = 1
		case v == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("%v: the 0 at position %d copies a dimension the input %s lacks", spec, i, ShapeString(in))
			}
			out[i] = in[i]
		default:
			out[i] = int(v)
		}
	}
	total, known := NumElements(in), NumElements(out)
	if known < 0 {
		return nil, fmt.Errorf("%v: too many elements", spec)
	}
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %s (%d elements) to %v", ShapeString(in), total, spec)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %s (%d elements) to %s (%d elements)", ShapeString(in), total, ShapeString(out), known)
	}
	return out, nil
}

func (k *reshapeKernel) Run(rc *RunContext, in, out []*Tensor) error {
	spec, _, err := k.shape.get(rc, in)
	if err != nil {
		return err
	}
	shape, err := resolveReshape(in[0].shape, spec, k.allowZero)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	out[0] = rc.View(in[0], shape)
	return nil
}

// ---- Flatten ----

type flattenKernel struct{ axis int }

func buildFlatten(n *Node) (Kernel, error) {
	k := &flattenKernel{axis: int(n.IntIn("axis", 1, math.MinInt32, math.MaxInt32))}
	return k, n.Err()
}

// Run reshapes x to [d_0·…·d_{axis-1}, d_axis·…·d_{r-1}] (a view).
func (k *flattenKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	axis := k.axis
	if axis < 0 {
		axis += x.Rank()
	}
	if axis < 0 || axis > x.Rank() {
		return rc.Errorf("axis %d out of range for rank %d", k.axis, x.Rank())
	}
	out[0] = rc.View(x, []int{NumElements(x.shape[:axis]), NumElements(x.shape[axis:])})
	return nil
}

// ---- Squeeze, Unsqueeze ----

type squeezeKernel struct{ axes intsInput }

func buildSqueezeV1(n *Node) (Kernel, error) {
	k := &squeezeKernel{}
	if n.HasAttr("axes") {
		k.axes = attrIntsInput(n.Ints("axes", nil))
	}
	return k, n.Err()
}

func buildSqueeze(n *Node) (Kernel, error) {
	a, err := planIntsInput(n, 1, "axes")
	if err != nil {
		return nil, err
	}
	return &squeezeKernel{axes: a}, nil
}

// Run removes the listed size-1 dimensions, or every size-1 dimension if
// no axes are given (a view).
func (k *squeezeKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	axes, _, err := k.axes.get(rc, in)
	if err != nil {
		return err
	}
	var drop []bool
	if len(axes) == 0 {
		drop = make([]bool, x.Rank())
		for d, n := range x.shape {
			drop[d] = n == 1
		}
	} else if drop, err = normAxes(axes, x.Rank()); err != nil {
		return rc.Errorf("%v", err)
	}
	shape := make([]int, 0, x.Rank())
	for d, n := range x.shape {
		if !drop[d] {
			shape = append(shape, n)
		} else if n != 1 {
			return rc.Errorf("cannot squeeze axis %d of shape %s: its size is not 1", d, ShapeString(x.shape))
		}
	}
	out[0] = rc.View(x, shape)
	return nil
}

type unsqueezeKernel struct{ axes intsInput }

func buildUnsqueezeV1(n *Node) (Kernel, error) {
	if !n.HasAttr("axes") {
		return nil, n.Errorf("attribute \"axes\": required")
	}
	return &unsqueezeKernel{axes: attrIntsInput(n.Ints("axes", nil))}, n.Err()
}

func buildUnsqueeze(n *Node) (Kernel, error) {
	a, err := planIntsInput(n, 1, "axes")
	if err != nil {
		return nil, err
	}
	if !a.present {
		return nil, n.Errorf("input 1 (axes): required")
	}
	return &unsqueezeKernel{axes: a}, nil
}

// Run inserts size-1 dimensions at the given axes of the output (a view).
func (k *unsqueezeKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	axes, _, err := k.axes.get(rc, in)
	if err != nil {
		return err
	}
	rank := x.Rank() + len(axes)
	ins, err := normAxes(axes, rank)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	shape := make([]int, rank)
	j := 0
	for d := range shape {
		if ins[d] {
			shape[d] = 1
			continue
		}
		shape[d] = x.shape[j]
		j++
	}
	out[0] = rc.View(x, shape)
	return nil
}

// ---- Identity, Dropout ----

func buildIdentity(n *Node) (Kernel, error) {
	return KernelFunc(func(rc *RunContext, in, out []*Tensor) error {
		if in[0] == nil {
			return rc.Errorf("input 0 is missing")
		}
		out[0] = rc.View(in[0], in[0].shape)
		return nil
	}), nil
}

// dropoutKernel is Dropout at inference: the output is the input (a view)
// and the optional mask is all true (ones before opset 10). Training mode
// is refused unless the ratio is 0, which is the identity too.
type dropoutKernel struct {
	wantMask bool
	maskBool bool
	ratio    float64 // the ratio attribute, or a constant ratio input
	ratioIn  bool    // ratio comes from input 1 at run time
	training intsInput
	// trainingIn is true when training_mode must be read at run time.
	trainingIn bool
}

func newDropout(n *Node, maskBool bool) *dropoutKernel {
	return &dropoutKernel{wantMask: len(n.Outputs) > 1 && n.Outputs[1] != "", maskBool: maskBool}
}

func buildDropoutV1(n *Node) (Kernel, error) {
	// is_test is ignored: an inference runtime always runs the test mode.
	return newDropout(n, false), nil
}

func buildDropoutV10(n *Node) (Kernel, error) { return newDropout(n, true), nil }

func buildDropout(n *Node) (Kernel, error) {
	k := newDropout(n, true)
	k.ratio = 0.5
	if n.HasInput(1) {
		if t := n.Const(1); t != nil {
			r, err := floatOf(t)
			if err != nil {
				return nil, n.Errorf("input 1 (ratio): %v", err)
			}
			k.ratio = r
		} else {
			k.ratioIn = true
		}
	}
	if !n.HasInput(2) {
		return k, nil
	}
	t := n.Const(2)
	if t == nil {
		k.trainingIn = true
		return k, nil
	}
	training, err := boolOf(t)
	if err != nil {
		return nil, n.Errorf("input 2 (training_mode): %v", err)
	}
	if training && !k.ratioIn && k.ratio != 0 {
		return nil, n.Errorf("training_mode is true with ratio %g: only inference (or ratio 0) is supported", k.ratio)
	}
	k.trainingIn = training && k.ratioIn
	return k, nil
}

func boolOf(t *Tensor) (bool, error) {
	b := t.Bools()
	if t.dtype != Bool || len(b) != 1 {
		return false, fmt.Errorf("expected one bool, got %v", t)
	}
	return b[0], nil
}

func (k *dropoutKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	if k.trainingIn && len(in) > 2 && in[2] != nil {
		training, err := boolOf(in[2])
		if err != nil {
			return rc.Errorf("input 2 (training_mode): %v", err)
		}
		ratio := k.ratio
		if k.ratioIn && in[1] != nil {
			if ratio, err = floatOf(in[1]); err != nil {
				return rc.Errorf("input 1 (ratio): %v", err)
			}
		}
		if training && ratio != 0 {
			return rc.Errorf("training_mode is true with ratio %g: only inference (or ratio 0) is supported", ratio)
		}
	}
	out[0] = rc.View(x, x.shape)
	if k.wantMask && len(out) > 1 {
		dt := x.dtype
		if k.maskBool {
			dt = Bool
		}
		mask := rc.New(dt, x.shape...)
		fillTensor(rc, mask, scalarOf(dt, 1))
		out[1] = mask
	}
	return nil
}

// ---- Shape, Size ----

type shapeKernel struct{ start, end int64 }

func buildShape(n *Node) (Kernel, error) {
	k := &shapeKernel{start: n.Int("start", 0), end: n.Int("end", math.MaxInt64)}
	return k, n.Err()
}

// Run returns x's dimensions [start, end) as a 1-D int64 tensor; negative
// bounds count from the end and both are clamped to [0, rank].
func (k *shapeKernel) Run(rc *RunContext, in, out []*Tensor) error {
	shape := in[0].shape
	r := int64(len(shape))
	lo, hi := k.start, k.end
	if lo < 0 {
		lo += r
	}
	if hi < 0 {
		hi += r
	}
	lo, hi = clamp64(lo, 0, r), clamp64(hi, 0, r)
	hi = max(lo, hi)
	y := rc.New(Int64, int(hi-lo))
	v := y.Int64s()
	for i := range v {
		v[i] = int64(shape[int(lo)+i])
	}
	out[0] = y
	return nil
}

func buildSize(n *Node) (Kernel, error) {
	return KernelFunc(func(rc *RunContext, in, out []*Tensor) error {
		y := rc.New(Int64)
		y.Int64s()[0] = int64(in[0].Len())
		out[0] = y
		return nil
	}), nil
}

// ---- Constant, ConstantOfShape ----

func buildConstant(n *Node) (Kernel, error) {
	for _, name := range []string{"sparse_value", "value_string", "value_strings"} {
		if n.HasAttr(name) {
			return nil, n.Errorf("attribute %q: not supported (the runtime holds numeric and bool tensors only)", name)
		}
	}
	var t *Tensor
	set := 0
	if n.HasAttr("value") {
		set++
		t = n.Tensor("value")
	}
	if n.HasAttr("value_float") {
		set++
		t = Scalar(n.Float("value_float", 0))
	}
	if n.HasAttr("value_floats") {
		set++
		v := append([]float32{}, n.Floats("value_floats", nil)...)
		t = New([]int{len(v)}, v)
	}
	if n.HasAttr("value_int") {
		set++
		t = Scalar(n.Int("value_int", 0))
	}
	if n.HasAttr("value_ints") {
		set++
		v := append([]int64{}, n.Ints("value_ints", nil)...)
		t = New([]int{len(v)}, v)
	}
	if err := n.Err(); err != nil {
		return nil, err
	}
	if set != 1 || t == nil {
		return nil, n.Errorf("expected exactly one of the attributes value, value_float, value_floats, value_int, value_ints; got %d", set)
	}
	return KernelFunc(func(rc *RunContext, in, out []*Tensor) error {
		out[0] = t // constants are never written to nor recycled
		return nil
	}), nil
}

type constantOfShapeKernel struct {
	value *Tensor // one element; its dtype is the output's
	shape intsInput
}

func buildConstantOfShape(n *Node) (Kernel, error) {
	k := &constantOfShapeKernel{value: Scalar(float32(0))}
	if n.HasAttr("value") {
		k.value = n.Tensor("value")
		if err := n.Err(); err != nil {
			return nil, err
		}
		if k.value.Len() != 1 {
			return nil, n.Errorf("attribute \"value\": expected one element, got %v", k.value)
		}
	}
	var err error
	if k.shape, err = planIntsInput(n, 0, "input"); err != nil {
		return nil, err
	}
	if k.shape.known {
		if _, err := dimsOf(k.shape.vals); err != nil {
			return nil, n.Errorf("input 0: %v", err)
		}
	}
	return k, nil
}

// Run returns a tensor of the shape given by input 0 filled with value.
func (k *constantOfShapeKernel) Run(rc *RunContext, in, out []*Tensor) error {
	vals, _, err := k.shape.get(rc, in)
	if err != nil {
		return err
	}
	shape, err := dimsOf(vals)
	if err == nil && NumElements(shape) < 0 {
		err = fmt.Errorf("%v: too many elements", vals)
	}
	if err != nil {
		return rc.Errorf("input 0: %v", err)
	}
	y := rc.New(k.value.dtype, shape...)
	fillTensor(rc, y, k.value)
	out[0] = y
	return nil
}

// ---- Range ----

func buildRange(n *Node) (Kernel, error) { return KernelFunc(runRange), nil }

// runRange returns [start, start+delta, ...) up to limit (exclusive) as a
// 1-D tensor of the inputs' type: ceil((limit-start)/delta) elements.
func runRange(rc *RunContext, in, out []*Tensor) error {
	dt := in[0].dtype
	for i, t := range in[:3] {
		if t.dtype != dt || t.Len() != 1 {
			return rc.Errorf("input %d: expected a scalar of type %v, got %v", i, dt, t)
		}
	}
	var y *Tensor
	var err error
	switch dt {
	case Float32:
		y, err = rangeFloat[float32](rc, in)
	case Float64:
		y, err = rangeFloat[float64](rc, in)
	case Int64:
		y, err = rangeInt[int64](rc, in)
	case Int32:
		y, err = rangeInt[int32](rc, in)
	default:
		err = rc.Errorf("unsupported type %v (want float, double, int32 or int64)", dt)
	}
	out[0] = y
	return err
}

func rangeFloat[T float32 | float64](rc *RunContext, in []*Tensor) (*Tensor, error) {
	start, limit, delta := float64(Values[T](in[0])[0]), float64(Values[T](in[1])[0]), float64(Values[T](in[2])[0])
	if delta == 0 {
		return nil, rc.Errorf("delta is 0")
	}
	count := math.Ceil((limit - start) / delta)
	if math.IsNaN(count) || count > maxElements {
		return nil, rc.Errorf("range(%g, %g, %g) has too many elements", start, limit, delta)
	}
	y := rc.New(in[0].dtype, max(int(count), 0))
	v := Values[T](y)
	for i := range v {
		v[i] = T(start + float64(i)*delta)
	}
	return y, nil
}

func rangeInt[T int32 | int64](rc *RunContext, in []*Tensor) (*Tensor, error) {
	start, limit, delta := int64(Values[T](in[0])[0]), int64(Values[T](in[1])[0]), int64(Values[T](in[2])[0])
	if delta == 0 {
		return nil, rc.Errorf("delta is 0")
	}
	// Unsigned differences cannot overflow when the range is non-empty.
	var count uint64
	switch {
	case delta > 0 && limit > start:
		count = (uint64(limit)-uint64(start)-1)/uint64(delta) + 1
	case delta < 0 && limit < start:
		count = (uint64(start)-uint64(limit)-1)/uint64(-delta) + 1
	}
	if count > maxElements {
		return nil, rc.Errorf("range(%d, %d, %d) has too many elements", start, limit, delta)
	}
	y := rc.New(in[0].dtype, int(count))
	v := Values[T](y)
	for i := range v {
		v[i] = T(start + int64(i)*delta)
	}
	return y, nil
}

// ---- NonZero ----

func buildNonZero(n *Node) (Kernel, error) { return KernelFunc(runNonZero), nil }

// runNonZero returns the coordinates of x's non-zero elements as an int64
// tensor [rank, count], in row-major order (a scalar counts as rank 1).
func runNonZero(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	var nz []bool
	switch d := x.data.(type) {
	case []float32:
		nz = nonZeroMask(d)
	case []float64:
		nz = nonZeroMask(d)
	case []int64:
		nz = nonZeroMask(d)
	case []int32:
		nz = nonZeroMask(d)
	case []int8:
		nz = nonZeroMask(d)
	case []uint8:
		nz = nonZeroMask(d)
	case []bool:
		nz = nonZeroMask(d)
	case []uint16: // float16 bits: ±0 are the only zeros
		nz = make([]bool, len(d))
		for i, h := range d {
			nz[i] = h&0x7fff != 0
		}
	}
	shape := x.shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	count := 0
	for _, b := range nz {
		if b {
			count++
		}
	}
	y := rc.New(Int64, len(shape), count)
	v := y.Int64s()
	coords := make([]int, len(shape))
	k := 0
	for _, b := range nz {
		if b {
			for d, c := range coords {
				v[d*count+k] = int64(c)
			}
			k++
		}
		for d := len(coords) - 1; d >= 0; d-- {
			if coords[d]++; coords[d] < shape[d] {
				break
			}
			coords[d] = 0
		}
	}
	out[0] = y
	return nil
}

func nonZeroMask[T comparable](d []T) []bool {
	var zero T
	nz := make([]bool, len(d))
	for i, v := range d {
		nz[i] = v != zero
	}
	return nz
}
