package onnx

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestExternalDataRoundTrip(t *testing.T) {
	src := sharedModel(t, "resnet18_dynamo.onnx")
	orig, err := LoadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := LoadFile(src) // kept to check SaveFile does not modify its argument
	dir := t.TempDir()
	path := filepath.Join(dir, "resnet18.onnx")
	if err := SaveFile(path, m, WithExternalData("resnet18.data", 1024)); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, orig) {
		t.Error("SaveFile modified the model it saved")
	}
	assertOnlyFiles(t, dir, "resnet18.data", "resnet18.onnx")

	ext, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	origInits := orig.GetGraph().GetInitializer()
	moved := 0
	for i, tp := range ext.GetGraph().GetInitializer() {
		if len(origInits[i].RawData) < 1024 {
			if tp.GetDataLocation() == TensorProto_EXTERNAL {
				t.Errorf("%s: %d bytes moved out, below the threshold", tp.GetName(), len(origInits[i].RawData))
			}
			continue
		}
		moved++
		checkExternalEntry(t, tp, len(origInits[i].RawData))
		// DecodeTensor reads external data directly.
		got, err := DecodeTensor(tp, dir)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := DecodeTensor(origInits[i], "")
		if got.Type != want.Type || !bytes.Equal(elementBytes(t, got), elementBytes(t, want)) {
			t.Errorf("%s: external decode differs from the inline original", tp.GetName())
		}
	}
	if moved == 0 {
		t.Fatal("no initializer was moved to the data file")
	}
	fi, _ := os.Stat(path)
	t.Logf("%d initializers moved out; model file %d bytes", moved, fi.Size())

	if err := LoadExternalData(ext, dir); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(ext, orig) {
		t.Error("model differs from the original after LoadExternalData")
	}
	checkPythonLoadsExternal(t, path, src)
}

// checkExternalEntry checks the external_data entries SaveFile wrote.
func checkExternalEntry(t *testing.T, tp *TensorProto, size int) {
	t.Helper()
	ref, err := parseExternalRef(tp)
	if err != nil {
		t.Fatalf("%s: %v", tp.GetName(), err)
	}
	align := int64(smallAlign)
	if size >= pageAlign {
		align = pageAlign
	}
	if ref.location != "resnet18.data" || ref.length != int64(size) || ref.offset%align != 0 || tp.RawData != nil {
		t.Errorf("%s: external %+v (raw %d bytes) for %d bytes aligned to %d", tp.GetName(), ref, len(tp.RawData), size, align)
	}
}

// checkPythonLoadsExternal loads our model + data file with ONNX's Python
// package (which reads external data relative to the model) and compares
// every initializer with the original model.
func checkPythonLoadsExternal(t *testing.T, path, original string) {
	t.Helper()
	const python = "/usr/bin/python3"
	if exec.Command(python, "-c", "import onnx").Run() != nil {
		t.Log("python3-onnx not available: skipping the cross-check with onnx.load")
		return
	}
	script := `
import sys, onnx
ours, orig = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
a = {t.name: t for t in ours.graph.initializer}
b = {t.name: t for t in orig.graph.initializer}
assert a.keys() == b.keys(), "initializer names differ"
for name, t in b.items():
    u = a[name]
    assert u.raw_data == t.raw_data and list(u.dims) == list(t.dims) and u.data_type == t.data_type, name
print(len(a))
`
	out, err := exec.Command(python, "-c", script, path, original).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.load of our external-data model: %v\n%s", err, out)
	}
	t.Logf("onnx.load read our external data: %s initializers match", strings.TrimSpace(string(out)))
}

