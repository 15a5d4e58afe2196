package conv

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Patch norms. DecoupledConv divides every convolution sum by the norm of the input patch under
// the window, ‖x_p‖ = sqrt(Σ x_p²) over the group's channels and the window's taps (padding
// counts as zeros). A patch norm is a convolution of x² with an all-ones filter of one output
// channel, which separates: the squares summed over channels give one plane, and the window sum
// over that plane is a sum along columns and one along rows. That costs C/Group·H·W +
// OutH·W·KH + OutH·OutW·KW additions instead of C/Group·OutH·OutW·KH·KW. Both passes run one
// output row at a time while its rows are in L1 (separableSquares): the column pass sums the
// plane rows of the row's vertical taps into a zero-bordered row, the row pass sums that row at
// the horizontal taps, after splitting it into its SW phases when the window is strided (so
// that every tap reads contiguous values again). Each sum is a shiftedSums call: a register
// accumulator per vector of outputs, every tap added in tap order. When the windows skip most
// of the input (a 1×1 window with stride 2), summing each window directly may be cheaper, and
// PatchSquares picks whichever costs less, counting the channel sums as eight times cheaper
// when the row kernel vectorises them (norms_amd64.s).
//
// The sums are float64: squares of float32 values cannot overflow or underflow there (float32
// squares overflow above 1.8e19 and underflow below 1e-19), so the norms stay exact to float32
// precision over the whole float32 range.

// PatchSquaresScratch is the number of float64 scratch values PatchSquares needs with up to
// threads goroutines.
func (g Geometry) PatchSquaresScratch(threads int) int {
	parts := g.squareBands(threads)
	return max(g.H*g.W, g.bandOffset(parts, parts)) // pointSquares' plane, or every band's scratch
}

// PatchSquares sets dst[oh·OutW + ow] to the sum of the squares of the zero-padded input patch
// under output pixel (oh, ow): over the C/Group channels of xg: [C/Group, H, W] and the window's
// KH·KW taps. scratch holds at least PatchSquaresScratch(threads) values. The work is split
// over up to threads goroutines (by bands of output rows, each with the channel sums of its
// own input rows) when the input is large enough to pay for them; a one-pixel window sums
// only the channels (stride 1) or the rows it samples (pointSquares). Every sum is added in the same order however
// the work is split. It panics if a slice is too short; g must be valid (Validate).
func (g Geometry) PatchSquares(dst []float64, xg []float32, scratch []float64, threads int) {
	oh, ow := g.OutH(), g.OutW()
	dst = dst[:oh*ow]
	xg = xg[:g.CG()*g.H*g.W]
	if g.Pointwise() {
		channelSquaresRange(dst, xg, g.H*g.W, g.CG(), 0, g.H*g.W)
		return
	}
	if g.KH == 1 && g.KW == 1 && g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0 && g.SH > 1 {
		g.pointSquares(dst, xg, scratch[:g.H*g.W], threads)
		return
	}
	planeCost := g.CG() * g.H * g.W
	if normsKernel() != genericRowKernel {
		planeCost /= 8 // vectorised: about eight values per step of the scalar loops below
	}
	separable := planeCost + oh*g.W*g.KH + oh*ow*g.KW
	if g.CG()*oh*ow*g.KH*g.KW <= separable {
		g.windowSquares(dst, xg)
		return
	}
	g.separableSquares(dst, xg, scratch, threads)
}

// squareBands is the number of bands of output rows separableSquares splits its work into: one
// per thread, but only for inputs of parallelSquaresMin values or more per band, and at most
// one per output row.
func (g Geometry) squareBands(threads int) int {
	return max(1, min(threads, g.CG()*g.H*g.W/parallelSquaresMin, g.OutH()))
}

// squareBand returns band b of parts: its output rows [o0, o1) and the input rows [i0, i1)
// their windows reach (empty when they reach only padding).
func (g Geometry) squareBand(b, parts int) (o0, o1, i0, i1 int) {
	oh := g.OutH()
	o0, o1 = b*oh/parts, (b+1)*oh/parts
	i0 = min(max(0, o0*g.SH-g.PadTop), g.H)
	i1 = max(min(g.H, (o1-1)*g.SH-g.PadTop+(g.KH-1)*g.DH+1), i0)
	return o0, o1, i0, i1
}

