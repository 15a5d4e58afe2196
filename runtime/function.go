package runtime

import (
	"fmt"

	"github.com/dcnet-go/dcnet/onnx"
	"google.golang.org/protobuf/proto"
)

// maxFunctionDepth bounds nested model-local function calls (and rejects
// recursive ones).
const maxFunctionDepth = 16

// maxInlinedNodes bounds the graph that inlining may produce, so that a few
// functions calling each other several times cannot blow up exponentially.
const maxInlinedNodes = 1 << 20

// expandFunctions inlines calls to model-local functions
// (ModelProto.functions) whose operator the registry does not implement.
// A registered kernel always wins, so a model in the "functions" form runs
// its custom ops natively and its standard-op bodies only elsewhere.
func (b *graphBuilder) expandFunctions(nodes []*onnx.NodeProto) ([]*onnx.NodeProto, error) {
	if len(b.funcs) == 0 {
		return nodes, nil
	}
	return b.expand(nodes, 0, "")
}

// functionKey identifies a model-local function: ONNX resolves a call by
// domain, name and (IR 10) overload.
func functionKey(domain, name, overload string) string {
	return canonicalDomain(domain) + "/" + name + "/" + overload
}

func (b *graphBuilder) nextCall() int {
	b.calls++
	return b.calls
}

func (b *graphBuilder) expand(nodes []*onnx.NodeProto, depth int, prefix string) ([]*onnx.NodeProto, error) {
	var out []*onnx.NodeProto
	for i, n := range nodes {
		d := canonicalDomain(n.GetDomain())
		f, isFunc := b.funcs[functionKey(d, n.GetOpType(), n.GetOverload())]
		if !isFunc || b.opts.registry.Has(d, n.GetOpType()) {
			out = append(out, n)
			continue
		}
		if depth >= maxFunctionDepth {
			return nil, fmt.Errorf("node %q (%s): model-local functions nested deeper than %d (recursive?)", nodeName(n, i), n.GetOpType(), maxFunctionDepth)
		}
		body, err := inlineCall(n, f, fmt.Sprintf("%s%s/%d/", prefix, n.GetOpType(), b.nextCall()))
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", nodeName(n, i), n.GetOpType(), err)
		}
		if err := b.checkFunctionOpsets(n, f); err != nil {
			return nil, err
		}
		inner, err := b.expand(body, depth+1, prefix+n.GetOpType()+"/")
		if err != nil {
			return nil, err
		}
		out = append(out, inner...)
		if len(out) > maxInlinedNodes {
			return nil, fmt.Errorf("node %q (%s): inlining model-local functions gives more than %d nodes", nodeName(n, i), n.GetOpType(), maxInlinedNodes)
		}
	}
	return out, nil
}

// checkFunctionOpsets requires the function's opset imports to agree with
// the model's, as ONNX does for model-local functions.
func (b *graphBuilder) checkFunctionOpsets(call *onnx.NodeProto, f *onnx.FunctionProto) error {
	for _, o := range f.GetOpsetImport() {
		d := canonicalDomain(o.GetDomain())
		if v, ok := b.opsets[d]; ok && v != int(o.GetVersion()) {
			return fmt.Errorf("node %q (%s): function imports opset %d of domain %q, the model %d", call.GetName(), call.GetOpType(), o.GetVersion(), o.GetDomain(), v)
		}
		if _, ok := b.opsets[d]; !ok {
			b.opsets[d] = int(o.GetVersion())
		}
	}
	return nil
}

// inlineCall returns the function body with formal parameters replaced by
// the call's actual values, internal values renamed under prefix, and
// attribute references resolved from the call (or the function's defaults).
func inlineCall(call *onnx.NodeProto, f *onnx.FunctionProto, prefix string) ([]*onnx.NodeProto, error) {
	rename := map[string]string{}
	for i, formal := range f.GetInput() {
		actual := ""
		if i < len(call.GetInput()) {
			actual = call.GetInput()[i]
		}
		rename[formal] = actual
	}
	for i, formal := range f.GetOutput() {
		actual := ""
		if i < len(call.GetOutput()) {
			actual = call.GetOutput()[i]
		}
		rename[formal] = actual
	}
	attrs := map[string]*onnx.AttributeProto{}
	for _, a := range f.GetAttributeProto() {
		attrs[a.GetName()] = a
	}
	for _, a := range call.GetAttribute() {
		attrs[a.GetName()] = a
	}
	mapName := func(s string) string {
		if s == "" {
			return ""
		}
		if r, ok := rename[s]; ok {
			return r
		}
		return prefix + s
	}
	var body []*onnx.NodeProto
	for _, fn := range f.GetNode() {
		n := proto.Clone(fn).(*onnx.NodeProto)
		if n.Name != nil {
			n.Name = proto.String(prefix + n.GetName())
		}
		for i, s := range n.Input {
			n.Input[i] = mapName(s)
		}
		for i, s := range n.Output {
			n.Output[i] = mapName(s)
		}
		var kept []*onnx.AttributeProto
		for _, a := range n.Attribute {
			ref := a.GetRefAttrName()
			if ref == "" {
				kept = append(kept, a)
				continue
			}
			actual, ok := attrs[ref]
			if !ok {
				continue // ONNX: an omitted attribute without default is dropped
			}
			c := proto.Clone(actual).(*onnx.AttributeProto)
			c.Name = proto.String(a.GetName())
			kept = append(kept, c)
		}
		n.Attribute = kept
		body = append(body, n)
	}
	return body, nil
}
