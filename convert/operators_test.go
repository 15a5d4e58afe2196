package convert_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Non-identity operators: the portable forms (function bodies and the
// inline expansion) against the fused DecoupledConv kernel of package
// decop, through our runtime and through ONNX Runtime. Every magnitude
// meets every angular, weighted and not, on plain, strided, grouped and
// depthwise layers, with hand-set per-channel parameters.

// decoupledRegistry is the standard operators plus DecoupledConv.
func decoupledRegistry() *runtime.Registry {
	r := runtime.Builtins()
	decop.Register(r)
	return r
}

// operatorChain is a chain of seven 3×3 Convs (one per magnitude) on
// x: [2, 4, 7, 7], with strides, groups and a depthwise layer among them.
func operatorChain(opset int64, seed uint64) *onnx.ModelProto {
	b := newGraph(fmt.Sprintf("chain%d", seed), opset, seed)
	in := "x"
	for i := range decop.Magnitudes() {
		name := fmt.Sprintf("conv%d", i)
		attrs := []*onnx.AttributeProto{onnx.AttrInts("pads", 1, 1, 1, 1)}
		perGroup := 4
		switch i % 4 {
		case 1:
			attrs = append(attrs, onnx.AttrInt("group", 2))
			perGroup = 2
		case 2:
			attrs = append(attrs, onnx.AttrInt("group", 4))
			perGroup = 1
		case 3:
			attrs = append(attrs, onnx.AttrInts("strides", 2, 2))
		}
		out := name + ".out"
		if i == len(decop.Magnitudes())-1 {
			out = "y"
		}
		b.node(name, "Conv", []string{in, b.weight(name+".weight", 0.4, 4, perGroup, 3, 3)}, []string{out}, attrs...)
		in = out
	}
	return b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, 2, 4, 9, 9), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, 2, 4, "", ""))
}

// decoupleChain rewrites layer i of the chain with magnitude i, angular
// (i+shift) mod 4, weighted when i+shift is odd, and sets random
// parameters. It returns the custom form.
func decoupleChain(t *testing.T, m *onnx.ModelProto, shift int, seed uint64) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	uniform := func(n int, lo, hi float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		return v
	}
	var ops []string
	for i, mag := range decop.Magnitudes() {
		op := convert.Operator{Magnitude: mag, Angular: decop.Angulars()[(i+shift)%4], Weighted: (i+shift)%2 == 1, K: 0.4, Eps: 1e-4}
		name := fmt.Sprintf("conv%d", i)
		res, err := convert.Rewrite(m, convert.Options{Operator: op, Selection: convert.Selection{Layers: regexp.MustCompile("^" + name + "$")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Layers) != 1 {
			t.Fatalf("%s: rewrote %d layers", name, len(res.Layers))
		}
		l := res.Layers[0]
		// r is about ‖x‖ ≈ 2..6 unweighted and ‖w‖·‖x‖ ≈ 2..12 weighted:
		// ρ in that range exercises both sides of ball, tanh and seg.
		p := convert.Params{Alpha: uniform(4, 0.5, 1.5), Bias: uniform(4, -0.2, 0.2)}
		if mag == decop.Ball || mag == decop.Tanh || mag == decop.Seg {
			p.Rho = uniform(4, 1, 6)
		}
		if l.Beta != "" {
			p.Beta = uniform(4, 0.2, 0.8)
		}
		if err := convert.SetParams(m, &l, p); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, fmt.Sprintf("%s=%v", name, op))
	}
	return ops
}

func TestOperatorsPortableMatchFusedKernel(t *testing.T) {
	dir := t.TempDir()
	type check struct {
		name, ops string
		ref       *runtime.Tensor
	}
	var checks []check
	var checkerFiles []string
	var batch *ortBatch
	if useTool(haveORT()) {
		batch = newORTBatch(t)
	}
	for _, opset := range []int64{11, 18} {
		for shift := range 4 {
			custom := operatorChain(opset, uint64(10+shift))
			ops := fmt.Sprint(decoupleChain(t, custom, shift, uint64(20+shift)))
			in := map[string]*runtime.Tensor{"x": smallInput([]int{2, 4, 9, 9}, uint64(30+shift))}
			ref := runModel(t, custom, in, runtime.WithRegistry(decoupledRegistry()))
			for _, f := range []convert.Form{convert.Functions, convert.Expanded} {
				name := fmt.Sprintf("opset%d_shift%d_%v", opset, shift, f)
				m := proto.Clone(custom).(*onnx.ModelProto)
				if err := convert.Convert(m, f); err != nil {
					t.Fatal(err)
				}
				if f == convert.Expanded {
					ours := runModel(t, m, in)
					rel := maxRelError(ours.Float32s(), ref.Float32s())
					t.Logf("%-26s our runtime: max rel error %.3g", name, rel)
					if rel > 1e-4 {
						t.Errorf("%s on our runtime: max rel error %.3g > 1e-4 (%s)", name, rel, ops)
					}
				}
				path := saveModel(t, dir, name+".onnx", m)
				if opset <= 17 {
					checkerFiles = append(checkerFiles, path)
				}
				if batch != nil {
					batch.add(t, path, in)
					checks = append(checks, check{name, ops, ref})
				}
			}
		}
	}
	if useTool(havePythonONNX()) {
		for path, msg := range checkONNXFiles(t, checkerFiles) {
			if msg != "" {
				t.Errorf("%s: onnx checker: %s", filepath.Base(path), msg)
			}
		}
	}
	if batch != nil {
		for i, out := range batch.run(t) {
			c := checks[i]
			rel := maxRelError(out["y"].Float32s(), c.ref.Float32s())
			t.Logf("%-26s ONNX Runtime: max rel error %.3g", c.name, rel)
			if rel > 1e-4 {
				t.Errorf("%s on ONNX Runtime: max rel error %.3g > 1e-4 (%s)", c.name, rel, c.ops)
			}
		}
	} else {
		need(t, false, "ONNX Runtime for Node.js")
	}
}
