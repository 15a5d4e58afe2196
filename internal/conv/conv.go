package conv

import (
	"fmt"
	"sync/atomic"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Algorithm is a way of computing a convolution; see the package documentation.
type Algorithm int

// The algorithms.
const (
	// Auto lets NewFilter choose (see Choose).
	Auto Algorithm = iota
	// Im2col multiplies the packed filter by the patch matrix, packed on the fly (any geometry).
	Im2col
	// Pointwise multiplies the packed filter by the image itself (Geometry.Pointwise only).
	Pointwise
	// Direct sums shifted, scaled input rows per output plane (any geometry; chosen for
	// depthwise convolutions).
	Direct
	// Winograd computes F(2×2, 3×3) tiles as 16 products of transformed filter and input
	// (3×3 windows, unit strides and dilations, one group; see winograd.go). Images too small
	// for it to pay run as Im2col.
	Winograd
	// Stem vectorises over output channels and broadcasts input values, for a few input
	// channels (a network's first layer; see stem.go). A residual epilogue runs as Im2col.
	Stem
)

// String names the algorithm.
func (a Algorithm) String() string {
	switch a {
	case Im2col:
		return "im2col"
	case Pointwise:
		return "pointwise"
	case Direct:
		return "direct"
	case Winograd:
		return "winograd"
	case Stem:
		return "stem"
	}
	return "auto"
}

// Choose picks the algorithm for g from its size-independent fields only (channels, group,
// kernel, strides, pads), so that it can be decided once when a model is planned. Winograd is
// chosen for 3×3 unit-stride layers of at least winoMinInputs input and winoMinChannels output
// channels, and Stem for layers of at most stemMaxChannels input channels and either 16 output
// channels or a horizontal stride of 4, when the active row kernel has their vector kernels.
// Wider stems of strides 1 and 2 go to im2col, whose phased packing (phased.go) beats the stem
// kernel's transpositions there (one thread, GFLOP/s: resnet18's 7×7/2 167 vs 158,
// squeezenet1_1's 3×3/2 148 vs 108, shufflenet's 116 vs 64; mobilenet_v3's 16 channels 83 vs
// 103, alexnet's 11×11/4 143 vs 138 and at two threads 229 vs 252).
func Choose(g Geometry) Algorithm {
	switch {
	case g.Depthwise():
		return Direct
	case g.Pointwise():
		return Pointwise
	case winogradShape(g) && g.C >= winoMinInputs && g.M >= winoMinChannels && activeRow.Load().winograd:
		return Winograd
	case stemShape(g) && (g.M == 16 || g.SW == 4) && activeRow.Load().stem:
		return Stem
	}
	return Im2col
}

// Supports reports whether the algorithm can compute convolutions of geometry g.
func (a Algorithm) Supports(g Geometry) bool {
	switch a {
	case Im2col, Direct:
		return true
	case Pointwise:
		return g.Pointwise()
	case Winograd:
		return winogradShape(g)
	case Stem:
		return stemShape(g)
	}
	return false
}

// Epilogue is the work fused into storing the output: y = act(conv + Bias[m]), or, with Group,
// a caller's own finishing step.
type Epilogue struct {
	// Bias holds M values (one per output channel), or is nil.
	Bias []float32
	// Residual, if not nil, is added before the activation: it has y's layout [batch, M, OutH,
	// OutW] (a skip connection, Conv + Add fused).
	Residual []float32
	// Act is applied last; ActClip clamps to [Min, Max].
	Act      gemm.Activation
	Min, Max float32
	// Group, if not nil, replaces Bias and Act: the raw sums of every (image, group) product are
	// handed to the GroupFinisher it begins for that product (see GroupEpilogue).
	Group GroupEpilogue
	// Tail, if not nil, is applied in place to the finished outputs, after everything above:
	// every output value is passed to it exactly once, in runs of consecutive values, possibly
	// from several goroutines at once. It must act on each value alone (an elementwise
	// function, so that how the runs are cut does not matter). The channel-blocked depthwise
	// algorithm calls it on each strip of output while the strip is in cache; the others in
	// one pass over the finished output, spread over the threads. (Calling it from the GEMM's
	// Tile hook, on each finished block, measured 5–10 % slower on EfficientNet-B0 than the
	// pass after: the blocks are too large to stay in cache.)
	Tail func(v []float32)
}

// GroupEpilogue finishes convolution sums with per-(image, group) state, such as the patch
// norms of DecoupledConv. Forward calls Begin once per product of one image and one group,
// on the goroutine that then runs the product, before any of its sums are finished.
type GroupEpilogue interface {
	// Begin prepares to finish the outputs of image n and group gi, whose input xg is
	// [C/Group, H, W] (the group's channels of image n). threads is the number of goroutines
	// the product itself will use: with more than one, work that Begin defers to the first
	// Finish can overlap the product.
	Begin(n, gi int, xg []float32, threads int) GroupFinisher
}

// SampledGroupEpilogue is a GroupEpilogue that can also begin from the sampled grid of a
// strided 1×1 convolution without padding, which Forward copies out of the input on the way
// (see Geometry.sampledPoint): xs is [C/Group, OutH, OutW], xs[c][oh][ow] = xg[c][oh·SH][ow·SW],
// every input value the outputs read and nothing else, still in cache.
type SampledGroupEpilogue interface {
	GroupEpilogue
	BeginSampled(n, gi int, xs []float32, threads int) GroupFinisher
}

// GroupFinisher finishes the sums of one (image, group) product in place.
type GroupFinisher interface {
	// Finish transforms a finished block of the group's output, seen as the matrix
	// [M/Group, OutH·OutW]: rows [i0, i0+rows) (output channels gi·M/Group + i0, ...) and
	// columns [j0, j0+cols) (output pixels oh·OutW + ow); c[0] is row i0, column j0, and rows
	// are ldc apart. The blocks partition the matrix; calls may come concurrently from several
	// goroutines on disjoint blocks.
	Finish(c []float32, ldc, i0, j0, rows, cols int)
	// End is called once, after the product's last Finish.
	End()
}

// Filter is a convolution filter w: [M, C/Group, KH, KW] prepared for one algorithm: for the
// gemm-based ones, packed once per group so that every later call reuses the packing; for
// Winograd, transformed; for Stem, reordered. It is read-only after NewFilter, so one Filter may
// serve concurrent calls.
type Filter struct {
	algo   Algorithm
	shape  filterShape
	w      []float32
	packed []*gemm.PackedA // per group, or nil (gemm packs w block by block on each call)
	// wino is the transformed filter of the Winograd algorithm, stem the packed one of Stem.
	wino *winoFilter
	stem *stemFilter
	// blocked caches the filter laid out for the channel-blocked depthwise path.
	blocked atomic.Pointer[[]float32]
	// tables caches the panel tables of the last geometry the filter ran on (a session runs
	// one input size over and over; building the tables costs as much as a small layer).
	tables atomic.Pointer[cachedTables]
	// phased caches the phased-packing plan of the last geometry, likewise (phased.go).
	phased atomic.Pointer[cachedPhased]
}

// cachedPhased is the phased-packing plan of one geometry under one row kernel, nil where
// phased packing does not pay.
type cachedPhased struct {
	g    Geometry
	row  *rowKernel
	plan *phasedPlan
}

// phasedPlan returns the phased-packing plan for g, or nil where it does not pay, from the
// filter's cache when it was made for g under the active row kernel.
func (f *Filter) phasedPlan(g Geometry) *phasedPlan {
	row := activeRow.Load()
	if c := f.phased.Load(); c != nil && c.g == g && c.row == row {
		return c.plan
	}
	var pp *phasedPlan
	if phasedPays(g) {
		pp = newPhasedPlan(g)
	}
	f.phased.Store(&cachedPhased{g: g, row: row, plan: pp})
	return pp
}

// cachedTables are the panel tables of one geometry, built under one row kernel.
type cachedTables struct {
	g      Geometry
	row    *rowKernel
	tables *PanelTables
}

// blockedWeights returns the filter laid out for forwardDepthwise16 (depthwise.go), made on
// first use.
func (f *Filter) blockedWeights(g Geometry) []float32 {
	if w := f.blocked.Load(); w != nil {
		return *w
	}
	w := blockedWeights(g, f.w)
	f.blocked.Store(&w)
	return w
}

// panelTables returns NewPanelTables(g), from the filter's cache when it was built for g
// under the active row kernel.
func (f *Filter) panelTables(g Geometry) *PanelTables {
	row := activeRow.Load()
	if c := f.tables.Load(); c != nil && c.g == g && c.row == row {
		return c.tables
	}
	t := NewPanelTables(g)
	f.tables.Store(&cachedTables{g: g, row: row, tables: t})
	return t
}

// filterShape is what a filter depends on; strides, dilations, pads and the input size do not
// matter to it.
type filterShape struct{ m, c, kh, kw, group int }

func shapeOf(g Geometry) filterShape { return filterShape{g.M, g.C, g.KH, g.KW, g.Group} }

// NewFilter prepares the filter w: [M, C/Group, KH, KW] for convolutions with the channels,
// group and kernel size of g; the other fields of g only inform the choice of algorithm, so the
// filter serves any input size. algo Auto chooses with Choose. With pack, the gemm-based
// algorithms pack w now (Winograd and Stem also keep im2col's packing, for the inputs they hand
// to it), which pays off when the filter is used more than once; without, w is used in place.
// Winograd and Stem always prepare their own forms of w (a transform, a reordering); Auto
// without pack does not choose Winograd. NewFilter does not copy w: it must not change while the
// Filter is in use. It panics if g fails CheckFilter, if w is too short or if algo does not
// support g: callers validate when they plan.
func NewFilter(g Geometry, w []float32, algo Algorithm, pack bool) *Filter {
	if err := g.CheckFilter(); err != nil {
		panic("conv.NewFilter: " + err.Error())
	}
	if len(w) < g.FilterLen() {
		panic(fmt.Sprintf("conv.NewFilter: filter has %d values, want %d", len(w), g.FilterLen()))
	}
	if algo == Auto {
		algo = Choose(g)
		if algo == Winograd && !pack {
			algo = Im2col
		}
	}
	if !algo.Supports(g) {
		panic(fmt.Sprintf("conv.NewFilter: algorithm %v does not support a %dx%d window with strides %dx%d and pads %v",
			algo, g.KH, g.KW, g.SH, g.SW, []int{g.PadTop, g.PadLeft, g.PadBottom, g.PadRight}))
	}
	f := &Filter{algo: algo, shape: shapeOf(g), w: w[:g.FilterLen()]}
	switch algo {
	case Winograd:
		f.wino = newWinoFilter(g.M, g.C, f.w)
	case Stem:
		f.stem = newStemFilter(g, f.w)
	}
	if pack && algo != Direct {
		mg, k := g.MG(), g.K()
		for gi := range g.Group {
			f.packed = append(f.packed, gemm.PackA(mg, k, f.w[gi*mg*k:], k, false))
		}
	}
	return f
}

// Algorithm returns the algorithm the filter was prepared for.
func (f *Filter) Algorithm() Algorithm { return f.algo }

// Fits reports whether the filter can compute convolutions of geometry g: same channels, group
// and kernel size, and an algorithm that supports g's strides and pads.
func (f *Filter) Fits(g Geometry) bool { return shapeOf(g) == f.shape && f.algo.Supports(g) }

// Forward computes y = act(conv(x, w) + bias) for batch images: x is [batch, C, H, W] and y is
// [batch, M, OutH, OutW], using up to threads goroutines. g must be a valid geometry (Validate)
// that the filter fits; y must not overlap x. It panics when these preconditions fail.
func (f *Filter) Forward(g Geometry, x, y []float32, batch int, ep *Epilogue, threads int) {
	f.check(g, x, y, batch, ep)
	if ep == nil {
		ep = &Epilogue{}
	}
	if !f.forward(g, x, y, batch, ep, threads) && ep.Tail != nil {
		applyTail(ep.Tail, y[:batch*g.OutputLen()], threads)
	}
}

// forward runs the algorithm for Forward and reports whether it applied ep.Tail itself.
func (f *Filter) forward(g Geometry, x, y []float32, batch int, ep *Epilogue, threads int) (tailDone bool) {
	if f.algo == Direct && planeDepthwise(g, ep) {
		forwardDepthwisePlanes(g, f.w, x, y, batch, ep, threads)
		return true
	}
	if f.algo == Direct && blockedDepthwise(g, ep) {
		forwardDepthwise16(g, f.blockedWeights(g), x, y, batch, ep, threads)
		return true
	}
	if (f.algo == Direct || f.algo == Im2col && groupedDirect(g)) && directFits(g) {
		if ep.Residual == nil {
			forwardDirect(g, f.w, x, y, batch, ep, threads)
			return false
		}
		// The direct kernels clamp as they store; the residual has to come in before that.
		forwardDirect(g, f.w, x, y, batch, &Epilogue{Bias: ep.Bias}, threads)
		addResidual(y[:batch*g.OutputLen()], ep, threads)
		return false
	}
	if f.algo == Stem && ep.Residual == nil {
		f.forwardStem(g, x, y, batch, ep, threads)
		return false
	}
	if f.algo == Winograd {
		if p := newWinoPlan(g, batch, threads); p.pays() {
			f.forwardWinograd(p, x, y, batch, ep, threads)
			return false
		}
	}
	f.forwardGemm(g, x, y, batch, ep, threads)
	return false
}

// applyTail applies tail to y in runs of tailRun values spread over the threads.
func applyTail(tail func([]float32), y []float32, threads int) {
	runs := (len(y) + tailRun - 1) / tailRun
	parallel.For(min(threads, runs), runs, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			tail(y[r*tailRun : min(len(y), (r+1)*tailRun)])
		}
	})
}

