package runtime

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/internal/gemm"
)

func registerConv(r *Registry) {
	// Opset 11 only clarified the pads default; the semantics are those of opset 1.
	r.Register("", "Conv", 1, buildConv)
	r.Register("", "Conv", 11, buildConv)
}

// windowAttrs are the sliding-window attributes of Conv and the pooling operators, decoded with
// their ONNX defaults. A nil slice means "not set" where the spatial rank is not yet known.
type windowAttrs struct {
	spatial   int   // number of spatial axes, 0 if unknown until the input arrives
	kernel    []int // kernel_shape; nil if absent
	strides   []int
	dilations []int
	pads      []int // [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
	autoPad   conv.AutoPad
	rankFrom  string // the attribute that set spatial, if one did
}

// decodeWindowAttrs reads kernel_shape, strides, dilations, pads and auto_pad, recording errors
// that name the attribute. (Opsets whose operator lacks an attribute never set it, so it keeps
// its default.) spatial is the rank if known, else 0: then it is taken from the first list
// attribute that is set.
func decodeWindowAttrs(n *Node, spatial int) windowAttrs {
	var a windowAttrs
	kernel := n.Ints("kernel_shape", nil)
	strides := n.Ints("strides", nil)
	dilations := n.Ints("dilations", nil)
	pads := n.Ints("pads", nil)
	switch {
	case spatial > 0:
	case kernel != nil:
		spatial, a.rankFrom = len(kernel), "kernel_shape"
	case strides != nil:
		spatial, a.rankFrom = len(strides), "strides"
	case dilations != nil:
		spatial, a.rankFrom = len(dilations), "dilations"
	case pads != nil:
		spatial, a.rankFrom = len(pads)/2, "pads"
	}
	a.spatial = spatial
	if kernel != nil {
		a.kernel = windowList(n, "kernel_shape", kernel, spatial, 1)
	}
	a.strides = windowList(n, "strides", strides, spatial, 1)
	a.dilations = windowList(n, "dilations", dilations, spatial, 1)
	a.pads = windowList(n, "pads", pads, 2*spatial, 0)
	mode, err := conv.ParseAutoPad(n.String("auto_pad", "NOTSET"))
	if err != nil {
		n.fail("attribute \"auto_pad\": %v", err)
	}
	a.autoPad = mode
	return a
}

// windowList checks one list attribute: length want (if known) and every element >= lo. An
// unset list becomes want copies of the default (1 for sizes, 0 for pads), or nil if want is
// not known yet.
func windowList(n *Node, name string, v []int64, want int, lo int64) []int {
	if v == nil {
		if want == 0 {
			return nil
		}
		out := make([]int, want)
		for i := range out {
			out[i] = int(lo)
		}
		return out
	}
	if want > 0 && len(v) != want {
		n.fail("attribute %q: expected %d values for %d spatial axes, got %d", name, want, spatialOf(name, want), len(v))
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < lo || x > maxWindow {
			what := "a positive integer"
			if lo == 0 {
				what = "a non-negative integer"
			}
			n.fail("attribute %q: element %d: expected %s up to %d, got %d", name, i, what, maxWindow, x)
			return nil
		}
		out[i] = int(x)
	}
	return out
}

// maxWindow bounds kernel sizes, strides, dilations and pads, so that window arithmetic cannot
// overflow.
const maxWindow = 1 << 24

func spatialOf(name string, want int) int {
	if name == "pads" {
		return want / 2
	}
	return want
}

// forRank returns the attributes for an input with the given number of spatial axes, filling
// the lists that were unknown at plan time with their defaults. ok is false if an attribute
// has another rank.
func (a windowAttrs) forRank(spatial int) (windowAttrs, bool) {
	if a.spatial != 0 {
		return a, a.spatial == spatial
	}
	a.spatial = spatial
	ones := make([]int, spatial)
	for i := range ones {
		ones[i] = 1
	}
	a.strides, a.dilations, a.pads = ones, ones, make([]int, 2*spatial)
	return a, true
}

// forInput is forRank for the input x: [N, C, spatial...], with an error naming the attribute
// whose rank differs.
func (a windowAttrs) forInput(x *Tensor) (windowAttrs, error) {
	r, ok := a.forRank(x.Rank() - 2)
	if !ok {
		from := a.rankFrom
		if from == "" {
			from = "kernel_shape"
		}
		return r, fmt.Errorf("attribute %q: describes %d spatial axes, but input X %v has %d", from, a.spatial, x, x.Rank()-2)
	}
	return r, nil
}

// axisPads resolves the padding of spatial axis i for an input of length in and a window of k
// taps, applying auto_pad.
func (a windowAttrs) axisPads(i, in, k int) (begin, end int) {
	return a.autoPad.Pads(in, k, a.strides[i], a.dilations[i], a.pads[i], a.pads[a.spatial+i])
}

