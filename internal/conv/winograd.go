package conv

import (
	"fmt"
	"sync"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016) for 3×3, unit-stride, undilated, ungrouped convolutions.
//
// Output tile (ty, tx) is the 2×2 block of output pixels (2ty+a, 2tx+b), a, b < 2; it reads the
// 4×4 input patch d whose top-left corner is input pixel (2ty − PadTop, 2tx − PadLeft), zero
// outside the image. With
//
//	Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//	Aᵀ = [1 1 1 0; 0 1 −1 −1],
//
// the tile is Y_m = Aᵀ [Σ_c (G w_mc Gᵀ) ⊙ (Bᵀ d_c B)] A. Numbering the 16 elements of the 4×4
// transformed tiles ξ = 4r + s, the sum over channels is 16 independent matrix products
//
//	M_ξ [M, T] = U_ξ [M, C] · V_ξ [C, T]
//
// over the T tiles of a block of tile rows: 16 multiply-adds per tile, channel and output
// channel instead of 36, 2.25 times fewer. U_ξ is transformed (in float64) and packed once per
// filter; V_ξ is transformed from the input block by block, and the output transform fuses the
// bias, the residual and the activation into storing Y.
//
// Layouts of one block (tile rows [ty0, ty1) of one or more images, TW = ceil(OutW/2) tiles per
// row, T tiles in all, tile t = (image·(ty1−ty0) + ty−ty0)·TW + tx):
//
//	V  [16, C, tst]: V[ξ][c][t], tst = T + 16 (vector kernels write whole 16-lane segments;
//	   the lanes past a tile row's end are overwritten by the next row);
//	M  [16, M, tst]: the products, M[ξ][m][t].
//
// The vector kernels walk each tile row in segments of 16 tiles: lane l of segment s is tile
// tx = 16s + l, which reads input columns 32s + 2l + j − PadLeft, j < 4, straight from the image
// under masks (zero outside it).

// winoLanes holds the lane indices of the vector transforms' two-table permutes: the even lanes
// 0, 2, ..., 30, the odd lanes 1, 3, ..., 31, then the interleavings 0, 16, 1, 17, ..., 7, 23
// and 8, 24, ..., 15, 31.
var winoLanes = func() (t [64]int32) {
	for l := range int32(16) {
		t[l], t[16+l] = 2*l, 2*l+1
		t[32+l], t[48+l] = l/2+16*(l%2), 8+l/2+16*(l%2)
	}
	return t
}()

// winoMinChannels is the fewest output channels, and winoMinInputs the fewest input channels,
// for which Choose picks Winograd: the transforms cost per value what a handful of channels'
// multiply-adds do. With 16 input channels phased im2col is faster (squeezenet's 16→64 3×3 at
// 55×55, one thread: 0.34 vs 0.41 ms; two: 0.22 vs 0.23), with 32 Winograd still is
// (Inception-v3's 32→64 at 147×147: 3.97 vs 5.12 ms; squeezenet's 32→128 at 27×27: 0.29 vs
// 0.31).
const (
	winoMinChannels = 16
	winoMinInputs   = 32
)

// winoMinTiles is the fewest output tiles per block for which Forward runs a Winograd filter
// as Winograd rather than im2col: with fewer, the 16 products are too thin to pay for
// streaming 16/9 times the filter (resnet18's 7×7 layers ran slower; 14×14 ones faster).
// Tests lower it to run small images through the transforms.
var winoMinTiles = 36

// winoBlockBytes bounds the transformed input and the products of one block (16·(C+M)·T
// values), so that they stay in the L2 cache between the transforms and the products.
const winoBlockBytes = 512 << 10

// winogradShape reports whether g is a convolution F(2×2, 3×3) computes: a 3×3 window, unit
// strides and dilations, one group.
func winogradShape(g Geometry) bool {
	return g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 && g.Group == 1
}

// winoFilter is a filter w: [M, C, 3, 3] transformed into the 16 matrices U_ξ = (G w Gᵀ)_ξ,
// each [M, C] and packed for gemm.
type winoFilter struct {
	u [16]*gemm.PackedA
}

