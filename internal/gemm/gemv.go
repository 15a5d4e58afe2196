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