// convFusion is an activation fused into the Conv's epilogue; a graph pass that fuses
// Conv+Relu or Conv+Clip builds the kernel with buildConvFused.
type convFusion struct {
	act      gemm.Activation
	min, max float32
	// gate, if set, multiplies each output by its own Sigmoid or HardSigmoid after everything
	// else (Mul(y, Sigmoid(y)): SiLU; see fuseGatesIntoConvs).
	gate *activation
}

// convKernel is a planned Conv: x: [N, C, H, W] (or [N, C, W]), w: [M, C/group, kH, kW],
// optional b: [M] → y: [N, M, OH, OW].
type convKernel struct {
	attrs ConvAttrs
	fuse  convFusion
	// add is set when an Add was fused in (see fuse.go): the skip tensor is
	// input residualSlot, and add computes a skip that needs broadcasting.
	add Kernel
	// Planned when W (and B) are constant: the filter, packed for its algorithm.
	filter *conv.Filter
	wShape []int
	w      []float32 // the filter's values [M, C/group, kH, kW] (folded ones after BN folding)
	bias   []float32
	// biasConst is set when B is absent or constant (so a BatchNormalization can fold in).
	biasConst bool
}

func buildConv(n *Node) (Kernel, error) { return buildConvFused(n, convFusion{}) }

// buildConvFused plans a Conv whose output goes through the fused activation.
func buildConvFused(n *Node, fuse convFusion) (Kernel, error) {
	if n.NumInputs() < 2 || !n.HasInput(0) || !n.HasInput(1) {
		return nil, n.Errorf("expected inputs X and W, got %d inputs", n.NumInputs())
	}
	w := n.Const(1)
	if w != nil && w.DType() != Float32 {
		return nil, n.Errorf("input W: element type %v is not supported (FLOAT only)", w.DType())
	}
	attrs, err := DecodeConvAttrs(n, w)
	if err != nil {
		return nil, err
	}
	k := &convKernel{attrs: attrs, fuse: fuse}
	if w != nil {
		k.wShape = w.Shape()
		k.w = w.Float32s()
		k.filter = conv.NewFilter(attrs.FilterGeometry(w.Shape()), k.w, conv.Auto, true)
	}
	if b := n.Const(2); b != nil && k.filter != nil {
		if b.DType() != Float32 || b.Rank() != 1 || b.Shape()[0] != k.wShape[0] {
			return nil, n.Errorf("input B: expected FLOAT[%d], got %v", k.wShape[0], b)
		}
		k.bias = b.Float32s()
	}
	k.biasConst = k.filter != nil && (k.bias != nil || !n.HasInput(2))
	return k, nil
}

// Run implements Kernel.
func (k *convKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x, w, b := in[0], in[1], convOptionalInput(in, 2)
	if x.DType() != Float32 || w.DType() != Float32 {
		return rc.Errorf("inputs X %v and W %v: only FLOAT is supported", x, w)
	}
	if k.wShape != nil && !SameShape(w.Shape(), k.wShape) {
		return rc.Errorf("input W %v: differs from the planned constant %v", w, ShapeString(k.wShape))
	}
	g, err := k.attrs.Geometry(x, w)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	bias := k.bias
	if b != nil && bias == nil {
		if b.DType() != Float32 || b.Rank() != 1 || b.Shape()[0] != g.M {
			return rc.Errorf("input B: expected FLOAT[%d], got %v", g.M, b)
		}
		bias = b.Float32s()
	}
	shape := append([]int{x.Shape()[0], g.M}, g.OutW())
	if x.Rank() == 4 {
		shape = []int{x.Shape()[0], g.M, g.OutH(), g.OutW()}
	}
	y := rc.New(Float32, shape...)
	f := k.filter
	if f == nil || !f.Fits(g) {
		wv := w.Float32s()
		if k.w != nil {
			wv = k.w
		}
		// A filter that is not a constant is prepared per call: packing (or Winograd's
		// transform) pays for itself over a batch of images, not for one.
		f = conv.NewFilter(g, wv, conv.Auto, x.Shape()[0] > 1)
	}
	ep := &conv.Epilogue{Bias: bias, Act: k.fuse.act, Min: k.fuse.min, Max: k.fuse.max}
	if k.fuse.gate != nil {
		ep.Tail = gateTail(*k.fuse.gate)
	}
	var skip *Tensor
	if k.add != nil {
		skip = in[residualSlot]
		if skip.DType() != Float32 || !SameShape(skip.Shape(), shape) {
			f.Forward(g, x.Float32s(), y.Float32s(), x.Shape()[0], &conv.Epilogue{Bias: bias}, rc.Threads())
			out[0], err = k.runResidualFallback(rc, y, skip)
			if err == nil && ep.Tail != nil {
				ep.Tail(out[0].Float32s())
			}
			return err
		}
		ep.Residual = skip.Float32s()
	}
	f.Forward(g, x.Float32s(), y.Float32s(), x.Shape()[0], ep, rc.Threads())
	out[0] = y
	return nil
}

// convOptionalInput returns in[i], or nil if the slot is absent.
func convOptionalInput(in []*Tensor, i int) *Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}
