// Package clitest builds a command of this module and runs it as a
// subprocess, as a user would, for the tests of cmd/dcrun and
// cmd/dcconvert. It is imported by test files only.
package clitest