// tailRun is the length of the runs applyTail hands out: large enough to amortise a call,
// small enough to stay in L1 between the tail's passes.
const tailRun = 4096

func (f *Filter) check(g Geometry, x, y []float32, batch int, ep *Epilogue) {
	if err := g.Validate(); err != nil {
		panic("conv.Forward: " + err.Error())
	}
	if !f.Fits(g) {
		panic(fmt.Sprintf("conv.Forward: the %v filter %+v does not fit geometry %+v", f.algo, f.shape, g))
	}
	if len(x) < batch*g.InputLen() || len(y) < batch*g.OutputLen() {
		panic(fmt.Sprintf("conv.Forward: %d images need %d input and %d output values, have %d and %d",
			batch, batch*g.InputLen(), batch*g.OutputLen(), len(x), len(y)))
	}
	if ep != nil && ep.Bias != nil && len(ep.Bias) < g.M {
		panic(fmt.Sprintf("conv.Forward: bias has %d values, want %d", len(ep.Bias), g.M))
	}
	if ep != nil && ep.Residual != nil && (len(ep.Residual) < batch*g.OutputLen() || ep.Group != nil) {
		panic(fmt.Sprintf("conv.Forward: residual has %d values, want %d (and no group epilogue)", len(ep.Residual), batch*g.OutputLen()))
	}
}

