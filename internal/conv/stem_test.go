package conv

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dcnet-go/dcnet/internal/gemm"
)

// TestStemForward runs the stem algorithm on every row kernel against the float64 definition,
// for each pixel step its kernels have (strides 1, 2 and 4), with dilations, asymmetric pads,
// partial tiles of pixels and of channels, every activation and 1 to 3 images and threads.
func TestStemForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	acts := []gemm.Activation{gemm.ActNone, gemm.ActRelu, gemm.ActClip}
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		for iter := range 90 {
			g := Geometry{C: 1 + rng.IntN(4), M: 1 + rng.IntN(40), KH: 1 + rng.IntN(7), KW: 1 + rng.IntN(7),
				SH: 1 + rng.IntN(3), SW: []int{1, 2, 4}[iter%3], DH: 1 + rng.IntN(2), DW: 1 + rng.IntN(2), Group: 1,
				H: 1 + rng.IntN(30), W: 1 + rng.IntN(70)}
			g.PadTop, g.PadBottom, g.PadLeft, g.PadRight = rng.IntN(g.KH), rng.IntN(g.KH), rng.IntN(g.KW), rng.IntN(g.KW)
			if g.Validate() != nil {
				continue
			}
			p := newConvProblem(rng, g, 1+rng.IntN(3), rng.IntN(3) > 0, acts[rng.IntN(3)])
			threads := 1 + rng.IntN(3)
			y := p.runForward(t, Stem, rng.IntN(2) == 0, threads)
			p.check(t, y, fmt.Sprintf("row kernel %s, threads=%d batch=%d %+v act=%v", rk, threads, p.batch, g, p.ep.Act))
		}
		restore()
	}
}

// TestStemResidualFallsBack checks that a residual epilogue, which the stem kernels do not
// take, still gives the right sums (through im2col).
func TestStemResidualFallsBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	g := square(3, 20, 24, 3, 2, 1, 1)
	p := newConvProblem(rng, g, 2, true, gemm.ActRelu)
	p.ep.Residual = randFloats(rng, p.batch*g.OutputLen())
	p.check(t, p.runForward(t, Stem, true, 2), "stem with a residual")
}
