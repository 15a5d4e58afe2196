package decop

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dcnet-go/dcnet/internal/conv"
)

// Benchmarks of the backward pass against the forward pass of the same layer (through a
// runtime.Session, as bench_test.go measures it):
//
//	go test ./decop -run '^$' -bench Backward -benchtime 5x
//	go test ./decop -run TestReportBackwardRatios -decop.gradreport -v   (interleaved medians)

var gradReport = flag.Bool("decop.gradreport", false, "TestReportBackwardRatios: measure and print backward/forward time ratios")

// gradBenchLayers are the layers of the backward benchmarks: a CNN9 stage-1 layer at a training
// batch and ResNet-18's first-stage layer at batch 1.
var gradBenchLayers = []benchLayer{
	{"cnn9 32→32 28² b64", squareLayer(32, 28, 32, 3, 1, 1), 64},
	{"r18 3×3 64→64 56² b1", squareLayer(64, 56, 64, 3, 1, 1), 1},
}

// gradBenchOps are the configurations measured: the default tanh:cos, and the costliest
// elementwise stage, tanh:sigmoid weighted.
var gradBenchOps = []benchOp{{mag: Tanh, ang: Cos}, {mag: Tanh, ang: Sigmoid, weighted: true}}

// gradBenchProblem draws the layer's data as benchSession does (filters scaled by 0.1,
// per-channel α, ρ, β around the typical norms) and a random ∂L/∂Y. With sums, the inputs
// carry the convolution sums, as a forward pass that kept them would give them.
func gradBenchProblem(l benchLayer, op benchOp, sums bool) (Config, Inputs, []float32) {
	rng := rand.New(rand.NewPCG(uint64(l.g.C), uint64(l.g.M)))
	p := &problem{n: l.batch, g: l.g, mag: op.mag, ang: op.ang, weighted: op.weighted, k: f32(DefaultK), eps: f32(DefaultEps)}
	p.x = randomValues(rng, l.batch*l.g.InputLen(), 1)
	p.w = randomValues(rng, l.g.FilterLen(), 0.1)
	p.setRandomParams(rng, paramsPerChannel)
	in := p.inputs()
	if sums {
		in.Sums = make([]float32, l.batch*l.g.OutputLen())
		conv.NewFilter(l.g, in.W, conv.Auto, true).Forward(l.g, in.X, in.Sums, l.batch, nil, 2)
	}
	return p.config(), in, float32s(randomValues(rng, l.batch*l.g.OutputLen(), 1))
}

// timeBackward runs Backward once and returns the wall time and the process's CPU time.
func timeBackward(tb testing.TB, cfg Config, in Inputs, dy []float32, batch int, out *Grads, threads int) (time.Duration, float64) {
	cpu0 := cpuSeconds()
	start := time.Now()
	if err := Backward(cfg, in, dy, batch, out, threads); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start), cpuSeconds() - cpu0
}

// BenchmarkBackward times the forward pass and then Backward of each layer and configuration,
// recomputing the convolution sums and given them, reporting GFLOP/s (of the backward's three
// or two products, each the cost of the forward convolution) and the ratio of the backward's
// time to the forward's measured just before.
func BenchmarkBackward(b *testing.B) {
	for _, l := range gradBenchLayers {
		for _, op := range gradBenchOps {
			for _, threads := range []int{1, 2} {
				var fwd float64
				b.Run(fmt.Sprintf("%s/%v/t%d/forward", l.name, op, threads), func(b *testing.B) {
					s, feeds := benchSession(b, l, op, threads)
					timeRun(b, s, feeds)
					b.ResetTimer()
					for b.Loop() {
						timeRun(b, s, feeds)
					}
					fwd = b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(l.g.FLOPs())*float64(l.batch)/fwd/1e9, "GFLOP/s")
				})
				for _, sums := range []bool{false, true} {
					name, products := "backward", 3.0
					if sums {
						name, products = "backward-sums-given", 2
					}
					b.Run(fmt.Sprintf("%s/%v/t%d/%s", l.name, op, threads, name), func(b *testing.B) {
						cfg, in, dy := gradBenchProblem(l, op, sums)
						var out Grads
						timeBackward(b, cfg, in, dy, l.batch, &out, threads)
						b.ResetTimer()
						for b.Loop() {
							timeBackward(b, cfg, in, dy, l.batch, &out, threads)
						}
						perOp := b.Elapsed().Seconds() / float64(b.N)
						b.ReportMetric(products*float64(l.g.FLOPs())*float64(l.batch)/perOp/1e9, "GFLOP/s")
						if fwd > 0 {
							b.ReportMetric(perOp/fwd, "xForward")
						}
					})
				}
			}
		}
	}
}

// TestReportBackwardRatios measures the forward pass, Backward and Backward given the
// convolution sums of each layer alternately (-decop.runs times each) and prints the medians
// of wall and CPU time and their ratios to the forward's. CPU time (all threads of the
// process) is what a shared machine disturbs least. It only runs with -decop.gradreport.
func TestReportBackwardRatios(t *testing.T) {
	if !*gradReport {
		t.Skip("run with -decop.gradreport")
	}
	for _, l := range gradBenchLayers {
		for _, op := range gradBenchOps {
			for _, threads := range []int{1, 2} {
				s, feeds := benchSession(t, l, op, threads)
				cfg, in, dy := gradBenchProblem(l, op, true)
				saved := in.Sums
				var out Grads
				timeRun(t, s, feeds)
				timeBackward(t, cfg, in, dy, l.batch, &out, threads)
				var fw, fc, bw, bc, sw, sc []float64
				for range *reportRuns {
					w, c := timeRunCPU(t, s, feeds)
					fw, fc = append(fw, w.Seconds()), append(fc, c)
					in.Sums = nil
					w, c = timeBackward(t, cfg, in, dy, l.batch, &out, threads)
					bw, bc = append(bw, w.Seconds()), append(bc, c)
					in.Sums = saved
					w, c = timeBackward(t, cfg, in, dy, l.batch, &out, threads)
					sw, sc = append(sw, w.Seconds()), append(sc, c)
				}
				t.Logf("%-22s %-16v t%d  forward %6.1f ms (cpu %6.1f)  backward %6.1f ms (cpu %6.1f) ×%.2f (cpu ×%.2f)  sums given %6.1f ms (cpu %6.1f) ×%.2f (cpu ×%.2f)",
					l.name, op, threads, 1e3*median(fw), 1e3*median(fc),
					1e3*median(bw), 1e3*median(bc), median(bw)/median(fw), median(bc)/median(fc),
					1e3*median(sw), 1e3*median(sc), median(sw)/median(fw), median(sc)/median(fc))
			}
		}
	}
}
