package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Network is the model being trained: *runtime.Trainer implements it.
// Forward with training set runs batch normalisation on batch statistics
// and keeps what Backward needs; Backward accumulates ∂loss/∂param into
// every trainable Param.Grad; Model returns the ONNX model with the current
// parameter values as initializers.
type Network interface {
	Params() []*runtime.Param
	Forward(ctx context.Context, inputs map[string]*runtime.Tensor, training bool) (map[string]*runtime.Tensor, error)
	Backward(ctx context.Context, dOutputs map[string]*runtime.Tensor) error
	ZeroGrad()
	Model() (*onnx.ModelProto, error)
}

// Teacher gives the logits [N, K] of a reference model for a batch
// x: [N, ...], for distillation.
type Teacher interface {
	Logits(ctx context.Context, x *runtime.Tensor) (*runtime.Tensor, error)
}

// SessionTeacher is a Teacher running an inference session: it feeds x to
// the input named Input and returns the output named Output ("" for the
// session's only input or first output).
type SessionTeacher struct {
	Session       *runtime.Session
	Input, Output string
}

// Logits runs the teacher on x.
func (t *SessionTeacher) Logits(ctx context.Context, x *runtime.Tensor) (*runtime.Tensor, error) {
	in, out := t.Input, t.Output
	if in == "" {
		if len(t.Session.Inputs()) != 1 {
			return nil, fmt.Errorf("teacher: the model has %d inputs; name the one images go to", len(t.Session.Inputs()))
		}
		in = t.Session.Inputs()[0].Name
	}
	if out == "" {
		out = t.Session.Outputs()[0].Name
	}
	res, err := t.Session.Run(ctx, map[string]*runtime.Tensor{in: x})
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	return res[out], nil
}

// Config describes a training run.
type Config struct {
	Epochs int
	Batch  int    // samples per optimiser step
	Seed   uint64 // seeds the sample order and the flips
	Flip   bool   // flip each training image left-right with probability ½
	Clip   float64
	// Loss weighs the cross-entropy (labels) and distillation (Teacher)
	// losses.
	Loss    Loss
	Teacher Teacher
	// Input and Output name the graph input the images go to and the
	// output holding the logits [N, K] ("" for the model's only input and
	// only output).
	Input, Output string
	// Val is the labelled validation set evaluated after every epoch (nil:
	// none), in batches of ValBatch (0: 256).
	Val      *Dataset
	ValBatch int
	// Checkpoint is the directory an atomic checkpoint is written to after
	// every epoch ("" for none); the Keep newest are kept (0: 1).
	Checkpoint string
	Keep       int
	// Threads is recorded in checkpoints: a run resumed with another
	// thread count is no longer bit-identical, and the progress output
	// says so.
	Threads int
	// Progress receives the progress bar and the epoch summaries (nil:
	// nothing). On a terminal the bar is redrawn in place; otherwise a
	// line is printed every ProgressEvery steps (0: 50).
	Progress      io.Writer
	ProgressEvery int
	// Project, if set, runs after every optimiser step, to project
	// parameters back into their domain (such as ρ > 0).
	Project func()
	// OnEpoch, if set, is called after every epoch's validation and
	// checkpoint; an error stops the run and is returned.
	OnEpoch func(EpochStats) error
}

// Metrics are a mean loss and an accuracy (a fraction in [0, 1]) over a set
// of samples.
type Metrics struct {
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
}

// EpochStats summarise an epoch. Train averages the loss and accuracy of
// the epoch's mini-batches (the model changing along); without labels the
// accuracy is the agreement with the teacher's predictions.
type EpochStats struct {
	Epoch           int      `json:"epoch"`
	Steps           int      `json:"steps"` // optimiser steps done so far, all epochs
	Train           Metrics  `json:"train"`
	Val             *Metrics `json:"val,omitempty"`
	LR              float64  `json:"lr"` // of the epoch's last step
	Seconds         float64  `json:"seconds"`
	ImagesPerSecond float64  `json:"images_per_second"`
}

// StepStats record one optimiser step.
type StepStats struct {
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
	LR       float64 `json:"lr"`
}

// History is the record of a run (including the epochs before a resume).
type History struct {
	Epochs []EpochStats `json:"epochs"`
	Steps  []StepStats  `json:"steps"`
}

// Loop trains a Network on a Dataset. It is not safe for concurrent use.
type Loop struct {
	net     Network
	opt     Optimizer
	sched   Schedule
	data    *Dataset
	cfg     Config
	steps   int // optimiser steps per epoch
	sampler *sampler
	epoch   int // epochs completed
	step    int // optimiser steps completed
	history History
	log     *progress
}

