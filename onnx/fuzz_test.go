package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzLoad feeds arbitrary bytes to Load, then checks that Save/Load is
// lossless and that every tensor either decodes to exactly product(dims)
// elements or gives an error; external data resolves inside a small
// directory holding one 4 KiB file. Seeds: small real models, the fixtures,
// a prefix of a large model, and a model with external data.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	data := make([]byte, 4096)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o644); err != nil {
		f.Fatal(err)
	}
	for _, path := range []string{
		"testdata/tensors.onnx",
		"testdata/builders.onnx",
		filepath.Join(onnxTestData, "node/test_conv_with_strides_padding/model.onnx"),
		filepath.Join(onnxTestData, "node/test_if/model.onnx"),
		filepath.Join(onnxTestData, "node/test_constant/model.onnx"),
		filepath.Join(onnxTestData, "node/test_loop11/model.onnx"),
	} {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(sharedModels, "squeezenet1_1_legacy.onnx")); err == nil {
		f.Add(b[:3000])
	}
	ext := tensor("w", TensorProto_FLOAT, []int64{4, 4})
	ext.DataLocation = TensorProto_EXTERNAL.Enum()
	for _, kv := range [][2]string{{"location", "data.bin"}, {"offset", "64"}, {"length", "64"}} {
		ext.ExternalData = append(ext.ExternalData, &StringStringEntryProto{Key: proto.String(kv[0]), Value: proto.String(kv[1])})
	}
	if b, err := Save(&ModelProto{Graph: &GraphProto{Initializer: []*TensorProto{ext}}}); err == nil {
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Load(b)
		if err != nil {
			return
		}
		out, err := Save(m)
		if err != nil {
			t.Fatalf("Save of a loaded model: %v", err)
		}
		back, err := Load(out)
		if err != nil {
			t.Fatalf("Load of saved bytes: %v", err)
		}
		if !proto.Equal(m, back) {
			t.Fatal("Save/Load round trip changed the model")
		}
		walkTensors(m, func(tp *TensorProto) error {
			checkDecoded(t, tp, dir)
			return nil
		})
		if err := LoadExternalData(back, dir); err == nil {
			walkTensors(back, func(tp *TensorProto) error {
				if tp.GetDataLocation() == TensorProto_EXTERNAL {
					t.Errorf("tensor %q still external after LoadExternalData", tp.GetName())
				}
				return nil
			})
		}
	})
}

// checkDecoded decodes tp and, if that succeeds, checks the element count.
func checkDecoded(t *testing.T, tp *TensorProto, dir string) {
	a, err := DecodeTensor(tp, dir)
	if err != nil {
		return
	}
	want := 1
	for _, d := range tp.Dims {
		want *= int(d)
	}
	typ, n := sliceType(a.Data)
	if typ != goType(a.Type) || n != want || len(a.Dims) != len(tp.Dims) {
		t.Fatalf("tensor %q: decoded %s of %d elements with dims %v, proto dims %v", tp.GetName(), typ, n, a.Dims, tp.Dims)
	}
}
