package imageio

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// savePNG encodes img into a temporary PNG file.
func savePNG(t *testing.T, img image.Image) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkClose compares float32 results with float64 expectations.
func checkClose(t *testing.T, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol || math.IsNaN(float64(got[i])) {
			t.Fatalf("element %d: got %v, want %v (|diff| %.3g > %.3g)", i, got[i], want[i], d, tol)
		}
	}
}

// float32 rounding of values of magnitude up to ~10.
const f32tol = 1e-6

func TestLoadRGBToPlanes(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.SetNRGBA(0, 0, color.NRGBA{10, 200, 30, 255})
	img.SetNRGBA(1, 0, color.NRGBA{255, 0, 128, 64}) // alpha is dropped, colour kept
	path := savePNG(t, img)

	shape, data, err := Load(path, Options{Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{1, 3, 1, 2}) {
		t.Fatalf("shape %v", shape)
	}
	checkClose(t, data, []float64{10.0 / 255, 255.0 / 255, 200.0 / 255, 0, 30.0 / 255, 128.0 / 255}, f32tol)

	mean, std := []float64{0.5, 0.25, 0.125}, []float64{0.5, 2, 0.25}
	_, data, err = Load(path, Options{Channels: 3, Mean: mean, Std: std})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, data, []float64{
		(10.0/255 - 0.5) / 0.5, (1 - 0.5) / 0.5,
		(200.0/255 - 0.25) / 2, (0 - 0.25) / 2,
		(30.0/255 - 0.125) / 0.25, (128.0/255 - 0.125) / 0.25,
	}, f32tol)

	_, data, err = Load(path, Options{Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, data, []float64{
		(0.299*10 + 0.587*200 + 0.114*30) / 255,
		(0.299*255 + 0.587*0 + 0.114*128) / 255,
	}, f32tol)
}

func TestLoadGrayToPlanes(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 1, 2))
	img.SetGray(0, 0, color.Gray{0})
	img.SetGray(0, 1, color.Gray{51})
	path := savePNG(t, img)
	_, data, err := Load(path, Options{Channels: 3, Mean: ImageNetMean, Std: ImageNetStd})
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	for c := range 3 {
		for _, v := range []float64{0, 0.2} {
			want = append(want, (v-ImageNetMean[c])/ImageNetStd[c])
		}
	}
	checkClose(t, data, want, f32tol)

	// Fashion-MNIST normalisation of a single-channel image.
	_, data, err = Load(path, Options{Channels: 1, Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, data, []float64{(0 - 0.2860) / 0.3530, (0.2 - 0.2860) / 0.3530}, f32tol)
}

