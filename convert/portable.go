package convert

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
)

// This file writes DecoupledConv with standard ONNX operators, following
// the spec's portable form. The same body serves the expanded form (inline
// in the graph, constants precomputed) and the functions form (a
// model-local function body, everything computed from the inputs):
//
//	wx    = Conv(X, W)                          <w_m, x_p>         [N, M, H', W']
//	xx    = Conv(X·X, ones)                     Σ x_p²             [N, 1 or M, H', W']
//	n     = Sqrt(xx + eps)                      patch norm
//	Nw    = Sqrt(ReduceSumSquare(W) + eps)      filter norm        [1, M, 1, 1]
//	d     = n · Nw
//	c     = Clip(wx / d, −1, 1)                 cos θ (narrower clip before Acos)
//	Y     = h(r) · g(c) + B,  r = d (weighted) or n
//
// Dividing wx by the product d instead of by Nw and then by n keeps the
// identity operator (linear:cos, weighted, α = 1) within two roundings of
// Conv: Y = d · (wx / d).
//
// The all-ones kernel is [1, C, kH, kW] when group = 1 (one norm per
// position, broadcast over the output channels) and [M, C/group, kH, kW]
// with the same group otherwise. Per-channel parameters broadcast as
// [1, M, 1, 1] (or [M, 1, 1] after a Reshape when not constant).

// minExpandOpset is the oldest default-domain opset the expanded form
// supports: Min and Max broadcast from opset 8 on.
const minExpandOpset = 8

// minFunctionsOpset is the oldest opset for the functions form, whose
// bodies build the all-ones kernel with ConstantOfShape (opset 9).
const minFunctionsOpset = 9

// clampMargin keeps Acos away from ±1 (the spec's ĉ).
const clampMargin = 1e-6

// config is a DecoupledConv node's configuration.
type config struct {
	op                              Operator
	group                           int64
	hasB, hasAlpha, hasRho, hasBeta bool
}

// parseDecoupled reads and checks node n's attributes and inputs.
func parseDecoupled(n *onnx.NodeProto) (config, error) {
	var c config
	var errs []error
	mag, err := decop.ParseMagnitude(stringAttr(n, "magnitude", "tanh"))
	errs = append(errs, attrErr("magnitude", err))
	ang, err := decop.ParseAngular(stringAttr(n, "angular", "cos"))
	errs = append(errs, attrErr("angular", err))
	weighted := intAttr(n, "weighted", 0)
	if weighted != 0 && weighted != 1 {
		errs = append(errs, fmt.Errorf("attribute \"weighted\": expected 0 or 1, got %d", weighted))
	}
	c.op = Operator{Magnitude: mag, Angular: ang, Weighted: weighted == 1,
		K: floatAttr(n, "k", decop.DefaultK), Eps: floatAttr(n, "eps", decop.DefaultEps)}
	if !(c.op.K > 0) || math.IsInf(float64(c.op.K), 0) {
		errs = append(errs, fmt.Errorf("attribute \"k\": expected a positive number, got %g", c.op.K))
	}
	if !(c.op.Eps > 0) || math.IsInf(float64(c.op.Eps), 0) {
		errs = append(errs, fmt.Errorf("attribute \"eps\": expected a positive number, got %g", c.op.Eps))
	}
	c.group = intAttr(n, "group", 1)
	if c.group < 1 {
		errs = append(errs, fmt.Errorf("attribute \"group\": expected positive int, got %d", c.group))
	}
	if input(n, 0) == "" || input(n, 1) == "" {
		errs = append(errs, fmt.Errorf("needs inputs X and W, has %q", n.GetInput()))
	}
	if len(n.GetInput()) > 6 {
		errs = append(errs, fmt.Errorf("has %d inputs, at most 6 (X, W, B, Alpha, Rho, Beta)", len(n.GetInput())))
	}
	if len(n.GetOutput()) != 1 || n.GetOutput()[0] == "" {
		errs = append(errs, fmt.Errorf("needs exactly one output, has %q", n.GetOutput()))
	}
	c.hasB, c.hasAlpha, c.hasRho, c.hasBeta = input(n, 2) != "", input(n, 3) != "", input(n, 4) != "", input(n, 5) != ""
	return c, errors.Join(errs...)
}

func attrErr(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("attribute %q: %w", name, err)
}

