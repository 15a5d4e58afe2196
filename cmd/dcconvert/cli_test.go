package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/internal/cliutil/clitest"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// dcconvertBin is the command built once by TestMain; the tests run it as a
// subprocess, as a user would.
var dcconvertBin string

func TestMain(m *testing.M) { clitest.Main(m, "dcconvert", &dcconvertBin) }

type result = clitest.Result

// dcconvert runs the binary with args.
func dcconvert(t *testing.T, args ...string) result {
	t.Helper()
	return clitest.Run(t, dcconvertBin, args...)
}

// mustSucceed runs dcconvert and stops the test on a non-zero exit.
func mustSucceed(t *testing.T, args ...string) result {
	t.Helper()
	return clitest.MustSucceed(t, dcconvertBin, args...)
}

// mustFail runs dcconvert, expects a non-zero exit and a single error line
// on stderr containing want.
func mustFail(t *testing.T, want string, args ...string) {
	t.Helper()
	r := dcconvert(t, args...)
	if r.Code == 0 {
		t.Fatalf("dcconvert %s: succeeded, want an error", strings.Join(args, " "))
	}
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "dcconvert: ") || !strings.Contains(last, want) {
		t.Errorf("dcconvert %s: stderr %q, want one line with %q", strings.Join(args, " "), r.Stderr, want)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "dcconvert: ") {
			t.Errorf("stray stderr line %q", l)
		}
	}
}

// testModel: a 1-D Conv (unsupported), then 2-D Conv → BatchNormalization
// → Relu → Conv (bias) on x: [1, 2, 6, 6] after an Unsqueeze... kept
// simple: the 1-D branch feeds a separate output.
func testModel() *onnx.ModelProto {
	rng := rand.New(rand.NewPCG(1, 2))
	var inits []*onnx.TensorProto
	weight := func(name string, dims ...int) string {
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(0.3 * rng.NormFloat64())
		}
		t, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: dims, Data: data})
		if err != nil {
			panic(err)
		}
		inits = append(inits, t)
		return name
	}
	ones := func(name string, n int) string {
		data := make([]float32, n)
		for i := range data {
			data[i] = 1 + 0.1*float32(i)
		}
		t, _ := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: []int{n}, Data: data})
		inits = append(inits, t)
		return name
	}
	node := func(name, op string, in, out []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
		return &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
	}
	nodes := []*onnx.NodeProto{
		node("stem", "Conv", []string{"x", weight("stem.w", 4, 2, 3, 3)}, []string{"s"}, onnx.AttrInts("pads", 1, 1, 1, 1)),
		node("bn", "BatchNormalization", []string{"s", ones("bn.scale", 4), weight("bn.b", 4), weight("bn.mean", 4), ones("bn.var", 4)}, []string{"b"}),
		node("relu", "Relu", []string{"b"}, []string{"r"}),
		node("head", "Conv", []string{"r", weight("head.w", 3, 4, 1, 1), weight("head.b", 3)}, []string{"y"}),
		node("seq", "Conv", []string{"z", weight("seq.w", 2, 1, 3)}, []string{"zz"}),
	}
	g := &onnx.GraphProto{
		Name: proto.String("cli"), Node: nodes, Initializer: inits,
		Input:  []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, 1, 2, 6, 6), onnx.ValueInfo("z", onnx.TensorProto_FLOAT, 1, 1, 8)},
		Output: []*onnx.ValueInfoProto{onnx.ValueInfo("y", onnx.TensorProto_FLOAT, 1, 3, 6, 6), onnx.ValueInfo("zz", onnx.TensorProto_FLOAT, 1, 2, 6)},
	}
	return &onnx.ModelProto{
		IrVersion: proto.Int64(7), Graph: g, ProducerName: proto.String("cli test"),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
	}
}

func writeTestModel(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "in.onnx")
	if err := onnx.SaveFile(path, testModel()); err != nil {
		t.Fatal(err)
	}
	return path
}

