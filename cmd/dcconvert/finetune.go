package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/internal/dataset"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

func finetuneCommand(stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "finetune",
		Usage:     "train a model's parameters on labelled images, or distil it from a teacher",
		ArgsUsage: "MODEL -o OUT.onnx --data DATA",
		Description: `Trains MODEL (typically one converted by dcconvert rewrite) on the images of
--data and writes OUT.onnx: the same graph with new initializers.

What trains (--train):
  op   only the bias, alpha, rho and beta initializers of the DecoupledConv
       nodes (their inputs B, Alpha, Rho, Beta); the model must have some.
       BatchNormalization keeps its running statistics (use --freeze-bn=false
       to let training batches update them)
  all  every float initializer; BatchNormalization trains on batch
       statistics and updates its running mean and variance
rho stays positive: after every step it is clamped to at least --rho-min.

Data (--data, --val): a .npy float32 array [N, C, H, W] used as it is, with
--labels/--val-labels a .npy of integers [N]; an IDX file (MNIST style,
raw or .gz) scaled to [0, 1] and normalised with --mean/--std, with an idx1
labels file; or a folder with one subfolder of PNG/JPEG images per class
(labels from the subfolders, sorted by name), converted to the model's
channels and size (--size overrides) and normalised with --mean/--std
(default ImageNet's for RGB).

The loss is softmax cross-entropy against the labels (--label-smoothing).
With --teacher ORIG.onnx the student also learns the teacher's outputs:
T^2 KL(softmax(teacher/T) || softmax(student/T)) at T = --temperature; with
labels the loss is (1 - w) CE + w KD, w = --distill-weight (0.5: equal
weights); without labels, KD alone.

Each epoch visits the samples in an order drawn from --seed (with random
horizontal flips under --flip) in mini-batches of --batch; every step runs
forward, loss, backward, gradient clipping (--clip, by global norm),
the optimiser step (sgd: momentum, --nesterov, L2 --weight-decay, as
torch.optim.SGD; adamw: betas 0.9, 0.999, decoupled --weight-decay, as
torch.optim.AdamW) at the learning rate of --schedule:
  constant   --lr throughout
  cosine     from --lr down to 0 over all steps (CosineAnnealingLR)
  onecycle   from --lr/25 up to --lr over the first --warmup of the steps,
             then down to --lr/25e4 (OneCycleLR; --cycle-momentum cycles
             the momentum between 0.95 and 0.85 as PyTorch's default does)
  step       --lr times --gamma every --step-size epochs (StepLR)
After every epoch the model is evaluated on --val and, with --checkpoint DIR,
saved atomically with the optimiser's state in DIR/epoch-NNNN; --resume
continues from the newest checkpoint in DIR exactly as the uninterrupted
run would have (same flags, same --threads). The same flags, seed and
thread count give the same OUT.onnx bit for bit.

Example (Fashion-MNIST):
  dcconvert finetune cnn9_tanh_cos.onnx -o cnn9_tuned.onnx \
    --data train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \
    --val t10k-images-idx3-ubyte.gz --val-labels t10k-labels-idx1-ubyte.gz \
    --mean 0.2860 --std 0.3530 --flip --train op --epochs 1 --lr 0.01`,
		Flags: finetuneFlags(),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runFinetune(ctx, cmd, stderr)
		},
	}
}

func finetuneFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the trained model to `OUT.onnx`", Required: true},
		&cli.StringFlag{Name: "data", Usage: "training images: .npy, IDX file or class folders (`PATH`)", Required: true},
		&cli.StringFlag{Name: "labels", Usage: "training labels for .npy or IDX data (`FILE`: .npy of integers or idx1)"},
		&cli.StringFlag{Name: "val", Usage: "validation images, evaluated after every epoch (`PATH`)"},
		&cli.StringFlag{Name: "val-labels", Usage: "validation labels (`FILE`)"},
		&cli.IntFlag{Name: "limit", Usage: "train on the first `N` samples only (0: all)"},
		&cli.IntFlag{Name: "val-limit", Usage: "validate on the first `N` samples only (0: all)"},
		&cli.StringFlag{Name: "mean", Usage: "per-channel mean `m1[,m2,m3]` subtracted from images and IDX data scaled to [0, 1]"},
		&cli.StringFlag{Name: "std", Usage: "per-channel standard deviation `s1[,s2,s3]` they are divided by"},
		&cli.StringFlag{Name: "size", Usage: "resize folder images to `H[xW]` (default: the model's input size)"},
		&cli.BoolFlag{Name: "flip", Usage: "flip training images left-right at random (probability 1/2)"},
		&cli.StringFlag{Name: "train", Value: "op", Usage: "what trains: op (DecoupledConv bias, alpha, rho, beta) or all"},
		&cli.BoolFlag{Name: "freeze-bn", Usage: "keep BatchNormalization's running statistics (default: on with --train op, off with all)"},
		&cli.StringFlag{Name: "teacher", Usage: "distil from the model `ORIG.onnx` (its outputs are the targets)"},
		&cli.FloatFlag{Name: "temperature", Value: 4, Usage: "distillation temperature `T`"},
		&cli.FloatFlag{Name: "distill-weight", Value: 0.5, Usage: "weight `W` of the distillation loss when labels are given too: (1-W) CE + W KD"},
		&cli.FloatFlag{Name: "label-smoothing", Usage: "label smoothing `EPS` of the cross-entropy"},
		&cli.IntFlag{Name: "epochs", Value: 1, Usage: "passes over the training data (`N`)"},
		&cli.IntFlag{Name: "batch", Value: 256, Usage: "samples per step (`N`)"},
		&cli.FloatFlag{Name: "lr", Value: 0.01, Usage: "learning rate (peak rate for onecycle)"},
		&cli.StringFlag{Name: "schedule", Value: "cosine", Usage: "learning-rate schedule: constant, cosine, onecycle or step"},
		&cli.FloatFlag{Name: "warmup", Value: 0.15, Usage: "onecycle: fraction `F` of the steps spent rising"},
		&cli.BoolFlag{Name: "cycle-momentum", Usage: "onecycle: cycle the momentum (beta1 for adamw) between 0.95 and 0.85"},
		&cli.IntFlag{Name: "step-size", Value: 1, Usage: "step: epochs between decays (`N`)"},
		&cli.FloatFlag{Name: "gamma", Value: 0.1, Usage: "step: decay factor"},
		&cli.StringFlag{Name: "optimizer", Value: "sgd", Usage: "sgd or adamw"},
		&cli.FloatFlag{Name: "momentum", Value: 0.9, Usage: "sgd momentum"},
		&cli.BoolFlag{Name: "nesterov", Usage: "sgd: Nesterov momentum"},
		&cli.FloatFlag{Name: "weight-decay", Usage: "weight decay (default: 5e-4 for sgd, 0.01 for adamw)"},
		&cli.FloatFlag{Name: "clip", Usage: "clip gradients to a global L2 norm of at most `NORM` (0: no clipping)"},
		&cli.FloatFlag{Name: "rho-min", Value: train.DefaultRhoMin, Usage: "clamp rho to at least `MIN` after every step"},
		&cli.Uint64Flag{Name: "seed", Usage: "seed of the sample order and the flips"},
		&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, HideDefault: true, Usage: "goroutines (`N`; 0: one per CPU); results are reproducible for a given N"},
		&cli.StringFlag{Name: "checkpoint", Usage: "write a checkpoint to `DIR` after every epoch"},
		&cli.IntFlag{Name: "keep-checkpoints", Value: 1, Usage: "checkpoints kept in the directory (`N`, newest first)"},
		&cli.BoolFlag{Name: "resume", Usage: "continue from the newest checkpoint in --checkpoint DIR"},
		&cli.StringFlag{Name: "history", Usage: "write the per-epoch and per-step record as JSON to `FILE`"},
		&cli.BoolFlag{Name: "force", Usage: "allow OUT.onnx to be MODEL (replacing the input)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress"},
	}
}

// finetuneJob is a parsed "dcconvert finetune" command line.
type finetuneJob struct {
	in, out, teacher string
	data, val        dataFlags
	all, freezeBN    bool
	cfg              train.Config
	lr               float64
	schedule         string
	warmup           float64
	cycleMomentum    bool
	stepSize         int
	gamma            float64
	optimizer        string
	sgd              train.SGDConfig
	adamw            train.AdamWConfig
	rhoMin           float32
	threads          int
	resume           bool
	history          string
	force, quiet     bool
	mean, std        []float64
	height, width    int
	externalData     bool
	progress         *progress
	stderr           io.Writer
}

// dataFlags locate a dataset and its labels.
type dataFlags struct {
	path, labels string
	limit        int
}

