package convert

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
)

// graphIndex answers the questions the passes ask about a model's main
// graph: which values are constants, who reads a value, which names are
// taken. It is built once per pass and kept up to date by the helpers that
// change the graph (addInitializer, freshValue, freshNode).
type graphIndex struct {
	m      *onnx.ModelProto
	g      *onnx.GraphProto
	inits  map[string]*onnx.TensorProto
	consts map[string]*onnx.TensorProto // value tensors of Constant nodes, by output name
	inputs map[string]bool              // graph inputs; an initializer that is also one can be overridden
	values map[string]bool              // every value name used anywhere in the model's graphs
	nodes  map[string]bool              // every node name in the model's graphs
}

func newGraphIndex(m *onnx.ModelProto) (*graphIndex, error) {
	if m == nil || m.GetGraph() == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	ix := &graphIndex{
		m: m, g: m.Graph,
		inits:  map[string]*onnx.TensorProto{},
		consts: map[string]*onnx.TensorProto{},
		inputs: map[string]bool{},
		values: map[string]bool{},
		nodes:  map[string]bool{},
	}
	for _, t := range ix.g.GetInitializer() {
		ix.inits[t.GetName()] = t
	}
	for _, v := range ix.g.GetInput() {
		ix.inputs[v.GetName()] = true
	}
	for _, n := range ix.g.GetNode() {
		if isStandard(n, "Constant") && len(n.GetOutput()) == 1 {
			for _, a := range n.GetAttribute() {
				if a.GetName() == "value" && a.GetT() != nil {
					ix.consts[n.GetOutput()[0]] = a.GetT()
				}
			}
		}
	}
	ix.collectNames(ix.g)
	return ix, nil
}

// collectNames records the value and node names of g and of its subgraphs.
func (ix *graphIndex) collectNames(g *onnx.GraphProto) {
	for _, t := range g.GetInitializer() {
		ix.values[t.GetName()] = true
	}
	for _, v := range g.GetInput() {
		ix.values[v.GetName()] = true
	}
	for _, v := range g.GetOutput() {
		ix.values[v.GetName()] = true
	}
	for _, v := range g.GetValueInfo() {
		ix.values[v.GetName()] = true
	}
	for _, n := range g.GetNode() {
		if n.GetName() != "" {
			ix.nodes[n.GetName()] = true
		}
		for _, s := range n.GetInput() {
			ix.values[s] = true
		}
		for _, s := range n.GetOutput() {
			ix.values[s] = true
		}
		for _, sub := range subgraphs(n) {
			ix.collectNames(sub)
		}
	}
}

// subgraphs returns the graphs held in n's attributes (If, Loop, Scan).
func subgraphs(n *onnx.NodeProto) []*onnx.GraphProto {
	var gs []*onnx.GraphProto
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil {
			gs = append(gs, a.GetG())
		}
		gs = append(gs, a.GetGraphs()...)
	}
	return gs
}

// constant returns the tensor behind value name when it is fixed at
// conversion time: an initializer that is not also a graph input, or the
// output of a Constant node with a tensor value. Before IR version 4 every
// initializer had to be listed as a graph input too, so there the listing
// does not make it overridable.
func (ix *graphIndex) constant(name string) (*onnx.TensorProto, bool) {
	if name == "" {
		return nil, false
	}
	if t, ok := ix.inits[name]; ok && (!ix.inputs[name] || ix.m.GetIrVersion() < 4) {
		return t, true
	}
	t, ok := ix.consts[name]
	return t, ok
}

// floats decodes the constant value name as float32 data.
func (ix *graphIndex) floats(name string) ([]float32, []int, bool, error) {
	t, ok := ix.constant(name)
	if !ok {
		return nil, nil, false, nil
	}
	data, dims, err := onnx.Float32s(t, "")
	if err != nil {
		return nil, nil, true, err
	}
	return data, dims, true, nil
}

// freshValue returns base, or base with a numeric suffix, so that the name
// clashes with no value of the model, and reserves it.
func (ix *graphIndex) freshValue(base string) string {
	return fresh(ix.values, base)
}

// freshNode does the same for node names.
func (ix *graphIndex) freshNode(base string) string {
	return fresh(ix.nodes, base)
}

