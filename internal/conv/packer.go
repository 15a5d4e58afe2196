package conv

import "fmt"

// PatchPacker is the patch (im2col) matrix P of one image and one group, seen as the right-hand
// operand of gemm: P is [K, OutH·OutW] with K = C/Group·KH·KW, and
//
//	P[(c·KH + kh)·KW + kw][oh·OutW + ow] = x[c][oh·SH − PadTop + kh·DH][ow·SW − PadLeft + kw·DW],
//
// zero where the index falls into the padding. It implements gemm.BPacker, packing panels
// straight from the image, so P is never stored: gemm asks for one kc×nc block at a time, which
// stays in cache while the micro-kernel consumes it.
type PatchPacker struct {
	g  Geometry
	x  []float32 // [C/Group, H, W]: the group's input channels of one image
	ow int       // output width
	// tables, if set, holds the masked-load description of every 16-lane panel, shared by the
	// packers of all images of one convolution.
	tables *PanelTables
	// phasedPlan, if set, says how to pack 16-lane panels from a padded copy, and phased is
	// the copy (or the image itself) they are packed from (phased.go).
	phasedPlan *phasedPlan
	phased     *phased
}

// PanelTables describes, once per geometry, how each 16-lane panel of the patch matrix is read
// with masked loads (see maskedPackArgs): the pieces depend on the geometry and the panel's
// position only, not on the image, so the packers of a batch share them. It is nil-safe: a nil
// *PanelTables describes nothing and the packers work the pieces out per panel.
type PanelTables struct {
	nseg  []uint8
	offs  []int32  // maxPanelSegs·KH·KW per panel
	masks []uint16 // likewise
}

// NewPanelTables returns the tables for g, or nil where the active row kernel has no masked
// packing or g is outside its scope (horizontal stride > 1, large windows, huge channels).
func NewPanelTables(g Geometry) *PanelTables {
	khw := g.KH * g.KW
	if !maskedPackable(activeRow.Load(), g) || khw > maxTapTable || g.Validate() != nil {
		return nil
	}
	p := &PatchPacker{g: g, ow: g.OutW()}
	panels := (g.OutHW() + 15) / 16
	per := maxPanelSegs * khw
	t := &PanelTables{nseg: make([]uint8, panels), offs: make([]int32, panels*per), masks: make([]uint16, panels*per)}
	var buf [64]segment
	for q := range panels {
		segs := p.segments(buf[:0], q*16, min(16, g.OutHW()-q*16))
		if len(segs) > maxPanelSegs {
			continue // nseg 0: worked out per panel
		}
		t.nseg[q] = uint8(len(segs))
		p.maskedPieces(segs, t.offs[q*per:(q+1)*per], t.masks[q*per:(q+1)*per])
	}
	return t
}

// SetPanelTables makes the packer use t (from NewPanelTables of its geometry).
func (p *PatchPacker) SetPanelTables(t *PanelTables) { p.tables = t }

// NewPatchPacker returns the patch matrix of the image x: [C/Group, H, W] (one image, one
// group's channels, row-major). It panics if g is invalid or x is too short: callers validate
// the geometry when they plan.
func NewPatchPacker(g Geometry, x []float32) *PatchPacker {
	if err := g.Validate(); err != nil {
		panic("conv.NewPatchPacker: " + err.Error())
	}
	if need := g.CG() * g.H * g.W; len(x) < need {
		panic(fmt.Sprintf("conv.NewPatchPacker: image has %d values, want %d", len(x), need))
	}
	return &PatchPacker{g: g, x: x, ow: g.OutW()}
}

// Rows is K, the number of rows of P.
func (p *PatchPacker) Rows() int { return p.g.K() }

// Cols is OutH·OutW, the number of columns of P.
func (p *PatchPacker) Cols() int { return p.g.OutHW() }

// segment is a run of panel columns that lie on one output row: lanes [lane, lane+n) of the
// panel are output pixels (oh, ow), (oh, ow+1), ...
type segment struct{ lane, n, oh, ow int }