// groupedDirect reports whether an im2col filter runs the grouped convolution g by the direct
// algorithm instead, decided per call since it depends on the image size: many groups of few
// channels on large planes, where each group's product would be a few rows (padded to a
// 16-row tile) over a patch matrix gathered anew per group. Measured at one thread (im2col vs
// direct): ResNeXt-50's 32 groups of 4 channels at 56×56, 2.18 vs 0.83 ms; of 8 at 28×28, 0.98
// vs 0.73 ms, and strided from 56×56, 1.33 vs 0.94 ms; RegNetY-400MF's 13 groups of 8 at
// 28×28, 0.38 vs 0.32 ms; but 6 groups of 8 at 28×28, 0.21 vs 0.24 ms, and ResNeXt's groups
// of 16 at 14×14, 0.59 vs 0.85 ms, stay with im2col.
func groupedDirect(g Geometry) bool {
	return g.Group >= 8 && !g.Depthwise() && g.CG() <= 8 && g.OutHW() >= 28*28
}

// directFits reports whether the direct algorithm's padded copy of one group's input stays
// reasonable next to the input and output themselves, and that its stride is one it handles.
// Padding far wider than the window (which only strides skip over) would blow the copy up;
// im2col needs no such copy and takes over.
func directFits(g Geometry) bool {
	pl := directPlanSize(g)
	return g.SW <= maxFillStride && pl <= 4*(g.CG()*g.H*g.W+g.OutHW())+1<<16
}

