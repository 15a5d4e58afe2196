package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/dcnet-go/dcnet/internal/dataset"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "measure a classifier's top-1 accuracy and loss on a labelled dataset",
		ArgsUsage: "MODEL --data PATH [--labels FILE]",
		Description: `Runs MODEL (one data input, an output [N, K] of class scores) over a
labelled dataset, --batch samples at a time, and prints the top-1 accuracy
(percent of samples whose highest score is the label's), the loss (mean
cross-entropy of the softmax of the scores; of the scores themselves when
they already are probabilities) and the throughput of the model runs.

--data is one of:
  FILE.npy  float32 [N, C, H, W], already preprocessed; --labels FILE.npy
            holds the integer labels [N] (or an IDX labels file)
  IDX file  MNIST-style images [N, H, W] of bytes, raw or .gz, scaled to
            [0, 1] and normalised with --mean/--std; --labels is the idx1
            labels file
  DIR       PNG/JPEG images in one subfolder per class (classes sorted by
            name give the labels), converted to the model's channel count,
            resized to --size (default: the model's input size) and
            normalised with --mean/--std (default: ImageNet's for RGB,
            none for gray)

Progress goes to standard error (unless --quiet). With --json, prints one
object {"model", "n", "correct", "accuracy" (percent), "loss",
"images_per_s"}.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Aliases: []string{"d"}, Usage: "the samples: a .npy array, an IDX file or a folder of class folders (`PATH`)", Required: true},
			&cli.StringFlag{Name: "labels", Aliases: []string{"l"}, Usage: "the labels of .npy or IDX data: a .npy of integers or an IDX file (`FILE`)"},
			&cli.IntFlag{Name: "batch", Aliases: []string{"b"}, Value: 256, Usage: "samples per run (`B`)"},
			&cli.IntFlag{Name: "limit", HideDefault: true, Usage: "evaluate the first `N` samples only (0: all)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, HideDefault: true, Usage: "goroutines per run (`N`; 0: one per CPU)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the output holding the class scores (`NAME`; default: the first)"},
			&cli.StringFlag{Name: "size", Usage: "resize images to `H[xW]` (default: the model's input size if fixed)"},
			&cli.StringFlag{Name: "mean", Usage: "per-channel mean `m1[,m2,m3]` subtracted from images and IDX data scaled to [0,1]"},
			&cli.StringFlag{Name: "std", Usage: "per-channel standard deviation `s1[,s2,s3]` divided by after the mean"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress"},
		},
		Action: runEval,
	}
}

// evalResult is what "dcrun eval" reports; it is also its JSON form.
type evalResult struct {
	Model      string  `json:"model"`
	N          int     `json:"n"`
	Correct    int     `json:"correct"`
	Accuracy   float64 `json:"accuracy"` // percent
	Loss       float64 `json:"loss"`
	ImagesPerS float64 `json:"images_per_s"`
}

// evalFlags are the parsed flags of "dcrun eval".
type evalFlags struct {
	data, labels, output string
	batch, limit         int
	threads              int
	prep                 imagePrep
	quiet                bool
}

func parseEvalFlags(cmd *cli.Command) (evalFlags, error) {
	f := evalFlags{
		data: cmd.String("data"), labels: cmd.String("labels"), output: cmd.String("output"),
		batch: int(cmd.Int("batch")), limit: int(cmd.Int("limit")), threads: int(cmd.Int("threads")),
		quiet: cmd.Bool("quiet"),
	}
	switch {
	case cmd.Args().Len() != 1:
		return f, fmt.Errorf("eval: want exactly one MODEL argument, got %d", cmd.Args().Len())
	case f.batch < 1:
		return f, fmt.Errorf("--batch %d: must be positive", f.batch)
	case f.limit < 0:
		return f, fmt.Errorf("--limit %d: must be ≥ 0", f.limit)
	case f.threads < 0:
		return f, fmt.Errorf("--threads %d: must be ≥ 0", f.threads)
	}
	var err error
	if s := cmd.String("size"); s != "" {
		if f.prep.height, f.prep.width, err = dataset.ParseSize(s); err != nil {
			return f, err
		}
	}
	if f.prep.mean, err = dataset.ParseFloats("mean", cmd.String("mean")); err != nil {
		return f, err
	}
	if f.prep.std, err = dataset.ParseFloats("std", cmd.String("std")); err != nil {
		return f, err
	}
	return f, nil
}

func runEval(ctx context.Context, cmd *cli.Command) error {
	f, err := parseEvalFlags(cmd)
	if err != nil {
		return err
	}
	path := cmd.Args().First()
	_, sess, err := openModel(path, f.threads)
	if err != nil {
		return err
	}
	if len(sess.Inputs()) != 1 {
		return fmt.Errorf("%s: eval needs a model with one input; this one has %s", path, inputList(sess.Inputs()))
	}
	output, err := scoresOutput(sess.Outputs(), f.output)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	opts, err := datasetOptions(sess.Inputs()[0], f)
	if err != nil {
		return err
	}
	r, err := dataset.Open(f.data, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	if !r.Labelled() {
		return fmt.Errorf("%s: no labels: give --labels FILE for .npy and IDX data, or use a folder with one subfolder per class", f.data)
	}
	var progress io.Writer = cmd.Root().ErrWriter
	if f.quiet {
		progress = nil
	}
	res, err := evaluate(ctx, sess, output, r, f.batch, progress)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	res.Model = path
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		return json.NewEncoder(w).Encode(res)
	}
	fmt.Fprintf(w, "%s on %s: top-1 accuracy %.2f %% (%d of %d), loss %.4f, %.0f images/s\n",
		path, f.data, res.Accuracy, res.Correct, res.N, res.Loss, res.ImagesPerS)
	return nil
}

// scoresOutput picks the output holding the class scores.
func scoresOutput(outs []runtime.ValueInfo, name string) (string, error) {
	if name == "" {
		return outs[0].Name, nil
	}
	for _, o := range outs {
		if o.Name == name {
			return name, nil
		}
	}
	return "", fmt.Errorf("--output %q: the model has no such output (it has %s)", name, inputList(outs))
}

// datasetOptions derives the preprocessing of the data for the model's
// input: image folders as "dcrun infer" treats images (imageOptions), IDX
// data with --mean/--std as given (one channel), .npy data as they are.
func datasetOptions(info runtime.ValueInfo, f evalFlags) (dataset.Options, error) {
	opts := dataset.Options{Labels: f.labels, Limit: f.limit, Height: f.prep.height, Width: f.prep.width}
	st, err := os.Stat(f.data)
	if err != nil {
		return opts, fmt.Errorf("--data: %w", err)
	}
	if !st.IsDir() && !isImagePath(f.data) {
		opts.Mean, opts.Std = f.prep.mean, f.prep.std
		return opts, nil
	}
	img, err := imageOptions(info, f.prep)
	if err != nil {
		return opts, fmt.Errorf("%s: %w", f.data, err)
	}
	opts.Channels, opts.Height, opts.Width, opts.Mean, opts.Std = img.Channels, img.Height, img.Width, img.Mean, img.Std
	return opts, nil
}

// evaluate runs the model over the reader's batches and scores the output.
func evaluate(ctx context.Context, sess *runtime.Session, output string, r *dataset.Reader, batch int, progress io.Writer) (evalResult, error) {
	var res evalResult
	var lossSum, runTime float64
	start, last := time.Now(), time.Now()
	input := sess.Inputs()[0].Name
	for {
		b, err := r.Next(batch)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, err
		}
		t0 := time.Now()
		outs, err := sess.Run(ctx, map[string]*runtime.Tensor{input: runtime.New(b.Shape, b.Data)})
		if err != nil {
			return res, err
		}
		runTime += time.Since(t0).Seconds()
		correct, loss, err := score(outs[output], b.Labels, res.N)
		if err != nil {
			return res, fmt.Errorf("output %q: %w", output, err)
		}
		res.N += b.Len()
		res.Correct += correct
		lossSum += loss
		if progress != nil && (time.Since(last) > 2*time.Second || res.N == r.Len()) {
			last = time.Now()
			fmt.Fprintf(progress, "dcrun: [%5.1fs] %d/%d samples, accuracy so far %.2f %%\n",
				time.Since(start).Seconds(), res.N, r.Len(), 100*float64(res.Correct)/float64(res.N))
		}
	}
	if res.N == 0 {
		return res, errors.New("the dataset holds no sample")
	}
	res.Accuracy = 100 * float64(res.Correct) / float64(res.N)
	res.Loss = lossSum / float64(res.N)
	if runTime > 0 {
		res.ImagesPerS = float64(res.N) / runTime
	}
	return res, nil
}

// score counts the rows of scores [n, K] whose first maximum is at the
// label, and sums the rows' cross-entropy losses: −log softmax(row)[label],
// or −log row[label] when the row already is a probability distribution.
// first is the index of the batch's first sample, for messages.
func score(scores *runtime.Tensor, labels []int, first int) (int, float64, error) {
	if scores.Rank() != 2 || scores.Shape()[0] != len(labels) {
		return 0, 0, fmt.Errorf("expected class scores [%d, K], got %v", len(labels), scores)
	}
	vals := scores.Float64Values()
	if vals == nil {
		return 0, 0, fmt.Errorf("expected numeric class scores, got %v", scores)
	}
	k := scores.Shape()[1]
	correct, loss := 0, 0.0
	for i, label := range labels {
		if label < 0 || label >= k {
			return 0, 0, fmt.Errorf("sample %d has label %d, outside the %d classes", first+i, label, k)
		}
		row := vals[i*k : (i+1)*k]
		if train.Argmax(row) == label {
			correct++
		}
		if isDistribution(row) {
			loss -= math.Log(math.Max(row[label], 1e-300))
		} else {
			loss -= logSoftmax(row, label)
		}
	}
	return correct, loss, nil
}

// logSoftmax returns log(exp(row[i]) / Σ exp(row)), computed stably in
// float64 for scores of any numeric type (train.CrossEntropy takes float32
// logits and rounds in another order).
func logSoftmax(row []float64, i int) float64 {
	hi := math.Inf(-1)
	for _, v := range row {
		hi = math.Max(hi, v)
	}
	sum := 0.0
	for _, v := range row {
		sum += math.Exp(v - hi)
	}
	return row[i] - hi - math.Log(sum)
}
