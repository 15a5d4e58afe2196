package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"logits":         "logits",
		"feat/avg:0":     "feat_avg_0",
		"../../etc/pass": "_._.._etc_pass",
		".hidden":        "_hidden",
		"":               "output",
		"a b\\c":         "a_b_c",
		"ünï":            "__n__", // two bytes per non-ASCII letter
		"x.y-z_1":        "x.y-z_1",
	} {
		got := sanitizeName(in)
		if got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsAny(got, `/\`) || strings.HasPrefix(got, ".") {
			t.Errorf("sanitizeName(%q) = %q is not a plain file name", in, got)
		}
	}
	used := map[string]bool{}
	var got []string
	for _, n := range []string{"a", "A", "a", "a_2"} {
		got = append(got, uniqueFileName(n, used))
	}
	if want := []string{"a", "A_2", "a_3", "a_2_2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("uniqueFileName sequence %v, want %v", got, want)
	}
}

func TestBindInputs(t *testing.T) {
	one := []runtime.ValueInfo{{Name: "x"}}
	two := []runtime.ValueInfo{{Name: "a"}, {Name: "b"}}
	dir := t.TempDir()
	withEq := filepath.Join(dir, "k=v.npy") // an existing file whose name has '='
	if err := os.WriteFile(withEq, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args  []string
		infos []runtime.ValueInfo
		want  map[string][]string
		err   string
	}{
		{[]string{"p.npy", "q.png"}, one, map[string][]string{"x": {"p.npy", "q.png"}}, ""},
		{[]string{"x=p.npy", "q.npy"}, one, map[string][]string{"x": {"p.npy", "q.npy"}}, ""},
		{[]string{withEq}, one, map[string][]string{"x": {withEq}}, ""},
		{[]string{"b=p.npy", "q.npy"}, two, map[string][]string{"a": {"q.npy"}, "b": {"p.npy"}}, ""},
		{[]string{"p.npy", "q.npy"}, two, map[string][]string{"a": {"p.npy"}, "b": {"q.npy"}}, ""},
		{[]string{"p.npy"}, two, nil, `no file given for input "b"`},
		{[]string{"p.npy", "q.npy", "r.npy"}, two, nil, "3 input files without a NAME= prefix for 2 unassigned inputs"},
		{[]string{"c=p.npy"}, two, nil, `input "c": the model has no such input (it has "a", "b")`},
	}
	for _, c := range cases {
		got, err := bindInputs(c.args, c.infos)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("bindInputs(%v): error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("bindInputs(%v) = %v, %v; want %v", c.args, got, err, c.want)
		}
	}
}

func TestLatencyStats(t *testing.T) {
	median, p90, lo, mean := latencyStats([]float64{5, 1, 4, 2, 3, 10, 6, 7, 8, 9})
	// Sorted 1..10: median (5+6)/2, p90 by nearest rank = 9th value.
	if median != 5.5 || p90 != 9 || lo != 1 || mean != 5.5 {
		t.Errorf("latencyStats = %v %v %v %v, want 5.5 9 1 5.5", median, p90, lo, mean)
	}
	median, p90, lo, mean = latencyStats([]float64{3})
	if median != 3 || p90 != 3 || lo != 3 || mean != 3 {
		t.Errorf("latencyStats of one sample = %v %v %v %v", median, p90, lo, mean)
	}
	median, p90, _, _ = latencyStats([]float64{4, 2, 8})
	if median != 4 || p90 != 8 {
		t.Errorf("latencyStats of three = median %v p90 %v", median, p90)
	}
}

func TestSoftmaxAndTopK(t *testing.T) {
	p := softmax([]float64{1000, 1000 + math.Log(3)}) // overflow-safe
	if math.Abs(p[0]-0.25) > 1e-12 || math.Abs(p[1]-0.75) > 1e-12 {
		t.Errorf("softmax = %v, want [0.25 0.75]", p)
	}
	if got := topIndices([]float64{0.1, math.NaN(), 0.7, 0.7, -1}, 4); !reflect.DeepEqual(got, []int{2, 3, 0, 4}) {
		t.Errorf("topIndices = %v, want [2 3 0 4]", got)
	}
	if !isDistribution([]float64{0.2, 0.3, 0.5}) || isDistribution([]float64{0.2, 0.3}) || isDistribution([]float64{-0.5, 1.5}) || isDistribution([]float64{math.NaN(), 1}) {
		t.Error("isDistribution misclassifies")
	}
}

func TestPrintOutputsProbabilities(t *testing.T) {
	probs := runtime.New([]int{2, 3}, []float32{0.1, 0.6, 0.3, 0.5, 0.25, 0.25})
	ids := runtime.New([]int{2}, []int64{1, 0})
	var buf bytes.Buffer
	printOutputs(&buf, map[string]*runtime.Tensor{"probs": probs, "ids": ids},
		[]runtime.ValueInfo{{Name: "probs"}, {Name: "ids"}}, printOptions{topK: 2, labels: []string{"a", "b", "c"}})
	want := `probs: FLOAT [2 3], min 0.1, max 0.6
  row 0: top 2 of 3 (values are probabilities: the row sums to 1)
    1. class 1 (b)  p=0.6000
    2. class 2 (c)  p=0.3000
  row 1: top 2 of 3 (values are probabilities: the row sums to 1)
    1. class 0 (a)  p=0.5000
    2. class 1 (b)  p=0.2500
ids: INT64 [2], min 0, max 1
`
	if buf.String() != want {
		t.Errorf("printOutputs printed\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestModelLabels(t *testing.T) {
	meta := func(k, v string) *onnx.ModelProto {
		return &onnx.ModelProto{MetadataProps: []*onnx.StringStringEntryProto{{Key: proto.String(k), Value: proto.String(v)}}}
	}
	for _, c := range []struct {
		m    *onnx.ModelProto
		want []string
	}{
		{meta("labels", `["a", "b"]`), []string{"a", "b"}},
		{meta("class_names", "x\ny\nz\n"), []string{"x", "y", "z"}},
		{meta("classes", "single"), nil},
		{meta("other", `["a"]`), nil},
		{&onnx.ModelProto{}, nil},
	} {
		if got := modelLabels(c.m); !reflect.DeepEqual(got, c.want) {
			t.Errorf("modelLabels(%v) = %v, want %v", c.m.GetMetadataProps(), got, c.want)
		}
	}
}

func TestConvertAndStack(t *testing.T) {
	got, err := convertData([]float64{1.5, 1e-50}, runtime.Float32)
	if err != nil || !reflect.DeepEqual(got, []float32{1.5, 0}) {
		t.Errorf("float64 → float32: %v, %v", got, err)
	}
	if got, err = convertData([]int32{-3}, runtime.Int64); err != nil || !reflect.DeepEqual(got, []int64{-3}) {
		t.Errorf("int32 → int64: %v, %v", got, err)
	}
	if _, err = convertData([]int64{1}, runtime.Float32); err == nil {
		t.Error("int64 → float32 accepted")
	}
	a, err := stack([]array{{[]int{1, 2}, []float32{1, 2}}, {[]int{2, 2}, []float32{3, 4, 5, 6}}}, []string{"p", "q"})
	if err != nil || !reflect.DeepEqual(a.shape, []int{3, 2}) || !reflect.DeepEqual(a.data, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("stack = %v, %v", a, err)
	}
	for _, parts := range [][]array{
		{{[]int{1, 2}, []float32{1, 2}}, {[]int{1, 3}, []float32{3, 4, 5}}},
		{{[]int{1, 2}, []float32{1, 2}}, {[]int{1, 2}, []float64{3, 4}}},
		{{[]int{1, 2}, []float32{1, 2}}, {[]int{2}, []float32{3, 4}}},
	} {
		if _, err := stack(parts, []string{"p", "q"}); err == nil {
			t.Errorf("stack(%v) accepted", parts)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1235496: "1,235,496", -12345: "-12,345"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}
