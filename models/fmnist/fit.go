package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

// recipe is a training recipe: SGD with (Nesterov) momentum and L2 weight
// decay, a one-cycle or cosine learning rate, flips.
type recipe struct {
	Epochs        int     `json:"epochs"`
	Batch         int     `json:"batch"`
	LR            float64 `json:"lr"`       // peak (one-cycle) or initial (cosine) rate
	Schedule      string  `json:"schedule"` // "onecycle" or "cosine"
	Warmup        float64 `json:"warmup,omitempty"`
	CycleMomentum bool    `json:"cycle_momentum,omitempty"`
	Momentum      float64 `json:"momentum"`
	Nesterov      bool    `json:"nesterov"`
	WeightDecay   float64 `json:"weight_decay"`
	Flip          bool    `json:"flip"`
	Seed          uint64  `json:"seed"`
	Threads       int     `json:"threads"`
	// Distill > 0 adds distillation from the teacher model (fitOptions)
	// with that weight next to the cross-entropy, at Temperature.
	Distill     float64 `json:"distill,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
}

// anchorsRecipe is the recipe of ../shared/docs/anchors.md as
// models/fmnist/torch/train_cnn9.py runs it: torch's OneCycleLR with its
// default cycle_momentum=True, so the momentum moves between 0.95 and 0.85
// opposite to the learning rate (0.9 being the midpoint).
func anchorsRecipe() recipe {
	return recipe{Epochs: 6, Batch: 256, LR: 0.05, Schedule: "onecycle", Warmup: 0.15, CycleMomentum: true,
		Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4, Flip: true}
}

// finetuneRecipe is dcconvert finetune's default recipe with the given
// epochs and rate: SGD momentum 0.9, weight decay 5e-4, cosine schedule,
// batch 256, flips (the workflow adds Nesterov momentum, as in the
// training recipe, unless --nesterov=false).
func finetuneRecipe(epochs int, lr float64) recipe {
	return recipe{Epochs: epochs, Batch: 256, LR: lr, Schedule: "cosine", Momentum: 0.9, WeightDecay: 5e-4, Flip: true}
}

// setDistill turns distillation on with weight w at temperature t (w = 0:
// off).
func (r *recipe) setDistill(w, t float64) {
	if w > 0 {
		r.Distill, r.Temperature = w, t
	}
}

// fitOptions say what trains and where progress goes.
type fitOptions struct {
	recipe     recipe
	trainable  func(name string) bool // nil: every parameter
	freezeBN   bool
	rho        map[string]bool // ρ initializers to keep ≥ train.DefaultRhoMin
	checkpoint string
	resume     bool
	progress   io.Writer
	teacher    *onnx.ModelProto // distilled from when recipe.Distill > 0
}

// fitResult is what a training run produced.
type fitResult struct {
	model   *onnx.ModelProto
	history *train.History
	seconds float64
	threads int
}

// newRegistry returns the operators of the runtime with DecoupledConv and
// its gradient.
func newRegistry() *runtime.Registry { return decop.NewRegistry() }

// fit trains m on data, validating on val after every epoch.
func fit(ctx context.Context, m *onnx.ModelProto, data, val *train.Dataset, o fitOptions) (*fitResult, error) {
	r := o.recipe
	var ck *train.Checkpoint
	if o.resume {
		var err error
		if ck, err = train.LoadCheckpoint(o.checkpoint); err != nil {
			return nil, err
		}
		m = ck.Model
	}
	opts := []runtime.TrainerOption{
		runtime.WithTrainerRegistry(newRegistry()),
		runtime.WithTrainerThreads(r.Threads),
		runtime.WithFrozenBatchNorm(o.freezeBN),
	}
	if o.trainable != nil {
		opts = append(opts, runtime.WithTrainable(func(name string, _ []runtime.ParamUse) bool { return o.trainable(name) }))
	}
	tr, err := runtime.NewTrainer(m, opts...)
	if err != nil {
		return nil, err
	}
	opt, err := train.NewSGD(tr.Params(), train.SGDConfig{Momentum: r.Momentum, Nesterov: r.Nesterov, WeightDecay: r.WeightDecay})
	if err != nil {
		return nil, err
	}
	steps := train.StepsPerEpoch(data.Len(), r.Batch)
	var sched train.Schedule = train.Cosine{Base: r.LR, Steps: r.Epochs * steps}
	if r.Schedule == "onecycle" {
		oc := train.NewOneCycle(r.LR, r.Epochs*steps, r.Warmup)
		oc.CycleMomentum = r.CycleMomentum
		if err := oc.Check(); err != nil {
			return nil, err
		}
		sched = oc
	}
	cfg := train.Config{
		Epochs: r.Epochs, Batch: r.Batch, Seed: r.Seed, Flip: r.Flip, Input: "input", Output: "logits",
		Val: val, ValBatch: 500, Checkpoint: o.checkpoint, Threads: tr.Threads(), Progress: o.progress,
		Project: train.ProjectRho(tr.Params(), o.rho, train.DefaultRhoMin),
	}
	if r.Distill > 0 {
		if o.teacher == nil {
			return nil, fmt.Errorf("distillation weight %v without a teacher model", r.Distill)
		}
		ts, err := runtime.NewSessionFromModel(o.teacher, runtime.WithRegistry(newRegistry()), runtime.WithThreads(r.Threads))
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		cfg.Teacher = &train.SessionTeacher{Session: ts, Input: "input", Output: "logits"}
		cfg.Loss = train.Loss{DistillWeight: r.Distill, Temperature: r.Temperature}
	}
	loop, err := train.NewLoop(tr, opt, sched, data, cfg)
	if err != nil {
		return nil, err
	}
	if ck != nil {
		if err := loop.Restore(ck); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	h, err := loop.Run(ctx)
	if err != nil {
		return nil, err
	}
	out, err := tr.Model()
	if err != nil {
		return nil, err
	}
	return &fitResult{model: out, history: h, seconds: time.Since(start).Seconds(), threads: tr.Threads()}, nil
}

// testAccuracy saves nothing: it plans m for inference and returns its
// accuracy on test.
func testAccuracy(ctx context.Context, m *onnx.ModelProto, test *train.Dataset, threads int) (float64, error) {
	s, err := runtime.NewSessionFromModel(m, runtime.WithRegistry(newRegistry()), runtime.WithThreads(threads))
	if err != nil {
		return 0, err
	}
	return evaluateSession(ctx, s, test)
}

// writeJSON writes v as indented JSON to path, creating its directory.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readJSON reads path into v.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// stepLosses extracts the per-step losses of a history.
func stepLosses(h *train.History) []float64 {
	out := make([]float64, len(h.Steps))
	for i, s := range h.Steps {
		out[i] = s.Loss
	}
	return out
}

// cloneModel returns a deep copy of m.
func cloneModel(m *onnx.ModelProto) *onnx.ModelProto { return proto.Clone(m).(*onnx.ModelProto) }
