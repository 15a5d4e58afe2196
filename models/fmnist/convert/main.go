// Command convert is the Fashion-MNIST conversion experiment: it rewrites the trained CNN9 of
// ../zoo (with BatchNormalization kept, cnn9_bn.onnx, and folded, cnn9.onnx) into decoupled
// networks, calibrates them on training images, and measures their test accuracy next to the
// anchors of shared/docs/anchors.md; then it checks that ONNX Runtime 1.30 runs the expanded
// form of every converted model with the same predictions as this project's runtime.
//
// Run from the repository root:
//
//	go run ./models/fmnist/convert                    # the experiment (a few minutes)
//	go run ./models/fmnist/convert -split val         # score on held-out training images
//
// Steps, for each model and operator (tanh:cos, ball:cos, tanh:linear, sphere:cos, all
// weighted, ρ at the 90th percentile):
//
//  1. convert.Rewrite replaces every Conv by a DecoupledConv, convert.Calibrate sets ρ, α and
//     the bias from the first -samples training images (what "dcconvert rewrite --calib"
//     does);
//  2. the converted model (custom form) is evaluated with package runtime on the scored split:
//     the 10,000 test images (-split test), or training images 50,000–59,999, which
//     calibration never sees (-split val), for choosing among variants without the test set;
//  3. with -ort, the expanded form (standard ONNX operators only) runs in ONNX Runtime
//     (tools/ort/run.js) on the same images; the predictions are compared with ours.
//
// Results go to -out (default models/fmnist/convert/results): results.json, results.md (the
// tables of the README) and calibration_<model>_<op>.txt. -zoo writes the calibrated tanh:cos
// model of cnn9_bn.onnx to models/fmnist/zoo/cnn9_tanh_cos_calibrated.onnx.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/internal/dataset"
	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

const (
	dataDir = "/usr/share/datasets/fashion-mnist"
	mean    = 0.2860
	std     = 0.3530
	// valFirst is the first training image of the held-out split.
	valFirst = 50000
)

// anchors are the accuracies of shared/docs/anchors.md (right after conversion).
var anchors = map[string]float64{"original": 93.53, "tanh:cos": 93.10, "ball:cos": 93.59, "tanh:linear": 93.00, "sphere:cos": 79.15}

type config struct {
	models     []string
	ops        []string
	samples    int
	percentile float64
	split      string
	out        string
	threads    int
	ort        bool
	zoo        bool
	// onOriginal calibrates each layer on the original network's
	// activations instead of the converted network's (for comparison).
	onOriginal bool
}

// result is one row of the results table.
type result struct {
	Model       string                     `json:"model"`
	Op          string                     `json:"op"`
	Accuracy    float64                    `json:"accuracy"`
	Loss        float64                    `json:"loss"`
	Anchor      float64                    `json:"anchor"`
	Calibration *convert.CalibrationReport `json:"calibration,omitempty"`
	ORT         *ortCheck                  `json:"ort,omitempty"`
}

// ortCheck compares ONNX Runtime's logits for the expanded model with ours.
type ortCheck struct {
	Disagreements int     `json:"disagreements"`
	MaxRelDiff    float64 `json:"max_rel_logit_diff"` // max over images of ‖ort − ours‖∞ / ‖ours‖∞
	N             int     `json:"n"`
}

