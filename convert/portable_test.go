package convert_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/runtime"
)

// ONNX Runtime runs the identity rewrite in the functions and expanded
// forms and matches our runtime on the original model within 1e-4.
func TestIdentityPortableFormsOnORT(t *testing.T) {
	batch := newORTBatch(t)
	dir := t.TempDir()
	type check struct {
		name string
		ref  *runtime.Tensor
	}
	var checks []check
	for _, sm := range smallModels {
		for _, f := range []convert.Form{convert.Functions, convert.Expanded} {
			orig := sm.build()
			conv, _ := rewriteIdentity(t, orig, f)
			in := inputsFor(sm, orig)
			name := fmt.Sprintf("%s_%v", sm.name, f)
			batch.add(t, saveModel(t, dir, name+".onnx", conv), in)
			checks = append(checks, check{name, runModel(t, orig, in)})
		}
	}
	for i, out := range batch.run(t) {
		c := checks[i]
		got := out["y"]
		if got == nil {
			t.Errorf("%s: ONNX Runtime returned no output y", c.name)
			continue
		}
		rel := maxRelError(got.Float32s(), c.ref.Float32s())
		t.Logf("%-30s ORT vs our runtime on the original: max rel error %.3g", c.name, rel)
		if rel > 1e-4 {
			t.Errorf("%s: max|y-ref|/max|ref| = %.3g > 1e-4", c.name, rel)
		}
	}
}

// Every form of the rewritten small models (all at opset ≤ 17) passes
// onnx.checker.check_model(full_check=True) of onnx 1.12.
func TestFormsPassONNXChecker(t *testing.T) {
	need(t, havePythonONNX(), "python3-onnx")
	dir := t.TempDir()
	var paths []string
	for _, sm := range smallModels {
		if sm.name == "conv_relu_gemm_opset18" {
			continue // onnx 1.12 knows opsets up to 17
		}
		for _, f := range []convert.Form{convert.Custom, convert.Functions, convert.Expanded} {
			conv, _ := rewriteIdentity(t, sm.build(), f)
			paths = append(paths, saveModel(t, dir, fmt.Sprintf("%s_%v.onnx", sm.name, f), conv))
		}
	}
	for path, msg := range checkONNXFiles(t, paths) {
		if msg != "" {
			t.Errorf("%s: checker: %s", filepath.Base(path), msg)
		}
	}
}
