package cliutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v3"
)

// Run builds the command tree with newApp and runs it on args (args[0] is
// the program name), cancelling its context on an interrupt, and returns
// the exit status: 0 on success, 1 when the tree returns an error, which is
// printed on stderr as one line "name: message", and 2 on a panic, printed
// as one line "name: internal error: ..." unless the environment variable
// NAME_TRACEBACK (name in upper case, such as DCRUN_TRACEBACK) is set, in
// which case the panic goes on with its stack trace.
func Run(name string, args []string, stderr io.Writer, newApp func() *cli.Command) (status int) {
	traceback := strings.ToUpper(name) + "_TRACEBACK"
	defer func() {
		if r := recover(); r != nil {
			if os.Getenv(traceback) != "" {
				panic(r)
			}
			fmt.Fprintf(stderr, "%s: internal error: %s (set %s=1 for a stack trace)\n", name, OneLine(fmt.Sprint(r)), traceback)
			status = 2
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := newApp().Run(ctx, args); err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, OneLine(err.Error()))
		return 1
	}
	return 0
}

// Setup prepares root, a command tree whose subcommands are in
// root.Commands, to be run by Run and returns it: help and output go to
// stdout, cli's own messages to stderr, there is no version flag, a
// mistyped subcommand gets a suggestion, a usage error (bad flag or
// argument) of root or of a subcommand is returned as an ordinary error
// (UsageError), and no error exits the process.
func Setup(root *cli.Command, stdout, stderr io.Writer) *cli.Command {
	for _, c := range root.Commands {
		c.OnUsageError = UsageError
	}
	root.Writer = stdout
	root.ErrWriter = stderr
	root.HideVersion = true
	root.Suggest = true
	root.OnUsageError = UsageError
	root.ExitErrHandler = func(context.Context, *cli.Command, error) {}
	return root
}

// UsageError is a cli.OnUsageErrorFunc that reports a bad flag or argument
// as an ordinary error, so that it is printed as one line instead of the
// help text; the error points to the help of the command, such as
// "infer: flag provided but not defined: -x (see dcrun help infer)".
func UsageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	root := cmd.Root()
	if root == cmd {
		return fmt.Errorf("%w (see %s --help)", err, root.Name)
	}
	return fmt.Errorf("%s: %w (see %s help %s)", cmd.Name, err, root.Name, cmd.Name)
}

// OneLine joins a multi-line message (errors.Join separates errors with
// newlines) into a single line, its non-blank lines trimmed and separated
// by "; ".
func OneLine(msg string) string {
	var parts []string
	for _, l := range strings.Split(strings.TrimSpace(msg), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