// PackB writes P[k0:k0+kc, j0:j0+nc] into dst as ceil(nc/nr) panels of kc×nr values (see
// gemm.BPacker). Concurrent calls with disjoint dst are safe: the packer is read-only.
//
// The loop runs panel by panel, so the writes are sequential; within a panel the nr columns are
// cut once into segments of consecutive output pixels on the same output row, and each patch
// row then copies (stride 1) or gathers (stride > 1) one short input row piece per segment.
func (p *PatchPacker) PackB(dst []float32, k0, kc, j0, nc, nr int) {
	if p.phased != nil && nr == 16 {
		p.packPhasedB(dst, k0, kc, j0, nc)
		return
	}
	var buf [64]segment
	for q := 0; q < nc; q += nr {
		width := min(nr, nc-q)
		panel := dst[(q/nr)*kc*nr : (q/nr+1)*kc*nr]
		if j := j0 + q; p.tables != nil && nr == 16 && j%16 == 0 && p.tables.nseg[j/16] > 1 && width == min(16, p.Cols()-j) {
			p.packTabled(panel, j/16, k0, kc)
			continue
		}
		segs := p.segments(buf[:0], j0+q, width)
		p.packPanel(panel, segs, k0, kc, width, nr)
	}
}

// segments cuts the columns [j, j+width) into runs on one output row.
func (p *PatchPacker) segments(segs []segment, j, width int) []segment {
	oh, ow := j/p.ow, j%p.ow
	for lane := 0; lane < width; {
		n := min(width-lane, p.ow-ow)
		segs = append(segs, segment{lane: lane, n: n, oh: oh, ow: ow})
		lane += n
		oh, ow = oh+1, 0
	}
	return segs
}

// packPanel fills one kc×nr panel whose first width columns are described by segs.
func (p *PatchPacker) packPanel(panel []float32, segs []segment, k0, kc, width, nr int) {
	if nr == 16 && len(segs) <= maxPanelSegs && p.g.KH*p.g.KW <= maxTapTable {
		if len(segs) == 1 && width == 16 {
			// One output row: per-row copies (stride 2: value by value) beat the masked
			// kernel here, its vector gathers included (measured on Zen 5).
			p.packPanelRow16(panel, segs[0], k0, kc)
			return
		}
		p.packPanel16(panel, segs, k0, kc, width)
		return
	}
	g := &p.g
	plane := g.H * g.W
	khw := g.KH * g.KW
	c, r := k0/khw, k0%khw
	kh, kw := r/g.KW, r%g.KW
	for kk := range kc {
		out := panel[kk*nr : kk*nr+nr]
		img := p.x[c*plane : (c+1)*plane]
		dy, dx := kh*g.DH-g.PadTop, kw*g.DW-g.PadLeft
		for _, s := range segs {
			seg := out[s.lane : s.lane+s.n]
			ih := s.oh*g.SH + dy
			if ih < 0 || ih >= g.H {
				clear(seg)
				continue
			}
			gatherRow(seg, img[ih*g.W:(ih+1)*g.W], s.ow*g.SW+dx, g.SW)
		}
		clear(out[width:])
		if kw++; kw == g.KW {
			kw = 0
			if kh++; kh == g.KH {
				kh = 0
				c++
			}
		}
	}
}

// maxTapTable bounds the kernel taps (KH·KW) and maxPanelSegs the output-row segments of a panel
// that the fast path's per-panel table covers.
const (
	maxTapTable  = 64
	maxPanelSegs = 4
)

// Kinds of (tap, segment) pieces of the fast path.
const (
	tapCopy    = iota // consecutive input values
	tapZero           // the input row is padding
	tapStride2        // input values 2 apart
	tapGather         // other strides, or partly padding
)

// maskedPackArgs drive a row kernel's packMasked: panel row kk (of kc) of dst is, for tap
// r = (r0 + kk) mod khw and channel base base + ((r0 + kk) div khw)·plane,
//
//	dst[kk·16 + l] = x[base' + offs[r·nseg + s] + l·stride]   for the lanes l set in masks[r·nseg + s], s < nseg
//
// and zero in the lanes no segment sets. The caller guarantees every such index is inside x.
type maskedPackArgs struct {
	dst, x                  []float32
	offs                    []int32
	masks                   []uint16
	base, plane, kc, r, khw int
	nseg                    int
	stride                  int // 1: lanes read consecutive values; 2: every other one
}