// NewLoop prepares cfg.Epochs epochs of training of net on data with opt,
// whose learning rate sched sets at every step.
func NewLoop(net Network, opt Optimizer, sched Schedule, data *Dataset, cfg Config) (*Loop, error) {
	if err := data.Check(); err != nil {
		return nil, fmt.Errorf("training data: %w", err)
	}
	if cfg.Val != nil {
		if err := cfg.Val.Check(); err != nil {
			return nil, fmt.Errorf("validation data: %w", err)
		}
		if cfg.Val.Labels == nil {
			return nil, errors.New("validation data: needs labels")
		}
	}
	if data.Labels == nil && cfg.Teacher == nil {
		return nil, errors.New("training data has no labels and there is no teacher: nothing to learn from")
	}
	if cfg.Epochs <= 0 || cfg.Batch <= 0 {
		return nil, fmt.Errorf("epochs (%d) and batch size (%d) must be positive", cfg.Epochs, cfg.Batch)
	}
	if cfg.Clip < 0 || math.IsNaN(cfg.Clip) {
		return nil, fmt.Errorf("gradient clipping norm %v: must be ≥ 0 (0: no clipping)", cfg.Clip)
	}
	l := &Loop{net: net, opt: opt, sched: sched, data: data, cfg: cfg, sampler: newSampler(cfg.Seed)}
	l.steps = StepsPerEpoch(data.Len(), cfg.Batch)
	if l.steps == 0 {
		return nil, errors.New("training data: no samples")
	}
	if err := l.resolveNames(); err != nil {
		return nil, err
	}
	if l.cfg.ValBatch <= 0 {
		l.cfg.ValBatch = 256
	}
	return l, nil
}

// resolveNames fills in the input and output names from the model.
func (l *Loop) resolveNames() error {
	if l.cfg.Input != "" && l.cfg.Output != "" {
		return nil
	}
	m, err := l.net.Model()
	if err != nil {
		return err
	}
	g := m.GetGraph()
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	if l.cfg.Input == "" {
		var inputs []string
		for _, v := range g.GetInput() {
			if !inits[v.GetName()] {
				inputs = append(inputs, v.GetName())
			}
		}
		if len(inputs) != 1 {
			return fmt.Errorf("the model has %d inputs %q; name the one images go to", len(inputs), inputs)
		}
		l.cfg.Input = inputs[0]
	}
	if l.cfg.Output == "" {
		if len(g.GetOutput()) != 1 {
			return fmt.Errorf("the model has %d outputs; name the one holding the logits", len(g.GetOutput()))
		}
		l.cfg.Output = g.GetOutput()[0].GetName()
	}
	return nil
}

// StepsPerEpoch is the number of optimiser steps in an epoch.
func (l *Loop) StepsPerEpoch() int { return l.steps }

// Epoch is the number of epochs completed.
func (l *Loop) Epoch() int { return l.epoch }

// History returns the record of the epochs and steps done so far.
func (l *Loop) History() *History { return &l.history }

// Run trains the remaining epochs and returns the history. When ctx is
// cancelled the run stops before the next step with ctx's error; the last
// checkpoint then holds the last completed epoch.
func (l *Loop) Run(ctx context.Context) (*History, error) {
	l.log = newProgress(l.cfg.Progress, l.cfg.ProgressEvery, l.cfg.Epochs, l.steps, l.step)
	for l.epoch < l.cfg.Epochs {
		stats, err := l.runEpoch(ctx)
		if err != nil {
			l.log.abort()
			return &l.history, err
		}
		if l.cfg.Val != nil {
			m, err := l.Evaluate(ctx, l.cfg.Val)
			if err != nil {
				return &l.history, fmt.Errorf("validation after epoch %d: %w", stats.Epoch, err)
			}
			stats.Val = &m
		}
		l.epoch++
		l.history.Epochs = append(l.history.Epochs, stats)
		l.log.epochDone(stats)
		if l.cfg.Checkpoint != "" {
			if err := l.saveCheckpoint(); err != nil {
				return &l.history, err
			}
		}
		if l.cfg.OnEpoch != nil {
			if err := l.cfg.OnEpoch(stats); err != nil {
				return &l.history, err
			}
		}
	}
	return &l.history, nil
}

// runEpoch trains one epoch.
func (l *Loop) runEpoch(ctx context.Context) (EpochStats, error) {
	epoch := l.epoch + 1
	stats := EpochStats{Epoch: epoch}
	order := l.sampler.permutation(l.data.Len())
	start := time.Now()
	l.log.epochStarted()
	var lossSum float64
	var correct, seen int
	for s := range l.steps {
		if err := ctx.Err(); err != nil {
			return stats, fmt.Errorf("interrupted in epoch %d at step %d/%d: %w", epoch, s, l.steps, err)
		}
		idx := order[s*l.cfg.Batch : min((s+1)*l.cfg.Batch, len(order))]
		st, ok, err := l.trainStep(ctx, idx)
		if err != nil {
			return stats, fmt.Errorf("epoch %d, step %d/%d: %w", epoch, s+1, l.steps, err)
		}
		lossSum += st.Loss * float64(len(idx))
		correct += ok
		seen += len(idx)
		stats.LR = st.LR
		l.history.Steps = append(l.history.Steps, st)
		l.log.stepDone(epoch, s+1, lossSum/float64(seen), float64(correct)/float64(seen), seen)
	}
	stats.Seconds = time.Since(start).Seconds()
	stats.ImagesPerSecond = float64(seen) / stats.Seconds
	stats.Train = Metrics{Loss: lossSum / float64(seen), Accuracy: float64(correct) / float64(seen)}
	stats.Steps = l.step
	return stats, nil
}

