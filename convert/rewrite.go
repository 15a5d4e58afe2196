package convert

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
)

// Options configure Rewrite.
type Options struct {
	Operator  Operator
	Selection Selection
}

// Layer is one rewritten layer: the DecoupledConv node that replaced a Conv,
// its values and the initializers holding its operator parameters. A
// calibration pass reads Layers to find what to measure and writes the
// parameters back with SetParams.
type Layer struct {
	Node string // the node's name ("" if the Conv had none)
	// X, W, B and Y are the node's input, weight, bias and output values.
	X, W, B, Y string
	// Alpha, Rho and Beta name the node's parameter initializers, each
	// [M]. Rho is "" unless the magnitude uses ρ or β, Beta "" unless it
	// uses β.
	Alpha, Rho, Beta string
	// W is [OutChannels, GroupChannels, KernelH, KernelW].
	OutChannels, GroupChannels, KernelH, KernelW int
	Group                                        int
	Depthwise                                    bool
}

// Result reports what Rewrite did.
type Result struct {
	Layers  []Layer // in node order
	Skipped []Skip  // Conv nodes left as they were, in node order
}

// Rewrite replaces the selected Conv nodes of m's main graph by ai.dcnet
// DecoupledConv nodes (the custom form) in place, and adds the ai.dcnet
// opset import.
//
// Each new node keeps the Conv's name, inputs X, W and B, output,
// attributes and doc string, gains the operator's attributes, and reads
// parameter initializers of its own, which a calibration pass may change
// (SetParams): a zero bias B [M] when the Conv had none, Alpha [M] = 1,
// Rho [M] = 1 when the magnitude uses ρ or β, Beta [M] = 0.5 when it uses
// β (the spec's defaults). No input before the last one is left absent:
// onnx's shape inference of model-local function bodies (the functions
// form) rejects calls with absent inputs. With
// the Identity operator the model's outputs do not change. Any other
// operator changes them until its parameters are calibrated (SetParams).
// Everything else in the model is left as it was. Conv nodes that cannot be
// rewritten (1-D or 3-D, weights that are not FLOAT constants) are listed
// in Result.Skipped with Unsupported set.
//
// Malformed Conv nodes are reported together (errors.Join); then m is not
// modified.
func Rewrite(m *onnx.ModelProto, opts Options) (*Result, error) {
	if err := opts.Operator.validate(); err != nil {
		return nil, err
	}
	ix, err := newGraphIndex(m)
	if err != nil {
		return nil, err
	}
	cands, unsupported, errs := findConvs(ix)
	if v, ok := onnx.OpsetVersion(m, decop.Domain); ok && v != decop.Version {
		errs = append(errs, fmt.Errorf("the model imports opset %d of domain %q; this converter writes version %d", v, decop.Domain, decop.Version))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	first, last := convRange(ix.g)
	chosen, left := opts.Selection.choose(cands, first, last)
	res := &Result{Skipped: sortSkips(ix.g, append(unsupported, left...))}
	for _, c := range chosen {
		res.Layers = append(res.Layers, rewriteConv(ix, c, opts.Operator))
	}
	if len(res.Layers) > 0 {
		if err := ensureOpset(m, decop.Domain, decop.Version); err != nil {
			return nil, err // ruled out above
		}
	}
	return res, nil
}

// sortSkips orders skips by the position of their node.
func sortSkips(g *onnx.GraphProto, skips []Skip) []Skip {
	pos := map[string]int{}
	for i, n := range g.GetNode() {
		pos[nodeLabel(n, i)] = i
	}
	sort.SliceStable(skips, func(i, j int) bool { return pos[skips[i].Node] < pos[skips[j].Node] })
	return skips
}

// rewriteConv turns candidate c into a DecoupledConv node.
func rewriteConv(ix *graphIndex, c candidate, op Operator) Layer {
	n := c.node
	base := n.GetName()
	if base == "" {
		base = n.GetOutput()[0]
	}
	mOut := c.wDims[0]
	l := Layer{
		Node: n.GetName(), X: n.GetInput()[0], W: n.GetInput()[1], B: input(n, 2), Y: n.GetOutput()[0],
		OutChannels: mOut, GroupChannels: c.wDims[1], KernelH: c.wDims[2], KernelW: c.wDims[3],
		Group: c.group, Depthwise: c.depthwise,
	}
	if l.B == "" {
		l.B = addParam(ix, base+".bias", mOut, 0)
	}
	l.Alpha = addParam(ix, base+".alpha", mOut, decop.DefaultAlpha)
	if usesRho(op.Magnitude) || usesBeta(op.Magnitude) {
		l.Rho = addParam(ix, base+".rho", mOut, decop.DefaultRho)
	}
	if usesBeta(op.Magnitude) {
		l.Beta = addParam(ix, base+".beta", mOut, decop.DefaultBeta)
	}
	n.OpType = proto.String(decop.OpType)
	n.Domain = proto.String(decop.Domain)
	n.Input = trimInputs([]string{l.X, l.W, l.B, l.Alpha, l.Rho, l.Beta})
	n.Attribute = append(n.Attribute, operatorAttrs(op)...)
	return l
}

// addParam adds an initializer [m] filled with v under a fresh name.
func addParam(ix *graphIndex, base string, m int, v float32) string {
	name := ix.freshValue(base)
	data := make([]float32, m)
	for i := range data {
		data[i] = v
	}
	ix.addInitializer(floatTensor(name, []int{m}, data))
	return name
}

// trimInputs drops trailing absent inputs.
func trimInputs(in []string) []string {
	for len(in) > 0 && in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	return in
}

// operatorAttrs spells op as DecoupledConv attributes, defaults included,
// so that every node states its configuration.
func operatorAttrs(op Operator) []*onnx.AttributeProto {
	w := int64(0)
	if op.Weighted {
		w = 1
	}
	attrs := []*onnx.AttributeProto{
		onnx.AttrString("magnitude", op.Magnitude.String()),
		onnx.AttrString("angular", op.Angular.String()),
		onnx.AttrInt("weighted", w),
		onnx.AttrFloat("eps", op.Eps),
	}
	if op.Angular == decop.Sigmoid {
		attrs = append(attrs, onnx.AttrFloat("k", op.K))
	}
	return attrs
}

// Params are values for a rewritten layer's parameters. Alpha, Rho and Beta
// have one element (shared by every output channel) or one per output
// channel; Bias has one per output channel. A nil slice leaves that
// parameter as it is.
type Params struct {
	Alpha, Rho, Beta, Bias []float32
}

// SetParams writes p into the initializers of layer l of m (a Layer from
// Rewrite). A layer without a bias gets a new bias initializer, and l.B is
// updated to name it. Every value must be finite and every ρ positive;
// setting a parameter the layer's magnitude does not use is an error. On
// error m is not modified.
func SetParams(m *onnx.ModelProto, l *Layer, p Params) error {
	ix, err := newGraphIndex(m)
	if err != nil {
		return err
	}
	n, index := findDecoupled(ix.g, l.Y)
	if n == nil {
		return fmt.Errorf("no DecoupledConv node writes %q", l.Y)
	}
	label := nodeLabel(n, index)
	if err := checkParams(n, l, p); err != nil {
		return fmt.Errorf("node %s (DecoupledConv): %w", label, err)
	}
	for _, s := range []struct {
		name   string
		values []float32
	}{{l.Alpha, p.Alpha}, {l.Rho, p.Rho}, {l.Beta, p.Beta}} {
		if s.values != nil {
			replaceInitializer(ix, s.name, paramDims(len(s.values)), s.values)
		}
	}
	if p.Bias == nil {
		return nil
	}
	if l.B != "" {
		replaceInitializer(ix, l.B, []int{len(p.Bias)}, p.Bias)
		return nil
	}
	base := n.GetName()
	if base == "" {
		base = l.Y
	}
	l.B = ix.freshValue(base + ".bias")
	ix.addInitializer(floatTensor(l.B, []int{len(p.Bias)}, append([]float32{}, p.Bias...)))
	for len(n.Input) < 3 {
		n.Input = append(n.Input, "")
	}
	n.Input[2] = l.B
	return nil
}

// checkParams validates p against node n and layer l before anything is
// written.
func checkParams(n *onnx.NodeProto, l *Layer, p Params) error {
	mag, err := decop.ParseMagnitude(stringAttr(n, "magnitude", "tanh"))
	if err != nil {
		return err
	}
	checks := []struct {
		what, init string
		values     []float32
		used       bool
		perChannel bool // exactly M values
		positive   bool
	}{
		{"alpha", l.Alpha, p.Alpha, true, false, false},
		{"rho", l.Rho, p.Rho, usesRho(mag), false, true},
		{"beta", l.Beta, p.Beta, usesBeta(mag), false, false},
		{"bias", l.B, p.Bias, true, true, false},
	}
	for _, c := range checks {
		if c.values == nil {
			continue
		}
		if !c.used {
			return fmt.Errorf("magnitude %v does not use %s", mag, c.what)
		}
		if c.init == "" && c.what != "bias" {
			return fmt.Errorf("the layer has no %s initializer", c.what)
		}
		if n := len(c.values); n != l.OutChannels && (c.perChannel || n != 1) {
			want := fmt.Sprintf("1 or %d", l.OutChannels)
			if c.perChannel {
				want = fmt.Sprint(l.OutChannels)
			}
			return fmt.Errorf("%s has %d values, want %s (one per output channel)", c.what, n, want)
		}
		for i, v := range c.values {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) || (c.positive && !(v > 0)) {
				return fmt.Errorf("%s[%d] = %g is not a valid value", c.what, i, v)
			}
		}
	}
	return nil
}

// paramDims is [] for a shared value and [m] for per-channel values.
func paramDims(m int) []int {
	if m == 1 {
		return []int{}
	}
	return []int{m}
}

// replaceInitializer gives the initializer name new dims and data, or adds
// it when the graph has none of that name.
func replaceInitializer(ix *graphIndex, name string, dims []int, data []float32) {
	t := floatTensor(name, dims, append([]float32{}, data...))
	for i, old := range ix.g.Initializer {
		if old.GetName() == name {
			ix.g.Initializer[i] = t
			return
		}
	}
	ix.addInitializer(t)
}

// findDecoupled returns the main-graph DecoupledConv node whose output is y,
// and its index.
func findDecoupled(g *onnx.GraphProto, y string) (*onnx.NodeProto, int) {
	for i, n := range g.GetNode() {
		if isDecoupled(n) && len(n.GetOutput()) > 0 && n.GetOutput()[0] == y {
			return n, i
		}
	}
	return nil, -1
}
