package convert

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
)

// Summary describes a model for "dcconvert inspect": its operator
// histogram, every Conv and DecoupledConv layer, and its parameter count.
type Summary struct {
	IRVersion  int64            `json:"ir_version"`
	Opsets     map[string]int64 `json:"opsets"` // "" is the default domain
	Producer   string           `json:"producer,omitempty"`
	Nodes      int              `json:"nodes"`
	Ops        []OpCount        `json:"ops"`                 // most frequent first
	Functions  []string         `json:"functions,omitempty"` // "domain/name[overload]"
	Layers     []LayerInfo      `json:"layers"`
	Parameters int64            `json:"parameters"` // elements of all initializers
}

// OpCount is one line of the operator histogram. Op is "op_type" for the
// default domain and "domain/op_type" otherwise.
type OpCount = onnx.OpCount

// LayerInfo describes a Conv or DecoupledConv node. Shapes of X and Y are
// given when the model declares them (graph inputs, outputs, value_info).
type LayerInfo struct {
	Node        string  `json:"node"`
	Op          string  `json:"op"` // "Conv" or "DecoupledConv"
	Input       string  `json:"input"`
	Output      string  `json:"output"`
	InputShape  string  `json:"input_shape,omitempty"`
	OutputShape string  `json:"output_shape,omitempty"`
	Weight      []int64 `json:"weight_shape,omitempty"` // [M, C/group, kH, kW]; absent when W is not a constant
	Group       int64   `json:"group"`
	Strides     []int64 `json:"strides,omitempty"`
	Pads        []int64 `json:"pads,omitempty"`
	Dilations   []int64 `json:"dilations,omitempty"`
	AutoPad     string  `json:"auto_pad,omitempty"`
	Bias        bool    `json:"bias"`
	// Params counts the elements of the layer's constant inputs (W, B and
	// the operator parameters).
	Params   int64         `json:"params"`
	Operator *OperatorInfo `json:"operator,omitempty"` // DecoupledConv only
}

// OperatorInfo is a DecoupledConv node's operator: attributes and the
// ranges of its parameters.
type OperatorInfo struct {
	Magnitude string  `json:"magnitude"`
	Angular   string  `json:"angular"`
	Weighted  bool    `json:"weighted"`
	K         float32 `json:"k"`
	Eps       float32 `json:"eps"`
	Alpha     Range   `json:"alpha"`
	Rho       *Range  `json:"rho,omitempty"`  // when the magnitude uses ρ
	Beta      *Range  `json:"beta,omitempty"` // when the magnitude uses β
}

// Range summarises a parameter input: its values' minimum and maximum and
// how many there are, or the spec's default when the input is absent.
// Source is "default", "constant" or "dynamic" (not known before run time;
// then Min and Max are meaningless).
type Range struct {
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Count  int     `json:"count"`
	Source string  `json:"source"`
}

func (r Range) String() string {
	switch {
	case r.Source == "dynamic":
		return "dynamic"
	case r.Min == r.Max:
		return formatNumber(r.Min)
	}
	return formatNumber(r.Min) + ".." + formatNumber(r.Max)
}