// newWinoFilter transforms and packs w: [M, C, 3, 3]. The transform runs in float64, so each
// U value is the exact one rounded once.
func newWinoFilter(m, c int, w []float32) *winoFilter {
	var u [16][]float32
	for xi := range u {
		u[xi] = make([]float32, m*c)
	}
	for i := range m * c {
		t := winoFilterTile(w[i*9 : i*9+9])
		for xi := range 16 {
			u[xi][i] = float32(t[xi])
		}
	}
	f := &winoFilter{}
	for xi := range u {
		f.u[xi] = gemm.PackA(m, c, u[xi], c, false)
	}
	return f
}

// winoFilterTile is G·g·Gᵀ for one 3×3 kernel g (row-major), as 16 values ξ = 4r + s.
func winoFilterTile(g []float32) [16]float64 {
	var gg [4][3]float64 // G·g
	for j := range 3 {
		a, b, c := float64(g[j]), float64(g[3+j]), float64(g[6+j])
		gg[0][j], gg[1][j], gg[2][j], gg[3][j] = a, (a+b+c)/2, (a-b+c)/2, c
	}
	var t [16]float64
	for r := range 4 {
		a, b, c := gg[r][0], gg[r][1], gg[r][2]
		t[4*r], t[4*r+1], t[4*r+2], t[4*r+3] = a, (a+b+c)/2, (a-b+c)/2, c
	}
	return t
}

// winoPlan is the tiling of one batch: blocks of whole images (small images: several per
// block, so that the products are wide enough) or of tile rows of one image (large images, or
// fewer images than threads).
type winoPlan struct {
	g          Geometry
	oh, ow     int
	th, tw     int      // tile rows and tiles per row
	segs       int      // 16-tile segments per tile row
	images     int      // images per block (> 1 only for whole-image blocks)
	blockRows  int      // tile rows per block and image
	rowBlocks  int      // blocks per image (1 for whole-image blocks)
	tileStride int      // tst: row stride of V and M, the tiles of the largest block + 16
	masks      []uint16 // the input transform's column masks (winoInArgs)
}

// winoTargetTiles is the block width (tiles) that whole-image blocks aim at, and winoMinBlock
// the narrowest a block may be made to fit the cache budget: below about 64 columns the
// products lose to their fixed costs and to streaming the transformed filter once per block.
const (
	winoTargetTiles = 128
	winoMinBlock    = 64
)

// newWinoPlan tiles g for batch images on threads goroutines: blocks of several small images
// when that still leaves every thread a block; otherwise blocks of tile rows whose V and M fit
// winoBlockBytes, but at least winoMinBlock tiles wide.
func newWinoPlan(g Geometry, batch, threads int) *winoPlan {
	p := &winoPlan{g: g, oh: g.OutH(), ow: g.OutW(), images: 1}
	p.th, p.tw = (p.oh+1)/2, (p.ow+1)/2
	p.segs = (p.tw + 15) / 16
	p.masks = winoColumnMasks(-g.PadLeft, g.W, p.segs)
	budget := max(1, winoBlockBytes/(64*(g.C+g.M)))        // tiles
	fit := max(min(budget, winoTargetTiles), winoMinBlock) // an image block's width
	perImage := p.th * p.tw
	switch {
	case batch >= 2*threads && 2*perImage <= fit:
		// Several small images per block (as many as fit the budget, but at least
		// winoMinBlock tiles), still leaving every thread a block.
		p.images = max(1, min((fit+perImage-1)/perImage, (batch+threads-1)/threads))
		p.blockRows, p.rowBlocks = p.th, 1
	default:
		rows := min(p.th, max(budget/p.tw, (winoMinBlock+p.tw-1)/p.tw, 1))
		p.rowBlocks = (p.th + rows - 1) / rows
		p.blockRows = (p.th + p.rowBlocks - 1) / p.rowBlocks // even blocks
	}
	p.tileStride = p.images*p.blockRows*p.tw + 16
	return p
}