// key names the configuration: the overload of its model-local function.
// Two nodes with the same key share a function body; the Conv geometry
// (strides, pads, ...) is forwarded to the body, so it is not part of it.
func (c config) key() string {
	parts := []string{c.op.Magnitude.String(), c.op.Angular.String()}
	if c.op.Weighted {
		parts = append(parts, "weighted")
	}
	parts = append(parts, fmt.Sprintf("eps%g", c.op.Eps))
	if c.op.Angular == decop.Sigmoid {
		parts = append(parts, fmt.Sprintf("k%g", c.op.K))
	}
	if c.group != 1 {
		parts = append(parts, "grouped")
	}
	for _, in := range []struct {
		name string
		has  bool
	}{{"bias", c.hasB}, {"alpha", c.hasAlpha}, {"rho", c.hasRho}, {"beta", c.hasBeta}} {
		if in.has {
			parts = append(parts, in.name)
		}
	}
	return strings.Join(parts, "-")
}

// emitter collects the nodes of one portable body.
type emitter interface {
	opset() int
	// constant returns a value holding a; role describes it.
	constant(role string, a *onnx.Array) string
	// node appends op(inputs) and returns its output: out, or a fresh name
	// made from role when out is "".
	node(op string, inputs []string, out, role string, attrs ...*onnx.AttributeProto) string
}

// portable is one DecoupledConv configuration written with standard ops.
type portable struct {
	op        Operator
	grouped   bool                   // group ≠ 1
	convAttrs []*onnx.AttributeProto // geometry of the main Conv
	normAttrs []*onnx.AttributeProto // geometry of the patch-norm Conv
}

// operands are the values a body reads; "" is absent. B, alpha, rho and
// beta must already broadcast against [N, M, H', W'].
type operands struct {
	x, w, b, alpha, rho, beta string
	wnorm                     string // Nw as [1, M, 1, 1]; "" computes it from w
	ones                      string // the all-ones kernel; "" builds it from w's shape
	y                         string
}

func scalar(v float32) *onnx.Array {
	return &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: []int{}, Data: []float32{v}}
}

func int64s(v ...int64) *onnx.Array {
	return &onnx.Array{Type: onnx.TensorProto_INT64, Dims: []int{len(v)}, Data: v}
}

// emit writes the body computing v.y.
func (p portable) emit(e emitter, v operands) {
	wx := e.node("Conv", []string{v.x, v.w}, "", "wx", p.convAttrs...)
	ones := v.ones
	if ones == "" {
		ones = p.onesKernel(e, v.w)
	}
	x2 := e.node("Mul", []string{v.x, v.x}, "", "x2")
	xx := e.node("Conv", []string{x2, ones}, "", "x2_sum", p.normAttrs...)
	eps := e.constant("eps", scalar(p.op.Eps))
	xnorm := e.node("Sqrt", []string{e.node("Add", []string{xx, eps}, "", "x2_eps")}, "", "xnorm")
	wnorm := v.wnorm
	if wnorm == "" {
		wnorm = weightNorm(e, v.w, eps)
	}
	norms := e.node("Mul", []string{xnorm, wnorm}, "", "norms")
	cos := e.node("Div", []string{wx, norms}, "", "cos_raw")
	g := p.angular(e, cos)
	r := xnorm
	if p.op.Weighted {
		r = norms
	}
	h := p.magnitude(e, r, v)
	finish(e, h, g, v.b, v.y)
}

// onesKernel builds the all-ones kernel from W's shape: [M, C/group, kH, kW]
// when grouped, else [1, C, kH, kW] (the shape of W summed over axis 0).
func (p portable) onesKernel(e emitter, w string) string {
	shapeOf := w
	if !p.grouped {
		shapeOf = reduceSumSquare(e, w, []int64{0}, "w_sum0")
	}
	shape := e.node("Shape", []string{shapeOf}, "", "ones_shape")
	one := floatTensor("", []int{1}, []float32{1})
	return e.node("ConstantOfShape", []string{shape}, "", "ones", onnx.AttrTensor("value", one))
}

// weightNorm computes Nw = sqrt(Σ w_m² + eps) as [1, M, 1, 1].
func weightNorm(e emitter, w, eps string) string {
	sum := reduceSumSquare(e, w, []int64{1, 2, 3}, "w_sq")
	row := e.node("Reshape", []string{sum, e.constant("row_shape", int64s(1, -1, 1, 1))}, "", "w_sq_row")
	return e.node("Sqrt", []string{e.node("Add", []string{row, eps}, "", "w_sq_eps")}, "", "wnorm")
}

// reduceSumSquare keeps the reduced axes; axes are an attribute before
// opset 18 and an input from 18 on.
func reduceSumSquare(e emitter, x string, axes []int64, role string) string {
	keep := onnx.AttrInt("keepdims", 1)
	if e.opset() >= 18 {
		return e.node("ReduceSumSquare", []string{x, e.constant(role+"_axes", int64s(axes...))}, "", role, keep)
	}
	return e.node("ReduceSumSquare", []string{x}, "", role, onnx.AttrInts("axes", axes...), keep)
}