// paddedRow is the length of a zero-bordered row: PadLeft zeros, W column sums, and zeros up to
// the end of the last window.
func (g Geometry) paddedRow() int {
	return max(g.PadLeft+g.W, (g.OutW()-1)*g.SW+(g.KW-1)*g.DW+1)
}

// phaseLen is the length of one of the SW phases of a zero-bordered row: values SW·t + phase.
func (g Geometry) phaseLen() int { return (g.paddedRow() + g.SW - 1) / g.SW }

// bandScratch is the scratch of a band with rows input rows: their channel sums, its
// zero-bordered row and, for a strided window, the row's phases.
func (g Geometry) bandScratch(rows int) int {
	n := rows*g.W + g.paddedRow()
	if g.SW > 1 {
		n += g.SW * g.phaseLen()
	}
	return n
}

// bandOffset is where band b of parts begins in the scratch: after the scratch of the bands
// before it (bandOffset(parts, parts) is the whole).
func (g Geometry) bandOffset(b, parts int) int {
	off := 0
	for prev := range b {
		_, _, i0, i1 := g.squareBand(prev, parts)
		off += g.bandScratch(i1 - i0)
	}
	return off
}

// separableSquares is PatchSquares by separable sums, in bands of output rows on up to threads
// goroutines; scratch holds PatchSquaresScratch(threads) values.
func (g Geometry) separableSquares(dst []float64, xg []float32, scratch []float64, threads int) {
	parts := g.squareBands(threads)
	if parts == 1 {
		_, _, i0, i1 := g.squareBand(0, 1)
		g.squaresBand(dst, xg, scratch, 0, g.OutH(), i0, i1)
		return
	}
	parallel.For(parts, parts, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			off := g.bandOffset(b, parts)
			o0, o1, i0, i1 := g.squareBand(b, parts)
			g.squaresBand(dst, xg, scratch[off:off+g.bandScratch(i1-i0)], o0, o1, i0, i1)
		}
	})
}

// squaresBand computes the output rows [o0, o1) of PatchSquares from the input rows [i0, i1):
// their channel sums into scratch, then per output row the column pass into a zero-bordered
// row, its phases for a strided window, and the row pass into dst.
func (g Geometry) squaresBand(dst []float64, xg []float32, scratch []float64, o0, o1, i0, i1 int) {
	ow, hw, phaseLen := g.OutW(), g.H*g.W, g.phaseLen()
	plane := scratch[:(i1-i0)*g.W]
	padded := scratch[len(plane) : len(plane)+g.paddedRow()]
	channelSquaresRange(plane, xg, hw, g.CG(), i0*g.W, i1*g.W)
	clear(padded)
	src, rowOffs := padded, make([]int, g.KW)
	var phases []float64
	if g.SW > 1 {
		phases = scratch[len(plane)+len(padded) : len(plane)+len(padded)+g.SW*phaseLen]
		src = phases
	}
	for kw := range g.KW {
		d := kw * g.DW
		rowOffs[kw] = d%g.SW*phaseLen + d/g.SW
	}
	cols := &shiftArgs{dst: padded[g.PadLeft : g.PadLeft+g.W], src: plane, offs: make([]int, 0, g.KH), n: g.W}
	rows := &shiftArgs{src: src, offs: rowOffs, n: ow}
	k := normsKernel()
	for y := o0; y < o1; y++ {
		cols.offs = cols.offs[:0]
		for kh := range g.KH {
			if ih := y*g.SH - g.PadTop + kh*g.DH; ih >= i0 && ih < i1 {
				cols.offs = append(cols.offs, (ih-i0)*g.W)
			}
		}
		shiftedSums(k, cols)
		if phases != nil {
			splitPhases(phases, padded, g.SW, phaseLen)
		}
		rows.dst = dst[y*ow : (y+1)*ow]
		shiftedSums(k, rows)
	}
}

// splitPhases writes the values of row at positions SW·t + p to phases[p·n + t], zeros past
// the row's end.
func splitPhases(phases, row []float64, sw, n int) {
	if sw == 2 && len(row) <= 2*n {
		even, odd := phases[:n], phases[n:2*n]
		pairs := len(row) / 2
		e, o := even[:pairs], odd[:pairs]
		for t := range e {
			pair := row[2*t : 2*t+2 : 2*t+2]
			e[t], o[t] = pair[0], pair[1]
		}
		clear(even[pairs:])
		clear(odd[pairs:])
		if len(row)%2 == 1 {
			even[pairs] = row[len(row)-1]
		}
		return
	}
	for p := range sw {
		out := phases[p*n : (p+1)*n]
		for t := range out {
			if i := t*sw + p; i < len(row) {
				out[t] = row[i]
			} else {
				out[t] = 0
			}
		}
	}
}

