package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dcnet-go/dcnet/internal/conv"
)

// BenchmarkConvBackward measures the Conv backward (dX and dW) of the CNN9
// layers at batch 256 in GFLOP/s (4·M·K·OH·OW per image: two products the
// size of the forward's), per wall-second and per CPU-second, next to the
// forward convolution of the same layer.
func BenchmarkConvBackward(b *testing.B) {
	layers := []struct {
		name string
		g    conv.Geometry
	}{
		{"32to32_28", convBenchLayer(32, 28, 32)},
		{"32to64_14", convBenchLayer(32, 14, 64)},
		{"64to64_14", convBenchLayer(64, 14, 64)},
		{"64to128_7", convBenchLayer(64, 7, 128)},
		{"128to128_7", convBenchLayer(128, 7, 128)},
	}
	const batch = 256
	for _, l := range layers {
		for _, threads := range []int{1, 2} {
			g := l.g
			rng := rand.New(rand.NewPCG(1, 2))
			x, w := convBenchData(rng, batch*g.InputLen()), convBenchData(rng, g.FilterLen())
			dy := convBenchData(rng, batch*g.OutputLen())
			rc := &RunContext{threads: threads, limit: DefaultMaxElements, alloc: newAllocator()}
			dx, dw := rc.New(Float32, batch, g.C, g.H, g.W), rc.New(Float32, g.M, g.C, g.KH, g.KW)
			flops := float64(batch) * float64(g.FLOPs())
			b.Run(fmt.Sprintf("%s/backward/threads=%d", l.name, threads), func(b *testing.B) {
				convBenchLoop(b, 2*flops, func() {
					cb := &convBackward{g: g, batch: batch, x: x, w: w, dx: dx.Float32s(), dy: dy}
					cb.run(rc, dw, nil)
					rc.releaseScratch()
				})
			})
			b.Run(fmt.Sprintf("%s/forward/threads=%d", l.name, threads), func(b *testing.B) {
				y := make([]float32, batch*g.OutputLen())
				convBenchLoop(b, flops, func() {
					conv.NewFilter(g, w, conv.Auto, false).Forward(g, x, y, batch, nil, threads)
				})
			})
		}
	}
}

func convBenchLayer(c, hw, m int) conv.Geometry {
	return conv.Geometry{C: c, H: hw, W: hw, M: m, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1,
		PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 1}
}

func convBenchData(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// convBenchLoop runs fn b.N times and reports GFLOP/s and GFLOP/cpu-s.
func convBenchLoop(b *testing.B, flops float64, fn func()) {
	fn()
	b.ResetTimer()
	cpu0, t0 := trainCPUSeconds(), time.Now()
	for range b.N {
		fn()
	}
	wall, cpu := time.Since(t0).Seconds(), trainCPUSeconds()-cpu0
	b.ReportMetric(flops*float64(b.N)/wall/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flops*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
	}
}