// winoColumnMasks are the input transform's load masks for segs segments of a row whose valid
// columns are [0, w), lane 0 of segment 0 reading column col0 (see winoInArgs).
func winoColumnMasks(col0, w, segs int) []uint16 {
	masks := make([]uint16, 4*segs)
	for s := range segs {
		for k, off := range [4]int{0, 16, 2, 18} {
			for l := range 16 {
				if c := col0 + 32*s + off + l; c >= 0 && c < w {
					masks[4*s+k] |= 1 << l
				}
			}
		}
	}
	return masks
}

// blockTiles is the number of tiles of the widest block.
func (p *winoPlan) blockTiles() int { return p.tileStride - 16 }

// winoScratch is one goroutine's buffers for a block.
type winoScratch struct {
	v, m []float32
	dy   []float32 // the padded output gradient (winograd_grad.go)
}

var winoScratches = sync.Pool{New: func() any { return new(winoScratch) }}

// grow returns s's buffers sized for plan p.
func (s *winoScratch) grow(p *winoPlan) {
	need := func(buf *[]float32, n int) {
		if cap(*buf) < n {
			*buf = make([]float32, n)
		}
		*buf = (*buf)[:n]
	}
	need(&s.v, 16*p.g.C*p.tileStride)
	need(&s.m, 16*p.g.M*p.tileStride)
}

// winoBlock is a block of a batch: tile rows [ty0, ty1) of images [n0, n1).
type winoBlock struct{ n0, n1, ty0, ty1 int }

// winoJob is one Forward call's data, shared by its blocks.
type winoJob struct {
	f      *Filter
	p      *winoPlan
	x, y   []float32
	ep     *Epilogue
	lo, hi float32
}

// pays reports whether the plan's blocks have enough tiles for F(2×2, 3×3) to pay (a block
// never holds more tiles than the batch).
func (p *winoPlan) pays() bool { return p.blockTiles() >= winoMinTiles }

// forwardWinograd computes the convolution with F(2×2, 3×3). With at least as many blocks
// (of whole images, or of the rows of one image) or images as threads, they run side by side,
// one goroutine each; otherwise the blocks run one after the other, each spread over the
// threads (transforms by channels, the 16 products by ξ). p is the plan of the batch on threads.
func (f *Filter) forwardWinograd(p *winoPlan, x, y []float32, batch int, ep *Epilogue, threads int) {
	g := p.g
	job := &winoJob{f: f, p: p, x: x, y: y, ep: ep}
	job.lo, job.hi = bounds(ep)
	if p.rowBlocks == 1 {
		blocks := (batch + p.images - 1) / p.images
		outer, inner := threads, 1
		if blocks < threads {
			outer, inner = 1, threads
		}
		parallel.ForEach(outer, blocks, func(_, b int) {
			n0 := b * p.images
			job.run(winoBlock{n0, min(batch, n0+p.images), 0, p.th}, nil, inner)
		})
		return
	}
	// Row blocks: images side by side, or the blocks of one image side by side, or each block
	// spread over the threads.
	outer, inner := threads, 1
	if batch < threads {
		outer, inner = 1, threads
	}
	blockThreads, sideBySide := inner, 1
	if inner > 1 && p.rowBlocks >= inner {
		blockThreads, sideBySide = 1, inner
	}
	parallel.ForEach(outer, batch, func(_, n int) {
		var fin GroupFinisher
		if ep.Group != nil {
			fin = ep.Group.Begin(n, 0, x[n*g.InputLen():(n+1)*g.InputLen()], inner)
		}
		parallel.ForEach(sideBySide, p.rowBlocks, func(_, b int) {
			ty0 := b * p.blockRows
			job.run(winoBlock{n, n + 1, ty0, min(p.th, ty0+p.blockRows)}, fin, blockThreads)
		})
		if fin != nil {
			fin.End()
		}
	})
}

