package conv

import (
	"fmt"
	"sync"

	"github.com/dcnet-go/dcnet/internal/gemm"
)

// Phased packing feeds gemm's patch panels from a padded, column-phase-split copy of the image:
// the direct algorithm's layout (directPlan), made once per (image, group) before the product.
// In that copy every (tap, output-row segment) piece of a panel is a run of consecutive values
// with no padding left to test, so a panel row is one masked vector load per segment and one
// store, its offset the tap's entry of directPlan.offs plus a per-segment constant; the packers
// that work pieces out per panel (packer.go) cost several times as much (Inception-v3's 1×7
// layers spent a quarter of their time packing).

// maxPhasedSegs is the most output-row segments a phased panel may span (output rows of at
// least 4 pixels); narrower outputs keep the per-piece packers.
const maxPhasedSegs = 4

// phasedArgs is the contract of the row kernels' packPhased: for kk < len(offs) and t < 16,
//
//	dst[kk·16 + t] = x[offs[kk] + seg[s] + t]   if bit t of masks[s] is set, for some s < nseg
//	dst[kk·16 + t] = 0                           if no mask has bit t
//
// The masks are disjoint; runPackPhased checks that every index read is inside x.
type phasedArgs struct {
	dst, x []float32
	offs   []int
	seg    [maxPhasedSegs]int
	masks  [maxPhasedSegs]uint16
	nseg   int
}

// runPackPhased checks phasedArgs' preconditions, given lo and hi, the least and greatest of
// a.offs, then packs with the row kernel's packPhased.
func runPackPhased(k *rowKernel, a *phasedArgs, lo, hi int) {
	if a.nseg < 1 || a.nseg > maxPhasedSegs || len(a.dst) < 16*len(a.offs) {
		panic(fmt.Sprintf("conv: phased panel of %d segments and %d rows into %d values", a.nseg, len(a.offs), len(a.dst)))
	}
	for s := range a.nseg {
		m := a.masks[s]
		if m == 0 {
			continue
		}
		first, last := lowestBit(m), highestBit(m)
		if lo+a.seg[s]+first < 0 || hi+a.seg[s]+last >= len(a.x) {
			panic(fmt.Sprintf("conv: phased segment at %d (lanes %d..%d) reads outside the %d-value copy", a.seg[s], first, last, len(a.x)))
		}
	}
	if k.phased {
		packPhasedAsm(a)
		return
	}
	packPhasedGeneric(a)
}

func lowestBit(m uint16) int {
	n := 0
	for m&1 == 0 {
		m >>= 1
		n++
	}
	return n
}

func highestBit(m uint16) int {
	n := -1
	for m != 0 {
		m >>= 1
		n++
	}
	return n
}

// packPhasedGeneric is the portable packPhased; see phasedArgs.
func packPhasedGeneric(a *phasedArgs) {
	for kk, o := range a.offs {
		out := (*[16]float32)(a.dst[kk*16 : kk*16+16])
		*out = [16]float32{}
		for s := range a.nseg {
			for t := range 16 {
				if a.masks[s]>>t&1 != 0 {
					out[t] = a.x[o+a.seg[s]+t]
				}
			}
		}
	}
}

// phasedPlan is what the phased packers of one geometry share: the copy's layout and tap
// offsets, and a pool of copies whose padding is zero (made for this geometry only, so a copy
// refilled with another image keeps its padding).
type phasedPlan struct {
	plan   *directPlan
	copies sync.Pool
}

// phasedPays reports whether g's patch panels are better packed from a padded copy: the row
// kernel has the vector packer, the copy has a layout (directFits), and it holds no more values
// than the patch matrix (a 1×1 stride-2 layer reads a quarter of its input, which the copy would
// write whole; resnet18's 3×3/2 layers, whose copies hold about half as many, gain 25–30 %).
func phasedPays(g Geometry) bool {
	if !activeRow.Load().phased || !directFits(g) {
		return false
	}
	return directPlanSize(g) <= g.K()*g.OutHW()
}

// newPhasedPlan returns the plan for g.
func newPhasedPlan(g Geometry) *phasedPlan {
	pp := &phasedPlan{plan: newDirectPlan(g, &Epilogue{})}
	n := pp.plan.copyLen
	pp.copies.New = func() any { s := make([]float32, n); return &s }
	return pp
}

// phased is a PatchPacker's phased source: the plan and the copy (or image) it reads.
type phased struct {
	plan *directPlan
	x    []float32
}

// setPhased makes the packer pack its 16-lane panels by the plan pp: from the image itself
// when the layout needs no copy, else from a copy that ForTask makes for each gemm task.
func (p *PatchPacker) setPhased(pp *phasedPlan) {
	p.phasedPlan = pp
	if !pp.plan.copied {
		p.phased = &phased{plan: pp.plan, x: p.x}
	}
}

// ForTask implements gemm.TaskPacker: with a phased plan that copies, the task packs from its
// own copy of the input rows its columns [j0, j1) read, written on the task's goroutine so
// that it stays in that core's cache (a copy shared by two cores made each read half of it from
// the other's cache, several times slower than its own).
func (p *PatchPacker) ForTask(j0, j1 int) (gemm.BPacker, func()) {
	pp := p.phasedPlan
	if pp == nil || p.phased != nil || j0 >= j1 {
		return p, func() {}
	}
	buf := pp.copies.Get().(*[]float32)
	ih0, ih1 := pp.inputRows(j0, j1)
	var split splitArgs
	pp.plan.fillRows(*buf, &split, p.x, ih0, ih1)
	q := *p
	q.phased = &phased{plan: pp.plan, x: *buf}
	return &q, func() { pp.copies.Put(buf) }
}

// inputRows returns the input rows [ih0, ih1) that the patch columns [j0, j1) read.
func (pp *phasedPlan) inputRows(j0, j1 int) (ih0, ih1 int) {
	g := &pp.plan.g
	oh0, oh1 := j0/g.OutW(), (j1-1)/g.OutW()
	ih0 = max(0, oh0*g.SH-g.PadTop)
	ih1 = min(g.H, oh1*g.SH+(g.KH-1)*g.DH-g.PadTop+1)
	return ih0, ih1
}

// packPhasedB is PackB for 16-lane panels from the phased source: panels spanning more than
// maxPhasedSegs output rows go to the per-piece packers.
func (p *PatchPacker) packPhasedB(dst []float32, k0, kc, j0, nc int) {
	ph := p.phased
	offs := ph.plan.offs[k0 : k0+kc]
	lo, hi := offs[0], offs[0]
	for _, o := range offs {
		lo, hi = min(lo, o), max(hi, o)
	}
	rowStep := p.g.SH * ph.plan.rowLen
	k := activeRow.Load()
	a := phasedArgs{x: ph.x, offs: offs}
	var buf [64]segment
	for q := 0; q < nc; q += 16 {
		width := min(16, nc-q)
		panel := dst[q*kc : (q+16)*kc]
		segs := p.segments(buf[:0], j0+q, width)
		if len(segs) > maxPhasedSegs {
			p.packPanel(panel, segs, k0, kc, width, 16)
			continue
		}
		a.dst, a.nseg = panel, len(segs)
		for i, s := range segs {
			a.seg[i] = s.oh*rowStep + s.ow - s.lane
			a.masks[i] = uint16((1<<s.n - 1) << s.lane)
		}
		runPackPhased(k, &a, lo, hi)
	}
}
