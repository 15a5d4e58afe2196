package decop

import (
	"math"
	"sync"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// backwardPlan is what every (image, group) item of one Backward call shares.
type backwardPlan struct {
	cfg   Config
	g     conv.Geometry
	in    Inputs
	dy    []float32
	batch int
	// dx is the output DX, written item by item.
	dx []float32
	// prm32 are output channel m's parameters and filter norm Nw_m in float32, normW the norms
	// in float64; angK are the angular function's constants.
	prm32 []chanParams32
	normW []float64
	angK  angularConsts
	// wRows[gi] is W_g [MG, K] packed for S = W_g·P (unless the sums are given); wCols[gi] is
	// W_gᵀ [K, MG] packed for dP = W_gᵀ·A_s.
	//
	// (For unit strides dX is also the convolution of A_s by the flipped, transposed filter,
	// which needs neither dP nor col2im; measured on the CNN9 and ResNet-18 layers it was no
	// faster, as gathering patches of A_s costs what col2im does.)
	wRows, wCols []*gemm.PackedA
	// wino, set for the layers Winograd's F(2×2, 3×3) computes, replaces the patch matrices:
	// S comes from the forward filter fwd (unless the sums are given), dX's dot-product part
	// is the convolution of A_s by dxFilter (geometry gt, conv.InputGradient), and dW sums the
	// transformed tiles (conv.WinogradGradientTiles) in the workers' du.
	wino     bool
	fwd      *conv.Filter
	dxFilter *conv.Filter
	gt       conv.Geometry
}

func newBackwardPlan(cfg Config, in Inputs, dy []float32, batch int) *backwardPlan {
	g := cfg.Geom
	if len(in.Sums) == 0 {
		in.Sums = nil
	}
	pl := &backwardPlan{cfg: cfg, g: g, in: in, dy: dy, batch: batch,
		prm32: make([]chanParams32, g.M), normW: make([]float64, g.M), angK: newAngularConsts(cfg.K)}
	k, mg := g.K(), g.MG()
	for m := range g.M {
		var sq float64
		for _, v := range in.W[m*k : (m+1)*k] {
			sq += float64(v) * float64(v)
		}
		nw := math.Sqrt(sq + cfg.Eps)
		pl.normW[m] = nw
		rho := paramValue(in.Rho, m, DefaultRho)
		p := chanParams32{
			alpha: float32(paramValue(in.Alpha, m, DefaultAlpha)), rho: float32(rho),
			beta: float32(paramValue(in.Beta, m, DefaultBeta)), invRho: float32(1 / rho), nw: float32(nw),
		}
		if p.nw > 0 {
			p.invNw = float32(1 / nw)
		}
		pl.prm32[m] = p
	}
	if batch == 0 {
		return pl
	}
	if pl.planWinograd() {
		return pl
	}
	for gi := range g.Group {
		wg := in.W[gi*mg*k : (gi+1)*mg*k]
		if len(in.Sums) == 0 {
			pl.wRows = append(pl.wRows, gemm.PackA(mg, k, wg, k, false))
		}
		pl.wCols = append(pl.wCols, gemm.PackA(k, mg, wg, k, true))
	}
	return pl
}

// planWinograd prepares the Winograd filters when F(2×2, 3×3) computes the layer and its input
// gradient, and reports whether it did.
func (pl *backwardPlan) planWinograd() bool {
	g := pl.g
	if conv.Choose(g) != conv.Winograd {
		return false
	}
	gt, wt, ok := conv.InputGradient(g, pl.in.W)
	if !ok || conv.Choose(gt) != conv.Winograd {
		return false
	}
	pl.wino, pl.gt = true, gt
	pl.dxFilter = conv.NewFilter(gt, wt, conv.Winograd, true)
	if len(pl.in.Sums) == 0 {
		pl.fwd = conv.NewFilter(g, pl.in.W, conv.Winograd, true)
	}
	return true
}

// paramValue is output channel m's value of an operator parameter given as none, one or M
// values.
func paramValue(v []float32, m int, def float64) float64 {
	switch len(v) {
	case 0:
		return def
	case 1:
		return float64(v[0])
	}
	return float64(v[m])
}

// chanSums are per-output-channel sums over positions and images, in float64: dB, the three
// parameter gradients and Σ_p A_N (the coefficient of w_m/Nw_m in dW_m).
type chanSums struct {
	b, alpha, rho, beta, normW []float64
	buf                        []float64 // backs the five
}

func newChanSums(m int) chanSums {
	var s chanSums
	s.fit(m)
	return s
}

// fit sizes s for m channels and clears it.
func (s *chanSums) fit(m int) {
	buf := s.buf
	if cap(buf) < 5*m {
		buf = make([]float64, 5*m)
	}
	buf = buf[:5*m]
	clear(buf)
	*s = chanSums{buf: buf, b: buf[:m], alpha: buf[m : 2*m], rho: buf[2*m : 3*m], beta: buf[3*m : 4*m], normW: buf[4*m:]}
}

// addTo adds s into dst and clears s.
func (s *chanSums) addTo(dst *chanSums) {
	for _, pair := range [][2][]float64{{dst.b, s.b}, {dst.alpha, s.alpha}, {dst.rho, s.rho}, {dst.beta, s.beta}, {dst.normW, s.normW}} {
		for i, v := range pair[1] {
			pair[0][i] += v
		}
		clear(pair[1])
	}
}

// gradWorker is one goroutine's scratch and partial sums.
type gradWorker struct {
	// patches is P [K, OutH·OutW]; dpatches is dP, the gradient of P's values; s holds S and
	// then A_s [MG, OutH·OutW].
	patches, dpatches, s []float32
	// nrm is n_p per position, invN its inverse (0 for a zero norm); an is Σ_m A_n, then that
	// divided by n_p.
	nrm, invN, an []float32
	// u is the patch-norm term's factor per input pixel of the item's group: [H, W].
	u []float32
	// nsum is Σ x_p² per position, sq PatchSquares' scratch.
	nsum, sq []float64
	// dwT accumulates (Σ A_s·Pᵀ)ᵀ = Σ P·A_sᵀ over this worker's items, per group: [Group, K, MG].
	// (Transposed because gemm packs P far faster as the left operand than Pᵀ as the right.)
	dwT []float32
	// du accumulates the Winograd tiles of dW over this worker's items: [16, M, C].
	du   []float32
	sums chanSums
	// parts are the channel sums of the column chunks of one item's coefficient stage, scratch
	// their per-position scratch.
	parts   []chanSums
	scratch []*coeffScratch
}

// workerPool recycles workers between Backward calls: a training loop calls Backward on the
// same layers again and again, and the patch matrices are the size of the layer's im2col.
var workerPool sync.Pool

// getWorker returns a worker with scratch sized for pl and inner goroutines per item, and its
// sums cleared.
func (pl *backwardPlan) getWorker(inner int) *gradWorker {
	w, _ := workerPool.Get().(*gradWorker)
	if w == nil {
		w = &gradWorker{}
	}
	g := pl.g
	k, ohw := g.K(), g.OutHW()
	if pl.wino {
		w.du = fit32(w.du, 16*g.M*g.C)
		clear(w.du)
	} else {
		w.patches = fit32(w.patches, k*ohw)
		w.dpatches = fit32(w.dpatches, k*ohw)
	}
	w.s = fit32(w.s, g.MG()*ohw)
	w.nrm, w.invN, w.an = fit32(w.nrm, ohw), fit32(w.invN, ohw), fit32(w.an, ohw)
	w.u = fit32(w.u, g.H*g.W)
	w.nsum, w.sq = fit64(w.nsum, ohw), fit64(w.sq, g.PatchSquaresScratch(1))
	w.dwT = fit32(w.dwT, g.FilterLen())
	clear(w.dwT)
	w.sums.fit(g.M)
	for len(w.parts) < inner {
		w.parts = append(w.parts, chanSums{})
		w.scratch = append(w.scratch, nil)
	}
	w.parts, w.scratch = w.parts[:inner], w.scratch[:inner]
	for ci := range inner {
		w.parts[ci].fit(g.M)
		if w.scratch[ci] == nil {
			w.scratch[ci] = newCoeffScratch(coeffBlock)
		}
	}
	return w
}

// fit32 returns b resized to n values, reallocated if too small; the contents are garbage.
func fit32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func fit64(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// run computes the gradients into out (slices of the right lengths).
func (pl *backwardPlan) run(out *Grads, threads int) {
	g := pl.g
	items := pl.batch * g.Group
	outer, inner := splitThreads(items, threads)
	workers := make([]*gradWorker, outer)
	pl.dx = out.DX
	// A static split: worker wi always gets items [items·wi/outer, items·(wi+1)/outer), so its
	// partial sums, and the reduction of them in worker order, do not depend on scheduling and
	// the gradients are the same bit for bit for a given thread count.
	parallel.For(outer, outer, func(w0, w1 int) {
		for wi := w0; wi < w1; wi++ {
			lo, hi := items*wi/outer, items*(wi+1)/outer
			if lo < hi {
				workers[wi] = pl.getWorker(inner)
			}
			for it := lo; it < hi; it++ {
				pl.item(workers[wi], it/g.Group, it%g.Group, inner)
			}
		}
	})
	pl.reduce(workers, out)
	for _, w := range workers {
		if w != nil {
			workerPool.Put(w)
		}
	}
}

// splitThreads divides threads between independent items (outer) and the work inside each
// item (inner), as the forward convolution does: items get the threads when they are plentiful
// or split evenly, since running them side by side needs no synchronisation inside the gemms.
func splitThreads(items, threads int) (outer, inner int) {
	if threads <= 1 {
		return 1, 1
	}
	if items >= 4*threads || items%threads == 0 {
		return threads, 1
	}
	return 1, threads
}

// item computes image n, group gi: its share of dW and the channel sums (into the worker) and
// its part of dX (into out, which no other item touches).
func (pl *backwardPlan) item(w *gradWorker, n, gi, inner int) {
	g := pl.g
	k, ohw, mg := g.K(), g.OutHW(), g.MG()
	cgLen := g.CG() * g.H * g.W
	x0 := n*g.InputLen() + gi*cgLen
	xg := pl.in.X[x0 : x0+cgLen]
	y0 := n*g.OutputLen() + gi*mg*ohw
	dyg := pl.dy[y0 : y0+mg*ohw]
	if pl.wino {
		var sums []float32
		if pl.in.Sums != nil {
			sums = pl.in.Sums[y0 : y0+mg*ohw]
		}
		pl.itemWinograd(w, xg, dyg, sums, pl.dx[x0:x0+cgLen], inner)
		return
	}

	pl.im2col(w.patches, xg, inner)
	pl.patchNorms(w, xg)
	if pl.in.Sums != nil {
		copy(w.s, pl.in.Sums[y0:y0+mg*ohw])
	} else {
		pl.wRows[gi].Mul(ohw, gemm.Dense{Data: w.patches, Ld: ohw}, w.s, ohw, nil, inner)
	}
	pl.coefficients(w, gi, dyg, inner)
	// dW_gᵀ += P · A_sᵀ: the inner dimension is the output positions.
	gemm.MulUnpacked(k, mg, ohw, w.patches, ohw, false, gemm.Dense{Data: w.s, Ld: ohw, Trans: true},
		w.dwT[gi*k*mg:(gi+1)*k*mg], mg, &gemm.Epilogue{Accumulate: true}, inner)
	for j, v := range w.an {
		w.an[j] = v * w.invN[j]
	}
	dxg := pl.dx[x0 : x0+cgLen]
	pl.normTerm(w, xg, dxg, false, inner)
	// dP = W_gᵀ · A_s, the gradient of every patch value through the dot products, scattered
	// back into dX_g.
	pl.wCols[gi].Mul(ohw, gemm.Dense{Data: w.s, Ld: ohw}, w.dpatches, ohw, nil, inner)
	pl.col2im(w, dxg, inner)
}

// itemWinograd is item for a Winograd layer (one group): xg, dyg and dxg are the image's input,
// output gradient and input gradient, sums its given dot products or nil.
func (pl *backwardPlan) itemWinograd(w *gradWorker, xg, dyg, sums, dxg []float32, inner int) {
	g := pl.g
	pl.patchNorms(w, xg)
	if sums != nil {
		copy(w.s, sums)
	} else {
		pl.fwd.Forward(g, xg, w.s, 1, nil, inner)
	}
	pl.coefficients(w, 0, dyg, inner)
	// dW: the transformed tiles of Σ A_s ⋆ x, turned into the filter's shape in reduce.
	conv.WinogradGradientTiles(g, xg, w.s, 1, w.du)
	for j, v := range w.an {
		w.an[j] = v * w.invN[j]
	}
	// dX = conv(A_s, w') through the dot products, then the patch-norm part added.
	pl.dxFilter.Forward(pl.gt, w.s, dxg, 1, nil, inner)
	pl.normTerm(w, xg, dxg, true, inner)
}

// im2col writes the patch matrix P [K, OutH·OutW] of one image's group xg: [C/Group, H, W].
func (pl *backwardPlan) im2col(dst, xg []float32, inner int) {
	pp := conv.NewPatchPacker(pl.g, xg)
	ohw := pl.g.OutHW()
	// With nr = OutH·OutW the packer's single panel is P's rows in row-major order.
	parallel.For(inner, pl.g.K(), func(lo, hi int) {
		pp.PackB(dst[lo*ohw:hi*ohw], lo, hi-lo, 0, ohw, ohw)
	})
}

// patchNorms sets w.nrm[p] = n_p = sqrt(Σ x_p² + eps) and w.invN[p] = 1/n_p (0 for a zero
// norm) for the item's group xg: [C/Group, H, W]. The squares are summed in float64 as in the
// forward pass: n_p enters r − ρ (seg's ∂h/∂β, the branches of ball and seg), where its
// rounding is amplified most.
func (pl *backwardPlan) patchNorms(w *gradWorker, xg []float32) {
	pl.g.PatchSquares(w.nsum, xg, w.sq, 1)
	eps := pl.cfg.Eps
	for j, v := range w.nsum {
		nv := math.Sqrt(v + eps)
		w.nrm[j], w.invN[j] = float32(nv), 0
		if nv > 0 {
			w.invN[j] = float32(1 / nv)
		}
	}
}

// coefficients turns S into A_s (in place) for the rows of group gi, sets w.an to Σ_m A_n per
// position and adds the channel sums into w.sums. The positions are split among inner
// goroutines, each with its own channel sums.
func (pl *backwardPlan) coefficients(w *gradWorker, gi int, dyg []float32, inner int) {
	ohw, mg := pl.g.OutHW(), pl.g.MG()
	chunks := len(w.parts)
	parallel.ForEach(inner, chunks, func(_, ci int) {
		lo, hi := ohw*ci/chunks, ohw*(ci+1)/chunks
		an := w.an[lo:hi]
		clear(an)
		for r := range mg {
			row := w.s[r*ohw : (r+1)*ohw]
			pl.coeffRow(gi*mg+r, row[lo:hi], dyg[r*ohw+lo:r*ohw+hi], w.nrm[lo:hi], w.invN[lo:hi], an,
				&w.parts[ci], w.scratch[ci])
		}
	})
	for ci := range w.parts {
		w.parts[ci].addTo(&w.sums)
	}
}

// normTerm sets dxg (or, with add, adds to it) the patch-norm part of the input's gradient:
// dxg[c][ih][iw] = x[c][ih][iw]·u[ih][iw], where u sums t[p] = Σ_m A_n[m,p] / n_p (in w.an) over the patch entries
// (tap, p) that read pixel (ih, iw), the same for every channel. xg and dxg are one image's
// group: [C/Group, H, W]; channels are split among inner goroutines.
func (pl *backwardPlan) normTerm(w *gradWorker, xg, dxg []float32, add bool, inner int) {
	g := &pl.g
	plane := g.H * g.W
	clear(w.u)
	for kh := range g.KH {
		for kw := range g.KW {
			g.ScatterTap(w.u, w.an, kh, kw)
		}
	}
	parallel.For(inner, g.CG(), func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			dxc, xc := dxg[c*plane:(c+1)*plane], xg[c*plane:(c+1)*plane]
			if add {
				for i, v := range xc {
					dxc[i] += v * w.u[i]
				}
				continue
			}
			for i, v := range xc {
				dxc[i] = v * w.u[i]
			}
		}
	})
}

