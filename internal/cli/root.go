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
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	G "gorgonia.org/gorgonia"

	"github.com/softmaxctl/softmaxctl/internal/blas"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
)

// Version is the tool's version, set at link time with
// -ldflags "-X github.com/softmaxctl/softmaxctl/internal/cli.Version=...".
var Version = "0.1.0-dev"

// Exit statuses. A run stopped by a signal exits 128 plus the signal's
// number, the shell's convention: 130 for SIGINT (Ctrl-C), 143 for SIGTERM.
const (
	ExitOK        = 0
	ExitRuntime   = 1
	ExitUsage     = 2
	ExitInterrupt = 128 + int(syscall.SIGINT)
	ExitTerminate = 128 + int(syscall.SIGTERM)
	// ExitPipe is the status of a command whose standard output was
	// closed by its reader (| head), as if SIGPIPE had ended it.
	ExitPipe = 128 + 13
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

// SignalError is the cause of a context that a signal cancelled: main
// cancels the commands' context with it, so that the exit status can say
// which signal stopped the run.
type SignalError struct{ Signal os.Signal }

func (e SignalError) Error() string { return "interrupted by " + e.Signal.String() }

// interruptError marks a run stopped by a signal (Ctrl-C or SIGTERM): what
// was done, and the cause of the cancellation, which sets the exit status.
type interruptError struct {
	msg   string
	cause error
}

func (e interruptError) Error() string { return e.msg }

// interrupted returns an interruptError for a run whose context is done,
// with msg saying what was (not) kept.
func interrupted(ctx context.Context, msg string) error {
	return interruptError{msg: msg, cause: context.Cause(ctx)}
}

// exitStatus is the status for a run stopped by cause: 128 plus the
// signal's number, or 130 (as for Ctrl-C) when the cause is not a signal.
func exitStatus(cause error) int {
	var se SignalError
	if errors.As(cause, &se) {
		if s, ok := se.Signal.(syscall.Signal); ok {
			return 128 + int(s)
		}
	}
	return ExitInterrupt
}

// runError marks an error that a command's run function returned, as
// opposed to one cobra found on the command line before running it.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// markRunErrors wraps the run function of c and its subcommands so that
// their errors are runErrors: whatever else cobra returns is a usage error.
func markRunErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return runError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

// NewRootCmd builds the softmaxctl command tree.
func NewRootCmd(ios *IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "softmaxctl",
		Short: "Train, evaluate and use softmax regression on Fashion-MNIST, MNIST and your own images",
		Long: `softmaxctl trains softmax regression - the classic baseline classifier - on
Fashion-MNIST, MNIST, KMNIST, CIFAR-10 or your own images (--data DIR, a folder
with one subfolder of images per class), as in the "softmax regression from
scratch" chapter of Dive into Deep Learning, evaluates it, and saves it as
safetensors.`,
		Example: `  softmaxctl train --epochs 10 --lr 0.1
  softmaxctl train --data ./pets --out pets.safetensors
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
	// One version string: --version prints what `version` prints. The
	// template calls versionLine only when --version is given (in a CUDA
	// build it asks the driver for the GPU).
	cobra.AddTemplateFunc("versionLine", versionLine)
	root.SetVersionTemplate("{{versionLine}}\n")
	root.SetFlagErrorFunc(flagError)
	root.Args = cobra.ArbitraryArgs
	root.RunE = unknownCommand
	root.SuggestionsMinimumDistance = 2
	root.AddCommand(
		NewCmdDownload(ios, nil),
		NewCmdTrain(ios, nil),
		NewCmdEval(ios, nil),
		NewCmdPredict(ios, nil),
		NewCmdShowErrors(ios, nil),
		NewCmdExportImages(ios, nil),
		NewCmdShowWeights(ios, nil),
		NewCmdExportONNX(ios, nil),
		NewCmdVersion(ios),
	)
	// cobra adds these when it executes; adding them now lets their
	// errors be marked as run errors like the others'.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	refuseUnknownShells(root)
	markRunErrors(root)
	return root
}

// refuseUnknownShells makes `completion SHELL` for a shell cobra writes no
// script for a usage error that lists the shells, instead of the help
// and exit 0: a script that silently never came would look like success.
func refuseUnknownShells(root *cobra.Command) {
	comp, _, err := root.Find([]string{"completion"})
	if err != nil || comp == root {
		return
	}
	var shells []string
	for _, c := range comp.Commands() {
		shells = append(shells, c.Name())
	}
	slices.Sort(shells)
	list := strings.Join(shells[:len(shells)-1], ", ") + " or " + shells[len(shells)-1]
	comp.Args = cobra.ArbitraryArgs
	comp.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		return usagef("no completion for shell %q: softmaxctl writes completion scripts for %s (softmaxctl completion bash; see 'softmaxctl completion --help')", args[0], list)
	}
}

// Execute runs the command line args and returns the exit status. Errors
// are printed as one line on ios.ErrOut. The status comes from the error's
// type: a usage error or a bad command line 2, a run stopped by a signal
// 128 plus its number, a closed standard output 141 (silently), any other
// failure 1.
func Execute(ctx context.Context, ios *IO, args []string) int {
	// Gorgonia takes its BLAS process-wide: every matrix product of every
	// graph goes through the project's SGEMM, tuned for n = 10 columns.
	G.Use(blas.New())
	// Help, completion scripts and printed tables ignore their write
	// errors; this remembers the first, so that `--help > /dev/full`
	// fails instead of exiting 0 having written nothing.
	out := &errWriter{w: ios.Out}
	cios := *ios
	cios.Out = out
	root := NewRootCmd(&cios)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil && out.err != nil {
		err = runError{fmt.Errorf("write to standard output: %w", out.err)}
	}
	return exitFor(ctx, ios, err)
}

// errWriter passes writes to w and keeps the first error other than a
// closed pipe, which commands handle themselves (train keeps training) and
// which, after help text, is no failure.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil && !isBrokenPipe(err) {
		e.err = err
	}
	return n, err
}

// exitFor prints err, if any, and returns the exit status for it.
func exitFor(ctx context.Context, ios *IO, err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		ue usageError
		ie interruptError
		re runError
	)
	switch {
	case errors.As(err, &ie):
		printError(ios, err)
		return exitStatus(ie.cause)
	case ctx.Err() != nil:
		// A signal came and the command gave up on what it was doing
		// (a download, say): that is an interruption, not a failure.
		printError(ios, errors.New("interrupted: stopped before finishing; nothing was written"))
		return exitStatus(context.Cause(ctx))
	case isBrokenPipe(err):
		// The reader of our output went away (| head): like any Unix
		// filter, stop quietly.
		return ExitPipe
	}
	printError(ios, err)
	if errors.As(err, &ue) || !errors.As(err, &re) {
		return ExitUsage
	}
	return ExitRuntime
}

// printError prints err as the one softmaxctl: line, with control
// characters escaped: messages quote file names and model metadata, which
// must not reach a terminal raw.
func printError(ios *IO, err error) {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	fmt.Fprintf(ios.ErrOut, "softmaxctl: %s\n", termtext.Escape(msg))
}
