package decop

import (
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/runtime"
)

// Register adds the operator ai.dcnet/DecoupledConv (since_version 1) to r. Models then
// declare opset_import { domain: "ai.dcnet", version: 1 } and use it like Conv:
// x: [N, C, H, W], w: [M, C/group, kH, kW], optional b: [M] and α, ρ, β ([] or [1] or [M])
// → y: [N, M, OH, OW].
func Register(r *runtime.Registry) { r.Register(Domain, OpType, Version, build) }

// The input slots of the operator.
const (
	inX = iota
	inW
	inB
	inAlpha
	inRho
	inBeta
	numInputs
)

var inputNames = [numInputs]string{"X", "W", "B", "Alpha", "Rho", "Beta"}

// opKernel is a planned DecoupledConv node.
type opKernel struct {
	cfg   Config // Geom is set per run
	attrs runtime.ConvAttrs
	// identity: magnitude linear, angular cos, weighted, α constant 1. Then h·g = <w, x> and the
	// node runs as a plain Conv with bias.
	identity bool
	// consts holds the optional inputs (B, α, ρ, β) that are constant, checked.
	consts [numInputs]*runtime.Tensor
	// Planned when W is constant: its shape, the filter packed for its algorithm, the norms
	// Nw_m, and (if every present parameter is constant too) the channel constants.
	wShape []int
	filter *conv.Filter
	nw     []float64
	chans  []chanConst
}

func build(n *runtime.Node) (runtime.Kernel, error) {
	if n.NumInputs() < 2 || n.NumInputs() > numInputs || !n.HasInput(inX) || !n.HasInput(inW) {
		return nil, n.Errorf("expected inputs X, W and optionally B, Alpha, Rho, Beta, got %d inputs %q", n.NumInputs(), n.Inputs)
	}
	k := &opKernel{}
	if err := k.decodeConfig(n); err != nil {
		return nil, err
	}
	w := n.Const(inW)
	if w != nil {
		if w.DType() != runtime.Float32 {
			return nil, n.Errorf("input W: element type %v is not supported (FLOAT only)", w.DType())
		}
		if w.Rank() != 4 {
			return nil, n.Errorf("unsupported: input W %v: only 2-D DecoupledConv (W: [M, C/group, kH, kW]) is implemented", w)
		}
	}
	attrs, err := runtime.DecodeConvAttrs(n, w)
	if err != nil {
		return nil, err
	}
	if s := attrs.Spatial(); s != 0 && s != 2 {
		return nil, n.Errorf("unsupported: the attributes describe a %d-D convolution; only 2-D DecoupledConv is implemented", s)
	}
	k.attrs = attrs
	m := -1
	if w != nil {
		m = w.Shape()[0]
	}
	for i := inB; i < numInputs; i++ {
		if t := n.Const(i); t != nil && n.HasInput(i) {
			if err := checkOptional(i, t, m); err != nil {
				return nil, n.Errorf("%v", err)
			}
			k.consts[i] = t
		}
	}
	k.identity = k.cfg.Magnitude == Linear && k.cfg.Angular == Cos && k.cfg.Weighted && alphaIsOne(n)
	if w != nil {
		k.planFilter(w, n)
	}
	return k, nil
}

// decodeConfig reads the operator's own attributes.
func (k *opKernel) decodeConfig(n *runtime.Node) error {
	mag, magErr := ParseMagnitude(n.String("magnitude", Tanh.String()))
	ang, angErr := ParseAngular(n.String("angular", Cos.String()))
	weighted := n.IntIn("weighted", 0, 0, 1)
	kk := float64(n.Float("k", DefaultK))
	eps := float64(n.Float("eps", DefaultEps))
	if err := n.Err(); err != nil {
		return err
	}
	switch {
	case magErr != nil:
		return n.Errorf("attribute \"magnitude\": %v", magErr)
	case angErr != nil:
		return n.Errorf("attribute \"angular\": %v", angErr)
	case !(kk > 0) || math.IsInf(kk, 0):
		return n.Errorf("attribute \"k\": expected a positive finite value, got %v", kk)
	case !(eps >= 0) || math.IsInf(eps, 0):
		return n.Errorf("attribute \"eps\": expected a non-negative finite value, got %v", eps)
	}
	k.cfg = Config{Magnitude: mag, Angular: ang, Weighted: weighted == 1, K: kk, Eps: eps}
	return nil
}

// alphaIsOne reports whether α is known at plan time to be 1 for every channel (absent or a
// constant of ones).
func alphaIsOne(n *runtime.Node) bool {
	if !n.HasInput(inAlpha) {
		return true
	}
	t := n.Const(inAlpha)
	if t == nil {
		return false
	}
	for _, v := range t.Float32s() {
		if v != 1 {
			return false
		}
	}
	return true
}

// planFilter prepares the constant filter w: packs it for its algorithm and computes the norms
// Nw_m and, if every present parameter is constant, the channel constants.
func (k *opKernel) planFilter(w *runtime.Tensor, n *runtime.Node) {
	k.wShape = w.Shape()
	k.filter = conv.NewFilter(k.attrs.FilterGeometry(w.Shape()), w.Float32s(), conv.Auto, true)
	if k.identity {
		return
	}
	k.nw = filterNorms(w.Float32s(), k.wShape[0], k.cfg.Eps)
	for i := inB; i < numInputs; i++ {
		if n.HasInput(i) && k.consts[i] == nil {
			return // a parameter arrives at run time
		}
	}
	k.chans = channelConsts(&k.cfg, k.nw, k.consts)
}

