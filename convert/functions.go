package convert

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
)

// Naming the function bodies. ONNX functions cannot compute attributes, and
// the body of a DecoupledConv depends on its magnitude, angular, weighted,
// eps, k, on whether group is 1 and on which optional inputs are present.
// So there is one function per such configuration, and every one keeps
// domain ai.dcnet and name DecoupledConv and is told apart by the
// FunctionProto/NodeProto "overload" field (ONNX IR 10): each node names the
// overload of its configuration (config.key, e.g.
// "linear-cos-weighted-eps0.0001-bias-alpha"). Keeping the op_type means a
// runtime with a DecoupledConv kernel, ours included, runs the functions
// form with that kernel and never looks at the bodies. The Conv geometry
// (auto_pad, dilations, group, kernel_shape, pads, strides) is forwarded to
// the body's Conv nodes through attribute references, so layers differing
// only in shape or stride share one body.
//
// Checked with ONNX Runtime 1.30: it resolves model-local functions by
// (domain, name, overload), also in models whose IR version is below 10.
// onnx 1.12's checker (IR 8) ignores the unknown overload fields and accepts
// several functions with the same domain and name. So the functions form
// raises the IR version to 8 (model-local functions) and no further: models
// at opsets up to 17 stay checkable by onnx 1.12.

// minFunctionsIR is the IR version that introduced model-local functions.
const minFunctionsIR = 8

// functionInputs are the formal inputs of a DecoupledConv function body.
var functionInputs = []string{"X", "W", "B", "Alpha", "Rho", "Beta"}

// functionAttrs are the attributes a DecoupledConv function declares.
var functionAttrs = append(append([]string{}, convGeometry...), "magnitude", "angular", "weighted", "k", "eps")

// AddFunctions writes m in the functions form: every DecoupledConv node of
// the main graph names the overload of its configuration, and m gains one
// model-local function body of standard operators per configuration
// (replacing any DecoupledConv functions it had). Trailing absent inputs of
// the nodes are dropped. m's IR version is raised to 8 if it was lower, and
// the ai.dcnet opset import is added. Needs default-domain opset ≥ 9. All
// problems are reported together; then m is not modified.
func AddFunctions(m *onnx.ModelProto) error {
	opset, err := defaultOpset(m)
	if err != nil {
		return err
	}
	if m.GetGraph() == nil {
		return fmt.Errorf("model has no graph")
	}
	configs := map[*onnx.NodeProto]config{}
	var errs []error
	for i, n := range m.Graph.GetNode() {
		if !isDecoupled(n) {
			continue
		}
		c, err := parseDecoupled(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s (DecoupledConv): %w", nodeLabel(n, i), err))
			continue
		}
		configs[n] = c
	}
	if len(configs) > 0 && opset < minFunctionsOpset {
		errs = append(errs, fmt.Errorf("the functions form needs default-domain opset ≥ %d, the model imports %d", minFunctionsOpset, opset))
	}
	if v, ok := onnx.OpsetVersion(m, decop.Domain); ok && v != decop.Version {
		errs = append(errs, fmt.Errorf("the model imports opset %d of domain %q; this converter writes version %d", v, decop.Domain, decop.Version))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	removeDecoupledFunctions(m)
	if len(configs) == 0 {
		return nil
	}
	made := map[string]bool{}
	for _, n := range m.Graph.GetNode() {
		c, ok := configs[n]
		if !ok {
			continue
		}
		key := c.key()
		n.Input = trimInputs(n.Input)
		n.Overload = proto.String(key)
		if !made[key] {
			made[key] = true
			m.Functions = append(m.Functions, decoupledFunction(c, opset))
		}
	}
	if m.GetIrVersion() < minFunctionsIR {
		m.IrVersion = proto.Int64(minFunctionsIR)
	}
	return ensureOpset(m, decop.Domain, decop.Version)
}

// ToCustom writes m in the custom form: the DecoupledConv function bodies
// and the nodes' overload names are removed.
func ToCustom(m *onnx.ModelProto) {
	removeDecoupledFunctions(m)
	for _, n := range m.GetGraph().GetNode() {
		if isDecoupled(n) {
			n.Overload = nil
		}
	}
}

// decoupledFunction builds the function body for configuration c.
func decoupledFunction(c config, opset int) *onnx.FunctionProto {
	e := &funcEmitter{version: opset, taken: map[string]bool{}}
	present := []bool{true, true, c.hasB, c.hasAlpha, c.hasRho, c.hasBeta}
	last := 0
	for i, has := range present {
		if has {
			last = i
		}
	}
	formals := functionInputs[:last+1]
	for _, s := range formals {
		e.taken[s] = true
	}
	e.taken["Y"] = true
	p := portable{op: c.op, grouped: c.group != 1, convAttrs: refAttrs(convGeometry)}
	p.normAttrs = p.convAttrs
	if c.group == 1 {
		p.normAttrs = withoutAttr(p.convAttrs, "group")
	}
	v := operands{x: "X", w: "W", y: "Y"}
	if c.hasB {
		v.b = e.perChannel("B", "bias")
	}
	if c.hasAlpha {
		v.alpha = e.perChannel("Alpha", "alpha")
	}
	if c.hasRho {
		v.rho = e.perChannel("Rho", "rho")
	}
	if c.hasBeta {
		v.beta = e.perChannel("Beta", "beta")
	}
	p.emit(e, v)
	return &onnx.FunctionProto{
		Name:        proto.String(decop.OpType),
		Domain:      proto.String(decop.Domain),
		Overload:    proto.String(c.key()),
		Input:       append([]string{}, formals...),
		Output:      []string{"Y"},
		Attribute:   append([]string{}, functionAttrs...),
		Node:        e.nodes,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(opset))}},
		DocString:   proto.String(fmt.Sprintf("DecoupledConv %v, eps %g, %s, written with standard operators (the portable form of the ai.dcnet DecoupledConv specification).", c.op, c.op.Eps, groupNote(c.group))),
	}
}

