package runtime_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"google.golang.org/protobuf/proto"
)

// Real exported CNNs against ONNX Runtime 1.30's outputs on the same input:
// max|y − ref| / max|ref| ≤ 1e-4.
//
// The three models of ../shared/models are always checked (when present);
// the torchvision zoo that models/torchvision/reference.sh exports (into
// models/torchvision/out, or $DCNET_ZOO) is checked when it exists and is
// required under CI.
const modelTolerance = 1e-4

func sharedModelsDir() string {
	if d := os.Getenv("DCNET_SHARED_MODELS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "models")
}

func zooDir() string {
	if d := os.Getenv("DCNET_ZOO"); d != "" {
		return d
	}
	return filepath.Join("..", "models", "torchvision", "out")
}

func TestSharedModelsMatchOnnxRuntime(t *testing.T) {
	checkModelDir(t, sharedModelsDir(), 3)
}

func TestTorchvisionZooMatchesOnnxRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("model zoo skipped in -short mode")
	}
	checkModelDir(t, zooDir(), 10)
}

// checkModelDir runs every X.onnx that has X.input.npy and X.ref_ort.npy.
func checkModelDir(t *testing.T, dir string, atLeast int) {
	refs, _ := filepath.Glob(filepath.Join(dir, "*.ref_ort.npy"))
	if len(refs) < atLeast {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %d models with ONNX Runtime references, want at least %d", dir, len(refs), atLeast)
		}
		t.Skipf("%s: %d models with references (generate them with models/torchvision/reference.sh)", dir, len(refs))
	}
	sort.Strings(refs)
	var summary []string
	for _, ref := range refs {
		name := strings.TrimSuffix(filepath.Base(ref), ".ref_ort.npy")
		t.Run(name, func(t *testing.T) {
			rel := runModelAgainstRef(t, dir, name)
			summary = append(summary, fmt.Sprintf("%-28s %.2e", name, rel))
			if rel > modelTolerance {
				t.Errorf("max|y-ref|/max|ref| = %.3g > %g", rel, modelTolerance)
			}
		})
	}
	t.Logf("model, max|y-ref|/max|ref| against ONNX Runtime 1.30:\n%s", strings.Join(summary, "\n"))
}

func runModelAgainstRef(t *testing.T, dir, name string) float64 {
	path := filepath.Join(dir, name+".onnx")
	s, err := runtime.NewSession(path)
	if err != nil {
		t.Fatal(err)
	}
	x := readNpyTensor(t, filepath.Join(dir, name+".input.npy"))
	ref := readNpyTensor(t, filepath.Join(dir, name+".ref_ort.npy"))
	res, err := s.Run(context.Background(), map[string]*runtime.Tensor{s.Inputs()[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	y := res[s.Outputs()[0].Name]
	if !runtime.SameShape(y.Shape(), ref.Shape()) {
		t.Fatalf("output shape %v, reference %v", y.Shape(), ref.Shape())
	}
	return maxRelError(y.Float32s(), ref.Float32s())
}

func readNpyTensor(t *testing.T, path string) *runtime.Tensor {
	t.Helper()
	shape, data, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := data.([]float32)
	if !ok {
		t.Fatalf("%s: %T, want float32", path, data)
	}
	return runtime.New(shape, f)
}

// maxRelError is max|y − ref| / max|ref|, computed in float64.
func maxRelError(y, ref []float32) float64 {
	var diff, scale float64
	for i := range ref {
		diff = math.Max(diff, math.Abs(float64(y[i])-float64(ref[i])))
		scale = math.Max(scale, math.Abs(float64(ref[i])))
		if math.IsNaN(float64(y[i])) {
			return math.Inf(1)
		}
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// Every model above survives a save/load round trip unchanged.
func TestModelsRoundTrip(t *testing.T) {
	var paths []string
	for _, dir := range []string{sharedModelsDir(), zooDir()} {
		p, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
		paths = append(paths, p...)
	}
	if len(paths) == 0 {
		t.Skip("no models")
	}
	for _, path := range paths {
		m, err := onnx.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := onnx.Save(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := onnx.Load(b)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(m, m2) {
			t.Errorf("%s: Save(Load(m)) differs from m", path)
		}
	}
	t.Logf("%d models round-trip", len(paths))
}