func TestExternalDataSubgraphs(t *testing.T) {
	big := func(name string, v float32) *TensorProto {
		data := make([]float32, 1024)
		for i := range data {
			data[i] = v + float32(i)
		}
		tp, err := EncodeTensor(name, &Array{Type: TensorProto_FLOAT, Dims: []int{32, 32}, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	branch := func(name string, v float32) *GraphProto {
		return &GraphProto{Name: proto.String(name), Initializer: []*TensorProto{big(name+".w", v)},
			Output: []*ValueInfoProto{ValueInfo(name+".w", TensorProto_FLOAT, 32, 32)}}
	}
	ifNode := &NodeProto{OpType: proto.String("If"), Input: []string{"c"}, Output: []string{"y"},
		Attribute: []*AttributeProto{
			{Name: proto.String("then_branch"), Type: AttributeProto_GRAPH.Enum(), G: branch("then", 1)},
			{Name: proto.String("else_branch"), Type: AttributeProto_GRAPH.Enum(), G: branch("else", -1)},
		}}
	m := &ModelProto{IrVersion: proto.Int64(8), OpsetImport: []*OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &GraphProto{Name: proto.String("g"), Node: []*NodeProto{ifNode}, Initializer: []*TensorProto{big("top", 0)},
			Input:  []*ValueInfoProto{ValueInfo("c", TensorProto_BOOL)},
			Output: []*ValueInfoProto{ValueInfo("y", TensorProto_FLOAT, 32, 32)}}}
	dir := t.TempDir()
	path := filepath.Join(dir, "if.onnx")
	if err := SaveFile(path, m, WithExternalData("if.data", 4096)); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	external := 0
	walkTensors(back, func(tp *TensorProto) error {
		if tp.GetDataLocation() == TensorProto_EXTERNAL {
			external++
		}
		return nil
	})
	if external != 3 {
		t.Errorf("%d tensors external, want 3 (graph and both branches)", external)
	}
	if fi, err := os.Stat(filepath.Join(dir, "if.data")); err != nil || fi.Size() != 2*pageAlign+4096 {
		t.Errorf("data file: %v, want 3 page-aligned 4096-byte tensors", fi)
	}
	if err := LoadExternalData(back, dir); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, m) {
		t.Error("round trip through external data changed the model")
	}
}

// externalModel writes a data file of 64 bytes into a new directory and
// returns a model with a FLOAT [2, 3] initializer "w" referring to it with
// the given external_data entries (key, value, key, value, ...).
func externalModel(t *testing.T, entries ...string) (*ModelProto, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 64), 0o644); err != nil {
		t.Fatal(err)
	}
	tp := tensor("w", TensorProto_FLOAT, []int64{2, 3})
	tp.DataLocation = TensorProto_EXTERNAL.Enum()
	for i := 0; i+1 < len(entries); i += 2 {
		tp.ExternalData = append(tp.ExternalData, &StringStringEntryProto{Key: proto.String(entries[i]), Value: proto.String(entries[i+1])})
	}
	return &ModelProto{Graph: &GraphProto{Initializer: []*TensorProto{tp}}}, dir
}

func TestExternalDataMalformed(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.bin")
	if err := os.WriteFile(outside, make([]byte, 24), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		entries []string
		setup   func(dir string) error
		want    string // besides the tensor's name
	}{
		{"offset beyond file", []string{"location", "w.bin", "offset", "100"}, nil, "offset 100 is beyond the end of DIR/w.bin (64 bytes)"},
		{"span beyond file", []string{"location", "w.bin", "offset", "48", "length", "24"}, nil, "offset 48 + length 24 is beyond the end of DIR/w.bin (64 bytes)"},
		{"length mismatch", []string{"location", "w.bin", "offset", "0", "length", "20"}, nil, "external data in DIR/w.bin has 20 bytes at offset 0, the tensor needs 24"},
		{"rest of file too long", []string{"location", "w.bin"}, nil, "external data in DIR/w.bin has 64 bytes at offset 0, the tensor needs 24"},
		{"parent dir", []string{"location", "../w.bin"}, nil, `location "../w.bin" is not a relative path inside the model's directory`},
		{"absolute", []string{"location", outside}, nil, "is not a relative path inside the model's directory"},
		{"missing file", []string{"location", "missing.bin"}, nil, "missing.bin"},
		{"symlink out", []string{"location", "link.bin", "length", "24"}, func(dir string) error {
			return os.Symlink(outside, filepath.Join(dir, "link.bin"))
		}, "link.bin"},
		{"directory", []string{"location", "sub"}, func(dir string) error { return os.Mkdir(filepath.Join(dir, "sub"), 0o755) },
			"external data file DIR/sub is not a regular file"},
		{"no location", []string{"offset", "0"}, nil, "external_data has no location"},
		{"bad offset", []string{"location", "w.bin", "offset", "-8"}, nil, `external_data offset "-8" is not a non-negative integer`},
		{"bad length", []string{"location", "w.bin", "length", "1e3"}, nil, `external_data length "1e3" is not a non-negative integer`},
		{"repeated key", []string{"location", "w.bin", "location", "x.bin"}, nil, `external_data key "location" is repeated`},
	}
	for _, tc := range tests {
		m, dir := externalModel(t, tc.entries...)
		if tc.setup != nil {
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
		}
		want := strings.ReplaceAll(tc.want, "DIR", dir)
		before := proto.Clone(m)
		err := LoadExternalData(m, dir)
		if err == nil || !strings.Contains(err.Error(), `tensor "w"`) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: LoadExternalData error %v, want one naming tensor \"w\" and %q", tc.name, err, want)
		}
		if !proto.Equal(m, before) {
			t.Errorf("%s: LoadExternalData changed the model despite the error", tc.name)
		}
		_, err = DecodeTensor(m.Graph.Initializer[0], dir)
		if err == nil || !strings.Contains(err.Error(), `tensor "w"`) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: DecodeTensor error %v, want one naming tensor \"w\" and %q", tc.name, err, want)
		}
	}
}

