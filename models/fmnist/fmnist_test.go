package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/models/fmnist/zoo"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

// TestCNN9MatchesPyTorchExport checks the Go-built graph against
// PyTorch's export of the same network (zoo/cnn9_bn.onnx): the same
// operators in the same order, initializers of the same shapes, and, with
// PyTorch's trained weights copied in, the same logits.
func TestCNN9MatchesPyTorchExport(t *testing.T) {
	ref, err := onnx.Load(zoo.CNN9WithBN)
	if err != nil {
		t.Fatal(err)
	}
	m := buildCNN9(cnn9Options{Seed: 1})
	var ops, refOps []string
	for _, n := range m.GetGraph().GetNode() {
		ops = append(ops, n.GetOpType())
	}
	for _, n := range ref.GetGraph().GetNode() {
		refOps = append(refOps, n.GetOpType())
	}
	if strings.Join(ops, " ") != strings.Join(refOps, " ") {
		t.Fatalf("operators\n%v\nPyTorch's\n%v", ops, refOps)
	}
	ours, theirs := m.GetGraph().GetInitializer(), ref.GetGraph().GetInitializer()
	if len(ours) != len(theirs) {
		t.Fatalf("%d initializers, PyTorch's export has %d", len(ours), len(theirs))
	}
	for i := range ours {
		if a, b := ours[i].GetDims(), theirs[i].GetDims(); !slices.Equal(a, b) {
			t.Fatalf("initializer %s %v, PyTorch's %s %v", ours[i].GetName(), a, theirs[i].GetName(), b)
		}
		copied := cloneTensor(theirs[i])
		copied.Name = ours[i].Name
		ours[i] = copied
	}
	test, err := loadSplitOrSkip(t, "t10k", 64)
	if err != nil {
		t.Fatal(err)
	}
	x := runtime.New(test.Shape, test.X)
	y := runLogits(t, m, x)
	yRef := runLogits(t, ref, x)
	for i := range y {
		if d := math.Abs(float64(y[i] - yRef[i])); d > 1e-4*(1+math.Abs(float64(yRef[i]))) {
			t.Fatalf("logit %d: %v, PyTorch's graph %v", i, y[i], yRef[i])
		}
	}
}

func cloneTensor(t *onnx.TensorProto) *onnx.TensorProto {
	v, dims, err := onnx.Float32s(t, "")
	if err != nil {
		panic(err)
	}
	out, err := runtime.New(dims, v).ToProto(t.GetName())
	if err != nil {
		panic(err)
	}
	return out
}

func runLogits(t *testing.T, m *onnx.ModelProto, x *runtime.Tensor) []float32 {
	t.Helper()
	s, err := runtime.NewSessionFromModel(m, runtime.WithRegistry(newRegistry()), runtime.WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*runtime.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	return out["logits"].Float32s()
}

// loadSplitOrSkip reads Fashion-MNIST images, skipping the test when the
// dataset is absent, unless CI is set.
func loadSplitOrSkip(t *testing.T, split string, limit int) (*train.Dataset, error) {
	t.Helper()
	if !datasetPresent(defaultDataDir) {
		if os.Getenv("CI") != "" {
			t.Fatalf("Fashion-MNIST is not in %s (CI is set, so this is an error)", defaultDataDir)
		}
		t.Skipf("Fashion-MNIST is not in %s", defaultDataDir)
	}
	return loadSplit(defaultDataDir, split, limit)
}

// TestShortTraining is the CI training test: CNN9 on the first 1,000
// training images for 3 epochs (batch 64, the anchors' recipe otherwise)
// must lower the training loss and reach at least 50 % accuracy on 500
// test images it never saw (chance: 10 %).
func TestShortTraining(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a CNN for a few dozen seconds")
	}
	data, err := loadSplitOrSkip(t, "train", 1000)
	if err != nil {
		t.Fatal(err)
	}
	test, err := loadSplit(defaultDataDir, "t10k", 500)
	if err != nil {
		t.Fatal(err)
	}
	r := anchorsRecipe()
	r.Epochs, r.Batch, r.Threads = 3, 64, 2
	res, err := fit(context.Background(), buildCNN9(cnn9Options{Seed: 1}), data, test, fitOptions{recipe: r})
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.history.Epochs[0], res.history.Epochs[len(res.history.Epochs)-1]
	t.Logf("train loss %.3f → %.3f, held-out accuracy %.1f %% → %.1f %%", first.Train.Loss, last.Train.Loss, 100*first.Val.Accuracy, 100*last.Val.Accuracy)
	if !(last.Train.Loss < 0.8*first.Train.Loss) {
		t.Errorf("training loss fell from %.3f to %.3f only, want at least 20 %% lower", first.Train.Loss, last.Train.Loss)
	}
	acc, err := testAccuracy(context.Background(), res.model, test, 2)
	if err != nil {
		t.Fatal(err)
	}
	if acc < 0.5 {
		t.Errorf("held-out accuracy %.1f %% of the exported model, want ≥ 50 %% (chance 10 %%)", 100*acc)
	}
}