// run computes block b on up to threads goroutines: input transform, the 16 products, output
// transform, then the group epilogue: fin's Finish on the finished rows of a row block, or, for
// whole-image blocks (fin nil), a Begin, Finish and End per image.
func (j *winoJob) run(b winoBlock, fin GroupFinisher, threads int) {
	p, g := j.p, j.p.g
	s := winoScratches.Get().(*winoScratch)
	defer winoScratches.Put(s)
	s.grow(p)
	k := activeRow.Load()
	parallel.For(threads, g.C, func(c0, c1 int) { j.transformInput(k, s, b, c0, c1) })
	tiles := (b.n1 - b.n0) * (b.ty1 - b.ty0) * p.tw
	parallel.ForEach(threads, 16, func(_, xi int) {
		v := gemm.Dense{Data: s.v[xi*g.C*p.tileStride : (xi+1)*g.C*p.tileStride], Ld: p.tileStride}
		j.f.wino.u[xi].Mul(tiles, v, s.m[xi*g.M*p.tileStride:(xi+1)*g.M*p.tileStride], p.tileStride, nil, 1)
	})
	parallel.For(threads, g.M, func(m0, m1 int) { j.transformOutput(k, s, b, m0, m1, fin) })
	if fin == nil && j.ep.Group != nil {
		ohw := p.oh * p.ow
		for n := b.n0; n < b.n1; n++ {
			y := j.y[n*g.OutputLen() : (n+1)*g.OutputLen()]
			imageFin := j.ep.Group.Begin(n, 0, j.x[n*g.InputLen():(n+1)*g.InputLen()], threads)
			parallel.For(threads, g.M, func(m0, m1 int) {
				imageFin.Finish(y[m0*ohw:], ohw, m0, 0, m1-m0, ohw)
			})
			imageFin.End()
		}
	}
}

// transformInput transforms block b's input channels [c0, c1) into V.
func (j *winoJob) transformInput(k *rowKernel, s *winoScratch, b winoBlock, c0, c1 int) {
	p, g := j.p, j.p.g
	rows := b.ty1 - b.ty0
	for n := b.n0; n < b.n1; n++ {
		x := j.x[n*g.InputLen()+c0*g.H*g.W : n*g.InputLen()+c1*g.H*g.W]
		t := (n - b.n0) * rows * p.tw
		p.transformRows(k, x, s.v[c0*p.tileStride+t:], b.ty0, b.ty1, c1-c0)
	}
}

// transformRows transforms tile rows [ty0, ty1) of chans channels of one image x into V (dst
// at the first row's first tile), a group of rows per call for narrow images, a row per call
// otherwise, in the order of the tiles (each call's lanes past its tiles are overwritten by the
// next).
func (p *winoPlan) transformRows(k *rowKernel, x, dst []float32, ty0, ty1, chans int) {
	if rps := p.narrowRows(); rps > 0 {
		var pieces [32]winoNarrowPiece
		for ty := ty0; ty < ty1; ty += rps {
			winoNarrowIn(k, p.narrowArgs(x, dst[(ty-ty0)*p.tw:], &pieces, ty, ty1, chans))
		}
		return
	}
	for ty := ty0; ty < ty1; ty++ {
		winoIn(k, p.inputArgs(x, dst[(ty-ty0)*p.tw:], ty, chans))
	}
}

// inputArgs are the input transform's arguments for tile row ty of chans channels of one image
// x into V (dst at the row's first tile).
func (p *winoPlan) inputArgs(x, dst []float32, ty, chans int) *winoInArgs {
	g := p.g
	a := &winoInArgs{src: x, dst: dst, masks: p.masks, col0: -g.PadLeft, w: g.W, plane: g.H * g.W,
		dstRow: p.tileStride, xiStride: g.C * p.tileStride, chans: chans, segs: p.segs}
	for r := range a.rows {
		a.rows[r] = -1
		if ih := 2*ty - g.PadTop + r; ih >= 0 && ih < g.H {
			a.rows[r] = ih * g.W
		}
	}
	return a
}

