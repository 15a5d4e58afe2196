package runtime

import (
	"errors"
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/onnx"
)

// Node is what an operator's Builder sees of one graph node at plan time: its
// identity, its attributes (decoded on demand with ONNX defaults) and which of
// its inputs are constant.
//
// Attribute getters never fail on the spot: a missing attribute yields the
// default, a malformed one records an error (naming node, op and attribute)
// that Err returns, so a builder reads everything and then checks once.
type Node struct {
	// Name is the node's name, or a synthesized "#index" if it has none.
	Name string
	// OpType and Domain identify the operator ("" is the default ONNX domain).
	OpType, Domain string
	// Opset is the model's opset version for Domain.
	Opset int
	// Inputs and Outputs are the value names; an empty name is an absent
	// optional input or output.
	Inputs, Outputs []string

	proto  *onnx.NodeProto
	attrs  map[string]*onnx.AttributeProto
	consts []*Tensor
	errs   []error
	// Session options visible to builders.
	opts *Options
}

func newNode(p *onnx.NodeProto, index int, opset int, consts []*Tensor, opts *Options) *Node {
	name := p.GetName()
	if name == "" {
		name = fmt.Sprintf("#%d", index)
	}
	n := &Node{
		Name: name, OpType: p.GetOpType(), Domain: p.GetDomain(), Opset: opset,
		Inputs: p.GetInput(), Outputs: p.GetOutput(),
		proto: p, attrs: map[string]*onnx.AttributeProto{}, consts: consts, opts: opts,
	}
	for _, a := range p.GetAttribute() {
		n.attrs[a.GetName()] = a
	}
	return n
}

// Proto returns the node's protobuf message. Builders must not modify it.
func (n *Node) Proto() *onnx.NodeProto { return n.proto }

// Threads is the session's thread count, for builders that pre-size work.
func (n *Node) Threads() int { return n.opts.threads() }

// Errorf returns an error prefixed with the node's identity:
// `node "conv1" (Conv): ...`.
func (n *Node) Errorf(format string, args ...any) error {
	return &NodeError{Node: n.Name, Op: n.opName(), Err: fmt.Errorf(format, args...)}
}

func (n *Node) opName() string {
	if n.Domain == "" || n.Domain == "ai.onnx" {
		return n.OpType
	}
	return n.Domain + "/" + n.OpType
}

func (n *Node) fail(format string, args ...any) {
	n.errs = append(n.errs, n.Errorf(format, args...))
}

// Err returns every attribute error recorded so far, joined.
func (n *Node) Err() error { return errors.Join(n.errs...) }

// NumInputs is the number of input slots, including absent optional ones.
func (n *Node) NumInputs() int { return len(n.Inputs) }

// HasInput reports whether optional input i is present.
func (n *Node) HasInput(i int) bool { return i < len(n.Inputs) && n.Inputs[i] != "" }

// Const returns input i's value if it is known at plan time (an
// initializer, a Constant or a folded subgraph), else nil.
func (n *Node) Const(i int) *Tensor {
	if i < len(n.consts) {
		return n.consts[i]
	}
	return nil
}

// HasAttr reports whether the attribute is set.
func (n *Node) HasAttr(name string) bool { _, ok := n.attrs[name]; return ok }

func (n *Node) attr(name string, want onnx.AttributeProto_AttributeType) *onnx.AttributeProto {
	a, ok := n.attrs[name]
	if !ok {
		return nil
	}
	if a.GetRefAttrName() != "" {
		n.fail("attribute %q: references function attribute %q outside a function", name, a.GetRefAttrName())
		return nil
	}
	if t := attrType(a); t != want {
		n.fail("attribute %q: expected %v, got %v", name, want, t)
		return nil
	}
	return a
}

// attrType is the attribute's declared type, inferred from the populated
// field for old models that leave it unset.
func attrType(a *onnx.AttributeProto) onnx.AttributeProto_AttributeType {
	if a.Type != nil {
		return a.GetType()
	}
	switch {
	case a.F != nil:
		return onnx.AttributeProto_FLOAT
	case a.I != nil:
		return onnx.AttributeProto_INT
	case a.S != nil:
		return onnx.AttributeProto_STRING
	case a.T != nil:
		return onnx.AttributeProto_TENSOR
	case len(a.Floats) > 0:
		return onnx.AttributeProto_FLOATS
	case len(a.Ints) > 0:
		return onnx.AttributeProto_INTS
	case len(a.Strings) > 0:
		return onnx.AttributeProto_STRINGS
	}
	return onnx.AttributeProto_UNDEFINED
}

// Int returns an integer attribute, or def if unset.
func (n *Node) Int(name string, def int64) int64 {
	if a := n.attr(name, onnx.AttributeProto_INT); a != nil {
		return a.GetI()
	}
	return def
}

// IntIn returns an integer attribute that must lie in [lo, hi].
func (n *Node) IntIn(name string, def, lo, hi int64) int64 {
	v := n.Int(name, def)
	if v < lo || v > hi {
		n.fail("attribute %q: expected an integer in [%d, %d], got %d", name, lo, hi, v)
		return def
	}
	return v
}

// Float returns a float attribute, or def if unset.
func (n *Node) Float(name string, def float32) float32 {
	if a := n.attr(name, onnx.AttributeProto_FLOAT); a != nil {
		v := a.GetF()
		if math.IsNaN(float64(v)) {
			n.fail("attribute %q: NaN", name)
		}
		return v
	}
	return def
}

// String returns a string attribute, or def if unset.
func (n *Node) String(name, def string) string {
	if a := n.attr(name, onnx.AttributeProto_STRING); a != nil {
		return string(a.GetS())
	}
	return def
}

// Ints returns an integer-list attribute, or def if unset.
func (n *Node) Ints(name string, def []int64) []int64 {
	if a, ok := n.attrs[name]; ok && attrType(a) == onnx.AttributeProto_INTS && len(a.Ints) == 0 {
		return []int64{}
	}
	if a := n.attr(name, onnx.AttributeProto_INTS); a != nil {
		return a.GetInts()
	}
	return def
}

// Floats returns a float-list attribute, or def if unset.
func (n *Node) Floats(name string, def []float32) []float32 {
	if a := n.attr(name, onnx.AttributeProto_FLOATS); a != nil {
		return a.GetFloats()
	}
	return def
}

// Tensor returns a tensor attribute decoded, or nil if unset.
func (n *Node) Tensor(name string) *Tensor {
	a := n.attr(name, onnx.AttributeProto_TENSOR)
	if a == nil {
		return nil
	}
	t, err := TensorFromProto(a.GetT(), n.opts.baseDir)
	if err != nil {
		n.fail("attribute %q: %v", name, err)
		return nil
	}
	return t
}

// Attribute returns the raw attribute proto, or nil.
func (n *Node) Attribute(name string) *onnx.AttributeProto { return n.attrs[name] }

// IntsAsInt converts a list attribute to []int, recording an error for a
// value outside [lo, hi].
func (n *Node) IntsAsInt(name string, vals []int64, lo, hi int64) []int {
	out := make([]int, len(vals))
	for i, v := range vals {
		if v < lo || v > hi {
			n.fail("attribute %q: element %d is %d, expected [%d, %d]", name, i, v, lo, hi)
			return nil
		}
		out[i] = int(v)
	}
	return out
}

// NodeError is an error about one node; its message names the node and op.
type NodeError struct {
	Node, Op string
	Err      error
}

func (e *NodeError) Error() string { return fmt.Sprintf("node %q (%s): %v", e.Node, e.Op, e.Err) }
func (e *NodeError) Unwrap() error { return e.Err }
