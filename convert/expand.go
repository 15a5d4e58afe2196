package convert

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
)

// Expand replaces every DecoupledConv node of m's main graph by standard
// ONNX operators computing the same values (the expanded form), removes the
// DecoupledConv model-local functions, and drops the ai.dcnet opset import
// when nothing uses it any more. Constant weights give precomputed filter
// norms and all-ones kernels; constant per-channel parameters and biases
// become [1, M, 1, 1] initializers (reshaped in place when only
// DecoupledConv nodes read them). Node names and outputs of the expansion
// are prefixed with the DecoupledConv node's name; its output keeps its
// name. Needs default-domain opset ≥ 8 (≥ 9 when a weight is not constant).
// All problems are reported together; then m is not modified.
func Expand(m *onnx.ModelProto) error {
	opset, err := defaultOpset(m)
	if err != nil {
		return err
	}
	ix, err := newGraphIndex(m)
	if err != nil {
		return err
	}
	plans, err := planExpansion(ix, opset)
	if err != nil {
		return err
	}
	x := &expander{ix: ix, opset: opset, exclusive: exclusiveParams(ix), shared: map[string]string{}}
	var out []*onnx.NodeProto
	for i, n := range ix.g.GetNode() {
		if p, ok := plans[i]; ok {
			out = append(out, x.expandNode(n, p)...)
			continue
		}
		out = append(out, n)
	}
	ix.g.Node = out
	removeDecoupledFunctions(m)
	dropUnusedDomain(m, decop.Domain)
	return nil
}

// planExpansion parses every DecoupledConv node of the main graph and
// checks that it can be expanded at this opset.
func planExpansion(ix *graphIndex, opset int) (map[int]config, error) {
	plans := map[int]config{}
	var errs []error
	for i, n := range ix.g.GetNode() {
		if !isDecoupled(n) {
			continue
		}
		c, err := parseDecoupled(n)
		if err == nil {
			err = checkExpandable(ix, n, c, opset)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s (DecoupledConv): %w", nodeLabel(n, i), err))
			continue
		}
		plans[i] = c
	}
	if len(plans) > 0 && opset < minExpandOpset {
		errs = append(errs, fmt.Errorf("the portable form needs default-domain opset ≥ %d, the model imports %d", minExpandOpset, opset))
	}
	return plans, errors.Join(errs...)
}

// checkExpandable rejects constant ρ ≤ 0 (as a runtime does at load time)
// and dynamic weights below opset 9.
func checkExpandable(ix *graphIndex, n *onnx.NodeProto, c config, opset int) error {
	if c.hasRho {
		rho, _, ok, err := ix.floats(input(n, 4))
		if err != nil {
			return fmt.Errorf("input Rho: %w", err)
		}
		for i, v := range rho {
			if ok && !(v > 0) {
				return fmt.Errorf("input Rho: rho[%d] = %g, must be positive", i, v)
			}
		}
	}
	if w, ok := ix.constant(input(n, 1)); ok {
		if len(w.GetDims()) != 4 {
			return fmt.Errorf("weight %q has rank %d, want 4", input(n, 1), len(w.GetDims()))
		}
		if _, _, err := onnx.Float32s(w, ""); err != nil {
			return fmt.Errorf("weight: %w", err)
		}
	} else if opset < minFunctionsOpset {
		return fmt.Errorf("weight %q is not a constant, which needs opset ≥ %d (ConstantOfShape); the model imports %d", input(n, 1), minFunctionsOpset, opset)
	}
	return nil
}

// exclusiveParams returns the values that main-graph DecoupledConv nodes
// read as B, Alpha, Rho or Beta and nothing else reads.
func exclusiveParams(ix *graphIndex) map[string]bool {
	uses := ix.uses()
	asParam := map[string]int{}
	for _, n := range ix.g.GetNode() {
		if !isDecoupled(n) {
			continue
		}
		for i := 2; i < len(n.GetInput()) && i < 6; i++ {
			if s := n.GetInput()[i]; s != "" {
				asParam[s]++
			}
		}
	}
	out := map[string]bool{}
	for s, k := range asParam {
		if uses[s] == k {
			out[s] = true
		}
	}
	return out
}

