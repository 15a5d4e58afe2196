package decop

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"regexp"
	goruntime "runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"google.golang.org/protobuf/proto"
)

// Benchmarks of DecoupledConv against Conv on the same layer shapes, both through a
// runtime.Session running a model of the node (constant W and B) followed by a global average
// pool (see pooledOutput), so that the comparison is like for like: same planning (packed
// filter), same allocator, same threads.
//
//	go test ./decop -run '^$' -bench 'DecoupledVsConv' -benchtime 5x
//	go test ./decop -run TestReportRatios -decop.report -v   (interleaved medians, side by side)

var (
	report      = flag.Bool("decop.report", false, "TestReportRatios: measure and print DecoupledConv/Conv time ratios")
	reportRuns  = flag.Int("decop.runs", 7, "TestReportRatios: timed runs per layer and operator")
	reportBatch = flag.Int("decop.batch", 256, "TestReportRatios: batch of the CNN9 layers")
	reportOps   = flag.String("decop.ops", "tanh:cos", "TestReportRatios: comma-separated magnitude:angular pairs, or all")
	reportOnly  = flag.String("decop.layers", "", "TestReportRatios: measure only the layers whose name matches this regexp")
)

// benchLayer is one convolution layer shape and the batch it is measured at.
type benchLayer struct {
	name  string
	g     conv.Geometry
	batch int
}

// squareLayer is a k×k convolution with stride s and padding pad of a c-channel hw×hw input into m
// channels.
func squareLayer(c, hw, m, k, s, pad int) conv.Geometry {
	return conv.Geometry{C: c, H: hw, W: hw, M: m, KH: k, KW: k, SH: s, SW: s, DH: 1, DW: 1,
		PadTop: pad, PadLeft: pad, PadBottom: pad, PadRight: pad, Group: 1}
}

// cnn9Layers are the distinct convolutions of CNN9 (shared/docs/anchors.md): three stages of
// 3×3 padding-1 convolutions at 28², 14², 7².
func cnn9Layers(batch int) []benchLayer {
	return []benchLayer{
		{"cnn9 1→32 28²", squareLayer(1, 28, 32, 3, 1, 1), batch},
		{"cnn9 32→32 28²", squareLayer(32, 28, 32, 3, 1, 1), batch},
		{"cnn9 32→64 14²", squareLayer(32, 14, 64, 3, 1, 1), batch},
		{"cnn9 64→64 14²", squareLayer(64, 14, 64, 3, 1, 1), batch},
		{"cnn9 64→128 7²", squareLayer(64, 7, 128, 3, 1, 1), batch},
		{"cnn9 128→128 7²", squareLayer(128, 7, 128, 3, 1, 1), batch},
	}
}

// resnet18Layers are the distinct convolutions of ResNet-18 at 224×224, batch 1.
var resnet18Layers = []benchLayer{
	{"r18 7×7/2 3→64 224²", squareLayer(3, 224, 64, 7, 2, 3), 1},
	{"r18 3×3 64→64 56²", squareLayer(64, 56, 64, 3, 1, 1), 1},
	{"r18 3×3/2 64→128 56²", squareLayer(64, 56, 128, 3, 2, 1), 1},
	{"r18 1×1/2 64→128 56²", squareLayer(64, 56, 128, 1, 2, 0), 1},
	{"r18 3×3 128→128 28²", squareLayer(128, 28, 128, 3, 1, 1), 1},
	{"r18 3×3/2 128→256 28²", squareLayer(128, 28, 256, 3, 2, 1), 1},
	{"r18 1×1/2 128→256 28²", squareLayer(128, 28, 256, 1, 2, 0), 1},
	{"r18 3×3 256→256 14²", squareLayer(256, 14, 256, 3, 1, 1), 1},
	{"r18 3×3/2 256→512 14²", squareLayer(256, 14, 512, 3, 2, 1), 1},
	{"r18 1×1/2 256→512 14²", squareLayer(256, 14, 512, 1, 2, 0), 1},
	{"r18 3×3 512→512 7²", squareLayer(512, 7, 512, 3, 1, 1), 1},
}

// benchOp is an operator configuration to measure; conv is the plain Conv baseline.
type benchOp struct {
	conv     bool
	mag      Magnitude
	ang      Angular
	weighted bool
}

