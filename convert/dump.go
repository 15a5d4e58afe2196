package convert

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/dcnet-go/dcnet/onnx"
)

// Dump writes a readable, deterministic text listing of m: IR version,
// opset imports, metadata, then for the main graph its inputs, outputs,
// initializers (name, type, shape and a short value summary) and nodes (op,
// inputs, outputs, attributes), then every model-local function. Converter
// tests compare dumps of rewritten graphs with golden files.
func Dump(w io.Writer, m *onnx.ModelProto) error {
	if m == nil {
		return fmt.Errorf("dump: nil model")
	}
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "ir_version %d\n", m.GetIrVersion())
	fmt.Fprintf(b, "opsets %s\n", opsetList(m.GetOpsetImport()))
	for _, p := range m.GetMetadataProps() {
		fmt.Fprintf(b, "metadata %q = %q\n", p.GetKey(), p.GetValue())
	}
	dumpGraph(b, m.GetGraph(), "")
	for _, f := range m.GetFunctions() {
		dumpFunction(b, f)
	}
	return b.Flush()
}

func opsetList(ops []*onnx.OperatorSetIdProto) string {
	parts := make([]string, len(ops))
	for i, o := range ops {
		d := o.GetDomain()
		if d == "" {
			d = "ai.onnx"
		}
		parts[i] = fmt.Sprintf("%s:%d", d, o.GetVersion())
	}
	return strings.Join(parts, " ")
}

func dumpGraph(b *bufio.Writer, g *onnx.GraphProto, indent string) {
	if g == nil {
		fmt.Fprintf(b, "%sgraph (none)\n", indent)
		return
	}
	fmt.Fprintf(b, "%sgraph %q\n", indent, g.GetName())
	in := indent + "  "
	if g.GetDocString() != "" {
		fmt.Fprintf(b, "%sdoc %q\n", in, g.GetDocString())
	}
	for _, v := range g.GetInput() {
		fmt.Fprintf(b, "%sinput %s\n", in, valueInfoString(v))
	}
	for _, v := range g.GetOutput() {
		fmt.Fprintf(b, "%soutput %s\n", in, valueInfoString(v))
	}
	for _, t := range g.GetInitializer() {
		fmt.Fprintf(b, "%sinitializer %s\n", in, tensorSummary(t))
	}
	for _, n := range g.GetNode() {
		dumpNode(b, n, in)
	}
}

func dumpNode(b *bufio.Writer, n *onnx.NodeProto, indent string) {
	op := n.GetOpType()
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		op = d + "/" + op
	}
	if n.GetOverload() != "" {
		op += "[" + n.GetOverload() + "]"
	}
	fmt.Fprintf(b, "%snode %q %s(%s) -> (%s)\n", indent, n.GetName(), op, strings.Join(n.GetInput(), ", "), strings.Join(n.GetOutput(), ", "))
	if n.GetDocString() != "" {
		fmt.Fprintf(b, "%s    doc %q\n", indent, n.GetDocString())
	}
	for _, a := range n.GetAttribute() {
		if g := a.GetG(); g != nil {
			fmt.Fprintf(b, "%s    %s =\n", indent, a.GetName())
			dumpGraph(b, g, indent+"      ")
			continue
		}
		fmt.Fprintf(b, "%s    %s = %s\n", indent, a.GetName(), attrValue(a))
	}
}

func dumpFunction(b *bufio.Writer, f *onnx.FunctionProto) {
	name := f.GetDomain() + "/" + f.GetName()
	if f.GetOverload() != "" {
		name += "[" + f.GetOverload() + "]"
	}
	fmt.Fprintf(b, "function %s(%s) -> (%s)\n", name, strings.Join(f.GetInput(), ", "), strings.Join(f.GetOutput(), ", "))
	fmt.Fprintf(b, "  opsets %s\n", opsetList(f.GetOpsetImport()))
	fmt.Fprintf(b, "  attributes %s\n", strings.Join(f.GetAttribute(), " "))
	for _, n := range f.GetNode() {
		dumpNode(b, n, "  ")
	}
}

