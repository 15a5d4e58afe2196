package runtime_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"google.golang.org/protobuf/proto"
)

// The ONNX backend node tests (Debian package libonnx-testdata) run against
// a committed manifest, testdata/nodetests.txt. A test is in scope when
// every operator of its model is registered; each in-scope test is listed
// either as "pass" or as "skip <reason>". TestNodeConformance fails when the
// passing set differs from the manifest in either direction.
//
//	go test ./runtime -run NodeConformance -nodetests.update   rewrites it
//	go test ./runtime -run NodeConformance -nodetests.only 'conv'   filters
var (
	nodeTestDir    = flag.String("nodetests.dir", "/usr/share/libonnx-testdata/data/node", "ONNX backend node tests")
	updateManifest = flag.Bool("nodetests.update", false, "rewrite testdata/nodetests.txt from the results (keeps existing skip reasons)")
	onlyNodeTests  = flag.String("nodetests.only", "", "run only node tests matching this regexp (no manifest comparison)")
)

const manifestPath = "testdata/nodetests.txt"

type manifestEntry struct {
	pass   bool
	reason string
}

func TestNodeConformance(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(*nodeTestDir, "test_*"))
	if err != nil || len(dirs) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no ONNX node tests under %s (install libonnx-testdata)", *nodeTestDir)
		}
		t.Skipf("no ONNX node tests under %s", *nodeTestDir)
	}
	var filter *regexp.Regexp
	if *onlyNodeTests != "" {
		filter = regexp.MustCompile(*onlyNodeTests)
	}
	manifest, err := readManifest(manifestPath)
	if err != nil && filter == nil && !*updateManifest {
		t.Fatal(err)
	}
	reg := runtime.Builtins()
	results := map[string]string{} // name -> "" (pass) or failure
	opsOf := map[string][]string{} // name -> operators of its model
	for _, dir := range dirs {
		name := filepath.Base(dir)
		if filter != nil && !filter.MatchString(name) {
			continue
		}
		m, err := onnx.LoadFile(filepath.Join(dir, "model.onnx"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !allOpsRegistered(reg, m) {
			continue
		}
		results[name] = runNodeTest(dir, m)
		opsOf[name] = modelOps(m)
		if filter != nil {
			if results[name] == "" {
				t.Logf("PASS %s", name)
			} else {
				t.Errorf("FAIL %s: %s", name, results[name])
			}
		}
	}
	if filter != nil {
		return
	}
	if *updateManifest {
		if err := writeManifest(manifestPath, results, manifest); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", manifestPath)
		return
	}
	compareWithManifest(t, results, manifest)
	reportPerOp(t, results, opsOf)
}

func modelOps(m *onnx.ModelProto) []string {
	seen := map[string]bool{}
	var ops []string
	for _, n := range m.GetGraph().GetNode() {
		if !seen[n.GetOpType()] {
			seen[n.GetOpType()] = true
			ops = append(ops, n.GetOpType())
		}
	}
	return ops
}

func allOpsRegistered(reg *runtime.Registry, m *onnx.ModelProto) bool {
	for _, n := range m.GetGraph().GetNode() {
		if !reg.Has(n.GetDomain(), n.GetOpType()) {
			return false
		}
	}
	return len(m.GetGraph().GetNode()) > 0
}

func compareWithManifest(t *testing.T, results map[string]string, manifest map[string]manifestEntry) {
	for _, name := range sortedKeys(results) {
		failure := results[name]
		e, listed := manifest[name]
		switch {
		case !listed && failure == "":
			t.Errorf("%s passes but is not in %s (run with -nodetests.update)", name, manifestPath)
		case !listed:
			t.Errorf("%s is in scope but not in %s: %s", name, manifestPath, failure)
		case e.pass && failure != "":
			t.Errorf("%s: listed as passing, fails: %s", name, failure)
		case !e.pass && failure == "":
			t.Errorf("%s: listed as skipped (%s) but passes; update %s", name, e.reason, manifestPath)
		}
	}
	for name, e := range manifest {
		if _, ran := results[name]; !ran && e.pass {
			t.Errorf("%s: listed as passing but no longer in scope or missing", name)
		}
	}
}

// reportPerOp logs how many tests pass per operator (a test counts for
// every operator its model uses).
func reportPerOp(t *testing.T, results map[string]string, opsOf map[string][]string) {
	pass, total := 0, 0
	perOpPass, perOpTotal := map[string]int{}, map[string]int{}
	for name, f := range results {
		total++
		if f == "" {
			pass++
		}
		for _, op := range opsOf[name] {
			perOpTotal[op]++
			if f == "" {
				perOpPass[op]++
			}
		}
	}
	var lines []string
	for _, op := range sortedKeys(perOpTotal) {
		lines = append(lines, fmt.Sprintf("%s %d/%d", op, perOpPass[op], perOpTotal[op]))
	}
	t.Logf("node tests in scope: %d, passing: %d; per operator (passing/in scope): %s", total, pass, strings.Join(lines, ", "))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// runNodeTest runs every test_data_set of one node test; it returns "" on
// success or the first failure.
func runNodeTest(dir string, m *onnx.ModelProto) (failure string) {
	defer func() {
		if r := recover(); r != nil {
			failure = fmt.Sprintf("panic: %v", r)
		}
	}()
	s, err := runtime.NewSessionFromModel(m, runtime.WithThreads(2))
	if err != nil {
		return oneLine(err)
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return "no test data"
	}
	for _, set := range sets {
		if f := runDataSet(s, m, set); f != "" {
			return filepath.Base(set) + ": " + f
		}
	}
	return ""
}

func runDataSet(s *runtime.Session, m *onnx.ModelProto, set string) string {
	g := m.GetGraph()
	inits := map[string]bool{}
	for _, in := range g.GetInitializer() {
		inits[in.GetName()] = true
	}
	inputs := map[string]*runtime.Tensor{}
	k := 0
	for _, vi := range g.GetInput() {
		if inits[vi.GetName()] {
			continue
		}
		path := filepath.Join(set, fmt.Sprintf("input_%d.pb", k))
		k++
		if _, err := os.Stat(path); err != nil {
			continue // an omitted optional input
		}
		t, err := readTensorPB(path)
		if err != nil {
			return err.Error()
		}
		inputs[vi.GetName()] = t
	}
	got, err := s.Run(context.Background(), inputs)
	if err != nil {
		return oneLine(err)
	}
	for i, vi := range g.GetOutput() {
		want, err := readTensorPB(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
		if err != nil {
			return err.Error()
		}
		if f := compareTensors(got[vi.GetName()], want); f != "" {
			return fmt.Sprintf("output %q: %s", vi.GetName(), f)
		}
	}
	return ""
}

func readTensorPB(path string) (*runtime.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tp onnx.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	t, err := runtime.TensorFromProto(&tp, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return t, nil
}

// compareTensors applies ONNX's backend-test tolerance: |got−want| ≤
// atol + rtol·|want| with rtol = 1e-3, atol = 1e-7; NaNs must match.
func compareTensors(got, want *runtime.Tensor) string {
	if got == nil {
		return "missing"
	}
	if got.DType() != want.DType() {
		return fmt.Sprintf("type %v, want %v", got.DType(), want.DType())
	}
	if !runtime.SameShape(got.Shape(), want.Shape()) {
		return fmt.Sprintf("shape %v, want %v", got.Shape(), want.Shape())
	}
	g, w := (got).Float64Values(), (want).Float64Values()
	const rtol, atol = 1e-3, 1e-7
	for i := range w {
		if math.IsNaN(w[i]) || math.IsNaN(g[i]) {
			if math.IsNaN(w[i]) != math.IsNaN(g[i]) {
				return fmt.Sprintf("element %d: %v, want %v", i, g[i], w[i])
			}
			continue
		}
		if g[i] == w[i] {
			continue // equal infinities included
		}
		if math.Abs(g[i]-w[i]) > atol+rtol*math.Abs(w[i]) {
			return fmt.Sprintf("element %d: %v, want %v", i, g[i], w[i])
		}
	}
	return ""
}

func convert[T float32 | int64 | int32 | int8 | uint8](d []T) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func readManifest(path string) (map[string]manifestEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]manifestEntry{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.SplitN(text, " ", 3)
		switch {
		case len(fields) >= 2 && fields[0] == "pass":
			out[fields[1]] = manifestEntry{pass: true}
		case len(fields) == 3 && fields[0] == "skip":
			out[fields[1]] = manifestEntry{reason: fields[2]}
		default:
			return nil, fmt.Errorf("%s:%d: expected \"pass NAME\" or \"skip NAME REASON\"", path, line)
		}
	}
	return out, sc.Err()
}

func writeManifest(path string, results map[string]string, old map[string]manifestEntry) error {
	var b strings.Builder
	b.WriteString("# ONNX backend node tests (libonnx-testdata) whose operators the runtime implements.\n")
	b.WriteString("# \"pass NAME\" must pass; \"skip NAME REASON\" is excluded for REASON and must fail.\n")
	b.WriteString("# Regenerate with: go test ./runtime -run NodeConformance -nodetests.update\n")
	for _, name := range sortedKeys(results) {
		if results[name] == "" {
			fmt.Fprintf(&b, "pass %s\n", name)
			continue
		}
		reason := "FIXME " + results[name]
		if e, ok := old[name]; ok && !e.pass {
			reason = e.reason
		}
		fmt.Fprintf(&b, "skip %s %s\n", name, reason)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