func (o benchOp) String() string {
	if o.conv {
		return "Conv"
	}
	w := ""
	if o.weighted {
		w = " w"
	}
	return fmt.Sprintf("%v:%v%s", o.mag, o.ang, w)
}

// benchSession plans the layer as a one-node model: Conv with constant W and B, or a
// DecoupledConv as a converted model has it (constant W, B and per-channel α, ρ, β), and
// returns the session and its feeds.
func benchSession(tb testing.TB, l benchLayer, op benchOp, threads int) (*runtime.Session, map[string]*runtime.Tensor) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(uint64(l.g.C), uint64(l.g.M)))
	p := &problem{n: l.batch, g: l.g, mag: op.mag, ang: op.ang, weighted: op.weighted, k: f32(DefaultK), eps: f32(DefaultEps)}
	p.x = randomValues(rng, l.batch*l.g.InputLen(), 1)
	p.w = randomValues(rng, l.g.FilterLen(), 0.1)
	p.b = randomValues(rng, l.g.M, 0.1)
	p.setRandomParams(rng, paramsPerChannel)
	in := p.opInputs()
	opType, domain, attrs := OpType, Domain, p.opAttributes()
	if op.conv {
		opType, domain, attrs, in = "Conv", "", windowAttributes(l.g, conv.NotSet), in[:inB+1]
	}
	m, feeds, err := oneNodeModel(opType, domain, attrs, in, func(i int) bool { return i != inX })
	if err != nil {
		tb.Fatal(err)
	}
	pooledOutput(m)
	s, err := runtime.NewSessionFromModel(m, runtime.WithRegistry(opRegistry()), runtime.WithThreads(threads))
	if err != nil {
		tb.Fatal(err)
	}
	return s, feeds
}

// pooledOutput appends a GlobalAveragePool to the one-node model, so that the node's output is
// an intermediate value, whose buffer the runtime recycles from run to run as it does inside a
// network, rather than a fresh graph output: allocating (and faulting in) a new output buffer
// every run costs as much as a small convolution and varies with the garbage collector's state.
// The pool adds the same small cost (one read of the output) to both operators.
func pooledOutput(m *onnx.ModelProto) {
	g := m.Graph
	g.Node[0].Output[0] = "Yc"
	g.Node = append(g.Node, &onnx.NodeProto{Name: proto.String("pool"), OpType: proto.String("GlobalAveragePool"),
		Input: []string{"Yc"}, Output: []string{"Y"}})
}

// timeRun runs the session once and returns the wall time.
func timeRun(tb testing.TB, s *runtime.Session, feeds map[string]*runtime.Tensor) time.Duration {
	wall, _ := timeRunCPU(tb, s, feeds)
	return wall
}

// timeRunCPU runs the session once and returns the wall time and the CPU time of the process
// (user + system, all threads), which a shared machine disturbs less than the wall clock.
func timeRunCPU(tb testing.TB, s *runtime.Session, feeds map[string]*runtime.Tensor) (wall time.Duration, cpu float64) {
	cpu0 := cpuSeconds()
	start := time.Now()
	if _, err := s.Run(context.Background(), feeds); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start), cpuSeconds() - cpu0
}

// BenchmarkDecoupledVsConv times Conv and DecoupledConv tanh:cos (weighted, per-channel
// parameters) on the CNN9 layers (batch 32 here, to keep a run short; TestReportRatios uses
// 256) and the ResNet-18 layers (batch 1), at 1 and 2 threads. Each benchmark reports GFLOP/s
// (of the convolution's multiply-adds) and the ratio of its time to the Conv of the same
// layer measured just before it.
func BenchmarkDecoupledVsConv(b *testing.B) {
	ops := []benchOp{{conv: true}, {mag: Tanh, ang: Cos, weighted: true}, {mag: Tanh, ang: Cos}}
	for _, l := range append(cnn9Layers(32), resnet18Layers...) {
		for _, threads := range []int{1, 2} {
			var convTime float64
			for _, op := range ops {
				b.Run(fmt.Sprintf("%s/t%d/%v", l.name, threads, op), func(b *testing.B) {
					s, feeds := benchSession(b, l, op, threads)
					timeRun(b, s, feeds) // warm the allocator
					b.ResetTimer()
					for b.Loop() {
						timeRun(b, s, feeds)
					}
					perOp := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(l.g.FLOPs())*float64(l.batch)/perOp/1e9, "GFLOP/s")
					if op.conv {
						convTime = perOp
					} else if convTime > 0 {
						b.ReportMetric(perOp/convTime, "xConv")
					}
				})
			}
		}
	}
}

