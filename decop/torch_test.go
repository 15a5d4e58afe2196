package decop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// The PyTorch cross-check: testdata/torch_reference.py evaluates the spec's
// formulas in float64 with torch ops (the spec's portable form: F.conv2d for
// the dot products, F.conv2d of X² with an all-ones kernel for the patch
// norms) and stores inputs, outputs and attributes in testdata/torch. This
// test runs the same configurations through a one-node model on the Go
// runtime.

// torchDir holds the fixtures written by testdata/torch_reference.py.
var torchDir = filepath.Join("testdata", "torch")

// torchTolerance is the spec's bound on ‖y − y_ref‖ / ‖y_ref‖ for a float32
// implementation against a float64 evaluation.
const torchTolerance = 1e-5

// torchInputNames are the operator's inputs in order.
var torchInputNames = []string{"X", "W", "B", "Alpha", "Rho", "Beta"}

// torchManifest mirrors testdata/torch/manifest.json.
type torchManifest struct {
	Torch   string        `json:"torch"`
	Configs []torchConfig `json:"configs"`
}

// torchConfig is one fixture: the node's attributes, its inputs (nil when
// absent) and the float64 reference output.
type torchConfig struct {
	Name       string        `json:"name"`
	Attributes []torchAttr   `json:"attributes"`
	Inputs     []*torchArray `json:"inputs"`
	Output     torchArray    `json:"output"`
}

type torchAttr struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"` // "string", "int", "float" or "ints"
	Value json.RawMessage `json:"value"`
}

type torchArray struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Shape []int  `json:"shape"`
}

func TestDecoupledConvMatchesTorch(t *testing.T) {
	manifest := loadTorchManifest(t)
	if len(manifest.Configs) == 0 {
		t.Fatal("the manifest lists no configurations")
	}
	for _, cfg := range manifest.Configs {
		t.Run(cfg.Name, func(t *testing.T) {
			inputs := loadTorchInputs(t, cfg)
			want := readTorchFloat64(t, cfg.Output)
			for _, mode := range []struct {
				name    string
				consts  bool // W, B, Alpha, Rho, Beta as initializers (known at plan time)
				threads int
			}{
				{"graph inputs", false, 1},
				{"initializers", true, 2},
			} {
				got := runTorchConfig(t, cfg, inputs, mode.consts, mode.threads)
				if !reflect.DeepEqual(got.Shape(), cfg.Output.Shape) {
					t.Fatalf("%s: output shape %v, torch gives %v", mode.name, got.Shape(), cfg.Output.Shape)
				}
				relErr, bad := torchRelativeError(got.Float32s(), want)
				t.Logf("%s: ‖y − y_torch‖/‖y_torch‖ = %.3g", mode.name, relErr)
				if bad >= 0 {
					t.Errorf("%s: element %d is %v (torch: %v)", mode.name, bad, got.Float32s()[bad], want[bad])
				}
				if !(relErr <= torchTolerance) {
					t.Errorf("%s: relative error %.3g exceeds %g", mode.name, relErr, torchTolerance)
				}
			}
		})
	}
}

func loadTorchManifest(t *testing.T) torchManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(torchDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m torchManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return m
}

// loadTorchInputs reads the configuration's float32 inputs; absent inputs
// stay nil.
func loadTorchInputs(t *testing.T, cfg torchConfig) []*runtime.Tensor {
	t.Helper()
	if len(cfg.Inputs) != len(torchInputNames) {
		t.Fatalf("manifest lists %d inputs, want %d", len(cfg.Inputs), len(torchInputNames))
	}
	out := make([]*runtime.Tensor, len(cfg.Inputs))
	for i, in := range cfg.Inputs {
		if in == nil {
			continue
		}
		if in.Name != torchInputNames[i] {
			t.Fatalf("input %d is %q, want %q", i, in.Name, torchInputNames[i])
		}
		shape, data, err := npy.ReadFile(filepath.Join(torchDir, in.File))
		if err != nil {
			t.Fatal(err)
		}
		f32, ok := data.([]float32)
		if !ok || !reflect.DeepEqual(shape, in.Shape) {
			t.Fatalf("%s: %T %v, manifest says float32 %v", in.File, data, shape, in.Shape)
		}
		out[i] = runtime.New(shape, f32)
	}
	return out
}

func readTorchFloat64(t *testing.T, a torchArray) []float64 {
	t.Helper()
	shape, data, err := npy.ReadFile(filepath.Join(torchDir, a.File))
	if err != nil {
		t.Fatal(err)
	}
	f64, ok := data.([]float64)
	if !ok || !reflect.DeepEqual(shape, a.Shape) {
		t.Fatalf("%s: %T %v, manifest says float64 %v", a.File, data, shape, a.Shape)
	}
	return f64
}