func main() {
	var c config
	var models, ops, profile string
	flag.StringVar(&models, "models", "cnn9_bn,cnn9", "models of ../zoo to convert")
	flag.StringVar(&ops, "ops", "tanh:cos,ball:cos,tanh:linear,sphere:cos", "operators MAG:ANG (weighted)")
	flag.IntVar(&c.samples, "samples", 2000, "calibration samples (the first training images)")
	flag.Float64Var(&c.percentile, "percentile", convert.DefaultRhoPercentile, "ρ percentile P")
	flag.StringVar(&c.split, "split", "test", "scored images: test (t10k) or val (training images 50000-59999)")
	flag.StringVar(&c.out, "out", filepath.Join("models", "fmnist", "convert", "results"), "results directory")
	flag.IntVar(&c.threads, "threads", 0, "threads (0: one per CPU)")
	flag.BoolVar(&c.ort, "ort", true, "compare the expanded models in ONNX Runtime (tools/ort)")
	flag.BoolVar(&c.zoo, "zoo", false, "write the calibrated tanh:cos cnn9_bn model to models/fmnist/zoo")
	flag.StringVar(&profile, "cpuprofile", "", "write a CPU profile")
	activations := flag.String("activations", "converted", "calibrate each layer on the converted network's activations or on the original's (converted|original)")
	flag.Parse()
	c.models, c.ops = strings.Split(models, ","), strings.Split(ops, ",")
	switch *activations {
	case "converted":
	case "original":
		c.onOriginal = true
	default:
		fail(fmt.Errorf("-activations %q: want converted or original", *activations))
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), c); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "convert:", err)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, c config) error {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	imgOpts := dataset.Options{Mean: []float64{mean}, Std: []float64{std}}
	calibOpts := imgOpts
	calibOpts.Limit = c.samples
	calib, err := dataset.Load(filepath.Join(dataDir, "train-images-idx3-ubyte.gz"), calibOpts)
	if err != nil {
		return err
	}
	scored, err := loadScored(c.split, imgOpts)
	if err != nil {
		return err
	}
	logf("calibration: %d training images; scoring on %s: %d images", calib.Len(), c.split, scored.Len())
	var scoredPath string
	if c.ort {
		scoredPath = filepath.Join(c.out, "scored_images.npy")
		if err := npy.WriteFile(scoredPath, scored.Shape, scored.Data); err != nil {
			return err
		}
		defer os.Remove(scoredPath)
	}
	var results []result
	for _, name := range c.models {
		path := filepath.Join("models", "fmnist", "zoo", name+".onnx")
		m, err := onnx.LoadFile(path)
		if err != nil {
			return err
		}
		acc, loss, _, err := evaluate(ctx, m, scored, c.threads)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		logf("%s original: %.2f %%", name, acc)
		results = append(results, result{Model: name, Op: "original", Accuracy: acc, Loss: loss, Anchor: anchors["original"]})
		for _, opName := range c.ops {
			r, err := convertOne(ctx, c, name, m, opName, calib, scored, scoredPath)
			if err != nil {
				return fmt.Errorf("%s %s: %w", name, opName, err)
			}
			results = append(results, r)
		}
	}
	return writeResults(c, results)
}

// loadScored reads the images (and labels) accuracy is measured on.
func loadScored(split string, opts dataset.Options) (*dataset.Batch, error) {
	switch split {
	case "test":
		opts.Labels = filepath.Join(dataDir, "t10k-labels-idx1-ubyte.gz")
		return dataset.Load(filepath.Join(dataDir, "t10k-images-idx3-ubyte.gz"), opts)
	case "val":
		opts.Labels = filepath.Join(dataDir, "train-labels-idx1-ubyte.gz")
		all, err := dataset.Load(filepath.Join(dataDir, "train-images-idx3-ubyte.gz"), opts)
		if err != nil {
			return nil, err
		}
		per := len(all.Data) / all.Len()
		return &dataset.Batch{
			Shape:  append([]int{all.Len() - valFirst}, all.Shape[1:]...),
			Data:   all.Data[valFirst*per:],
			Labels: all.Labels[valFirst:],
		}, nil
	}
	return nil, fmt.Errorf("-split %q: want test or val", split)
}

// convertOne rewrites and calibrates one model with one operator, scores it and checks it in
// ONNX Runtime.
func convertOne(ctx context.Context, c config, name string, orig *onnx.ModelProto, opName string, calib, scored *dataset.Batch, scoredPath string) (result, error) {
	res := result{Model: name, Op: opName, Anchor: anchors[opName]}
	op, err := convert.ParseOperator(opName)
	if err != nil {
		return res, err
	}
	op.Weighted = true
	m := proto.Clone(orig).(*onnx.ModelProto)
	rw, err := convert.Rewrite(m, convert.Options{Operator: op})
	if err != nil {
		return res, err
	}
	start := time.Now()
	data := runtime.New(calib.Shape, calib.Data)
	opts := convert.CalibrateOptions{RhoPercentile: c.percentile, Threads: c.threads}
	var report *convert.CalibrationReport
	if c.onOriginal {
		report, err = calibrateOnOriginal(ctx, orig, m, rw.Layers, op, data, opts)
	} else {
		report, err = convert.Calibrate(ctx, m, rw.Layers, data, opts)
	}
	if err != nil {
		return res, err
	}
	res.Calibration = report
	var table strings.Builder
	report.WriteText(&table)
	if err := os.WriteFile(filepath.Join(c.out, fmt.Sprintf("calibration_%s_%s.txt", name, strings.ReplaceAll(opName, ":", "_"))), []byte(table.String()), 0o644); err != nil {
		return res, err
	}
	var logits []float32
	res.Accuracy, res.Loss, logits, err = evaluate(ctx, m, scored, c.threads)
	if err != nil {
		return res, err
	}
	logf("%s %s: calibrated in %.1fs, accuracy %.2f %%", name, opName, time.Since(start).Seconds(), res.Accuracy)
	if c.zoo && name == "cnn9_bn" && opName == "tanh:cos" {
		if err := saveZoo(m, report); err != nil {
			return res, err
		}
	}
	if !c.ort {
		return res, nil
	}
	if err := convert.Convert(m, convert.Expanded); err != nil {
		return res, err
	}
	res.ORT, err = compareORT(c, m, name, opName, scoredPath, logits)
	if err != nil {
		return res, err
	}
	logf("%s %s: ONNX Runtime disagrees on %d of %d predictions, max relative logit difference %.2g",
		name, opName, res.ORT.Disagreements, res.ORT.N, res.ORT.MaxRelDiff)
	return res, nil
}