// forwardGemm runs one gemm per (image, group). Many small products run side by side on one
// thread each; otherwise the products run one after the other and gemm spreads each over the
// threads (for a single image, gemm's own split is the only parallelism there is).
func (f *Filter) forwardGemm(g Geometry, x, y []float32, batch int, ep *Epilogue, threads int) {
	items := batch * g.Group
	outer, inner := splitThreads(items, threads)
	inLen, outLen := g.InputLen(), g.OutputLen()
	cgLen, mg, k, ohw := g.CG()*g.H*g.W, g.MG(), g.K(), g.OutHW()
	// The panel tables serve the per-piece packers only, which a phased packer never reaches
	// through PackB's table path.
	var tables *PanelTables
	var phased *phasedPlan
	if f.algo != Pointwise {
		if phased = f.phasedPlan(g); phased == nil {
			tables = f.panelTables(g)
		}
	}
	parallel.ForEach(outer, items, func(_, it int) {
		n, gi := it/g.Group, it%g.Group
		xg := x[n*inLen+gi*cgLen : n*inLen+(gi+1)*cgLen]
		yg := y[n*outLen+gi*mg*ohw : n*outLen+(gi+1)*mg*ohw]
		var b gemm.BPacker
		var sampled []float32
		switch {
		case f.algo == Pointwise:
			b = gemm.Dense{Data: xg, Ld: ohw}
		case g.sampledPoint() && inner == 1:
			buf := getFloats(g.CG() * ohw)
			defer floatBuffers.Put(buf)
			sampled = *buf
			g.samplePoints(sampled, xg)
			b = gemm.Dense{Data: sampled, Ld: ohw}
		default:
			pp := NewPatchPacker(g, xg)
			pp.SetPanelTables(tables)
			if phased != nil {
				pp.setPhased(phased)
			}
			b = pp
		}
		gep := &gemm.Epilogue{Act: ep.Act, Min: ep.Min, Max: ep.Max}
		if ep.Residual != nil {
			gep.Residual, gep.LdRes = ep.Residual[n*outLen+gi*mg*ohw:n*outLen+(gi+1)*mg*ohw], ohw
		}
		if ep.Bias != nil {
			gep.RowBias = ep.Bias[gi*mg : (gi+1)*mg]
		}
		var fin GroupFinisher
		if ep.Group != nil {
			if se, ok := ep.Group.(SampledGroupEpilogue); ok && sampled != nil {
				fin = se.BeginSampled(n, gi, sampled, inner)
			} else {
				fin = ep.Group.Begin(n, gi, xg, inner)
			}
			*gep = gemm.Epilogue{Tile: fin.Finish}
		}
		if f.packed != nil {
			f.packed[gi].Mul(ohw, b, yg, ohw, gep, inner)
		} else {
			gemm.MulUnpacked(mg, ohw, k, f.w[gi*mg*k:(gi+1)*mg*k], k, false, b, yg, ohw, gep, inner)
		}
		if fin != nil {
			fin.End()
		}
	})
}

// splitThreads divides threads between independent items (outer) and the work inside each item
// (inner). Items are cheaper to parallelise than a single gemm (no repacking, no imbalance inside
// a product), so they get the threads when they split evenly or are plentiful.
func splitThreads(items, threads int) (outer, inner int) {
	if threads <= 1 {
		return 1, 1
	}
	if items >= 4*threads || items%threads == 0 {
		return threads, 1
	}
	return 1, threads
}

// addResidual sets y = act(y + ep.Residual), for the algorithms whose kernels cannot take the
// residual themselves.
func addResidual(y []float32, ep *Epilogue, threads int) {
	lo, hi := bounds(&Epilogue{Act: ep.Act, Min: ep.Min, Max: ep.Max})
	parallel.For(threads, len(y)/4096+1, func(b0, b1 int) {
		for i := b0 * 4096; i < min(len(y), b1*4096); i++ {
			y[i] = min(max(y[i]+ep.Residual[i], lo), hi)
		}
	})
}