func parseFinetune(cmd *cli.Command, stderr io.Writer) (*finetuneJob, error) {
	if cmd.Args().Len() != 1 {
		return nil, fmt.Errorf("finetune: want exactly one input model, got %d arguments", cmd.Args().Len())
	}
	job := &finetuneJob{
		in: cmd.Args().First(), out: cmd.String("output"), teacher: cmd.String("teacher"),
		data:     dataFlags{cmd.String("data"), cmd.String("labels"), int(cmd.Int("limit"))},
		val:      dataFlags{cmd.String("val"), cmd.String("val-labels"), int(cmd.Int("val-limit"))},
		lr:       cmd.Float("lr"),
		schedule: cmd.String("schedule"), warmup: cmd.Float("warmup"), cycleMomentum: cmd.Bool("cycle-momentum"),
		stepSize: int(cmd.Int("step-size")), gamma: cmd.Float("gamma"),
		optimizer: cmd.String("optimizer"), threads: int(cmd.Int("threads")),
		resume: cmd.Bool("resume"), history: cmd.String("history"),
		force: cmd.Bool("force"), quiet: cmd.Bool("quiet"), stderr: stderr,
	}
	job.progress = &progress{w: stderr, quiet: job.quiet, start: time.Now()}
	switch cmd.String("train") {
	case "op":
	case "all":
		job.all = true
	default:
		return nil, fmt.Errorf("finetune: --train %q: want op or all", cmd.String("train"))
	}
	job.freezeBN = !job.all
	if cmd.IsSet("freeze-bn") {
		job.freezeBN = cmd.Bool("freeze-bn")
	}
	if err := job.parseNumbers(cmd); err != nil {
		return nil, err
	}
	if err := job.parseOptimizer(cmd); err != nil {
		return nil, err
	}
	var err error
	if job.mean, err = dataset.ParseFloats("mean", cmd.String("mean")); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if job.std, err = dataset.ParseFloats("std", cmd.String("std")); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if s := cmd.String("size"); s != "" {
		if job.height, job.width, err = dataset.ParseSize(s); err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
	}
	if job.val.labels != "" && job.val.path == "" {
		return nil, errors.New("finetune: --val-labels needs --val")
	}
	if job.resume && job.cfg.Checkpoint == "" {
		return nil, errors.New("finetune: --resume needs --checkpoint DIR (the directory the checkpoints were written to)")
	}
	return job, nil
}

// parseNumbers reads and checks the loop's numeric flags.
func (job *finetuneJob) parseNumbers(cmd *cli.Command) error {
	c := &job.cfg
	c.Epochs, c.Batch, c.Seed, c.Flip = int(cmd.Int("epochs")), int(cmd.Int("batch")), cmd.Uint64("seed"), cmd.Bool("flip")
	c.Clip, c.Checkpoint, c.Keep = cmd.Float("clip"), cmd.String("checkpoint"), int(cmd.Int("keep-checkpoints"))
	c.Loss = train.Loss{Smoothing: cmd.Float("label-smoothing"), Temperature: cmd.Float("temperature"), DistillWeight: cmd.Float("distill-weight")}
	checks := []struct {
		ok   bool
		what string
	}{
		{c.Epochs > 0, fmt.Sprintf("--epochs %d: must be positive", c.Epochs)},
		{c.Batch > 0, fmt.Sprintf("--batch %d: must be positive", c.Batch)},
		{job.lr > 0 && !math.IsInf(job.lr, 0), fmt.Sprintf("--lr %v: must be positive", job.lr)},
		{c.Clip >= 0, fmt.Sprintf("--clip %v: must be ≥ 0", c.Clip)},
		{c.Keep > 0, fmt.Sprintf("--keep-checkpoints %d: must be positive", c.Keep)},
		{c.Loss.Smoothing >= 0 && c.Loss.Smoothing <= 1, fmt.Sprintf("--label-smoothing %v: must be in [0, 1]", c.Loss.Smoothing)},
		{c.Loss.Temperature > 0 && !math.IsInf(c.Loss.Temperature, 0), fmt.Sprintf("--temperature %v: must be positive", c.Loss.Temperature)},
		{c.Loss.DistillWeight >= 0 && c.Loss.DistillWeight <= 1, fmt.Sprintf("--distill-weight %v: must be in [0, 1]", c.Loss.DistillWeight)},
		{job.warmup > 0 && job.warmup < 1, fmt.Sprintf("--warmup %v: must be in (0, 1)", job.warmup)},
		{job.stepSize > 0, fmt.Sprintf("--step-size %d: must be positive", job.stepSize)},
		{job.gamma > 0, fmt.Sprintf("--gamma %v: must be positive", job.gamma)},
		{job.threads >= 0, fmt.Sprintf("--threads %d: must be ≥ 0", job.threads)},
		{job.data.limit >= 0 && job.val.limit >= 0, "--limit and --val-limit must be ≥ 0"},
		{cmd.Float("rho-min") > 0, fmt.Sprintf("--rho-min %v: must be positive", cmd.Float("rho-min"))},
	}
	for _, ch := range checks {
		if !ch.ok {
			return errors.New("finetune: " + ch.what)
		}
	}
	job.rhoMin = float32(cmd.Float("rho-min"))
	switch job.schedule {
	case "constant", "cosine", "onecycle", "step":
	default:
		return fmt.Errorf("finetune: --schedule %q: want constant, cosine, onecycle or step", job.schedule)
	}
	return nil
}