// transformOutput stores block b's output channels [m0, m1) from M, with the bias, residual and
// activation, and, for a row block with a group epilogue, finishes them.
func (j *winoJob) transformOutput(k *rowKernel, s *winoScratch, b winoBlock, m0, m1 int, fin GroupFinisher) {
	p, g := j.p, j.p.g
	rows := b.ty1 - b.ty0
	ohw := p.oh * p.ow
	var bias []float32
	if j.ep.Group == nil && j.ep.Bias != nil {
		bias = j.ep.Bias[m0:m1]
	}
	rps := p.narrowRows()
	var pieces [8]winoNarrowPiece
	for n := b.n0; n < b.n1; n++ {
		y := j.y[n*g.OutputLen() : (n+1)*g.OutputLen()]
		for ty := b.ty0; rps > 0 && ty < b.ty1; ty += rps {
			// Narrow images: a group of tile rows per call.
			t := ((n-b.n0)*rows + ty - b.ty0) * p.tw
			gr := min(rps, b.ty1-ty)
			a := &winoNarrowOutArgs{
				src: s.m[m0*p.tileStride+t:], dst: y[m0*ohw+2*ty*p.ow:], bias: bias, pieces: &pieces,
				srcRow: p.tileStride, xiStride: g.M * p.tileStride, dstPlane: ohw, ld: p.ow,
				tw: p.tw, rps: gr, cols: p.ow, rows: min(2*gr, p.oh-2*ty), chans: m1 - m0, lo: j.lo, hi: j.hi,
			}
			if j.ep.Residual != nil {
				a.res = j.ep.Residual[n*g.OutputLen()+m0*ohw+2*ty*p.ow:]
			}
			winoNarrowOut(k, a)
		}
		for ty := b.ty0; rps == 0 && ty < b.ty1; ty++ {
			t := ((n-b.n0)*rows + ty - b.ty0) * p.tw
			a := &winoOutArgs{
				src: s.m[m0*p.tileStride+t:], dst: y[m0*ohw+2*ty*p.ow:], bias: bias,
				srcRow: p.tileStride, xiStride: g.M * p.tileStride, dstPlane: ohw, ld: p.ow,
				chans: m1 - m0, segs: p.segs, cols: p.ow, rows: min(2, p.oh-2*ty), lo: j.lo, hi: j.hi,
			}
			if j.ep.Residual != nil {
				a.res = j.ep.Residual[n*g.OutputLen()+m0*ohw+2*ty*p.ow:]
			}
			winoOut(k, a)
		}
		if fin != nil {
			r0, r1 := 2*b.ty0, min(p.oh, 2*b.ty1)
			fin.Finish(y[m0*ohw+r0*p.ow:], ohw, m0, r0*p.ow, m1-m0, (r1-r0)*p.ow)
		}
	}
}

// winoInArgs is the contract of the input transform kernel, for one tile row of every channel,
// read straight from the image: for c < chans, segment s < segs, lane l < 16 and ξ = 4i + j,
//
//	dst[ξ·xiStride + c·dstRow + 16s + l] = (Bᵀ d B)[i][j],
//	d[r][q] = src[c·plane + rows[r] + col] with col = col0 + 32s + 2l + q if rows[r] ≥ 0 and
//	0 ≤ col < w, else 0.
//
// rows[r] is the offset of input row r of the tiles (−1 for a row outside the image), col0 the
// image column under lane 0's first tap (−PadLeft); the kernel reads no value outside those
// rows' [0, w) columns. masks holds, per segment, the vector kernel's four load masks: bit l of
// masks[4s+k] says whether column col0 + 32s + (0, 16, 2, 18)[k] + l is inside [0, w).
type winoInArgs struct {
	src, dst                []float32
	masks                   []uint16
	rows                    [4]int
	col0, w                 int
	plane, dstRow, xiStride int
	chans, segs             int
}

