// Command softmaxctl trains, evaluates and uses softmax regression on
// Fashion-MNIST and MNIST. See README.md or `softmaxctl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/softmaxctl/softmaxctl/internal/cli"
)

func main() {
	// The live heap is mostly the dataset's bytes (about 55 MB); Gorgonia
	// allocates small short-lived values every step. Collecting at 30%
	// growth instead of 100% keeps the peak near 100 MB instead of 140 MB
	// for no measurable time. GOGC, when set, still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(30)
	}
	ignoreSIGPIPE()
	os.Exit(cli.Execute(signalContext(), cli.SystemIO(), os.Args[1:]))
}

// signalContext returns a context that the first SIGINT or SIGTERM
// cancels, with a cli.SignalError naming the signal as its cause: each
// command then stops at its next safe point (train finishes its batch and
// saves) and the exit status is 128 plus the signal's number. After the
// first signal the default action is restored, so a second one kills.
func signalContext() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel(cli.SignalError{Signal: s})
	}()
	return ctx
}