func groupNote(group int64) string {
	if group == 1 {
		return "group 1"
	}
	return "grouped"
}

// refAttrs returns attributes that forward the caller's attributes of the
// same names.
func refAttrs(names []string) []*onnx.AttributeProto {
	types := map[string]onnx.AttributeProto_AttributeType{
		"auto_pad": onnx.AttributeProto_STRING, "group": onnx.AttributeProto_INT,
		"dilations": onnx.AttributeProto_INTS, "kernel_shape": onnx.AttributeProto_INTS,
		"pads": onnx.AttributeProto_INTS, "strides": onnx.AttributeProto_INTS,
	}
	out := make([]*onnx.AttributeProto, len(names))
	for i, name := range names {
		t := types[name]
		out[i] = &onnx.AttributeProto{Name: proto.String(name), RefAttrName: proto.String(name), Type: &t}
	}
	return out
}

// funcEmitter writes a body into a function: constants become Constant
// nodes, names are local to the function.
type funcEmitter struct {
	version int
	taken   map[string]bool
	nodes   []*onnx.NodeProto
}

func (e *funcEmitter) opset() int { return e.version }

func (e *funcEmitter) constant(role string, a *onnx.Array) string {
	out := fresh(e.taken, role)
	t, err := onnx.EncodeTensor(out, a)
	if err != nil {
		panic(fmt.Sprintf("convert: constant %s: %v", role, err)) // built by this package
	}
	e.nodes = append(e.nodes, &onnx.NodeProto{
		Name: proto.String(out), OpType: proto.String("Constant"),
		Output: []string{out}, Attribute: []*onnx.AttributeProto{onnx.AttrTensor("value", t)},
	})
	return out
}

func (e *funcEmitter) node(op string, inputs []string, out, role string, attrs ...*onnx.AttributeProto) string {
	if out == "" {
		out = fresh(e.taken, role)
	}
	e.nodes = append(e.nodes, &onnx.NodeProto{
		Name: proto.String(out), OpType: proto.String(op),
		Input: inputs, Output: []string{out}, Attribute: attrs,
	})
	return out
}

// perChannel reshapes a parameter input ([] or [M]) to broadcast against
// [N, M, H', W'].
func (e *funcEmitter) perChannel(formal, role string) string {
	return e.node("Reshape", []string{formal, e.constant(role+"_shape", int64s(-1, 1, 1))}, "", role)
}