// parseOptimizer reads the optimiser's flags.
func (job *finetuneJob) parseOptimizer(cmd *cli.Command) error {
	wd := cmd.Float("weight-decay")
	if !(wd >= 0) || math.IsInf(wd, 0) {
		return fmt.Errorf("finetune: --weight-decay %v: must be ≥ 0", wd)
	}
	switch job.optimizer {
	case "sgd":
		if !cmd.IsSet("weight-decay") {
			wd = 5e-4
		}
		job.sgd = train.SGDConfig{Momentum: cmd.Float("momentum"), Nesterov: cmd.Bool("nesterov"), WeightDecay: wd}
		if job.sgd.Momentum < 0 || job.sgd.Momentum >= 1 {
			return fmt.Errorf("finetune: --momentum %v: must be in [0, 1)", job.sgd.Momentum)
		}
		if job.sgd.Nesterov && job.sgd.Momentum == 0 {
			return errors.New("finetune: --nesterov needs a positive --momentum")
		}
	case "adamw":
		job.adamw = train.DefaultAdamW()
		if cmd.IsSet("weight-decay") {
			job.adamw.WeightDecay = wd
		}
		for _, f := range []string{"momentum", "nesterov"} {
			if cmd.IsSet(f) {
				return fmt.Errorf("finetune: --%s is an SGD flag; adamw uses betas 0.9, 0.999", f)
			}
		}
	default:
		return fmt.Errorf("finetune: --optimizer %q: want sgd or adamw", job.optimizer)
	}
	return nil
}

func runFinetune(ctx context.Context, cmd *cli.Command, stderr io.Writer) error {
	job, err := parseFinetune(cmd, stderr)
	if err != nil {
		return err
	}
	if err := job.checkPaths(); err != nil {
		return err
	}
	job.progress.printf("reading %s", job.in)
	m, external, err := loadModel(job.in)
	if err != nil {
		return err
	}
	job.externalData = external
	var ck *train.Checkpoint
	if job.resume {
		if ck, err = job.loadCheckpoint(m); err != nil {
			return err
		}
	}
	trainData, valData, err := job.loadData(m)
	if err != nil {
		return err
	}
	start := m
	if ck != nil {
		start = ck.Model
	}
	tr, project, err := job.newTrainer(start)
	if err != nil {
		return err
	}
	loop, err := job.newLoop(tr, project, trainData, valData)
	if err != nil {
		return err
	}
	if ck != nil {
		if err := loop.Restore(ck); err != nil {
			return fmt.Errorf("finetune: --resume: %w", err)
		}
		job.progress.printf("resuming after epoch %d of %d", ck.Epoch, job.cfg.Epochs)
	}
	history, err := loop.Run(ctx)
	if err != nil {
		if ctx.Err() != nil && job.cfg.Checkpoint != "" && loop.Epoch() > 0 {
			return fmt.Errorf("finetune: %w (the checkpoint in %s holds epoch %d; continue with --resume)", err, job.cfg.Checkpoint, loop.Epoch())
		}
		return fmt.Errorf("finetune: %w", err)
	}
	if err := job.writeResults(cmd.Root().Writer, tr, history); err != nil {
		return err
	}
	job.progress.printf("done")
	return nil
}

// checkPaths refuses to replace the input model unless --force is given.
func (job *finetuneJob) checkPaths() error {
	if job.force {
		return nil
	}
	inInfo, err := os.Stat(job.in)
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	same := filepath.Clean(job.in) == filepath.Clean(job.out)
	if outInfo, err := os.Stat(job.out); err == nil && os.SameFile(inInfo, outInfo) {
		same = true
	}
	if same {
		return fmt.Errorf("finetune: the output %s is the input model; pass --force to replace it", job.out)
	}
	return nil
}

