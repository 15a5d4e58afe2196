package cliutil

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

func TestOneLine(t *testing.T) {
	if got := OneLine("a\nb\n\n  c  \n"); got != "a; b; c" {
		t.Errorf("OneLine = %q", got)
	}
}

// newTestApp is a command tree "tool" with a subcommand "sub" that has an
// int flag and does what act says.
func newTestApp(stdout, stderr *bytes.Buffer, act func() error) func() *cli.Command {
	return func() *cli.Command {
		return Setup(&cli.Command{
			Name: "tool",
			Commands: []*cli.Command{{
				Name:   "sub",
				Flags:  []cli.Flag{&cli.IntFlag{Name: "n"}},
				Action: func(context.Context, *cli.Command) error { return act() },
			}},
		}, stdout, stderr)
	}
}

func TestRun(t *testing.T) {
	t.Setenv("TOOL_TRACEBACK", "")
	for _, c := range []struct {
		name   string
		args   []string
		act    func() error
		status int
		stderr string
	}{
		{"success", []string{"tool", "sub"}, func() error { return nil }, 0, ""},
		{"error", []string{"tool", "sub"}, func() error { return errors.Join(errors.New("first"), errors.New("second")) },
			1, "tool: first; second\n"},
		{"panic", []string{"tool", "sub"}, func() error { panic("broken\ninvariant") },
			2, "tool: internal error: broken; invariant (set TOOL_TRACEBACK=1 for a stack trace)\n"},
		{"bad flag", []string{"tool", "sub", "--n", "x"}, func() error { return nil },
			1, "(see tool help sub)\n"},
		{"bad root flag", []string{"tool", "--nope"}, func() error { return nil },
			1, "(see tool --help)\n"},
	} {
		var stdout, stderr bytes.Buffer
		status := Run("tool", c.args, &stderr, newTestApp(&stdout, &stderr, c.act))
		if status != c.status || !strings.HasSuffix(stderr.String(), c.stderr) || strings.Count(stderr.String(), "\n") > 1 {
			t.Errorf("%s: status %d, stderr %q; want %d and a line ending in %q", c.name, status, stderr.String(), c.status, c.stderr)
		}
		if c.status == 1 && !strings.HasPrefix(stderr.String(), "tool: ") {
			t.Errorf("%s: stderr %q does not start with the command name", c.name, stderr.String())
		}
	}
}

func TestRunTraceback(t *testing.T) {
	t.Setenv("TOOL_TRACEBACK", "1")
	defer func() {
		if r := recover(); r != "broken" {
			t.Errorf("recovered %v, want the panic to go on", r)
		}
	}()
	var stdout, stderr bytes.Buffer
	Run("tool", []string{"tool", "sub"}, &stderr, newTestApp(&stdout, &stderr, func() error { panic("broken") }))
	t.Error("Run returned after a panic with TOOL_TRACEBACK set")
}
