package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/dcnet-go/dcnet/internal/cliutil"
	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/runtime"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "time repeated runs of a model",
		ArgsUsage: "MODEL",
		Description: `Plans MODEL once, runs it --warmup times untimed, then --runs times, timing
each run, and prints the median, 90th percentile, minimum and mean latency
in milliseconds, the throughput (batch size / median latency, in images per
second) and the peak Go heap in use during the runs.

Inputs are random (standard normal floats, integers in [0, 10), seeded by
--seed) unless given with --input [NAME=]FILE.npy. --batch replaces a
dynamic first (batch) dimension, and repeats a given input of batch 1; it is
an error if the model's batch dimension is fixed to another size. Other
dynamic dimensions need an --input file.

--per-op times each step of the plan (a node, or a Conv with the nodes fused
into it) in --runs further runs and reports the median per step, summed per
operator type, and the slowest steps.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, HideDefault: true, Usage: "goroutines per run (`N`; 0: one per CPU)"},
			&cli.IntFlag{Name: "batch", Aliases: []string{"b"}, HideDefault: true, Usage: "batch size `B` (default: the model's fixed batch size, else 1)"},
			&cli.IntFlag{Name: "runs", Aliases: []string{"r"}, Value: 20, Usage: "number of timed runs `R`"},
			&cli.IntFlag{Name: "warmup", Aliases: []string{"w"}, Value: 3, Usage: "number of untimed runs `W` before timing"},
			&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "input `FILE.npy` (or NAME=FILE.npy) instead of random data; repeat for several inputs"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed `S` of the random inputs"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the timed runs to `FILE` (go tool pprof FILE)"},
			&cli.BoolFlag{Name: "per-op", Usage: "after the timed runs, time every step in --runs more runs and print the medians per operator type and the slowest nodes"},
		},
		Action: runBench,
	}
}

// benchResult is what "dcrun bench" reports; it is also its JSON form.
type benchResult struct {
	Model         string       `json:"model"`
	Threads       int          `json:"threads"`
	Batch         int          `json:"batch"`
	Warmup        int          `json:"warmup"`
	Runs          int          `json:"runs"`
	MedianMs      float64      `json:"median_ms"`
	P90Ms         float64      `json:"p90_ms"`
	MinMs         float64      `json:"min_ms"`
	MeanMs        float64      `json:"mean_ms"`
	Throughput    float64      `json:"throughput"`
	PeakHeapMB    float64      `json:"peak_heap_mb"`
	AllocPerRunMB float64      `json:"alloc_per_run_mb"`
	Inputs        []benchInput `json:"inputs"`
	GoMaxProcs    int          `json:"gomaxprocs"`
	PerOp         *perOpResult `json:"per_op,omitempty"`
}

type benchInput struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Shape  []int  `json:"shape"`
	Source string `json:"source"`
}

func runBench(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return fmt.Errorf("bench: want exactly one MODEL argument, got %d", cmd.Args().Len())
	}
	path := cmd.Args().First()
	runs, warmup, threads, batch := int(cmd.Int("runs")), int(cmd.Int("warmup")), int(cmd.Int("threads")), int(cmd.Int("batch"))
	switch {
	case runs < 1:
		return fmt.Errorf("--runs %d: must be at least 1", runs)
	case warmup < 0:
		return fmt.Errorf("--warmup %d: must be ≥ 0", warmup)
	case threads < 0:
		return fmt.Errorf("--threads %d: must be ≥ 0", threads)
	case batch < 0:
		return fmt.Errorf("--batch %d: must be positive", batch)
	}
	_, sess, err := openModel(path, threads)
	if err != nil {
		return err
	}
	inputs, descs, batch, err := benchInputs(sess.Inputs(), cmd.StringSlice("input"), batch, cmd.Uint64("seed"))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	res := benchResult{Model: path, Threads: sess.Threads(), Batch: batch, Warmup: warmup, Runs: runs, Inputs: descs, GoMaxProcs: goruntime.GOMAXPROCS(0)}
	stop, err := cliutil.StartCPUProfile(cmd.String("cpuprofile"))
	if err != nil {
		return err
	}
	err = measure(ctx, sess, inputs, &res)
	if perr := stop(); err == nil {
		err = perr
	}
	if err == nil && cmd.Bool("per-op") {
		res.PerOp, err = measurePerOp(ctx, sess, inputs, runs)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		return json.NewEncoder(w).Encode(res)
	}
	printBench(w, res)
	if res.PerOp != nil {
		printPerOp(w, res.PerOp)
	}
	return nil
}

// benchInputs builds one tensor per model input, from a file or random,
// with batch B in the first dimension; it returns the batch size used.
func benchInputs(infos []runtime.ValueInfo, files []string, batch int, seed uint64) (map[string]*runtime.Tensor, []benchInput, int, error) {
	bound := map[string][]string{}
	if len(files) > 0 {
		var err error
		if bound, err = bindInputsPartial(files, infos); err != nil {
			return nil, nil, 0, err
		}
	}
	batch, err := resolveBatch(infos, batch)
	if err != nil {
		return nil, nil, 0, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	tensors := map[string]*runtime.Tensor{}
	var descs []benchInput
	for _, info := range infos {
		var a array
		source := fmt.Sprintf("random (seed %d)", seed)
		if paths := bound[info.Name]; len(paths) > 0 {
			if a, err = benchFile(info, paths, batch); err != nil {
				return nil, nil, 0, err
			}
			source = strings.Join(paths, " ")
		} else if a, err = randomInput(info, batch, rng); err != nil {
			return nil, nil, 0, err
		}
		tensors[info.Name] = a.tensor()
		descs = append(descs, benchInput{info.Name, dtypeOf(a.data).String(), a.shape, source})
	}
	return tensors, descs, batch, nil
}

// bindInputsPartial binds --input files without requiring every input.
func bindInputsPartial(files []string, infos []runtime.ValueInfo) (map[string][]string, error) {
	bound := map[string][]string{}
	known := map[string]bool{}
	for _, in := range infos {
		known[in.Name] = true
	}
	var unnamed []string
	for _, f := range files {
		name, path, named := splitInputArg(f)
		switch {
		case !named:
			unnamed = append(unnamed, path)
		case !known[name]:
			return nil, fmt.Errorf("input %q: the model has no such input (it has %s)", name, inputList(infos))
		default:
			bound[name] = append(bound[name], path)
		}
	}
	if len(unnamed) > 0 {
		if err := bindUnnamed(bound, unnamed, infos); err != nil {
			return nil, err
		}
	}
	return bound, nil
}

// resolveBatch picks the batch size: the requested one (checked against
// fixed batch dimensions), else the models' fixed one, else 1.
func resolveBatch(infos []runtime.ValueInfo, want int) (int, error) {
	fixed := 0
	for _, in := range infos {
		if len(in.Shape) == 0 || in.Shape[0] < 0 {
			continue
		}
		if want > 0 && in.Shape[0] != want {
			return 0, fmt.Errorf("--batch %d: input %q has a fixed batch dimension of %d (%s)", want, in.Name, in.Shape[0], in)
		}
		fixed = in.Shape[0]
	}
	switch {
	case want > 0:
		return want, nil
	case fixed > 0:
		return fixed, nil
	}
	return 1, nil
}

// benchFile loads an input file and repeats a batch of 1 to batch rows.
func benchFile(info runtime.ValueInfo, paths []string, batch int) (array, error) {
	if len(paths) > 1 {
		return array{}, fmt.Errorf("input %q: give one file per input", info.Name)
	}
	if !strings.HasSuffix(strings.ToLower(paths[0]), ".npy") {
		return array{}, fmt.Errorf("input %q: %s: bench reads .npy files only", info.Name, paths[0])
	}
	a, err := loadFile(info, paths[0], imagePrep{})
	if err != nil {
		return array{}, fmt.Errorf("input %q: %w", info.Name, err)
	}
	if len(info.Shape) == 0 || len(a.shape) == 0 || a.shape[0] == batch {
		return a, nil
	}
	if a.shape[0] != 1 {
		return array{}, fmt.Errorf("input %q: %s has batch %d, want %d or 1", info.Name, paths[0], a.shape[0], batch)
	}
	parts := make([]any, batch)
	for i := range parts {
		parts[i] = a.data
	}
	shape := append([]int{batch}, a.shape[1:]...)
	return array{shape, concat(parts)}, nil
}

// randomInput draws a tensor of the input's declared type and shape.
func randomInput(info runtime.ValueInfo, batch int, rng *rand.Rand) (array, error) {
	if info.Shape == nil {
		return array{}, fmt.Errorf("input %q: rank unknown; give it with --input", info.Name)
	}
	shape := slices.Clone(info.Shape)
	for i, d := range shape {
		switch {
		case d >= 0:
		case i == 0:
			shape[0] = batch
		default:
			return array{}, fmt.Errorf("input %q (%s): dimension %d is dynamic; give the input with --input FILE.npy", info.Name, info, i)
		}
	}
	n := runtime.NumElements(shape)
	if n < 0 || n > npy.MaxBytes/8 {
		return array{}, fmt.Errorf("input %q: shape %v is too large", info.Name, shape)
	}
	switch info.DType {
	case runtime.Float32, 0:
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		return array{shape, d}, nil
	case runtime.Float64:
		d := make([]float64, n)
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		return array{shape, d}, nil
	case runtime.Int64:
		d := make([]int64, n)
		for i := range d {
			d[i] = rng.Int64N(10)
		}
		return array{shape, d}, nil
	case runtime.Int32:
		d := make([]int32, n)
		for i := range d {
			d[i] = rng.Int32N(10)
		}
		return array{shape, d}, nil
	case runtime.Bool:
		return array{shape, make([]bool, n)}, nil
	}
	return array{}, fmt.Errorf("input %q: random %v data not supported; give it with --input", info.Name, info.DType)
}

// measure runs the warm-up and timed runs and fills in the statistics.
func measure(ctx context.Context, sess *runtime.Session, inputs map[string]*runtime.Tensor, res *benchResult) error {
	for range res.Warmup {
		if _, err := sess.Run(ctx, inputs); err != nil {
			return err
		}
	}
	goruntime.GC()
	heap := startHeapSampler()
	allocBefore := readMetric(allocsMetric)
	times := make([]float64, res.Runs)
	for i := range times {
		start := time.Now()
		_, err := sess.Run(ctx, inputs)
		times[i] = float64(time.Since(start).Nanoseconds()) / 1e6
		heap.sample()
		if err != nil {
			heap.stop()
			return err
		}
	}
	res.AllocPerRunMB = float64(readMetric(allocsMetric)-allocBefore) / float64(res.Runs) / 1e6
	res.PeakHeapMB = float64(heap.stop()) / 1e6
	res.MedianMs, res.P90Ms, res.MinMs, res.MeanMs = latencyStats(times)
	res.Throughput = float64(res.Batch) / (res.MedianMs / 1e3)
	return nil
}

// latencyStats returns the median, 90th percentile (nearest rank), minimum
// and mean of the samples.
func latencyStats(ms []float64) (median, p90, lo, mean float64) {
	s := slices.Clone(ms)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		median = s[n/2]
	} else {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	p90 = s[int(math.Ceil(0.9*float64(n)))-1]
	for _, v := range s {
		mean += v
	}
	return median, p90, s[0], mean / float64(n)
}

const (
	heapMetric   = "/memory/classes/heap/objects:bytes" // live and unswept heap objects, as MemStats.HeapAlloc
	allocsMetric = "/gc/heap/allocs:bytes"              // cumulative bytes allocated, as MemStats.TotalAlloc
)

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// heapSampler tracks the peak of the Go heap (the same quantity as
// runtime.MemStats.HeapAlloc, read through runtime/metrics, which does not
// stop the world) every millisecond and after every run.
type heapSampler struct {
	mu   sync.Mutex
	peak uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	h.sample()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-tick.C:
				h.sample()
			}
		}
	}()
	return h
}

func (h *heapSampler) sample() {
	v := readMetric(heapMetric)
	h.mu.Lock()
	h.peak = max(h.peak, v)
	h.mu.Unlock()
}

// stop ends sampling and returns the peak in bytes.
func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	return h.peak
}

func printBench(w io.Writer, r benchResult) {
	fmt.Fprintf(w, "model:       %s\n", r.Model)
	for _, in := range r.Inputs {
		fmt.Fprintf(w, "input:       %s %s %s, %s\n", in.Name, in.Type, runtime.ShapeString(in.Shape), in.Source)
	}
	fmt.Fprintf(w, "setup:       %d threads, batch %d, %d warm-up + %d timed runs\n", r.Threads, r.Batch, r.Warmup, r.Runs)
	fmt.Fprintf(w, "latency:     median %.3f ms, p90 %.3f ms, min %.3f ms, mean %.3f ms\n", r.MedianMs, r.P90Ms, r.MinMs, r.MeanMs)
	fmt.Fprintf(w, "throughput:  %.2f images/s (batch / median)\n", r.Throughput)
	fmt.Fprintf(w, "memory:      peak Go heap %.1f MB, %.1f MB allocated per run\n", r.PeakHeapMB, r.AllocPerRunMB)
}
