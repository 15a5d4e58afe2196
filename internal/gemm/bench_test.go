package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the products that matter for the runtime: a big square, and the GEMMs of typical
// CNN convolutions (m = output channels, n = output pixels, k = input channels x kernel area).
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"square2048", 2048, 2048, 2048},
	{"conv1_64x12544x147", 64, 112 * 112, 147},
	{"conv3x3_64x3136x576", 64, 56 * 56, 576},
	{"conv3x3_128x784x1152", 128, 28 * 28, 1152},
	{"conv3x3_32x784x288", 32, 28 * 28, 288},
	{"conv3x3_512x49x4608", 512, 49, 4608},
	{"fc_1000x1x512", 1000, 1, 512},
}

// BenchmarkMul measures PackedA.Mul (weights packed once, B packed on the fly, the convolution
// path) for every kernel, shape and 1 or 2 threads, and reports GFLOP/s.
func BenchmarkMul(b *testing.B) {
	forEachKernel(func(kn *kernel) {
		for _, s := range benchShapes {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%s/%s/t%d", kn.name, s.name, threads)
				b.Run(name, func(b *testing.B) {
					a, bm, c := benchOperands(s.m, s.n, s.k)
					pa := PackA(s.m, s.k, a, s.k, false)
					ep := &Epilogue{RowBias: make([]float32, s.m), Act: ActRelu}
					cpu0 := cpuSeconds()
					for b.Loop() {
						pa.Mul(s.n, Dense{Data: bm, Ld: s.n}, c, s.n, ep, threads)
					}
					reportGFLOPs(b, cpu0, s.m, s.n, s.k)
				})
			}
		}
	})
}

// BenchmarkSgemm measures the BLAS-style call (A packed on the fly) on the big square.
func BenchmarkSgemm(b *testing.B) {
	forEachKernel(func(kn *kernel) {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/square2048/t%d", kn.name, threads), func(b *testing.B) {
				const n = 2048
				a, bm, c := benchOperands(n, n, n)
				cpu0 := cpuSeconds()
				for b.Loop() {
					Sgemm(false, false, n, n, n, 1, a, n, bm, n, 0, c, n, threads)
				}
				reportGFLOPs(b, cpu0, n, n, n)
			})
		}
	})
}

func benchOperands(m, n, k int) (a, b, c []float32) {
	rng := rand.New(rand.NewPCG(1, 1))
	return randSlice(rng, m*k), randSlice(rng, k*n), make([]float32, m*n)
}

// reportGFLOPs reports the rate against the wall clock (GFLOP/s) and against the CPU time that the
// process got (GFLOP/cpu-s, the rate per busy core), which is steadier when other processes share
// the machine: with t threads and t idle cores the two relate as GFLOP/s = t x GFLOP/cpu-s.
func reportGFLOPs(b *testing.B, cpu0 float64, m, n, k int) {
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkMicroKernel measures one micro-kernel call on operands in L1: the ceiling that the
// driver approaches.
func BenchmarkMicroKernel(b *testing.B) {
	forEachKernel(func(kn *kernel) {
		b.Run(kn.name, func(b *testing.B) {
			kc := 256
			a := alignedFloats(kc * kn.mr)
			bb := alignedFloats(kc * kn.nr)
			c := alignedFloats(kn.mr * kn.nr)
			args := microArgs{a: a, b: bb, c: c, ldc: kn.nr, kc: kc, tiles: 1, lastRows: kn.mr}
			cpu0 := cpuSeconds()
			for b.Loop() {
				kn.micro(&args)
			}
			reportGFLOPs(b, cpu0, kn.mr, kn.nr, kc)
		})
		if kn.wide == nil {
			return
		}
		b.Run(kn.name+"/wide", func(b *testing.B) {
			kc, tiles := 256, 12
			a := alignedFloats(tiles * kc * kn.mr)
			bb := alignedFloats(kc * 2 * kn.nr)
			c := alignedFloats(tiles * kn.mr * 2 * kn.nr)
			args := microArgs{a: a, b: bb, c: c, ldc: 2 * kn.nr, kc: kc, tiles: tiles, lastRows: kn.mr}
			cpu0 := cpuSeconds()
			for b.Loop() {
				kn.wide(&args)
			}
			reportGFLOPs(b, cpu0, tiles*kn.mr, 2*kn.nr, kc)
		})
	})
}
