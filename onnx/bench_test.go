package onnx

import (
	"os"
	"testing"
)

// BenchmarkLoad parses resnet18 (46.8 MB, weights inline).
func BenchmarkLoad(b *testing.B) {
	data, err := os.ReadFile(sharedModel(b, "resnet18_dynamo.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Load(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSave serializes resnet18.
func BenchmarkSave(b *testing.B) {
	m, err := LoadFile(sharedModel(b, "resnet18_dynamo.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	out, _ := Save(m)
	b.SetBytes(int64(len(out)))
	for b.Loop() {
		if _, err := Save(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeInitializers decodes all of resnet18's weights to []float32.
func BenchmarkDecodeInitializers(b *testing.B) {
	m, err := LoadFile(sharedModel(b, "resnet18_dynamo.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, t := range m.GetGraph().GetInitializer() {
		size += int64(len(t.RawData))
	}
	b.SetBytes(size)
	for b.Loop() {
		for _, t := range m.GetGraph().GetInitializer() {
			if _, err := DecodeTensor(t, ""); err != nil {
				b.Fatal(err)
			}
		}
	}
}
