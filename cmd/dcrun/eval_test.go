package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
)

// evalModel is a linear classifier of [N, 1, 2, 2] images: Flatten → Gemm
// with evalW [3, 4] (transB) and evalB, three classes.
var (
	evalW = []float32{1, -1, 0.5, 0, -0.5, 2, 0, 1, 0.25, 0.25, -1, 1.5}
	evalB = []float32{0.1, -0.2, 0.3}
)

func writeEvalModel(t *testing.T, dir string) string {
	t.Helper()
	enc := func(name string, dims []int, data []float32) *onnx.TensorProto {
		tp, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: dims, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	g := &onnx.GraphProto{
		Name: proto.String("linear"),
		Node: []*onnx.NodeProto{
			{OpType: proto.String("Flatten"), Input: []string{"x"}, Output: []string{"f"}},
			{OpType: proto.String("Gemm"), Input: []string{"f", "w", "b"}, Output: []string{"scores"}, Attribute: []*onnx.AttributeProto{onnx.AttrInt("transB", 1)}},
		},
		Initializer: []*onnx.TensorProto{enc("w", []int{3, 4}, evalW), enc("b", []int{3}, evalB)},
		Input:       []*onnx.ValueInfoProto{onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 1, 2, 2)},
		Output:      []*onnx.ValueInfoProto{onnx.ValueInfo("scores", onnx.TensorProto_FLOAT, "N", 3)},
	}
	m := &onnx.ModelProto{IrVersion: proto.Int64(7), Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
	path := filepath.Join(dir, "linear.onnx")
	if err := onnx.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// evalPixel is the byte value of pixel i of image k in the eval datasets.
func evalPixel(k, i int) uint8 { return uint8((k*71 + i*113 + k*i*7) % 256) }

// evalLabel is image k's label.
func evalLabel(k int) int { return (k * 7 / 3) % 3 }

// expectedEval computes accuracy (percent) and mean cross-entropy of the
// linear classifier in float64 on images x [n, 4].
func expectedEval(x [][]float64, labels []int) (float64, float64) {
	correct, loss := 0, 0.0
	for k, row := range x {
		scores := make([]float64, 3)
		for c := range 3 {
			scores[c] = float64(evalB[c])
			for i := range 4 {
				scores[c] += float64(evalW[c*4+i]) * row[i]
			}
		}
		best := 0
		for c := range 3 {
			if scores[c] > scores[best] {
				best = c
			}
		}
		if best == labels[k] {
			correct++
		}
		z := 0.0
		for _, s := range scores {
			z += math.Exp(s)
		}
		loss += math.Log(z) - scores[labels[k]]
	}
	return 100 * float64(correct) / float64(len(x)), loss / float64(len(x))
}

// pixelsNormalised is image k scaled to [0, 1] and normalised.
func pixelsNormalised(k int, mean, std float64) []float64 {
	out := make([]float64, 4)
	for i := range out {
		out[i] = (float64(evalPixel(k, i))/255 - mean) / std
	}
	return out
}

func runEvalJSON(t *testing.T, args ...string) evalResult {
	t.Helper()
	out := mustSucceed(t, append([]string{"eval"}, append(args, "--json", "-q")...)...)
	var res evalResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, out)
	}
	return res
}

func checkEval(t *testing.T, what string, got evalResult, n int, acc, loss float64) {
	t.Helper()
	if got.N != n || math.Abs(got.Accuracy-acc) > 1e-9 || math.Abs(got.Loss-loss) > 1e-5*math.Max(1, loss) || !(got.ImagesPerS > 0) {
		t.Errorf("%s: got %+v, want n %d, accuracy %.4f, loss %.6f", what, got, n, acc, loss)
	}
}

func TestEvalNPY(t *testing.T) {
	dir := t.TempDir()
	model := writeEvalModel(t, dir)
	const n = 50
	data := make([]float32, n*4)
	var rows [][]float64
	labels := make([]int64, n)
	var ints []int
	for k := range n {
		row := pixelsNormalised(k, 0.3, 0.2)
		for i, v := range row {
			data[k*4+i] = float32(v)
			row[i] = float64(float32(v)) // the model sees the float32 values
		}
		rows = append(rows, row)
		labels[k] = int64(evalLabel(k))
		ints = append(ints, evalLabel(k))
	}
	x, y := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	if err := npy.WriteFile(x, []int{n, 1, 2, 2}, data); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteFile(y, []int{n}, labels); err != nil {
		t.Fatal(err)
	}
	acc, loss := expectedEval(rows, ints)
	if acc == 0 || acc == 100 {
		t.Fatalf("degenerate test data: accuracy %v", acc)
	}
	checkEval(t, "npy, batch 7", runEvalJSON(t, model, "--data", x, "--labels", y, "--batch", "7"), n, acc, loss)
	acc, loss = expectedEval(rows[:20], ints[:20])
	checkEval(t, "npy, limit 20", runEvalJSON(t, model, "--data", x, "--labels", y, "--limit", "20", "--threads", "1"), 20, acc, loss)

	text := mustSucceed(t, "eval", model, "--data", x, "--labels", y, "-q")
	if !strings.Contains(text, "top-1 accuracy") || !strings.Contains(text, fmt.Sprintf("of %d", n)) {
		t.Errorf("text output: %q", text)
	}
	r := dcrun(t, "eval", model, "--data", x, "--labels", y, "--batch", "16")
	if !strings.Contains(r.Stderr, fmt.Sprintf("%d/%d samples", n, n)) {
		t.Errorf("no progress on stderr: %q", r.Stderr)
	}
}

