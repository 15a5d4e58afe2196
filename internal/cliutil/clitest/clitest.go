package clitest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Main is a TestMain body: it builds the main package in the current
// directory into a temporary directory as the binary name, stores the
// binary's path in *bin, runs the tests, removes the binary and exits with
// the tests' status. It exits with status 1 if the build fails.
func Main(m *testing.M, name string, bin *string) {
	dir, err := os.MkdirTemp("", name+"-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", *bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n", name, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Result is what a run of a command printed and its exit status.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs the binary bin with args and returns its output and exit
// status; it stops the test if the binary cannot be started.
func Run(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return Result{out.String(), errb.String(), code}
}

// MustSucceed runs bin with args like Run and stops the test, showing the
// command's standard error, if it exits with a non-zero status.
func MustSucceed(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	r := Run(t, bin, args...)
	if r.Code != 0 {
		t.Fatalf("%s %s: exit %d\nstderr: %s", filepath.Base(bin), strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r
}
