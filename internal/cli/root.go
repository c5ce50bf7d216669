// Package cli holds softmaxctl's commands. Each command lives in its own
// file with an options struct that holds its inputs and its I/O, a
// constructor that builds the cobra.Command, and a run function that does
// the work, so tests drive commands with buffers instead of a process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	G "gorgonia.org/gorgonia"

	"github.com/softmaxctl/softmaxctl/internal/blas"
)

// Version is the tool's version, set at link time with
// -ldflags "-X github.com/softmaxctl/softmaxctl/internal/cli.Version=...".
var Version = "0.1.0-dev"

// Exit statuses.
const (
	ExitOK        = 0
	ExitRuntime   = 1
	ExitUsage     = 2
	ExitInterrupt = 130
)

// IO is where a command reads and writes. Tests fill it with buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY and ErrTTY say whether Out and ErrOut are terminals: progress
	// bars only go to a terminal, and binary output refuses one.
	OutTTY, ErrTTY bool
}

// SystemIO returns the process's standard streams.
func SystemIO() *IO {
	return &IO{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// usageError marks an error the user made on the command line; it exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// interruptError marks a run stopped by Ctrl-C; it exits 130.
type interruptError struct{ msg string }

func (e interruptError) Error() string { return e.msg }

// NewRootCmd builds the softmaxctl command tree.
func NewRootCmd(ios *IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "softmaxctl",
		Short: "Train, evaluate and use softmax regression on Fashion-MNIST and MNIST",
		Long: `softmaxctl trains softmax regression - the classic baseline classifier - on
Fashion-MNIST or MNIST, as in the "softmax regression from scratch" chapter of
Dive into Deep Learning, evaluates it, and saves it as safetensors.`,
		Example: `  softmaxctl train --epochs 10 --lr 0.1
  softmaxctl eval --model model.safetensors
  softmaxctl predict image.png
  softmaxctl show-errors > misclassified.png`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       Version,
	}
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(
		NewCmdDownload(ios, nil),
		NewCmdTrain(ios, nil),
		NewCmdEval(ios, nil),
		NewCmdPredict(ios, nil),
		NewCmdShowErrors(ios, nil),
		NewCmdVersion(ios),
	)
	return root
}

// Execute runs the command line args and returns the exit status. Errors
// are printed as one line on ios.ErrOut.
func Execute(ctx context.Context, ios *IO, args []string) int {
	// Gorgonia takes its BLAS process-wide: every matrix product of every
	// graph goes through the project's SGEMM, tuned for n = 10 columns.
	G.Use(blas.New())
	root := NewRootCmd(ios)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	fmt.Fprintf(ios.ErrOut, "softmaxctl: %s\n", msg)
	var ue usageError
	var ie interruptError
	switch {
	case errors.As(err, &ie):
		return ExitInterrupt
	case errors.As(err, &ue), isCobraUsage(err):
		return ExitUsage
	}
	return ExitRuntime
}

// isCobraUsage recognises the errors cobra itself returns for a bad command
// line, which are plain errors.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument"} {
		if strings.HasPrefix(s, p) || strings.Contains(s, " "+p) {
			return true
		}
	}
	return false
}
