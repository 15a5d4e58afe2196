package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

const (
	sharedModels = "/work/shared/models"
	onnxTestData = "/usr/share/libonnx-testdata/data"
)

// realModels lists the project's exported models and every model.onnx of
// ONNX's backend test data that exist on this machine.
func realModels(t testing.TB) []string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(sharedModels, "*.onnx"))
	filepath.WalkDir(onnxTestData, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "model.onnx" {
			paths = append(paths, path)
		}
		return nil
	})
	if len(paths) == 0 {
		t.Skipf("no models in %s or %s", sharedModels, onnxTestData)
	}
	return paths
}

func sharedModel(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(sharedModels, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("model not available: %v", err)
	}
	return path
}

// TestRoundTripRealModels checks that Save loses nothing Load read. All these
// files were written by protobuf's C++/Python serializer, which emits fields in
// field-number order as Save does, so the bytes must also come back identical.
func TestRoundTripRealModels(t *testing.T) {
	paths := realModels(t)
	identical := 0
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(data)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		out, err := Save(m)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		back, err := Load(out)
		if err != nil {
			t.Errorf("%s: reloading: %v", path, err)
			continue
		}
		if !proto.Equal(m, back) {
			t.Errorf("%s: model changed in a Save/Load round trip", path)
		}
		again, _ := Save(back)
		if !bytes.Equal(out, again) {
			t.Errorf("%s: Save is not deterministic", path)
		}
		if bytes.Equal(out, data) {
			identical++
		} else {
			t.Errorf("%s: re-serialized bytes differ from the file", path)
		}
	}
	t.Logf("%d models round-tripped, %d byte-identical to the original file", len(paths), identical)
}

// TestUnknownFieldsSurvive appends fields this schema does not know to a node
// (as a newer ONNX would write them) and checks Save writes them back.
func TestUnknownFieldsSurvive(t *testing.T) {
	node := &NodeProto{OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"y"}}
	raw, err := proto.Marshal(node)
	if err != nil {
		t.Fatal(err)
	}
	var unknown []byte
	unknown = protowire.AppendTag(unknown, 10, protowire.BytesType) // NodeProto.device_configurations (ONNX 1.18)
	unknown = protowire.AppendBytes(unknown, []byte("config"))
	unknown = protowire.AppendTag(unknown, 1000, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 12345)
	withUnknown := new(NodeProto)
	if err := proto.Unmarshal(append(raw, unknown...), withUnknown); err != nil {
		t.Fatal(err)
	}
	m := &ModelProto{IrVersion: proto.Int64(8), Graph: &GraphProto{Name: proto.String("g"), Node: []*NodeProto{withUnknown}}}
	data, err := Save(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	got := back.GetGraph().GetNode()[0].ProtoReflect().GetUnknown()
	if !bytes.Equal(got, unknown) {
		t.Errorf("unknown fields after round trip = %x, want %x", got, unknown)
	}
	if !bytes.Contains(data, unknown) {
		t.Errorf("saved bytes do not contain the unknown fields")
	}
}

func TestLoadMalformed(t *testing.T) {
	data, err := os.ReadFile(sharedModel(t, "squeezenet1_1_legacy.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(nil); err == nil {
		t.Error("Load(nil): no error")
	}
	// The graph (field 7) spans most of the file; cutting the file anywhere
	// inside it leaves a length prefix promising more bytes than remain.
	start, end := graphFieldSpan(t, data)
	for _, cut := range []int{start + 1, start + 2, (start + end) / 2, end - 1} {
		if _, err := Load(data[:cut]); err == nil {
			t.Errorf("Load of the first %d of %d bytes: no error", cut, len(data))
		}
	}
	garbage := bytes.Repeat([]byte{0xff}, 64)
	if _, err := Load(garbage); err == nil {
		t.Error("Load(0xff...): no error")
	}
	path := filepath.Join(t.TempDir(), "cut.onnx")
	if err := os.WriteFile(path, data[:end-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadFile(truncated) = %v, want an error naming %s", err, path)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.onnx")); err == nil {
		t.Error("LoadFile(missing): no error")
	}
}

// graphFieldSpan returns the byte range of the top-level graph field's value.
func graphFieldSpan(t *testing.T, data []byte) (int, int) {
	for pos := 0; pos < len(data); {
		num, typ, n := protowire.ConsumeTag(data[pos:])
		if n < 0 {
			t.Fatal("bad tag")
		}
		pos += n
		if num == 7 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(data[pos:])
			return pos + m - len(v), pos + m
		}
		m := protowire.ConsumeFieldValue(num, typ, data[pos:])
		if m < 0 {
			t.Fatal("bad field")
		}
		pos += m
	}
	t.Fatal("no graph field")
	return 0, 0
}

func TestSaveFileReplacesAtomically(t *testing.T) {
	m, err := LoadFile(sharedModel(t, "squeezenet1_1_legacy.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, []byte("old contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, back) {
		t.Error("SaveFile/LoadFile changed the model")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want the replaced file's 0600", fi.Mode().Perm())
	}
	assertOnlyFiles(t, dir, "model.onnx")

	// A failed save leaves the old file and no temporary behind.
	if err := SaveFile(filepath.Join(dir, "no-such-dir", "m.onnx"), m); err == nil {
		t.Error("SaveFile into a missing directory: no error")
	}
	if err := SaveFile(path, nil); err == nil {
		t.Error("SaveFile(nil model): no error")
	}
	assertOnlyFiles(t, dir, "model.onnx")
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}