// loadCheckpoint reads the newest checkpoint and checks it belongs to m.
func (job *finetuneJob) loadCheckpoint(m *onnx.ModelProto) (*train.Checkpoint, error) {
	ck, err := train.LoadCheckpoint(job.cfg.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("finetune: --resume: %w", err)
	}
	a, b := m.GetGraph().GetNode(), ck.Model.GetGraph().GetNode()
	same := len(a) == len(b)
	for i := 0; same && i < len(a); i++ {
		same = proto.Equal(a[i], b[i])
	}
	if !same {
		return nil, fmt.Errorf("finetune: --resume: the checkpoint in %s is of another model than %s", ck.Dir, job.in)
	}
	return ck, nil
}

// loadData reads the training and validation sets.
func (job *finetuneJob) loadData(m *onnx.ModelProto) (*train.Dataset, *train.Dataset, error) {
	shape := dataInputShape(m)
	job.progress.printf("reading training data from %s", job.data.path)
	tr, err := job.readDataset("--data", job.data, shape)
	if err != nil {
		return nil, nil, err
	}
	if tr.Labels == nil && job.teacher == "" {
		return nil, nil, fmt.Errorf("finetune: %s has no labels: give --labels (or class subfolders), or --teacher to distil", job.data.path)
	}
	if job.val.path == "" {
		return tr, nil, nil
	}
	job.progress.printf("reading validation data from %s", job.val.path)
	val, err := job.readDataset("--val", job.val, shape)
	if err != nil {
		return nil, nil, err
	}
	if val.Labels == nil {
		return nil, nil, fmt.Errorf("finetune: --val %s has no labels: give --val-labels (or class subfolders)", job.val.path)
	}
	return tr, val, nil
}

// readDataset loads one dataset for a model input of the declared shape
// (-1 for unknown dimensions, nil if unknown): folders of images take its
// channels and size, and ImageNet's statistics for RGB.
func (job *finetuneJob) readDataset(flag string, df dataFlags, shape []int) (*train.Dataset, error) {
	opts := dataset.Options{Labels: df.labels, Limit: df.limit, Mean: job.mean, Std: job.std}
	info, err := os.Stat(df.path)
	if err != nil {
		return nil, fmt.Errorf("finetune: %s: %w", flag, err)
	}
	folder := info.IsDir() || isImagePath(df.path)
	if folder {
		if len(shape) == 4 && (shape[1] == 1 || shape[1] == 3) {
			opts.Channels = shape[1]
		}
		if len(shape) == 4 && shape[2] > 0 && shape[3] > 0 {
			opts.Height, opts.Width = shape[2], shape[3]
		}
		if opts.Channels == 0 {
			opts.Channels = 3
		}
		if opts.Channels == 3 && opts.Mean == nil && opts.Std == nil {
			opts.Mean, opts.Std = imageNetMean, imageNetStd
		}
		if job.height > 0 {
			opts.Height, opts.Width = job.height, job.width
		}
	}
	b, err := dataset.Load(df.path, opts)
	if err != nil {
		return nil, fmt.Errorf("finetune: %s: %w", flag, err)
	}
	if b.Len() == 0 {
		return nil, fmt.Errorf("finetune: %s: %s holds no sample", flag, df.path)
	}
	if err := checkSampleShape(shape, b.Shape); err != nil {
		return nil, fmt.Errorf("finetune: %s %s: %w", flag, df.path, err)
	}
	return &train.Dataset{X: b.Data, Shape: b.Shape, Labels: b.Labels}, nil
}

// checkSampleShape compares the samples [N, ...] with the model input's
// declared shape.
func checkSampleShape(model, data []int) error {
	if model == nil {
		return nil
	}
	if len(model) != len(data) {
		return fmt.Errorf("samples of shape %v do not fit the model's input of rank %d", data[1:], len(model))
	}
	for i := 1; i < len(model); i++ {
		if model[i] > 0 && model[i] != data[i] {
			return fmt.Errorf("samples of shape %v do not fit the model's input %v", data[1:], model[1:])
		}
	}
	return nil
}

