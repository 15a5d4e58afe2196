package conv

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Patch norms. DecoupledConv divides every convolution sum by the norm of the input patch under
// the window, ‖x_p‖ = sqrt(Σ x_p²) over the group's channels and the window's taps (padding
// counts as zeros). A patch norm is a convolution of x² with an all-ones filter of one output
// channel, which separates: the squares summed over channels give one plane, and the window sum
// over that plane is a sum along rows and one along columns. That costs C/Group·H·W +
// H·OutW·KW + OutH·OutW·KH additions instead of C/Group·OutH·OutW·KH·KW. The rows go first when
// the horizontal stride is 1 (every pass then adds contiguous runs, which the row kernel's adds
// vectorise), the columns first otherwise (only the last pass is strided). When the windows
// skip most of the input (a 1×1 window with stride 2), summing each window directly may be
// cheaper, and PatchSquares picks whichever costs less, counting the channel sums as eight
// times cheaper when the row kernel vectorises them (norms_amd64.s).
//
// The sums are float64: squares of float32 values cannot overflow or underflow there (float32
// squares overflow above 1.8e19 and underflow below 1e-19), so the norms stay exact to float32
// precision over the whole float32 range.

// PatchSquaresScratch is the number of float64 scratch values PatchSquares needs.
func (g Geometry) PatchSquaresScratch() int {
	span := (g.OutW()-1)*g.SW + 1 // the row sums of a strided window, before sampling
	return g.H*g.W + max(g.H*g.OutW(), g.OutH()*(g.W+span))
}

// PatchSquares sets dst[oh·OutW + ow] to the sum of the squares of the zero-padded input patch
// under output pixel (oh, ow): over the C/Group channels of xg: [C/Group, H, W] and the window's
// KH·KW taps. scratch holds at least PatchSquaresScratch values. The channel sums, the bulk of
// the work on the separable path, are split over up to threads goroutines by pixel ranges when
// the input is large enough to pay for them; a strided one-pixel window sums only the rows it
// samples (pointSquares). It panics if a slice is too short; g must be valid (Validate).
func (g Geometry) PatchSquares(dst []float64, xg []float32, scratch []float64, threads int) {
	oh, ow := g.OutH(), g.OutW()
	dst = dst[:oh*ow]
	xg = xg[:g.CG()*g.H*g.W]
	if g.KH == 1 && g.KW == 1 && g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0 && g.SH > 1 {
		g.pointSquares(dst, xg, scratch[:g.H*g.W], threads)
		return
	}
	planeCost := g.CG() * g.H * g.W
	if normsKernel() != genericRowKernel {
		planeCost /= 8 // vectorised: about eight values per step of the scalar loops below
	}
	separable := planeCost + g.H*ow*g.KW + oh*ow*g.KH
	if g.CG()*oh*ow*g.KH*g.KW <= separable {
		g.windowSquares(dst, xg)
		return
	}
	plane, sums := scratch[:g.H*g.W], scratch[g.H*g.W:]
	g.channelSquares(plane, xg, threads)
	if g.SW == 1 {
		rows := sums[:g.H*ow]
		g.rowSums(rows, plane, g.H, g.W)
		g.columnSums(dst, rows, ow)
		return
	}
	// A strided window reads every SW-th value of a row, which the vector adds cannot: sum
	// the columns first (on contiguous rows), then the rows at every position (contiguous
	// again), and keep every SW-th sum.
	span := (ow-1)*g.SW + 1
	cols, wide := sums[:oh*g.W], sums[oh*g.W:oh*(g.W+span)]
	g.columnSums(cols, plane, g.W)
	unit := g
	unit.SW, unit.W = 1, span // the same taps at every position of a row of span sums
	unit.rowSumsFrom(wide, cols, oh, g.W, span, g.W)
	for y := range oh {
		src := wide[y*span : (y+1)*span]
		out := dst[y*ow : (y+1)*ow]
		for t := range out {
			out[t] = src[t*g.SW]
		}
	}
}

