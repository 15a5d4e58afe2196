package main

import (
	"context"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dcnet-go/dcnet/runtime/train"
)

// The report: learning_curve.png and the results table of README.md, both
// made from results/*.json (and zoo/cnn9_torch.json, PyTorch's run of the
// same recipe), so that "report" redraws them without training.

// anchorScratch are the anchors' test accuracies (%) of CNN9 trained from
// scratch, by operator.
var anchorScratch = map[string]float64{
	"standard": 93.53, "tanh:cos": 92.39, "sphere:cos": 92.57, "ball:cos": 92.62, "linear:cos": 92.63,
}

// anchorWorkflow are the anchors' accuracies (%) after conversion, after
// 1 epoch of operator-parameter training and after 2 epochs of training
// everything.
var anchorWorkflow = map[string][3]float64{
	"tanh:cos": {93.10, 93.25, 93.67}, "ball:cos": {93.59, 93.61, 93.71},
	"tanh:linear": {93.00, 93.22, 93.84}, "sphere:cos": {79.15, 90.99, 93.18},
}

const (
	resultsBegin = "<!-- results:begin (written by go run ./models/fmnist report) -->"
	resultsEnd   = "<!-- results:end -->"
)

func runReport(_ context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("report", stderr)
	var c commonFlags
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return report(c.dir, stderr)
}

// torchRun is zoo/cnn9_torch.json.
type torchRun struct {
	TestAccuracy float64 `json:"test_accuracy"`
	Log          []struct {
		Epoch     int     `json:"epoch"`
		TrainLoss float64 `json:"train_loss"`
		TestAcc   float64 `json:"test_acc"`
	} `json:"log"`
}

// reportData is everything the report shows.
type reportData struct {
	trains    []trainResult // standard first, then by name
	workflows map[string]*workflowResult
	torch     *torchRun
}

// report redraws learning_curve.png and the README table in dir.
func report(dir string, log io.Writer) error {
	d, err := loadReportData(dir)
	if err != nil {
		return err
	}
	if len(d.trains) == 0 && len(d.workflows) == 0 {
		return fmt.Errorf("no results in %s", filepath.Join(dir, "results"))
	}
	if panels := d.panels(); len(panels) > 0 {
		path := filepath.Join(dir, "learning_curve.png")
		if err := writePlot(path, panels); err != nil {
			return err
		}
		fmt.Fprintf(log, "wrote %s\n", path)
	}
	readme := filepath.Join(dir, "README.md")
	if err := updateReadme(readme, d.table()); err != nil {
		return err
	}
	fmt.Fprintf(log, "updated the results table of %s\n", readme)
	return nil
}