// expander expands the DecoupledConv nodes of one graph.
type expander struct {
	ix        *graphIndex
	opset     int
	exclusive map[string]bool
	shared    map[string]string // initializers shared between layers, by content key
}

// expandNode returns the standard-op nodes replacing n.
func (x *expander) expandNode(n *onnx.NodeProto, c config) []*onnx.NodeProto {
	base := n.GetName()
	if base == "" {
		base = n.GetOutput()[0]
	}
	e := &graphEmitter{x: x, base: base}
	convAttrs := geometryAttrs(n)
	normAttrs := convAttrs
	if c.group == 1 {
		normAttrs = withoutAttr(convAttrs, "group")
	}
	p := portable{op: c.op, grouped: c.group != 1, convAttrs: convAttrs, normAttrs: normAttrs}
	v := operands{x: input(n, 0), w: input(n, 1), y: n.GetOutput()[0]}
	v.b = x.broadcast(e, input(n, 2), "bias")
	v.alpha = x.broadcast(e, input(n, 3), "alpha")
	v.rho = x.broadcast(e, input(n, 4), "rho")
	v.beta = x.broadcast(e, input(n, 5), "beta")
	if w, dims, ok, _ := x.ix.floats(v.w); ok {
		v.wnorm = x.weightNorm(v.w, w, dims, p.op.Eps)
		v.ones = x.ones(dims, c.group)
	}
	p.emit(e, v)
	if n.GetDocString() != "" && len(e.nodes) > 0 {
		e.nodes[len(e.nodes)-1].DocString = proto.String(n.GetDocString())
	}
	return e.nodes
}

func withoutAttr(attrs []*onnx.AttributeProto, name string) []*onnx.AttributeProto {
	var out []*onnx.AttributeProto
	for _, a := range attrs {
		if a.GetName() != name {
			out = append(out, a)
		}
	}
	return out
}

// broadcast makes parameter value name broadcast against [N, M, H', W']:
// scalars and [1] stay; a constant [M] initializer is reshaped to
// [1, M, 1, 1] in place when only DecoupledConv parameters read it, else
// copied; any other value goes through Reshape to [M, 1, 1].
func (x *expander) broadcast(e *graphEmitter, name, role string) string {
	if name == "" {
		return ""
	}
	t, ok := x.ix.constant(name)
	if !ok {
		return e.node("Reshape", []string{name, e.constant("param_shape", int64s(-1, 1, 1))}, "", role)
	}
	dims := t.GetDims()
	switch {
	case len(dims) == 0 || (len(dims) == 1 && dims[0] <= 1):
		return name
	case len(dims) == 4 && dims[0] == 1 && dims[2] == 1 && dims[3] == 1:
		return name
	case len(dims) == 1 && x.exclusive[name] && x.ix.inits[name] == t && !x.ix.inputs[name]:
		t.Dims = []int64{1, dims[0], 1, 1}
		return name
	}
	data, _, err := onnx.Float32s(t, "")
	if err != nil || len(dims) != 1 {
		// Not a float vector: let the runtime reshape (and complain).
		return e.node("Reshape", []string{name, e.constant("param_shape", int64s(-1, 1, 1))}, "", role)
	}
	key := "bcast|" + name
	if s, ok := x.shared[key]; ok {
		return s
	}
	s := x.ix.freshValue(name + "/bcast")
	x.ix.addInitializer(floatTensor(s, []int{1, len(data), 1, 1}, data))
	x.shared[key] = s
	return s
}

