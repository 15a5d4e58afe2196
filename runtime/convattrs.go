package runtime

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/conv"
)

// ConvAttrs are the attributes that place a Conv's sliding window (group, kernel_shape, strides,
// dilations, pads, auto_pad), decoded once at plan time with the ONNX defaults. Conv and the
// operators that share its geometry (decop's DecoupledConv) decode them with DecodeConvAttrs
// and turn them into a conv.Geometry per input shape with Geometry, so that every such operator
// reads the attributes, and reports their errors, the same way.
type ConvAttrs struct {
	// Group is the number of channel groups (attribute "group", default 1).
	Group int
	win   windowAttrs
}

// DecodeConvAttrs reads node n's window attributes. w is the filter [M, C/group, kernel...] if
// it is constant at plan time, else nil; when given it fixes the number of spatial axes and is
// checked against the attributes (rank, kernel_shape, channel counts divisible by group). The
// errors name the node and the attribute. Convolutions of more than two spatial axes are
// reported as unsupported.
func DecodeConvAttrs(n *Node, w *Tensor) (ConvAttrs, error) {
	a := ConvAttrs{Group: int(n.Int("group", 1))}
	spatial := 0
	if w != nil {
		if w.Rank() < 3 {
			return a, n.Errorf("input W: expected rank 3 or 4 ([M, C/group, kernel...]), got %v", w)
		}
		spatial = w.Rank() - 2
	}
	a.win = decodeWindowAttrs(n, spatial)
	if err := n.Err(); err != nil {
		return a, err
	}
	if a.Group <= 0 {
		return a, n.Errorf("attribute \"group\": expected a positive integer, got %d", a.Group)
	}
	if a.win.spatial > 2 {
		return a, n.Errorf("unsupported: %d-D convolution (only 1-D and 2-D are implemented)", a.win.spatial)
	}
	if w == nil {
		return a, nil
	}
	if err := a.checkKernelShape(w.Shape()); err != nil {
		return a, n.Errorf("%v", err)
	}
	if err := a.FilterGeometry(w.Shape()).CheckFilter(); err != nil {
		return a, n.Errorf("input W %v with attribute \"group\" %d: %v", w, a.Group, err)
	}
	return a, nil
}

// Spatial is the number of spatial axes the attributes describe, or 0 if nothing fixed it at
// plan time (no constant filter and no list attribute set).
func (a ConvAttrs) Spatial() int { return a.win.spatial }

// FilterGeometry is the geometry of a filter of shape wShape = [M, C/group, kernel...] (rank 3
// or 4) without an input: the input size is zero (one for the height of a 1-D convolution) and
// the pads are the explicit ones, or zero under auto_pad. It is what conv.NewFilter needs when
// a model is planned; auto_pad, resolved per input, never changes the algorithm conv.Choose
// picks (a 1×1 unit-stride window gets no padding).
func (a ConvAttrs) FilterGeometry(wShape []int) conv.Geometry {
	win, _ := a.win.forRank(len(wShape) - 2)
	return convGeometry(win, a.Group, wShape, nil)
}

// Geometry checks the run-time input x: [N, C, spatial...] and filter w: [M, C/group,
// kernel...] against each other and the attributes, and returns the geometry of one image,
// with auto_pad resolved. The error (without the node's name, which the caller adds) says
// which input or attribute is wrong.
func (a ConvAttrs) Geometry(x, w *Tensor) (conv.Geometry, error) {
	spatial := x.Rank() - 2
	switch {
	case spatial < 1:
		return conv.Geometry{}, fmt.Errorf("input X: expected rank 3 or 4 ([N, C, spatial...]), got %v", x)
	case spatial > 2:
		return conv.Geometry{}, fmt.Errorf("unsupported: %d-D convolution of X %v (only 1-D and 2-D are implemented)", spatial, x)
	case w.Rank() != x.Rank():
		return conv.Geometry{}, fmt.Errorf("input W %v: expected rank %d like X %v", w, x.Rank(), x)
	}
	win, err := a.win.forInput(x)
	if err != nil {
		return conv.Geometry{}, err
	}
	if err := a.checkKernelShape(w.Shape()); err != nil {
		return conv.Geometry{}, err
	}
	ws, xs := w.Shape(), x.Shape()
	if xs[1] != ws[1]*a.Group {
		return conv.Geometry{}, fmt.Errorf("input X %v has %d channels; W %v with group %d expects %d", x, xs[1], w, a.Group, ws[1]*a.Group)
	}
	g := convGeometry(win, a.Group, ws, xs[2:])
	if err := g.Validate(); err != nil {
		return conv.Geometry{}, fmt.Errorf("X %v, W %v: %v", x, w, err)
	}
	return g, nil
}

// checkKernelShape compares kernel_shape, if set, with the filter's spatial dimensions.
func (a ConvAttrs) checkKernelShape(wShape []int) error {
	if a.win.kernel == nil {
		return nil
	}
	if !SameShape(a.win.kernel, wShape[2:]) {
		return fmt.Errorf("attribute \"kernel_shape\": %v does not match the filter's spatial shape %v", a.win.kernel, wShape[2:])
	}
	return nil
}

// convGeometry is the geometry of a Conv with filter w: [M, C/group, kernel...] and the
// attributes a (of the filter's rank). in holds the input's spatial size; if it is nil the
// input size is left at zero (one for the height of a 1-D convolution) and the pads are the
// explicit ones (see ConvAttrs.FilterGeometry).
func convGeometry(a windowAttrs, group int, wShape, in []int) conv.Geometry {
	last := a.spatial - 1
	g := conv.Geometry{
		C: wShape[1] * group, M: wShape[0], Group: group,
		KH: 1, SH: 1, DH: 1, H: 1,
		KW: wShape[len(wShape)-1], SW: a.strides[last], DW: a.dilations[last],
	}
	axis := func(i, k int) (size, begin, end int) {
		if in == nil {
			if a.autoPad != conv.NotSet {
				return 0, 0, 0
			}
			return 0, a.pads[i], a.pads[a.spatial+i]
		}
		begin, end = a.axisPads(i, in[i], k)
		return in[i], begin, end
	}
	g.W, g.PadLeft, g.PadRight = axis(last, g.KW)
	if a.spatial == 2 {
		g.KH, g.SH, g.DH = wShape[2], a.strides[0], a.dilations[0]
		g.H, g.PadTop, g.PadBottom = axis(0, g.KH)
	}
	return g
}
