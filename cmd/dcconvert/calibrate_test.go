package main

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// calibModel: x [N, 1, 6, 6] → conv1 (4×1×3×3, pads 1, bias) → Relu →
// conv2 (3×4×3×3, pads 1) → y.
func calibModel() *onnx.ModelProto {
	var inits []*onnx.TensorProto
	weight := func(name string, seed int, dims ...int) string {
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(0.4 * math.Sin(float64(seed*100+i)*1.7))
		}
		t, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: dims, Data: data})
		if err != nil {
			panic(err)
		}
		inits = append(inits, t)
		return name
	}
	pads := onnx.AttrInts("pads", 1, 1, 1, 1)
	g := &onnx.GraphProto{
		Name: proto.String("calib"),
		Node: []*onnx.NodeProto{
			{Name: proto.String("conv1"), OpType: proto.String("Conv"), Input: []string{"x", weight("w1", 1, 4, 1, 3, 3), weight("b1", 2, 4)}, Output: []string{"c1"}, Attribute: []*onnx.AttributeProto{pads}},
			{Name: proto.String("relu"), OpType: proto.String("Relu"), Input: []string{"c1"}, Output: []string{"r1"}},
			{Name: proto.String("conv2"), OpType: proto.String("Conv"), Input: []string{"r1", weight("w2", 3, 3, 4, 3, 3)}, Output: []string{"y"}, Attribute: []*onnx.AttributeProto{pads}},
		},
		Initializer: inits,
		Input:       []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 1, 6, 6)},
		Output:      []*onnx.ValueInfoProto{onnx.ValueInfo("y", onnx.TensorProto_FLOAT, "N", 3, 6, 6)},
	}
	return &onnx.ModelProto{IrVersion: proto.Int64(7), Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
}

// pixel is the gray value of pixel i of image k in the calibration files.
func pixel(k, i int) uint8 { return uint8((k*53 + i*29 + (i*i)%17) % 256) }

// normalised is the calibration sample set the tests expect the command to
// read: the first n images, (pixel/255 − 0.5)/0.25.
func normalised(n int) *runtime.Tensor {
	data := make([]float32, n*36)
	for k := range n {
		for i := range 36 {
			data[k*36+i] = float32((float64(pixel(k, i))/255 - 0.5) / 0.25)
		}
	}
	return runtime.New([]int{n, 1, 6, 6}, data)
}

