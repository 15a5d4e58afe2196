package imageio

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode, seeded with small PNG and
// JPEG files. Decode must never panic, and what it accepts must have the
// requested shape and finite values.
func FuzzDecode(f *testing.F) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	var p, j, g bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		f.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		f.Fatal(err)
	}
	gray := image.NewGray16(image.Rect(0, 0, 2, 2))
	gray.SetGray16(1, 1, color.Gray16{Y: 0x8000})
	if err := png.Encode(&g, gray); err != nil {
		f.Fatal(err)
	}
	f.Add(p.Bytes(), uint8(3), uint8(4))
	f.Add(j.Bytes(), uint8(1), uint8(0))
	f.Add(g.Bytes(), uint8(3), uint8(9))
	f.Fuzz(func(t *testing.T, b []byte, channels, size uint8) {
		opts := Options{Channels: 1 + 2*int(channels%2), Height: int(size % 16), Width: int(size % 16)}
		if size >= 128 {
			opts.Resize = ShorterSideCrop
		}
		shape, data, err := Decode(bytes.NewReader(b), opts)
		if err != nil {
			return
		}
		if len(shape) != 4 || shape[0] != 1 || shape[1] != opts.Channels || shape[1]*shape[2]*shape[3] != len(data) {
			t.Fatalf("shape %v with %d values", shape, len(data))
		}
		if opts.Height > 0 && (shape[2] != opts.Height || shape[3] != opts.Width) {
			t.Fatalf("shape %v, want %d×%d", shape, opts.Height, opts.Width)
		}
		for i, v := range data {
			if math.IsNaN(float64(v)) || v < 0 || v > 1 {
				t.Fatalf("value %d = %v outside [0, 1]", i, v)
			}
		}
	})
}
