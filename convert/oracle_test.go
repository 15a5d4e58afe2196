package convert_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Independent oracles: ONNX Runtime 1.30 (on Node.js, through
// testdata/ort_batch.js and the helpers of tools/ort) and onnx 1.12's
// checker (Debian's /usr/bin/python3). Each test skips when its tool is
// missing, except under CI, where it fails.

const (
	ortBatchScript = "testdata/ort_batch.js" // runs models with tools/ort's helpers
	ortModule      = "../tools/ort/node_modules/onnxruntime-node"
	python         = "/usr/bin/python3"
)

// need skips (or, under CI, fails) the test when ok is false.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required under CI", what)
	}
	t.Skipf("%s not available", what)
}

// useTool reports whether a test should call a tool: when it is installed,
// and always under CI (where the call then fails if it is missing).
func useTool(installed bool) bool {
	return installed || os.Getenv("CI") != ""
}

func haveORT() bool {
	if _, err := exec.LookPath("node"); err != nil {
		return false
	}
	_, err := os.Stat(ortModule)
	return err == nil
}

func havePythonONNX() bool {
	return exec.Command(python, "-c", "import onnx").Run() == nil
}

// saveModel writes m into dir under name and returns the path.
func saveModel(t *testing.T, dir, name string, m *onnx.ModelProto) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := onnx.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// ortJob is one model for testdata/ort_batch.js.
type ortJob struct {
	Model  string            `json:"model"`
	Inputs map[string]string `json:"inputs"`
	Out    string            `json:"out"`
}

// ortBatch collects models and runs them with ONNX Runtime in one Node.js
// process.
type ortBatch struct {
	dir  string
	jobs []ortJob
}

func newORTBatch(t *testing.T) *ortBatch {
	t.Helper()
	need(t, haveORT(), "ONNX Runtime for Node.js (npm ci --ignore-scripts in tools/ort)")
	return &ortBatch{dir: t.TempDir()}
}

// add queues the model file with its inputs and returns the job's index.
func (b *ortBatch) add(t *testing.T, model string, inputs map[string]*runtime.Tensor) int {
	t.Helper()
	i := len(b.jobs)
	job := ortJob{Model: model, Inputs: map[string]string{}, Out: filepath.Join(b.dir, fmt.Sprintf("out%d", i))}
	for name, x := range inputs {
		path := filepath.Join(b.dir, fmt.Sprintf("in%d_%d.npy", i, len(job.Inputs)))
		if err := npy.WriteFile(path, x.Shape(), x.Float32s()); err != nil {
			t.Fatal(err)
		}
		job.Inputs[name] = path
	}
	b.jobs = append(b.jobs, job)
	return i
}

// run executes the queued models and returns each one's outputs by
// (sanitised) name.
func (b *ortBatch) run(t *testing.T) []map[string]*runtime.Tensor {
	t.Helper()
	jobs, err := json.Marshal(b.jobs)
	if err != nil {
		t.Fatal(err)
	}
	jobFile := filepath.Join(b.dir, fmt.Sprintf("jobs%d.json", len(b.jobs)))
	if err := os.WriteFile(jobFile, jobs, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", ortBatchScript, jobFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ONNX Runtime: %v: %s", err, stderr.String())
	}
	res := make([]map[string]*runtime.Tensor, len(b.jobs))
	for i, job := range b.jobs {
		res[i] = map[string]*runtime.Tensor{}
		files, _ := filepath.Glob(filepath.Join(job.Out, "*.npy"))
		for _, f := range files {
			x, err := npyTensor(f)
			if err != nil {
				t.Fatal(err)
			}
			res[i][strings.TrimSuffix(filepath.Base(f), ".npy")] = x
		}
	}
	b.jobs = nil
	return res
}

// runORT runs one model file with ONNX Runtime and returns its outputs.
func runORT(t *testing.T, model string, inputs map[string]*runtime.Tensor) map[string]*runtime.Tensor {
	t.Helper()
	b := newORTBatch(t)
	b.add(t, model, inputs)
	return b.run(t)[0]
}

// checkONNX runs onnx.checker.check_model(full_check=True) on the model
// file and returns the checker's complaint ("" when it passes).
func checkONNX(t *testing.T, model string) string {
	t.Helper()
	return checkONNXFiles(t, []string{model})[model]
}

// checkONNXFiles checks several model files with one Python process and
// returns each file's complaint ("" when it passes).
func checkONNXFiles(t *testing.T, models []string) map[string]string {
	t.Helper()
	need(t, havePythonONNX(), "python3-onnx")
	script := `import sys, onnx
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        print("")
    except Exception as e:
        print(str(e).strip().replace("\n", " ") or "failed")
`
	out, err := exec.Command(python, append([]string{"-c", script}, models...)...).Output()
	if err != nil {
		t.Fatalf("running the onnx checker: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(models) {
		t.Fatalf("the onnx checker printed %d lines for %d models: %s", len(lines), len(models), out)
	}
	res := map[string]string{}
	for i, m := range models {
		res[m] = strings.TrimSpace(lines[i])
	}
	return res
}