// writeIDX writes n 6×6 images as a raw idx3 file.
func writeIDX(t *testing.T, path string, n int) {
	b := []byte{0, 0, 8, 3, 0, 0, 0, byte(n), 0, 0, 0, 6, 0, 0, 0, 6}
	for k := range n {
		for i := range 36 {
			b = append(b, pixel(k, i))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writePNGs writes n 6×6 gray PNGs named so that sorting keeps their order.
func writePNGs(t *testing.T, dir string, n int) {
	for k := range n {
		img := image.NewGray(image.Rect(0, 0, 6, 6))
		for i := range 36 {
			img.SetGray(i%6, i/6, color.Gray{pixel(k, i)})
		}
		f, err := os.Create(filepath.Join(dir, string(rune('a'+k))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// calibrateInProcess is what the command should compute: the library
// calibration of the rewritten model on data.
func calibrateInProcess(t *testing.T, op string, weighted bool, data *runtime.Tensor) *onnx.ModelProto {
	t.Helper()
	m := calibModel()
	o, err := convert.ParseOperator(op)
	if err != nil {
		t.Fatal(err)
	}
	o.Weighted = weighted
	res, err := convert.Rewrite(m, convert.Options{Operator: o})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := convert.Calibrate(context.Background(), m, res.Layers, data, convert.CalibrateOptions{}); err != nil {
		t.Fatal(err)
	}
	return m
}

// outputsDiffer runs both models on the same random batch and returns
// max|a − b| / max|b|.
func outputsDiffer(t *testing.T, a, b *onnx.ModelProto) float64 {
	t.Helper()
	r := runtime.Builtins()
	decop.Register(r)
	x := normalised(7)
	var ys [2][]float32
	for i, m := range []*onnx.ModelProto{a, b} {
		s, err := runtime.NewSessionFromModel(m, runtime.WithRegistry(r))
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		ys[i] = out["y"].Float32s()
	}
	var diff, scale float64
	for i := range ys[0] {
		diff = math.Max(diff, math.Abs(float64(ys[0][i]-ys[1][i])))
		scale = math.Max(scale, math.Abs(float64(ys[1][i])))
	}
	return diff / scale
}

func TestRewriteCalibratedIDX(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "calib.onnx")
	if err := onnx.SaveFile(in, calibModel()); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(dir, "images-idx3-ubyte")
	writeIDX(t, idx, 20)
	out := filepath.Join(dir, "tanh.onnx")
	r := mustSucceed(t, "rewrite", in, "-o", out, "--op", "tanh:cos", "--calib", idx, "--calib-samples", "12",
		"--mean", "0.5", "--std", "0.25", "--threads", "2")
	for _, want := range []string{"calibrated 2 layers on 12 samples", "conv1", "conv2", "4x1x3x3", "tanh:cos weighted", "rel. error"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stderr, "layer 2/2 conv2") {
		t.Errorf("no per-layer progress:\n%s", r.Stderr)
	}
	got, err := onnx.LoadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if rel := outputsDiffer(t, got, calibrateInProcess(t, "tanh:cos", true, normalised(12))); rel > 1e-5 {
		t.Errorf("the command's model differs from the library calibration on the same 12 images by %.3g", rel)
	}
	// Calibrated on other images, the parameters differ: the limit was used.
	if rel := outputsDiffer(t, got, calibrateInProcess(t, "tanh:cos", true, normalised(20))); rel < 1e-4 {
		t.Errorf("calibrating on 12 or 20 images gives the same model (%.3g)", rel)
	}
}

func TestRewriteCalibratedPNGFolder(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "calib.onnx")
	if err := onnx.SaveFile(in, calibModel()); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(dir, "images")
	os.Mkdir(images, 0o755)
	writePNGs(t, images, 10)
	out := filepath.Join(dir, "ball.onnx")
	mustSucceed(t, "rewrite", in, "-o", out, "--op", "ball:cos", "--unweighted", "--calib", images,
		"--mean", "0.5", "--std", "0.25", "--format", "expanded", "-q")
	got, err := onnx.LoadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range got.Graph.Node {
		if n.GetDomain() == decop.Domain {
			t.Fatalf("the expanded form still has %s", n.GetOpType())
		}
	}
	if rel := outputsDiffer(t, got, calibrateInProcess(t, "ball:cos", false, normalised(10))); rel > 1e-5 {
		t.Errorf("the command's model differs from the library calibration by %.3g", rel)
	}
}

func TestRewriteCalibrationErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "calib.onnx")
	if err := onnx.SaveFile(in, calibModel()); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(dir, "images-idx3-ubyte")
	writeIDX(t, idx, 4)
	out := filepath.Join(dir, "out.onnx")
	mustFail(t, "needs calibration data", "rewrite", in, "-o", out, "--op", "tanh:cos")
	mustFail(t, "takes no --calib", "rewrite", in, "-o", out, "--op", "identity", "--calib", idx)
	mustFail(t, "takes no --unweighted", "rewrite", in, "-o", out, "--op", "identity", "--unweighted")
	mustFail(t, "--rho-percentile 0: must be in (0, 1]", "rewrite", in, "-o", out, "--op", "tanh:cos", "--calib", idx, "--rho-percentile", "0")
	mustFail(t, "--calib-samples 0", "rewrite", in, "-o", out, "--op", "tanh:cos", "--calib", idx, "--calib-samples", "0")
	mustFail(t, "missing", "rewrite", in, "-o", out, "--op", "tanh:cos", "--calib", filepath.Join(dir, "missing"))
	mustFail(t, "resizing", "rewrite", in, "-o", out, "--op", "tanh:cos", "--calib", idx, "--size", "8")
	mustFail(t, "--std", "rewrite", in, "-o", out, "--op", "tanh:cos", "--calib", idx, "--std", "0")
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed rewrite wrote its output")
	}
}