// runBoth runs the original and the converted model on the same inputs
// and returns max|y − y0| / max|y0| over output y.
func runBoth(t *testing.T, orig, conv string) float64 {
	t.Helper()
	r := runtime.Builtins()
	decop.Register(r)
	rng := rand.New(rand.NewPCG(3, 4))
	feeds := map[string]*runtime.Tensor{}
	for name, shape := range map[string][]int{"x": {1, 2, 6, 6}, "z": {1, 1, 8}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		feeds[name] = runtime.New(shape, data)
	}
	var ys [2][]float32
	for i, path := range []string{orig, conv} {
		s, err := runtime.NewSession(path, runtime.WithRegistry(r))
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(context.Background(), feeds)
		if err != nil {
			t.Fatal(err)
		}
		ys[i] = out["y"].Float32s()
	}
	var diff, scale float64
	for i := range ys[0] {
		diff = math.Max(diff, math.Abs(float64(ys[1][i]-ys[0][i])))
		scale = math.Max(scale, math.Abs(float64(ys[0][i])))
	}
	return diff / scale
}

func TestRewriteForms(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir)
	for _, form := range []string{"custom", "functions", "expanded"} {
		t.Run(form, func(t *testing.T) {
			out := filepath.Join(dir, form+".onnx")
			r := mustSucceed(t, "rewrite", in, "-o", out, "--op", "identity", "--format", form)
			if !strings.Contains(r.Stderr, `dcconvert: warning: node "seq" (Conv): 1-D convolution`) {
				t.Errorf("no warning naming the 1-D Conv in:\n%s", r.Stderr)
			}
			if !strings.Contains(r.Stderr, "rewrote 2 Conv layers") {
				t.Errorf("no progress report in:\n%s", r.Stderr)
			}
			if rel := runBoth(t, in, out); rel > 1e-5 {
				t.Errorf("converted model differs from the original: max rel error %.3g", rel)
			}
			m, err := onnx.LoadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			ops := map[string]int{}
			for _, n := range m.Graph.Node {
				ops[n.GetOpType()]++
			}
			wantDC := map[string]int{"custom": 2, "functions": 2, "expanded": 0}[form]
			if ops["DecoupledConv"] != wantDC || ops["BatchNormalization"] != 1 {
				t.Errorf("ops %v: want %d DecoupledConv and the BatchNormalization kept", ops, wantDC)
			}
			if form == "functions" && (len(m.Functions) != 1 || m.GetIrVersion() < 8) {
				t.Errorf("functions form: %d functions, IR %d", len(m.Functions), m.GetIrVersion())
			}
		})
	}
}

func TestRewriteSelectionFlags(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir)
	for _, c := range []struct {
		flags []string
		want  []string // rewritten nodes
	}{
		{[]string{"--skip-first"}, []string{"head"}},
		{[]string{"--layers", "^he"}, []string{"head"}},
		{[]string{"--exclude-depthwise", "--skip-last"}, []string{"stem", "head"}}, // the last Conv is the 1-D one
	} {
		out := filepath.Join(dir, "sel.onnx")
		mustSucceed(t, append([]string{"rewrite", in, "-o", out, "--op", "identity", "-q"}, c.flags...)...)
		m, err := onnx.LoadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range m.Graph.Node {
			if n.GetOpType() == "DecoupledConv" {
				got = append(got, n.GetName())
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%v: rewrote %v, want %v", c.flags, got, c.want)
		}
	}
}

func TestRewriteQuiet(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir)
	r := mustSucceed(t, "rewrite", in, "-o", filepath.Join(dir, "q.onnx"), "--op", "identity", "-q")
	if strings.Contains(r.Stderr, "rewrote") || !strings.Contains(r.Stderr, "warning") {
		t.Errorf("-q: stderr %q, want the warning only", r.Stderr)
	}
}

