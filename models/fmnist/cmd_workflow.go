package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

// workflowResult is results/workflow.json.
type workflowResult struct {
	Source         string     `json:"source"`
	SourceAccuracy float64    `json:"source_accuracy"`
	CalibSamples   int        `json:"calib_samples"`
	RhoPercentile  float64    `json:"rho_percentile"`
	TestSamples    int        `json:"test_samples"`
	Ops            []opResult `json:"ops"`
	Date           string     `json:"date"`
}

// opResult is the workflow of one operator: test accuracies right after
// the calibrated conversion, after training the operators' parameters,
// and after training everything.
type opResult struct {
	Op             string                     `json:"op"`
	Converted      float64                    `json:"converted"`
	OpTuned        float64                    `json:"op_tuned"`
	AllTuned       float64                    `json:"all_tuned"`
	OpRecipe       recipe                     `json:"op_recipe"`
	AllRecipe      recipe                     `json:"all_recipe"`
	OpEpochs       []train.EpochStats         `json:"op_epochs"`
	AllEpochs      []train.EpochStats         `json:"all_epochs"`
	ConvertSeconds float64                    `json:"convert_seconds"`
	OpSeconds      float64                    `json:"op_seconds"`
	AllSeconds     float64                    `json:"all_seconds"`
	ConvertedModel string                     `json:"converted_model,omitempty"`
	TunedModel     string                     `json:"tuned_model,omitempty"`
	Calibration    *convert.CalibrationReport `json:"calibration"`
}

// workflowFlags are the settings of the workflow command.
type workflowFlags struct {
	commonFlags
	model               string
	ops                 string
	calibSamples        int
	rhoPercentile       float64
	opEpochs, allEpochs int
	lr                  float64
	nesterov            bool
	distill, temp       float64
	limit, testLimit    int
	name                string
	noSave, noReport    bool
}

func runWorkflow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("workflow", stderr)
	var f workflowFlags
	f.register(fs)
	fs.StringVar(&f.model, "model", "", "the trained standard CNN9 with BatchNormalization nodes (default: DIR/zoo/cnn9_go.onnx)")
	fs.StringVar(&f.ops, "ops", "tanh:cos,sphere:cos", "comma-separated decoupled operators MAG:ANG (weighted)")
	fs.IntVar(&f.calibSamples, "calib-samples", 2000, "calibrate on the first N training images")
	fs.Float64Var(&f.rhoPercentile, "rho-percentile", convert.DefaultRhoPercentile, "patch-norm percentile ρ is set at")
	fs.IntVar(&f.opEpochs, "op-epochs", 1, "epochs training the operators' bias, α, ρ (β) only")
	fs.IntVar(&f.allEpochs, "all-epochs", 2, "epochs training everything afterwards")
	fs.Float64Var(&f.lr, "lr", 0.01, "learning rate of both fine-tuning stages (cosine schedule)")
	fs.BoolVar(&f.nesterov, "nesterov", true, "Nesterov momentum in both fine-tuning stages, as in the training recipe (--nesterov=false: plain momentum)")
	fs.Float64Var(&f.distill, "distill", 0, "weight of distillation from the source model next to the labels' cross-entropy (0: labels only)")
	fs.Float64Var(&f.temp, "temperature", 4, "distillation temperature")
	fs.IntVar(&f.limit, "limit", 0, "fine-tune on the first N training images (0: all)")
	fs.IntVar(&f.testLimit, "test-limit", 0, "evaluate on the first N test images (0: all)")
	fs.StringVar(&f.name, "name", "workflow", "results file name: DIR/results/NAME.json")
	fs.BoolVar(&f.noSave, "no-save", false, "do not write the converted and fine-tuned models to DIR/zoo")
	fs.BoolVar(&f.noReport, "no-report", false, "do not update the plot and the README table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.model == "" {
		f.model = filepath.Join(f.dir, "zoo", "cnn9_go.onnx")
	}
	res, err := workflow(ctx, f, stdout, stderr)
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(f.dir, "results", f.name+".json"), res); err != nil {
		return err
	}
	if f.noReport {
		return nil
	}
	return report(f.dir, stderr)
}

