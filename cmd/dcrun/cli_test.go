package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/internal/cliutil/clitest"
	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/models/fmnist/zoo"
)

// dcrunBin is the command built once by TestMain; the tests run it as a
// subprocess, as a user would.
var dcrunBin string

func TestMain(m *testing.M) { clitest.Main(m, "dcrun", &dcrunBin) }

type result = clitest.Result

// dcrun runs the binary with args.
func dcrun(t *testing.T, args ...string) result {
	t.Helper()
	return clitest.Run(t, dcrunBin, args...)
}

// mustSucceed runs dcrun, stops the test on a non-zero exit and returns
// the standard output.
func mustSucceed(t *testing.T, args ...string) string {
	t.Helper()
	return clitest.MustSucceed(t, dcrunBin, args...).Stdout
}

// mustFail checks that dcrun fails with exactly one line on stderr that
// contains every one of wants, and no traces of a panic.
func mustFail(t *testing.T, args []string, wants ...string) {
	t.Helper()
	r := dcrun(t, args...)
	if r.Code == 0 {
		t.Errorf("dcrun %s: succeeded, want failure\nstdout: %s", strings.Join(args, " "), r.Stdout)
		return
	}
	lines := strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "dcrun: ") {
		t.Errorf("dcrun %s: stderr is not one \"dcrun: \" line:\n%s", strings.Join(args, " "), r.Stderr)
	}
	for _, w := range wants {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("dcrun %s: stderr %q lacks %q", strings.Join(args, " "), r.Stderr, w)
		}
	}
	for _, bad := range []string{"panic", "goroutine", ".go:"} {
		if strings.Contains(r.Stderr+r.Stdout, bad) {
			t.Errorf("dcrun %s: output mentions %q:\n%s%s", strings.Join(args, " "), bad, r.Stdout, r.Stderr)
		}
	}
}

// randomValues returns n float64 values in [-1, 1).
func randomValues(seed uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	out := make([]float64, n)
	for i := range out {
		out[i] = rng.Float64()*2 - 1
	}
	return out
}

// roundToFloat32 mimics the float64 → float32 conversion dcrun applies for
// a FLOAT input.
func roundToFloat32(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(float32(v))
	}
	return out
}

// checkNpy reads an output file and compares it with the reference.
func checkNpy(t *testing.T, path string, wantShape []int, want []float64) {
	t.Helper()
	shape, data, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, wantShape) {
		t.Fatalf("%s: shape %v, want %v", path, shape, wantShape)
	}
	got, ok := data.([]float32)
	if !ok {
		t.Fatalf("%s: %T data, want float32", path, data)
	}
	for i := range want {
		// float32 arithmetic over a 3×3×3 window and a 36-pixel mean.
		if d := math.Abs(float64(got[i]) - want[i]); d > 1e-5*(1+math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %v, want %v", path, i, got[i], want[i])
		}
	}
}