// calibrateOnOriginal calibrates every layer of m separately on the original network's
// activations: layer by layer, a copy of orig with only that Conv rewritten is calibrated, and
// its parameters are copied into m.
func calibrateOnOriginal(ctx context.Context, orig, m *onnx.ModelProto, layers []convert.Layer, op convert.Operator, data *runtime.Tensor, opts convert.CalibrateOptions) (*convert.CalibrationReport, error) {
	report := &convert.CalibrationReport{Samples: data.Shape()[0], RhoPercentile: opts.RhoPercentile}
	for i := range layers {
		one := proto.Clone(orig).(*onnx.ModelProto)
		sel := convert.Selection{Layers: regexp.MustCompile("^" + regexp.QuoteMeta(layers[i].Node) + "$")}
		rw, err := convert.Rewrite(one, convert.Options{Operator: op, Selection: sel})
		if err != nil {
			return nil, err
		}
		if len(rw.Layers) != 1 {
			return nil, fmt.Errorf("layer %q: selected %d layers", layers[i].Node, len(rw.Layers))
		}
		r, err := convert.Calibrate(ctx, one, rw.Layers, data, opts)
		if err != nil {
			return nil, err
		}
		report.Layers = append(report.Layers, r.Layers...)
		var p convert.Params
		l := rw.Layers[0]
		p.Alpha, p.Bias = initializer(one, l.Alpha), initializer(one, l.B)
		if l.Rho != "" && r.Layers[0].Rho != nil {
			p.Rho = initializer(one, l.Rho)
		}
		if l.Beta != "" {
			p.Beta = initializer(one, l.Beta)
		}
		if err := convert.SetParams(m, &layers[i], p); err != nil {
			return nil, err
		}
	}
	return report, nil
}

// initializer returns the float32 values of initializer name of m.
func initializer(m *onnx.ModelProto, name string) []float32 {
	for _, t := range m.Graph.Initializer {
		if t.GetName() == name {
			v, _, err := onnx.Float32s(t, "")
			if err != nil {
				fail(err)
			}
			return v
		}
	}
	fail(fmt.Errorf("no initializer %q", name))
	return nil
}

// evaluate runs m on the images in batches of 500 and returns the top-1 accuracy (percent),
// the mean cross-entropy and the logits [N, 10].
func evaluate(ctx context.Context, m *onnx.ModelProto, data *dataset.Batch, threads int) (float64, float64, []float32, error) {
	reg := runtime.Builtins()
	decop.Register(reg)
	sess, err := runtime.NewSessionFromModel(m, runtime.WithRegistry(reg), runtime.WithThreads(threads))
	if err != nil {
		return 0, 0, nil, err
	}
	in, out := sess.Inputs()[0].Name, sess.Outputs()[0].Name
	n, per := data.Len(), len(data.Data)/data.Len()
	logits := make([]float32, 0, n*10)
	for lo := 0; lo < n; lo += 500 {
		hi := min(n, lo+500)
		x := runtime.New(append([]int{hi - lo}, data.Shape[1:]...), data.Data[lo*per:hi*per])
		outs, err := sess.Run(ctx, map[string]*runtime.Tensor{in: x})
		if err != nil {
			return 0, 0, nil, err
		}
		logits = append(logits, outs[out].Float32s()...)
	}
	if len(logits) != n*10 {
		return 0, 0, nil, fmt.Errorf("got %d logits for %d images", len(logits), n)
	}
	scores := runtime.New([]int{n, 10}, logits)
	loss, _, err := train.CrossEntropy(scores, data.Labels, 0)
	if err != nil {
		return 0, 0, nil, err
	}
	return 100 * float64(train.Correct(scores, data.Labels)) / float64(n), loss, logits, nil
}