func loadReportData(dir string) (*reportData, error) {
	d := &reportData{workflows: map[string]*workflowResult{}}
	files, err := filepath.Glob(filepath.Join(dir, "results", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		switch {
		case strings.HasPrefix(base, "train_"):
			var r trainResult
			if err := readJSON(f, &r); err != nil {
				return nil, err
			}
			d.trains = append(d.trains, r)
		case strings.HasPrefix(base, "workflow"):
			var w workflowResult
			if err := readJSON(f, &w); err != nil {
				return nil, err
			}
			d.workflows[base] = &w
		}
	}
	sort.SliceStable(d.trains, func(i, j int) bool { return d.trains[i].Name == "standard" && d.trains[j].Name != "standard" })
	var t torchRun
	if err := readJSON(filepath.Join(dir, "zoo", "cnn9_torch.json"), &t); err == nil {
		d.torch = &t
	}
	return d, nil
}

// panels are the plot: training loss and test accuracy per epoch of the
// runs from scratch (with PyTorch's), and the fine-tuning curves.
func (d *reportData) panels() []panel {
	var out []panel
	if len(d.trains) > 0 {
		loss := panel{title: "training loss", xLabel: "epoch"}
		acc := panel{title: "test accuracy %", xLabel: "epoch", legendLow: true}
		for i, r := range d.trains {
			col := palette[i%len(palette)]
			steps := len(r.StepLoss)
			perEpoch := float64(steps) / float64(max(len(r.Epochs), 1))
			xs, ys := smoothed(r.StepLoss, 25)
			for k := range xs {
				xs[k] = (xs[k] + 1) / perEpoch
			}
			loss.series = append(loss.series, series{name: "Go " + r.Op, x: xs, y: ys, color: col})
			ex, ey := []float64{}, []float64{}
			for _, e := range r.Epochs {
				if e.Val != nil {
					ex, ey = append(ex, float64(e.Epoch)), append(ey, 100*e.Val.Accuracy)
				}
			}
			acc.series = append(acc.series, series{name: "Go " + r.Op, x: ex, y: ey, color: col, points: true})
		}
		if d.torch != nil && len(d.torch.Log) > 0 {
			var ex, el, ea []float64
			for _, e := range d.torch.Log {
				ex, el, ea = append(ex, float64(e.Epoch)), append(el, e.TrainLoss), append(ea, e.TestAcc)
			}
			loss.series = append(loss.series, series{name: "PyTorch (epoch mean)", x: ex, y: el, color: torchRed, points: true})
			acc.series = append(acc.series, series{name: "PyTorch standard", x: ex, y: ea, color: torchRed, points: true})
		}
		ticks := []float64{0, 1, 2, 3, 4, 5, 6}
		loss.xTicks, acc.xTicks = ticks, ticks
		out = append(out, loss, acc)
	}
	if w := d.workflows["workflow"]; w != nil && len(w.Ops) > 0 {
		p := panel{title: "fine-tuning: test acc %", xLabel: "epochs (op, then all)", legendLow: true}
		for i, r := range w.Ops {
			xs, ys := []float64{0}, []float64{100 * r.Converted}
			for _, e := range append(append([]train.EpochStats{}, r.OpEpochs...), r.AllEpochs...) {
				if e.Val != nil {
					xs, ys = append(xs, float64(len(xs))), append(ys, 100*e.Val.Accuracy)
				}
			}
			p.series = append(p.series, series{name: "Go " + r.Op, x: xs, y: ys, color: palette[(i+1)%len(palette)], points: true})
			if a, ok := anchorWorkflow[r.Op]; ok {
				p.series = append(p.series, series{name: "PyTorch " + r.Op, x: []float64{0, 1, 3}, y: a[:], color: darker(palette[(i+1)%len(palette)])})
			}
		}
		p.xTicks = []float64{0, 1, 2, 3}
		out = append(out, p)
	}
	return out
}

// darker halves a colour's brightness.
func darker(c color.RGBA) color.RGBA {
	return color.RGBA{c.R / 2, c.G / 2, c.B / 2, 255}
}

// smoothed returns the moving average of v over windows of w values,
// with x the index of each window's last value.
func smoothed(v []float64, w int) ([]float64, []float64) {
	var xs, ys []float64
	sum := 0.0
	for i, x := range v {
		sum += x
		if i >= w {
			sum -= v[i-w]
		}
		if i >= w-1 {
			xs = append(xs, float64(i))
			ys = append(ys, sum/float64(w))
		}
	}
	return xs, ys
}

// table is the Markdown results section.
func (d *reportData) table() string {
	var b strings.Builder
	if len(d.trains) > 0 {
		b.WriteString("CNN9 trained from scratch with the anchors' recipe (6 epochs), test accuracy on the 10,000 test images:\n\n")
		b.WriteString("| network | Go (this program) | PyTorch (anchors) | training time | images/s (last epoch) |\n|---|---|---|---|---|\n")
		for _, r := range d.trains {
			anchor := "–"
			if a, ok := anchorScratch[strings.TrimSuffix(r.Op, " weighted")]; ok {
				anchor = fmt.Sprintf("%.2f", a)
			}
			ips := 0.0
			if len(r.Epochs) > 0 {
				ips = r.Epochs[len(r.Epochs)-1].ImagesPerSecond
			}
			fmt.Fprintf(&b, "| CNN9 %s (`%s`, %d epochs, %d threads) | **%.2f** | %s | %s | %.0f |\n",
				r.Op, r.Model, r.Recipe.Epochs, r.Recipe.Threads, 100*r.TestAccuracy, anchor, minutes(r.Seconds), ips)
		}
		b.WriteString("\n")
	}
	names := make([]string, 0, len(d.workflows))
	for n := range d.workflows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w := d.workflows[n]
		fmt.Fprintf(&b, "Conversion of `%s` (test accuracy %.2f %%; weighted operators, calibrated on %d training images, ρ at the %.0fth percentile), then fine-tuning (SGD, %smomentum 0.9, weight decay 5e-4, cosine schedule, lr %.3g, batch 256, flips); test accuracy %% on %d images, Go / PyTorch (anchors):\n\n",
			w.Source, 100*w.SourceAccuracy, w.CalibSamples, 100*w.RhoPercentile, nesterovOf(w), lrOf(w), w.TestSamples)
		b.WriteString("| operator | right after conversion | + op params (bias, α, ρ) | + everything | fine-tuning time |\n|---|---|---|---|---|\n")
		for _, r := range w.Ops {
			a, ok := anchorWorkflow[r.Op]
			cell := func(v float64, k int) string {
				if !ok {
					return fmt.Sprintf("**%.2f**", 100*v)
				}
				return fmt.Sprintf("**%.2f** / %.2f", 100*v, a[k])
			}
			fmt.Fprintf(&b, "| %s | %s | %s (%d epoch) | %s (%d epochs) | %s |\n", r.Op, cell(r.Converted, 0), cell(r.OpTuned, 1), r.OpRecipe.Epochs,
				cell(r.AllTuned, 2), r.AllRecipe.Epochs, minutes(r.OpSeconds+r.AllSeconds))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// nesterovOf is "Nesterov " if the workflow's fine-tuning used Nesterov momentum.
func nesterovOf(w *workflowResult) string {
	if len(w.Ops) > 0 && w.Ops[0].OpRecipe.Nesterov {
		return "Nesterov "
	}
	return ""
}

func lrOf(w *workflowResult) float64 {
	if len(w.Ops) == 0 {
		return 0
	}
	return w.Ops[0].OpRecipe.LR
}

func minutes(s float64) string {
	return fmt.Sprintf("%.0f min", s/60)
}

// updateReadme replaces the text between the results markers of the
// README (appending a Results section with the markers when it has none).
func updateReadme(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	block := resultsBegin + "\n" + table + resultsEnd
	i, j := strings.Index(text, resultsBegin), strings.Index(text, resultsEnd)
	if i >= 0 && j > i {
		text = text[:i] + block + text[j+len(resultsEnd):]
	} else {
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += "\n## Results\n\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
