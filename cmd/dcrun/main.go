// Command dcrun runs ONNX models with the pure-Go runtime.
//
// It is a thin command-line layer over packages onnx and runtime (and the
// DecoupledConv operator), with three subcommands:
//
//	dcrun infer [MODEL] -i [NAME=]FILE ...   run a model on .npy arrays or images
//	dcrun info MODEL                         describe a model and check it can run
//	dcrun bench MODEL                        time repeated runs
//
// "dcrun infer" without a model runs a small model built into the binary.
// Run "dcrun help COMMAND" for every flag. Errors are reported as one line
// on standard error, and the exit status is non-zero.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/internal/cliutil"
	"github.com/dcnet-go/dcnet/runtime"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return cliutil.Run("dcrun", args, stderr, func() *cli.Command { return newApp(stdout, stderr) })
}

// registry returns the operator set dcrun runs models with: the standard
// ONNX operators plus this project's extensions, which register into r
// here (decop.Register(r) for ai.dcnet/DecoupledConv).
func registry() *runtime.Registry {
	r := runtime.Builtins()
	decop.Register(r)
	return r
}

// newApp builds the command tree. Errors are returned to run, which prints
// them on one line; nothing inside exits the process.
func newApp(stdout, stderr io.Writer) *cli.Command {
	commands := []*cli.Command{inferCommand(), infoCommand(), benchCommand(), evalCommand()}
	return cliutil.Setup(&cli.Command{
		Name:  "dcrun",
		Usage: "run ONNX models (including Decoupled Networks) with a pure-Go CPU runtime",
		Description: `dcrun loads an ONNX model, plans it once and runs it on the CPU.

Examples:
  dcrun infer                                  run the built-in demo model
  dcrun infer model.onnx -i cat.jpg --labels imagenet.txt
  dcrun infer model.onnx -i input=x.npy -o out/
  dcrun info model.onnx
  dcrun bench model.onnx --threads 2 --runs 50`,
		// File names may contain commas: repeat -i instead of splitting.
		DisableSliceFlagSeparator: true,
		Commands:                  commands,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return fmt.Errorf("unknown command %q (want infer, info or bench; see dcrun --help)", cmd.Args().First())
			}
			return cli.ShowRootCommandHelp(cmd)
		},
	}, stdout, stderr)
}
