// Package cliutil holds the command-line plumbing that the project's
// commands, cmd/dcrun and cmd/dcconvert, share around
// github.com/urfave/cli/v3.
//
// It sits beside the commands, above every other package, and knows
// nothing about models: Run executes a command tree with an interrupt
// context, reports an error as one line "NAME: message" on standard error
// and turns it into an exit status; Setup makes a root command and its
// subcommands return their errors (usage errors included) to Run instead
// of printing help or exiting; OneLine folds a multi-line message into one
// line. Package clitest, below it, builds and runs such a command in tests.
package cliutil