// maskedPackable reports whether row kernel k can pack g's panels with masked loads: it has
// the instructions, the horizontal stride is 1 or 2, and a group's input offsets fit int32.
func maskedPackable(k *rowKernel, g Geometry) bool {
	return k.packMasked != nil && g.SW <= 2 && int64(g.CG())*int64(g.H*g.W) < 1<<31
}

// packPanel16Masked is packPanel16 for horizontal strides 1 and 2 with a row kernel that packs
// with masked loads (stride 2: masked gathers): it describes every (tap, segment) piece by an
// offset and a lane mask.
func (p *PatchPacker) packPanel16Masked(k *rowKernel, panel []float32, segs []segment, k0, kc int) {
	var offs [maxTapTable * maxPanelSegs]int32
	var masks [maxTapTable * maxPanelSegs]uint16
	p.maskedPieces(segs, offs[:], masks[:])
	p.packMasked(k, panel, offs[:], masks[:], len(segs), k0, kc)
}

// packTabled packs panel q (16 lanes) with its pieces from the shared tables.
func (p *PatchPacker) packTabled(panel []float32, q, k0, kc int) {
	per := maxPanelSegs * p.g.KH * p.g.KW
	t := p.tables
	p.packMasked(activeRow.Load(), panel, t.offs[q*per:(q+1)*per], t.masks[q*per:(q+1)*per], int(t.nseg[q]), k0, kc)
}

// maskedPieces describes the (tap, segment) pieces of a panel for masked loads: entry
// r·len(segs) + s gets the offset of lane 0 from the channel base and the lanes segment s
// fills from tap r (none where the tap reads padding).
func (p *PatchPacker) maskedPieces(segs []segment, offs []int32, masks []uint16) {
	g := &p.g
	ns := len(segs)
	for r := range g.KH * g.KW {
		kh, kw := r/g.KW, r%g.KW
		for si, s := range segs {
			e := r*ns + si
			offs[e], masks[e] = 0, 0
			ih, iw := s.oh*g.SH+kh*g.DH-g.PadTop, s.ow*g.SW+kw*g.DW-g.PadLeft
			if ih < 0 || ih >= g.H {
				continue
			}
			lo, hi := ValidSpan(s.n, iw, g.SW, g.W)
			if lo >= hi {
				continue
			}
			masks[e] = uint16((1<<hi - 1) &^ (1<<lo - 1) << s.lane)
			offs[e] = int32(ih*g.W + iw - s.lane*g.SW)
		}
	}
}

// packMasked runs the row kernel's masked packing over kc rows from k0.
func (p *PatchPacker) packMasked(k *rowKernel, panel []float32, offs []int32, masks []uint16, ns, k0, kc int) {
	g := &p.g
	khw := g.KH * g.KW
	if last := (k0 + kc - 1) / khw; last >= g.CG() || len(panel) < kc*16 || len(offs) < khw*ns || len(masks) < khw*ns {
		panic("conv: packed panel outside the image") // ruled out by PackB's contract
	}
	args := maskedPackArgs{dst: panel, x: p.x, offs: offs[:khw*ns], masks: masks[:khw*ns],
		base: k0 / khw * g.H * g.W, plane: g.H * g.W, kc: kc, r: k0 % khw, khw: khw, nseg: ns, stride: g.SW}
	k.packMasked(&args)
}

// packPanel16 is packPanel for 16-lane panels of at most maxPanelSegs output-row segments. Which
// input row piece a (tap, segment) reads depends only on the tap (kh, kw), not on the channel, so
// the pieces are worked out once per panel and then reused for every channel.
func (p *PatchPacker) packPanel16(panel []float32, segs []segment, k0, kc, width int) {
	g := &p.g
	if k := activeRow.Load(); maskedPackable(k, *g) {
		p.packPanel16Masked(k, panel, segs, k0, kc)
		return
	}
	khw, ns := g.KH*g.KW, len(segs)
	var kind [maxTapTable * maxPanelSegs]uint8
	var off [maxTapTable * maxPanelSegs]int
	for r := range khw {
		kh, kw := r/g.KW, r%g.KW
		for si, s := range segs {
			e := r*ns + si
			kind[e], off[e] = p.piece(s, kh, kw)
		}
	}
	plane := g.H * g.W
	c, r := k0/khw, k0%khw
	for kk := range kc {
		out := (*[16]float32)(panel[kk*16 : kk*16+16])
		base := c * plane
		for si, s := range segs {
			e := r*ns + si
			seg := out[s.lane : s.lane+s.n]
			switch kind[e] {
			case tapCopy:
				copyShort(seg, p.x[base+off[e]:])
			case tapZero:
				clear(seg)
			case tapStride2:
				src := p.x[base+off[e]:][:2*len(seg)-1]
				for t := range seg {
					seg[t] = src[2*t]
				}
			default:
				row := p.x[base+off[e] : base+off[e]+g.W]
				gatherRow(seg, row, s.ow*g.SW+r%g.KW*g.DW-g.PadLeft, g.SW)
			}
		}
		if width < 16 {
			clear(out[width:])
		}
		if r++; r == khw {
			r = 0
			c++
		}
	}
}

