package gemm

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// problem is one multiply C = A·B (+ epilogue) as the driver sees it.
type problem struct {
	kern    *kernel
	m, n, k int
	a       aSource
	b       BPacker
	c       []float32
	ldc     int
	ep      Epilogue
	epFlags int // flags applied with the last kc block (everything but accumulation)
}

// run validates the epilogue, splits C into tasks and computes them on up to threads goroutines.
func (p *problem) run(ep *Epilogue, threads int) {
	if p.m <= 0 || p.n <= 0 {
		return
	}
	checkC(p.m, p.n, p.c, p.ldc)
	switch d := p.b.(type) {
	case Dense:
		d.check(p.k, p.n)
	case *Dense:
		d.check(p.k, p.n)
	}
	if ep != nil {
		p.ep = *ep
	}
	p.epFlags = p.ep.flags(p.m, p.n)
	if p.k <= 0 {
		p.epilogueOnly()
		return
	}
	if p.columnProduct(threads) {
		return
	}
	tm, tn, workers := p.split(threads)
	if tm*tn == 1 {
		p.task(0, p.m, 0, p.n)
		return
	}
	p.runTasks(tm, tn, workers)
}

// runTasks computes the tm x tn grid of tasks on workers goroutines. Row and column bands are
// whole panels, split as evenly as possible. (A separate function so that only parallel calls
// move the problem to the heap.)
func (p *problem) runTasks(tm, tn, workers int) {
	q := *p
	mPanels, nPanels := ceilDiv(q.m, q.kern.mr), ceilDiv(q.n, q.kern.nr)
	parallel.ForEach(workers, tm*tn, func(_, t int) {
		ti, tj := t/tn, t%tn
		i0, i1 := q.kern.mr*(mPanels*ti/tm), min(q.m, q.kern.mr*(mPanels*(ti+1)/tm))
		j0, j1 := q.kern.nr*(nPanels*tj/tn), min(q.n, q.kern.nr*(nPanels*(tj+1)/tn))
		if i0 < i1 && j0 < j1 {
			q.task(i0, i1, j0, j1)
		}
	})
}

// flags validates e against an m x n output and returns the tile flags of its final stage.
func (e *Epilogue) flags(m, n int) int {
	f := 0
	if e.RowBias != nil {
		if len(e.RowBias) < m {
			panic(fmt.Sprintf("gemm: epilogue RowBias has %d values, want %d", len(e.RowBias), m))
		}
		f |= flagRowBias
	}
	if e.ColBias != nil {
		if len(e.ColBias) < n {
			panic(fmt.Sprintf("gemm: epilogue ColBias has %d values, want %d", len(e.ColBias), n))
		}
		f |= flagColBias
	}
	if e.Residual != nil {
		checkMatrix("Residual", m, n, e.Residual, e.LdRes)
		f |= flagResidual
	}
	switch e.Act {
	case ActNone:
	case ActRelu:
		f |= flagRelu
	case ActClip:
		f |= flagClip
	default:
		panic(fmt.Sprintf("gemm: unknown epilogue activation %d", e.Act))
	}
	return f
}

// epilogueOnly handles k == 0, where the product is zero but the epilogue still applies.
func (p *problem) epilogueOnly() {
	zeros := make([]float32, p.n)
	var args microArgs
	p.setTileArgs(&args, 0, 0, p.epFlags)
	if p.ep.Accumulate {
		args.flags |= flagLoadC
	}
	finishTile(zeros, 0, &args, p.m, p.n)
	if p.ep.Tile != nil {
		p.ep.Tile(p.c, p.ldc, 0, 0, p.m, p.n)
	}
}

// Costs that steer the split into tasks, in units of one multiply-add of the micro-kernel.
const (
	// packCost is the price of packing one element: the AVX2 kernel retires 16 multiply-adds per
	// cycle while packing moves about two elements per cycle (measured on Zen 3).
	packCost = 8
	// streamCost is the price of reading one element of a pre-packed A into L2. Every task reads
	// its rows of A once per nc columns, so narrow column bands multiply the traffic.
	streamCost = 4
)

// splitSlack is the share of a task by which workers are assumed to drift apart. It was half a
// task, which made the split prefer four to eight tasks for two workers; but every extra task
// streams its rows of A or packs its columns of B again, and whole-panel bands balance poorly
// (289 columns: bands of 80, 80, 80 and 49). On resnet18's, resnet50's pointwise and
// Inception-v3's layers at 2 threads (22 layers, one run each, geometric mean): 0.5 → 403 and
// 397 µs, 0.25 → 395 and 348, 0.1 → 363 and 314, 0 → 350 and 307.
const splitSlack = 0.1

// minTaskWork keeps tasks large enough that starting a goroutine (about a microsecond) is noise:
// below this many multiply-adds per worker a product runs on fewer goroutines, down to the calling
// one alone. Tests lower it to exercise the split on small matrices.
var minTaskWork = 1 << 18