func TestExternalDataValid(t *testing.T) {
	// Offset without length reads to the end of the file (24 bytes from 40).
	m, dir := externalModel(t, "location", "w.bin", "offset", "40", "checksum", "ignored")
	a, err := DecodeTensor(m.Graph.Initializer[0], dir)
	if err != nil || len(a.Data.([]float32)) != 6 {
		t.Fatalf("DecodeTensor = %v, %v", a, err)
	}
	if err := LoadExternalData(m, dir); err != nil {
		t.Fatal(err)
	}
	w := m.Graph.Initializer[0]
	if len(w.RawData) != 24 || w.ExternalData != nil || w.DataLocation != nil {
		t.Errorf("after LoadExternalData: %v", w)
	}
	if err := LoadExternalData(m, ""); err != nil {
		t.Errorf("LoadExternalData of an all-inline model: %v", err)
	}
}

func TestExternalDataErrorsJoined(t *testing.T) {
	m, dir := externalModel(t, "location", "missing.bin")
	second := proto.Clone(m.Graph.Initializer[0]).(*TensorProto)
	second.Name = proto.String("w2")
	second.ExternalData[0].Value = proto.String("../escape.bin")
	m.Graph.Initializer = append(m.Graph.Initializer, second)
	err := LoadExternalData(m, dir)
	if err == nil || !strings.Contains(err.Error(), `tensor "w"`) || !strings.Contains(err.Error(), `tensor "w2"`) {
		t.Errorf("error %v, want both tensors reported", err)
	}
	if err := LoadExternalData(m, ""); err == nil || !strings.Contains(err.Error(), "no base directory") {
		t.Errorf("LoadExternalData(m, \"\") = %v", err)
	}
}

func TestSaveFileExternalErrors(t *testing.T) {
	m, err := LoadFile(sharedModel(t, "squeezenet1_1_legacy.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	for _, tc := range []struct {
		opt  SaveOption
		want string
	}{
		{WithExternalData("../m.data", 0), `external data file "../m.data" is not a relative path`},
		{WithExternalData("/tmp/m.data", 0), `external data file "/tmp/m.data" is not a relative path`},
		{WithExternalData("m.data", -1), "negative external data threshold -1"},
		{WithExternalData("m.onnx", 0), "the external data file is the model file"},
		{WithExternalData("sub/m.data", 0), "no such file or directory"},
	} {
		if err := SaveFile(path, m, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SaveFile error %v, want %q", err, tc.want)
		}
	}
	ext, edir := externalModel(t, "location", "w.bin", "offset", "40")
	if err := SaveFile(filepath.Join(edir, "m.onnx"), ext, WithExternalData("m.data", 0)); err == nil ||
		!strings.Contains(err.Error(), `tensor "w" already references external data`) {
		t.Errorf("SaveFile of an external model: %v", err)
	}
	assertOnlyFiles(t, dir)
	assertOnlyFiles(t, edir, "w.bin")
}