// winoOutArgs is the contract of the output transform kernel, for one tile row of every output
// channel: for m < chans and tile tx = 16s + l with segment s < segs, the 2×2 outputs
//
//	o = Aᵀ X A,  X[i][j] = src[(4i+j)·xiStride + m·srcRow + 16s + l],
//	v = o[a][b] + bias[m] (+ res[m·dstPlane + a·ld + 2tx + b])
//	dst[m·dstPlane + a·ld + 2tx + b] = min(max(v, lo), hi)   (NaN stays NaN)
//
// for a < rows and 2tx + b < cols, where the last segment has columns: 32·(segs−1) < cols ≤
// 32·segs. bias nil means zero, res nil none.
type winoOutArgs struct {
	src, dst, res, bias            []float32
	srcRow, xiStride, dstPlane, ld int
	chans, segs, cols, rows        int
	lo, hi                         float32
}

// winoIn checks a's bounds and runs the active kernel's input transform.
func winoIn(k *rowKernel, a *winoInArgs) {
	ok := a.chans > 0 && a.segs > 0 && a.w > 0 && 15*a.xiStride+(a.chans-1)*a.dstRow+16*a.segs <= len(a.dst) &&
		len(a.masks) >= 4*a.segs
	for _, r := range a.rows {
		ok = ok && r >= -1 && (r < 0 || (a.chans-1)*a.plane+r+a.w <= len(a.src))
	}
	if !ok {
		panic(fmt.Sprintf("conv: Winograd input transform of %d channels × %d segments does not fit", a.chans, a.segs))
	}
	if k.winograd {
		winoInAsm(a)
		return
	}
	winoInGeneric(a)
}

// winoOut checks a's bounds and runs the active kernel's output transform.
func winoOut(k *rowKernel, a *winoOutArgs) {
	span := (a.chans-1)*a.dstPlane + (a.rows-1)*a.ld + a.cols
	if a.chans <= 0 || a.segs <= 0 || a.rows < 1 || a.rows > 2 || a.cols > 32*a.segs || a.cols <= 32*(a.segs-1) || a.cols > a.ld ||
		15*a.xiStride+(a.chans-1)*a.srcRow+16*a.segs > len(a.src) || span > len(a.dst) ||
		a.res != nil && span > len(a.res) || a.bias != nil && len(a.bias) < a.chans {
		panic(fmt.Sprintf("conv: Winograd output transform of %d channels × %d segments does not fit", a.chans, a.segs))
	}
	if k.winograd {
		winoOutAsm(a)
		return
	}
	winoOutGeneric(a)
}

// winoInGeneric is the portable input transform; see winoInArgs.
func winoInGeneric(a *winoInArgs) {
	for c := range a.chans {
		for t := range 16 * a.segs {
			var d [4][4]float32
			for r, off := range a.rows {
				for q := range 4 {
					if col := a.col0 + 2*t + q; off >= 0 && col >= 0 && col < a.w {
						d[r][q] = a.src[c*a.plane+off+col]
					}
				}
			}
			scatterXi(a.dst[c*a.dstRow+t:], winoInputTile(&d), a.xiStride)
		}
	}
}

// scatterXi stores the 16 values of a transformed tile, ξ = 0 … 15, at dst[ξ·xiStride].
func scatterXi(dst []float32, v [16]float32, xiStride int) {
	for xi, val := range v {
		dst[xi*xiStride] = val
	}
}

// winoInputTile is Bᵀ d B, in the order of operations of the vector kernel: columns first
// (across the rows of d), then rows.
func winoInputTile(d *[4][4]float32) [16]float32 {
	var t [4][4]float32
	for j := range 4 {
		t[0][j] = d[0][j] - d[2][j]
		t[1][j] = d[1][j] + d[2][j]
		t[2][j] = d[2][j] - d[1][j]
		t[3][j] = d[1][j] - d[3][j]
	}
	var v [16]float32
	for i := range 4 {
		v[4*i] = t[i][0] - t[i][2]
		v[4*i+1] = t[i][1] + t[i][2]
		v[4*i+2] = t[i][2] - t[i][1]
		v[4*i+3] = t[i][1] - t[i][3]
	}
	return v
}