// split chooses how many row bands (tm) and column bands (tn) cut C into tasks, and how many
// workers run them. It minimises an estimate of the finishing time: each worker runs
// ceil(tasks/workers) tasks, plus splitSlack of a task because workers never run exactly in
// step, where a task costs its padded multiply-adds plus moving its operands: every task packs
// its columns of B and packs (or, if pre-packed, streams) its rows of A. So row bands repeat
// the work on B and column bands the work on A, and several tasks per worker are chosen only
// when the slack they save outweighs that.
func (p *problem) split(threads int) (tm, tn, workers int) {
	mr, nr := p.kern.mr, p.kern.nr
	mPanels, nPanels := ceilDiv(p.m, mr), ceilDiv(p.n, nr)
	work := mPanels * mr * nPanels * nr * p.k
	workers = min(threads, work/minTaskWork, mPanels*nPanels)
	if workers <= 1 {
		return 1, 1, 1
	}
	best := -1.0
	tm, tn = 1, 1
	for perWorker := 1; perWorker <= 8; perWorker *= 2 {
		tasks := workers * perWorker
		for rows := 1; rows <= min(tasks, mPanels); rows++ {
			cols := tasks / rows
			if rows*cols != tasks || cols > nPanels {
				continue
			}
			h, w := ceilDiv(mPanels, rows)*mr, ceilDiv(nPanels, cols)*nr
			task := float64(h*p.effectiveWidth(cols)*p.k) + p.bPackCost()*float64(w*p.k)
			if p.a.packed == nil {
				task += packCost * float64(h*p.k)
			} else {
				task += streamCost * float64(h*p.k)
			}
			cost := (float64(perWorker) + splitSlack) * task
			if best < 0 || cost < best {
				best, tm, tn = cost, rows, cols
			}
		}
	}
	return tm, tn, workers
}

// effectiveWidth is the number of columns the widest of cols column bands costs the kernels:
// its panels times nr, except that a band holding C's last panel pays a quarter of a panel
// for it when the narrow kernel computes it (at most narrowCols columns). Counting that panel
// whole made the split cut resnet18's 7×7 layers (three panels and one column) into column
// bands of 32 and 17 instead of balanced row bands.
func (p *problem) effectiveWidth(cols int) int {
	nr := p.kern.nr
	nPanels := ceilDiv(p.n, nr)
	per := ceilDiv(nPanels, cols)
	last := p.n - (nPanels-1)*nr
	if per == nPanels && last <= narrowCols && p.kern.narrow != nil {
		return (nPanels-1)*nr + nr/4
	}
	return per * nr
}

// bPackCost is the price of packing one element of B: packCost, or what B says it costs if it
// gathers its panels from elsewhere (an im2col packer costs several times a dense copy).
func (p *problem) bPackCost() float64 {
	if c, ok := p.b.(PackCoster); ok {
		return c.PackCost()
	}
	return packCost
}

// task computes the block C[i0:i1, j0:j1] (i0 a multiple of mr) completely, packing its own
// operands: columns in blocks of nc, the inner dimension in blocks of kc, rows in blocks of mc.
func (p *problem) task(i0, i1, j0, j1 int) {
	kn := p.kern
	ws := workspaces.Get().(*workspace)
	defer ws.release()
	ncMax := min(kn.nc, ceilDiv(j1-j0, kn.nr)*kn.nr)
	kc, mc := p.blockDepth(), blockRows(i1-i0, kn.mc, kn.mr)
	aBuf, bBuf := ws.buffers(mc*kc, ncMax*kc)
	if p.a.packed != nil {
		aBuf = nil
	}
	b := p.b
	if tp, ok := b.(TaskPacker); ok {
		var release func()
		b, release = tp.ForTask(j0, j1)
		defer release()
	}
	for jc := j0; jc < j1; jc += kn.nc {
		ncb := min(kn.nc, j1-jc)
		for pc := 0; pc < p.k; pc += kc {
			kcb := min(kc, p.k-pc)
			bp := bBuf[:ceilDiv(ncb, kn.nr)*kn.nr*kcb]
			b.PackB(bp, pc, kcb, jc, ncb, kn.nr)
			flags := p.epFlags
			if pc+kcb < p.k {
				flags = 0 // not the last kc block: the epilogue waits for the full sum
			}
			if pc > 0 || p.ep.Accumulate {
				flags |= flagLoadC
			}
			for ic := i0; ic < i1; ic += mc {
				mcb := min(mc, i1-ic)
				ap := p.a.block(kn.mr, ic, mcb, pc, kcb, aBuf)
				p.macro(ws, ap, bp, ic, mcb, jc, ncb, kcb, flags, pc+kcb >= p.k)
			}
		}
	}
}

// blockDepth is the depth of the kc-blocks: the one A was packed with, or the balanced one.
func (p *problem) blockDepth() int {
	if p.a.packed != nil {
		return p.a.packed.kc
	}
	return blockDepth(p.k, p.kern.kc)
}

