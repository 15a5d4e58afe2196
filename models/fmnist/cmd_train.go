package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

// trainResult is results/train_NAME.json.
type trainResult struct {
	Name         string             `json:"name"`
	Op           string             `json:"op"` // "standard" or MAG:ANG[ weighted]
	Model        string             `json:"model,omitempty"`
	Recipe       recipe             `json:"recipe"`
	Samples      int                `json:"samples"`
	TestAccuracy float64            `json:"test_accuracy"` // of the exported model, on t10k
	Seconds      float64            `json:"seconds"`
	Epochs       []train.EpochStats `json:"epochs"`
	StepLoss     []float64          `json:"step_loss"`
	Date         string             `json:"date"`
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", stderr)
	var c commonFlags
	c.register(fs)
	r := anchorsRecipe()
	op := fs.String("op", "", "decoupled operator MAG:ANG for every convolution (default: standard Conv)")
	weighted := fs.Bool("weighted", false, "with --op: a weighted operator (h takes ‖w‖·‖x‖)")
	fs.IntVar(&r.Epochs, "epochs", r.Epochs, "epochs")
	fs.IntVar(&r.Batch, "batch", r.Batch, "batch size")
	fs.Float64Var(&r.LR, "lr", r.LR, "peak learning rate of the one-cycle schedule")
	fs.Float64Var(&r.Warmup, "warmup", r.Warmup, "fraction of the steps the learning rate rises")
	fs.BoolVar(&r.CycleMomentum, "cycle-momentum", r.CycleMomentum, "cycle the momentum 0.95 → 0.85 → 0.95 (torch OneCycleLR's default)")
	fs.Float64Var(&r.WeightDecay, "wd", r.WeightDecay, "weight decay")
	fs.BoolVar(&r.Flip, "flip", r.Flip, "random horizontal flips")
	limit := fs.Int("limit", 0, "train on the first N training images (0: all 60,000)")
	testLimit := fs.Int("test-limit", 0, "evaluate on the first N test images (0: all 10,000)")
	out := fs.String("out", "", "model file (default: DIR/zoo/cnn9_go.onnx, or cnn9_go_scratch_MAG_ANG.onnx)")
	checkpoint := fs.String("checkpoint", "", "checkpoint directory (written after every epoch)")
	resume := fs.Bool("resume", false, "continue from the newest checkpoint in --checkpoint")
	noReport := fs.Bool("no-report", false, "do not update the plot and the README table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r.Seed, r.Threads = c.seed, c.threads
	opts := cnn9Options{Seed: c.seed}
	name := "standard"
	if *op != "" {
		o, err := convert.ParseOperator(*op)
		if err != nil {
			return err
		}
		o.Weighted = *weighted
		opts.Op = &o
		name = "scratch_" + strings.ReplaceAll(*op, ":", "_")
		if *weighted {
			name += "_weighted"
		}
	}
	if *out == "" {
		file := "cnn9_go.onnx"
		if opts.Op != nil {
			file = "cnn9_go_" + name + ".onnx"
		}
		*out = filepath.Join(c.dir, "zoo", file)
	}
	if *resume && *checkpoint == "" {
		return errors.New("--resume needs --checkpoint")
	}
	res, err := trainFromScratch(ctx, c, r, opts, *limit, *testLimit, *checkpoint, *resume, stderr)
	if err != nil {
		return err
	}
	res.Name, res.Model = name, relPath(c.dir, *out)
	fmt.Fprintf(stdout, "CNN9 %s: test accuracy %.2f%% after %d epochs (%.0f s)\n", res.Op, 100*res.TestAccuracy, r.Epochs, res.Seconds)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := onnx.SaveFile(*out, res.model); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(c.dir, "results", "train_"+name+".json"), res.trainResult); err != nil {
		return err
	}
	if *noReport {
		return nil
	}
	return report(c.dir, stderr)
}

// trainedModel is a trainResult with its model.
type trainedModel struct {
	trainResult
	model *onnx.ModelProto
}

// trainFromScratch builds CNN9 and trains it with r on the first limit
// training images, reporting the accuracy on the first testLimit test
// images.
func trainFromScratch(ctx context.Context, c commonFlags, r recipe, opts cnn9Options, limit, testLimit int, checkpoint string, resume bool, log io.Writer) (*trainedModel, error) {
	data, err := loadSplit(c.data, "train", limit)
	if err != nil {
		return nil, err
	}
	test, err := loadSplit(c.data, "t10k", testLimit)
	if err != nil {
		return nil, err
	}
	m := buildCNN9(opts)
	var fixed map[string]bool
	if opts.Op != nil {
		fixed = fixedParams(m)
		if err := measurePatchNorms(ctx, m, data.Slice(0, min(512, data.Len())), *opts.Op, c.threads); err != nil {
			return nil, fmt.Errorf("measuring patch norms: %w", err)
		}
	}
	fmt.Fprintf(log, "training CNN9 (%s) on %d images, testing on %d: %d epochs, batch %d\n", opName(opts.Op), data.Len(), test.Len(), r.Epochs, r.Batch)
	res, err := fit(ctx, m, data, test, fitOptions{
		recipe: r, trainable: func(name string) bool { return !fixed[name] },
		checkpoint: checkpoint, resume: resume, progress: log,
	})
	if err != nil {
		return nil, err
	}
	acc, err := testAccuracy(ctx, res.model, test, c.threads)
	if err != nil {
		return nil, err
	}
	r.Threads = res.threads
	return &trainedModel{
		trainResult: trainResult{
			Op: opName(opts.Op), Recipe: r, Samples: data.Len(), TestAccuracy: acc, Seconds: res.seconds,
			Epochs: res.history.Epochs, StepLoss: stepLosses(res.history), Date: time.Now().UTC().Format(time.RFC3339),
		},
		model: res.model,
	}, nil
}

