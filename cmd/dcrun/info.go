package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/dcnet-go/dcnet/internal/cliutil"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "describe a model: inputs, outputs, opsets, operators, parameters, and whether dcrun can run it",
		ArgsUsage: "MODEL",
		Description: `Reads MODEL (an .onnx file) and prints its IR version, producer, opset
per operator domain, graph inputs and outputs (element type and shape, with
symbolic dimensions by name), node count, a histogram of operator types
(most frequent first), and the number and size of the parameters (graph
initializers). It then plans the model with dcrun's operator set and reports
"runnable: yes", or "no" with the reason (for example the unsupported
operators).`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"},
		},
		Action: runInfo,
	}
}

// modelInfo is what "dcrun info" reports; it is also its JSON form.
type modelInfo struct {
	Model           string         `json:"model"`
	IRVersion       int64          `json:"ir_version"`
	Producer        string         `json:"producer"`
	Opsets          map[string]int `json:"opsets"`
	Inputs          []valueDesc    `json:"inputs"`
	Outputs         []valueDesc    `json:"outputs"`
	Nodes           int            `json:"nodes"`
	Ops             []opCount      `json:"ops"`
	Functions       int            `json:"functions,omitempty"`
	Parameters      int64          `json:"parameters"`
	ParameterBytes  int64          `json:"parameter_bytes"`
	ParameterMB     float64        `json:"parameter_mb"`
	Initializers    int            `json:"initializers"`
	Runnable        bool           `json:"runnable"`
	NotRunnableWhy  string         `json:"not_runnable_reason,omitempty"`
	LabelsInModel   int            `json:"labels_in_metadata,omitempty"`
	HasExternalData bool           `json:"external_data,omitempty"`
}

// valueDesc is a graph input or output: element type and shape, where a
// dimension is a number, a symbolic name or "?".
type valueDesc struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Shape []string `json:"shape"`
}

// opCount is one line of the operator histogram.
type opCount = onnx.OpCount

func runInfo(_ context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return fmt.Errorf("info: want exactly one MODEL argument, got %d", cmd.Args().Len())
	}
	path := cmd.Args().First()
	m, err := onnx.LoadFile(path)
	if err != nil {
		return err
	}
	info := describeModel(path, m)
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	printInfo(w, info)
	return nil
}

// describeModel gathers the model's description and tries to plan it.
func describeModel(path string, m *onnx.ModelProto) modelInfo {
	g := m.GetGraph()
	info := modelInfo{
		Model:         path,
		IRVersion:     m.GetIrVersion(),
		Producer:      strings.TrimSpace(m.GetProducerName() + " " + m.GetProducerVersion()),
		Opsets:        map[string]int{},
		Nodes:         len(g.GetNode()),
		Functions:     len(m.GetFunctions()),
		LabelsInModel: len(modelLabels(m)),
	}
	for _, o := range m.GetOpsetImport() {
		info.Opsets[domainName(o.GetDomain())] = int(o.GetVersion())
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
		n, bytes := tensorSize(t)
		info.Parameters += n
		info.ParameterBytes += bytes
		info.HasExternalData = info.HasExternalData || t.GetDataLocation() == onnx.TensorProto_EXTERNAL
	}
	info.Initializers = len(g.GetInitializer())
	info.ParameterMB = float64(info.ParameterBytes) / 1e6
	for _, vi := range g.GetInput() {
		if !inits[vi.GetName()] {
			info.Inputs = append(info.Inputs, describeValue(vi))
		}
	}
	for _, vi := range g.GetOutput() {
		info.Outputs = append(info.Outputs, describeValue(vi))
	}
	info.Ops = onnx.OpHistogram(g.GetNode())
	_, err := runtime.NewSessionFromModel(m, runtime.WithBaseDir(filepath.Dir(path)), runtime.WithRegistry(registry()), runtime.WithThreads(1))
	info.Runnable = err == nil
	if err != nil {
		info.NotRunnableWhy = cliutil.OneLine(err.Error())
	}
	return info
}

func domainName(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return d
}

// tensorSize returns an initializer's element count and its size in bytes
// (element count × element size, or the stored bytes for strings).
func tensorSize(t *onnx.TensorProto) (n, bytes int64) {
	n = 1
	for _, d := range t.GetDims() {
		n *= d
	}
	if size, ok := elemBytes[t.GetDataType()]; ok {
		return n, n * size
	}
	for _, s := range t.GetStringData() {
		bytes += int64(len(s))
	}
	return n, bytes
}

