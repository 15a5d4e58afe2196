package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/internal/dataset"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

func rewriteCommand(stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "rewrite",
		Usage:     "replace the Conv layers of a model by DecoupledConv layers",
		ArgsUsage: "IN.onnx -o OUT.onnx --op MAG:ANG",
		Description: `Reads IN.onnx, replaces its 2-D Conv nodes (every one by default, or those
chosen by --layers, --skip-first, --skip-last, --exclude-depthwise) by
ai.dcnet DecoupledConv nodes with the operator given by --op, and writes
OUT.onnx atomically. Everything else is kept: other nodes and their names,
initializers, graph inputs and outputs, metadata and doc strings. Each
rewritten layer gets parameter initializers of its own (NAME.alpha, and a
zero NAME.bias when the Conv had no bias). Conv nodes that cannot be
rewritten (1-D, 3-D, weights that are not FLOAT constants) are skipped with
a warning that names them.

--op identity (linear magnitude, cos angular, weighted, alpha = 1) needs no
data: the rewritten model computes the same outputs as the original (within
float32 rounding). Other operators (MAG:ANG, magnitude one of sphere, ball,
tanh, linear, seg, log, mix; angular one of cos, linear, sigmoid, sqcos)
are weighted (h takes |w|·|x|; --unweighted: |x|) and need calibration
data, --calib, to set their parameters. Layer by layer, in topological
order and on the converted network's own activations:
  rho    = |w_m| × the --rho-percentile percentile of the layer's input
           patch norms (without |w_m| when unweighted), for ball, tanh, seg
  alpha, bias (and beta for seg, mix) per output channel by least squares
           against the original Conv's output on the same inputs
A table of the layers (weight shape, rho and alpha ranges, relative error
|Y - Y0| / |Y0| of the fitted layer) is printed on standard output.

--calib reads the first --calib-samples samples of:
  FILE.npy   float32 [N, C, H, W], already preprocessed (used as it is)
  IDX file   MNIST-style images [N, H, W] of bytes, raw or .gz: scaled to
             [0, 1], then (x - mean) / std with --mean and --std
  DIR        PNG/JPEG images (in sorted path order, class subfolders
             allowed), converted to the model's channel count, resized to
             --size (default: the model's input size), scaled to [0, 1]
             and normalised with --mean/--std (default: ImageNet's for RGB,
             none for gray); with class subfolders, the first samples come
             from the first classes

--format chooses how the layers are written:
  custom     DecoupledConv nodes (default); needs a runtime that has the
             operator, such as dcrun
  functions  DecoupledConv nodes plus one model-local function per distinct
             configuration, written with standard operators (told apart by
             ONNX's overload field); dcrun still uses its fused kernel, ONNX
             Runtime runs the function bodies; raises the IR version to 8
  expanded   standard ONNX operators inline, for any runtime (filter norms
             precomputed)

OUT.onnx may already exist and is replaced; it may not be IN.onnx unless
--force is given. A model whose weights are in an external data file is
written with its data in OUT.onnx.data.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the converted model to `OUT.onnx`", Required: true},
			&cli.StringFlag{Name: "op", Usage: "the decoupled operator: identity, or `MAG:ANG` (needs --calib)", Required: true},
			&cli.StringFlag{Name: "calib", Usage: "calibration data: a .npy array, an IDX file or a folder of images (`PATH`)"},
			&cli.IntFlag{Name: "calib-samples", Value: 2000, Usage: "calibrate on the first `N` samples"},
			&cli.FloatFlag{Name: "rho-percentile", Value: convert.DefaultRhoPercentile, Usage: "set rho at the `P` quantile (0 < P <= 1) of the patch norms"},
			&cli.BoolFlag{Name: "unweighted", Usage: "write an unweighted operator (h takes |x| instead of |w|·|x|)"},
			&cli.StringFlag{Name: "mean", Usage: "per-channel mean `m1[,m2,m3]` subtracted from images and IDX data scaled to [0, 1]"},
			&cli.StringFlag{Name: "std", Usage: "per-channel standard deviation `s1[,s2,s3]` images and IDX data are divided by after the mean"},
			&cli.StringFlag{Name: "size", Usage: "resize calibration images to `H[xW]` (default: the model's input size)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, HideDefault: true, Usage: "goroutines for calibration (`N`; 0: one per CPU)"},
			&cli.StringFlag{Name: "format", Value: "custom", Usage: "output form: custom, functions or expanded"},
			&cli.StringFlag{Name: "layers", Usage: "rewrite only Conv nodes whose name matches `REGEX` (Go syntax, unanchored)"},
			&cli.BoolFlag{Name: "skip-first", Usage: "keep the graph's first Conv (in node order)"},
			&cli.BoolFlag{Name: "skip-last", Usage: "keep the graph's last Conv (in node order)"},
			&cli.BoolFlag{Name: "exclude-depthwise", Usage: "keep depthwise convolutions (one input channel per group)"},
			&cli.BoolFlag{Name: "force", Usage: "allow OUT.onnx to be IN.onnx (replacing the input)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress (warnings are still printed)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runRewrite(ctx, cmd, stderr)
		},
	}
}

// rewriteJob is a parsed "dcconvert rewrite" command line.
type rewriteJob struct {
	in, out string
	opts    convert.Options
	form    convert.Form
	force   bool
	log     *progress
	calib   *calibJob // nil for the identity operator
}

// calibJob holds the calibration flags.
type calibJob struct {
	path          string
	data          dataset.Options
	opts          convert.CalibrateOptions
	height, width int // --size, 0 when not given
}

func parseRewrite(cmd *cli.Command, stderr io.Writer) (*rewriteJob, error) {
	if cmd.Args().Len() != 1 {
		return nil, fmt.Errorf("rewrite: want exactly one input model, got %d arguments", cmd.Args().Len())
	}
	job := &rewriteJob{in: cmd.Args().First(), out: cmd.String("output"), force: cmd.Bool("force")}
	job.log = &progress{w: stderr, quiet: cmd.Bool("quiet"), start: time.Now()}
	op, err := convert.ParseOperator(cmd.String("op"))
	if err != nil {
		return nil, fmt.Errorf("rewrite: --op: %w", err)
	}
	if cmd.String("op") == "identity" {
		for _, flag := range []string{"calib", "unweighted"} {
			if cmd.IsSet(flag) {
				return nil, fmt.Errorf("rewrite: --op identity converts exactly and takes no --%s", flag)
			}
		}
	} else {
		if job.calib, err = parseCalib(cmd); err != nil {
			return nil, err
		}
		op.Weighted = !cmd.Bool("unweighted")
	}
	job.opts.Operator = op
	if job.form, err = convert.ParseForm(cmd.String("format")); err != nil {
		return nil, fmt.Errorf("rewrite: --format: %w", err)
	}
	if s := cmd.String("layers"); s != "" {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("rewrite: --layers: %w", err)
		}
		job.opts.Selection.Layers = re
	}
	job.opts.Selection.SkipFirst = cmd.Bool("skip-first")
	job.opts.Selection.SkipLast = cmd.Bool("skip-last")
	job.opts.Selection.ExcludeDepthwise = cmd.Bool("exclude-depthwise")
	return job, nil
}

// parseCalib reads the calibration flags; --calib is required.
func parseCalib(cmd *cli.Command) (*calibJob, error) {
	op := cmd.String("op")
	c := &calibJob{path: cmd.String("calib")}
	if c.path == "" {
		return nil, fmt.Errorf("rewrite: --op %s needs calibration data to set its parameters: give --calib FILE|DIR (a .npy array, an IDX file or a folder of images); only --op identity converts exactly without data", op)
	}
	samples := cmd.Int("calib-samples")
	if samples <= 0 {
		return nil, fmt.Errorf("rewrite: --calib-samples %d: must be positive", samples)
	}
	threads := cmd.Int("threads")
	if threads < 0 {
		return nil, fmt.Errorf("rewrite: --threads %d: must be ≥ 0", threads)
	}
	p := cmd.Float("rho-percentile")
	if !(p > 0 && p <= 1) {
		return nil, fmt.Errorf("rewrite: --rho-percentile %g: must be in (0, 1], such as 0.9", p)
	}
	c.opts = convert.CalibrateOptions{Samples: int(samples), RhoPercentile: p, Threads: int(threads)}
	c.data.Limit = int(samples)
	var err error
	if c.data.Mean, err = dataset.ParseFloats("mean", cmd.String("mean")); err != nil {
		return nil, fmt.Errorf("rewrite: %w", err)
	}
	if c.data.Std, err = dataset.ParseFloats("std", cmd.String("std")); err != nil {
		return nil, fmt.Errorf("rewrite: %w", err)
	}
	if s := cmd.String("size"); s != "" {
		if c.height, c.width, err = dataset.ParseSize(s); err != nil {
			return nil, fmt.Errorf("rewrite: %w", err)
		}
	}
	return c, nil
}

// loadCalibration reads the calibration samples for the model's data
// input. Images (a folder or an image file) get the input's channel count
// and its size unless --size says otherwise, and ImageNet's mean and std
// when they are RGB and neither is given; .npy and IDX data keep their own
// size and channels.
func (c *calibJob) loadCalibration(m *onnx.ModelProto) (*runtime.Tensor, error) {
	opts := c.data
	info, err := os.Stat(c.path)
	if err != nil {
		return nil, fmt.Errorf("rewrite: --calib: %w", err)
	}
	if info.IsDir() || isImagePath(c.path) {
		if shape := dataInputShape(m); len(shape) == 4 {
			if shape[1] == 1 || shape[1] == 3 {
				opts.Channels = shape[1]
			}
			if shape[2] > 0 && shape[3] > 0 {
				opts.Height, opts.Width = shape[2], shape[3]
			}
		}
		if opts.Channels == 0 {
			opts.Channels = 3
		}
		if opts.Channels == 3 && opts.Mean == nil && opts.Std == nil {
			opts.Mean, opts.Std = imageNetMean, imageNetStd
		}
	}
	if c.height > 0 {
		opts.Height, opts.Width = c.height, c.width
	}
	b, err := dataset.Load(c.path, opts)
	if err != nil {
		return nil, fmt.Errorf("rewrite: --calib: %w", err)
	}
	if b.Len() == 0 {
		return nil, fmt.Errorf("rewrite: --calib: %s holds no sample", c.path)
	}
	return runtime.New(b.Shape, b.Data), nil
}

// ImageNet's per-channel RGB statistics, the default normalisation of RGB
// calibration images (as in dcrun infer).
var (
	imageNetMean = []float64{0.485, 0.456, 0.406}
	imageNetStd  = []float64{0.229, 0.224, 0.225}
)

// isImagePath reports whether a file is read as an image (by extension).
func isImagePath(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// dataInputShape returns the declared dimensions of the model's only graph
// input that is not an initializer (-1 for unknown ones), or nil.
func dataInputShape(m *onnx.ModelProto) []int {
	inits := map[string]bool{}
	for _, t := range m.GetGraph().GetInitializer() {
		inits[t.GetName()] = true
	}
	var found *onnx.ValueInfoProto
	for _, v := range m.GetGraph().GetInput() {
		if !inits[v.GetName()] {
			if found != nil {
				return nil
			}
			found = v
		}
	}
	if found == nil {
		return nil
	}
	dims := found.GetType().GetTensorType().GetShape().GetDim()
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = -1
		if d.GetDimParam() == "" && d.GetDimValue() > 0 && d.GetDimValue() < 1<<31 {
			shape[i] = int(d.GetDimValue())
		}
	}
	return shape
}

// calibrate sets the rewritten layers' parameters from the calibration
// data and prints the per-layer table.
func (job *rewriteJob) calibrate(ctx context.Context, m *onnx.ModelProto, layers []convert.Layer, stdout io.Writer) error {
	job.log.printf("reading calibration data from %s", job.calib.path)
	data, err := job.calib.loadCalibration(m)
	if err != nil {
		return err
	}
	job.log.printf("calibrating %d layers on %d samples %s", len(layers), data.Shape()[0], runtime.ShapeString(data.Shape()[1:]))
	opts := job.calib.opts
	opts.Progress = func(l convert.LayerCalibration, i, n int) {
		job.log.printf("layer %d/%d %s: rel. error %.4f (%.1fs)", i+1, n, l.Node, l.RelError, l.Duration.Seconds())
	}
	report, err := convert.Calibrate(ctx, m, layers, data, opts)
	if err != nil {
		return fmt.Errorf("rewrite: %w", err)
	}
	return report.WriteText(stdout)
}

func runRewrite(ctx context.Context, cmd *cli.Command, stderr io.Writer) error {
	job, err := parseRewrite(cmd, stderr)
	if err != nil {
		return err
	}
	if err := job.checkPaths(); err != nil {
		return err
	}
	job.log.printf("reading %s", job.in)
	m, external, err := loadModel(job.in)
	if err != nil {
		return err
	}
	job.log.printf("rewriting Conv layers as DecoupledConv (%v)", job.opts.Operator)
	res, err := convert.Rewrite(m, job.opts)
	if err != nil {
		return err
	}
	selected := 0
	for _, s := range res.Skipped {
		if s.Unsupported {
			fmt.Fprintf(stderr, "dcconvert: warning: %v; skipped\n", s)
		} else {
			selected++
		}
	}
	if len(res.Layers) == 0 {
		return fmt.Errorf("rewrite: %s: no Conv layer to rewrite (%d Conv nodes unsupported, %d left out by the selection)", job.in, len(res.Skipped)-selected, selected)
	}
	job.log.printf("rewrote %d Conv layers; %d unsupported, %d left out by the selection", len(res.Layers), len(res.Skipped)-selected, selected)
	if job.calib != nil {
		if err := job.calibrate(ctx, m, res.Layers, cmd.Root().Writer); err != nil {
			return err
		}
	}
	if job.form != convert.Custom {
		job.log.printf("writing the %v form", job.form)
	}
	if err := convert.Convert(m, job.form); err != nil {
		return err
	}
	var opts []onnx.SaveOption
	if external {
		opts = append(opts, onnx.WithExternalData(filepath.Base(job.out)+".data", 1024))
	}
	job.log.printf("saving %s", job.out)
	if err := onnx.SaveFile(job.out, m, opts...); err != nil {
		return err
	}
	job.log.printf("done")
	return nil
}

// checkPaths refuses to replace the input model unless --force is given.
func (job *rewriteJob) checkPaths() error {
	if job.force {
		return nil
	}
	inInfo, err := os.Stat(job.in)
	if err != nil {
		return fmt.Errorf("rewrite: %w", err)
	}
	same := filepath.Clean(job.in) == filepath.Clean(job.out)
	if outInfo, err := os.Stat(job.out); err == nil && os.SameFile(inInfo, outInfo) {
		same = true
	}
	if same {
		return fmt.Errorf("rewrite: the output %s is the input model; pass --force to replace it", job.out)
	}
	return nil
}

// loadModel reads a model and inlines its external data, reporting whether
// it had any.
func loadModel(path string) (*onnx.ModelProto, bool, error) {
	m, err := onnx.LoadFile(path)
	if err != nil {
		return nil, false, err
	}
	external := false
	for _, t := range m.GetGraph().GetInitializer() {
		external = external || t.GetDataLocation() == onnx.TensorProto_EXTERNAL
	}
	if external {
		if err := onnx.LoadExternalData(m, filepath.Dir(path)); err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
	}
	if m.GetGraph() == nil {
		return nil, false, errors.New(path + ": the model has no graph")
	}
	return m, external, nil
}

// progress prints timestamped progress lines on standard error.
type progress struct {
	w     io.Writer
	quiet bool
	start time.Time
}

func (p *progress) printf(format string, args ...any) {
	if p.quiet {
		return
	}
	fmt.Fprintf(p.w, "dcconvert: [%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
