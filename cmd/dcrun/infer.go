package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/dcnet-go/dcnet/internal/dataset"
	"github.com/dcnet-go/dcnet/internal/imageio"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

func inferCommand() *cli.Command {
	return &cli.Command{
		Name:      "infer",
		Usage:     "run a model on .npy arrays or images and print or save its outputs",
		ArgsUsage: "[MODEL [FILE...]]",
		Description: `Runs MODEL (an .onnx file) once on the given inputs.

Inputs come from -i [NAME=]FILE (or extra arguments after MODEL):
  - .npy arrays, converted to the input's element type when that is safe
    (float64 → float32, float32 → float64, int32 → int64). An array lacking
    only the batch dimension gets one.
  - .png/.jpg/.jpeg images, for [N, C, H, W] float inputs: converted to C = 1
    (luma) or 3 (RGB) channels as the model asks, resized to --size (default:
    the model's H×W if fixed, else 224×224), scaled to [0, 1] and normalised
    with --mean/--std (default: ImageNet's for 3 channels, none for 1).
Without NAME=, files go to the model's only input, or one each to the
inputs not named, in order. Several files for one input are stacked into a
batch, in order (files given as arguments before -i files); the model's
batch dimension must be dynamic or match.

Without -o, prints for each output its type, shape, minimum and maximum,
and for 2-D [N, K] outputs the top --top classes of each row: as given if
the row is a probability distribution, else as logits with their softmax
probabilities. Class names come from --labels or from the model's metadata
("labels", "class_names" or "classes"). With -o DIR, writes DIR/NAME.npy
for every output instead.

Without MODEL, runs the demo model built into dcrun on its built-in input.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "input `FILE` (.npy, .png, .jpg, .jpeg), optionally as NAME=FILE to pick the model input; repeat for several inputs or to stack a batch"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write every output to `DIR`/<output name>.npy (the directory is created)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, HideDefault: true, Usage: "goroutines per run (`N`; 0: one per CPU)"},
			&cli.StringFlag{Name: "size", Usage: "image size `H[xW]` after resizing (default: the model's input size if fixed, else 224)"},
			&cli.StringFlag{Name: "resize", Value: "stretch", Usage: "image resizing `MODE`: stretch (straight to the size) or crop (shorter side to --shorter, then centre crop, as torchvision's Resize + CenterCrop)"},
			&cli.IntFlag{Name: "shorter", HideDefault: true, Usage: "with --resize crop: shorter side `S` before cropping (default: 256/224 of the size, 256 for 224)"},
			&cli.StringFlag{Name: "mean", Usage: "per-channel image mean `m1,m2,m3` subtracted after scaling to [0,1] (one value applies to all channels; default: 0.485,0.456,0.406 for RGB, 0 for gray)"},
			&cli.StringFlag{Name: "std", Usage: "per-channel image standard deviation `s1,s2,s3` divided by after the mean (default: 0.229,0.224,0.225 for RGB, 1 for gray)"},
			&cli.IntFlag{Name: "top", Aliases: []string{"k"}, Value: 5, Usage: "show the top `K` classes of each row of 2-D outputs (0: none)"},
			&cli.StringFlag{Name: "labels", Usage: "class names, one per line, in `FILE`"},
		},
		Action: runInfer,
	}
}

// inferFlags are the parsed flags of "dcrun infer".
type inferFlags struct {
	inputs  []string
	outDir  string
	threads int
	prep    imagePrep
	print   printOptions
}

func parseInferFlags(cmd *cli.Command) (inferFlags, error) {
	f := inferFlags{
		inputs:  append(slices.Clone(cmd.Args().Slice()[min(1, cmd.Args().Len()):]), cmd.StringSlice("input")...),
		outDir:  cmd.String("output"),
		threads: int(cmd.Int("threads")),
		print:   printOptions{topK: int(cmd.Int("top"))},
	}
	if f.threads < 0 {
		return f, fmt.Errorf("--threads %d: must be ≥ 0", f.threads)
	}
	if f.print.topK < 0 {
		return f, fmt.Errorf("--top %d: must be ≥ 0", f.print.topK)
	}
	var err error
	if s := cmd.String("size"); s != "" {
		if f.prep.height, f.prep.width, err = dataset.ParseSize(s); err != nil {
			return f, err
		}
	}
	switch cmd.String("resize") {
	case "stretch":
		f.prep.resize = imageio.Stretch
	case "crop":
		f.prep.resize = imageio.ShorterSideCrop
	default:
		return f, fmt.Errorf("--resize %q: want stretch or crop", cmd.String("resize"))
	}
	if f.prep.shorter = int(cmd.Int("shorter")); f.prep.shorter < 0 {
		return f, fmt.Errorf("--shorter %d: must be positive", f.prep.shorter)
	}
	if f.prep.mean, err = dataset.ParseFloats("mean", cmd.String("mean")); err != nil {
		return f, err
	}
	if f.prep.std, err = dataset.ParseFloats("std", cmd.String("std")); err != nil {
		return f, err
	}
	if path := cmd.String("labels"); path != "" {
		if f.print.labels, err = readLabels(path); err != nil {
			return f, err
		}
	}
	return f, nil
}

func runInfer(ctx context.Context, cmd *cli.Command) error {
	f, err := parseInferFlags(cmd)
	if err != nil {
		return err
	}
	if cmd.Args().Len() == 0 {
		if len(f.inputs) > 0 {
			return fmt.Errorf("infer: -i needs a MODEL argument")
		}
		return runDemo(ctx, cmd.Root().Writer, defaultDemo, f)
	}
	path := cmd.Args().First()
	m, sess, err := openModel(path, f.threads)
	if err != nil {
		return err
	}
	bound, err := bindInputs(f.inputs, sess.Inputs())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	inputs := map[string]*runtime.Tensor{}
	for _, info := range sess.Inputs() {
		if inputs[info.Name], err = loadInput(info, bound[info.Name], f.prep); err != nil {
			return err
		}
	}
	if f.print.labels == nil {
		f.print.labels = modelLabels(m)
	} else if err := checkLabels(f.print.labels, sess.Outputs()); err != nil {
		return err
	}
	return inferAndReport(ctx, cmd.Root().Writer, path, sess, inputs, f)
}

// openModel loads and plans a model file.
func openModel(path string, threads int) (*onnx.ModelProto, *runtime.Session, error) {
	m, err := onnx.LoadFile(path)
	if err != nil {
		return nil, nil, err
	}
	sess, err := runtime.NewSessionFromModel(m,
		runtime.WithBaseDir(filepath.Dir(path)), runtime.WithRegistry(registry()), runtime.WithThreads(threads))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, sess, nil
}

// checkLabels requires --labels to fit at least one 2-D output.
func checkLabels(labels []string, outs []runtime.ValueInfo) error {
	var widths []string
	for _, o := range outs {
		if len(o.Shape) == 2 {
			if o.Shape[1] < 0 || o.Shape[1] == len(labels) {
				return nil
			}
			widths = append(widths, fmt.Sprint(o.Shape[1]))
		}
	}
	if len(widths) == 0 {
		return nil
	}
	return fmt.Errorf("--labels: %d class names, but the model's 2-D outputs have %s classes", len(labels), strings.Join(widths, ", "))
}

// inferAndReport runs the session once and prints or saves the outputs.
func inferAndReport(ctx context.Context, w io.Writer, model string, sess *runtime.Session, inputs map[string]*runtime.Tensor, f inferFlags) error {
	outs, err := sess.Run(ctx, inputs)
	if err != nil {
		return fmt.Errorf("%s: %w", model, err)
	}
	if f.outDir != "" {
		paths, err := writeOutputs(f.outDir, outs, sess.Outputs())
		if err != nil {
			return err
		}
		for i, p := range paths {
			t := outs[sess.Outputs()[i].Name]
			fmt.Fprintf(w, "wrote %s (%v %s)\n", p, t.DType(), runtime.ShapeString(t.Shape()))
		}
		return nil
	}
	printOutputs(w, outs, sess.Outputs(), f.print)
	return nil
}

// runDemo runs a model built into the binary.
func runDemo(ctx context.Context, w io.Writer, d demo, f inferFlags) error {
	model, in, err := d.load()
	if err != nil {
		return err
	}
	sess, err := runtime.NewSessionFromBytes(model, runtime.WithRegistry(registry()), runtime.WithThreads(f.threads))
	if err != nil {
		return fmt.Errorf("built-in demo: %w", err)
	}
	if len(sess.Inputs()) != 1 {
		return fmt.Errorf("built-in demo: has %d inputs, want 1", len(sess.Inputs()))
	}
	info := sess.Inputs()[0]
	if in.data, err = convertData(in.data, info.DType); err != nil {
		return fmt.Errorf("built-in demo %s: %w", d.InputName, err)
	}
	if f.print.labels == nil {
		f.print.labels = d.Labels
	}
	fmt.Fprintf(w, "No model given: running the built-in demo, %s.\n", d.Description)
	fmt.Fprintf(w, "(Run \"dcrun help infer\" to run your own model.)\n\n")
	return inferAndReport(ctx, w, "built-in demo", sess, map[string]*runtime.Tensor{info.Name: in.tensor()}, f)
}
