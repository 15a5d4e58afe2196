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
	"os/signal"
	"strings"

	"github.com/urfave/cli/v3"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		if r := recover(); r != nil {
			if os.Getenv("DCCONVERT_TRACEBACK") != "" {
				panic(r)
			}
			fmt.Fprintf(stderr, "dcconvert: internal error: %s (set DCCONVERT_TRACEBACK=1 for a stack trace)\n", oneLine(fmt.Sprint(r)))
			status = 2
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := newApp(stdout, stderr).Run(ctx, args); err != nil {
		fmt.Fprintf(stderr, "dcconvert: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

// newApp builds the command tree. Errors are returned to run, which prints
// them on one line; nothing inside exits the process.
func newApp(stdout, stderr io.Writer) *cli.Command {
	commands := []*cli.Command{rewriteCommand(stderr), inspectCommand(), finetuneCommand(stderr)}
	for _, c := range commands {
		c.OnUsageError = usageError
	}
	return &cli.Command{
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
		Writer:         stdout,
		ErrWriter:      stderr,
		HideVersion:    true,
		Suggest:        true,
		OnUsageError:   usageError,
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Commands:       commands,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return fmt.Errorf("unknown command %q (want rewrite, inspect or finetune; see dcconvert --help)", cmd.Args().First())
			}
			return cli.ShowRootCommandHelp(cmd)
		},
	}
}

// usageError reports a bad flag or argument as an ordinary error, so that
// it is printed as one line instead of the help text.
func usageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	if cmd.Root() == cmd {
		return fmt.Errorf("%w (see dcconvert --help)", err)
	}
	return fmt.Errorf("%s: %w (see dcconvert help %s)", cmd.Name, err, cmd.Name)
}

// oneLine joins a multi-line message (errors.Join separates errors with
// newlines) into a single line.
func oneLine(msg string) string {
	var parts []string
	for _, l := range strings.Split(strings.TrimSpace(msg), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
