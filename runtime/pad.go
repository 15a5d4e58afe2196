package runtime

import (
	"fmt"
	"math"
)

// padMode is how Pad fills the border.
type padMode int

const (
	padConstant padMode = iota // the constant value
	padReflect                 // mirror without repeating the edge: c b | a b c | b a
	padEdge                    // repeat the edge: a a | a b c | c c
	padWrap                    // wrap around: b c | a b c | a b
)

// padKernel pads (or, with negative pads, crops) every axis of x:
// pads = [x1_begin, x2_begin, ..., x1_end, x2_end], optionally only for
// the listed axes (opset 18).
type padKernel struct {
	mode padMode
	pads intsInput
	axes intsInput
	// value is the constant before opset 11 (attribute "value"); from 11 it
	// is the optional input 2 (constant_value), read at run time.
	value      float64
	valueInput bool
}

func parsePadMode(n *Node) padMode {
	switch m := n.String("mode", "constant"); m {
	case "constant":
		return padConstant
	case "reflect":
		return padReflect
	case "edge":
		return padEdge
	case "wrap":
		if n.Opset >= 19 {
			return padWrap
		}
		n.fail("attribute \"mode\": \"wrap\" needs opset 19, the model has %d", n.Opset)
	default:
		n.fail("attribute \"mode\": expected constant, reflect, edge or wrap, got %q", m)
	}
	return padConstant
}

// buildPadV1 reads Pad-1's attributes (paddings, value).
func buildPadV1(n *Node) (Kernel, error) { return buildPadAttrs(n, "paddings") }

// buildPadV2 reads Pad-2's attributes (pads, value).
func buildPadV2(n *Node) (Kernel, error) { return buildPadAttrs(n, "pads") }

func buildPadAttrs(n *Node, padsAttr string) (Kernel, error) {
	if !n.HasAttr(padsAttr) {
		return nil, n.Errorf("attribute %q: required", padsAttr)
	}
	k := &padKernel{
		mode:  parsePadMode(n),
		pads:  attrIntsInput(n.Ints(padsAttr, nil)),
		value: float64(n.Float("value", 0)),
	}
	if err := n.Err(); err != nil {
		return nil, err
	}
	if len(k.pads.vals)%2 != 0 {
		return nil, n.Errorf("attribute %q: %v has an odd length", padsAttr, k.pads.vals)
	}
	return k, nil
}

// buildPad reads the input form (opset 11+): data, pads, constant_value,
// axes (18+).
func buildPad(n *Node) (Kernel, error) {
	k := &padKernel{mode: parsePadMode(n), valueInput: true}
	if err := n.Err(); err != nil {
		return nil, err
	}
	var err error
	if k.pads, err = planIntsInput(n, 1, "pads"); err != nil {
		return nil, err
	}
	if !k.pads.present {
		return nil, n.Errorf("input 1 (pads): required")
	}
	if n.Opset >= 18 {
		if k.axes, err = planIntsInput(n, 3, "axes"); err != nil {
			return nil, err
		}
	}
	if k.pads.known {
		want := len(k.pads.vals)
		if k.axes.known {
			want = 2 * len(k.axes.vals)
		}
		if len(k.pads.vals)%2 != 0 || len(k.pads.vals) != want {
			return nil, n.Errorf("input 1 (pads): %v does not hold a begin and an end for each axis", k.pads.vals)
		}
	}
	if k.mode != padConstant && n.HasInput(2) {
		// ONNX ignores constant_value outside constant mode.
		k.valueInput = false
	}
	return k, nil
}