// trainStep runs one optimiser step on the samples idx and returns its
// record and the number of correct predictions.
func (l *Loop) trainStep(ctx context.Context, idx []int) (StepStats, int, error) {
	x, labels := l.sampler.batch(l.data, idx, l.cfg.Flip)
	var teacher *runtime.Tensor
	if l.cfg.Teacher != nil {
		var err error
		if teacher, err = l.cfg.Teacher.Logits(ctx, x); err != nil {
			return StepStats{}, 0, err
		}
	}
	l.net.ZeroGrad()
	out, err := l.net.Forward(ctx, map[string]*runtime.Tensor{l.cfg.Input: x}, true)
	if err != nil {
		return StepStats{}, 0, err
	}
	logits, ok := out[l.cfg.Output]
	if !ok {
		return StepStats{}, 0, fmt.Errorf("the model produced no output %q", l.cfg.Output)
	}
	loss, dLogits, err := l.cfg.Loss.Compute(logits, labels, teacher)
	if err != nil {
		return StepStats{}, 0, err
	}
	if math.IsNaN(loss.Total) || math.IsInf(loss.Total, 0) {
		return StepStats{}, 0, fmt.Errorf("the loss is %v: training diverged (lower the learning rate or clip the gradients)", loss.Total)
	}
	if err := l.net.Backward(ctx, map[string]*runtime.Tensor{l.cfg.Output: dLogits}); err != nil {
		return StepStats{}, 0, err
	}
	if l.cfg.Clip > 0 {
		if _, err := ClipGradNorm(l.opt.Params(), l.cfg.Clip); err != nil {
			return StepStats{}, 0, err
		}
	}
	if ms, ok := l.sched.(MomentumSchedule); ok {
		if m, set := ms.Momentum(l.step); set {
			l.opt.SetMomentum(m)
		}
	}
	lr := l.sched.LR(l.step)
	if err := l.opt.Step(lr); err != nil {
		return StepStats{}, 0, err
	}
	if l.cfg.Project != nil {
		l.cfg.Project()
	}
	l.step++
	if labels == nil {
		labels = predictions(teacher)
	}
	correct := Correct(logits, labels)
	return StepStats{Step: l.step, Loss: loss.Total, Accuracy: float64(correct) / float64(len(idx)), LR: lr}, correct, nil
}

// predictions are the argmax classes of logits [N, K].
func predictions(logits *runtime.Tensor) []int {
	n, k := logits.Shape()[0], logits.Shape()[1]
	x := logits.Float32s()
	out := make([]int, n)
	for i := range out {
		out[i] = Argmax(x[i*k : (i+1)*k])
	}
	return out
}

// Evaluate runs the network in inference mode over the labelled dataset d
// and returns the mean cross-entropy (without label smoothing) and the
// accuracy.
func (l *Loop) Evaluate(ctx context.Context, d *Dataset) (Metrics, error) {
	return Evaluate(ctx, l.net, l.cfg.Input, l.cfg.Output, d, l.cfg.ValBatch)
}

// Evaluate runs net in inference mode over the labelled dataset d, batch
// samples at a time, feeding the input named input and reading the logits
// from the output named output, and returns the mean cross-entropy and the
// accuracy.
func Evaluate(ctx context.Context, net Network, input, output string, d *Dataset, batch int) (Metrics, error) {
	if err := d.Check(); err != nil {
		return Metrics{}, err
	}
	if d.Labels == nil {
		return Metrics{}, errors.New("evaluation needs labels")
	}
	if batch <= 0 {
		batch = 256
	}
	var lossSum float64
	var correct int
	for lo := 0; lo < d.Len(); lo += batch {
		b := d.Slice(lo, min(lo+batch, d.Len()))
		x := runtime.New(b.Shape, b.X)
		out, err := net.Forward(ctx, map[string]*runtime.Tensor{input: x}, false)
		if err != nil {
			return Metrics{}, err
		}
		logits, ok := out[output]
		if !ok {
			return Metrics{}, fmt.Errorf("the model produced no output %q", output)
		}
		loss, _, err := CrossEntropy(logits, b.Labels, 0)
		if err != nil {
			return Metrics{}, err
		}
		lossSum += loss * float64(b.Len())
		correct += Correct(logits, b.Labels)
	}
	n := float64(max(d.Len(), 1))
	return Metrics{Loss: lossSum / n, Accuracy: float64(correct) / n}, nil
}