// piece classifies what tap (kh, kw) reads for segment s: the kind of read and where in a
// channel plane it starts (the input row's start for tapGather).
func (p *PatchPacker) piece(s segment, kh, kw int) (kind uint8, off int) {
	g := &p.g
	ih, iw := s.oh*g.SH+kh*g.DH-g.PadTop, s.ow*g.SW+kw*g.DW-g.PadLeft
	switch {
	case ih < 0 || ih >= g.H:
		return tapZero, 0
	case g.SW == 1 && iw >= 0 && iw+s.n <= g.W:
		return tapCopy, ih*g.W + iw
	case g.SW == 2 && iw >= 0 && iw+2*s.n-1 <= g.W:
		return tapStride2, ih*g.W + iw
	}
	return tapGather, ih * g.W
}

// packPanelRow16 is packPanel for the common case of a full 16-lane panel on one output row.
// Which input row piece a patch row reads depends only on the tap (kh, kw), not on the channel,
// so the pieces are worked out once per panel and then reused for every channel.
func (p *PatchPacker) packPanelRow16(panel []float32, s segment, k0, kc int) {
	g := &p.g
	khw := g.KH * g.KW
	var kind [maxTapTable]uint8
	var off [maxTapTable]int
	for r := range khw {
		kind[r], off[r] = p.piece(s, r/g.KW, r%g.KW)
	}
	plane := g.H * g.W
	c, r := k0/khw, k0%khw
	if activeRow.Load().evens16 && g.SW == 2 && kc <= maxEvensRows {
		p.packRow16Evens(panel, s, kind[:khw], off[:khw], c, r, kc)
		return
	}
	for kk := range kc {
		out := (*[16]float32)(panel[kk*16 : kk*16+16])
		switch kind[r] {
		case tapCopy:
			copyShort(out[:], p.x[c*plane+off[r]:][:16])
		case tapZero:
			*out = [16]float32{}
		case tapStride2:
			src := (*[31]float32)(p.x[c*plane+off[r]:])
			for t := range out {
				out[t] = src[2*t]
			}
		default:
			kw := r % g.KW
			row := p.x[c*plane+off[r] : c*plane+off[r]+g.W]
			gatherRow(out[:], row, s.ow*g.SW+kw*g.DW-g.PadLeft, g.SW)
		}
		if r++; r == khw {
			r = 0
			c++
		}
	}
}

// maxEvensRows bounds the rows of one evens16 call (the gemm kernels' kc is 256).
const maxEvensRows = 512

// packRow16Evens is packPanelRow16 for stride 2 with the row kernel's evens16: the patch rows
// that read 16 values two apart, or only padding, go to the kernel in one call; the rest (a
// window reaching past the row's ends) are gathered here first.
func (p *PatchPacker) packRow16Evens(panel []float32, s segment, kind []uint8, off []int, c, r, kc int) {
	g := &p.g
	plane := g.H * g.W
	var offs [maxEvensRows]int
	for kk := range kc {
		switch kind[r] {
		case tapStride2:
			offs[kk] = c*plane + off[r]
		case tapZero:
			offs[kk] = evensZero
		default:
			offs[kk] = evensSkip
			row := p.x[c*plane+off[r] : c*plane+off[r]+g.W]
			gatherRow(panel[kk*16:kk*16+16], row, s.ow*g.SW+(r%g.KW)*g.DW-g.PadLeft, g.SW)
		}
		if r++; r == len(kind) {
			r = 0
			c++
		}
	}
	for _, o := range offs[:kc] {
		if o >= 0 && o+31 > len(p.x) {
			panic(fmt.Sprintf("conv: stride-2 patch row at %d reads past the image (%d values)", o, len(p.x)))
		}
	}
	evens16Asm(&evensArgs{dst: panel[:kc*16], x: p.x, offs: offs[:kc]})
}

