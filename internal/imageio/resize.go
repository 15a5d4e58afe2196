package imageio

import (
	"fmt"
	"math"
)

// resize brings the planes to the size opts request.
func resize(p planes, opts Options) (planes, error) {
	if opts.Height == 0 {
		return p, nil
	}
	if opts.Resize == Stretch {
		return resample(p, opts.Height, opts.Width), nil
	}
	s := opts.ShorterSide
	if s == 0 {
		s = int(math.Round(float64(max(opts.Height, opts.Width)) * 256 / 224))
	}
	h, w := shorterSideSize(p.h, p.w, s)
	if h < opts.Height || w < opts.Width {
		return planes{}, fmt.Errorf("cannot crop %d×%d from the image resized to %d×%d (shorter side %d)", opts.Height, opts.Width, h, w, s)
	}
	return centerCrop(resample(p, h, w), opts.Height, opts.Width), nil
}

// shorterSideSize is torchvision's Resize(s) output size: the shorter side
// becomes s and the longer side is scaled in proportion, truncated.
func shorterSideSize(h, w, s int) (int, int) {
	if h <= w {
		return s, max(1, int(float64(s)*float64(w)/float64(h)))
	}
	return max(1, int(float64(s)*float64(h)/float64(w))), s
}

// centerCrop cuts the central h × w window; like torchvision, the offsets
// are rounded half to even.
func centerCrop(p planes, h, w int) planes {
	top := int(math.RoundToEven(float64(p.h-h) / 2))
	left := int(math.RoundToEven(float64(p.w-w) / 2))
	out := newPlanes(p.c, h, w)
	for c := range p.c {
		src, dst := p.plane(c), out.plane(c)
		for y := range h {
			copy(dst[y*w:(y+1)*w], src[(top+y)*p.w+left:])
		}
	}
	return out
}

// resample resizes every plane to h × w, separably: rows first, then
// columns.
func resample(p planes, h, w int) planes {
	if p.h == h && p.w == w {
		return p
	}
	colTaps, rowTaps := filterTaps(p.w, w), filterTaps(p.h, h)
	out := newPlanes(p.c, h, w)
	tmp := make([]float64, p.h*w)
	for c := range p.c {
		src, dst := p.plane(c), out.plane(c)
		for y := range p.h {
			applyTaps(tmp[y*w:(y+1)*w], src[y*p.w:(y+1)*p.w], colTaps)
		}
		for x := range w {
			applyTapsStrided(dst, x, w, tmp, rowTaps)
		}
	}
	return out
}

// taps are the input span and normalised weights of one output sample.
type taps struct {
	first   int
	weights []float64
}

// filterTaps computes, for each of the out output samples along an axis of
// in input samples, the weights of the triangle (bilinear) filter. Output
// sample i is centred at input coordinate (i + 0.5) · in/out, in pixel
// units where input pixel j covers [j, j+1). When shrinking, the filter is
// stretched by the scale factor so every input pixel contributes
// (anti-aliasing); when enlarging this is plain bilinear interpolation with
// half-pixel centres. Weights falling outside the image are dropped and the
// rest renormalised, which clamps at the borders.
func filterTaps(in, out int) []taps {
	scale := float64(in) / float64(out)
	width := max(scale, 1) // the filter's half-width in input pixels
	res := make([]taps, out)
	for i := range res {
		center := (float64(i) + 0.5) * scale
		lo := max(int(math.Floor(center-width+0.5)), 0)
		hi := min(int(math.Floor(center+width+0.5)), in)
		ws := make([]float64, hi-lo)
		sum := 0.0
		for j := range ws {
			d := math.Abs((float64(lo+j) + 0.5 - center) / width)
			ws[j] = max(0, 1-d)
			sum += ws[j]
		}
		for j := range ws {
			ws[j] /= sum
		}
		res[i] = taps{first: lo, weights: ws}
	}
	return res
}

// applyTaps computes dst[i] = Σ_j weights[j] · src[first+j].
func applyTaps(dst, src []float64, t []taps) {
	for i, tp := range t {
		s := 0.0
		for j, wt := range tp.weights {
			s += wt * src[tp.first+j]
		}
		dst[i] = s
	}
}

// applyTapsStrided resamples column x of src (row length w) into column x
// of dst.
func applyTapsStrided(dst []float64, x, w int, src []float64, t []taps) {
	for i, tp := range t {
		s := 0.0
		for j, wt := range tp.weights {
			s += wt * src[(tp.first+j)*w+x]
		}
		dst[i*w+x] = s
	}
}
