package convert_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// The identity rewrite of real exported CNNs, in every form: through our
// runtime the custom and functions forms must equal the original model's
// output within 1e-5 (max|y − y0| / max|y0|), the expanded form within 1e-4;
// through ONNX Runtime the functions and expanded
// forms must match our runtime on the original within 1e-4, and models at
// opset ≤ 17 must pass onnx 1.12's full check.
//
// The three models of ../shared/models are always checked (when present);
// the torchvision zoo of models/torchvision/out (or $DCNET_ZOO) is checked
// outside -short mode when it has been exported, and is required under CI.

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

func TestSharedModelsIdentity(t *testing.T) {
	checkRealModels(t, sharedModelsDir(), 3, true)
}

func TestZooIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("model zoo skipped in -short mode")
	}
	// The checker reads the whole model; on the zoo (up to 530 MB) it only
	// checks the functions form, the one its shape inference finds hardest.
	checkRealModels(t, zooDir(), 10, false)
}

// checkRealModels converts every X.onnx of dir that has X.input.npy. The
// onnx checker sees every form when checkAll is set, else the functions
// form only.
func checkRealModels(t *testing.T, dir string, atLeast int, checkAll bool) {
	inputs, _ := filepath.Glob(filepath.Join(dir, "*.input.npy"))
	if len(inputs) < atLeast {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %d models with inputs, want at least %d", dir, len(inputs), atLeast)
		}
		t.Skipf("%s: %d models with inputs (export them with models/torchvision/reference.sh)", dir, len(inputs))
	}
	sort.Strings(inputs)
	var report []string
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".input.npy")
		t.Run(name, func(t *testing.T) {
			report = append(report, checkRealModel(t, dir, name, checkAll)...)
		})
	}
	t.Logf("identity rewrite, max|y-y0|/max|y0| (y0: our runtime on the original model):\n%s", strings.Join(report, "\n"))
}

func checkRealModel(t *testing.T, dir, name string, checkAll bool) []string {
	path := filepath.Join(dir, name+".onnx")
	orig, err := onnx.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnx.LoadExternalData(orig, dir); err != nil {
		t.Fatal(err)
	}
	opset, _ := onnx.OpsetVersion(orig, "")
	x := readNpy(t, filepath.Join(dir, name+".input.npy"))
	s, err := runtime.NewSessionFromModel(orig)
	if err != nil {
		t.Fatal(err)
	}
	inName := s.Inputs()[0].Name
	feeds := map[string]*runtime.Tensor{inName: x}
	// Both sides without plan-time fusion: it folds BatchNormalization into plain Conv nodes
	// only, which would compare the rounding of the folded filters rather than the rewrite.
	ref := runModel(t, orig, feeds, runtime.WithoutFusion())
	var lines []string
	tmp := t.TempDir()
	for _, f := range []convert.Form{convert.Custom, convert.Functions, convert.Expanded} {
		m := proto.Clone(orig).(*onnx.ModelProto)
		res, err := convert.Rewrite(m, convert.Options{Operator: convert.Identity()})
		if err != nil {
			t.Fatal(err)
		}
		if err := convert.Convert(m, f); err != nil {
			t.Fatal(err)
		}
		ours := maxRelError(runModel(t, m, feeds, runtime.WithRegistry(decoupledRegistry()), runtime.WithoutFusion()).Float32s(), ref.Float32s())
		if tol := identityTolerance(f); ours > tol {
			t.Errorf("%v form on our runtime: max rel error %.3g > %g", f, ours, tol)
		}
		line := fmt.Sprintf("%-22s %-9v layers %3d  ours %.2e", name, f, len(res.Layers), ours)
		if f != convert.Custom && useTool(haveORT()) {
			file := saveModel(t, tmp, name+"_"+f.String()+".onnx", m)
			got := runORT(t, file, feeds)
			var y *runtime.Tensor
			for _, v := range got {
				y = v
			}
			ort := maxRelError(y.Float32s(), ref.Float32s())
			if ort > 1e-4 {
				t.Errorf("%v form on ONNX Runtime: max rel error %.3g > 1e-4", f, ort)
			}
			line += fmt.Sprintf("  ORT %.2e", ort)
			if refORT, err := npyTensor(filepath.Join(dir, name+".ref_ort.npy")); err == nil {
				line += fmt.Sprintf(" (vs ORT on the original %.2e)", maxRelError(y.Float32s(), refORT.Float32s()))
			}
			os.Remove(file)
		}
		if opset <= 17 && useTool(havePythonONNX()) && (checkAll || f == convert.Functions) {
			file := saveModel(t, tmp, name+"_"+f.String()+".onnx", m)
			if msg := checkONNX(t, file); msg != "" {
				t.Errorf("%v form: onnx checker: %s", f, msg)
			}
			line += "  checker ok"
			os.Remove(file)
		}
		lines = append(lines, line)
	}
	return lines
}

// identityTolerance bounds max|y − y0|/max|y0| for the identity rewrite on
// our runtime. The custom and functions forms run the fused kernel: 1e-5.
// The expanded form computes y = d·(wx/d), d = ‖w‖·‖x‖, with standard
// operators: two extra roundings per layer, compounded over deep networks
// (measured up to 2.3e-5 on the zoo), so it gets ONNX Runtime's 1e-4.
func identityTolerance(f convert.Form) float64 {
	if f == convert.Expanded {
		return 1e-4
	}
	return 1e-5
}

func npyTensor(path string) (*runtime.Tensor, error) {
	shape, data, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, ok := data.([]float32)
	if !ok {
		return nil, fmt.Errorf("%s: %T, want float32", path, data)
	}
	return runtime.New(shape, f), nil
}

func readNpy(t *testing.T, path string) *runtime.Tensor {
	t.Helper()
	x, err := npyTensor(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