// newTrainer plans m for training with the chosen parameters and returns
// the ρ projection.
func (job *finetuneJob) newTrainer(m *onnx.ModelProto) (*runtime.Trainer, func(), error) {
	var opPar map[string]bool
	if !job.all {
		var err error
		if opPar, err = train.OperatorParams(m); err != nil {
			return nil, nil, fmt.Errorf("finetune: --train op: %s: %w (convert it with dcconvert rewrite first, or use --train all)", job.in, err)
		}
	}
	opts := []runtime.TrainerOption{
		runtime.WithTrainerRegistry(decop.NewRegistry()),
		runtime.WithTrainerThreads(job.threads),
		runtime.WithFrozenBatchNorm(job.freezeBN),
		runtime.WithSessionOptions(runtime.WithBaseDir(filepath.Dir(job.in))),
	}
	if opPar != nil {
		opts = append(opts, runtime.WithTrainable(func(name string, _ []runtime.ParamUse) bool { return opPar[name] }))
	}
	tr, err := runtime.NewTrainer(m, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("finetune: %s: %w", job.in, err)
	}
	n, count := 0, 0
	for _, p := range tr.Params() {
		if p.Trainable {
			n++
			count += p.Value.Len()
		}
	}
	job.progress.printf("training %d parameter tensors (%d values)%s", n, count, map[bool]string{true: ", BatchNormalization statistics frozen", false: ""}[job.freezeBN])
	return tr, train.ProjectRho(tr.Params(), train.RhoParams(m), job.rhoMin), nil
}

// newLoop builds the optimiser, the schedule, the teacher and the loop.
func (job *finetuneJob) newLoop(tr *runtime.Trainer, project func(), data, val *train.Dataset) (*train.Loop, error) {
	var opt train.Optimizer
	var err error
	if job.optimizer == "sgd" {
		opt, err = train.NewSGD(tr.Params(), job.sgd)
	} else {
		opt, err = train.NewAdamW(tr.Params(), job.adamw)
	}
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	cfg := job.cfg
	cfg.Val, cfg.Project, cfg.Threads = val, project, tr.Threads()
	if !job.quiet {
		cfg.Progress = job.stderr
	}
	if job.teacher != "" {
		job.progress.printf("reading the teacher %s", job.teacher)
		s, err := runtime.NewSession(job.teacher, runtime.WithRegistry(decop.NewRegistry()), runtime.WithThreads(job.threads))
		if err != nil {
			return nil, fmt.Errorf("finetune: --teacher: %w", err)
		}
		cfg.Teacher = &train.SessionTeacher{Session: s}
	}
	steps := train.StepsPerEpoch(data.Len(), cfg.Batch)
	sched, err := job.newSchedule(steps*cfg.Epochs, steps)
	if err != nil {
		return nil, err
	}
	job.progress.printf("%d epochs of %d steps of %d samples on %d threads", cfg.Epochs, steps, cfg.Batch, tr.Threads())
	loop, err := train.NewLoop(tr, opt, sched, data, cfg)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	return loop, nil
}

// newSchedule returns the --schedule over total steps of which steps make
// an epoch.
func (job *finetuneJob) newSchedule(total, steps int) (train.Schedule, error) {
	switch job.schedule {
	case "constant":
		return train.Constant{Base: job.lr}, nil
	case "cosine":
		return train.Cosine{Base: job.lr, Steps: total}, nil
	case "step":
		return train.StepDecay{Base: job.lr, StepSize: job.stepSize * steps, Gamma: job.gamma}, nil
	}
	s := train.NewOneCycle(job.lr, total, job.warmup)
	s.CycleMomentum = job.cycleMomentum
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	return s, nil
}

// writeResults saves the trained model, the history and prints the epoch
// table.
func (job *finetuneJob) writeResults(stdout io.Writer, tr *runtime.Trainer, h *train.History) error {
	m, err := tr.Model()
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	var opts []onnx.SaveOption
	if job.externalData {
		opts = append(opts, onnx.WithExternalData(filepath.Base(job.out)+".data", 1024))
	}
	job.progress.printf("saving %s", job.out)
	if err := onnx.SaveFile(job.out, m, opts...); err != nil {
		return err
	}
	if job.history != "" {
		data, err := json.MarshalIndent(h, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(job.history, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("finetune: --history: %w", err)
		}
	}
	fmt.Fprintln(stdout, "epoch  train loss  train acc  val loss  val acc  img/s")
	for _, e := range h.Epochs {
		val := "       -        -"
		if e.Val != nil {
			val = fmt.Sprintf("%8.4f  %6.2f%%", e.Val.Loss, 100*e.Val.Accuracy)
		}
		fmt.Fprintf(stdout, "%5d  %10.4f  %8.2f%%  %s  %5.0f\n", e.Epoch, e.Train.Loss, 100*e.Train.Accuracy, val, e.ImagesPerSecond)
	}
	return nil
}
