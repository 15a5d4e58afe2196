package conv

import (
	"fmt"
	"sync"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Channel-blocked depthwise convolution. The direct algorithm (direct.go) vectorises one
// output plane along its rows, which leaves most of each vector empty on the small planes of
// a network's later layers (a 7×7 or 14×14 plane is a handful of short rows, each with its
// own set-up and padding copy). Here 16 channels go side by side instead: a block of 16
// input planes is transposed into pixel-major form, [Hp, Wp, 16] with the zero padding
// written out, so that every tap of every output pixel is one vector multiply-add of the 16
// channels' weights with the 16 channels' inputs, whatever the plane size, stride or
// dilation. The 16 output planes come back by the same transposition. Both are done a strip of
// output rows at a time (depthwisePlan), for the rows that strip reads and writes:
//
//	xb[ih+PadTop][iw+PadLeft][i] = x[c0+i][ih][iw]                      (stripIn)
//	ob[oh][ow][i] = clamp(bias[c0+i] + Σ_t wb[t][i]·xb[oh·SH+kh·DH][ow·SW+kw·DW][i])
//	y[c0+i][oh][ow] = ob[oh][ow][i]                                     (blockOut)
//
// with t = kh·KW + kw and wb[t][i] = w[c0+i][kh][kw]. A last block of fewer than 16 channels
// computes zero channels in the missing lanes and stores only the real ones. It serves
// depthwise layers without a channel multiplier, residual or group epilogue, when the row
// kernel has the vector tap kernel (blockedDepthwise); the transpositions are gemm.Transpose16.

// dwArgs is the contract of the blocked depthwise kernels: for r < rows and c < cols,
//
//	out[(r·cols + c)·16 + i] = min(max(bias[i] + Σ_t w[t·16 + i]·in[r·rowStride + c·colStride + offs[t] + i], lo), hi)
//
// with the sum over t < len(offs) in that order, one fused multiply-add per step, i < 16.
// Strides and offsets count float32 values.
//
// When the taps form a kh×kw grid at unit column dilation (offs[i·kw + j] = i·khStride + 16j)
// and colStride is 16 (or 32 with kw = 3), kh, kw and khStride say so, for dwRowsAsm;
// otherwise kw is 0.
type dwArgs struct {
	out, in, w, bias     []float32
	offs                 []int
	rows, cols           int
	rowStride, colStride int
	lo, hi               float32
	kh, kw, khStride     int
}

// dwGeneric is the portable blocked depthwise kernel; see dwArgs. (Go does not fuse the
// multiply-adds, so it rounds twice per step where the assembly rounds once.)
func dwGeneric(a *dwArgs) {
	for r := range a.rows {
		for c := range a.cols {
			var acc [16]float32
			copy(acc[:], a.bias[:16])
			base := r*a.rowStride + c*a.colStride
			for t, o := range a.offs {
				wt := a.w[t*16 : t*16+16]
				src := a.in[base+o : base+o+16]
				for i := range acc {
					acc[i] += wt[i] * src[i]
				}
			}
			out := a.out[(r*a.cols+c)*16 : (r*a.cols+c)*16+16]
			for i, v := range acc {
				out[i] = min(max(v, a.lo), a.hi)
			}
		}
	}
}

// checkDW panics unless every value the kernel reads or writes lies inside the slices.
func checkDW(a *dwArgs) {
	if a.rows <= 0 || a.cols <= 0 {
		return
	}
	if len(a.offs) == 0 {
		panic("conv: blocked depthwise without taps")
	}
	maxOff := 0
	for _, o := range a.offs {
		if o < 0 {
			panic(fmt.Sprintf("conv: blocked depthwise tap offset %d", o))
		}
		maxOff = max(maxOff, o)
	}
	last := (a.rows-1)*a.rowStride + (a.cols-1)*a.colStride + maxOff + 16
	if a.rowStride < 0 || a.colStride < 0 || last > len(a.in) || a.rows*a.cols*16 > len(a.out) ||
		len(a.w) < 16*len(a.offs) || len(a.bias) < 16 {
		panic(fmt.Sprintf("conv: blocked depthwise of %d×%d pixels reads %d of %d inputs", a.rows, a.cols, last, len(a.in)))
	}
}

// blockedDepthwise reports whether forwardDepthwise16 takes a convolution of geometry g with
// epilogue ep: a depthwise layer without a channel multiplier, residual or group epilogue,
// under a row kernel with the vector kernels.
func blockedDepthwise(g Geometry, ep *Epilogue) bool {
	return activeRow.Load().blocked && g.Depthwise() && g.MG() == 1 && ep.Group == nil && ep.Residual == nil
}

// depthwisePlan is what every block of one forwardDepthwise16 call shares. A block's output
// rows are computed in strips of `strip` rows, each an independent work item: its input rows
// (with the halo the kernel's height adds) are transposed into a scratch buffer that holds one
// strip, computed, and transposed out, so a strip's data stays in the core's cache between
// the three passes (a whole 112×112 block is 3 MB in its three forms), and a layer of few
// channels on a large plane still has work for every thread.
type depthwisePlan struct {
	g      Geometry
	wp     int // padded row width in pixels
	strip  int // output rows per strip
	strips int // strips per block
	inRows int // padded input rows of a full strip
	offs   []int
	w      []float32 // per block: KH·KW·16 weights, tap-major (blockedWeights)
	bias   []float32 // C values, or nil
	lo, hi float32
	tail   func([]float32) // Epilogue.Tail, or nil
}

// depthwiseStripBytes bounds a strip's padded input and output blocks together, so that they
// stay in a core's L2 cache with room to spare.
const depthwiseStripBytes = 128 << 10

// depthwiseStripRows, when positive, overrides the strip height (tests).
var depthwiseStripRows int

func newDepthwisePlan(g Geometry, w []float32, ep *Epilogue) *depthwisePlan {
	pl := &depthwisePlan{g: g, wp: g.W + g.PadLeft + g.PadRight, w: w, bias: ep.Bias, tail: ep.Tail}
	pl.lo, pl.hi = bounds(ep)
	for kh := range g.KH {
		for kw := range g.KW {
			pl.offs = append(pl.offs, (kh*g.DH*pl.wp+kw*g.DW)*16)
		}
	}
	pl.strip = depthwiseStripRows
	if pl.strip <= 0 {
		pl.strip = pl.stripFitting(depthwiseStripBytes)
	}
	pl.strip = min(pl.strip, g.OutH())
	pl.strips = (g.OutH() + pl.strip - 1) / pl.strip
	pl.inRows = pl.stripInputRows(pl.strip)
	return pl
}

// stripInputRows is the number of padded input rows that rows output rows read.
func (pl *depthwisePlan) stripInputRows(rows int) int {
	return (rows-1)*pl.g.SH + (pl.g.KH-1)*pl.g.DH + 1
}

// stripImageRows returns the image rows [ih0, ih1) among the padded input rows of rows
// output rows from padded row p0 (an empty range when they are all padding).
func (pl *depthwisePlan) stripImageRows(p0, rows int) (ih0, ih1 int) {
	ih0 = min(pl.g.H, max(0, p0-pl.g.PadTop))
	ih1 = max(ih0, min(pl.g.H, p0+pl.stripInputRows(rows)-pl.g.PadTop))
	return ih0, ih1
}

// stripFitting returns the most output rows (at least one) whose padded input and output
// blocks take at most budget bytes.
func (pl *depthwisePlan) stripFitting(budget int) int {
	rows := 1
	for rows < pl.g.OutH() {
		next := rows + 1
		if (pl.stripInputRows(next)*pl.wp+next*pl.g.OutW())*16*4 > budget {
			break
		}
		rows = next
	}
	return rows
}

// blockedWeights lays a depthwise filter w: [C, 1, KH, KW] out in blocks of 16 channels: block
// b holds, for each tap t, the 16 weights w[16b + i][t] (zero past C).
func blockedWeights(g Geometry, w []float32) []float32 {
	taps := g.KH * g.KW
	blocks := (g.C + 15) / 16
	out := make([]float32, blocks*taps*16)
	for c := range g.C {
		b, i := c/16, c%16
		for t := range taps {
			out[(b*taps+t)*16+i] = w[c*taps+t]
		}
	}
	return out
}

// depthwiseScratch is one worker's buffers: a strip's padded input and output blocks, 16
// planes' rows for a partial block's channels, and the pixel-major input rows of a narrow
// plane.
type depthwiseScratch struct {
	padded, out, planes, flat []float32
	bias                      [16]float32
}

var depthwiseScratches sync.Pool

// forwardDepthwise16 computes batch images of a depthwise convolution (blockedDepthwise) in
// blocks of 16 channels and strips of output rows spread over the threads.
// w is the filter laid out by blockedWeights.
func forwardDepthwise16(g Geometry, w, x, y []float32, batch int, ep *Epilogue, threads int) {
	pl := newDepthwisePlan(g, w, ep)
	blocks := (g.C + 15) / 16
	items := batch * blocks * pl.strips
	scratch := make([]*depthwiseScratch, max(1, min(threads, items)))
	parallel.ForEach(len(scratch), items, func(worker, item int) {
		s := scratch[worker]
		if s == nil {
			s = pl.getScratch()
			scratch[worker] = s
		}
		strip := item % pl.strips
		item /= pl.strips
		pl.strip16(s, x, y, item/blocks, item%blocks, strip)
	})
	for _, s := range scratch {
		if s != nil {
			depthwiseScratches.Put(s)
		}
	}
}

// getScratch returns buffers for the plan's geometry.
func (pl *depthwisePlan) getScratch() *depthwiseScratch {
	s, _ := depthwiseScratches.Get().(*depthwiseScratch)
	if s == nil {
		s = &depthwiseScratch{}
	}
	g := &pl.g
	s.padded = grow32(s.padded, pl.inRows*pl.wp*16)
	s.out = grow32(s.out, pl.strip*g.OutW()*16)
	s.planes = grow32(s.planes, 16*max(g.H*g.W, g.OutHW()))
	s.flat = grow32(s.flat, 16*min(g.H, pl.inRows)*g.W)
	return s
}

func grow32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// strip16 computes output rows [strip·pl.strip, …) of channels [16b, 16b+16) of image n.
func (pl *depthwisePlan) strip16(s *depthwiseScratch, x, y []float32, n, b, strip int) {
	g := &pl.g
	hw, ohw, ow := g.H*g.W, g.OutHW(), g.OutW()
	c0 := 16 * b
	real := min(16, g.C-c0)
	o0 := strip * pl.strip
	rows := min(pl.strip, g.OutH()-o0)
	p0 := o0 * g.SH // first padded input row
	ih0, ih1 := pl.stripImageRows(p0, rows)
	src := x[(n*g.C+c0)*hw:]
	if real < 16 {
		copyPlaneRows(s.planes, src, real, hw, ih0*g.W, ih1*g.W)
		for i := real; i < 16; i++ {
			clear(s.planes[i*hw+ih0*g.W : i*hw+ih1*g.W]) // no denormal garbage in the unused lanes
		}
		src = s.planes
	}
	pl.stripIn(s, src, p0, rows)
	s.bias = [16]float32{}
	if pl.bias != nil {
		copy(s.bias[:real], pl.bias[c0:])
	}
	taps := g.KH * g.KW
	a := dwArgs{out: s.out, in: s.padded, w: pl.w[b*taps*16 : (b+1)*taps*16], bias: s.bias[:],
		offs: pl.offs, rows: rows, cols: ow, rowStride: g.SH * pl.wp * 16, colStride: g.SW * 16,
		lo: pl.lo, hi: pl.hi}
	if g.DW == 1 && (g.SW == 1 || g.SW == 2 && g.KW == 3) {
		a.kh, a.kw, a.khStride = g.KH, g.KW, g.DH*pl.wp*16
	}
	checkDW(&a)
	dwBlock(&a)
	if pl.tail != nil {
		pl.tail(s.out[:rows*ow*16]) // elementwise: the pixel-major order does not matter
	}
	first, count := o0*ow, rows*ow
	dst := y[(n*g.C+c0)*ohw:]
	if real < 16 {
		blockOut(s.planes[first:], s.out, count, ohw)
		copyPlaneRows(dst, s.planes, real, ohw, first, first+count)
		return
	}
	blockOut(dst[first:], s.out, count, ohw)
}

// copyPlaneRows copies values [from, to) of the first `planes` planes (plane stride ld) from
// src to dst.
func copyPlaneRows(dst, src []float32, planes, ld, from, to int) {
	for i := range planes {
		copy(dst[i*ld+from:i*ld+to], src[i*ld+from:])
	}
}

// stripIn writes the padded input rows [p0, p0+inputRows(rows)) of 16 planes src: [16, H, W]
// to s.padded: [rows', Wp, 16], zero where they are padding. Planes at least 16 wide go row by
// row through the transposition kernel, 16 pixels at a time; narrower ones have their rows
// transposed together into s.flat and copied in (transposePixels).
func (pl *depthwisePlan) stripIn(s *depthwiseScratch, src []float32, p0, rows int) {
	g := &pl.g
	hw, row := g.H*g.W, pl.wp*16
	n := pl.stripInputRows(rows)
	ih0, ih1 := pl.stripImageRows(p0, rows)
	var flat []float32
	if g.W < 16 && ih1 > ih0 {
		flat = s.flat[:(ih1-ih0)*g.W*16]
		transposePixels(flat, src[ih0*g.W:], (ih1-ih0)*g.W, hw)
	}
	for r := range n {
		dst := s.padded[r*row : (r+1)*row]
		ih := p0 + r - g.PadTop
		if ih < 0 || ih >= g.H {
			clear(dst)
			continue
		}
		clear(dst[:g.PadLeft*16])
		clear(dst[(g.PadLeft+g.W)*16:])
		interior := dst[g.PadLeft*16 : (g.PadLeft+g.W)*16]
		if flat != nil {
			copy(interior, flat[(ih-ih0)*g.W*16:])
			continue
		}
		transposePixels(interior, src[ih*g.W:], g.W, hw)
	}
}

// transposePixels writes n pixels of 16 planes (plane stride ld, the first pixel at src[0]) to
// dst as n groups of 16 channel values: whole groups of 16 pixels by gemm.Transpose16, and a
// remainder as the group of the last 16 pixels (rewriting some with the same values), or
// value by value when there are fewer than 16 in all (value by value, a 28-pixel row's last 12
// took a third of a depthwise layer's time).
func transposePixels(dst, src []float32, n, ld int) {
	full := n / 16
	gemm.Transpose16(dst, src, 16, ld, 256, 16, full)
	if rest := n - 16*full; rest > 0 && full > 0 {
		gemm.Transpose16(dst[(n-16)*16:], src[n-16:], 16, ld, 256, 16, 1)
		return
	}
	for p := 16 * full; p < n; p++ {
		px := dst[p*16 : p*16+16]
		for i := range px {
			px[i] = src[i*ld+p]
		}
	}
}

// blockOut transposes n pixels out: [n, 16] into 16 planes dst: [16, ld] (the first pixel at
// dst[0]): whole groups of 16 pixels by gemm.Transpose16, a remainder as transposePixels does.
func blockOut(dst, out []float32, n, ld int) {
	full := n / 16
	gemm.Transpose16(dst, out, ld, 16, 16, 256, full)
	if rest := n - 16*full; rest > 0 && full > 0 {
		gemm.Transpose16(dst[n-16:], out[(n-16)*16:], ld, 16, 16, 256, 1)
		return
	}
	for p := 16 * full; p < n; p++ {
		px := out[p*16 : p*16+16]
		for i, v := range px {
			dst[i*ld+p] = v
		}
	}
}

// blockedPortable makes the blocked path run its portable tap kernel (tests).
var blockedPortable bool

// dwBlock runs the blocked depthwise kernel (checked by checkDW): dwRowsAsm for the kernels
// its fields describe (dwArgs) on rows of at least eight pixels, dwAsm otherwise.
func dwBlock(a *dwArgs) {
	if blockedPortable {
		dwGeneric(a)
		return
	}
	if (a.kw == 3 || a.kw == 5) && a.cols >= 8 {
		dwRowsAsm(a)
		return
	}
	dwAsm(a)
}
