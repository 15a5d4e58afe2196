package conv

import (
	"errors"
	"fmt"
	"sync"
)

// Geometry describes a 2-D convolution of one [C, H, W] image by a [M, C/Group, KH, KW] filter
// into one [M, OutH, OutW] image. A 1-D convolution is the case H = KH = SH = DH = 1 with zero
// top and bottom padding.
type Geometry struct {
	// C, H and W are the input channels, height and width.
	C, H, W int
	// M is the number of output channels.
	M int
	// KH and KW are the kernel (window) height and width.
	KH, KW int
	// SH and SW are the strides, DH and DW the dilations (1 for a dense window).
	SH, SW, DH, DW int
	// Pads extend the input with zeros on each side.
	PadTop, PadLeft, PadBottom, PadRight int
	// Group splits the channels into Group independent convolutions.
	Group int
}

// OutH is the output height, or a value <= 0 if the window does not fit.
func (g Geometry) OutH() int { return OutSize(g.H, g.KH, g.SH, g.DH, g.PadTop, g.PadBottom, false) }

// OutW is the output width, or a value <= 0 if the window does not fit.
func (g Geometry) OutW() int { return OutSize(g.W, g.KW, g.SW, g.DW, g.PadLeft, g.PadRight, false) }

// OutHW is the number of output pixels per channel, OutH·OutW: the columns of the GEMM.
func (g Geometry) OutHW() int { return g.OutH() * g.OutW() }

// CG is the number of input channels per group.
func (g Geometry) CG() int { return g.C / g.Group }

// MG is the number of output channels per group: the rows of each group's GEMM.
func (g Geometry) MG() int { return g.M / g.Group }

// K is the length of one patch, C/Group·KH·KW: the inner dimension of each group's GEMM and the
// number of values per output channel in the filter.
func (g Geometry) K() int { return g.CG() * g.KH * g.KW }

// InputLen is the number of values of one input image, C·H·W.
func (g Geometry) InputLen() int { return g.C * g.H * g.W }

// OutputLen is the number of values of one output image, M·OutH·OutW.
func (g Geometry) OutputLen() int { return g.M * g.OutHW() }

// FilterLen is the number of filter values, M·C/Group·KH·KW.
func (g Geometry) FilterLen() int { return g.M * g.K() }

// FLOPs is the number of floating-point operations of one image: a multiply and an add per
// filter tap and output value.
func (g Geometry) FLOPs() int64 { return 2 * int64(g.M) * int64(g.K()) * int64(g.OutHW()) }

// Depthwise reports whether every group has a single input channel (C == Group), as in
// MobileNet's depthwise layers; M may be a multiple of C.
func (g Geometry) Depthwise() bool { return g.CG() == 1 }

// Pointwise reports whether the patch matrix is the input itself: a 1×1 window with unit stride
// and no padding.
func (g Geometry) Pointwise() bool {
	return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 &&
		g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0
}

// sampledPoint reports whether g is a strided 1×1 convolution without padding: one input pixel
// per output pixel, on a grid of every SH-th row and SW-th column. Its patch matrix is that
// grid, which samplePoints copies out for a plain product when the product runs on one
// goroutine (ResNet-18's 64→128 layer at 56×56: 125 → 116 µs against packing the grid's
// panels from the image). Split over two, the copy was slower than the packer: each goroutine
// then packs columns the other one copied (72 → 77–97 µs).
func (g Geometry) sampledPoint() bool {
	return g.KH == 1 && g.KW == 1 && (g.SH > 1 || g.SW > 1) &&
		g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0
}

// SampledGrid is the geometry of a sampledPoint convolution g applied to its sampled grid
// (samplePoints): the same channels and outputs, a 1×1 window of stride 1 on an OutH×OutW
// input.
func (g Geometry) SampledGrid() Geometry {
	s := g
	s.H, s.W = g.OutH(), g.OutW()
	s.SH, s.SW = 1, 1
	return s
}

// samplePoints sets dst[c][oh][ow] = xg[c][oh·SH][ow·SW] for the C/Group channels of xg:
// [C/Group, H, W] (dst: [C/Group, OutH, OutW]).
func (g Geometry) samplePoints(dst, xg []float32) {
	oh, ow, cg := g.OutH(), g.OutW(), g.CG()
	dst, xg = dst[:cg*oh*ow], xg[:cg*g.H*g.W]
	for r := range cg * oh {
		c, y := r/oh, r%oh
		src := xg[c*g.H*g.W+y*g.SH*g.W:]
		out := dst[r*ow : (r+1)*ow]
		if g.SW == 2 { // the common stride, a constant multiplier: 21 against 23 µs for 64×56²
			src = src[:2*len(out)-1]
			for t := range out {
				out[t] = src[2*t]
			}
			continue
		}
		for t := range out {
			out[t] = src[t*g.SW]
		}
	}
}

// CheckFilter validates everything that does not depend on the input size: channel counts,
// group, kernel, strides, dilations and pads. The error names the offending field.
func (g Geometry) CheckFilter() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if g.Group <= 0 {
		bad("group %d: must be positive", g.Group)
	}
	if g.C <= 0 || g.M <= 0 {
		bad("channels: need C > 0 and M > 0, got C=%d M=%d", g.C, g.M)
	}
	if g.Group > 0 && g.C%g.Group != 0 {
		bad("group %d does not divide the %d input channels", g.Group, g.C)
	}
	if g.Group > 0 && g.M%g.Group != 0 {
		bad("group %d does not divide the %d output channels", g.Group, g.M)
	}
	if g.KH <= 0 || g.KW <= 0 {
		bad("kernel %dx%d: must be positive", g.KH, g.KW)
	}
	if g.SH <= 0 || g.SW <= 0 {
		bad("strides %dx%d: must be positive", g.SH, g.SW)
	}
	if g.DH <= 0 || g.DW <= 0 {
		bad("dilations %dx%d: must be positive", g.DH, g.DW)
	}
	if g.PadTop < 0 || g.PadLeft < 0 || g.PadBottom < 0 || g.PadRight < 0 {
		bad("pads [%d %d %d %d]: must not be negative", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight)
	}
	return errors.Join(errs...)
}