// TestPatchNormScale checks measurePatchNorms on the first layer, whose
// input is the images themselves, against a float64 computation.
func TestPatchNormScale(t *testing.T) {
	data, err := loadSplitOrSkip(t, "train", 16)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := convert.ParseOperator("tanh:cos")
	m := buildCNN9(cnn9Options{Seed: 2, Op: &op})
	if err := measurePatchNorms(context.Background(), m, data, op, 1); err != nil {
		t.Fatal(err)
	}
	var got float32
	for _, tp := range m.GetGraph().GetInitializer() {
		if tp.GetName() == "conv1.rho_scale" {
			v, _, _ := onnx.Float32s(tp, "")
			got = v[0]
		}
	}
	var sum float64
	for i := range 16 {
		img := data.X[i*784 : (i+1)*784]
		for y := range 28 {
			for x := range 28 {
				var ss float64
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						if yy, xx := y+dy, x+dx; yy >= 0 && yy < 28 && xx >= 0 && xx < 28 {
							ss += float64(img[yy*28+xx]) * float64(img[yy*28+xx])
						}
					}
				}
				sum += math.Sqrt(ss + 1e-4)
			}
		}
	}
	want := sum / (16 * 784)
	if math.Abs(float64(got)-want) > 1e-5*want {
		t.Errorf("conv1.rho_scale = %v, want the mean patch norm %v", got, want)
	}
	// The decoupled network runs and trains.
	r := anchorsRecipe()
	r.Epochs, r.Batch, r.Threads = 1, 8, 1
	res, err := fit(context.Background(), m, data, nil, fitOptions{recipe: r, trainable: func(n string) bool { return !fixedParams(m)[n] }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.history.Steps) != 2 {
		t.Errorf("%d steps, want 2", len(res.history.Steps))
	}
}

func TestPlotRendersPNG(t *testing.T) {
	xs := []float64{0, 1, 2, 3}
	p := panel{title: "test accuracy %", xLabel: "epoch", series: []series{
		{name: "Go", x: xs, y: []float64{80, 90, 92, 93}, color: goBlue, points: true},
		{name: "PyTorch", x: xs, y: []float64{81, 89, 93, 93.5}, color: torchRed},
	}}
	data, err := renderPlot([]panel{p, p})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 2*panelSize.X || b.Dy() != panelSize.Y {
		t.Fatalf("image %v, want %d×%d", b, 2*panelSize.X, panelSize.Y)
	}
	// Both series' colours appear.
	found := map[[3]uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			found[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	for _, c := range []struct{ r, g, b uint8 }{{goBlue.R, goBlue.G, goBlue.B}, {torchRed.R, torchRed.G, torchRed.B}} {
		if !found[[3]uint32{uint32(c.r), uint32(c.g), uint32(c.b)}] {
			t.Errorf("colour %v not drawn", c)
		}
	}
	if _, err := renderPlot([]panel{{title: "empty"}}); err == nil {
		t.Error("a panel without data rendered")
	}
}

func TestFontGlyphs(t *testing.T) {
	for r, g := range glyphs {
		for _, row := range g {
			if len(row) != 5 || strings.Trim(row, ".#") != "" {
				t.Errorf("glyph %q: row %q", r, row)
			}
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, 20, 10))
	drawText(img, 0, 0, "1", 1, black)
	// "1" has ink in column 2 of every row but the first.
	if img.RGBAAt(2, 3) != black || img.RGBAAt(0, 3) == black {
		t.Error("glyph 1 drawn wrongly")
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{{0, 1, "0.0 0.2 0.4 0.6 0.8 1.0"}, {91.3, 93.8, "91.5 92.0 92.5 93.0 93.5"}, {0, 6, "0 2 4 6"}, {0.12, 0.31, "0.15 0.20 0.25 0.30"}} {
		ticks := niceTicks(c.lo, c.hi, 5)
		var s []string
		for _, v := range ticks {
			s = append(s, tickLabel(v, ticks))
		}
		if got := strings.Join(s, " "); got != c.want {
			t.Errorf("niceTicks(%v, %v) = %s, want %s", c.lo, c.hi, got, c.want)
		}
	}
}

func TestUpdateReadmeKeepsOtherSections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	other := "# Title\n\n## Conversion\n\ntheir text\n"
	if err := os.WriteFile(path, []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateReadme(path, "table 1\n"); err != nil {
		t.Fatal(err)
	}
	if err := updateReadme(path, "table 2\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	s := string(got)
	if !strings.HasPrefix(s, other) || strings.Contains(s, "table 1") || strings.Count(s, "table 2") != 1 || strings.Count(s, "## Results") != 1 {
		t.Errorf("README after two updates:\n%s", s)
	}
}