func fresh(taken map[string]bool, base string) string {
	name := base
	for i := 1; taken[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	taken[name] = true
	return name
}

// addInitializer appends t to the graph. Before IR version 4 every
// initializer must also be a graph input, so it is declared as one.
func (ix *graphIndex) addInitializer(t *onnx.TensorProto) {
	ix.g.Initializer = append(ix.g.Initializer, t)
	ix.inits[t.GetName()] = t
	ix.values[t.GetName()] = true
	if ix.m.GetIrVersion() > 0 && ix.m.GetIrVersion() < 4 {
		dims := make([]any, len(t.GetDims()))
		for i, d := range t.GetDims() {
			dims[i] = d
		}
		ix.g.Input = append(ix.g.Input, onnx.ValueInfo(t.GetName(), onnx.TensorProto_DataType(t.GetDataType()), dims...))
	}
}

// uses counts, for every value name, the places that read it: node inputs
// of the main graph and of subgraphs (which may read outer values), and the
// graph outputs.
func (ix *graphIndex) uses() map[string]int {
	count := map[string]int{}
	var visit func(g *onnx.GraphProto)
	visit = func(g *onnx.GraphProto) {
		for _, n := range g.GetNode() {
			for _, s := range n.GetInput() {
				if s != "" {
					count[s]++
				}
			}
			for _, sub := range subgraphs(n) {
				visit(sub)
			}
		}
		for _, v := range g.GetOutput() {
			count[v.GetName()]++
		}
	}
	visit(ix.g)
	return count
}

// floatTensor encodes float32 data of the given dims as an initializer.
func floatTensor(name string, dims []int, data []float32) *onnx.TensorProto {
	t, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: dims, Data: data})
	if err != nil {
		panic(fmt.Sprintf("convert: encoding %q: %v", name, err)) // dims and data come from this package
	}
	return t
}

// int64Tensor encodes int64 data of the given dims.
func int64Tensor(name string, dims []int, data []int64) *onnx.TensorProto {
	t, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_INT64, Dims: dims, Data: data})
	if err != nil {
		panic(fmt.Sprintf("convert: encoding %q: %v", name, err))
	}
	return t
}

// isStandard reports whether n is the default-domain operator op.
func isStandard(n *onnx.NodeProto, op string) bool {
	d := n.GetDomain()
	return (d == "" || d == "ai.onnx") && n.GetOpType() == op
}

// isDecoupled reports whether n is an ai.dcnet DecoupledConv node.
func isDecoupled(n *onnx.NodeProto) bool {
	return n.GetDomain() == decop.Domain && n.GetOpType() == decop.OpType
}

// nodeLabel names a node in messages: its quoted name, or its position and
// first output when it has no name.
func nodeLabel(n *onnx.NodeProto, index int) string {
	if n.GetName() != "" {
		return strconv.Quote(n.GetName())
	}
	out := ""
	if len(n.GetOutput()) > 0 {
		out = n.GetOutput()[0]
	}
	return fmt.Sprintf("#%d (output %q)", index, out)
}

// attr returns n's attribute name, or nil.
func attr(n *onnx.NodeProto, name string) *onnx.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// intAttr returns the INT attribute name of n, or def when it is absent.
func intAttr(n *onnx.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

// floatAttr returns the FLOAT attribute name of n, or def when it is absent.
func floatAttr(n *onnx.NodeProto, name string, def float32) float32 {
	if a := attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

// stringAttr returns the STRING attribute name of n, or def when it is
// absent.
func stringAttr(n *onnx.NodeProto, name, def string) string {
	if a := attr(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

// input returns n's i-th input name, or "" when it is absent.
func input(n *onnx.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.GetInput()[i]
	}
	return ""
}

// convGeometry lists the attributes DecoupledConv shares with Conv.
var convGeometry = []string{"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}

// geometryAttrs returns copies of n's Conv geometry attributes.
func geometryAttrs(n *onnx.NodeProto) []*onnx.AttributeProto {
	var out []*onnx.AttributeProto
	for _, name := range convGeometry {
		if a := attr(n, name); a != nil {
			out = append(out, proto.Clone(a).(*onnx.AttributeProto))
		}
	}
	return out
}

// ensureOpset makes m import domain at version, failing when it already
// imports another version of it.
func ensureOpset(m *onnx.ModelProto, domain string, version int64) error {
	if v, ok := onnx.OpsetVersion(m, domain); ok {
		if v != version {
			return fmt.Errorf("the model imports opset %d of domain %q; this converter writes version %d", v, domain, version)
		}
		return nil
	}
	m.OpsetImport = append(m.OpsetImport, &onnx.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(version)})
	return nil
}

// defaultOpset returns the model's default-domain opset version.
func defaultOpset(m *onnx.ModelProto) (int, error) {
	v, ok := onnx.OpsetVersion(m, "")
	if !ok {
		return 0, fmt.Errorf("the model imports no opset of the default ONNX domain")
	}
	return int(v), nil
}