// clip bounds x to [lo, hi]; the bounds are inputs from opset 11 on and
// attributes before.
func clip(e emitter, x string, lo, hi float32, role string) string {
	if e.opset() >= 11 {
		return e.node("Clip", []string{x, e.constant("clip_lo", scalar(lo)), e.constant("clip_hi", scalar(hi))}, "", role)
	}
	return e.node("Clip", []string{x}, "", role, onnx.AttrFloat("min", lo), onnx.AttrFloat("max", hi))
}

// angular returns g(c) for the raw cosine.
func (p portable) angular(e emitter, cos string) string {
	switch p.op.Angular {
	case decop.Cos:
		return clip(e, cos, -1, 1, "cos")
	case decop.SqCos:
		c := clip(e, cos, -1, 1, "cos")
		return e.node("Mul", []string{c, e.node("Abs", []string{c}, "", "cos_abs")}, "", "g")
	}
	c := clip(e, cos, -1+clampMargin, 1-clampMargin, "cos")
	theta := e.node("Acos", []string{c}, "", "theta")
	if p.op.Angular == decop.LinearAng { // 1 − (2/π)·θ
		scaled := e.node("Mul", []string{theta, e.constant("minus_2_over_pi", scalar(float32(-2/math.Pi)))}, "", "theta_scaled")
		return e.node("Add", []string{scaled, e.constant("one", scalar(1))}, "", "g")
	}
	// sigmoid: tanh((π/2 − θ)/(2k)) / tanh(π/(4k))
	k := float64(p.op.K)
	diff := e.node("Sub", []string{e.constant("half_pi", scalar(float32(math.Pi/2))), theta}, "", "half_pi_minus_theta")
	u := e.node("Mul", []string{diff, e.constant("inv_2k", scalar(float32(1/(2*k))))}, "", "u")
	t := e.node("Tanh", []string{u}, "", "tanh_u")
	return e.node("Mul", []string{t, e.constant("sigmoid_scale", scalar(float32(1/math.Tanh(math.Pi/(4*k)))))}, "", "g")
}

// magnitude returns h(r), or "" when h is the constant 1 (sphere without
// α).
func (p portable) magnitude(e emitter, r string, v operands) string {
	scale := func(x string) string { // α·x
		if v.alpha == "" {
			return x
		}
		return e.node("Mul", []string{v.alpha, x}, "", "alpha_"+roleOf(x))
	}
	rho, beta := v.rho, v.beta
	if rho == "" && usesRho(p.op.Magnitude) {
		rho = e.constant("rho_default", scalar(decop.DefaultRho))
	}
	if beta == "" && usesBeta(p.op.Magnitude) {
		beta = e.constant("beta_default", scalar(decop.DefaultBeta))
	}
	log1p := func() string {
		return e.node("Log", []string{e.node("Add", []string{r, e.constant("one", scalar(1))}, "", "r_plus_1")}, "", "log_r")
	}
	switch p.op.Magnitude {
	case decop.Sphere:
		return v.alpha
	case decop.Ball: // α·min(r, ρ)/ρ
		return e.node("Div", []string{scale(e.node("Min", []string{r, rho}, "", "r_min")), rho}, "", "h")
	case decop.Tanh: // α·tanh(r/ρ)
		return scale(e.node("Tanh", []string{e.node("Div", []string{r, rho}, "", "r_over_rho")}, "", "tanh_r"))
	case decop.Linear: // α·r
		return scale(r)
	case decop.Seg: // α·min(r, ρ) + β·max(r − ρ, 0)
		low := scale(e.node("Min", []string{r, rho}, "", "r_min"))
		excess := e.node("Relu", []string{e.node("Sub", []string{r, rho}, "", "r_minus_rho")}, "", "r_excess")
		return e.node("Add", []string{low, e.node("Mul", []string{beta, excess}, "", "beta_excess")}, "", "h")
	case decop.Log: // α·ln(1 + r)
		return scale(log1p())
	case decop.Mix: // α·r + β·ln(1 + r)
		lin := scale(r)
		return e.node("Add", []string{lin, e.node("Mul", []string{beta, log1p()}, "", "beta_log")}, "", "h")
	}
	panic(fmt.Sprintf("convert: bad magnitude %v", p.op.Magnitude)) // parseDecoupled ruled it out
}

// roleOf is the last path element of a value name, to name derived values.
func roleOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// finish writes y = h·g + b.
func finish(e emitter, h, g, b, y string) {
	switch {
	case h == "" && b == "":
		e.node("Identity", []string{g}, y, "y")
	case h == "":
		e.node("Add", []string{g, b}, y, "y")
	case b == "":
		e.node("Mul", []string{h, g}, y, "y")
	default:
		e.node("Add", []string{e.node("Mul", []string{h, g}, "", "hg"), b}, y, "y")
	}
}