// Inspect summarises m. External tensor data must already be inlined
// (onnx.LoadExternalData) for parameter ranges.
func Inspect(m *onnx.ModelProto) (*Summary, error) {
	ix, err := newGraphIndex(m)
	if err != nil {
		return nil, err
	}
	s := &Summary{IRVersion: m.GetIrVersion(), Opsets: map[string]int64{}, Nodes: len(ix.g.GetNode())}
	s.Producer = strings.TrimSpace(m.GetProducerName() + " " + m.GetProducerVersion())
	for _, o := range m.GetOpsetImport() {
		s.Opsets[canonicalDomainName(o.GetDomain())] = o.GetVersion()
	}
	s.Ops = onnx.OpHistogram(ix.g.GetNode())
	for _, f := range m.GetFunctions() {
		name := f.GetDomain() + "/" + f.GetName()
		if f.GetOverload() != "" {
			name += "[" + f.GetOverload() + "]"
		}
		s.Functions = append(s.Functions, name)
	}
	shapes := declaredShapes(ix.g)
	var errs []string
	for i, n := range ix.g.GetNode() {
		if !isStandard(n, "Conv") && !isDecoupled(n) {
			continue
		}
		l, err := describeLayer(ix, n, shapes)
		if err != nil {
			errs = append(errs, fmt.Sprintf("node %s (%s): %v", nodeLabel(n, i), n.GetOpType(), err))
			continue
		}
		s.Layers = append(s.Layers, l)
	}
	for _, t := range ix.g.GetInitializer() {
		s.Parameters += elements(t)
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return s, nil
}

func canonicalDomainName(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// declaredShapes maps value names to the shapes the graph declares.
func declaredShapes(g *onnx.GraphProto) map[string]string {
	out := map[string]string{}
	for _, list := range [][]*onnx.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range list {
			if v.GetType().GetTensorType().GetShape() != nil {
				s := valueInfoString(v)
				out[v.GetName()] = s[strings.Index(s, ": ")+2:]
			}
		}
	}
	return out
}

func elements(t *onnx.TensorProto) int64 {
	n := int64(1)
	for _, d := range t.GetDims() {
		n *= d
	}
	return n
}

func describeLayer(ix *graphIndex, n *onnx.NodeProto, shapes map[string]string) (LayerInfo, error) {
	l := LayerInfo{
		Node: n.GetName(), Op: n.GetOpType(), Input: input(n, 0), Bias: input(n, 2) != "",
		Group: intAttr(n, "group", 1), AutoPad: stringAttr(n, "auto_pad", ""),
	}
	if len(n.GetOutput()) > 0 {
		l.Output = n.GetOutput()[0]
	}
	l.InputShape, l.OutputShape = shapes[l.Input], shapes[l.Output]
	if a := attr(n, "strides"); a != nil {
		l.Strides = a.GetInts()
	}
	if a := attr(n, "pads"); a != nil {
		l.Pads = a.GetInts()
	}
	if a := attr(n, "dilations"); a != nil {
		l.Dilations = a.GetInts()
	}
	if w, ok := ix.constant(input(n, 1)); ok {
		l.Weight = w.GetDims()
	}
	for i := 1; i < len(n.GetInput()); i++ {
		if t, ok := ix.constant(n.GetInput()[i]); ok {
			l.Params += elements(t)
		}
	}
	if !isDecoupled(n) {
		return l, nil
	}
	c, err := parseDecoupled(n)
	if err != nil {
		return l, err
	}
	op := &OperatorInfo{Magnitude: c.op.Magnitude.String(), Angular: c.op.Angular.String(), Weighted: c.op.Weighted, K: c.op.K, Eps: c.op.Eps}
	if op.Alpha, err = paramRange(ix, input(n, 3), decop.DefaultAlpha); err != nil {
		return l, fmt.Errorf("input Alpha: %w", err)
	}
	if usesRho(c.op.Magnitude) {
		r, err := paramRange(ix, input(n, 4), decop.DefaultRho)
		if err != nil {
			return l, fmt.Errorf("input Rho: %w", err)
		}
		op.Rho = &r
	}
	if usesBeta(c.op.Magnitude) {
		r, err := paramRange(ix, input(n, 5), decop.DefaultBeta)
		if err != nil {
			return l, fmt.Errorf("input Beta: %w", err)
		}
		op.Beta = &r
	}
	l.Operator = op
	return l, nil
}

func paramRange(ix *graphIndex, name string, def float64) (Range, error) {
	if name == "" {
		return Range{Min: def, Max: def, Count: 1, Source: "default"}, nil
	}
	data, _, ok, err := ix.floats(name)
	if err != nil {
		return Range{}, err
	}
	if !ok {
		return Range{Source: "dynamic"}, nil
	}
	r := Range{Min: math.Inf(1), Max: math.Inf(-1), Count: len(data), Source: "constant"}
	for _, v := range data {
		r.Min, r.Max = math.Min(r.Min, float64(v)), math.Max(r.Max, float64(v))
	}
	return r, nil
}

// WriteText prints s as a readable report.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "IR version %d; opsets %s", s.IRVersion, opsetSummary(s.Opsets))
	if s.Producer != "" {
		fmt.Fprintf(&b, "; producer %s", s.Producer)
	}
	fmt.Fprintf(&b, "\n%d nodes, %s parameters\n", s.Nodes, groupDigits(s.Parameters))
	ops := make([]string, len(s.Ops))
	for i, o := range s.Ops {
		ops[i] = fmt.Sprintf("%s %d", o.Op, o.Count)
	}
	fmt.Fprintf(&b, "ops: %s\n", strings.Join(ops, ", "))
	for _, f := range s.Functions {
		fmt.Fprintf(&b, "function %s\n", f)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(s.Layers) == 0 {
		_, err := io.WriteString(w, "no Conv or DecoupledConv layers\n")
		return err
	}
	fmt.Fprintf(w, "\n%d layers:\n", len(s.Layers))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "node\top\tinput\toutput\tweight\tgroup\tstrides\tpads\tdilations\tparams\toperator\talpha\trho\tbeta")
	for _, l := range s.Layers {
		opName, alpha, rho, beta := "-", "-", "-", "-"
		if o := l.Operator; o != nil {
			opName = o.Magnitude + ":" + o.Angular
			if o.Weighted {
				opName += " weighted"
			}
			alpha = o.Alpha.String()
			if o.Rho != nil {
				rho = o.Rho.String()
			}
			if o.Beta != nil {
				beta = o.Beta.String()
			}
		}
		pads := ints(l.Pads)
		if l.AutoPad != "" && l.AutoPad != "NOTSET" {
			pads = l.AutoPad
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			orDash(l.Node), l.Op, orDash(l.InputShape), orDash(l.OutputShape), dimsString(l.Weight), l.Group,
			ints(l.Strides), pads, ints(l.Dilations), groupDigits(l.Params), opName, alpha, rho, beta)
	}
	return tw.Flush()
}

func opsetSummary(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "ai.onnx"
		}
		parts[i] = fmt.Sprintf("%s %d", name, m[k])
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ints(v []int64) string {
	if len(v) == 0 {
		return "-"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

func dimsString(v []int64) string {
	if len(v) == 0 {
		return "?"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, "x")
}

// groupDigits writes n with thousands separators: 25,557,032.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
