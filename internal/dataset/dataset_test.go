package dataset

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The fixtures are written by testdata/gen_fixtures.py with NumPy and
// Python's struct and gzip modules; the expected values below restate the
// script's formulas.

func fixture(name string) string { return filepath.Join("testdata", name) }

// idxFixturePixel is pixel i (row-major over [4, 3, 2]) of the IDX images.
func idxFixturePixel(i int) float64 { return float64((37 * i) % 256) }

var idxFixtureLabels = []int{2, 7, 1, 0}

func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestNPYWithLabels(t *testing.T) {
	r, err := Open(fixture("images_f4.npy"), Options{Labels: fixture("labels_i8.npy")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 5 || !reflect.DeepEqual(r.SampleShape(), []int{2, 3, 4}) || !r.Labelled() {
		t.Fatalf("Len %d, SampleShape %v, Labelled %v", r.Len(), r.SampleShape(), r.Labelled())
	}
	var data []float32
	var labels []int
	for _, want := range []int{2, 2, 1} {
		b, err := r.Next(2)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(b.Shape, []int{want, 2, 3, 4}) || len(b.Labels) != want {
			t.Fatalf("batch shape %v with %d labels, want %d samples", b.Shape, len(b.Labels), want)
		}
		data = append(data, b.Data...)
		labels = append(labels, b.Labels...)
	}
	if _, err := r.Next(2); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last sample: %v, want io.EOF", err)
	}
	want := make([]float64, 120)
	for i := range want {
		want[i] = float64(i)/4 - 7
	}
	closeTo(t, "data", data, want, 0)
	if !reflect.DeepEqual(labels, []int{3, 0, 4, 1, 2}) {
		t.Errorf("labels %v", labels)
	}
}

func TestNPYFloat64AndLimit(t *testing.T) {
	b, err := Load(fixture("images_f8.npy"), Options{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.Shape, []int{2, 1, 2, 2}) || b.Labels != nil {
		t.Fatalf("shape %v labels %v", b.Shape, b.Labels)
	}
	want := make([]float64, 8)
	for i := range want {
		want[i] = float64(float32(float64(i)/8 + 0.1))
	}
	closeTo(t, "data", b.Data, want, 0)
}

func TestNPYLabelTypes(t *testing.T) {
	b, err := Load(fixture("images_f4.npy"), Options{Labels: fixture("labels_u1.npy"), Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.Labels, []int{9, 8, 7}) {
		t.Errorf("labels %v", b.Labels)
	}
	for _, c := range []struct{ labels, want string }{
		{"labels_f4.npy", "must be integers"},
		{"labels_neg.npy", "label 1 is -2"},
		{"images_f4.npy", "1-D array"},
		{"labels-idx1-ubyte", "4 labels for the 5 samples"},
	} {
		_, err := Open(fixture("images_f4.npy"), Options{Labels: fixture(c.labels)})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.labels) {
			t.Errorf("labels %s: error %v, want one naming the file with %q", c.labels, err, c.want)
		}
	}
}

func TestIDXFixtures(t *testing.T) {
	mean, std := 0.2860, 0.3530
	for _, c := range []struct{ images, labels string }{
		{"images-idx3-ubyte", "labels-idx1-ubyte"},
		{"images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"},
		{"images-idx3-ubyte.gz", "labels-idx1-ubyte"},
	} {
		t.Run(c.images+"+"+c.labels, func(t *testing.T) {
			b, err := Load(fixture(c.images), Options{Labels: fixture(c.labels), Mean: []float64{mean}, Std: []float64{std}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(b.Shape, []int{4, 1, 3, 2}) {
				t.Fatalf("shape %v", b.Shape)
			}
			want := make([]float64, 24)
			for i := range want {
				want[i] = (idxFixturePixel(i)/255 - mean) / std
			}
			closeTo(t, "data", b.Data, want, 1e-7)
			if !reflect.DeepEqual(b.Labels, idxFixtureLabels) {
				t.Errorf("labels %v, want %v", b.Labels, idxFixtureLabels)
			}
		})
	}
}

// Next reads IDX samples in order across calls, and a limit stops early.
func TestIDXStreamingWithLimit(t *testing.T) {
	r, err := Open(fixture("images-idx3-ubyte.gz"), Options{Limit: 3, Labels: fixture("labels-idx1-ubyte.gz")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 3 {
		t.Fatalf("Len %d, want 3", r.Len())
	}
	for i := range 3 {
		b, err := r.Next(1)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, 6)
		for j := range want {
			want[j] = idxFixturePixel(6*i+j) / 255
		}
		closeTo(t, "sample", b.Data, want, 1e-7)
		if b.Labels[0] != idxFixtureLabels[i] {
			t.Errorf("label %d = %d, want %d", i, b.Labels[0], idxFixtureLabels[i])
		}
	}
	if _, err := r.Next(5); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want io.EOF", err)
	}
}

// idxBytes builds an IDX file by hand: magic, big-endian dims, data.
func idxBytes(typ byte, dims []uint32, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = append(b, byte(d>>24), byte(d>>16), byte(d>>8), byte(d))
	}
	return append(b, data...)
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIDXHandBuilt(t *testing.T) {
	dir := t.TempDir()
	pix := []byte{0, 255, 51, 102, 204, 153}
	p := writeFile(t, dir, "two", idxBytes(0x08, []uint32{2, 1, 3}, pix))
	b, err := Load(p, Options{Mean: []float64{0.5}, Std: []float64{0.25}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(pix))
	for i, v := range pix {
		want[i] = (float64(v)/255 - 0.5) / 0.25
	}
	closeTo(t, "data", b.Data, want, 1e-7)
	if !reflect.DeepEqual(b.Shape, []int{2, 1, 1, 3}) {
		t.Errorf("shape %v", b.Shape)
	}
}

func TestIDXErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
		opts Options
		want string
	}{
		{"short", idxBytes(0x08, []uint32{3, 2, 2}, make([]byte, 11)), Options{}, "declares [3 2 2]"},
		{"long", idxBytes(0x08, []uint32{1, 2, 2}, make([]byte, 5)), Options{}, "the file has 21 bytes"},
		{"floats", idxBytes(0x0D, []uint32{1, 2, 2}, make([]byte, 16)), Options{}, "0x0d (float) is not supported"},
		{"rank", idxBytes(0x08, []uint32{2, 2}, make([]byte, 4)), Options{}, "[N, H, W]"},
		{"huge", idxBytes(0x08, []uint32{1, 1 << 20, 1 << 20}, nil), Options{}, "exceed the limit"},
		{"resize", idxBytes(0x08, []uint32{1, 2, 2}, make([]byte, 4)), Options{Height: 3, Width: 3}, "resizing"},
		{"rgb", idxBytes(0x08, []uint32{1, 2, 2}, make([]byte, 4)), Options{Channels: 3}, "one channel"},
		{"stds", idxBytes(0x08, []uint32{1, 2, 2}, make([]byte, 4)), Options{Std: []float64{1, 2}}, "std has 2 values"},
		{"header", []byte{0, 0, 8, 3, 0, 0}, Options{}, "IDX header"},
	} {
		p := writeFile(t, dir, c.name, c.data)
		_, err := Load(p, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file with %q", c.name, err, c.want)
		}
	}
	// A gzip'ed file cut short is found out while reading.
	gz, err := os.ReadFile(fixture("images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, dir, "cut.gz", gz[:len(gz)-12])
	if _, err := Load(p, Options{}); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("truncated gzip: error %v", err)
	}
	if _, err := Load(writeFile(t, dir, "text", []byte("hello, world")), Options{}); err == nil || !strings.Contains(err.Error(), "not a .npy, IDX") {
		t.Errorf("text file: error %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing"), Options{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: error %v", err)
	}
}

// writePNG writes a w×h gray (or RGB) image whose pixel values come from
// value(x, y, channel).
func writePNG(t *testing.T, path string, w, h int, rgb bool, value func(x, y, c int) uint8) {
	t.Helper()
	var img image.Image
	if rgb {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				m.Set(x, y, color.RGBA{value(x, y, 0), value(x, y, 1), value(x, y, 2), 255})
			}
		}
		img = m
	} else {
		m := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				m.SetGray(x, y, color.Gray{value(x, y, 0)})
			}
		}
		img = m
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// pixelOf is the gray value of image k's pixel (x, y) in the folder tests.
func pixelOf(k, x, y int) uint8 { return uint8(10*k + 3*x + 7*y) }

func TestFolderWithClasses(t *testing.T) {
	dir := t.TempDir()
	// Classes sorted by name: "bag" (0), "coat" (1); files sorted by name inside.
	layout := []struct {
		file string
		k    int // pixel pattern
	}{
		{"coat/b.png", 3}, {"bag/z.png", 1}, {"coat/a.png", 2}, {"bag/a.png", 0}, {"coat/sub/c.png", 4},
	}
	for _, l := range layout {
		writePNG(t, filepath.Join(dir, l.file), 3, 2, false, func(x, y, _ int) uint8 { return pixelOf(l.k, x, y) })
	}
	writeFile(t, dir, "README.txt", []byte("not an image"))
	writeFile(t, filepath.Join(dir, "coat"), ".hidden.png", []byte("skipped"))
	r, err := Open(dir, Options{Channels: 1, Mean: []float64{0.5}, Std: []float64{2}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !reflect.DeepEqual(r.Classes(), []string{"bag", "coat"}) || r.Len() != 5 || !reflect.DeepEqual(r.SampleShape(), []int{1, 2, 3}) {
		t.Fatalf("classes %v, len %d, sample shape %v", r.Classes(), r.Len(), r.SampleShape())
	}
	b, err := r.Next(10)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted order: bag/a (k 0), bag/z (k 1), coat/a (k 2), coat/b (k 3), coat/sub/c (k 4).
	if !reflect.DeepEqual(b.Labels, []int{0, 0, 1, 1, 1}) {
		t.Errorf("labels %v", b.Labels)
	}
	var want []float64
	for k := range 5 {
		for y := range 2 {
			for x := range 3 {
				want = append(want, (float64(pixelOf(k, x, y))/255-0.5)/2)
			}
		}
	}
	closeTo(t, "data", b.Data, want, 1e-6)
}

func TestFlatFolderResizedRGB(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"2.png", "1.png", "3.png"} {
		writePNG(t, filepath.Join(dir, name), 4, 4, true, func(x, y, c int) uint8 { return uint8(50*c + 20*i) })
	}
	mean, std := []float64{0.1, 0.2, 0.3}, []float64{0.5, 0.25, 2}
	r, err := Open(dir, Options{Height: 2, Width: 2, Mean: mean, Std: std, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Labelled() || r.Len() != 2 {
		t.Fatalf("labelled %v, len %d", r.Labelled(), r.Len())
	}
	b, err := r.Next(2)
	if err != nil {
		t.Fatal(err)
	}
	// Constant images stay constant when resized. Sorted: 1.png (i 1), 2.png (i 0).
	var want []float64
	for _, i := range []int{1, 0} {
		for c := range 3 {
			for range 4 {
				want = append(want, (float64(50*c+20*i)/255-mean[c])/std[c])
			}
		}
	}
	if !reflect.DeepEqual(b.Shape, []int{2, 3, 2, 2}) {
		t.Fatalf("shape %v", b.Shape)
	}
	closeTo(t, "data", b.Data, want, 1e-6)
}

func TestFolderErrors(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "a.png"), 2, 2, false, func(x, y, _ int) uint8 { return 1 })
	writePNG(t, filepath.Join(dir, "b.png"), 3, 2, false, func(x, y, _ int) uint8 { return 1 })
	_, err := Load(dir, Options{Channels: 1})
	if err == nil || !strings.Contains(err.Error(), "b.png") || !strings.Contains(err.Error(), "give a size") {
		t.Errorf("mixed sizes: %v", err)
	}
	if b, err := Load(dir, Options{Channels: 1, Height: 2, Width: 2}); err != nil || b.Len() != 2 {
		t.Errorf("mixed sizes resized: %v", err)
	}
	writePNG(t, filepath.Join(dir, "cls", "c.png"), 2, 2, false, func(x, y, _ int) uint8 { return 1 })
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "class subfolders") {
		t.Errorf("images beside class folders: %v", err)
	}
	empty := t.TempDir()
	if _, err := Open(empty, Options{}); err == nil || !strings.Contains(err.Error(), "no .png") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "cls"), Options{Labels: fixture("labels_i8.npy")}); err == nil || !strings.Contains(err.Error(), "class subfolders") {
		t.Errorf("labels file with a folder: %v", err)
	}
	bad := writeFile(t, t.TempDir(), "broken.png", []byte("\x89PNG\r\n\x1a\nnot really"))
	if _, err := Load(bad, Options{}); err == nil || !strings.Contains(err.Error(), "broken.png") {
		t.Errorf("broken png: %v", err)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Limit: -1}, "negative sample limit"},
		{Options{Channels: 2}, "channels must be 1 or 3"},
		{Options{Height: 3}, "invalid image size"},
		{Options{Std: []float64{0}}, "std[0]"},
		{Options{Mean: []float64{math.NaN()}}, "mean[0]"},
		{Options{Mean: []float64{0.5}}, "used as they are"},
		{Options{Height: 5, Width: 5}, "resizing"},
	} {
		_, err := Open(fixture("images_f4.npy"), c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "images_f4.npy") {
			t.Errorf("%+v: error %v, want %q naming the file", c.opts, err, c.want)
		}
	}
	r, err := Open(fixture("images_f4.npy"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(0); err == nil {
		t.Error("Next(0) succeeded")
	}
}