// runTorchConfig builds the configuration's one-node model and runs it on
// the runtime with DecoupledConv registered. With consts, every input but X
// is an initializer; otherwise all are fed at run time.
func runTorchConfig(t *testing.T, cfg torchConfig, inputs []*runtime.Tensor, consts bool, threads int) *runtime.Tensor {
	t.Helper()
	model, feeds := torchModel(t, cfg, inputs, consts)
	reg := runtime.Builtins()
	decop.Register(reg)
	s, err := runtime.NewSessionFromModel(model, runtime.WithRegistry(reg), runtime.WithThreads(threads))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), feeds)
	if err != nil {
		t.Fatal(err)
	}
	y := out["Y"]
	if y == nil || y.DType() != runtime.Float32 {
		t.Fatalf("output Y: %v, want a float32 tensor", y)
	}
	return y
}

// torchModel returns the one-node model (inputs named after the operator's
// inputs, output "Y") and the feeds for its graph inputs.
func torchModel(t *testing.T, cfg torchConfig, inputs []*runtime.Tensor, consts bool) (*onnx.ModelProto, map[string]*runtime.Tensor) {
	t.Helper()
	node := &onnx.NodeProto{
		Name:      proto.String(cfg.Name),
		OpType:    proto.String(decop.OpType),
		Domain:    proto.String(decop.Domain),
		Output:    []string{"Y"},
		Attribute: torchAttributes(t, cfg.Attributes),
	}
	g := &onnx.GraphProto{Name: proto.String(cfg.Name), Node: []*onnx.NodeProto{node},
		Output: []*onnx.ValueInfoProto{{Name: proto.String("Y")}}}
	feeds := map[string]*runtime.Tensor{}
	last := 0 // trailing absent inputs are left out; inner ones get the empty name
	for i, in := range inputs {
		if in != nil {
			last = i
		}
	}
	for i, in := range inputs[:last+1] {
		name := torchInputNames[i]
		if in == nil {
			node.Input = append(node.Input, "")
			continue
		}
		node.Input = append(node.Input, name)
		if consts && i > 0 {
			tp, err := in.ToProto(name)
			if err != nil {
				t.Fatal(err)
			}
			g.Initializer = append(g.Initializer, tp)
			continue
		}
		dims := make([]any, len(in.Shape()))
		for j, d := range in.Shape() {
			dims[j] = d
		}
		g.Input = append(g.Input, onnx.ValueInfo(name, onnx.TensorProto_FLOAT, dims...))
		feeds[name] = in
	}
	model := &onnx.ModelProto{
		IrVersion: proto.Int64(8),
		Graph:     g,
		OpsetImport: []*onnx.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(17)},
			{Domain: proto.String(decop.Domain), Version: proto.Int64(decop.Version)},
		},
	}
	return model, feeds
}

// torchAttributes converts the manifest's typed attributes to ONNX ones
// (floats are stored as float32, as the fixtures' reference used them).
func torchAttributes(t *testing.T, attrs []torchAttr) []*onnx.AttributeProto {
	t.Helper()
	var out []*onnx.AttributeProto
	for _, a := range attrs {
		var err error
		switch a.Type {
		case "string":
			var v string
			err = json.Unmarshal(a.Value, &v)
			out = append(out, onnx.AttrString(a.Name, v))
		case "int":
			var v int64
			err = json.Unmarshal(a.Value, &v)
			out = append(out, onnx.AttrInt(a.Name, v))
		case "float":
			var v float64
			err = json.Unmarshal(a.Value, &v)
			out = append(out, onnx.AttrFloat(a.Name, float32(v)))
		case "ints":
			var v []int64
			err = json.Unmarshal(a.Value, &v)
			out = append(out, onnx.AttrInts(a.Name, v...))
		default:
			err = fmt.Errorf("unknown type %q", a.Type)
		}
		if err != nil {
			t.Fatalf("attribute %q: %v", a.Name, err)
		}
	}
	return out
}

// torchRelativeError returns ‖got − want‖/‖want‖ and the index of the first
// non-finite element of got (−1 if none).
func torchRelativeError(got []float32, want []float64) (float64, int) {
	bad := -1
	var diff, norm float64
	for i, w := range want {
		g := float64(got[i])
		if bad < 0 && (math.IsNaN(g) || math.IsInf(g, 0)) {
			bad = i
		}
		diff += (g - w) * (g - w)
		norm += w * w
	}
	return math.Sqrt(diff / norm), bad
}