// pointSquares is PatchSquares for a one-pixel window without padding and a vertical stride
// above 1 (a strided 1×1 convolution): the channel sums of only the input rows the outputs
// sample, vectorised along each row, then every SW-th column. plane holds H·W values.
func (g Geometry) pointSquares(dst []float64, xg []float32, plane []float64, threads int) {
	oh, ow, cg := g.OutH(), g.OutW(), g.CG()
	parts := min(threads, cg*oh*g.W/parallelSquaresMin)
	parallel.For(max(parts, 1), oh, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			row := o * g.SH * g.W
			channelSquaresRange(plane, xg, cg, row, row+g.W)
			out := dst[o*ow : (o+1)*ow]
			src := plane[row : row+g.W]
			for t := range out {
				out[t] = src[t*g.SW]
			}
		}
	})
}

// squareArgs is the contract of the row kernels' squares function, passed by pointer so that
// the assembly takes one argument (field offsets via go_asm.h): for i < n,
//
//	plane[i] = (plane[i] if accumulate != 0) + Σ_{c < channels} float64(x[c·stride + i])²
type squareArgs struct {
	plane               []float64
	x                   []float32
	n, stride, channels int
	accumulate          int
}

// squaresGeneric is the portable squares function; see squareArgs.
func squaresGeneric(p *squareArgs) {
	plane := p.plane[:p.n]
	if p.accumulate == 0 {
		clear(plane)
	}
	for c := range p.channels {
		ch := p.x[c*p.stride : c*p.stride+p.n]
		for i, v := range ch {
			d := float64(v)
			plane[i] += d * d
		}
	}
}

// squaresChunk is how many channels one squares call sums: the kernel reads that many input
// streams at once besides the plane it updates.
const squaresChunk = 8

// channelSquares sets plane[i] = Σ_c xg[c][i]², in chunks of channels with the active row
// kernel's squares function.
func (g Geometry) channelSquares(plane []float64, xg []float32, threads int) {
	hw, cg := len(plane), g.CG()
	if len(xg) < cg*hw {
		panic(fmt.Sprintf("conv: %d channels of %d values need %d inputs, have %d", cg, hw, cg*hw, len(xg)))
	}
	parts := min(threads, cg*hw/parallelSquaresMin, hw/squaresBlock)
	if parts <= 1 {
		channelSquaresRange(plane, xg, cg, 0, hw)
		return
	}
	blocks := (hw + squaresBlock - 1) / squaresBlock
	parallel.For(parts, blocks, func(lo, hi int) {
		channelSquaresRange(plane, xg, cg, lo*squaresBlock, min(hi*squaresBlock, hw))
	})
}

// Splitting the channel sums over goroutines: each takes whole blocks of squaresBlock pixels
// (full vectors of the squares kernel), and only inputs of parallelSquaresMin values or more
// are split (below that the hand-off costs about what the second goroutine saves).
const (
	squaresBlock       = 64
	parallelSquaresMin = 1 << 15
)

// channelSquaresRange sets plane[i] = Σ_c xg[c·len(plane) + i]² for lo ≤ i < hi, over cg
// channels, in chunks of squaresChunk channels per call of the active squares kernel.
func channelSquaresRange(plane []float64, xg []float32, cg, lo, hi int) {
	hw := len(plane)
	k := normsKernel()
	p := &squareArgs{plane: plane[lo:hi], n: hi - lo, stride: hw} // one allocation: k.squares is a function value
	for c0 := 0; c0 < cg; c0 += squaresChunk {
		p.x, p.channels = xg[c0*hw+lo:], min(squaresChunk, cg-c0)
		if c0 > 0 {
			p.accumulate = 1
		}
		k.squares(p)
	}
}

// addsGeneric is the portable adds (and adds32) function: for r < rows and i < cols,
// dst[r·dstStride + i] += src[r·srcStride + i].
func addsGeneric[T float32 | float64](dst, src []T, rows, cols, dstStride, srcStride int) {
	for r := range rows {
		d := dst[r*dstStride : r*dstStride+cols]
		s := src[r*srcStride : r*srcStride+cols]
		for i, v := range s {
			d[i] += v
		}
	}
}