// col2im adds dP, the gradient of the patch values, back into the input they were read from:
// dxg[c][ih][iw] += Σ over the patch entries (k, p) that read x[c][ih][iw] of dP[k][p].
// dxg is one image's group: [C/Group, H, W]; channels are split among inner goroutines.
func (pl *backwardPlan) col2im(w *gradWorker, dxg []float32, inner int) {
	parallel.For(inner, pl.g.CG(), func(c0, c1 int) {
		pl.g.Col2imRows(dxg, w.dpatches, pl.g.OutHW(), c0, c1)
	})
}

// reduce sums the workers' partial results into out and adds the filter-norm term of dW.
func (pl *backwardPlan) reduce(workers []*gradWorker, out *Grads) {
	g := pl.g
	k := g.K()
	total := newChanSums(g.M)
	clear(out.DW)
	var du []float64
	if pl.wino {
		du = make([]float64, 16*g.M*g.C)
	}
	for _, w := range workers {
		if w == nil {
			continue
		}
		w.sums.addTo(&total)
		if pl.wino {
			for i, v := range w.du {
				du[i] += float64(v)
			}
			continue
		}
		addTransposed(out.DW, w.dwT, g.Group, k, g.MG())
	}
	if pl.wino {
		conv.WinogradTilesToFilter(g, du, out.DW)
	}
	for m := range g.M {
		out.DB[m] = float32(total.b[m])
		if pl.normW[m] == 0 {
			continue
		}
		scale := total.normW[m] / pl.normW[m]
		row, wm := out.DW[m*k:(m+1)*k], pl.in.W[m*k:(m+1)*k]
		for i, v := range wm {
			row[i] += float32(scale * float64(v))
		}
	}
	reduceParam(out.DAlpha, total.alpha)
	reduceParam(out.DRho, total.rho)
	reduceParam(out.DBeta, total.beta)
}

// addTransposed adds dwT: [groups, K, MG] into dw: [groups·MG, K].
func addTransposed(dw, dwT []float32, groups, k, mg int) {
	for gi := range groups {
		src := dwT[gi*k*mg : (gi+1)*k*mg]
		dst := dw[gi*mg*k : (gi+1)*mg*k]
		for kk := range k {
			for r, v := range src[kk*mg : (kk+1)*mg] {
				dst[r*k+kk] += v
			}
		}
	}
}

// reduceParam writes a parameter's gradient from its per-channel sums: nothing for an absent
// parameter, the total for a scalar, one value per channel otherwise.
func reduceParam(dst []float32, sums []float64) {
	switch len(dst) {
	case 0:
	case 1:
		var s float64
		for _, v := range sums {
			s += v
		}
		dst[0] = float32(s)
	default:
		for m, v := range sums {
			dst[m] = float32(v)
		}
	}
}
