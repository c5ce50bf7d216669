// Command phototable measures predict on photos of the real test images and
// prints the markdown table of docs/predict.md ("Accuracy on photos"):
//
//	go run ./scripts/phototable --data DIR [--model M] [--n 500]
//
// Without --model it trains the default recipe of softmaxctl train itself
// (Fashion-MNIST, 10 epochs, lr 0.1, batch 256, seed 0, about a second on
// a CPU), so that the table comes from this one command. Each of the
// first --n test images is rendered as a photo under every condition of
// package phototest (seed = the image's index), prepared as predict
// prepares a picture and classified; see package photoacc for the
// figures. Progress goes to stderr, the table to stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/imageprep/photoacc"
	"github.com/softmaxctl/softmaxctl/internal/imageprep/phototest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "phototable: %v\n", err)
		}
		os.Exit(2)
	}
}

// run is the command with its arguments and outputs, for the tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("phototable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "the Fashion-MNIST folder (IDX files, as softmaxctl train --data takes)")
	modelPath := fs.String("model", "", "a model saved by softmaxctl train (default: train the default recipe here)")
	n := fs.Int("n", 500, "how many test images, from the first, to photograph under each condition")
	workers := fs.Int("workers", 0, "photos prepared at once (default: one per CPU)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *data == "" {
		return errors.New("--data DIR is required: the folder that holds the dataset's IDX files")
	}
	if *n < 1 {
		return fmt.Errorf("--n must be at least 1, got %d", *n)
	}

	start := time.Now()
	saved := &photoacc.Saved{Dataset: "fashion-mnist"}
	if *modelPath != "" {
		var err error
		if saved, err = photoacc.LoadModel(*modelPath); err != nil {
			return err
		}
	}
	spec, err := dataset.Lookup(saved.Dataset)
	if err != nil {
		return fmt.Errorf("the model's dataset: %w", err)
	}
	testSet, err := dataset.Load(*data, spec, dataset.Test)
	if err != nil {
		return fmt.Errorf("loading the test images: %w", err)
	}
	if *n > testSet.N {
		return fmt.Errorf("--n %d is more than the %d test images", *n, testSet.N)
	}
	var about string
	if *modelPath == "" {
		trainSet, err := dataset.Load(*data, spec, dataset.Train)
		if err != nil {
			return fmt.Errorf("loading the training images: %w", err)
		}
		fmt.Fprintln(stderr, "no --model: training the default recipe of softmaxctl train")
		m, last, err := photoacc.TrainDefault(ctx, trainSet, testSet)
		if err != nil {
			return err
		}
		saved.Model = m
		c := photoacc.DefaultConfig
		about = fmt.Sprintf("the default recipe of `softmaxctl train` (%d epochs, lr %g, batch %d, seed %d), trained by this command: val_acc %.4f",
			c.Epochs, c.LR, c.BatchSize, c.Seed, last.ValAcc)
	} else {
		about = fmt.Sprintf("%s (%s)", *modelPath, saved.Dataset)
	}
	fmt.Fprintf(stderr, "model: %s\n", about)

	conds := phototest.Conditions()
	opts := photoacc.Options{Prep: saved.Prep, Workers: *workers}
	done := 0
	opts.OnCondition = func(f photoacc.Figures) {
		done++
		fmt.Fprintf(stderr, "[%2d/%d] %-32s photo acc %.3f, agreement %.3f (%.0fs)\n",
			done, len(conds), f.Condition, f.PhotoAcc(), f.Agreement(), time.Since(start).Seconds())
	}
	figs, err := photoacc.Measure(ctx, saved.Model, testSet, *n, conds, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Model: %s. The first %d test images, each photographed once per condition (seed = its index), unsure at a top probability under %.2f.\n\n",
		about, *n, photoacc.UnsureProb)
	return photoacc.Markdown(stdout, figs)
}