// checkOptional checks an optional input: FLOAT, shape [M] for B, [] or [1] or [M] for α, ρ,
// β (m < 0: M is not known yet, only the rank is checked), and ρ > 0.
func checkOptional(i int, t *runtime.Tensor, m int) error {
	name := inputNames[i]
	if t.DType() != runtime.Float32 {
		return fmt.Errorf("input %s: expected FLOAT, got %v", name, t)
	}
	s := t.Shape()
	if i == inB {
		if len(s) != 1 || m >= 0 && s[0] != m {
			return fmt.Errorf("input B: expected FLOAT%s, got %v", channelsShape(m), t)
		}
		return nil
	}
	scalar := len(s) == 0 || len(s) == 1 && s[0] == 1
	if len(s) > 1 || !scalar && m >= 0 && s[0] != m || len(s) == 1 && s[0] == 0 {
		return fmt.Errorf("input %s: expected shape [], [1] or %s (one value per output channel), got %v", name, channelsShape(m), t)
	}
	if i == inRho {
		for j, v := range t.Float32s() {
			if !(v > 0) {
				return fmt.Errorf("input Rho: element %d is %v; ρ must be positive", j, v)
			}
		}
	}
	return nil
}

// channelsShape spells the shape [M], with M's value if known (m >= 0).
func channelsShape(m int) string {
	if m < 0 {
		return "[M]"
	}
	return fmt.Sprintf("[%d]", m)
}

// filterNorms returns Nw_m = sqrt(Σ w_m² + eps) for the m filters of w, summed in float64.
func filterNorms(w []float32, m int, eps float64) []float64 {
	k := len(w) / m
	nw := make([]float64, m)
	for i := range nw {
		var s float64
		for _, v := range w[i*k : (i+1)*k] {
			s += float64(v) * float64(v)
		}
		nw[i] = math.Sqrt(s + eps)
	}
	return nw
}

// channelConsts derives the row kernel's per-channel constants from the norms Nw_m and the
// optional inputs (nil: absent, defaults apply), which checkOptional accepted for M channels.
func channelConsts(cfg *Config, nw []float64, opt [numInputs]*runtime.Tensor) []chanConst {
	chans := make([]chanConst, len(nw))
	for m, n := range nw {
		alpha := paramAt(opt[inAlpha], m, DefaultAlpha)
		rho := paramAt(opt[inRho], m, DefaultRho)
		rs := 1.0
		if cfg.Weighted {
			rs = n
		}
		chans[m] = chanConst{
			invNw: capped(1 / n), rs: capped(rs), hs: capped(rs / rho),
			alpha: float32(alpha), beta: float32(paramAt(opt[inBeta], m, DefaultBeta)), rho: float32(rho),
			bias: float32(paramAt(opt[inB], m, 0)),
		}
	}
	return chans
}

// paramAt returns channel m's value of a parameter input t: [] or [1] or [M], or def if the
// input is absent.
func paramAt(t *runtime.Tensor, m int, def float64) float64 {
	if t == nil {
		return def
	}
	v := t.Float32s()
	if len(v) == 1 {
		return float64(v[0])
	}
	return float64(v[m])
}

// capped rounds v to float32, replacing values beyond the float32 range (1/0 for a zero norm
// with eps = 0) by the largest float32, so that products with zero stay zero.
func capped(v float64) float32 { return float32(min(v, math.MaxFloat32)) }

// Run implements runtime.Kernel.
func (k *opKernel) Run(rc *runtime.RunContext, in, out []*runtime.Tensor) error {
	x, w := in[inX], in[inW]
	if x.DType() != runtime.Float32 || w.DType() != runtime.Float32 {
		return rc.Errorf("inputs X %v and W %v: only FLOAT is supported", x, w)
	}
	if x.Rank() != 4 || w.Rank() != 4 {
		return rc.Errorf("unsupported: X %v, W %v: only 2-D DecoupledConv (X: [N, C, H, W], W: [M, C/group, kH, kW]) is implemented", x, w)
	}
	if k.wShape != nil && !runtime.SameShape(w.Shape(), k.wShape) {
		return rc.Errorf("input W %v: differs from the planned constant %v", w, runtime.ShapeString(k.wShape))
	}
	g, err := k.attrs.Geometry(x, w)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	// The optional inputs: constants were checked when the node was planned, against M too if
	// W was constant; the others, and the constants whose M was not known, are checked now.
	opt := k.consts
	for i := inB; i < numInputs; i++ {
		if opt[i] == nil && i < len(in) {
			opt[i] = in[i]
		}
		if opt[i] != nil && (opt[i] != k.consts[i] || k.wShape == nil) {
			if err := checkOptional(i, opt[i], g.M); err != nil {
				return rc.Errorf("%v", err)
			}
		}
	}
	batch := x.Shape()[0]
	y := rc.New(runtime.Float32, batch, g.M, g.OutH(), g.OutW())
	f := k.filter
	if f == nil || !f.Fits(g) {
		// A filter that is not a constant is prepared per call: packing (or Winograd's
		// transform) pays for itself over a batch of images, not for one.
		f = conv.NewFilter(g, w.Float32s(), conv.Auto, batch > 1)
	}
	ep := &conv.Epilogue{}
	if k.identity {
		if opt[inB] != nil {
			ep.Bias = opt[inB].Float32s()
		}
	} else {
		chans := k.chans
		if chans == nil {
			nw := k.nw
			if nw == nil {
				nw = filterNorms(w.Float32s(), g.M, k.cfg.Eps)
			}
			chans = channelConsts(&k.cfg, nw, opt)
		}
		cfg := k.cfg
		cfg.Geom = g
		ep.Group = newEpilogue(&cfg, chans)
	}
	f.Forward(g, x.Float32s(), y.Float32s(), batch, ep, rc.Threads())
	out[0] = y
	return nil
}