// Validate checks the whole geometry: CheckFilter, a non-empty input and a window that fits
// into the padded input. The error names the offending field.
func (g Geometry) Validate() error {
	if err := g.CheckFilter(); err != nil {
		return err
	}
	if g.H <= 0 || g.W <= 0 {
		return fmt.Errorf("input size %dx%d: must be positive", g.H, g.W)
	}
	if g.OutH() <= 0 || g.OutW() <= 0 {
		return fmt.Errorf("output size %dx%d: the %dx%d window (dilations %dx%d) does not fit the %dx%d input padded by [%d %d %d %d]",
			g.OutH(), g.OutW(), g.KH, g.KW, g.DH, g.DW, g.H, g.W, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight)
	}
	return nil
}

// OutSize is the number of window positions along one axis: an input of length in, padded by
// padBegin and padEnd, scanned by a window of k taps dilation d apart, with stride s: the
// windows that fit in the padded input. With ceil, a last window that sticks out past the end
// counts too, unless it would start in the end padding (the rule of PyTorch and ONNX Runtime);
// such a window may then also be longer than the padded input. It returns 0 if no window fits.
func OutSize(in, k, s, d, padBegin, padEnd int, ceil bool) int {
	if s <= 0 {
		return 0
	}
	span := d*(k-1) + 1
	room := in + padBegin + padEnd - span
	if !ceil {
		return max(0, floorDiv(room, s)+1)
	}
	// In ceil mode a window may also reach past the end padding, as long as it starts inside.
	out := -floorDiv(-room, s) + 1
	if out > 0 && (out-1)*s >= in+padBegin {
		out--
	}
	return max(0, out)
}

// AutoPad is ONNX's auto_pad attribute of Conv and the pooling operators.
type AutoPad int

// The auto_pad modes.
const (
	// NotSet uses the explicit pads.
	NotSet AutoPad = iota
	// SameUpper pads so that the output size is ceil(in/stride), the odd pad at the end.
	SameUpper
	// SameLower is SameUpper with the odd pad at the beginning.
	SameLower
	// Valid uses no padding.
	Valid
)

// ParseAutoPad decodes the attribute's string value ("" means NOTSET).
func ParseAutoPad(s string) (AutoPad, error) {
	switch s {
	case "", "NOTSET":
		return NotSet, nil
	case "SAME_UPPER":
		return SameUpper, nil
	case "SAME_LOWER":
		return SameLower, nil
	case "VALID":
		return Valid, nil
	}
	return NotSet, fmt.Errorf("unknown auto_pad %q (want NOTSET, SAME_UPPER, SAME_LOWER or VALID)", s)
}

// String returns the ONNX spelling of the mode.
func (a AutoPad) String() string {
	switch a {
	case SameUpper:
		return "SAME_UPPER"
	case SameLower:
		return "SAME_LOWER"
	case Valid:
		return "VALID"
	}
	return "NOTSET"
}

// Pads resolves the padding of one axis of length in for a window of k taps, stride s and
// dilation d. NotSet returns the explicit pads unchanged; Valid returns zeros; the Same modes
// return the smallest total padding that gives ceil(in/s) outputs, split evenly with the odd one
// at the end (SameUpper) or the beginning (SameLower).
func (a AutoPad) Pads(in, k, s, d, padBegin, padEnd int) (begin, end int) {
	switch a {
	case Valid:
		return 0, 0
	case SameUpper, SameLower:
		out := (in + s - 1) / s
		total := max(0, (out-1)*s+d*(k-1)+1-in)
		if a == SameUpper {
			return total / 2, total - total/2
		}
		return total - total/2, total / 2
	}
	return padBegin, padEnd
}

// padRows writes rows [r0, r1) of the padded plane dst: [rows, wp] from the plane src: [h, w]:
// row r, column c holds src[r − top][c − left], and fill where that lies outside src (columns
// of src beyond wp − left are left out).
func padRows(dst, src []float32, h, w, top, left, wp, r0, r1 int, fill float32) {
	n := max(0, min(w, wp-left))
	for r := r0; r < r1; r++ {
		row := dst[r*wp : (r+1)*wp]
		ih := r - top
		if ih < 0 || ih >= h {
			fill32(row, fill)
			continue
		}
		fill32(row[:left], fill)
		copy(row[left:left+n], src[ih*w:][:n])
		fill32(row[left+n:], fill)
	}
}

// fill32 sets every value of s to v.
func fill32(s []float32, v float32) {
	if v == 0 {
		clear(s) // +0, as the loop would write
		return
	}
	for i := range s {
		s[i] = v
	}
}

// floatBuffers holds scratch slices of float32 (contents undefined) shared by the kernels that
// need a padded copy of their input for one call: the stem kernel, the padded 3×3/2 max pool.
var floatBuffers sync.Pool

// getFloats returns a pooled buffer of n values (contents undefined); put it back into
// floatBuffers when done.
func getFloats(n int) *[]float32 {
	b, _ := floatBuffers.Get().(*[]float32)
	if b == nil || cap(*b) < n {
		s := make([]float32, n)
		return &s
	}
	*b = (*b)[:n]
	return b
}
