package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/models/fmnist/zoo"
)

// The end-to-end check of a decoupled network: models/fmnist/decoupled/
// build_demo.py turned the trained CNN9 (BatchNormalization kept) into
// DecoupledConv (tanh:cos) layers mixed with BatchNormalization, Relu,
// MaxPool, GlobalAveragePool, Flatten and Gemm, and stored the logits that
// its float64 PyTorch evaluation gives on the first 5000 Fashion-MNIST test
// images. dcrun must reproduce them from the raw dataset.

// fashionMNISTDir holds Debian's copy of the dataset.
const fashionMNISTDir = "/usr/share/datasets/fashion-mnist"

var (
	decoupledDemoModel = filepath.Join("..", "..", "models", "fmnist", "decoupled", "cnn9_tanh_cos.onnx")
	decoupledDemoRef   = filepath.Join("..", "..", "models", "fmnist", "decoupled", "cnn9_tanh_cos.t10k5000.ref.npy")
)

// decoupledDemoTolerance bounds max|y − ref| / max|ref| over a batch.
const decoupledDemoTolerance = 1e-4

func TestInferDecoupledFashionMNIST(t *testing.T) {
	ref := readDecoupledRef(t)
	refRows := len(ref) / 10
	count := refRows
	if testing.Short() {
		count = 500
	}
	images, labels := loadFashionMNISTTest(t, count)
	for _, c := range []struct {
		name         string
		first, batch int
	}{
		{fmt.Sprintf("batch of %d", count), 0, count},
		{"batch of 1", 0, 1},
		{"batch of 3", count - 3, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "x.npy")
			x := images[c.first*28*28 : (c.first+c.batch)*28*28]
			if err := npy.WriteFile(in, []int{c.batch, 1, 28, 28}, x); err != nil {
				t.Fatal(err)
			}
			outDir := filepath.Join(dir, "out")
			mustSucceed(t, "infer", decoupledDemoModel, "-i", in, "-o", outDir)
			got := readDecoupledLogits(t, filepath.Join(outDir, "logits.npy"), c.batch)
			want := ref[c.first*10 : (c.first+c.batch)*10]
			relErr := decoupledMaxRelError(got, want)
			t.Logf("max|y − y_torch| / max|y_torch| = %.3g over %d images", relErr, c.batch)
			if !(relErr <= decoupledDemoTolerance) {
				t.Errorf("logits differ from the PyTorch reference: %.3g > %g", relErr, decoupledDemoTolerance)
			}
			if c.batch == count {
				acc, refAcc := fmnistAccuracy(got, labels), fmnistAccuracy(want, labels)
				t.Logf("accuracy on the first %d test images: %.2f %% (PyTorch reference: %.2f %%)", count, acc, refAcc)
			}
		})
	}
}

// readDecoupledRef reads the committed PyTorch logits, float32 [5000, 10].
func readDecoupledRef(t *testing.T) []float32 {
	t.Helper()
	shape, data, err := npy.ReadFile(decoupledDemoRef)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := data.([]float32)
	if !ok || len(shape) != 2 || shape[1] != 10 {
		t.Fatalf("%s: %T %v, want float32 [N, 10]", decoupledDemoRef, data, shape)
	}
	return ref
}

func readDecoupledLogits(t *testing.T, path string, batch int) []float32 {
	t.Helper()
	shape, data, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	logits, ok := data.([]float32)
	if !ok || !reflect.DeepEqual(shape, []int{batch, 10}) {
		t.Fatalf("%s: %T %v, want float32 [%d 10]", path, data, shape, batch)
	}
	return logits
}

// decoupledMaxRelError returns max|got − want| / max|want|; NaN in got gives +Inf.
func decoupledMaxRelError(got, want []float32) float64 {
	var diff, scale float64
	for i, w := range want {
		d := math.Abs(float64(got[i]) - float64(w))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		diff = max(diff, d)
		scale = max(scale, math.Abs(float64(w)))
	}
	return diff / scale
}

// fmnistAccuracy returns the percentage of rows of logits [N, 10] whose largest
// entry is the label.
func fmnistAccuracy(logits []float32, labels []uint8) float64 {
	n := len(logits) / 10
	correct := 0
	for i := range n {
		row := logits[i*10 : (i+1)*10]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == int(labels[i]) {
			correct++
		}
	}
	return 100 * float64(correct) / float64(n)
}

// loadFashionMNISTTest returns the first n test images, normalised as the
// models expect ((p/255 − Mean)/Std, computed in float64 and rounded once):
// float32 [n, 1, 28, 28] flattened, and their labels. Without the dataset
// the test is skipped, unless CI is set.
func loadFashionMNISTTest(t *testing.T, n int) ([]float32, []uint8) {
	t.Helper()
	if _, err := os.Stat(fashionMNISTDir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Fashion-MNIST is required in CI: %v", err)
		}
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
	pixels, dims, err := readFashionIDX(filepath.Join(fashionMNISTDir, "t10k-images-idx3-ubyte.gz"), 3, n)
	if err != nil {
		t.Fatal(err)
	}
	if dims[1] != 28 || dims[2] != 28 {
		t.Fatalf("test images are %v, want N×28×28", dims)
	}
	labels, _, err := readFashionIDX(filepath.Join(fashionMNISTDir, "t10k-labels-idx1-ubyte.gz"), 1, n)
	if err != nil {
		t.Fatal(err)
	}
	images := make([]float32, len(pixels))
	for i, p := range pixels {
		images[i] = float32((float64(p)/255 - zoo.Mean) / zoo.Std)
	}
	return images, labels
}

// readFashionIDX reads the first n items of a gzipped IDX file of unsigned bytes
// with rank dimensions (magic 0x0000 0x08 rank, then the big-endian
// dimensions), returning their bytes and the file's dimensions.
func readFashionIDX(path string, rank, n int) ([]uint8, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	header := make([]uint32, 1+rank)
	if err := binary.Read(z, binary.BigEndian, header); err != nil {
		return nil, nil, fmt.Errorf("%s: header: %w", path, err)
	}
	if want := uint32(0x0800 | rank); header[0] != want {
		return nil, nil, fmt.Errorf("%s: magic %#08x, want %#08x (unsigned bytes, rank %d)", path, header[0], want, rank)
	}
	dims := make([]int, rank)
	item := 1
	for i, d := range header[1:] {
		dims[i] = int(d)
		if i > 0 {
			item *= int(d)
		}
	}
	if dims[0] < n {
		return nil, nil, fmt.Errorf("%s: %d items, want at least %d", path, dims[0], n)
	}
	data := make([]uint8, n*item)
	if _, err := io.ReadFull(z, data); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, dims, nil
}