func TestLoadGray16AndPaletted(t *testing.T) {
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{0x1234})
	g16.SetGray16(1, 0, color.Gray16{0xffff})
	_, data, err := Load(savePNG(t, g16), Options{Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, data, []float64{0x1234 / 65535.0, 1}, f32tol)

	pal := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{
		color.RGBA{255, 0, 0, 255}, color.RGBA{7, 7, 7, 255}, color.NRGBA{0, 0, 255, 128},
	})
	pal.SetColorIndex(0, 0, 0)
	pal.SetColorIndex(1, 0, 1)
	pal.SetColorIndex(2, 0, 2)
	path := savePNG(t, pal)
	_, data, err = Load(path, Options{Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, data, []float64{1, 7.0 / 255, 0, 0, 7.0 / 255, 0, 0, 7.0 / 255, 1}, f32tol)
	_, data, err = Load(path, Options{Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, data, []float64{0.299, 7.0 / 255, 0.114}, f32tol)
}

func TestLoadJPEG(t *testing.T) {
	// JPEG is lossy; a flat colour survives within a couple of levels.
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			img.SetRGBA(x, y, color.RGBA{200, 100, 50, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	shape, data, err := Decode(&buf, Options{Channels: 3, Height: 4, Width: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{1, 3, 4, 4}) {
		t.Fatalf("shape %v", shape)
	}
	var want []float64
	for _, v := range []float64{200, 100, 50} {
		for range 16 {
			want = append(want, v/255)
		}
	}
	checkClose(t, data, want, 2.0/255)
}

// bilinearReference upsamples a plane with the textbook formula PyTorch
// documents for interpolate(mode="bilinear", align_corners=False): source
// coordinate (i + 0.5)·in/out − 0.5, clamped at 0, and linear interpolation
// between the two neighbouring pixels (the last one repeated at the edge).
func bilinearReference(src []float64, inH, inW, outH, outW int) []float64 {
	coord := func(i, in, out int) (int, int, float64) {
		s := max((float64(i)+0.5)*float64(in)/float64(out)-0.5, 0)
		i0 := int(s)
		i1 := min(i0+1, in-1)
		return i0, i1, s - float64(i0)
	}
	out := make([]float64, outH*outW)
	for y := range outH {
		y0, y1, fy := coord(y, inH, outH)
		for x := range outW {
			x0, x1, fx := coord(x, inW, outW)
			top := src[y0*inW+x0]*(1-fx) + src[y0*inW+x1]*fx
			bot := src[y1*inW+x0]*(1-fx) + src[y1*inW+x1]*fx
			out[y*outW+x] = top*(1-fy) + bot*fy
		}
	}
	return out
}

func TestResampleEnlargeIsBilinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range [][4]int{{2, 2, 4, 4}, {3, 5, 7, 11}, {1, 4, 3, 9}, {4, 4, 4, 9}} {
		p := newPlanes(1, c[0], c[1])
		for i := range p.pix {
			p.pix[i] = rng.Float64()
		}
		got := resample(p, c[2], c[3])
		want := bilinearReference(p.pix, c[0], c[1], c[2], c[3])
		for i := range want {
			if math.Abs(got.pix[i]-want[i]) > 1e-12 {
				t.Fatalf("%v: element %d: got %v, want %v", c, i, got.pix[i], want[i])
			}
		}
	}
}

func TestResampleShrinkByHand(t *testing.T) {
	// Halving: output pixel 0 is centred at input coordinate 1; the filter
	// is twice as wide, tri((j + 0.5 − 1)/2) for j = 0, 1, 2 gives weights
	// 0.75, 0.75, 0.25, normalised by their sum 1.75. Output pixel 1 uses
	// j = 1, 2, 3 with 0.25, 0.75, 0.75.
	p := planes{c: 1, h: 1, w: 4, pix: []float64{1, 2, 4, 8}}
	got := resample(p, 1, 2).pix
	want := []float64{(0.75*1 + 0.75*2 + 0.25*4) / 1.75, (0.25*2 + 0.75*4 + 0.75*8) / 1.75}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("element %d: got %v, want %v", i, got[i], want[i])
		}
	}
	// Shrinking to one pixel averages with a tent centred on the image.
	got = resample(planes{c: 1, h: 3, w: 1, pix: []float64{3, 6, 9}}, 1, 1).pix
	// Centre 1.5, half-width 3: weights tri(±1/3) = 2/3 and tri(0) = 1.
	if w := (2.0/3*3 + 6 + 2.0/3*9) / (1 + 4.0/3); math.Abs(got[0]-w) > 1e-12 {
		t.Errorf("got %v, want %v", got[0], w)
	}
}

func TestResampleIdentity(t *testing.T) {
	p := planes{c: 2, h: 2, w: 3, pix: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}
	if got := resample(p, 2, 3); !reflect.DeepEqual(got.pix, p.pix) {
		t.Errorf("resample to the same size changed the pixels: %v", got.pix)
	}
}

func TestShorterSideCrop(t *testing.T) {
	// A 4×6 gray image, S = 2: resized to 2×3, then the 2×2 centre crop
	// starts at column round_half_even(0.5) = 0.
	img := image.NewGray(image.Rect(0, 0, 6, 4))
	for y := range 4 {
		for x := range 6 {
			img.SetGray(x, y, color.Gray{uint8(10*y + x)})
		}
	}
	shape, data, err := Load(savePNG(t, img), Options{Channels: 1, Height: 2, Width: 2, Resize: ShorterSideCrop, ShorterSide: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{1, 1, 2, 2}) {
		t.Fatalf("shape %v", shape)
	}
	// The image is linear (10y + x), and halving with a symmetric tent
	// keeps linear images linear except at the clamped borders; compute
	// rows and columns by hand: rows 0..3 → two outputs with weights
	// (0.75, 0.75, 0.25)/1.75 and (0.25, 0.75, 0.75)/1.75; columns 0..5 → three
	// outputs, the first with (0.75, 0.75, 0.25)/1.75 on columns 0, 1, 2 and the
	// second with (0.25, 0.75, 0.75, 0.25)/2 on columns 1..4.
	rowW := [][]float64{{0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75, 0}, {0, 0.25 / 1.75, 0.75 / 1.75, 0.75 / 1.75}}
	colW := [][]float64{{0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75, 0, 0, 0}, {0, 0.125, 0.375, 0.375, 0.125, 0}}
	var want []float64
	for _, rw := range rowW {
		for _, cw := range colW {
			s := 0.0
			for y := range 4 {
				for x := range 6 {
					s += rw[y] * cw[x] * float64(10*y+x) / 255
				}
			}
			want = append(want, s)
		}
	}
	checkClose(t, data, want, f32tol)
}

func TestShorterSideDefaults(t *testing.T) {
	cases := []struct{ h, w, s, wantH, wantW int }{
		{480, 640, 256, 256, 341}, // int(256·640/480) = int(341.33)
		{640, 480, 256, 341, 256},
		{100, 100, 32, 32, 32},
	}
	for _, c := range cases {
		if h, w := shorterSideSize(c.h, c.w, c.s); h != c.wantH || w != c.wantW {
			t.Errorf("shorterSideSize(%d, %d, %d) = %d×%d, want %d×%d", c.h, c.w, c.s, h, w, c.wantH, c.wantW)
		}
	}
}

// havePIL reports whether Debian's Python has NumPy and PIL.
func havePIL(t *testing.T, extra ...string) {
	t.Helper()
	mods := append([]string{"numpy", "PIL"}, extra...)
	if err := exec.Command("/usr/bin/python3", "-c", "import "+strings.Join(mods, ", ")).Run(); err != nil {
		t.Skipf("/usr/bin/python3 lacks %v: %v", mods, err)
	}
}

// TestResampleMatchesPIL compares the resampler with PIL's BILINEAR resize
// of float ("F" mode) images, enlarging, shrinking and mixed.
func TestResampleMatchesPIL(t *testing.T) {
	havePIL(t)
	rng := rand.New(rand.NewPCG(3, 4))
	type problem struct {
		InH, InW, OutH, OutW int
		Pix                  []float64
	}
	var probs []problem
	for _, c := range [][4]int{{5, 7, 3, 2}, {9, 6, 4, 13}, {28, 28, 224, 224}, {37, 53, 11, 17}, {10, 10, 7, 10}, {1, 9, 4, 2}} {
		p := problem{c[0], c[1], c[2], c[3], nil}
		for range c[0] * c[1] {
			p.Pix = append(p.Pix, math.Round(rng.Float64()*1000)/8) // exact in float32
		}
		probs = append(probs, p)
	}
	in, _ := json.Marshal(probs)
	script := `
import json, sys, numpy as np
from PIL import Image
out = []
for p in json.load(sys.stdin):
    a = np.array(p["Pix"], dtype=np.float32).reshape(p["InH"], p["InW"])
    r = Image.fromarray(a, mode="F").resize((p["OutW"], p["OutH"]), Image.BILINEAR)
    out.append(np.asarray(r, dtype=np.float64).ravel().tolist())
print(json.dumps(out))
`
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("PIL: %v", err)
	}
	var want [][]float64
	if err := json.Unmarshal(outb, &want); err != nil {
		t.Fatal(err)
	}
	for k, p := range probs {
		got := resample(planes{c: 1, h: p.InH, w: p.InW, pix: p.Pix}, p.OutH, p.OutW).pix
		for i := range got {
			// PIL accumulates in double but stores float32.
			if d := math.Abs(got[i] - want[k][i]); d > 1e-6*max(1, math.Abs(want[k][i])) {
				t.Fatalf("%d×%d→%d×%d element %d: got %v, PIL %v", p.InH, p.InW, p.OutH, p.OutW, i, got[i], want[k][i])
			}
		}
	}
}

// TestMatchesTorchvision runs the ImageNet preprocessing of torchvision
// (Resize(S), CenterCrop, ToTensor, Normalize) on the same PNG. PIL rounds
// to 8 bits after resizing and this package does not, so values may differ
// by about a level divided by std.
func TestMatchesTorchvision(t *testing.T) {
	if testing.Short() {
		t.Skip("importing torchvision takes several seconds")
	}
	havePIL(t, "torchvision")
	rng := rand.New(rand.NewPCG(5, 6))
	img := image.NewNRGBA(image.Rect(0, 0, 45, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	path := savePNG(t, img)
	cases := []struct {
		opts  Options
		trans string
	}{
		{Options{Channels: 3, Height: 16, Width: 16, Resize: ShorterSideCrop, ShorterSide: 20, Mean: ImageNetMean, Std: ImageNetStd},
			`T.Compose([T.Resize(20), T.CenterCrop(16), T.ToTensor(), T.Normalize(mean, std)])`},
		{Options{Channels: 3, Height: 50, Width: 21, Resize: ShorterSideCrop, Mean: ImageNetMean, Std: ImageNetStd},
			`T.Compose([T.Resize(57), T.CenterCrop((50, 21)), T.ToTensor(), T.Normalize(mean, std)])`},
		{Options{Channels: 3, Height: 12, Width: 40, Mean: ImageNetMean, Std: ImageNetStd},
			`T.Compose([T.Resize((12, 40)), T.ToTensor(), T.Normalize(mean, std)])`},
		{Options{Channels: 1, Height: 28, Width: 28, Mean: []float64{0.2860}, Std: []float64{0.3530}},
			`T.Compose([T.Grayscale(), T.Resize((28, 28)), T.ToTensor(), T.Normalize([0.2860], [0.3530])])`},
	}
	var transforms []string
	for _, c := range cases {
		transforms = append(transforms, c.trans)
	}
	script := `
import json, sys
from PIL import Image
import torchvision.transforms as T
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
img = Image.open(sys.argv[1]).convert("RGB")
out = []
for tr in json.load(sys.stdin):
    x = eval(tr)(img)
    out.append({"shape": [1] + list(x.shape), "data": x.double().ravel().tolist()})
print(json.dumps(out))
`
	in, _ := json.Marshal(transforms)
	cmd := exec.Command("/usr/bin/python3", "-c", script, path)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("torchvision: %v", err)
	}
	var refs []struct {
		Shape []int
		Data  []float64
	}
	if err := json.Unmarshal(out, &refs); err != nil {
		t.Fatal(err)
	}
	for k, c := range cases {
		shape, data, err := Load(path, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(shape, refs[k].Shape) {
			t.Fatalf("%s: shape %v, torchvision %v", c.trans, shape, refs[k].Shape)
		}
		minStd := 1.0
		for _, s := range c.opts.Std {
			minStd = min(minStd, s)
		}
		// PIL rounds to 8 bits after each of its two resampling passes
		// (half a level each), and for the grayscale case once more after
		// its integer luma conversion.
		tol := 1.0 / 255 / minStd
		if c.opts.Channels == 1 {
			tol = 1.5 / 255 / minStd
		}
		checkClose(t, data, refs[k].Data, tol+1e-6)
	}
}

func TestLoadRejects(t *testing.T) {
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	ok := Options{Channels: 3}
	cases := []struct {
		name string
		data []byte
		opts Options
		want string
	}{
		{"text", []byte("hello"), ok, "not a PNG or JPEG"},
		{"gif", gifBuf.Bytes(), ok, "gif"},
		{"huge png", hugePNGHeader(100000, 100000), ok, "100000×100000"},
		{"truncated png", hugePNGHeader(4, 4), ok, "decoding png"},
		{"channels", nil, Options{Channels: 2}, "channels must be 1 or 3"},
		{"half size", nil, Options{Channels: 1, Height: 3}, "invalid output size"},
		{"mean length", nil, Options{Channels: 3, Mean: []float64{1}}, "mean has 1 values for 3 channels"},
		{"zero std", nil, Options{Channels: 1, Std: []float64{0}}, "std[0] = 0"},
		{"crop too big", nil, Options{Channels: 1, Height: 5, Width: 9, Resize: ShorterSideCrop, ShorterSide: 5}, "cannot crop 5×9"},
	}
	small := image.NewGray(image.Rect(0, 0, 4, 4))
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, small); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		data := c.data
		if data == nil {
			data = pngBuf.Bytes()
		}
		_, _, err := Decode(bytes.NewReader(data), c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.png"), ok); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: error %v", err)
	}
}

// hugePNGHeader returns a PNG signature and IHDR chunk declaring a w×h
// 8-bit gray image, with no image data.
func hugePNGHeader(w, h uint32) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		panic(err)
	}
	b := buf.Bytes()[:33] // signature (8) + IHDR (4 length + 4 type + 13 data + 4 CRC)
	put := func(off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	put(16, w)
	put(20, h)
	put(29, crc32.ChecksumIEEE(b[12:29]))
	return b
}
