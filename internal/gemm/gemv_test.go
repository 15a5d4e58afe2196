package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// panelsOf lays B: [K, N] (row-major) out as column panels of width nr, zero past N.
func panelsOf(b []float32, k, n, nr int) []float32 {
	count := (n + nr - 1) / nr
	p := make([]float32, count*k*nr)
	for kk := range k {
		for j := range n {
			p[(j/nr)*k*nr+kk*nr+j%nr] = b[kk*n+j]
		}
	}
	return p
}

// TestMulVecPanels compares the matrix-vector product on panels with float64 sums, for every
// kernel, panel counts around the four-panel groups, partial last panels, k = 0 and 1, the
// portable path of other panel widths, and several thread counts.
func TestMulVecPanels(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	forEachKernel(func(kn *kernel) {
		for _, c := range []struct{ k, n, nr int }{
			{0, 5, 16}, {1, 1, 16}, {3, 16, 16}, {7, 17, 16}, {64, 64, 16}, {33, 79, 16}, {130, 100, 16},
			{1024, 1000, 16}, {512, 10, 16}, {9, 23, 4}, {300, 257, 16},
		} {
			x := make([]float32, c.k)
			b := make([]float32, c.k*c.n)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			p := panelsOf(b, c.k, c.n, c.nr)
			for _, threads := range []int{1, 2, 3} {
				name := fmt.Sprintf("%s k=%d n=%d nr=%d threads=%d", kn.name, c.k, c.n, c.nr, threads)
				y := make([]float32, c.n+3)
				y[c.n], y[c.n+1], y[c.n+2] = 7, 7, 7
				MulVecPanels(y[:c.n], x, p, c.k, c.n, c.nr, threads)
				for j := range c.n {
					want, scale := 0.0, 0.0
					for kk := range c.k {
						want += float64(x[kk]) * float64(b[kk*c.n+j])
						scale += math.Abs(float64(x[kk]) * float64(b[kk*c.n+j]))
					}
					if math.Abs(float64(y[j])-want) > 1e-6*scale+1e-30 {
						t.Fatalf("%s: y[%d] = %v, want %v", name, j, y[j], want)
					}
				}
				if y[c.n] != 7 || y[c.n+1] != 7 || y[c.n+2] != 7 {
					t.Fatalf("%s: wrote past y[:n]", name)
				}
			}
		}
	})
}

// TestColumnProductMatchesTiles checks the one-column path (columnProduct) against the tiled
// driver bit for bit: column 0 of a two-column product (which the narrow or micro kernel
// computes) must equal the one-column product of the same column, with every epilogue feature,
// several kc blocks, and the matrix-vector split over two and three workers.
func TestColumnProductMatchesTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	forEachKernel(func(kn *kernel) {
		for _, shape := range [][2]int{{1, 1}, {15, 7}, {16, 40}, {33, kn.kc + 1}, {144, 576}, {300, 2*kn.kc + 5}} {
			m, k := shape[0], shape[1]
			for _, threads := range []int{1, 2, 3} {
				a, b2 := randSlice(rng, m*k), randSlice(rng, k*2)
				b1 := make([]float32, k)
				for kk := range k {
					b1[kk] = b2[kk*2]
				}
				bias, res2, old2 := randSlice(rng, m), randSlice(rng, m*2), randSlice(rng, m*2)
				res1, old1 := make([]float32, m), make([]float32, m)
				for i := range m {
					res1[i], old1[i] = res2[i*2], old2[i*2]
				}
				pa := PackA(m, k, a, k, false)
				var tiles atomic.Int64
				ep := func(res []float32, ld int) *Epilogue {
					return &Epilogue{Accumulate: true, RowBias: bias, Residual: res, LdRes: ld, Act: ActClip, Min: -1, Max: 1.5,
						Tile: func(c []float32, ldc, i0, j0, rows, cols int) { tiles.Add(int64(rows * cols)) }}
				}
				pa.Mul(2, Dense{Data: b2, Ld: 2}, old2, 2, ep(res2, 2), 1)
				tiles.Store(0)
				pa.Mul(1, Dense{Data: b1, Ld: 1}, old1, 1, ep(res1, 1), threads)
				if n := tiles.Load(); n != int64(m) {
					t.Fatalf("%s m=%d k=%d threads=%d: Tile saw %d values, want %d", kn.name, m, k, threads, n, m)
				}
				for i := range m {
					if math.Float32bits(old1[i]) != math.Float32bits(old2[i*2]) {
						t.Fatalf("%s m=%d k=%d threads=%d: C[%d] = %v, want %v (bit for bit)", kn.name, m, k, threads, i, old1[i], old2[i*2])
					}
				}
			}
		}
	})
}