// macro multiplies the packed mcb x kcb block ap by the packed kcb x ncb block bp into
// C[ic:ic+mcb, jc:jc+ncb]. Each B panel is reused against every A panel while it sits in L1.
// The kernel arguments live in the workspace: passed through a function value, a local struct
// would escape to the heap once per tile. With last (the final kc block), the Tile hook runs on
// each column panel of mcb rows as soon as the kernels have stored it: the panel is still in
// cache, and goroutines working on column bands of the same rows finish different panels at
// any moment rather than sweeping shared cache lines together (a block-at-a-time finish was
// three times slower at two threads than at one for that reason).
func (p *problem) macro(ws *workspace, ap, bp []float32, ic, mcb, jc, ncb, kcb, flags int, last bool) {
	for jr := 0; jr < ncb; {
		done := p.panels(ws, ap, bp, ic, mcb, jc, jr, ncb, kcb, flags)
		if last && p.ep.Tile != nil {
			p.ep.Tile(p.c[ic*p.ldc+jc+jr:], p.ldc, ic, jc+jr, mcb, done)
		}
		jr += done
	}
}

// panels computes the next one or two column panels of a macro block, the panels from column jr
// of bp (C's columns from jc+jr), and returns how many columns of C they covered.
func (p *problem) panels(ws *workspace, ap, bp []float32, ic, mcb, jc, jr, ncb, kcb, flags int) int {
	kn := p.kern
	mr, nr := kn.mr, kn.nr
	args, edge := &ws.args, &ws.edgeArgs
	tiles := ceilDiv(mcb, mr)
	lastRows := mcb - (tiles-1)*mr
	cols := ncb - jr
	if cols >= 2*nr && kn.wide != nil {
		p.setTileArgs(args, ic, jc+jr, flags)
		args.a, args.b, args.kc = ap[:tiles*mr*kcb], bp[jr*kcb:(jr+2*nr)*kcb], kcb
		args.tiles, args.lastRows = tiles, lastRows
		kn.wide(args)
		return 2 * nr
	}
	bPanel := bp[jr*kcb : (jr+nr)*kcb]
	if cols <= narrowCols && kn.narrow != nil {
		p.narrowPanel(ws, ap[:tiles*mr*kcb], bPanel, ic, mcb, jc+jr, cols, kcb, flags)
		return cols
	}
	micro, width := kn.micro, nr
	if cols <= nr/2 && kn.half != nil {
		micro, width = kn.half, nr/2
	}
	if cols >= width {
		p.setTileArgs(args, ic, jc+jr, flags)
		args.a, args.b, args.kc = ap[:tiles*mr*kcb], bPanel, kcb
		args.tiles, args.lastRows = tiles, lastRows
		micro(args)
		return min(cols, nr)
	}
	// Partial panel at the right edge of C: compute full tiles into scratch, then finish the
	// valid columns in Go.
	for ir := 0; ir < mcb; ir += mr {
		*edge = microArgs{a: ap[ir*kcb : (ir+mr)*kcb], b: bPanel, kc: kcb, tiles: 1, lastRows: mr,
			c: ws.edge[:mr*nr], ldc: nr}
		micro(edge)
		p.setTileArgs(args, ic+ir, jc+jr, flags)
		finishTile(ws.edge[:], nr, args, min(mr, mcb-ir), cols)
	}
	return cols
}

// narrowPanel computes C[ic:ic+mcb, j:j+cols] (cols <= narrowCols, the last panel of C) with
// the narrow kernel and finishes it tile by tile.
func (p *problem) narrowPanel(ws *workspace, ap, bPanel []float32, ic, mcb, j, cols, kcb, flags int) {
	mr := p.kern.mr
	tiles := ceilDiv(mcb, mr)
	if n := tiles * narrowCols * mr; cap(ws.columns) < n {
		ws.columns = alignedFloats(n)
	}
	ws.narrow = narrowArgs{a: ap, b: bPanel, out: ws.columns[:tiles*narrowCols*mr], kc: kcb, tiles: tiles}
	p.kern.narrow(&ws.narrow)
	args := &ws.args
	for t := range tiles {
		rows := min(mr, mcb-t*mr)
		out := ws.columns[t*narrowCols*mr:]
		for r := range rows {
			for jj := range cols {
				ws.edge[r*narrowCols+jj] = out[jj*mr+r]
			}
		}
		p.setTileArgs(args, ic+t*mr, j, flags)
		finishTile(ws.edge[:], narrowCols, args, rows, cols)
	}
}

// maxTile bounds mr*nr over all kernels (room for a future 14x32 AVX-512 tile).
const maxTile = 512

// setTileArgs fills the C and epilogue fields of the micro-kernel arguments for the tile at (i, j).
func (p *problem) setTileArgs(args *microArgs, i, j, flags int) {
	args.c, args.ldc, args.flags = p.c[i*p.ldc+j:], p.ldc, flags
	args.min, args.max = p.ep.Min, p.ep.Max
	if flags&flagRowBias != 0 {
		args.rowBias = p.ep.RowBias[i:]
	}
	if flags&flagColBias != 0 {
		args.colBias = p.ep.ColBias[j:]
	}
	if flags&flagResidual != 0 {
		args.res, args.ldRes = p.ep.Residual[i*p.ep.LdRes+j:], p.ep.LdRes
	}
}