// weightNorm adds the initializer Nw = sqrt(Σ w_m² + eps) [1, M, 1, 1] for
// constant weight w (summed in float64), shared by layers with the same
// weight and eps.
func (x *expander) weightNorm(wName string, w []float32, dims []int, eps float32) string {
	key := fmt.Sprintf("wnorm|%s|%g", wName, eps)
	if s, ok := x.shared[key]; ok {
		return s
	}
	m := dims[0]
	per := len(w) / m
	norms := make([]float32, m)
	for i := range norms {
		var sum float64
		for _, v := range w[i*per : (i+1)*per] {
			sum += float64(v) * float64(v)
		}
		norms[i] = float32(math.Sqrt(sum + float64(eps)))
	}
	s := x.ix.freshValue(wName + "/norm")
	x.ix.addInitializer(floatTensor(s, []int{1, m, 1, 1}, norms))
	x.shared[key] = s
	return s
}

// ones adds (or reuses) the all-ones kernel for a weight of dims:
// [1, C, kH, kW] when group = 1, else dims itself.
func (x *expander) ones(dims []int, group int64) string {
	shape := append([]int{}, dims...)
	if group == 1 {
		shape[0] = 1
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	tag := strings.Join(parts, "x")
	key := "ones|" + tag
	if s, ok := x.shared[key]; ok {
		return s
	}
	data := make([]float32, shape[0]*shape[1]*shape[2]*shape[3])
	for i := range data {
		data[i] = 1
	}
	s := x.ix.freshValue("DecoupledConv/ones_" + tag)
	x.ix.addInitializer(floatTensor(s, shape, data))
	x.shared[key] = s
	return s
}

// graphEmitter writes a body into the main graph: values and nodes are
// named base/role, constants become initializers shared across layers.
type graphEmitter struct {
	x     *expander
	base  string
	nodes []*onnx.NodeProto
}

func (e *graphEmitter) opset() int { return e.x.opset }

func (e *graphEmitter) constant(role string, a *onnx.Array) string {
	key := fmt.Sprintf("const|%s|%v|%v|%v", role, a.Type, a.Dims, a.Data)
	if s, ok := e.x.shared[key]; ok {
		return s
	}
	t, err := onnx.EncodeTensor(e.x.ix.freshValue("DecoupledConv/"+role), a)
	if err != nil {
		panic(fmt.Sprintf("convert: constant %s: %v", role, err)) // built by this package
	}
	e.x.ix.addInitializer(t)
	e.x.shared[key] = t.GetName()
	return t.GetName()
}

func (e *graphEmitter) node(op string, inputs []string, out, role string, attrs ...*onnx.AttributeProto) string {
	if out == "" {
		out = e.x.ix.freshValue(e.base + "/" + role)
	}
	e.nodes = append(e.nodes, &onnx.NodeProto{
		Name:      proto.String(e.x.ix.freshNode(e.base + "/" + role)),
		OpType:    proto.String(op),
		Input:     inputs,
		Output:    []string{out},
		Attribute: attrs,
	})
	return out
}

// removeDecoupledFunctions deletes m's model-local DecoupledConv functions.
func removeDecoupledFunctions(m *onnx.ModelProto) {
	var keep []*onnx.FunctionProto
	for _, f := range m.GetFunctions() {
		if f.GetDomain() == decop.Domain && f.GetName() == decop.OpType {
			continue
		}
		keep = append(keep, f)
	}
	m.Functions = keep
}

// dropUnusedDomain removes the opset import of domain when no node of the
// model (graph, subgraphs, functions) and no function is in it.
func dropUnusedDomain(m *onnx.ModelProto, domain string) {
	used := false
	var visit func(nodes []*onnx.NodeProto)
	visit = func(nodes []*onnx.NodeProto) {
		for _, n := range nodes {
			if n.GetDomain() == domain {
				used = true
			}
			for _, g := range subgraphs(n) {
				visit(g.GetNode())
			}
		}
	}
	visit(m.GetGraph().GetNode())
	for _, f := range m.GetFunctions() {
		if f.GetDomain() == domain {
			used = true
		}
		visit(f.GetNode())
	}
	if used {
		return
	}
	var keep []*onnx.OperatorSetIdProto
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() != domain {
			keep = append(keep, o)
		}
	}
	m.OpsetImport = keep
}
