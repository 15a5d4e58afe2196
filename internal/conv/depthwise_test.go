package conv

import (
	"fmt"
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
