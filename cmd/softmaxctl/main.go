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
	// The first Ctrl-C cancels the context: train finishes its batch, saves
	// and exits 130. stop restores the default so a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(cli.Execute(ctx, cli.SystemIO(), os.Args[1:]))
}