func (k *padKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	begin, end, err := k.padsPerAxis(rc, in, x.Rank())
	if err != nil {
		return err
	}
	fill, err := k.fillValue(rc, in, x.dtype)
	if err != nil {
		return err
	}
	if allZero(begin) && allZero(end) {
		// Nothing to pad (PyTorch exports AvgPool2d as a Pad of zeros and a pool): the
		// output is the input, as a view.
		out[0] = rc.View(x, x.shape)
		return nil
	}
	axes := make([]padExtent, x.Rank())
	shape := make([]int, x.Rank())
	for d, s := range x.shape {
		e, err := newPadExtent(k.mode, s, begin[d], end[d])
		if err != nil {
			return rc.Errorf("axis %d: %v", d, err)
		}
		axes[d], shape[d] = e, e.n()
	}
	if NumElements(shape) < 0 {
		return rc.Errorf("output shape %s is too large", ShapeString(shape))
	}
	// Allocate first: rc.New enforces the session's size limit before the
	// per-axis maps (one entry per output index) are built.
	y := rc.New(x.dtype, shape...)
	if k.mode == padConstant && x.dtype == Float32 && x.Rank() > 0 && y.Len() > 0 {
		var v float32 // nil fill: zero
		if fill != nil {
			v = fill.Float32s()[0]
		}
		padRows32(rc, y.Float32s(), x.Float32s(), x.shape, axes, v)
		out[0] = y
		return nil
	}
	st := stridesOf(x.shape)
	maps := make([]axisMap, x.Rank())
	for d, e := range axes {
		maps[d] = e.axisMap(k.mode, st[d])
	}
	newMovePlan(maps).move(rc, y, x, fill)
	out[0] = y
	return nil
}

// padsPerAxis returns the begin and end pad of every axis.
func (k *padKernel) padsPerAxis(rc *RunContext, in []*Tensor, rank int) (begin, end []int, err error) {
	pads, _, err := k.pads.get(rc, in)
	if err != nil {
		return nil, nil, err
	}
	axes, haveAxes, err := k.axes.get(rc, in)
	if err != nil {
		return nil, nil, err
	}
	if !haveAxes {
		axes = make([]int64, rank)
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, nil, rc.Errorf("pads %v: expected %d values (begin and end for %d axes)", pads, 2*len(axes), len(axes))
	}
	if _, err := normAxes(axes, rank); err != nil {
		return nil, nil, rc.Errorf("%v", err)
	}
	begin, end = make([]int, rank), make([]int, rank)
	for i, a := range axes {
		d, _ := normAxis(int(a), rank)
		b, e := pads[i], pads[i+len(axes)]
		if b < -maxElements || b > maxElements || e < -maxElements || e > maxElements {
			return nil, nil, rc.Errorf("pads %v: value out of range", pads)
		}
		begin[d], end[d] = int(b), int(e)
	}
	return begin, end, nil
}

// fillValue returns the constant as a one-element tensor of x's type (nil
// means zero).
func (k *padKernel) fillValue(rc *RunContext, in []*Tensor, dt DType) (*Tensor, error) {
	if k.mode != padConstant {
		return nil, nil
	}
	if !k.valueInput {
		return scalarOf(dt, k.value), nil
	}
	if len(in) < 3 || in[2] == nil {
		return nil, nil
	}
	v := in[2]
	if v.dtype != dt || v.Len() != 1 {
		return nil, rc.Errorf("input 2 (constant_value): expected one %v, got %v", dt, v)
	}
	return v, nil
}

// padExtent is one axis of a Pad. Negative pads first crop the axis, then
// the positive pads extend what is left by the mode, as ONNX Runtime does:
// in wrap mode the period is the cropped length.
type padExtent struct {
	cropB, kept, padB, padE int
}

func newPadExtent(mode padMode, s, begin, end int) (padExtent, error) {
	e := padExtent{cropB: max(-begin, 0), padB: max(begin, 0), padE: max(end, 0)}
	e.kept = s - e.cropB - max(-end, 0)
	grows := e.padB > 0 || e.padE > 0
	switch {
	case e.kept < 0:
		return e, fmt.Errorf("pads %d, %d remove more than its %d elements", begin, end, s)
	case grows && mode != padConstant && e.kept == 0:
		return e, fmt.Errorf("cannot pad an empty axis in %s mode", mode)
	case grows && mode == padReflect && max(e.padB, e.padE) > e.kept-1:
		// Reflection repeats no edge element, so it can reach kept-1
		// elements at most (ONNX Runtime and PyTorch reject longer pads).
		return e, fmt.Errorf("reflect pads %d, %d exceed the axis length %d minus one", e.padB, e.padE, e.kept)
	}
	return e, nil
}

