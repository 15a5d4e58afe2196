package gemm

import "github.com/dcnet-go/dcnet/internal/parallel"

// Matrix-vector products against weights kept as column panels. A product with one row of A
// (a fully-connected layer at batch 1) does one multiply-add per weight it reads, so it is
// bound by streaming the weights; the tiled driver would first copy each panel into its
// packing buffer and then run mr-row tiles of which one row is real. MulVecPanels reads the
// panels in place instead, a vector of one panel row per multiply-add.

// gemvArgs is the contract of the panel matrix-vector kernels (field offsets via go_asm.h):
// for q < panels and j < 16,
//
//	y[q·16 + j] = Σ_{kk < k} x[kk] · p[(q·k + kk)·16 + j]
//
// summed in order of kk (the assembly kernels fuse each multiply-add).
type gemvArgs struct {
	x, p, y   []float32
	k, panels int
}

// gemvGeneric is the portable panel kernel; see gemvArgs.
func gemvGeneric(a *gemvArgs) {
	for q := range a.panels {
		var acc [16]float32
		panel := a.p[q*a.k*16 : (q+1)*a.k*16]
		for kk, xv := range a.x[:a.k] {
			row := panel[kk*16 : kk*16+16]
			for j := range acc {
				acc[j] += xv * row[j]
			}
		}
		copy(a.y[q*16:q*16+16], acc[:])
	}
}

// gemvMinWork is the number of weights below which MulVecPanels stays on one goroutine.
const gemvMinWork = 1 << 16

// MulVecPanels sets y[j] = Σ_kk x[kk]·B[kk][j] for j < n, where B: [K, N] is stored as column
// panels of width nr over the whole K: panel q holds, for each kk, B[kk][q·nr : q·nr+nr] (zero
// past N), panels one after another. It uses up to threads goroutines, splitting the panels.
// The kernels handle nr = 16; other widths take the portable loop.
func MulVecPanels(y, x, panels []float32, k, n, nr, threads int) {
	if n <= 0 {
		return
	}
	count := (n + nr - 1) / nr
	if len(x) < k || len(panels) < count*k*nr || len(y) < n {
		panic("gemm.MulVecPanels: slice too short")
	}
	if nr != 16 {
		mulVecAny(y, x, panels, k, n, nr)
		return
	}
	workers := min(threads, k*n/gemvMinWork, count)
	parallel.For(max(workers, 1), count, func(q0, q1 int) {
		full := q1
		if q1 == count && n%16 != 0 {
			full = count - 1 // the last panel is partial: through a local buffer
		}
		if full > q0 {
			runGemv(&gemvArgs{x: x[:k], p: panels[q0*k*16 : full*k*16], y: y[q0*16 : full*16], k: k, panels: full - q0})
		}
		if full < q1 {
			var last [16]float32
			runGemv(&gemvArgs{x: x[:k], p: panels[full*k*16 : q1*k*16], y: last[:], k: k, panels: 1})
			copy(y[full*16:n], last[:])
		}
	})
}

// mulVecAny is MulVecPanels for any panel width, in Go.
func mulVecAny(y, x, panels []float32, k, n, nr int) {
	for j := range n {
		panel := panels[(j/nr)*k*nr+j%nr:]
		var s float32
		for kk := range k {
			s += x[kk] * panel[kk*nr]
		}
		y[j] = s
	}
}

// runGemv runs the active kernel's panel matrix-vector kernel, or the portable one.
func runGemv(a *gemvArgs) {
	if k := activeKernel(); k.gemv != nil {
		k.gemv(a)
		return
	}
	gemvGeneric(a)
}

// columnProduct computes a product of one column (n = 1) with a pre-packed A of 16-row panels
// and a Dense B, as in the squeeze-and-excite blocks' 1×1 convolutions of 1×1 images, by the
// panel matrix-vector kernel, and reports whether it did. The tiled driver would pack the column
// into a 16-wide panel of zeros, run the narrow kernel with one of its four columns real (one
// chain of multiply-adds per tile where the matrix-vector kernel keeps four going) and finish
// each tile of each kc block separately; here each kc block is one call over all its panels,
// finished in one pass. The sums, their order and the epilogue are the driver's: per kc block
// from zero in kk order, each block added to C as finishTile does, the epilogue with the last.
func (p *problem) columnProduct(threads int) bool {
	pa := p.a.packed
	if p.n != 1 || pa == nil || p.kern.mr != 16 || p.kern.gemv == nil {
		return false
	}
	var d Dense
	switch b := p.b.(type) {
	case Dense:
		d = b
	case *Dense:
		d = *b
	default:
		return false
	}
	ws := workspaces.Get().(*workspace)
	defer ws.release()
	x, _ := ws.buffers(p.k, 0)
	for kk := range x {
		if d.Trans {
			x[kk] = d.Data[kk] // B[kk][0] = Data[0·Ld + kk]
		} else {
			x[kk] = d.Data[kk*d.Ld]
		}
	}
	tiles := ceilDiv(p.m, 16)
	workers := max(1, min(threads, p.m*p.k/gemvMinWork, tiles))
	if workers == 1 {
		p.columnTiles(x, 0, tiles)
		return true
	}
	parallel.For(workers, tiles, func(t0, t1 int) { p.columnTiles(x, t0, t1) })
	return true
}

// columnTiles computes rows [16·t0, 16·t1) of a columnProduct.
func (p *problem) columnTiles(x []float32, t0, t1 int) {
	pa := p.a.packed
	ws := workspaces.Get().(*workspace)
	defer ws.release()
	_, sums := ws.buffers(0, 16*(t1-t0))
	i0, rows := 16*t0, min(p.m, 16*t1)-16*t0
	args := &ws.args
	for pc := 0; pc < p.k; pc += pa.kc {
		kcb := min(pa.kc, p.k-pc)
		ws.gemv = gemvArgs{x: x[pc : pc+kcb], p: p.a.block(16, i0, rows, pc, kcb, nil), y: sums, k: kcb, panels: t1 - t0}
		runGemv(&ws.gemv)
		flags := p.epFlags
		if pc+kcb < p.k {
			flags = 0
		}
		if pc > 0 || p.ep.Accumulate {
			flags |= flagLoadC
		}
		p.setTileArgs(args, i0, 0, flags)
		finishColumn(sums, args, rows)
	}
	if p.ep.Tile != nil {
		p.ep.Tile(p.c[i0*p.ldc:], p.ldc, i0, 0, rows, 1)
	}
}

// finishColumn is finishTile(acc, 1, a, rows, 1), one column, the same operations in the same
// order per value, with the tests of the flags out of the loop.
func finishColumn(acc []float32, a *microArgs, rows int) {
	f := a.flags
	acc = acc[:rows]
	if f&flagLoadC != 0 {
		for r, v := range acc {
			acc[r] = v + a.c[r*a.ldc]
		}
	}
	if f&flagRowBias != 0 {
		for r, b := range a.rowBias[:rows] {
			acc[r] += b
		}
	}
	if f&flagColBias != 0 {
		b := a.colBias[0]
		for r := range acc {
			acc[r] += b
		}
	}
	if f&flagResidual != 0 {
		for r := range acc {
			acc[r] += a.res[r*a.ldRes]
		}
	}
	if f&(flagRelu|flagClip) != 0 {
		for r, v := range acc {
			acc[r] = activate(v, f, a.min, a.max)
		}
	}
	for r, v := range acc {
		a.c[r*a.ldc] = v
	}
}