// winoOutGeneric is the portable output transform; see winoOutArgs.
func winoOutGeneric(a *winoOutArgs) {
	tiles := (a.cols + 1) / 2
	for m := range a.chans {
		var bias float32
		if a.bias != nil {
			bias = a.bias[m]
		}
		for tx := range tiles {
			at := m*a.dstPlane + 2*tx
			storeOutputTile(a.src[m*a.srcRow+tx:], a.xiStride, a.dst[at:], offsetOrNil(a.res, at), a.ld,
				a.rows, min(2, a.cols-2*tx), bias, a.lo, a.hi)
		}
	}
}

// storeOutputTile is the portable output transforms' work for one tile: it gathers the tile's
// 16 ξ (src[ξ·xiStride]), transforms them and stores output (r, b) at dst[r·ld + b] for r < rows
// and b < cols as min(max(o + bias (+ res[r·ld + b]), lo), hi), res nil meaning none.
func storeOutputTile(src []float32, xiStride int, dst, res []float32, ld, rows, cols int, bias, lo, hi float32) {
	var x [16]float32
	for xi := range x {
		x[xi] = src[xi*xiStride]
	}
	o := winoOutputTile(&x)
	for r := range rows {
		for b := range cols {
			i := r*ld + b
			v := o[r][b] + bias
			if res != nil {
				v += res[i]
			}
			dst[i] = min(max(v, lo), hi)
		}
	}
}

// offsetOrNil is x[at:], or nil for a nil x.
func offsetOrNil(x []float32, at int) []float32 {
	if x == nil {
		return nil
	}
	return x[at:]
}

// winoOutputTile is Aᵀ X A, in the order of operations of the vector kernel: columns first
// (across the rows of X), then rows.
func winoOutputTile(x *[16]float32) [2][2]float32 {
	var s [2][4]float32
	for j := range 4 {
		s[0][j] = x[j] + x[4+j] + x[8+j]
		s[1][j] = x[4+j] - x[8+j] - x[12+j]
	}
	var o [2][2]float32
	for r := range 2 {
		o[r][0] = s[r][0] + s[r][1] + s[r][2]
		o[r][1] = s[r][1] - s[r][2] - s[r][3]
	}
	return o
}

// InputGradient returns the convolution that computes the gradient of a unit-stride,
// undilated, ungrouped convolution g with respect to its input: dX = conv(dY, w'), where w'
// [C, M, KH, KW] is w transposed and rotated by half a turn, w'[c][m][i][j] =
// w[m][c][KH−1−i][KW−1−j], with pads KH−1−PadTop, KW−1−PadLeft, KH−1−PadBottom, KW−1−PadRight,
// so that its output has g's input size. ok is false when g is not such a convolution or a pad
// exceeds the window (the gradient would then need negative pads).
func InputGradient(g Geometry, w []float32) (gt Geometry, wt []float32, ok bool) {
	if g.SH != 1 || g.SW != 1 || g.DH != 1 || g.DW != 1 || g.Group != 1 ||
		g.PadTop >= g.KH || g.PadBottom >= g.KH || g.PadLeft >= g.KW || g.PadRight >= g.KW || g.OutH() <= 0 || g.OutW() <= 0 {
		return Geometry{}, nil, false
	}
	gt = Geometry{C: g.M, H: g.OutH(), W: g.OutW(), M: g.C, KH: g.KH, KW: g.KW, SH: 1, SW: 1, DH: 1, DW: 1,
		PadTop: g.KH - 1 - g.PadTop, PadLeft: g.KW - 1 - g.PadLeft, PadBottom: g.KH - 1 - g.PadBottom,
		PadRight: g.KW - 1 - g.PadRight, Group: 1}
	taps := g.KH * g.KW
	wt = make([]float32, len(w[:g.FilterLen()]))
	for m := range g.M {
		for c := range g.C {
			src := w[(m*g.C+c)*taps : (m*g.C+c+1)*taps]
			dst := wt[(c*g.M+m)*taps : (c*g.M+m+1)*taps]
			for i := range taps {
				dst[i] = src[taps-1-i]
			}
		}
	}
	return gt, wt, true
}
