package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
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