func opName(op *convert.Operator) string {
	if op == nil {
		return "standard"
	}
	return op.String()
}

// relPath is path relative to dir when it lies inside it.
func relPath(dir, path string) string {
	if r, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// measurePatchNorms sets every decoupled layer's ρ scale (rho_scale) to
// the mean norm of its input patches on the images x, measured with
// batch-statistics forwards of the initial network: twice, since a layer's
// input depends on the scales before it. For a weighted operator the
// scale is per channel, times the filter norm.
func measurePatchNorms(ctx context.Context, m *onnx.ModelProto, x *train.Dataset, op convert.Operator, threads int) error {
	if !usesRho(op.Magnitude) {
		return nil
	}
	for range 2 {
		layers, probe := probeModel(m)
		tr, err := runtime.NewTrainer(probe, runtime.WithTrainerRegistry(newRegistry()), runtime.WithTrainerThreads(threads))
		if err != nil {
			return err
		}
		out, err := tr.Forward(ctx, map[string]*runtime.Tensor{"input": runtime.New(x.Shape, x.X)}, true)
		if err != nil {
			return err
		}
		for _, l := range layers {
			mean := meanPatchNorm(out[l.input], float64(op.Eps))
			if err := setRhoScale(m, l, mean, op.Weighted, float64(op.Eps)); err != nil {
				return err
			}
		}
	}
	return nil
}

// probeLayer is a decoupled layer: its node, input and weight names.
type probeLayer struct {
	node, input, weight string
}

// probeModel returns the decoupled layers of m and a copy of m whose
// graph also outputs each layer's input.
func probeModel(m *onnx.ModelProto) ([]probeLayer, *onnx.ModelProto) {
	probe := cloneModel(m)
	var layers []probeLayer
	seen := map[string]bool{"logits": true}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() != "DecoupledConv" {
			continue
		}
		l := probeLayer{node: n.GetName(), input: n.GetInput()[0], weight: n.GetInput()[1]}
		layers = append(layers, l)
		if !seen[l.input] {
			seen[l.input] = true
			probe.Graph.Output = append(probe.Graph.Output, onnx.ValueInfo(l.input, onnx.TensorProto_FLOAT, "N", "", "", ""))
		}
	}
	return layers, probe
}

// meanPatchNorm is the mean over images and positions of sqrt(Σ x² + eps)
// over the 3×3 patches (zero padding 1) of x: [N, C, H, W].
func meanPatchNorm(x *runtime.Tensor, eps float64) float64 {
	s := x.Shape()
	n, c, h, w := s[0], s[1], s[2], s[3]
	v := x.Float32s()
	sq := make([]float64, h*w)
	var total float64
	for i := range n {
		clear(sq)
		for ch := range c {
			plane := v[(i*c+ch)*h*w : (i*c+ch+1)*h*w]
			for j, a := range plane {
				sq[j] += float64(a) * float64(a)
			}
		}
		for y := range h {
			for xx := range w {
				var sum float64
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						if yy, xc := y+dy, xx+dx; yy >= 0 && yy < h && xc >= 0 && xc < w {
							sum += sq[yy*w+xc]
						}
					}
				}
				total += math.Sqrt(sum + eps)
			}
		}
	}
	return total / float64(n*h*w)
}

// setRhoScale writes a layer's rho_scale: the mean patch norm, times each
// filter's norm for a weighted operator.
func setRhoScale(m *onnx.ModelProto, l probeLayer, mean float64, weighted bool, eps float64) error {
	inits := m.GetGraph().GetInitializer()
	var w []float32
	var wShape []int
	for _, t := range inits {
		if t.GetName() == l.weight {
			var err error
			if w, wShape, err = onnx.Float32s(t, ""); err != nil {
				return err
			}
		}
	}
	name := l.node + ".rho_scale"
	var value *runtime.Tensor
	if weighted {
		mOut := wShape[0]
		per := len(w) / mOut
		scale := make([]float32, mOut)
		for i := range scale {
			var ss float64
			for _, a := range w[i*per : (i+1)*per] {
				ss += float64(a) * float64(a)
			}
			scale[i] = float32(math.Sqrt(ss+eps) * mean)
		}
		value = runtime.New([]int{mOut}, scale)
	} else {
		value = runtime.New([]int{}, []float32{float32(mean)})
	}
	for i, t := range inits {
		if t.GetName() == name {
			tp, err := value.ToProto(name)
			if err != nil {
				return err
			}
			inits[i] = tp
			return nil
		}
	}
	return fmt.Errorf("layer %s has no initializer %s", l.node, name)
}