func TestInferNpyToFiles(t *testing.T) {
	dir := t.TempDir()
	net := newTinyNet()
	model := net.save(t, dir, "tiny.onnx", "batch", nil)
	const batch = 2
	x := randomValues(1, batch*tinyC*tinyH*tinyW)
	in := filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(in, []int{batch, tinyC, tinyH, tinyW}, x); err != nil { // float64: dcrun converts
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out", "nested")
	stdout := mustSucceed(t, "infer", model, "-i", "x="+in, "-o", outDir)
	logits, feat := net.forward(roundToFloat32(x), batch)
	checkNpy(t, filepath.Join(outDir, "logits.npy"), []int{batch, tinyClasses}, logits)
	checkNpy(t, filepath.Join(outDir, "feat_avg_0.npy"), []int{batch, 3}, feat)
	if !strings.Contains(stdout, "feat_avg_0.npy") || !strings.Contains(stdout, "logits.npy") {
		t.Errorf("stdout does not list the files written:\n%s", stdout)
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != 2 {
		t.Errorf("output directory holds %d entries, want 2 (no temporary files)", len(entries))
	}
}

// writePNG writes an RGB image of 8-bit pixels given as [3][h*w] planes.
func writePNG(t *testing.T, path string, planes [3][]uint8, h, w int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			i := y*w + x
			img.SetNRGBA(x, y, color.NRGBA{planes[0][i], planes[1][i], planes[2][i], 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInferImagesStackedIntoBatch(t *testing.T) {
	dir := t.TempDir()
	net := newTinyNet()
	model := net.save(t, dir, "tiny.onnx", "batch", nil)
	rng := rand.New(rand.NewPCG(3, 3))
	mean, std := []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}
	var x []float64
	var paths []string
	for k := range 2 {
		var planes [3][]uint8
		for c := range 3 {
			planes[c] = make([]uint8, tinyH*tinyW)
			for i := range planes[c] {
				planes[c][i] = uint8(rng.IntN(256))
				// ImageNet normalisation, computed by hand; the image is
				// already 6×6, so nothing is resized.
				x = append(x, (float64(planes[c][i])/255-mean[c])/std[c])
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("img%d.png", k))
		writePNG(t, p, planes, tinyH, tinyW)
		paths = append(paths, p)
	}
	outDir := filepath.Join(dir, "out")
	mustSucceed(t, "infer", model, paths[0], "-i", paths[1], "-o", outDir)
	logits, _ := net.forward(roundToFloat32(x), 2)
	checkNpy(t, filepath.Join(outDir, "logits.npy"), []int{2, tinyClasses}, logits)
}

// topLine matches one line of the top-k listing.
var topLine = regexp.MustCompile(`^\s+(\d+)\. class (\d+)(?: \(([^)]*)\))?  logit=(\S+)  p=(\S+)$`)

func TestInferPrintsTopK(t *testing.T) {
	dir := t.TempDir()
	net := newTinyNet()
	labels := []string{"cat", "dog", "bird", "fish"}
	for _, c := range []struct {
		name  string
		meta  map[string]string
		flags []string
	}{
		{"labels file", nil, []string{"--labels", writeLabels(t, dir, labels)}},
		{"labels in metadata", map[string]string{"labels": `["cat", "dog", "bird", "fish"]`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			model := net.save(t, dir, "tiny.onnx", "batch", c.meta)
			x := randomValues(5, tinyC*tinyH*tinyW)
			in := filepath.Join(dir, "x.npy")
			if err := npy.WriteFile(in, []int{tinyC, tinyH, tinyW}, toFloat32(x)); err != nil { // no batch dimension
				t.Fatal(err)
			}
			stdout := mustSucceed(t, append([]string{"infer", model, "-i", in, "--top", "3"}, c.flags...)...)
			logits, _ := net.forward(roundToFloat32(x), 1)
			checkTopK(t, stdout, logits, labels, 3)
		})
	}
}

func writeLabels(t *testing.T, dir string, labels []string) string {
	t.Helper()
	p := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(p, []byte(strings.Join(labels, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// checkTopK parses the logits block of the printed summary and compares it
// with the float64 reference: order, labels, logits and softmax.
func checkTopK(t *testing.T, stdout string, logits []float64, labels []string, k int) {
	t.Helper()
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range logits {
		lo, hi = min(lo, v), max(hi, v)
	}
	header := fmt.Sprintf("logits: FLOAT [1 %d], min ", len(logits))
	i := strings.Index(stdout, header)
	if i < 0 {
		t.Fatalf("no %q line in:\n%s", header, stdout)
	}
	lines := strings.Split(stdout[i:], "\n")
	var gotMin, gotMax float64
	if _, err := fmt.Sscanf(lines[0][len(header)-len("min "):], "min %g, max %g", &gotMin, &gotMax); err != nil {
		t.Fatalf("cannot parse %q: %v", lines[0], err)
	}
	if math.Abs(gotMin-lo) > 1e-4 || math.Abs(gotMax-hi) > 1e-4 {
		t.Errorf("min %v max %v, want %v %v", gotMin, gotMax, lo, hi)
	}
	if !strings.Contains(lines[1], fmt.Sprintf("top %d of %d", k, len(logits))) || !strings.Contains(lines[1], "logits") {
		t.Errorf("unexpected row header %q", lines[1])
	}
	// The reference ranking and softmax.
	order := make([]int, len(logits))
	for j := range order {
		order[j] = j
	}
	sortByValueDesc(order, logits)
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(v - hi)
	}
	for rank := range k {
		m := topLine.FindStringSubmatch(lines[2+rank])
		if m == nil {
			t.Fatalf("line %q does not look like a top-k entry", lines[2+rank])
		}
		want := order[rank]
		logit, _ := strconv.ParseFloat(m[4], 64)
		p, _ := strconv.ParseFloat(m[5], 64)
		if m[1] != strconv.Itoa(rank+1) || m[2] != strconv.Itoa(want) || m[3] != labels[want] ||
			math.Abs(logit-logits[want]) > 1e-4 || math.Abs(p-math.Exp(logits[want]-hi)/sum) > 1e-4 {
			t.Errorf("rank %d: got %q, want class %d (%s) logit %.4f p %.4f", rank+1, lines[2+rank], want, labels[want], logits[want], math.Exp(logits[want]-hi)/sum)
		}
	}
}

func sortByValueDesc(idx []int, v []float64) {
	for i := range idx {
		for j := i + 1; j < len(idx); j++ {
			if v[idx[j]] > v[idx[i]] {
				idx[i], idx[j] = idx[j], idx[i]
			}
		}
	}
}

func TestInfo(t *testing.T) {
	dir := t.TempDir()
	model := newTinyNet().save(t, dir, "tiny.onnx", "batch", nil)
	out := mustSucceed(t, "info", model)
	for _, want := range []string{
		"ir_version:  7",
		"producer:    dcrun-test 1",
		"opsets:      ai.onnx 13",
		"  x FLOAT[batch 3 6 6]",
		"  logits FLOAT[batch 4]",
		"  feat/avg:0 FLOAT[batch 3]",
		"parameters:  100 (0.00 MB) in 4 initializers", // 81 + 3 + 12 + 4
		"nodes:       5",
		"runnable:    yes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}
	var info modelInfo
	if err := json.Unmarshal([]byte(mustSucceed(t, "info", "--json", model)), &info); err != nil {
		t.Fatal(err)
	}
	wantOps := []opCount{{Op: "Conv", Count: 1}, {Op: "Flatten", Count: 1}, {Op: "Gemm", Count: 1}, {Op: "GlobalAveragePool", Count: 1}, {Op: "Relu", Count: 1}}
	if info.Parameters != 3*3*3*3+3+tinyClasses*3+tinyClasses || info.ParameterBytes != 4*info.Parameters ||
		!reflect.DeepEqual(info.Ops, wantOps) || info.Opsets["ai.onnx"] != 13 || !info.Runnable || info.Nodes != 5 ||
		!reflect.DeepEqual(info.Inputs, []valueDesc{{"x", "FLOAT", []string{"batch", "3", "6", "6"}}}) {
		t.Errorf("info --json = %+v", info)
	}
}

func TestUnsupportedOperator(t *testing.T) {
	dir := t.TempDir()
	model := unsupportedModel(t, dir)
	const why = `node "x" (Foo): unsupported operator ai.onnx/Foo at opset 13`
	out := mustSucceed(t, "info", model)
	if !strings.Contains(out, "runnable:    no (") || !strings.Contains(out, why) {
		t.Errorf("info does not report the unsupported operator:\n%s", out)
	}
	in := filepath.Join(dir, "in.npy")
	if err := npy.WriteFile(in, []int{1, 3}, []float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	mustFail(t, []string{"infer", model, "-i", in}, model+": ", why)
	mustFail(t, []string{"bench", model}, why)
}

func TestBenchJSON(t *testing.T) {
	dir := t.TempDir()
	net := newTinyNet()
	model := net.save(t, dir, "tiny.onnx", "batch", nil)
	out := mustSucceed(t, "bench", model, "--batch", "3", "--runs", "4", "--warmup", "1", "--threads", "1", "--json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	for _, k := range []string{"median_ms", "p90_ms", "min_ms", "mean_ms", "throughput", "runs", "threads", "batch", "model", "peak_heap_mb"} {
		if _, ok := res[k]; !ok {
			t.Errorf("bench --json lacks %q: %s", k, out)
		}
	}
	if res["batch"] != 3.0 || res["runs"] != 4.0 || res["threads"] != 1.0 || res["model"] != model {
		t.Errorf("bench --json = %s", out)
	}
	minMs, median, p90 := res["min_ms"].(float64), res["median_ms"].(float64), res["p90_ms"].(float64)
	if !(minMs > 0 && minMs <= median && median <= p90) {
		t.Errorf("inconsistent latencies: min %v median %v p90 %v", minMs, median, p90)
	}
	if tp := res["throughput"].(float64); math.Abs(tp-3/(median/1e3)) > 1e-6*tp {
		t.Errorf("throughput %v, want batch/median = %v", tp, 3/(median/1e3))
	}
	inputs := res["inputs"].([]any)
	if shape := inputs[0].(map[string]any)["shape"]; !reflect.DeepEqual(shape, []any{3.0, 3.0, 6.0, 6.0}) {
		t.Errorf("bench input shape %v, want [3 3 6 6]", shape)
	}

	text := mustSucceed(t, "bench", model, "--runs", "2", "--warmup", "0")
	for _, want := range []string{"latency:     median ", "p90 ", "throughput:  ", "images/s", "peak Go heap"} {
		if !strings.Contains(text, want) {
			t.Errorf("bench output lacks %q:\n%s", want, text)
		}
	}

	fixed := net.save(t, dir, "fixed.onnx", 1, nil)
	mustFail(t, []string{"bench", fixed, "--batch", "2"}, "--batch 2", "fixed batch dimension of 1")
}

// TestBenchPerOp checks bench --per-op: one median per plan step, summed per operator type
// into shares that add up to one, in the JSON and in the text report.
func TestBenchPerOp(t *testing.T) {
	dir := t.TempDir()
	model := newTinyNet().save(t, dir, "tiny.onnx", "batch", nil)
	out := mustSucceed(t, "bench", model, "--runs", "3", "--warmup", "1", "--per-op", "--json")
	var res benchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --per-op --json printed %q: %v", out, err)
	}
	p := res.PerOp
	if p == nil || p.Runs != 3 || len(p.Steps) == 0 || len(p.OpTypes) == 0 {
		t.Fatalf("bench --per-op --json: per_op = %+v", p)
	}
	sum, shares, steps := 0.0, 0.0, 0
	for _, s := range p.Steps {
		if s.Ms <= 0 || s.Node == "" || s.OpType == "" {
			t.Errorf("step %+v", s)
		}
		sum += s.Ms
	}
	for _, o := range p.OpTypes {
		shares += o.Share
		steps += o.Steps
	}
	if math.Abs(sum-p.TotalMs) > 1e-9*sum || math.Abs(shares-1) > 1e-9 || steps != len(p.Steps) {
		t.Errorf("per_op totals: steps sum to %v ms (total %v), shares to %v, %d of %d steps typed", sum, p.TotalMs, shares, steps, len(p.Steps))
	}
	text := mustSucceed(t, "bench", model, "--runs", "2", "--per-op")
	for _, want := range []string{"per op:      medians of 2 profiled runs", "op type", "slowest steps:", p.OpTypes[0].OpType} {
		if !strings.Contains(text, want) {
			t.Errorf("bench --per-op output lacks %q:\n%s", want, text)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	net := newTinyNet()
	model := net.save(t, dir, "tiny.onnx", "batch", nil)
	fixed := net.save(t, dir, "fixed.onnx", 1, nil)
	good := filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(good, []int{1, tinyC, tinyH, tinyW}, make([]float32, tinyC*tinyH*tinyW)); err != nil {
		t.Fatal(err)
	}
	ints := filepath.Join(dir, "ints.npy")
	if err := npy.WriteFile(ints, []int{1, tinyC, tinyH, tinyW}, make([]int64, tinyC*tinyH*tinyW)); err != nil {
		t.Fatal(err)
	}
	wrongShape := filepath.Join(dir, "wrong.npy")
	if err := npy.WriteFile(wrongShape, []int{1, 2, tinyH, tinyW}, make([]float32, 2*tinyH*tinyW)); err != nil {
		t.Fatal(err)
	}
	notNpy := filepath.Join(dir, "text.npy")
	if err := os.WriteFile(notNpy, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.onnx")
	cases := []struct {
		args  []string
		wants []string
	}{
		{[]string{"infer", missing, "-i", good}, []string{"missing.onnx", "no such file"}},
		{[]string{"info", missing}, []string{"missing.onnx", "no such file"}},
		{[]string{"bench", missing}, []string{"missing.onnx", "no such file"}},
		{[]string{"infer", model, "-i", filepath.Join(dir, "nope.npy")}, []string{"nope.npy", "no such file"}},
		{[]string{"infer", model, "-i", "y=" + good}, []string{`input "y": the model has no such input (it has "x")`}},
		{[]string{"infer", model}, []string{`no file given for input "x"`}},
		{[]string{"infer", model, "-i", ints}, []string{"ints.npy", "INT64", "FLOAT"}},
		{[]string{"infer", model, "-i", wrongShape}, []string{`input "x"`, "dimension 1: expected 3, got 2"}},
		{[]string{"infer", model, "-i", notNpy}, []string{"text.npy", "not a .npy file"}},
		{[]string{"infer", model, "-i", filepath.Join(dir, "x.txt")}, []string{"x.txt", "unsupported file type"}},
		{[]string{"infer", fixed, "-i", good, "-i", good}, []string{"batch of 2", "fixed at 1"}},
		{[]string{"infer", model, "-i", good, "--labels", writeLabels(t, dir, []string{"a", "b"})}, []string{"--labels: 2 class names", "4, 3 classes"}},
		{[]string{"infer", model, "-i", good, "--size", "0x3"}, []string{"--size"}},
		{[]string{"infer", model, "-i", good, "--mean", "a,b"}, []string{"--mean"}},
		{[]string{"infer", "-i", good}, []string{"-i needs a MODEL"}},
		{[]string{"infer", "--no-such-flag"}, []string{"infer: flag provided but not defined: -no-such-flag"}},
		{[]string{"bench", model, "--runs", "0"}, []string{"--runs 0"}},
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{[]string{"info", model, model}, []string{"exactly one MODEL"}},
		{[]string{"info", notNpy}, []string{"text.npy"}},
	}
	for _, c := range cases {
		mustFail(t, c.args, c.wants...)
	}
}

func TestDemoRunsWithoutArguments(t *testing.T) {
	out := mustSucceed(t, "infer")
	if !strings.Contains(out, "built-in demo") || !strings.Contains(out, "row 0: top 5 of ") {
		t.Fatalf("the demo did not print a prediction:\n%s", out)
	}
	top1 := regexp.MustCompile(`(?m)^\s+1\. class (\d+)`).FindStringSubmatch(out)
	if top1 == nil {
		t.Fatalf("no top-1 line in:\n%s", out)
	}
	// The demo's image is the first Fashion-MNIST test image; its true
	// class is the reference.
	if top1[1] != strconv.Itoa(zoo.SampleLabel) {
		t.Errorf("demo top-1 class %s, the image's label is %d", top1[1], zoo.SampleLabel)
	}
	if !strings.Contains(out, zoo.Classes[zoo.SampleLabel]) {
		t.Errorf("demo output does not name the class %q:\n%s", zoo.Classes[zoo.SampleLabel], out)
	}
}

func TestDemoAssetsEmbedded(t *testing.T) {
	model, in, err := defaultDemo.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(model) == 0 || len(in.shape) == 0 {
		t.Errorf("default demo: %d model bytes, input shape %v", len(model), in.shape)
	}
}

func TestNoConvertDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasSuffix(dep, "/convert") || strings.Contains(dep, "/convert/") {
			t.Errorf("cmd/dcrun depends on %s; the runtime CLI must not link the converter", dep)
		}
	}
}
