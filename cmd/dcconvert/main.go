// Command dcconvert turns convolutional ONNX models into Decoupled Networks.
//
// It is a thin command-line layer over packages onnx, convert and
// runtime/train, with three subcommands:
//
//	dcconvert rewrite IN.onnx -o OUT.onnx --op identity   replace Conv layers by DecoupledConv
//	dcconvert inspect MODEL                               list the layers and their operators
//	dcconvert finetune MODEL -o OUT.onnx --data DATA      train the model's parameters
//
// Run "dcconvert help COMMAND" for every flag. Errors are reported as one
// line on standard error, warnings and progress as lines on standard error,
// and the exit status is non-zero on error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/dcnet-go/dcnet/internal/cliutil"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return cliutil.Run("dcconvert", args, stderr, func() *cli.Command { return newApp(stdout, stderr) })
}

// newApp builds the command tree. Errors are returned to run, which prints
// them on one line; nothing inside exits the process.
func newApp(stdout, stderr io.Writer) *cli.Command {
	commands := []*cli.Command{rewriteCommand(stderr), inspectCommand(), finetuneCommand(stderr)}
	return cliutil.Setup(&cli.Command{
		Name:  "dcconvert",
		Usage: "rewrite the convolutions of ONNX models as decoupled convolutions (ai.dcnet/DecoupledConv)",
		Description: `dcconvert replaces Conv layers of an ONNX model by DecoupledConv layers
(Decoupled Networks, Liu et al., CVPR 2018) and describes converted models.

Examples:
  dcconvert rewrite resnet18.onnx -o resnet18_dc.onnx --op identity
  dcconvert rewrite resnet18.onnx -o resnet18_dc.onnx --op identity --format functions --skip-first
  dcconvert rewrite model.onnx -o portable.onnx --op identity --format expanded --layers 'layer[34]'
  dcconvert inspect resnet18_dc.onnx
  dcconvert inspect resnet18_dc.onnx --json`,
		Commands: commands,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return fmt.Errorf("unknown command %q (want rewrite, inspect or finetune; see dcconvert --help)", cmd.Args().First())
			}
			return cli.ShowRootCommandHelp(cmd)
		},
	}, stdout, stderr)
}