// n is the padded length.
func (e padExtent) n() int { return e.kept + e.padB + e.padE }

// axisMap maps the output indices to source offsets (elements `stride`
// apart); offset -1 is the fill value.
func (e padExtent) axisMap(mode padMode, stride int) axisMap {
	if e.padB == 0 && e.padE == 0 {
		return affine(e.kept, e.cropB*stride, stride)
	}
	offs := make([]int, e.n())
	for i := range offs {
		j := i - e.padB
		if j < 0 || j >= e.kept {
			j = padIndex(mode, j, e.kept)
		}
		if j < 0 {
			offs[i] = -1
		} else {
			offs[i] = (e.cropB + j) * stride
		}
	}
	return axisMap{n: len(offs), offs: offs}
}

// padIndex resolves an index j outside an axis of size s > 0 (-1 in
// constant mode). Wrap repeats the axis periodically however long the pad;
// reflect pads never exceed s-1 (checked by padAxis).
func padIndex(mode padMode, j, s int) int {
	switch mode {
	case padEdge:
		return max(0, min(j, s-1))
	case padWrap:
		return ((j % s) + s) % s
	case padReflect:
		if j < 0 {
			return -j
		}
		return 2*(s-1) - j
	}
	return -1
}

func (m padMode) String() string {
	switch m {
	case padReflect:
		return "reflect"
	case padEdge:
		return "edge"
	case padWrap:
		return "wrap"
	}
	return "constant"
}

// padRows32 is constant-mode Pad of float32 x: [..., W] into y, a row (the last axis) at a
// time: an output row either lies in the padding of an outer axis (all fill) or is the kept
// part of one input row between its fills, a contiguous copy.
func padRows32(rc *RunContext, y, x []float32, shape []int, axes []padExtent, fill float32) {
	rank := len(shape)
	last := axes[rank-1]
	width, inW := last.n(), shape[rank-1]
	rows := len(y) / width
	parallelChunks(rc.threads, rows, max(1, width/8), func(lo, hi int) {
		// The coordinates of row lo in the outer output axes, then advanced row by row.
		idx := make([]int, rank-1)
		for d, rem := rank-2, lo; d >= 0; d-- {
			n := axes[d].n()
			idx[d], rem = rem%n, rem/n
		}
		for r := lo; r < hi; r++ {
			src, inside := 0, true
			for d := range rank - 1 {
				j := idx[d] - axes[d].padB
				if j < 0 || j >= axes[d].kept {
					inside = false
					break
				}
				src = src*shape[d] + axes[d].cropB + j
			}
			row := y[r*width : (r+1)*width]
			if !inside {
				fillFloat32s(row, fill)
			} else {
				fillFloat32s(row[:last.padB], fill)
				copy(row[last.padB:last.padB+last.kept], x[src*inW+last.cropB:])
				fillFloat32s(row[last.padB+last.kept:], fill)
			}
			for d := rank - 2; d >= 0; d-- {
				if idx[d]++; idx[d] < axes[d].n() {
					break
				}
				idx[d] = 0
			}
		}
	})
}

// fillFloat32s sets every value of s to v.
func fillFloat32s(s []float32, v float32) {
	if len(s) <= 8 { // a row's border: a call of clear costs more than the stores
		for i := range s {
			s[i] = v
		}
		return
	}
	if v == 0 && !math.Signbit(float64(v)) {
		clear(s)
		return
	}
	for i := range s {
		s[i] = v
	}
}

// allZero reports whether every value of v is 0.
func allZero(v []int) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
