// Command fmnist reproduces the Fashion-MNIST experiments of the toolkit
// (../shared/docs/anchors.md) in Go: it builds the CNN9 network as an ONNX
// graph, trains it with the anchors' recipe, converts it to Decoupled
// Networks and fine-tunes the converted models, and measures training and
// inference speed.
//
//	go run ./models/fmnist train [--op MAG:ANG] [--epochs 6] ...   train CNN9 from scratch
//	go run ./models/fmnist workflow [--model zoo/cnn9_go.onnx] ... rewrite → finetune op → finetune all
//	go run ./models/fmnist report                                  redraw the plot and README table
//	go run ./models/fmnist bench --mode train|infer --op standard|tanh:cos
//
// Results go to models/fmnist/results/*.json, the learning curve to
// models/fmnist/learning_curve.png and the results table into
// models/fmnist/README.md; trained models to models/fmnist/zoo/.
// Fashion-MNIST is read from /usr/share/datasets/fashion-mnist (--data).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fmnist:", err)
		os.Exit(1)
	}
}

const usage = `usage: go run ./models/fmnist COMMAND [flags]

commands:
  train     build CNN9 (standard or --op MAG:ANG) and train it on Fashion-MNIST
  workflow  convert a trained CNN9 (rewrite MAG:ANG, calibrated) and fine-tune it
  report    redraw learning_curve.png and the README table from results/*.json
  bench     measure CNN9 training or inference images/s (used by bench/run.py)

Run "go run ./models/fmnist COMMAND -h" for a command's flags.`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"train": runTrain, "workflow": runWorkflow, "report": runReport, "bench": runBench,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// defaultDataDir holds the Fashion-MNIST IDX files.
const defaultDataDir = "/usr/share/datasets/fashion-mnist"

// packageDir is models/fmnist: the directory of this source file when it
// exists (go run), else models/fmnist under the working directory.
func packageDir() string {
	if _, file, _, ok := goruntime.Caller(0); ok {
		dir := filepath.Dir(file)
		if _, err := os.Stat(filepath.Join(dir, "cnn9.go")); err == nil {
			return dir
		}
	}
	return filepath.Join("models", "fmnist")
}

// commonFlags are the flags every experiment takes.
type commonFlags struct {
	data    string
	dir     string
	threads int
	seed    uint64
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", defaultDataDir, "directory of the Fashion-MNIST IDX files")
	fs.StringVar(&c.dir, "dir", packageDir(), "models/fmnist directory (results, zoo, README)")
	fs.IntVar(&c.threads, "threads", 0, "goroutines (0: one per CPU); results are reproducible for a given count")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the initial weights, the sample order and the flips")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