// reportOpsList decodes -decop.ops: magnitude:angular pairs, each measured with weighted 0 and
// 1, or with the suffix ":w" (weighted = 1) or ":u" (weighted = 0) only one of them; "all" is
// every pair, weighted.
func reportOpsList(t *testing.T) []benchOp {
	var ops []benchOp
	if *reportOps == "all" {
		for _, m := range Magnitudes() {
			for _, a := range Angulars() {
				ops = append(ops, benchOp{mag: m, ang: a, weighted: true})
			}
		}
		return ops
	}
	for _, s := range strings.Split(*reportOps, ",") {
		parts := strings.Split(s, ":")
		if len(parts) < 2 || len(parts) > 3 {
			t.Fatalf("-decop.ops: %q is not magnitude:angular[:w|:u]", s)
		}
		m, err1 := ParseMagnitude(parts[0])
		a, err2 := ParseAngular(parts[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("-decop.ops: %q: %v %v", s, err1, err2)
		}
		switch {
		case len(parts) == 2:
			ops = append(ops, benchOp{mag: m, ang: a}, benchOp{mag: m, ang: a, weighted: true})
		case parts[2] == "w" || parts[2] == "u":
			ops = append(ops, benchOp{mag: m, ang: a, weighted: parts[2] == "w"})
		default:
			t.Fatalf("-decop.ops: %q: suffix must be w or u", s)
		}
	}
	return ops
}

// TestReportRatios (with -decop.report) measures DecoupledConv against Conv on every layer at 1
// and 2 threads and prints the time ratios side by side. The machine is shared and noisy, so
// the runs alternate between Conv and the DecoupledConv configurations (in a rotating order,
// each round after a garbage collection), and each time is the median of -decop.runs runs.
func TestReportRatios(t *testing.T) {
	if !*report {
		t.Skip("run with -decop.report")
	}
	ops := append([]benchOp{{conv: true}}, reportOpsList(t)...)
	only, err := regexp.Compile(*reportOnly)
	if err != nil {
		t.Fatalf("-decop.layers: %v", err)
	}
	var layers []benchLayer
	for _, l := range append(cnn9Layers(*reportBatch), resnet18Layers...) {
		if only.MatchString(l.name) {
			layers = append(layers, l)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "DecoupledConv time / Conv time, medians of %d interleaved runs (row kernel %s; CNN9 at batch %d)\n",
		*reportRuns, KernelName(), *reportBatch)
	b.WriteString("(each configuration: ratio of wall-clock medians, ratio of CPU-time medians)\n")
	fmt.Fprintf(&b, "%-24s %3s %8s %8s", "layer", "thr", "Conv ms", "CPU ms")
	for _, op := range ops[1:] {
		fmt.Fprintf(&b, "  %13s", op)
	}
	b.WriteString("\n")
	for _, l := range layers {
		for _, threads := range []int{1, 2} {
			sessions := make([]*runtime.Session, len(ops))
			feeds := make([]map[string]*runtime.Tensor, len(ops))
			wall, cpu := make([][]float64, len(ops)), make([][]float64, len(ops))
			for i, op := range ops {
				sessions[i], feeds[i] = benchSession(t, l, op, threads)
				timeRun(t, sessions[i], feeds[i])
			}
			for r := range *reportRuns {
				// Every round starts from a collected heap and runs the configurations in a
				// rotating order, so that none systematically pays for the others' garbage
				// (each run allocates its output, as Session.Run does).
				goruntime.GC()
				for k := range ops {
					i := (r + k) % len(ops)
					// One untimed run first: switching sessions evicts the previous one's
					// data from the caches, which would otherwise favour whichever operator
					// reuses less of it.
					timeRun(t, sessions[i], feeds[i])
					w, c := timeRunCPU(t, sessions[i], feeds[i])
					wall[i], cpu[i] = append(wall[i], w.Seconds()), append(cpu[i], c)
				}
			}
			base, baseCPU := median(wall[0]), median(cpu[0])
			fmt.Fprintf(&b, "%-24s %3d %8.2f %8.2f", l.name, threads, base*1e3, baseCPU*1e3)
			for i := range ops[1:] {
				fmt.Fprintf(&b, "  %6.3f %6.3f", median(wall[i+1])/base, median(cpu[i+1])/baseCPU)
			}
			b.WriteString("\n")
		}
	}
	t.Log("\n" + b.String())
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkRowKernel times the epilogue's row kernel alone on a row of 784 outputs (one 28×28
// plane), per kernel and configuration, in CPU nanoseconds per output.
func BenchmarkRowKernel(b *testing.B) {
	const n = 784
	rng := rand.New(rand.NewPCG(5, 6))
	y, norm, inv, hpos := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for j := range n {
		norm[j] = float32(0.1 + 3*rng.Float64())
		inv[j] = 1 / norm[j]
		y[j] = float32(rng.NormFloat64())
		hpos[j] = float32(rng.Float64())
	}
	type cfg struct {
		name     string
		mag, ang int
	}
	cfgs := []cfg{{"tanh:cos", int(Tanh), int(Cos)}, {"position:cos", magPosition, int(Cos)}, {"sphere:cos", int(Sphere), int(Cos)},
		{"ball:cos", int(Ball), int(Cos)}, {"linear:cos", int(Linear), int(Cos)}, {"seg:cos", int(Seg), int(Cos)},
		{"log:cos", int(Log), int(Cos)}, {"mix:cos", int(Mix), int(Cos)},
		{"sphere:linear", int(Sphere), int(LinearAng)}, {"sphere:sigmoid", int(Sphere), int(Sigmoid)}, {"sphere:sqcos", int(Sphere), int(SqCos)},
		{"tanh:sigmoid", int(Tanh), int(Sigmoid)}}
	for _, kernel := range Kernels() {
		restore, _ := UseKernel(kernel)
		for _, c := range cfgs {
			b.Run(kernel+"/"+c.name, func(b *testing.B) {
				s1, s2 := rowAngularConsts(Angular(c.ang), DefaultK)
				work := make([]float32, n)
				a := rowArgs{norm: norm, inv: inv, hpos: hpos, n: n, mag: c.mag, ang: c.ang, invNw: 0.5, rs: 2, hs: 0.7,
					alpha: 1.1, beta: 0.4, rho: 1.5, bias: 0.1, s1: s1, s2: s2}
				cpu0 := cpuSeconds()
				for b.Loop() {
					copy(work, y)
					a.y = work
					finishRow(&a)
				}
				b.ReportMetric((cpuSeconds()-cpu0)*1e9/float64(b.N)/n, "cpu-ns/value")
			})
		}
		restore()
	}
}

// BenchmarkBegin times the per-(image, group) preparation of the epilogue (patch norms) on the
// CNN9 and ResNet-18 layer shapes, in CPU nanoseconds per output pixel and per output value.
func BenchmarkBegin(b *testing.B) {
	for _, l := range append(cnn9Layers(1), resnet18Layers...) {
		b.Run(l.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, 8))
			x := make([]float32, l.g.InputLen())
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			chans := make([]chanConst, l.g.M)
			for i := range chans {
				chans[i] = chanConst{invNw: 1, rs: 1, hs: float32(i + 1), alpha: 1, rho: 1}
			}
			cfg := Config{Geom: l.g, Magnitude: Tanh, Angular: Cos, Weighted: true, K: DefaultK, Eps: DefaultEps}
			e := newEpilogue(&cfg, chans)
			cpu0 := cpuSeconds()
			for b.Loop() {
				e.Begin(0, 0, x, 1).End()
			}
			ns := (cpuSeconds() - cpu0) * 1e9 / float64(b.N)
			b.ReportMetric(ns/float64(l.g.OutHW()), "cpu-ns/pixel")
			b.ReportMetric(ns/float64(l.g.OutputLen()), "cpu-ns/value")
		})
	}
}
