package imageio

import (
	"image"
	"image/color"
)

// planes holds an image as c channel planes of h × w float64 values in
// [0, 1], row-major, one plane after another.
type planes struct {
	c, h, w int
	pix     []float64
}

func newPlanes(c, h, w int) planes {
	return planes{c: c, h: h, w: w, pix: make([]float64, c*h*w)}
}

func (p planes) plane(c int) []float64 { return p.pix[c*p.h*p.w : (c+1)*p.h*p.w] }

// ITU-R 601 luma weights, as PIL's convert("L") uses.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// toPlanes converts img to channels planes of values in [0, 1].
func toPlanes(img image.Image, channels int) planes {
	bounds := img.Bounds()
	w, h := bounds.Dx(), bounds.Dy()
	out := newPlanes(channels, h, w)
	gray, isGray := grayReader(img)
	rgb := rgbReader(img)
	for y := range h {
		for x := range w {
			i := y*w + x
			px, py := bounds.Min.X+x, bounds.Min.Y+y
			switch {
			case isGray:
				v := gray(px, py)
				for c := range channels {
					out.pix[c*h*w+i] = v
				}
			case channels == 3:
				r, g, b := rgb(px, py)
				out.pix[i], out.pix[h*w+i], out.pix[2*h*w+i] = r, g, b
			default:
				out.pix[i] = luma(rgb(px, py))
			}
		}
	}
	return out
}

// luma is the gray level of an RGB colour; gray colours map to themselves
// exactly.
func luma(r, g, b float64) float64 {
	if r == g && g == b {
		return r
	}
	return lumaR*r + lumaG*g + lumaB*b
}

// grayReader returns a pixel reader for single-channel images.
func grayReader(img image.Image) (func(x, y int) float64, bool) {
	switch m := img.(type) {
	case *image.Gray:
		return func(x, y int) float64 { return float64(m.GrayAt(x, y).Y) / 0xff }, true
	case *image.Gray16:
		return func(x, y int) float64 { return float64(m.Gray16At(x, y).Y) / 0xffff }, true
	}
	return nil, false
}

// rgbReader returns a reader of non-premultiplied colour, dropping alpha.
func rgbReader(img image.Image) func(x, y int) (r, g, b float64) {
	switch m := img.(type) {
	case *image.NRGBA:
		return func(x, y int) (float64, float64, float64) {
			c := m.NRGBAAt(x, y)
			return float64(c.R) / 0xff, float64(c.G) / 0xff, float64(c.B) / 0xff
		}
	case *image.RGBA:
		if m.Opaque() {
			return func(x, y int) (float64, float64, float64) {
				c := m.RGBAAt(x, y)
				return float64(c.R) / 0xff, float64(c.G) / 0xff, float64(c.B) / 0xff
			}
		}
	}
	return func(x, y int) (float64, float64, float64) {
		c := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
		return float64(c.R) / 0xffff, float64(c.G) / 0xffff, float64(c.B) / 0xffff
	}
}

// normalize returns (x − mean[c]) / std[c] as float32.
func (p planes) normalize(mean, std []float64) []float32 {
	out := make([]float32, len(p.pix))
	for c := range p.c {
		m, s := 0.0, 1.0
		if mean != nil {
			m = mean[c]
		}
		if std != nil {
			s = std[c]
		}
		for i, v := range p.plane(c) {
			out[c*p.h*p.w+i] = float32((v - m) / s)
		}
	}
	return out
}
