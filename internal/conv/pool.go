package conv

import (
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Window is one spatial axis of a pooling window: an input of length In, padded by PadBegin and
// PadEnd, scanned by K taps Dilation apart with step Stride. Ceil counts a last partial step.
type Window struct {
	In, K, Stride, Dilation, PadBegin, PadEnd int
	Ceil                                      bool
}

// Out is the number of window positions, or 0 if the window does not fit.
func (w Window) Out() int {
	return OutSize(w.In, w.K, w.Stride, w.Dilation, w.PadBegin, w.PadEnd, w.Ceil)
}

// Check validates the window; the error names the offending field.
func (w Window) Check() error {
	switch {
	case w.K <= 0:
		return fmt.Errorf("kernel size %d: must be positive", w.K)
	case w.Stride <= 0:
		return fmt.Errorf("stride %d: must be positive", w.Stride)
	case w.Dilation <= 0:
		return fmt.Errorf("dilation %d: must be positive", w.Dilation)
	case w.PadBegin < 0 || w.PadEnd < 0:
		return fmt.Errorf("pads %d, %d: must not be negative", w.PadBegin, w.PadEnd)
	case w.In <= 0:
		return fmt.Errorf("input size %d: must be positive", w.In)
	case w.Out() <= 0:
		return fmt.Errorf("output size: a window of %d taps (dilation %d) does not fit an input of %d padded by %d, %d",
			w.K, w.Dilation, w.In, w.PadBegin, w.PadEnd)
	}
	return nil
}

// span is the part of a window at one output position: taps [lo, hi) fall inside the input
// (tap k reads input index start + k·dilation), and padded taps fall inside the padded input.
type span struct{ lo, hi, start, padded int }

// spans returns the span of every output position of w.
func (w Window) spans() []span {
	out := make([]span, w.Out())
	for o := range out {
		start := o*w.Stride - w.PadBegin
		lo, hi := ValidSpan(w.K, start, w.Dilation, w.In)
		// Taps inside [-PadBegin, In+PadEnd): the divisor when padding counts.
		padded := min(w.K, (w.In+w.PadEnd-start+w.Dilation-1)/w.Dilation)
		out[o] = span{lo: lo, hi: hi, start: start, padded: padded}
	}
	return out
}

// PoolGeometry describes pooling over planes of up to three spatial axes [D, H, W]; 1-D and 2-D
// pools use windows of size 1 on the leading axes (Window{In: 1, K: 1, Stride: 1, Dilation: 1}).
type PoolGeometry struct {
	Axes [3]Window
}

// NewPoolGeometry builds the geometry of a pool over the trailing len(w) axes (1 to 3), filling
// the leading ones with unit windows.
func NewPoolGeometry(w []Window) PoolGeometry {
	var p PoolGeometry
	unit := Window{In: 1, K: 1, Stride: 1, Dilation: 1}
	for i := range p.Axes {
		p.Axes[i] = unit
	}
	copy(p.Axes[3-len(w):], w)
	return p
}

// Check validates every axis.
func (p PoolGeometry) Check() error {
	for i, w := range p.Axes {
		if err := w.Check(); err != nil {
			return fmt.Errorf("spatial axis %d: %w", i, err)
		}
	}
	return nil
}

// InLen and OutLen are the sizes of one input and one output plane.
func (p PoolGeometry) InLen() int { return p.Axes[0].In * p.Axes[1].In * p.Axes[2].In }

// OutLen is the size of one output plane.
func (p PoolGeometry) OutLen() int { return p.Axes[0].Out() * p.Axes[1].Out() * p.Axes[2].Out() }

// Poolable lists the element types of MaxPool.
type Poolable interface {
	float32 | float64 | int8 | uint8
}

// MaxPool sets each output to the largest input under its window, ignoring padding: x is
// [planes, D, H, W] and y is [planes, OutD, OutH, OutW]. A NaN in the window gives NaN. If idx
// is not nil it receives the position of each maximum (the first one on ties) as an index into
// x: plane·InLen plus the position within the plane, counted row-major (C order) or, with
// colMajor, column-major (the first spatial axis fastest). A window that covers padding only
// yields the type's lowest value (−Inf for floats) and index −1. p must pass Check.
func MaxPool[T Poolable](p PoolGeometry, x, y []T, idx []int64, colMajor bool, planes, threads int) {
	if x32, ok := any(x).([]float32); ok && idx == nil && pool3x3Same(p) {
		pool3x3Planes(p, x32, any(y).([]float32), planes, threads, false, false)
		return
	}
	pw := newPoolWalk(p)
	lowest := lowestValue[T]()
	if x32, ok := any(x).([]float32); ok && idx == nil && pool3s2Whole(pw) {
		y32 := any(y).([]float32)
		k := activeRow.Load()
		parallel.For(threads, planes, func(lo, hi int) {
			runPool3s2Rect(k, &pool3s2RectArgs{y: y32[lo*pw.outLen : hi*pw.outLen], x: x32[lo*pw.inLen : hi*pw.inLen],
				n: pw.axes[2].Out(), rows: pw.axes[1].Out(), planes: hi - lo, xRow: pw.w, yRow: pw.axes[2].Out(),
				xPlane: pw.inLen, yPlane: pw.outLen})
		})
		return
	}
	if x32, ok := any(x).([]float32); ok && idx == nil && pool3s2(pw) && pw.axes[0].In == 1 &&
		pw.axes[1].PadBegin < 3 && pw.axes[2].PadBegin < 3 && pw.outLen > 0 {
		maxPool3s2Padded(pw, x32, any(y).([]float32), planes, threads)
		return
	}
	parallel.For(threads, planes, func(lo, hi int) {
		var colMax []float32
		for pl := lo; pl < hi; pl++ {
			xp, yp := x[pl*pw.inLen:(pl+1)*pw.inLen], y[pl*pw.outLen:(pl+1)*pw.outLen]
			if idx != nil {
				maxPoolIndices(pw, xp, yp, idx[pl*pw.outLen:(pl+1)*pw.outLen], lowest, pl, colMajor)
				continue
			}
			if x32, ok := any(xp).([]float32); ok {
				if poolStride1(pw) {
					maxPoolStride1Plane32(pw, x32, any(yp).([]float32), &colMax)
					continue
				}
				maxPoolPlane32(pw, x32, any(yp).([]float32), &colMax)
				continue
			}
			poolRows(pw, yp, func(yrow []T, a, b span) {
				for i := range yrow {
					yrow[i] = lowest
				}
				poolInputRows(pw, xp, a, b, func(xrow []T) { maxRow(yrow, xrow, pw) })
			})
		}
	})
}

// maxRow folds one input row into a row of maxima: yrow[ow] = max(yrow[ow], the row's taps of
// window column ow). On the interior columns, whose windows lie wholly inside the row, it runs
// tap by tap across the columns, so consecutive maxima do not wait on each other.
func maxRow[T Poolable](yrow, xrow []T, pw *poolWalk) {
	// The builtin max is branch-free (and propagates NaN): a data-dependent branch would be
	// mispredicted about half the time on real activations.
	l, r := pw.interior[0], pw.interior[1]
	for k := range pw.axes[2].K {
		off := k*pw.dw - pw.axes[2].PadBegin
		for ow := l; ow < r; ow++ {
			yrow[ow] = max(yrow[ow], xrow[ow*pw.axes[2].Stride+off])
		}
	}
	maxBorder(yrow, xrow, pw)
}

// maxBorder folds xrow into the outputs of yrow whose windows reach past the row's ends (the
// taps inside the row only).
func maxBorder[T Poolable](yrow, xrow []T, pw *poolWalk) {
	for _, ow := range pw.border {
		c := pw.sw[ow]
		m := yrow[ow]
		for k := c.lo; k < c.hi; k++ {
			m = max(m, xrow[c.start+k*pw.dw])
		}
		yrow[ow] = m
	}
}

// poolStride1 reports whether the whole-plane float32 pools take the plane: a 2-D window with
// unit strides and dilations (the inception branches' 3×3 pools).
func poolStride1(pw *poolWalk) bool {
	h, w := pw.axes[1], pw.axes[2]
	return pw.axes[0].In == 1 && pw.axes[0].K == 1 && h.Stride == 1 && w.Stride == 1 && pw.dh == 1 && pw.dw == 1 &&
		pw.interior[1] > pw.interior[0]
}

// verticalPasses sets v (OutH rows of W values, the first half of *scratch) to the fold (fold(dst, src)
// combines src into dst) of the input rows under each output row's window, and returns it:
// the rows whose windows lie wholly inside the plane as one block, a long vector pass per
// tap over consecutive input rows; the others row by row; a row whose window holds no input
// row gets empty.
func verticalPasses(pw *poolWalk, xp []float32, scratch *[]float32, empty float32, fold func(dst, src []float32)) []float32 {
	hAx := pw.axes[1]
	w, oh := pw.w, hAx.Out()
	if cap(*scratch) < 2*oh*w {
		*scratch = make([]float32, 2*oh*w) // v, then room for horizontalPasses
	}
	v := (*scratch)[:oh*w]
	a, b := oh, oh // rows [a, b) have all KH taps inside the plane
	for o, sp := range pw.sh {
		if sp.lo == 0 && sp.hi == hAx.K {
			a, b = min(a, o), o+1
		}
	}
	for o, sp := range pw.sh {
		if o >= a && o < b {
			continue
		}
		row := v[o*w : (o+1)*w]
		if sp.lo >= sp.hi {
			for i := range row {
				row[i] = empty
			}
			continue
		}
		copy(row, xp[(sp.start+sp.lo)*w:][:w])
		for k := sp.lo + 1; k < sp.hi; k++ {
			fold(row, xp[(sp.start+k)*w:][:w])
		}
	}
	if b > a {
		block := v[a*w : b*w]
		first := (a - hAx.PadBegin) * w
		copy(block, xp[first:first+len(block)])
		for k := 1; k < hAx.K; k++ {
			fold(block, xp[first+k*w:first+k*w+len(block)])
		}
	}
	return v
}

// horizontalPasses sets the interior outputs [l, r) of every output row of yp (rows of ow
// values) to the fold (fold(dst, src) combines src into dst) of the K horizontally shifted
// windows of v (rows of w values), as one flat span over all rows (the values between rows
// are border outputs, which the caller redoes): straight into yp when ow = w, otherwise into
// h (the second half of the scratch that verticalPasses sized, rows of w values) and then
// copied out row by row. (Row by row, the passes over rows of a few dozen values cost more
// in calls than in adds: Inception's 3×3 average pools on padded 37×37 planes took 5 ms.)
func horizontalPasses(pw *poolWalk, yp, v []float32, oh int, fold func(dst, src []float32), scratch []float32) {
	wAx := pw.axes[2]
	w, ow := pw.w, wAx.Out()
	l, r := pw.interior[0], pw.interior[1]
	if r <= l {
		return
	}
	off := l - wAx.PadBegin
	if ow == w {
		foldShifted(yp[l:(oh-1)*w+r], v[off:], wAx.K, fold)
		return
	}
	h := scratch[oh*w : 2*oh*w]
	foldShifted(h[l:(oh-1)*w+r], v[off:], wAx.K, fold)
	for o := range oh {
		copy(yp[o*ow+l:o*ow+r], h[o*w+l:o*w+r])
	}
}

// foldShifted sets dst[i] to the fold of src[i], src[i+1], ..., src[i+k−1] (a unit-stride
// window of k taps), one vector pass per tap.
func foldShifted(dst, src []float32, k int, fold func(dst, src []float32)) {
	copy(dst, src[:len(dst)])
	for t := 1; t < k; t++ {
		fold(dst, src[t:t+len(dst)])
	}
}

// maxPoolStride1Plane32 is MaxPool of one float32 plane with unit strides (poolStride1),
// separably over the whole plane: the vertical maxima V (OutH rows of W values) are long
// vector passes over consecutive input rows, one per tap, and the interior outputs one pass
// per horizontal tap over V (horizontalPasses); the outputs whose windows leave a row are
// then redone from V row by row.
func maxPoolStride1Plane32(pw *poolWalk, xp, yp []float32, scratch *[]float32) {
	wAx := pw.axes[2]
	w, oh := pw.w, pw.axes[1].Out()
	v := verticalPasses(pw, xp, scratch, float32(math.Inf(-1)), maxRows32)
	horizontalPasses(pw, yp, v, oh, maxRows32, *scratch)
	lowest := float32(math.Inf(-1))
	outW := wAx.Out()
	for o := range oh {
		yrow, vrow := yp[o*outW:(o+1)*outW], v[o*w:(o+1)*w]
		for _, ow := range pw.border {
			yrow[ow] = lowest
		}
		maxBorder(yrow, vrow, pw)
	}
}

// maxPoolPlane32 is MaxPool of one float32 plane without indices, in two passes per output
// row: the input rows under its windows are folded into one row of column maxima with vector
// instructions (*colMax is the scratch row), which maxRow then pools across. Max is
// associative, so this is the maximum over the same taps (up to the sign of a zero result).
func maxPoolPlane32(pw *poolWalk, xp, yp []float32, colMax *[]float32) {
	if cap(*colMax) < 2*pw.w {
		*colMax = make([]float32, 2*pw.w)
	}
	cm, pairs := (*colMax)[:pw.w], (*colMax)[pw.w:2*pw.w]
	if pool2s2(pw) {
		pool2s2Asm(&pool2s2Args{y: yp, x: xp, w: pw.w, ow: pw.axes[2].Out(), rows: pw.axes[1].Out()})
		return
	}
	lowest := float32(math.Inf(-1))
	fast := pool3s2(pw)
	poolRows(pw, yp, func(yrow []float32, a, b span) {
		if fast && a.hi-a.lo == 1 && b.lo == 0 && b.hi == 3 {
			row := (a.start*pw.h + b.start) * pw.w
			maxPool3s2Row(pw, yrow, xp, row)
			return
		}
		for i := range yrow {
			yrow[i] = lowest
		}
		rows := 0
		poolInputRows(pw, xp, a, b, func(xrow []float32) {
			if rows == 0 {
				copy(cm, xrow)
			} else {
				maxRows32(cm, xrow)
			}
			rows++
		})
		if rows > 0 {
			maxAcross32(yrow, cm, pairs, pw)
		}
	})
}

// pool2s2 reports whether the whole plane takes the 2×2, stride-2 kernel: a 2-D window of 2×2
// with stride 2, no dilation and no padding, whose windows all lie inside the plane (no
// partial window of ceil mode), under a row kernel with the vector kernel.
func pool2s2(pw *poolWalk) bool {
	h, w := pw.axes[1], pw.axes[2]
	whole := func(a Window) bool {
		return a.K == 2 && a.Stride == 2 && a.Dilation == 1 && a.PadBegin == 0 && a.PadEnd == 0 && 2*a.Out() <= a.In
	}
	return activeRow.Load().pool2s2 && pw.axes[0].In == 1 && whole(h) && whole(w)
}

// pool2s2Args is the contract of the 2×2, stride-2 pooling plane kernel: for r < rows and
// o < ow, with a = x[2r·w + 2o], b = x[2r·w + 2o + 1], c = x[(2r+1)·w + 2o] and
// d = x[(2r+1)·w + 2o + 1],
//
//	y[r·ow + o] = max(a, b, c, d)               (NaN propagates)
//	y[r·ow + o] = ((a + c) + (b + d)) · 0.25    (with average)
//
// reading the first 2·ow values of each input row only.
type pool2s2Args struct {
	y, x        []float32
	w, ow, rows int
	average     bool
}

// pool2s2Generic is the portable plane kernel; see pool2s2Args.
func pool2s2Generic(a *pool2s2Args) {
	for r := range a.rows {
		x0, x1 := a.x[2*r*a.w:], a.x[(2*r+1)*a.w:]
		for o := range a.ow {
			if a.average {
				a.y[r*a.ow+o] = ((x0[2*o] + x1[2*o]) + (x0[2*o+1] + x1[2*o+1])) * 0.25
				continue
			}
			a.y[r*a.ow+o] = max(x0[2*o], x0[2*o+1], x1[2*o], x1[2*o+1])
		}
	}
}

// pool2s2Asm checks the bounds of a and runs the vector kernel.
func pool2s2Asm(a *pool2s2Args) {
	if a.rows <= 0 || a.ow <= 0 {
		return
	}
	if 2*a.ow > a.w || len(a.y) < a.rows*a.ow || len(a.x) < (2*a.rows-1)*a.w+2*a.ow {
		panic(fmt.Sprintf("conv: 2×2 stride-2 pool of %d×%d outputs over rows of %d in %d values", a.rows, a.ow, a.w, len(a.x)))
	}
	pool2s2Kernel(a)
}

// pool3s2 reports whether the plane's rows take maxPool3s2Row: a 2-D 3×3 window with stride 2
// and no dilation, under a row kernel with the vector kernel.
func pool3s2(pw *poolWalk) bool {
	h, w := pw.axes[1], pw.axes[2]
	return activeRow.Load().pool3s2 && h.K == 3 && w.K == 3 && h.Stride == 2 && w.Stride == 2 && pw.dh == 1 && pw.dw == 1
}

// maxPool3s2Row computes one output row of a 3×3, stride-2 max pool whose three input rows
// start at xp[row] and lie inside the plane: the interior outputs by the rectangle kernel (one
// row), the border ones by maxPool3s2Border.
func maxPool3s2Row(pw *poolWalk, yrow, xp []float32, row int) {
	l, r := pw.interior[0], pw.interior[1]
	if r > l {
		start := row + 2*l - pw.axes[2].PadBegin
		runPool3s2Rect(activeRow.Load(), &pool3s2RectArgs{y: yrow[l:r], x: xp[start:], n: r - l, rows: 1, planes: 1,
			xRow: pw.w, yRow: r - l})
	}
	maxPool3s2Border(pw, yrow, xp[row:row+pw.w], xp[row+pw.w:row+2*pw.w], xp[row+2*pw.w:row+3*pw.w])
}

// maxPool3s2Border computes the border outputs of a row over its three input rows at once (max
// is exact and order-free: the builtin gives NaN for any NaN and +0 for ±0, whatever the order).
func maxPool3s2Border(pw *poolWalk, yrow, x0, x1, x2 []float32) {
	for _, ow := range pw.border {
		c := pw.sw[ow]
		m := float32(math.Inf(-1))
		for k := c.lo; k < c.hi; k++ {
			i := c.start + k*pw.dw
			m = max(m, x0[i], x1[i], x2[i])
		}
		yrow[ow] = m
	}
}

// maxPool3s2Padded is MaxPool for 3×3, stride-2 windows that reach padding or, in ceil mode,
// past the input (GoogLeNet's and squeezenet1_0's pools, ResNet's and DenseNet's first): each
// plane is copied into a buffer of exactly the rows and columns its windows span, −Inf where
// they fall outside the input (so a window's maximum is that of its inside taps, and −Inf for
// a window wholly outside, as MaxPool specifies), and the rectangle kernel pools the whole
// buffer. Pooling row by row with the borders in Go cost a call per output row (GoogLeNet's
// 192×56×56 pool: 5376 calls).
func maxPool3s2Padded(pw *poolWalk, x, y []float32, planes, threads int) {
	oh, ow := pw.axes[1].Out(), pw.axes[2].Out()
	hp, wp := 2*oh+1, 2*ow+1
	k := activeRow.Load()
	parallel.For(threads, planes, func(lo, hi int) {
		buf := getFloats(hp * wp)
		defer floatBuffers.Put(buf)
		ninf := float32(math.Inf(-1))
		for pl := lo; pl < hi; pl++ {
			// The rows and columns the windows span, −Inf where they fall outside the input.
			padRows(*buf, x[pl*pw.inLen:(pl+1)*pw.inLen], pw.h, pw.w, pw.axes[1].PadBegin, pw.axes[2].PadBegin, wp, 0, hp, ninf)
			runPool3s2Rect(k, &pool3s2RectArgs{y: y[pl*pw.outLen : (pl+1)*pw.outLen], x: *buf, n: ow, rows: oh, planes: 1,
				xRow: wp, yRow: ow, xPlane: hp * wp, yPlane: pw.outLen})
		}
	})
}

// pool3s2RectArgs is the contract of the 3×3, stride-2 max-pool kernel: for rows r < rows of
// planes p < planes and o < n,
//
//	y[p·yPlane + r·yRow + o] = max over i < 3, k < 3 of x[p·xPlane + (2r+i)·xRow + 2o + k]
//
// NaN propagating; the last, partial block of 16 outputs of a row reads its input columns with
// masked loads, nothing past column 2n. Pools whose windows all lie inside the planes run as one call
// per thread instead of one per output row (Inception-v3's 17×17 → 8×8 pool over 768 planes:
// 6144 calls).
type pool3s2RectArgs struct {
	y, x                       []float32
	n, rows, planes            int
	xRow, yRow, xPlane, yPlane int
}

// pool3s2Whole reports whether every window of pw lies inside the plane (no padding reached, no
// partial window of ceil mode), so that pool3s2RectKernel computes the whole plane.
func pool3s2Whole(pw *poolWalk) bool {
	return pool3s2(pw) && pw.axes[0].In == 1 && len(pw.border) == 0 && fullWindows(pw.sh, 3)
}

// runPool3s2Rect checks the bounds of a and runs the kernel k has, or the portable one.
func runPool3s2Rect(k *rowKernel, a *pool3s2RectArgs) {
	if a.planes <= 0 || a.rows <= 0 || a.n <= 0 {
		return
	}
	lastX := (a.planes-1)*a.xPlane + 2*(a.rows-1)*a.xRow + 2*a.xRow + 2*a.n + 1
	lastY := (a.planes-1)*a.yPlane + (a.rows-1)*a.yRow + a.n
	if 2*a.n+1 > a.xRow || a.n > a.yRow || lastX > len(a.x) || lastY > len(a.y) {
		panic(fmt.Sprintf("conv: 3×3 stride-2 max pool of %d planes, %d×%d outputs over %d values into %d", a.planes, a.rows, a.n, len(a.x), len(a.y)))
	}
	if k.pool3s2 {
		pool3s2RectKernel(a)
		return
	}
	pool3s2RectGeneric(a)
}

// pool3s2RectGeneric is the portable rectangle kernel; see pool3s2RectArgs.
func pool3s2RectGeneric(a *pool3s2RectArgs) {
	for p := range a.planes {
		for r := range a.rows {
			x0 := a.x[p*a.xPlane+2*r*a.xRow:]
			x1, x2 := x0[a.xRow:], x0[2*a.xRow:]
			for o := range a.n {
				i := 2 * o
				a.y[p*a.yPlane+r*a.yRow+o] = max(x0[i], x0[i+1], x0[i+2], x1[i], x1[i+1], x1[i+2], x2[i], x2[i+1], x2[i+2])
			}
		}
	}
}

// maxAcross32 is maxRow for a float32 row of column maxima. With unit stride the interior
// outputs take one vector pass per tap; for the common 3-wide, stride-2 window it first folds
// neighbouring columns together with vector instructions (pairs[i] = max(cm[i], cm[i+1])),
// so that each interior output takes one more maximum instead of three.
func maxAcross32(yrow, cm, pairs []float32, pw *poolWalk) {
	ax := pw.axes[2]
	l, r := pw.interior[0], pw.interior[1]
	if ax.Stride == 1 && pw.dw == 1 && r-l >= 8 {
		// Unit stride: the interior outputs are the column maxima shifted by each tap.
		foldShifted(yrow[l:r], cm[l-ax.PadBegin:], ax.K, maxRows32)
		maxBorder(yrow, cm, pw)
		return
	}
	if ax.K != 3 || ax.Stride != 2 || pw.dw != 1 || r-l < 8 {
		maxRow(yrow, cm, pw)
		return
	}
	p := pairs[:len(cm)-1]
	copy(p, cm)
	maxRows32(p, cm[1:])
	off := -ax.PadBegin
	for ow := l; ow < r; ow++ {
		i := 2*ow + off
		yrow[ow] = max(yrow[ow], p[i], cm[i+2])
	}
	maxBorder(yrow, cm, pw)
}

// maxRows32 sets dst[i] = max(dst[i], src[i]) with the active row kernel, NaN propagating.
func maxRows32(dst, src []float32) {
	src = src[:len(dst)]
	n8 := len(dst) &^ 7
	k := activeRow.Load()
	if k.maxes32 == nil {
		k = genericRowKernel
	}
	k.maxes32(dst, src, n8)
	for i := n8; i < len(dst); i++ {
		dst[i] = max(dst[i], src[i])
	}
}

// maxesGeneric is the portable maxes32: dst[i] = max(dst[i], src[i]) for i < n.
func maxesGeneric(dst, src []float32, n int) {
	for i := range dst[:n] {
		dst[i] = max(dst[i], src[i])
	}
}

// maxPoolIndices is MaxPool of one plane with the positions of the maxima.
func maxPoolIndices[T Poolable](pw *poolWalk, xp, yp []T, idx []int64, lowest T, plane int, colMajor bool) {
	o := 0
	for _, a := range pw.sd {
		for _, b := range pw.sh {
			for _, c := range pw.sw {
				best, at := lowest, -1
				for kd := a.lo; kd < a.hi; kd++ {
					for kh := b.lo; kh < b.hi; kh++ {
						row := ((a.start+kd*pw.dd)*pw.h + b.start + kh*pw.dh) * pw.w
						for kw := c.lo; kw < c.hi; kw++ {
							pos := row + c.start + kw*pw.dw
							if v := xp[pos]; at < 0 || v > best || (v != v && best == best) {
								best, at = v, pos
							}
						}
					}
				}
				yp[o] = best
				idx[o] = poolIndex(at, plane, pw.inLen, pw.axes, colMajor)
				o++
			}
		}
	}
}

// poolWalk is the window arithmetic of one pooling call, shared by all planes.
type poolWalk struct {
	axes          [3]Window
	sd, sh, sw    []span
	h, w          int
	dd, dh, dw    int
	inLen, outLen int
	// interior holds the output columns [l, r) whose windows lie wholly inside the input row;
	// border lists the others.
	interior [2]int
	border   []int
}

func newPoolWalk(p PoolGeometry) *poolWalk {
	ax := p.Axes
	pw := &poolWalk{axes: ax, sd: ax[0].spans(), sh: ax[1].spans(), sw: ax[2].spans(),
		h: ax[1].In, w: ax[2].In, dd: ax[0].Dilation, dh: ax[1].Dilation, dw: ax[2].Dilation,
		inLen: p.InLen(), outLen: p.OutLen()}
	l, r := len(pw.sw), len(pw.sw)
	for ow, c := range pw.sw {
		if c.lo == 0 && c.hi == ax[2].K {
			l, r = min(l, ow), ow+1
		}
	}
	// Spans are monotone, so full windows form one run.
	pw.interior = [2]int{min(l, r), r}
	for ow := range pw.sw {
		if ow < pw.interior[0] || ow >= pw.interior[1] {
			pw.border = append(pw.border, ow)
		}
	}
	return pw
}

// poolRows calls fn for each output row of the plane yp with the depth and height spans of its
// windows.
func poolRows[T any](pw *poolWalk, yp []T, fn func(yrow []T, a, b span)) {
	ow := len(pw.sw)
	for i, a := range pw.sd {
		for j, b := range pw.sh {
			o := (i*len(pw.sh) + j) * ow
			fn(yp[o:o+ow], a, b)
		}
	}
}

// poolInputRows calls fn for each input row of the plane xp that windows with depth span a and
// height span b read.
func poolInputRows[T any](pw *poolWalk, xp []T, a, b span, fn func(xrow []T)) {
	for kd := a.lo; kd < a.hi; kd++ {
		for kh := b.lo; kh < b.hi; kh++ {
			row := ((a.start+kd*pw.dd)*pw.h + b.start + kh*pw.dh) * pw.w
			fn(xp[row : row+pw.w])
		}
	}
}

// poolIndex converts a row-major position within a plane into the index MaxPool reports.
func poolIndex(at, plane, inLen int, ax [3]Window, colMajor bool) int64 {
	if at < 0 {
		return -1
	}
	if colMajor {
		d, h, w := ax[0].In, ax[1].In, ax[2].In
		id, ih, iw := at/(h*w), at/w%h, at%w
		// The first spatial axis of the tensor varies fastest. Leading unit axes do not matter.
		at = id + ih*d + iw*d*h
	}
	return int64(plane*inLen + at)
}

func lowestValue[T Poolable]() T {
	var z T
	switch any(z).(type) {
	case float32:
		return T(float32(math.Inf(-1)))
	case float64:
		return T(math.Inf(-1))
	case int8:
		v := int8(math.MinInt8)
		return T(v)
	}
	return 0
}

// AveragePool sets each output to the mean of the inputs under its window: x is
// [planes, D, H, W] and y is [planes, OutD, OutH, OutW]. Padding counts as zeros in the divisor
// if countPad (ONNX count_include_pad; taps beyond the end padding that ceil mode adds never
// count), else only taps inside the input count. A window without any input yields 0 or NaN
// (countPad false). p must pass Check.
func AveragePool[T float32 | float64](p PoolGeometry, x, y []T, countPad bool, planes, threads int) {
	if x32, ok := any(x).([]float32); ok && pool3x3Same(p) {
		pool3x3Planes(p, x32, any(y).([]float32), planes, threads, true, countPad)
		return
	}
	pw := newPoolWalk(p)
	if x32, ok := any(x).([]float32); ok && pool2s2(pw) {
		// No padding, so countPad changes nothing: every window holds its four taps.
		y32 := any(y).([]float32)
		parallel.For(threads, planes, func(lo, hi int) {
			for pl := lo; pl < hi; pl++ {
				pool2s2Asm(&pool2s2Args{y: y32[pl*pw.outLen : (pl+1)*pw.outLen], x: x32[pl*pw.inLen : (pl+1)*pw.inLen],
					w: pw.w, ow: pw.axes[2].Out(), rows: pw.axes[1].Out(), average: true})
			}
		})
		return
	}
	parallel.For(threads, planes, func(lo, hi int) {
		var scratch []float32
		for pl := lo; pl < hi; pl++ {
			xp, yp := x[pl*pw.inLen:(pl+1)*pw.inLen], y[pl*pw.outLen:(pl+1)*pw.outLen]
			if x32, ok := any(xp).([]float32); ok && poolStride1(pw) {
				avgPoolStride1Plane32(pw, x32, any(yp).([]float32), countPad, &scratch)
				continue
			}
			poolRows(pw, yp, func(yrow []T, a, b span) {
				clear(yrow)
				poolInputRows(pw, xp, a, b, func(xrow []T) { sumRow(yrow, xrow, pw) })
				rows := (a.hi - a.lo) * (b.hi - b.lo)
				if countPad {
					rows = a.padded * b.padded
				}
				for ow, c := range pw.sw {
					n := c.hi - c.lo
					if countPad {
						n = c.padded
					}
					yrow[ow] /= T(rows * n)
				}
			})
		}
	})
}

// avgPoolStride1Plane32 is AveragePool of one float32 plane with unit strides (poolStride1),
// separably over the whole plane as maxPoolStride1Plane32: the vertical sums V
// (verticalPasses), the horizontal sums of V (horizontalPasses), the border outputs redone
// row by row, and the divisions by the window counts. (It sums the rows of each window
// column first, then the columns: another order than the row-by-row path, within float32
// rounding of it.)
func avgPoolStride1Plane32(pw *poolWalk, xp, yp []float32, countPad bool, scratch *[]float32) {
	wAx := pw.axes[2]
	w, oh := pw.w, pw.axes[1].Out()
	add := func(dst, src []float32) { addRows32(dst, src, 1, len(dst), 0, 0) }
	v := verticalPasses(pw, xp, scratch, 0, add)
	horizontalPasses(pw, yp, v, oh, add, *scratch)
	l, r := pw.interior[0], pw.interior[1]
	outW := wAx.Out()
	hK := pw.axes[1].K
	// One divisor for the whole plane when every window holds (or, counting padding, spans)
	// all its taps: the border outputs are summed first, then one pass divides.
	uniform := (len(pw.border) == 0 && fullWindows(pw.sh, hK)) ||
		(countPad && paddedWindows(pw.sh, hK) && paddedWindows(pw.sw, wAx.K))
	for o, sp := range pw.sh {
		yrow, vrow := yp[o*outW:(o+1)*outW], v[o*w:(o+1)*w]
		for _, ow := range pw.border {
			c := pw.sw[ow]
			var s float32
			for k := c.lo; k < c.hi; k++ {
				s += vrow[c.start+k*pw.dw]
			}
			yrow[ow] = s
		}
		if uniform {
			continue
		}
		rows := sp.hi - sp.lo
		if countPad {
			rows = sp.padded
		}
		divRow32(yrow[l:r], float32(rows*wAx.K))
		for _, ow := range pw.border {
			c := pw.sw[ow]
			n := c.hi - c.lo
			if countPad {
				n = c.padded
			}
			yrow[ow] /= float32(rows * n)
		}
	}
	if uniform {
		divRow32(yp[:oh*outW], float32(hK*wAx.K))
	}
}

// paddedWindows reports whether every span's window lies inside the padded input (all k taps
// count when padding does).
func paddedWindows(spans []span, k int) bool {
	for _, sp := range spans {
		if sp.padded != k {
			return false
		}
	}
	return true
}

// fullWindows reports whether every span holds all k taps.
func fullWindows(spans []span, k int) bool {
	for _, sp := range spans {
		if sp.lo != 0 || sp.hi != k {
			return false
		}
	}
	return true
}

// divRow32 divides every value of row by d with the active row kernel.
func divRow32(row []float32, d float32) {
	n8 := len(row) &^ 7
	k := activeRow.Load()
	if k.divs32 == nil {
		k = genericRowKernel
	}
	k.divs32(row, n8, d)
	for i := n8; i < len(row); i++ {
		row[i] /= d
	}
}

// divsGeneric is the portable divs32: dst[i] /= d for i < n.
func divsGeneric(dst []float32, n int, d float32) {
	for i := range dst[:n] {
		dst[i] /= d
	}
}

// sumRow adds one input row's taps of every window column to a row of sums, tap by tap across
// the interior columns as maxRow does.
func sumRow[T float32 | float64](yrow, xrow []T, pw *poolWalk) {
	l, r := pw.interior[0], pw.interior[1]
	for k := range pw.axes[2].K {
		off := k*pw.dw - pw.axes[2].PadBegin
		for ow := l; ow < r; ow++ {
			yrow[ow] += xrow[ow*pw.axes[2].Stride+off]
		}
	}
	for _, ow := range pw.border {
		c := pw.sw[ow]
		s := yrow[ow]
		for k := c.lo; k < c.hi; k++ {
			s += xrow[c.start+k*pw.dw]
		}
		yrow[ow] = s
	}
}
