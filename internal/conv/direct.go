package conv

import (
	"math"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// The direct algorithm computes each output plane (one image, one output channel) as
//
//	y[oh][ow] = bias + Σ_c Σ_kh Σ_kw w[c][kh][kw] · xp[c][oh·SH + kh·DH][ow·SW + kw·DW]
//
// where xp is the input with its zero padding written out. Then every tap (c, kh, kw) reads, for
// one output row, a run of consecutive values of one padded row, and its offset from output row
// to output row is the same for all taps. So one call of the row kernel (tapArgs) computes the
// whole plane: per block of outputs it runs over all taps with vector multiply-adds, loading and
// storing each output once, with the bias and the activation fused.
//
// With a horizontal stride s > 1 the taps read every s-th value, so the padded input is also
// split into s column phases (xp[ih][ph], xp[ih][ph+s], ...), which makes every run contiguous
// again. The padded copy is made once per (image, group) and worker; an unpadded unit-stride
// input is read in place.

// directPlan is what every plane of one forwardDirect call shares.
type directPlan struct {
	g         Geometry
	lo, hi    float32
	rowKernel *rowKernel
	// copied says whether the kernel reads a padded, phase-split copy of the input rather than
	// the input itself. The source of channel c, phase ph, padded row ih starts at
	// c·chanLen + ph·phaseLen + ih·rowLen.
	copied                     bool
	hp, rowLen                 int
	chanLen, phaseLen, copyLen int
	// offs[t] is where tap t = (c·KH + kh)·KW + kw reads for output (0, 0).
	offs []int
}

// directPlanSize is the number of values of the padded copy of one group's input.
func directPlanSize(g Geometry) int {
	return g.CG() * g.SW * (g.H + g.PadTop + g.PadBottom) * ((g.W + g.PadLeft + g.PadRight + g.SW - 1) / g.SW)
}

func newDirectPlan(g Geometry, ep *Epilogue) *directPlan {
	pl := &directPlan{g: g, rowKernel: activeRow.Load()}
	pl.lo, pl.hi = bounds(ep)
	pl.copied = g.SW > 1 || g.PadTop > 0 || g.PadLeft > 0 || g.PadBottom > 0 || g.PadRight > 0
	pl.hp, pl.rowLen = g.H, g.W
	if pl.copied {
		pl.hp = g.H + g.PadTop + g.PadBottom
		pl.rowLen = (g.W + g.PadLeft + g.PadRight + g.SW - 1) / g.SW
	}
	pl.phaseLen = pl.hp * pl.rowLen
	pl.chanLen = g.SW * pl.phaseLen
	pl.copyLen = g.CG() * pl.chanLen
	for c := range g.CG() {
		for kh := range g.KH {
			for kw := range g.KW {
				dx := kw * g.DW
				pl.offs = append(pl.offs, c*pl.chanLen+dx%g.SW*pl.phaseLen+kh*g.DH*pl.rowLen+dx/g.SW)
			}
		}
	}
	return pl
}

// bounds returns the clamp bounds that express the epilogue's activation.
func bounds(ep *Epilogue) (lo, hi float32) {
	inf := float32(math.Inf(1))
	if ep.Group != nil {
		return -inf, inf // the group epilogue finishes the raw sums
	}
	switch ep.Act {
	case gemm.ActRelu:
		return 0, inf
	case gemm.ActClip:
		return ep.Min, ep.Max
	}
	return -inf, inf
}

// directWorker is one goroutine's scratch: the padded copy and which (image, group) it holds,
// and the finisher of that (image, group) if the epilogue has a Group hook.
type directWorker struct {
	padded   []float32
	holds    int
	fin      GroupFinisher
	finHolds int
	// The kernels' arguments live here so that passing them by pointer does not allocate.
	args  tapArgs
	split splitArgs
	// Keeps neighbouring workers' fields, written for every plane, off each other's cache lines.
	_ [128]byte
}

// forwardDirect computes all batch·M output planes, spread over the threads.
func forwardDirect(g Geometry, w, x, y []float32, batch int, ep *Epilogue, threads int) {
	pl := newDirectPlan(g, ep)
	k, groupLen, ohw := g.K(), g.CG()*g.H*g.W, g.OutHW()
	workers := make([]directWorker, max(1, min(threads, batch*g.M)))
	// plane computes output plane (n, m); with finish, it also hands it to the group epilogue.
	plane := func(worker, n, m int, finish bool) {
		i := n*g.M + m
		key := n*g.Group + m/g.MG()
		var bias float32
		if ep.Bias != nil && ep.Group == nil {
			bias = ep.Bias[m]
		}
		xg := x[key*groupLen : (key+1)*groupLen]
		src := pl.source(&workers[worker], xg, key)
		wk := &workers[worker]
		wk.args = tapArgs{
			dst: y[i*ohw : (i+1)*ohw], n: g.OutW(), rows: g.OutH(), dstStride: g.OutW(),
			src: src, srcStride: g.SH * pl.rowLen, offs: pl.offs, w: w[m*k : (m+1)*k],
			bias: bias, lo: pl.lo, hi: pl.hi,
		}
		runTaps(pl.rowKernel, &wk.args)
		if finish {
			wk.finisher(ep.Group, n, m/g.MG(), key, xg).Finish(y[i*ohw:(i+1)*ohw], ohw, m%g.MG(), 0, 1, ohw)
		}
	}
	if ep.Group != nil && batch*g.Group >= 2*len(workers) {
		// A group epilogue prepares state per (image, group): hand out whole groups, so that
		// no two workers prepare the same one, as long as there are enough to share, and
		// finish each group's planes in one call.
		mg := g.MG()
		parallel.ForEach(len(workers), batch*g.Group, func(worker, key int) {
			n, gi := key/g.Group, key%g.Group
			for m := gi * mg; m < (gi+1)*mg; m++ {
				plane(worker, n, m, false)
			}
			out := y[(n*g.M+gi*mg)*ohw : (n*g.M+(gi+1)*mg)*ohw]
			xg := x[key*groupLen : (key+1)*groupLen]
			workers[worker].finisher(ep.Group, n, gi, key, xg).Finish(out, ohw, 0, 0, mg, ohw)
		})
	} else {
		parallel.ForEach(len(workers), batch*g.M, func(worker, i int) { plane(worker, i/g.M, i%g.M, ep.Group != nil) })
	}
	for i := range workers {
		if workers[i].fin != nil {
			workers[i].fin.End()
		}
	}
}

// finisher returns the worker's finisher for image n, group gi (key n·Group + gi), beginning it
// now, and ending the previous one, unless the worker holds it already: a worker's planes come
// in order, so the planes of one group (a channel multiplier) mostly share one finisher.
func (wk *directWorker) finisher(ge GroupEpilogue, n, gi, key int, xg []float32) GroupFinisher {
	if wk.fin != nil && wk.finHolds == key {
		return wk.fin
	}
	if wk.fin != nil {
		wk.fin.End()
	}
	wk.fin, wk.finHolds = ge.Begin(n, gi, xg, 1), key
	return wk.fin
}

// source returns the values the taps read for the group's input xg: xg itself, or the worker's
// padded copy, made now unless the worker holds this (image, group) already (the planes of a
// depthwise layer with a channel multiplier share their input).
func (pl *directPlan) source(wk *directWorker, xg []float32, key int) []float32 {
	if !pl.copied {
		return xg
	}
	if wk.padded == nil {
		// Zeroed once: later copies only overwrite the input positions, so padding stays zero.
		wk.padded = make([]float32, pl.copyLen)
		wk.holds = -1
	}
	if wk.holds != key {
		pl.fill(wk, xg)
		wk.holds = key
	}
	return wk.padded
}

// fill writes the group's input xg: [C/Group, H, W] into the worker's padded, phase-split copy.
func (pl *directPlan) fill(wk *directWorker, xg []float32) {
	pl.fillRows(wk.padded, &wk.split, xg, 0, pl.g.H)
}

// fillRows writes input rows [ih0, ih1) of every channel of the group's input xg:
// [C/Group, H, W] into dst, a padded, phase-split copy (see directPlan) whose padding is zero
// already; split is scratch for the row kernel's arguments.
func (pl *directPlan) fillRows(dst []float32, split *splitArgs, xg []float32, ih0, ih1 int) {
	g := &pl.g
	s := g.SW
	// Input column iw = s·t + r is padded column PadLeft + iw: phase (PadLeft+r) mod s, position
	// (PadLeft+r)/s + t. at[r] is where residue r's run starts within a padded row's phases.
	var at [maxFillStride]int
	if s > maxFillStride {
		panic("conv: direct stride beyond the phase table")
	}
	for r := range s {
		at[r] = (g.PadLeft+r)%s*pl.phaseLen + (g.PadLeft+r)/s
	}
	if ih0 >= ih1 {
		return
	}
	for c := range g.CG() {
		if s == 2 {
			base := c*pl.chanLen + (g.PadTop+ih0)*pl.rowLen
			*split = splitArgs{even: dst[base+at[0]:], odd: dst[base+at[1]:], src: xg[(c*g.H+ih0)*g.W : (c*g.H+ih1)*g.W],
				w: g.W, rows: ih1 - ih0, dstStride: pl.rowLen}
			runSplit2(pl.rowKernel, split)
			continue
		}
		for ih := ih0; ih < ih1; ih++ {
			row := xg[(c*g.H+ih)*g.W : (c*g.H+ih+1)*g.W]
			base := c*pl.chanLen + (ih+g.PadTop)*pl.rowLen
			switch s {
			case 1:
				copy(dst[base+g.PadLeft:], row)
			default:
				for r := range min(s, g.W) {
					out := dst[base+at[r]:]
					for t, iw := 0, r; iw < g.W; t, iw = t+1, iw+s {
						out[t] = row[iw]
					}
				}
			}
		}
	}
}

// maxFillStride bounds the horizontal stride of the direct algorithm; Choose never picks it for
// larger strides, and Forward hands such convolutions to im2col.
const maxFillStride = 16

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func mod(a, b int) int { return a - floorDiv(a, b)*b }