func valueInfoString(v *onnx.ValueInfoProto) string {
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return v.GetName() + ": (not a tensor)"
	}
	elem := onnx.TensorProto_DataType(tt.GetElemType()).String()
	if tt.GetShape() == nil {
		return fmt.Sprintf("%s: %s[?]", v.GetName(), elem)
	}
	dims := make([]string, len(tt.GetShape().GetDim()))
	for i, d := range tt.GetShape().GetDim() {
		switch {
		case d.GetDimParam() != "":
			dims[i] = d.GetDimParam()
		case d.Value != nil:
			dims[i] = strconv.FormatInt(d.GetDimValue(), 10)
		default:
			dims[i] = "?"
		}
	}
	return fmt.Sprintf("%s: %s[%s]", v.GetName(), elem, strings.Join(dims, " "))
}

// tensorSummary is `name: FLOAT[4 3 3 3] min=… mean=… max=…`, or the values
// themselves for tensors of at most 8 elements.
func tensorSummary(t *onnx.TensorProto) string {
	dims := make([]string, len(t.GetDims()))
	for i, d := range t.GetDims() {
		dims[i] = strconv.FormatInt(d, 10)
	}
	head := fmt.Sprintf("%s: %v[%s]", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()), strings.Join(dims, " "))
	a, err := onnx.DecodeTensor(t, "")
	if err != nil {
		return head + " (values unavailable)"
	}
	vals := numbers(a.Data)
	if vals == nil {
		return head
	}
	if len(vals) <= 8 {
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = formatExact(v, a.Type)
		}
		return head + " = [" + strings.Join(s, " ") + "]"
	}
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, v := range vals {
		lo, hi, sum = math.Min(lo, v), math.Max(hi, v), sum+v
	}
	return fmt.Sprintf("%s min=%s mean=%s max=%s", head, formatNumber(lo), formatNumber(sum/float64(len(vals))), formatNumber(hi))
}

// numbers widens a decoded tensor's numeric data to float64 (nil for other
// types).
func numbers(data any) []float64 {
	var out []float64
	switch d := data.(type) {
	case []float32:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []float64:
		out = append(out, d...)
	case []int64:
		for _, v := range d {
			out = append(out, float64(v))
		}
	case []int32:
		for _, v := range d {
			out = append(out, float64(v))
		}
	default:
		return nil
	}
	if out == nil {
		out = []float64{}
	}
	return out
}

// formatNumber rounds v to 5 significant digits, for summaries.
func formatNumber(v float64) string {
	return strconv.FormatFloat(v, 'g', 5, 64)
}

// formatExact prints the shortest decimal that reads back as the same
// element of type dt.
func formatExact(v float64, dt onnx.TensorProto_DataType) string {
	if dt == onnx.TensorProto_FLOAT {
		return strconv.FormatFloat(v, 'g', -1, 32)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func attrValue(a *onnx.AttributeProto) string {
	if ref := a.GetRefAttrName(); ref != "" {
		return "@" + ref
	}
	switch a.GetType() {
	case onnx.AttributeProto_INT:
		return strconv.FormatInt(a.GetI(), 10)
	case onnx.AttributeProto_FLOAT:
		return formatExact(float64(a.GetF()), onnx.TensorProto_FLOAT)
	case onnx.AttributeProto_STRING:
		return strconv.Quote(string(a.GetS()))
	case onnx.AttributeProto_INTS:
		s := make([]string, len(a.GetInts()))
		for i, v := range a.GetInts() {
			s[i] = strconv.FormatInt(v, 10)
		}
		return "[" + strings.Join(s, " ") + "]"
	case onnx.AttributeProto_FLOATS:
		s := make([]string, len(a.GetFloats()))
		for i, v := range a.GetFloats() {
			s[i] = formatExact(float64(v), onnx.TensorProto_FLOAT)
		}
		return "[" + strings.Join(s, " ") + "]"
	case onnx.AttributeProto_TENSOR:
		return "tensor " + tensorSummary(a.GetT())
	case onnx.AttributeProto_GRAPHS:
		return fmt.Sprintf("%d graphs", len(a.GetGraphs()))
	}
	return a.GetType().String()
}