// workflow runs rewrite → calibrate → finetune op → finetune all for every
// operator of f.ops.
func workflow(ctx context.Context, f workflowFlags, stdout, log io.Writer) (*workflowResult, error) {
	src, err := onnx.LoadFile(f.model)
	if err != nil {
		return nil, err
	}
	data, err := loadSplit(f.data, "train", f.limit)
	if err != nil {
		return nil, err
	}
	test, err := loadSplit(f.data, "t10k", f.testLimit)
	if err != nil {
		return nil, err
	}
	res := &workflowResult{Source: relPath(f.dir, f.model), CalibSamples: min(f.calibSamples, data.Len()), RhoPercentile: f.rhoPercentile,
		TestSamples: test.Len(), Date: time.Now().UTC().Format(time.RFC3339)}
	if res.SourceAccuracy, err = testAccuracy(ctx, src, test, f.threads); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: test accuracy %.2f%%\n", f.model, 100*res.SourceAccuracy)
	for _, s := range strings.Split(f.ops, ",") {
		op, err := convert.ParseOperator(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		if op.IsIdentity() || s == "identity" {
			return nil, errors.New("the identity operator needs no fine-tuning")
		}
		op.Weighted = true
		r, err := workflowOp(ctx, f, src, op, data, test, log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		r.Op = strings.TrimSpace(s)
		res.Ops = append(res.Ops, *r)
	}
	fmt.Fprintf(stdout, "source %s: %.2f%%\n", res.Source, 100*res.SourceAccuracy)
	fmt.Fprintln(stdout, "operator     converted  +op tuning  +all tuning")
	for _, r := range res.Ops {
		fmt.Fprintf(stdout, "%-11s  %8.2f%%  %9.2f%%  %10.2f%%\n", r.Op, 100*r.Converted, 100*r.OpTuned, 100*r.AllTuned)
	}
	return res, nil
}

// workflowOp converts src to op, calibrates it and fine-tunes it in two
// stages.
func workflowOp(ctx context.Context, f workflowFlags, src *onnx.ModelProto, op convert.Operator, data, test *train.Dataset, log io.Writer) (*opResult, error) {
	out := &opResult{}
	start := time.Now()
	m := cloneModel(src)
	rw, err := convert.Rewrite(m, convert.Options{Operator: op})
	if err != nil {
		return nil, err
	}
	calib := data.Slice(0, min(f.calibSamples, data.Len()))
	fmt.Fprintf(log, "%v: calibrating %d layers on %d images\n", op, len(rw.Layers), calib.Len())
	out.Calibration, err = convert.Calibrate(ctx, m, rw.Layers, runtime.New(calib.Shape, calib.X),
		convert.CalibrateOptions{RhoPercentile: f.rhoPercentile, Threads: f.threads})
	if err != nil {
		return nil, err
	}
	out.ConvertSeconds = time.Since(start).Seconds()
	if out.Converted, err = testAccuracy(ctx, m, test, f.threads); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%v: converted, test accuracy %.2f%%\n", op, 100*out.Converted)
	opParams, err := train.OperatorParams(m)
	if err != nil {
		return nil, err
	}
	rho := train.RhoParams(m)

	out.OpRecipe = finetuneRecipe(f.opEpochs, f.lr)
	out.OpRecipe.Seed, out.OpRecipe.Threads, out.OpRecipe.Nesterov = f.seed, f.threads, f.nesterov
	out.OpRecipe.setDistill(f.distill, f.temp)
	fmt.Fprintf(log, "%v: training bias, α, ρ for %d epoch(s)\n", op, f.opEpochs)
	stage1, err := fit(ctx, m, data, test, fitOptions{recipe: out.OpRecipe, trainable: func(n string) bool { return opParams[n] },
		freezeBN: true, rho: rho, progress: log, teacher: src})
	if err != nil {
		return nil, err
	}
	out.OpEpochs, out.OpSeconds, out.OpRecipe.Threads = stage1.history.Epochs, stage1.seconds, stage1.threads
	if out.OpTuned, err = testAccuracy(ctx, stage1.model, test, f.threads); err != nil {
		return nil, err
	}

	out.AllRecipe = finetuneRecipe(f.allEpochs, f.lr)
	out.AllRecipe.Seed, out.AllRecipe.Threads, out.AllRecipe.Nesterov = f.seed, f.threads, f.nesterov
	out.AllRecipe.setDistill(f.distill, f.temp)
	fmt.Fprintf(log, "%v: training everything for %d epoch(s)\n", op, f.allEpochs)
	stage2, err := fit(ctx, stage1.model, data, test, fitOptions{recipe: out.AllRecipe, rho: rho, progress: log, teacher: src})
	if err != nil {
		return nil, err
	}
	out.AllEpochs, out.AllSeconds, out.AllRecipe.Threads = stage2.history.Epochs, stage2.seconds, stage2.threads
	if out.AllTuned, err = testAccuracy(ctx, stage2.model, test, f.threads); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%v: %.2f%% converted, %.2f%% after op tuning, %.2f%% after all tuning\n", op, 100*out.Converted, 100*out.OpTuned, 100*out.AllTuned)
	if !f.noSave {
		base := filepath.Join(f.dir, "zoo", strings.TrimSuffix(filepath.Base(f.model), ".onnx")+"_"+op.Magnitude.String()+"_"+op.Angular.String())
		if f.distill > 0 {
			base += "_kd"
		}
		for _, s := range []struct {
			path  string
			model *onnx.ModelProto
			field *string
		}{{base + "_converted.onnx", m, &out.ConvertedModel}, {base + "_tuned.onnx", stage2.model, &out.TunedModel}} {
			if err := onnx.SaveFile(s.path, s.model); err != nil {
				return nil, err
			}
			*s.field = relPath(f.dir, s.path)
		}
	}
	return out, nil
}