// addRows adds a block of rows (see addsGeneric) with the active kernel, after checking that it
// lies inside both slices.
func addRows(k *rowKernel, dst, src []float64, rows, cols, dstStride, srcStride int) {
	if checkRowBlock(dst, src, rows, cols, dstStride, srcStride) {
		k.adds(dst, src, rows, cols, dstStride, srcStride)
	}
}

// checkRowBlock reports whether a block of rows is non-empty, and panics unless it lies inside
// both slices.
func checkRowBlock[T float32 | float64](dst, src []T, rows, cols, dstStride, srcStride int) bool {
	if rows <= 0 || cols <= 0 {
		return false
	}
	if (rows-1)*dstStride+cols > len(dst) || (rows-1)*srcStride+cols > len(src) || dstStride < 0 || srcStride < 0 {
		panic(fmt.Sprintf("conv: adding %d rows of %d values (strides %d, %d) to slices of %d and %d", rows, cols, dstStride, srcStride, len(dst), len(src)))
	}
	return true
}

// normsKernel returns the row kernel whose squares and adds functions the patch norms use.
func normsKernel() *rowKernel {
	if k := activeRow.Load(); k.squares != nil && k.adds != nil {
		return k
	}
	return genericRowKernel
}

// rowSums sets out[y][ow] (rows of OutW values) to the sum of in[y][iw] (rows of width values)
// over the window's horizontal taps iw = ow·SW − PadLeft + kw·DW that fall inside the row, for
// y < rows.
func (g Geometry) rowSums(out, in []float64, rows, width int) {
	g.rowSumsFrom(out, in, rows, width, g.OutW(), width)
}

// rowSumsFrom is rowSums with out rows of outW values and taps inside [0, limit) of in's rows
// of width values.
func (g Geometry) rowSumsFrom(out, in []float64, rows, width, outW, limit int) {
	k := normsKernel()
	out = out[:rows*outW]
	clear(out)
	for kw := range g.KW {
		dx := kw*g.DW - g.PadLeft
		lo, hi := ValidSpan(outW, dx, g.SW, limit)
		if lo == hi {
			continue
		}
		if g.SW == 1 {
			addRows(k, out[lo:], in[dx+lo:], rows, hi-lo, outW, width)
			continue
		}
		for y := range rows {
			src := in[y*width : (y+1)*width]
			dst := out[y*outW+lo : y*outW+hi]
			for t := range dst {
				dst[t] += src[dx+(lo+t)*g.SW]
			}
		}
	}
}

// columnSums sets out[oh][x] (OutH rows of width values) to the sum of in[ih][x] (rows of width
// values, H of them) over the window's vertical taps ih = oh·SH − PadTop + kh·DH that fall
// inside the image.
func (g Geometry) columnSums(out, in []float64, width int) {
	oh := g.OutH()
	k := normsKernel()
	out = out[:oh*width]
	clear(out)
	for kh := range g.KH {
		dy := kh*g.DH - g.PadTop
		lo, hi := ValidSpan(oh, dy, g.SH, g.H)
		if lo < hi {
			addRows(k, out[lo*width:], in[(lo*g.SH+dy)*width:], hi-lo, width, width, g.SH*width)
		}
	}
}

// windowSquares is PatchSquares summing every window directly.
func (g Geometry) windowSquares(dst []float64, xg []float32) {
	oh, ow := g.OutH(), g.OutW()
	clear(dst)
	plane := g.H * g.W
	for c := range g.CG() {
		img := xg[c*plane : (c+1)*plane]
		for kh := range g.KH {
			for kw := range g.KW {
				dx := kw*g.DW - g.PadLeft
				lo, hi := ValidSpan(ow, dx, g.SW, g.W)
				if lo == hi {
					continue
				}
				for y := range oh {
					ih := y*g.SH + kh*g.DH - g.PadTop
					if ih < 0 || ih >= g.H {
						continue
					}
					row := img[ih*g.W : (ih+1)*g.W]
					out := dst[y*ow+lo : y*ow+hi]
					for t := range out {
						d := float64(row[dx+(lo+t)*g.SW])
						out[t] += d * d
					}
				}
			}
		}
	}
}
