package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcnet-go/dcnet/internal/gemm"
)

// TestBlockedDepthwise runs depthwise layers with whole and partial blocks of 16 channels,
// planes narrower and wider than 16 pixels, strides, dilations and uneven pads through the
// channel-blocked path, with its assembly and its portable kernels, against the reference.
func TestBlockedDepthwise(t *testing.T) {
	if !activeRow.Load().blocked {
		t.Skip("the active row kernel has no blocked depthwise kernels")
	}
	rng := rand.New(rand.NewPCG(81, 82))
	acts := []gemm.Activation{gemm.ActNone, gemm.ActRelu, gemm.ActClip}
	for iter := range 60 {
		c := []int{16, 21, 32, 40, 7}[iter%5]
		k := []int{3, 5, 7, 1}[rng.IntN(4)]
		g := Geometry{C: c, M: c, Group: c, H: 1 + rng.IntN(40), W: 1 + rng.IntN(40), KH: k, KW: k,
			SH: 1 + rng.IntN(2), SW: 1 + rng.IntN(2), DH: 1 + rng.IntN(2), DW: 1,
			PadTop: rng.IntN(k), PadLeft: rng.IntN(k), PadBottom: rng.IntN(k), PadRight: rng.IntN(k)}
		if g.Validate() != nil {
			continue
		}
		p := newConvProblem(rng, g, 1+rng.IntN(2), rng.IntN(3) > 0, acts[rng.IntN(3)])
		if !blockedDepthwise(g, &p.ep) {
			t.Fatalf("%+v: not taken by the blocked path", g)
		}
		for _, portable := range []bool{false, true} {
			blockedPortable = portable
			// Whole planes in one strip, and strips of a random height (the last one shorter).
			for _, strip := range []int{0, 1 + rng.IntN(g.OutH())} {
				depthwiseStripRows = strip
				threads := 1 + iter%3
				y := p.runForward(t, Direct, false, threads)
				p.check(t, y, fmt.Sprintf("blocked depthwise portable=%v strip=%d threads=%d batch=%d %+v act=%v",
					portable, strip, threads, p.batch, g, p.ep.Act))
			}
		}
		blockedPortable, depthwiseStripRows = false, 0
	}
}

// TestDepthwisePlanes runs 3×3 and 5×5 depthwise convolutions of stride 2 and 3×3 ones of
// stride 1 padded by half the kernel at the top and left, the shapes the plane kernels take, on
// planes from 1×1 to 70 columns (64 to 103 at stride 1) (every block tail, odd and even widths, the other pads 0 to 3) and up to 80
// rows, with bias, ReLU or clipping, on 1 to 3 threads (whole planes or bands of rows per
// thread), against the float64 reference; and the kernels alone on bands of rows against
// dwPlaneGeneric, NaN inputs and clipping included.
func TestDepthwisePlanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for iter := range 120 {
		c, k, s := 1+rng.IntN(20), 3+2*(iter%2), 1+iter/2%2
		w := 1 + rng.IntN(70)
		if s == 1 {
			k, w = 3, planeMinWidth+1+rng.IntN(40)
		}
		g := Geometry{C: c, M: c, Group: c, H: 1 + rng.IntN(80), W: w, KH: k, KW: k, SH: s, SW: s,
			DH: 1, DW: 1, PadTop: k / 2, PadLeft: k / 2, PadBottom: rng.IntN(4), PadRight: rng.IntN(4)}
		if g.Validate() != nil {
			continue
		}
		acts := []gemm.Activation{gemm.ActNone, gemm.ActRelu, gemm.ActClip}
		p := newConvProblem(rng, g, 1+rng.IntN(2), rng.IntN(2) == 0, acts[rng.IntN(3)])
		if !planeDepthwise(g, &p.ep) && activeRow.Load().dwPlanes {
			t.Fatalf("%+v: not taken by a plane kernel", g)
		}
		threads := 1 + iter/4%3
		y := p.runForward(t, Direct, false, threads)
		p.check(t, y, fmt.Sprintf("%+v threads=%d", g, threads))
	}
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		for iter := range 240 {
			k, s := 3+2*(iter%2), 1+iter/2%2
			if s == 1 {
				k = 3 // the unit-stride kernel is 3×3 only
			}
			h, w := 1+rng.IntN(20), 1+rng.IntN(70)
			oh, ow := (h-1)/s+1+rng.IntN(3), (w-1)/s+1+rng.IntN(3)
			planes := 1 + rng.IntN(4)
			row0 := rng.IntN(oh)
			rows := 1 + rng.IntN(oh-row0)
			yPlane := rows*ow + rng.IntN(5)
			a := dwPlaneArgs{x: randFloats(rng, planes*h*w), zero: make([]float32, w), w: randFloats(rng, k*k*planes),
				bias: randFloats(rng, planes), k: k, stride: s, planes: planes, inH: h, inW: w, row0: row0, outH: rows, outW: ow, yPlane: yPlane,
				lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
			if iter%3 == 0 {
				a.x[rng.IntN(len(a.x))] = float32(math.NaN())
				a.lo, a.hi = -0.5, 0.5
			}
			n := (planes-1)*yPlane + rows*ow
			want := make([]float32, n)
			for i := range want {
				want[i] = 42 // the gaps between planes stay
			}
			a.y = want
			dwPlaneGeneric(&a)
			got := make([]float32, n+16)
			for i := range got {
				got[i] = 42
			}
			a.y = got[:n]
			runDwPlane(&a)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
					t.Fatalf("row kernel %s, k=%d, stride %d, %d planes of %d×%d → rows %d+%d of %d×%d: output %d = %v, want %v", rk, k, s, planes, h, w, row0, rows, oh, ow, i, got[i], want[i])
				}
			}
			for i := n; i < len(got); i++ {
				if got[i] != 42 {
					t.Fatalf("row kernel %s: wrote past the output", rk)
				}
			}
		}
		restore()
	}
}
