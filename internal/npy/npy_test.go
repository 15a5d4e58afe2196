package npy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// numpyFixtures restates, independently of the Go code, the arrays that
// testdata/gen_fixtures.py writes with NumPy.
var numpyFixtures = []struct {
	file  string
	shape []int
	data  any
}{
	{"f4_2x3.npy", []int{2, 3}, []float32{-1, -0.5, 0, 0.5, 1, 1.5}},
	{"f8_3.npy", []int{3}, []float64{0.1, -2.5e300, 3.0}},
	{"i8_2x2.npy", []int{2, 2}, []int64{-(1 << 62), 0, 7, 1 << 40}},
	{"i4_scalar.npy", []int{}, []int32{-123456}},
	{"u1_2x2x2.npy", []int{2, 2, 2}, []uint8{0, 30, 60, 90, 120, 150, 180, 210}},
	{"i1_4.npy", []int{4}, []int8{-128, -1, 0, 127}},
	{"b1_3x1.npy", []int{3, 1}, []bool{true, false, true}},
	{"f4_empty_0x4.npy", []int{0, 4}, []float32{}},
	{"f4_v2.npy", []int{2}, []float32{1.5, -2}},
	{"f4_v3.npy", []int{2}, []float32{1.5, -2}},
}

func TestReadNumPyFixtures(t *testing.T) {
	for _, f := range numpyFixtures {
		t.Run(f.file, func(t *testing.T) {
			shape, data, err := ReadFile(filepath.Join("testdata", f.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shape, f.shape) {
				t.Errorf("shape = %v, want %v", shape, f.shape)
			}
			if !reflect.DeepEqual(data, f.data) {
				t.Errorf("data = %#v, want %#v", data, f.data)
			}
		})
	}
}

// TestWriteMatchesNumPyBytes checks that Write produces byte-for-byte what
// NumPy's writer produced for the same format-1.0 arrays.
func TestWriteMatchesNumPyBytes(t *testing.T) {
	for _, f := range numpyFixtures {
		if strings.Contains(f.file, "_v") {
			continue // written by NumPy in format 2.0/3.0 on purpose
		}
		t.Run(f.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", f.file))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Write(&buf, f.shape, f.data); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("Write produced\n%q\nNumPy wrote\n%q", buf.Bytes(), want)
			}
		})
	}
}

func TestReadRejectsNumPyFixtures(t *testing.T) {
	for file, want := range map[string]string{
		"bad_fortran.npy":    "Fortran-order",
		"bad_bigendian.npy":  "big-endian",
		"bad_float16.npy":    `unsupported dtype "<f2"`,
		"bad_complex.npy":    `unsupported dtype "<c8"`,
		"bad_structured.npy": "structured dtypes",
	} {
		_, _, err := ReadFile(filepath.Join("testdata", file))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", file, err, want)
		}
	}
}

// rawNpy assembles a format-1.0 file from a header dict and data bytes.
func rawNpy(dict string, data []byte) []byte {
	b := []byte(magic + "\x01\x00")
	b = append(b, byte(len(dict)), byte(len(dict)>>8))
	return append(append(b, dict...), data...)
}

// opaqueReader hides Len and Seek, so Read cannot know the input's size.
type opaqueReader struct{ r io.Reader }