// compareORT runs the expanded model m in ONNX Runtime on the scored images (in chunks) and
// compares its logits with ours.
func compareORT(c config, m *onnx.ModelProto, name, opName, scoredPath string, ours []float32) (*ortCheck, error) {
	dir, err := os.MkdirTemp("", "fmnist-ort")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "expanded.onnx")
	if err := onnx.SaveFile(model, m); err != nil {
		return nil, err
	}
	shape, data, err := npy.ReadFile(scoredPath)
	if err != nil {
		return nil, err
	}
	images := data.([]float32)
	per := len(images) / shape[0]
	var theirs []float32
	const chunk = 2500
	for lo := 0; lo < shape[0]; lo += chunk {
		hi := min(shape[0], lo+chunk)
		in := filepath.Join(dir, "x.npy")
		if err := npy.WriteFile(in, append([]int{hi - lo}, shape[1:]...), images[lo*per:hi*per]); err != nil {
			return nil, err
		}
		cmd := exec.Command("node", filepath.Join("tools", "ort", "run.js"), model, in, "--out", dir, "--threads", fmt.Sprint(c.threads))
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("tools/ort/run.js on %s %s: %w", name, opName, err)
		}
		_, out, err := npy.ReadFile(filepath.Join(dir, m.Graph.Output[0].GetName()+".npy"))
		if err != nil {
			return nil, err
		}
		theirs = append(theirs, out.([]float32)...)
	}
	if len(theirs) != len(ours) {
		return nil, fmt.Errorf("ONNX Runtime gave %d logits, we %d", len(theirs), len(ours))
	}
	chk := &ortCheck{N: len(ours) / 10}
	for i := range chk.N {
		a, b := ours[i*10:(i+1)*10], theirs[i*10:(i+1)*10]
		if train.Argmax(a) != train.Argmax(b) {
			chk.Disagreements++
		}
		diff, scale := 0.0, 0.0
		for j := range a {
			diff = math.Max(diff, math.Abs(float64(a[j])-float64(b[j])))
			scale = math.Max(scale, math.Abs(float64(a[j])))
		}
		if scale > 0 {
			chk.MaxRelDiff = math.Max(chk.MaxRelDiff, diff/scale)
		}
	}
	return chk, nil
}

// saveZoo writes the calibrated tanh:cos model (custom form) to the zoo.
func saveZoo(m *onnx.ModelProto, report *convert.CalibrationReport) error {
	out := proto.Clone(m).(*onnx.ModelProto)
	out.DocString = proto.String(fmt.Sprintf("CNN9 (models/fmnist/zoo/cnn9_bn.onnx) with every Conv replaced by "+
		"ai.dcnet/DecoupledConv tanh:cos weighted; rho = |w_m| x the %g percentile of the patch norms, alpha and bias "+
		"by least squares, calibrated layer by layer on the first %d Fashion-MNIST training images "+
		"by models/fmnist/convert (convert.Calibrate)", 100*report.RhoPercentile, report.Samples))
	path := filepath.Join("models", "fmnist", "zoo", "cnn9_tanh_cos_calibrated.onnx")
	logf("writing %s", path)
	return onnx.SaveFile(path, out)
}

// writeResults stores results.json and results.md.
func writeResults(c config, results []result) error {
	js, err := json.MarshalIndent(map[string]any{
		"samples": c.samples, "rho_percentile": c.percentile, "split": c.split, "results": results,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Scored on %s (%s); calibration on the first %d training images; ρ at the %g percentile.\n\n",
		c.split, map[string]string{"test": "the 10,000 test images", "val": "training images 50,000–59,999"}[c.split], c.samples, 100*c.percentile)
	fmt.Fprintf(&b, "| model | op | accuracy %% | Δ vs original | anchor %% | loss | ORT disagreements | ORT max rel. logit diff |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	base := 0.0
	for _, r := range results {
		if r.Op == "original" {
			base = r.Accuracy
		}
		ortText := "—|—"
		if r.ORT != nil {
			ortText = fmt.Sprintf("%d / %d|%.1e", r.ORT.Disagreements, r.ORT.N, r.ORT.MaxRelDiff)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %+.2f | %.2f | %.4f | %s |\n", r.Model, r.Op, r.Accuracy, r.Accuracy-base, r.Anchor, r.Loss, strings.Replace(ortText, "|", " | ", 1))
	}
	for _, r := range results {
		if r.Calibration != nil && r.Op == "tanh:cos" {
			fmt.Fprintf(&b, "\n%s, %s:\n\n```\n", r.Model, r.Op)
			r.Calibration.WriteText(&b)
			b.WriteString("```\n")
		}
	}
	path := filepath.Join(c.out, "results.md")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(b.String())
	return nil
}
