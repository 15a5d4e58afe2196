package main

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/onnx"
)

// tinyNet is a small CNN built for the command tests:
//
//	x: [N, 3, 6, 6] → Conv 3×3 (3→3 channels, pads 1) → Relu →
//	GlobalAveragePool → Flatten → "feat/avg:0": [N, 3] → Gemm (transB) →
//	"logits": [N, 4]
//
// with deterministic random weights, and a float64 reference forward pass.
type tinyNet struct {
	convW []float32 // [3, 3, 3, 3]
	convB []float32 // [3]
	fcW   []float32 // [4, 3]
	fcB   []float32 // [4]
}

const (
	tinyC, tinyH, tinyW = 3, 6, 6
	tinyClasses         = 4
	tinyFeatName        = "feat/avg:0"
)

func newTinyNet() tinyNet {
	rng := rand.New(rand.NewPCG(7, 8))
	draw := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.Float64()*2 - 1)
		}
		return out
	}
	return tinyNet{convW: draw(3 * 3 * 3 * 3), convB: draw(3), fcW: draw(tinyClasses * 3), fcB: draw(tinyClasses)}
}

// model returns the ONNX model; batch is the first input dimension (an
// int for a fixed size, a string for a symbolic one). metadata is added to
// metadata_props.
func (n tinyNet) model(t testing.TB, batch any, metadata map[string]string) *onnx.ModelProto {
	t.Helper()
	init := func(name string, dims []int, data []float32) *onnx.TensorProto {
		tp, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: dims, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	node := func(name, op string, in []string, out string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
		return &onnx.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs}
	}
	g := &onnx.GraphProto{
		Name: proto.String("tiny"),
		Node: []*onnx.NodeProto{
			node("conv", "Conv", []string{"x", "conv.w", "conv.b"}, "c", onnx.AttrInts("pads", 1, 1, 1, 1), onnx.AttrInts("kernel_shape", 3, 3)),
			node("relu", "Relu", []string{"c"}, "r"),
			node("gap", "GlobalAveragePool", []string{"r"}, "g"),
			node("flatten", "Flatten", []string{"g"}, tinyFeatName, onnx.AttrInt("axis", 1)),
			node("fc", "Gemm", []string{tinyFeatName, "fc.w", "fc.b"}, "logits", onnx.AttrInt("transB", 1)),
		},
		Initializer: []*onnx.TensorProto{
			init("conv.w", []int{3, 3, 3, 3}, n.convW), init("conv.b", []int{3}, n.convB),
			init("fc.w", []int{tinyClasses, 3}, n.fcW), init("fc.b", []int{tinyClasses}, n.fcB),
		},
		Input:  []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, batch, tinyC, tinyH, tinyW)},
		Output: []*onnx.ValueInfoProto{onnx.ValueInfo("logits", onnx.TensorProto_FLOAT, batch, tinyClasses), onnx.ValueInfo(tinyFeatName, onnx.TensorProto_FLOAT, batch, 3)},
	}
	m := &onnx.ModelProto{
		IrVersion: proto.Int64(7), ProducerName: proto.String("dcrun-test"), ProducerVersion: proto.String("1"),
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:       g,
	}
	for k, v := range metadata {
		m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)})
	}
	return m
}

// save writes the model into dir and returns its path.
func (n tinyNet) save(t testing.TB, dir, name string, batch any, metadata map[string]string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := onnx.SaveFile(path, n.model(t, batch, metadata)); err != nil {
		t.Fatal(err)
	}
	return path
}

// forward computes logits [N, 4] and features [N, 3] in float64 from x:
// [N, 3, 6, 6].
func (n tinyNet) forward(x []float64, batch int) (logits, feat []float64) {
	for b := range batch {
		img := x[b*tinyC*tinyH*tinyW : (b+1)*tinyC*tinyH*tinyW]
		f := make([]float64, 3)
		for o := range 3 {
			sum := 0.0
			for y := range tinyH {
				for xx := range tinyW {
					v := float64(n.convB[o])
					for c := range tinyC {
						for ky := range 3 {
							for kx := range 3 {
								iy, ix := y+ky-1, xx+kx-1
								if iy < 0 || iy >= tinyH || ix < 0 || ix >= tinyW {
									continue
								}
								v += float64(n.convW[((o*tinyC+c)*3+ky)*3+kx]) * img[(c*tinyH+iy)*tinyW+ix]
							}
						}
					}
					sum += math.Max(v, 0)
				}
			}
			f[o] = sum / (tinyH * tinyW)
		}
		feat = append(feat, f...)
		for k := range tinyClasses {
			v := float64(n.fcB[k])
			for j := range 3 {
				v += float64(n.fcW[k*3+j]) * f[j]
			}
			logits = append(logits, v)
		}
	}
	return logits, feat
}

// unsupportedModel has one node of an operator no registry knows.
func unsupportedModel(t testing.TB, dir string) string {
	t.Helper()
	g := &onnx.GraphProto{
		Name:   proto.String("bad"),
		Node:   []*onnx.NodeProto{{Name: proto.String("x"), OpType: proto.String("Foo"), Input: []string{"in"}, Output: []string{"out"}}},
		Input:  []*onnx.ValueInfoProto{onnx.ValueInfo("in", onnx.TensorProto_FLOAT, 1, 3)},
		Output: []*onnx.ValueInfoProto{onnx.ValueInfo("out", onnx.TensorProto_FLOAT, 1, 3)},
	}
	m := &onnx.ModelProto{IrVersion: proto.Int64(7), Graph: g,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
	path := filepath.Join(dir, "model.onnx")
	if err := onnx.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}