func TestEvalIDXAndFolder(t *testing.T) {
	dir := t.TempDir()
	model := writeEvalModel(t, dir)
	const n = 30
	images := []byte{0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 2, 0, 0, 0, 2}
	labels := []byte{0, 0, 8, 1, 0, 0, 0, n}
	var rows [][]float64
	var ints []int
	for k := range n {
		for i := range 4 {
			images = append(images, evalPixel(k, i))
		}
		labels = append(labels, byte(evalLabel(k)))
		rows = append(rows, pixelsNormalised(k, 0.25, 0.5))
		ints = append(ints, evalLabel(k))
	}
	x, y := filepath.Join(dir, "images-idx3-ubyte"), filepath.Join(dir, "labels-idx1-ubyte")
	os.WriteFile(x, images, 0o644)
	os.WriteFile(y, labels, 0o644)
	acc, loss := expectedEval(rows, ints)
	checkEval(t, "IDX", runEvalJSON(t, model, "--data", x, "--labels", y, "--mean", "0.25", "--std", "0.5"), n, acc, loss)

	// The same images as PNGs in class folders; classes sorted by name.
	classes := []string{"apple", "banana", "cherry"}
	folder := filepath.Join(dir, "folder")
	for k := range n {
		img := image.NewGray(image.Rect(0, 0, 2, 2))
		for i := range 4 {
			img.SetGray(i%2, i/2, color.Gray{evalPixel(k, i)})
		}
		sub := filepath.Join(folder, classes[evalLabel(k)])
		os.MkdirAll(sub, 0o755)
		f, err := os.Create(filepath.Join(sub, fmt.Sprintf("%03d.png", k)))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
	}
	checkEval(t, "folder", runEvalJSON(t, model, "--data", folder, "--mean", "0.25", "--std", "0.5"), n, acc, loss)
}

func TestEvalErrors(t *testing.T) {
	dir := t.TempDir()
	model := writeEvalModel(t, dir)
	x, y := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	npy.WriteFile(x, []int{2, 1, 2, 2}, make([]float32, 8))
	npy.WriteFile(y, []int{2}, []int64{1, 5})
	mustFailWith(t, "no labels", "eval", model, "--data", x)
	mustFailWith(t, "sample 1 has label 5, outside the 3 classes", "eval", model, "--data", x, "--labels", y, "-q")
	mustFailWith(t, "--batch 0", "eval", model, "--data", x, "--labels", y, "--batch", "0")
	mustFailWith(t, `--output "nope"`, "eval", model, "--data", x, "--labels", y, "--output", "nope")
	mustFailWith(t, "missing.npy", "eval", model, "--data", filepath.Join(dir, "missing.npy"), "--labels", y)
}

// mustFailWith runs dcrun, expecting a failure whose message contains want.
func mustFailWith(t *testing.T, want string, args ...string) {
	t.Helper()
	r := dcrun(t, args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("dcrun %s: exit %d, stderr %q; want a failure with %q", strings.Join(args, " "), r.Code, r.Stderr, want)
	}
}

// The decoupled Fashion-MNIST demo model scored on the raw test set agrees
// with the accuracy and loss of the PyTorch float64 reference logits.
func TestEvalDecoupledFashionMNIST(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 300
	}
	ref := readDecoupledRef(t)[:n*10]
	_, labels := loadFashionMNISTTest(t, n)
	correct, loss := 0, 0.0
	for i := range n {
		row := ref[i*10 : (i+1)*10]
		best, z := 0, 0.0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
			z += math.Exp(float64(v))
		}
		if best == int(labels[i]) {
			correct++
		}
		loss += math.Log(z) - float64(row[labels[i]])
	}
	res := runEvalJSON(t, decoupledDemoModel, "--data", filepath.Join(fashionMNISTDir, "t10k-images-idx3-ubyte.gz"),
		"--labels", filepath.Join(fashionMNISTDir, "t10k-labels-idx1-ubyte.gz"), "--mean", "0.2860", "--std", "0.3530",
		"--limit", fmt.Sprint(n), "--batch", "128")
	t.Logf("dcrun eval: %+v; PyTorch reference: %d correct, loss %.5f", res, correct, loss/float64(n))
	// A near-tie between two classes may flip between float32 and float64.
	if res.N != n || res.Correct < correct-1 || res.Correct > correct+1 || math.Abs(res.Loss-loss/float64(n)) > 1e-3 {
		t.Errorf("got %+v, want %d correct of %d and loss %.5f", res, correct, n, loss/float64(n))
	}
}
