package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/internal/cliutil"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

// benchResult is one measurement, printed as a JSON line.
type benchResult struct {
	Impl            string  `json:"impl"`
	Mode            string  `json:"mode"` // "train" or "infer"
	Op              string  `json:"op"`   // "standard" or "tanh:cos"
	Batch           int     `json:"batch"`
	Threads         int     `json:"threads"`
	Steps           int     `json:"steps"`
	Seconds         float64 `json:"seconds"`
	ImagesPerSecond float64 `json:"images_per_second"`
}

// runBench measures CNN9's training or inference throughput on random
// inputs: a training step is forward (batch statistics), cross-entropy,
// backward and an SGD step (Nesterov momentum, weight decay), every
// parameter training; inference is a Session run. The tanh:cos network is
// the standard one rewritten with weighted tanh:cos DecoupledConv layers
// (per-channel bias, α, ρ; BatchNormalization kept), as the fine-tuning
// workflow trains it.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	mode := fs.String("mode", "train", "train or infer")
	opFlag := fs.String("op", "standard", "standard or a decoupled operator MAG:ANG (weighted)")
	batch := fs.Int("batch", 256, "batch size")
	threads := fs.Int("threads", 2, "goroutines")
	steps := fs.Int("steps", 5, "timed steps")
	warmup := fs.Int("warmup", 1, "untimed steps first")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the timed steps to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := benchModel(*opFlag)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, *batch*28*28)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, *batch)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	input := runtime.New([]int{*batch, 1, 28, 28}, x)
	var step func() error
	switch *mode {
	case "train":
		step, err = trainStep(ctx, m, input, labels, *threads)
	case "infer":
		step, err = inferStep(ctx, m, input, *threads)
	default:
		return fmt.Errorf("--mode %q: want train or infer", *mode)
	}
	if err != nil {
		return err
	}
	for range *warmup {
		if err := step(); err != nil {
			return err
		}
	}
	stop, err := cliutil.StartCPUProfile(*profile)
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	for range *steps {
		if err := step(); err != nil {
			return err
		}
	}
	secs := time.Since(start).Seconds()
	r := benchResult{Impl: "go", Mode: *mode, Op: *opFlag, Batch: *batch, Threads: *threads, Steps: *steps,
		Seconds: secs, ImagesPerSecond: float64(*steps**batch) / secs}
	return json.NewEncoder(stdout).Encode(r)
}

// benchModel is the standard CNN9 or its rewrite with a weighted operator.
func benchModel(op string) (*onnx.ModelProto, error) {
	m := buildCNN9(cnn9Options{Seed: 1})
	if op == "standard" {
		return m, nil
	}
	o, err := convert.ParseOperator(op)
	if err != nil {
		return nil, err
	}
	o.Weighted = true
	if _, err := convert.Rewrite(m, convert.Options{Operator: o}); err != nil {
		return nil, err
	}
	return m, nil
}

func trainStep(ctx context.Context, m *onnx.ModelProto, x *runtime.Tensor, labels []int, threads int) (func() error, error) {
	tr, err := runtime.NewTrainer(m, runtime.WithTrainerRegistry(newRegistry()), runtime.WithTrainerThreads(threads))
	if err != nil {
		return nil, err
	}
	opt, err := train.NewSGD(tr.Params(), train.SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4})
	if err != nil {
		return nil, err
	}
	in := map[string]*runtime.Tensor{"input": x}
	return func() error {
		tr.ZeroGrad()
		out, err := tr.Forward(ctx, in, true)
		if err != nil {
			return err
		}
		_, d, err := train.CrossEntropy(out["logits"], labels, 0)
		if err != nil {
			return err
		}
		if err := tr.Backward(ctx, map[string]*runtime.Tensor{"logits": d}); err != nil {
			return err
		}
		return opt.Step(0.01)
	}, nil
}

func inferStep(ctx context.Context, m *onnx.ModelProto, x *runtime.Tensor, threads int) (func() error, error) {
	s, err := runtime.NewSessionFromModel(m, runtime.WithRegistry(newRegistry()), runtime.WithThreads(threads))
	if err != nil {
		return nil, err
	}
	in := map[string]*runtime.Tensor{"input": x}
	return func() error {
		_, err := s.Run(ctx, in)
		return err
	}, nil
}
