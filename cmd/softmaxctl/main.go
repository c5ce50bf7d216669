// Command softmaxctl trains, evaluates and uses softmax regression on
// Fashion-MNIST and MNIST. See README.md or `softmaxctl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/softmaxctl/softmaxctl/internal/cli"
)

func main() {
	// The first Ctrl-C cancels the context: train finishes its batch, saves
	// and exits 130. stop restores the default so a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(cli.Execute(ctx, cli.SystemIO(), os.Args[1:]))
}