func TestRewriteRefusesToReplaceInput(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir)
	before, _ := os.ReadFile(in)
	mustFail(t, "is the input model; pass --force", "rewrite", in, "-o", in, "--op", "identity")
	mustFail(t, "is the input model", "rewrite", in, "-o", filepath.Join(dir, ".", "in.onnx"), "--op", "identity")
	link := filepath.Join(dir, "link.onnx")
	if err := os.Symlink(in, link); err == nil {
		mustFail(t, "is the input model", "rewrite", in, "-o", link, "--op", "identity")
	}
	if after, _ := os.ReadFile(in); !bytes.Equal(before, after) {
		t.Fatal("the input model changed")
	}
	mustSucceed(t, "rewrite", in, "-o", in, "--op", "identity", "--force", "-q")
	m, err := onnx.LoadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if m.Graph.Node[0].GetOpType() != "DecoupledConv" {
		t.Error("--force did not replace the input model")
	}
}

func TestRewriteErrors(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir)
	out := filepath.Join(dir, "out.onnx")
	mustFail(t, "--op tanh:cos needs calibration data", "rewrite", in, "-o", out, "--op", "tanh:cos")
	mustFail(t, "--op linear:cos needs calibration data", "rewrite", in, "-o", out, "--op", "linear:cos")
	mustFail(t, `unknown magnitude "tan"`, "rewrite", in, "-o", out, "--op", "tan:cos")
	mustFail(t, `unknown form "inline"`, "rewrite", in, "-o", out, "--op", "identity", "--format", "inline")
	mustFail(t, "--layers: error parsing regexp", "rewrite", in, "-o", out, "--op", "identity", "--layers", "(")
	mustFail(t, "output", "rewrite", in, "--op", "identity")
	mustFail(t, "no Conv layer to rewrite", "rewrite", in, "-o", out, "--op", "identity", "--layers", "nothing")
	mustFail(t, "no such file", "rewrite", filepath.Join(dir, "missing.onnx"), "-o", out, "--op", "identity")
	mustFail(t, `unknown command "convert"`, "convert")
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed rewrite wrote its output")
	}
}

// A model with external data is written with external data next to OUT.
func TestRewriteExternalData(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "ext.onnx")
	if err := onnx.SaveFile(in, testModel(), onnx.WithExternalData("ext.onnx.data", 0)); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o755)
	out := filepath.Join(outDir, "conv.onnx")
	mustSucceed(t, "rewrite", in, "-o", out, "--op", "identity", "-q")
	if _, err := os.Stat(out + ".data"); err != nil {
		t.Fatalf("no external data file: %v", err)
	}
	if rel := runBoth(t, in, out); rel > 1e-5 {
		t.Errorf("max rel error %.3g", rel)
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	in := writeTestModel(t, dir)
	out := filepath.Join(dir, "dc.onnx")
	mustSucceed(t, "rewrite", in, "-o", out, "--op", "identity", "--format", "functions", "-q")
	r := mustSucceed(t, "inspect", out)
	for _, want := range []string{"ai.dcnet/DecoupledConv 2", "linear:cos weighted", "4x2x3x3", "function ai.dcnet/DecoupledConv[", "3 layers:"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, r.Stdout)
		}
	}
	r = mustSucceed(t, "inspect", out, "--json")
	var s convert.Summary
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.Stdout)
	}
	if len(s.Layers) != 3 || s.Layers[0].Op != "DecoupledConv" || s.Layers[0].Operator == nil ||
		s.Layers[0].Operator.Alpha.Min != 1 || s.Layers[2].Op != "Conv" || s.Layers[2].Operator != nil {
		t.Errorf("inspect --json layers: %+v", s.Layers)
	}
	var want int64
	m, _ := onnx.LoadFile(out)
	for _, t := range m.Graph.Initializer {
		n := int64(1)
		for _, d := range t.Dims {
			n *= d
		}
		want += n
	}
	if s.Parameters != want {
		t.Errorf("parameters %d, want %d", s.Parameters, want)
	}
	mustFail(t, "want exactly one MODEL", "inspect")
}