func (o opaqueReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestReadRejectsMalformed(t *testing.T) {
	f4 := func(shape string) string {
		return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n"
	}
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"empty", "not a .npy file", nil},
		{"bad magic", "bad magic", []byte("\x93NUMPX\x01\x00\x00\x00")},
		{"version 4", "version 4.0", []byte(magic + "\x04\x00\x00\x00\x00\x00")},
		{"version 1.1", "version 1.1", []byte(magic + "\x01\x01\x00\x00")},
		{"huge header", "header length", []byte(magic + "\x02\x00\xff\xff\xff\x7f")},
		{"truncated header", "truncated header", []byte(magic + "\x01\x00\x50\x00{'descr'")},
		{"not a dict", "expected '{'", rawNpy("[1, 2]", nil)},
		{"missing shape", "'shape' missing", rawNpy("{'descr': '<f4', 'fortran_order': False}", nil)},
		{"missing descr", "missing key 'descr'", rawNpy("{'fortran_order': False, 'shape': (1,)}", nil)},
		{"extra key", `unexpected key "x"`, rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': True}", nil)},
		{"duplicate key", "duplicate key", rawNpy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", nil)},
		{"fortran not bool", "'fortran_order'", rawNpy("{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,)}", nil)},
		{"negative dim", "non-negative integer", rawNpy(f4("(-1,)"), nil)},
		{"float dim", "expected ')'", rawNpy(f4("(1.5,)"), nil)},
		{"overflowing dim", "too large", rawNpy(f4("(99999999999999999999,)"), nil)},
		{"overflowing product", "too large", rawNpy(f4("(1125899906842624, 1125899906842624)"), nil)},
		{"over MaxBytes", "too large", rawNpy(f4("(4294967296, 2)"), nil)},
		{"trailing text", "unexpected text", rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", nil)},
		{"unterminated string", "unterminated", rawNpy("{'descr: 1}", nil)},
		{"short data", "needs 16 bytes of data, only 3 remain", rawNpy(f4("(2, 2)"), []byte{1, 2, 3})},
		{"bad bool", "byte 0x2", rawNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", []byte{1, 2})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Read(bytes.NewReader(c.file))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestReadShortDataFromStream(t *testing.T) {
	// A header declaring 4 GiB over a stream holding 3 bytes must fail
	// after reading those bytes, without allocating the declared size.
	file := rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824,), }", []byte{1, 2, 3})
	var stats runtimeAllocs
	stats.start()
	_, _, err := Read(opaqueReader{bytes.NewReader(file)})
	if allocated := stats.stop(); allocated > 64<<20 {
		t.Errorf("Read allocated %d bytes for a 3-byte payload", allocated)
	}
	if err == nil || !strings.Contains(err.Error(), "only 3 remain") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error %v, want a truncation error", err)
	}
}

func TestReadLeavesTrailingBytes(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, []int{2}, []int32{5, -6}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&buf, []int{1}, []float64{2.25}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []any{[]int32{5, -6}, []float64{2.25}} {
		_, data, err := Read(opaqueReader{&buf})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(data, want) {
			t.Errorf("data = %v, want %v", data, want)
		}
	}
}

// roundTripArrays covers every type, 0-d, empty and multi-dimensional
// arrays, and the special float values.
var roundTripArrays = []struct {
	shape []int
	data  any
}{
	{[]int{2, 2, 2}, []float32{0, -0.0, float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-3, -7}},
	{[]int{}, []float64{math.Pi}},
	{[]int{3}, []float64{math.NaN(), math.MaxFloat64, -math.SmallestNonzeroFloat64}},
	{[]int{1, 3}, []int64{math.MinInt64, math.MaxInt64, 0}},
	{[]int{2, 1}, []int32{math.MinInt32, math.MaxInt32}},
	{[]int{3}, []uint8{0, 128, 255}},
	{[]int{3}, []int8{-128, 0, 127}},
	{[]int{2, 2}, []bool{true, false, false, true}},
	{[]int{0, 5}, []float32{}},
	{[]int{4, 0, 2}, []int64{}},
}

func TestRoundTrip(t *testing.T) {
	for _, a := range roundTripArrays {
		var buf bytes.Buffer
		if err := Write(&buf, a.shape, a.data); err != nil {
			t.Fatal(err)
		}
		dataStart := buf.Len() - elemCount(a.shape)*elemSize(a.data)
		if dataStart%headerAlign != 0 {
			t.Errorf("%T %v: data start at offset %d, not 64-aligned", a.data, a.shape, dataStart)
		}
		shape, data, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(shape, a.shape) || !sameBits(data, a.data) {
			t.Errorf("round trip of %T %v gave %v %v", a.data, a.shape, shape, data)
		}
	}
}

func elemCount(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func elemSize(data any) int {
	name, _ := sliceInfo(data)
	for _, e := range elemTypes {
		if e.name == name {
			return e.size
		}
	}
	return 0
}

// sameBits compares slices exactly, treating NaNs with equal bits as equal
// and distinguishing -0 from +0.
func sameBits(a, b any) bool {
	switch x := a.(type) {
	case []float32:
		y := b.([]float32)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false
			}
		}
		return true
	case []float64:
		y := b.([]float64)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestWriteRejectsBadArrays(t *testing.T) {
	cases := []struct {
		shape []int
		data  any
		want  string
	}{
		{[]int{2, 2}, []float32{1, 2, 3}, "holds 4 elements, data has 3"},
		{[]int{-1}, []float32{}, "negative dimension"},
		{[]int{2}, []uint16{1, 2}, "unsupported data type []uint16"},
		{[]int{1}, nil, "unsupported data type <nil>"},
		{make([]int, 65), []float32{0}, "rank 65"},
	}
	for _, c := range cases {
		err := Write(io.Discard, c.shape, c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Write(%v, %T): error %v, want %q", c.shape, c.data, err, c.want)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.npy")
	if err := WriteFile(path, []int{2}, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	// A failing write leaves the previous file and no temporary behind.
	if err := WriteFile(path, []int{3}, []float32{1, 2}); err == nil {
		t.Fatal("WriteFile accepted a shape/data mismatch")
	}
	shape, data, err := ReadFile(path)
	if err != nil || !reflect.DeepEqual(shape, []int{2}) || !reflect.DeepEqual(data, []float32{1, 2}) {
		t.Errorf("after a failed overwrite: %v %v %v", shape, data, err)
	}
	if err := WriteFile(path, []int{1}, []int64{9}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "out.npy" {
		t.Errorf("directory holds %v, want only out.npy", entries)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode().Perm())
	}
	if _, data, _ := ReadFile(path); !reflect.DeepEqual(data, []int64{9}) {
		t.Errorf("overwritten file holds %v", data)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x.npy"), []int{1}, []int64{9}); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

// TestNumPyReadsOurFiles loads files written by Write with NumPy and
// compares dtype, shape and values.
func TestNumPyReadsOurFiles(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s with numpy is not available: %v", python, err)
	}
	dir := t.TempDir()
	want := map[string]string{}
	for i, a := range roundTripArrays {
		name := filepath.Join(dir, string(rune('a'+i))+".npy")
		if err := WriteFile(name, a.shape, a.data); err != nil {
			t.Fatal(err)
		}
		typ, _ := sliceInfo(a.data)
		want[name] = typ
	}
	script := `
import json, sys, numpy as np
out = {}
for p in sys.argv[1:]:
    a = np.load(p, allow_pickle=False)
    out[p] = {"dtype": str(a.dtype), "shape": list(a.shape), "c": bool(a.flags.c_contiguous),
              "values": [repr(v) for v in a.ravel().tolist()]}
print(json.dumps(out))
`
	args := []string{"-c", script}
	for name := range want {
		args = append(args, name)
	}
	out, err := exec.Command(python, args...).Output()
	if err != nil {
		t.Fatalf("numpy failed to read our files: %v", err)
	}
	var got map[string]struct {
		DType  string   `json:"dtype"`
		Shape  []int    `json:"shape"`
		C      bool     `json:"c"`
		Values []string `json:"values"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	for i, a := range roundTripArrays {
		name := filepath.Join(dir, string(rune('a'+i))+".npy")
		g := got[name]
		if g.DType != want[name] || !reflect.DeepEqual(g.Shape, a.shape) || !g.C {
			t.Errorf("%T %v: numpy sees dtype %s shape %v c_contiguous %v", a.data, a.shape, g.DType, g.Shape, g.C)
		}
		if err := sameAsPython(a.data, g.Values); err != nil {
			t.Errorf("%T %v: %v", a.data, a.shape, err)
		}
	}
}

// sameAsPython compares data with the repr strings Python printed for
// ndarray.tolist() (floats widened to float64, Python ints and bools).
func sameAsPython(data any, reprs []string) error {
	rv := reflect.ValueOf(data)
	if rv.Len() != len(reprs) {
		return fmt.Errorf("numpy read %d values, want %d", len(reprs), rv.Len())
	}
	for i, r := range reprs {
		v := rv.Index(i)
		var ok bool
		switch {
		case v.CanFloat():
			f, err := strconv.ParseFloat(r, 64)
			ok = err == nil && (math.Float64bits(f) == math.Float64bits(v.Float()) || math.IsNaN(f) && math.IsNaN(v.Float()))
		case v.CanInt():
			n, err := strconv.ParseInt(r, 10, 64)
			ok = err == nil && n == v.Int()
		case v.CanUint():
			n, err := strconv.ParseUint(r, 10, 64)
			ok = err == nil && n == v.Uint()
		case v.Kind() == reflect.Bool:
			ok = r == map[bool]string{true: "True", false: "False"}[v.Bool()]
		}
		if !ok {
			return fmt.Errorf("element %d: numpy read %s, want %v", i, r, v)
		}
	}
	return nil
}

// runtimeAllocs measures the bytes allocated between start and stop.
type runtimeAllocs struct{ before uint64 }

func (a *runtimeAllocs) start() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	a.before = m.TotalAlloc
}

func (a *runtimeAllocs) stop() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc - a.before
}
