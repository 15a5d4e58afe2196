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
// dilation. The 16 output planes come back by the same transposition:
//
//	xb[ih+PadTop][iw+PadLeft][i] = x[c0+i][ih][iw]                      (blockIn)
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
type dwArgs struct {
	out, in, w, bias     []float32
	offs                 []int
	rows, cols           int
	rowStride, colStride int
	lo, hi               float32
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

// depthwisePlan is what every block of one forwardDepthwise16 call shares.
type depthwisePlan struct {
	g      Geometry
	hp, wp int
	offs   []int
	w      []float32 // per block: KH·KW·16 weights, tap-major (blockedWeights)
	bias   []float32 // C values, or nil
	lo, hi float32
}

func newDepthwisePlan(g Geometry, w []float32, ep *Epilogue) *depthwisePlan {
	pl := &depthwisePlan{g: g, hp: g.H + g.PadTop + g.PadBottom, wp: g.W + g.PadLeft + g.PadRight, w: w, bias: ep.Bias}
	pl.lo, pl.hi = bounds(ep)
	for kh := range g.KH {
		for kw := range g.KW {
			pl.offs = append(pl.offs, (kh*g.DH*pl.wp+kw*g.DW)*16)
		}
	}
	return pl
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

// depthwiseScratch is one worker's buffers: the padded input block,
// the output block, 16 planes for a partial block's channels, and the pixel-major input of a
// narrow plane.
type depthwiseScratch struct {
	padded, out, planes, flat []float32
	bias                      [16]float32
}

var depthwiseScratches sync.Pool

// forwardDepthwise16 computes batch images of a depthwise convolution (blockedDepthwise) in
// blocks of 16 channels spread over the threads.
// w is the filter laid out by blockedWeights.
func forwardDepthwise16(g Geometry, w, x, y []float32, batch int, ep *Epilogue, threads int) {
	pl := newDepthwisePlan(g, w, ep)
	blocks := (g.C + 15) / 16
	items := batch * blocks
	scratch := make([]*depthwiseScratch, max(1, min(threads, items)))
	parallel.ForEach(len(scratch), items, func(worker, item int) {
		s := scratch[worker]
		if s == nil {
			s = pl.getScratch()
			scratch[worker] = s
		}
		pl.block(s, x, y, item/blocks, item%blocks)
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
	s.padded = grow32(s.padded, pl.hp*pl.wp*16)
	s.out = grow32(s.out, pl.g.OutHW()*16)
	s.planes = grow32(s.planes, 16*max(pl.g.H*pl.g.W, pl.g.OutHW()))
	s.flat = grow32(s.flat, 16*pl.g.H*pl.g.W)
	return s
}

func grow32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// block computes channels [16b, 16b+16) of image n.
func (pl *depthwisePlan) block(s *depthwiseScratch, x, y []float32, n, b int) {
	g := &pl.g
	hw, ohw := g.H*g.W, g.OutHW()
	c0 := 16 * b
	real := min(16, g.C-c0)
	src := x[(n*g.C+c0)*hw:]
	if real < 16 {
		copy(s.planes, src[:real*hw])
		clear(s.planes[real*hw:])
		src = s.planes
	}
	pl.blockIn(s, src)
	s.bias = [16]float32{}
	if pl.bias != nil {
		copy(s.bias[:real], pl.bias[c0:])
	}
	taps := g.KH * g.KW
	a := dwArgs{out: s.out, in: s.padded, w: pl.w[b*taps*16 : (b+1)*taps*16], bias: s.bias[:],
		offs: pl.offs, rows: g.OutH(), cols: g.OutW(), rowStride: g.SH * pl.wp * 16, colStride: g.SW * 16,
		lo: pl.lo, hi: pl.hi}
	checkDW(&a)
	dwBlock(&a)
	dst := y[(n*g.C+c0)*ohw:]
	if real < 16 {
		pl.blockOut(s.planes[:16*ohw], s.out, ohw)
		copy(dst[:real*ohw], s.planes[:real*ohw])
		return
	}
	pl.blockOut(dst, s.out, ohw)
}

// blockIn transposes 16 planes src: [16, H, W] into the interior of s.padded: [Hp, Wp, 16].
// Planes at least 16 wide go row by row through the transposition kernel, 16 pixels at a
// time; narrower ones are transposed whole into s.flat and copied in by rows
// (transposePixels).
func (pl *depthwisePlan) blockIn(s *depthwiseScratch, src []float32) {
	g := &pl.g
	hw := g.H * g.W
	interior := func(ih int) []float32 { return s.padded[((ih+g.PadTop)*pl.wp+g.PadLeft)*16:] }
	pl.clearBorder(s.padded)
	if g.W >= 16 {
		for ih := range g.H {
			transposePixels(interior(ih), src[ih*g.W:], g.W, hw)
		}
		return
	}
	flat := s.flat[:hw*16]
	transposePixels(flat, src, hw, hw)
	for ih := range g.H {
		copy(interior(ih)[:g.W*16], flat[ih*g.W*16:(ih+1)*g.W*16])
	}
}

// clearBorder zeroes the padding around the interior of padded: [Hp, Wp, 16] (the buffer
// serves layers of every size, so the border is written each time; it is small next to the
// interior).
func (pl *depthwisePlan) clearBorder(padded []float32) {
	g := &pl.g
	row := pl.wp * 16
	clear(padded[:g.PadTop*row])
	clear(padded[(g.PadTop+g.H)*row : pl.hp*row])
	if g.PadLeft == 0 && g.PadRight == 0 {
		return
	}
	for ih := g.PadTop; ih < g.PadTop+g.H; ih++ {
		r := padded[ih*row : (ih+1)*row]
		clear(r[:g.PadLeft*16])
		clear(r[(g.PadLeft+g.W)*16:])
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

// blockOut transposes out: [OutH·OutW, 16] into 16 planes dst: [16, OutH·OutW] (plane stride
// ohw): whole groups of 16 pixels by gemm.Transpose16, a remainder as transposePixels does.
func (pl *depthwisePlan) blockOut(dst, out []float32, ohw int) {
	full := ohw / 16
	gemm.Transpose16(dst, out, ohw, 16, 16, 256, full)
	if rest := ohw - 16*full; rest > 0 && full > 0 {
		gemm.Transpose16(dst[ohw-16:], out[(ohw-16)*16:], ohw, 16, 16, 256, 1)
		return
	}
	for p := 16 * full; p < ohw; p++ {
		px := out[p*16 : p*16+16]
		for i, v := range px {
			dst[i*ohw+p] = v
		}
	}
}

// blockedPortable makes the blocked path run its portable tap kernel (tests).
var blockedPortable bool

// dwBlock runs the blocked depthwise kernel (checked by checkDW).
func dwBlock(a *dwArgs) {
	if blockedPortable {
		dwGeneric(a)
		return
	}
	dwAsm(a)
}