var elemBytes = map[int32]int64{
	int32(onnx.TensorProto_FLOAT): 4, int32(onnx.TensorProto_DOUBLE): 8,
	int32(onnx.TensorProto_FLOAT16): 2, int32(onnx.TensorProto_BFLOAT16): 2,
	int32(onnx.TensorProto_INT8): 1, int32(onnx.TensorProto_UINT8): 1, int32(onnx.TensorProto_BOOL): 1,
	int32(onnx.TensorProto_INT16): 2, int32(onnx.TensorProto_UINT16): 2,
	int32(onnx.TensorProto_INT32): 4, int32(onnx.TensorProto_UINT32): 4,
	int32(onnx.TensorProto_INT64): 8, int32(onnx.TensorProto_UINT64): 8,
	int32(onnx.TensorProto_COMPLEX64): 8, int32(onnx.TensorProto_COMPLEX128): 16,
}

// describeValue formats a value's type and shape from its ValueInfoProto.
func describeValue(vi *onnx.ValueInfoProto) valueDesc {
	d := valueDesc{Name: vi.GetName(), Type: "?"}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		if vi.GetType() != nil {
			d.Type = "non-tensor"
		}
		return d
	}
	d.Type = onnx.TensorProto_DataType(tt.GetElemType()).String()
	if tt.GetShape() == nil {
		return d // rank unknown
	}
	d.Shape = []string{}
	for _, dim := range tt.GetShape().GetDim() {
		switch v := dim.GetValue().(type) {
		case *onnx.TensorShapeProto_Dimension_DimValue:
			d.Shape = append(d.Shape, fmt.Sprint(v.DimValue))
		case *onnx.TensorShapeProto_Dimension_DimParam:
			d.Shape = append(d.Shape, v.DimParam)
		default:
			d.Shape = append(d.Shape, "?")
		}
	}
	return d
}

func (d valueDesc) String() string {
	shape := "[?]"
	if d.Shape != nil {
		shape = "[" + strings.Join(d.Shape, " ") + "]"
	}
	return fmt.Sprintf("%s %s%s", d.Name, d.Type, shape)
}

func printInfo(w io.Writer, info modelInfo) {
	fmt.Fprintf(w, "model:       %s\n", info.Model)
	fmt.Fprintf(w, "ir_version:  %d\n", info.IRVersion)
	fmt.Fprintf(w, "producer:    %s\n", info.Producer)
	var opsets []string
	for d, v := range info.Opsets {
		opsets = append(opsets, fmt.Sprintf("%s %d", d, v))
	}
	sort.Strings(opsets)
	fmt.Fprintf(w, "opsets:      %s\n", strings.Join(opsets, ", "))
	fmt.Fprintf(w, "inputs:\n")
	for _, v := range info.Inputs {
		fmt.Fprintf(w, "  %s\n", v)
	}
	fmt.Fprintf(w, "outputs:\n")
	for _, v := range info.Outputs {
		fmt.Fprintf(w, "  %s\n", v)
	}
	ext := ""
	if info.HasExternalData {
		ext = ", some stored as external data"
	}
	fmt.Fprintf(w, "parameters:  %s (%.2f MB) in %d initializers%s\n", groupDigits(info.Parameters), info.ParameterMB, info.Initializers, ext)
	fmt.Fprintf(w, "nodes:       %d", info.Nodes)
	if info.Functions > 0 {
		fmt.Fprintf(w, " (plus %d model-local functions)", info.Functions)
	}
	fmt.Fprintln(w)
	if info.LabelsInModel > 0 {
		fmt.Fprintf(w, "labels:      %d class names in the metadata\n", info.LabelsInModel)
	}
	fmt.Fprintf(w, "ops:\n")
	for _, o := range info.Ops {
		fmt.Fprintf(w, "  %-24s %d\n", o.Op, o.Count)
	}
	if info.Runnable {
		fmt.Fprintf(w, "runnable:    yes\n")
	} else {
		fmt.Fprintf(w, "runnable:    no (%s)\n", info.NotRunnableWhy)
	}
}

// groupDigits formats 1234567 as 1,234,567.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + groupDigits(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