// evensArgs is the contract of the row kernels' evens16: for i < len(offs),
//
//	dst[i·16 + t] = x[offs[i] + 2t] for t < 16   if offs[i] ≥ 0 (reading x[offs[i] : offs[i]+31])
//	dst[i·16 : i·16+16] = 0                       if offs[i] == evensZero
//	unchanged                                     if offs[i] == evensSkip
type evensArgs struct {
	dst, x []float32
	offs   []int
}

const (
	evensZero = -1
	evensSkip = -2
)

// evensGeneric is the portable evens16; see evensArgs.
func evensGeneric(a *evensArgs) {
	for i, o := range a.offs {
		out := (*[16]float32)(a.dst[i*16 : i*16+16])
		switch {
		case o >= 0:
			src := (*[31]float32)(a.x[o:])
			for t := range out {
				out[t] = src[2*t]
			}
		case o == evensZero:
			*out = [16]float32{}
		}
	}
}

// copyShort is copy for the short runs of patch rows (up to a few dozen values), where the call
// into memmove costs more than the move: 4-value moves, which compile to single 16-byte
// instructions, the last one overlapping the one before when the length is not a multiple of 4.
func copyShort(dst, src []float32) {
	n := len(dst)
	switch {
	case n > 64:
		copy(dst, src)
	case n == 16: // a whole panel row, the common case: unrolled
		copy4(dst[0:], src[0:])
		copy4(dst[4:], src[4:])
		copy4(dst[8:], src[8:])
		copy4(dst[12:], src[12:])
	case n >= 4:
		src = src[:n]
		for i := 0; i+4 <= n; i += 4 {
			copy4(dst[i:], src[i:])
		}
		if n%4 != 0 {
			copy4(dst[n-4:], src[n-4:])
		}
	default:
		for i := range dst {
			dst[i] = src[i]
		}
	}
}

// zeroShort is clear for the few padding values at the ends of a patch row.
func zeroShort(dst []float32) {
	if len(dst) > 16 {
		clear(dst)
		return
	}
	for i := range dst {
		dst[i] = 0
	}
}

// copy4 copies 4 values.
func copy4(dst, src []float32) { *(*[4]float32)(dst) = *(*[4]float32)(src) }

// gatherRow sets dst[t] = row[iw0 + t·stride], or zero where that index is outside row.
func gatherRow(dst, row []float32, iw0, stride int) {
	lo, hi := ValidSpan(len(dst), iw0, stride, len(row))
	gatherSpan(dst, row, iw0, stride, lo, hi)
}

// gatherSpan is gatherRow given the span [lo, hi) = ValidSpan(len(dst), iw0, stride, len(row)).
func gatherSpan(dst, row []float32, iw0, stride, lo, hi int) {
	zeroShort(dst[:lo])
	switch {
	case lo == hi:
	case stride == 1:
		copyShort(dst[lo:hi], row[iw0+lo:iw0+hi])
	default:
		src := row[iw0+lo*stride:]
		for t := range dst[lo:hi] {
			dst[lo+t] = src[t*stride]
		}
	}
	zeroShort(dst[hi:])
}

// PackCost tells gemm that gathering patches costs several times a dense copy (measured: about
// a third of a 3×3 convolution's time at 64 output channels when each panel is packed once), so
// that it splits products among threads by columns, where every thread packs its own patches,
// rather than by rows, where every thread would gather the same patches again.
//
// Packing from a phased copy (phased.go) moves each panel row with one or a few vector loads,
// about what a dense copy costs, but every task also fills its own copy first: twice a dense
// copy in all (Inception-v3's 3×3/2 layer from 35×35 to 17×17 at two threads: 2.41 ms in
// four row bands at 8, 1.93 ms in two at 16).
func (p *PatchPacker) PackCost() float64 {
	if p.phasedPlan != nil {
		return 16
	}
	return 48
}