// shiftArgs is the contract of the row kernels' sums function, passed by pointer so that the
// assembly takes one argument (field offsets via go_asm.h): for i < n,
//
//	dst[i] = src[offs[0] + i] + src[offs[1] + i] + … + src[offs[len(offs)−1] + i]
//
// added in that order, and 0 when offs is empty.
type shiftArgs struct {
	dst, src []float64
	offs     []int
	n        int
}

// shiftedSumsGeneric is the portable sums function; see shiftArgs.
func shiftedSumsGeneric(p *shiftArgs) {
	dst := p.dst[:p.n]
	if len(p.offs) == 0 {
		clear(dst)
		return
	}
	copy(dst, p.src[p.offs[0]:p.offs[0]+p.n])
	for _, o := range p.offs[1:] {
		for i, v := range p.src[o : o+p.n] {
			dst[i] += v
		}
	}
}

// shiftedSums runs the kernel's sums function after checking that every tap lies inside src and
// the outputs inside dst.
func shiftedSums(k *rowKernel, p *shiftArgs) {
	if p.n > len(p.dst) {
		panic(fmt.Sprintf("conv: %d sums into %d values", p.n, len(p.dst)))
	}
	for _, o := range p.offs {
		if o < 0 || o+p.n > len(p.src) {
			panic(fmt.Sprintf("conv: sums of %d values from offset %d of %d", p.n, o, len(p.src)))
		}
	}
	if p.n <= 0 {
		return
	}
	if len(p.offs) == 0 {
		clear(p.dst[:p.n])
		return
	}
	k.sums(p)
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
			channelSquaresRange(plane[row:row+g.W], xg, g.H*g.W, cg, row, row+g.W)
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

// parallelSquaresMin is the input size, in values, per goroutine below which the patch sums
// are not split (below it the hand-off costs about what the second goroutine saves).
const parallelSquaresMin = 1 << 15

// channelSquaresRange sets out[i−lo] = Σ_c xg[c·hw + i]² for lo ≤ i < hi, over cg channels of
// hw values, in chunks of squaresChunk channels per call of the active squares kernel.
func channelSquaresRange(out []float64, xg []float32, hw, cg, lo, hi int) {
	if len(out) < hi-lo || len(xg) < (cg-1)*hw+hi {
		panic(fmt.Sprintf("conv: squares of [%d, %d) over %d channels of %d values: %d outputs, %d inputs", lo, hi, cg, hw, len(out), len(xg)))
	}
	if hi <= lo {
		return
	}
	k := normsKernel()
	p := &squareArgs{plane: out[:hi-lo], n: hi - lo, stride: hw} // one allocation: k.squares is a function value
	for c0 := 0; c0 < cg; c0 += squaresChunk {
		p.x, p.channels = xg[c0*hw+lo:], min(squaresChunk, cg-c0)
		if c0 > 0 {
			p.accumulate = 1
		}
		k.squares(p)
	}
}

// addsGeneric is the portable adds32 function: for r < rows and i < cols,
// dst[r·dstStride + i] += src[r·srcStride + i].
func addsGeneric(dst, src []float32, rows, cols, dstStride, srcStride int) {
	for r := range rows {
		d := dst[r*dstStride : r*dstStride+cols]
		s := src[r*srcStride : r*srcStride+cols]
		for i, v := range s {
			d[i] += v
		}
	}
}

// checkRowBlock reports whether a block of rows is non-empty, and panics unless it lies inside
// both slices.
func checkRowBlock(dst, src []float32, rows, cols, dstStride, srcStride int) bool {
	if rows <= 0 || cols <= 0 {
		return false
	}
	if (rows-1)*dstStride+cols > len(dst) || (rows-1)*srcStride+cols > len(src) || dstStride < 0 || srcStride < 0 {
		panic(fmt.Sprintf("conv: adding %d rows of %d values (strides %d, %d) to slices of %d and %d", rows, cols, dstStride, srcStride, len(dst), len(src)))
	}
	return true
}

// normsKernel returns the row kernel whose squares and sums functions the patch norms use.
func normsKernel() *rowKernel {
	if k := activeRow.Load(); k.squares != nil && k.sums != nil {
		return k
	}
	return genericRowKernel
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
