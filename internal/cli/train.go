package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/device"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/render"
	"github.com/softmaxctl/softmaxctl/internal/train"
)

// TrainOptions are the inputs of `softmaxctl train`.
type TrainOptions struct {
	IO   *IO
	Data dataOptions

	Epochs    int
	LR        float64
	BatchSize int
	Sigma     float64
	Seed      int64
	Device    string
	Out       string
	JSON      bool
	// Plot, when set, is where the training curves are drawn after each
	// epoch (PNG or SVG by extension).
	Plot string
}

// NewCmdTrain builds `softmaxctl train`. runF replaces the run function in
// tests that only check flag handling.
func NewCmdTrain(ios *IO, runF func(*cobra.Command, *TrainOptions) error) *cobra.Command {
	opts := &TrainOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train softmax regression and save it as safetensors",
		Long: `Train softmax regression with minibatch SGD, printing per epoch the training
loss and accuracy and the loss and accuracy on the test images, then save the
model (safetensors). Missing dataset files are downloaded first.

Ctrl-C finishes the current batch, saves the model and exits with status 130.`,
		Example: `  softmaxctl train --epochs 10 --lr 0.1
  softmaxctl train --dataset mnist --seed 7 --out mnist.safetensors
  softmaxctl train --data ./fashion --json > log.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runTrain(cmd, opts)
		},
	}
	opts.Data.addFlags(cmd.Flags(), dataFlags{autoDownload: true})
	f := cmd.Flags()
	f.IntVar(&opts.Epochs, "epochs", 10, "passes over the training set")
	f.Float64Var(&opts.LR, "lr", 0.1, "SGD learning rate")
	f.IntVar(&opts.BatchSize, "batch-size", 256, "examples per minibatch")
	f.Float64Var(&opts.Sigma, "sigma", 0.01, "standard deviation of the initial weights")
	f.Int64Var(&opts.Seed, "seed", 0, "seed for the initial weights and the shuffling (same seed, same model)")
	f.StringVar(&opts.Device, "device", "auto", "where to train: auto, cpu or cuda")
	f.StringVarP(&opts.Out, "out", "o", "model.safetensors", "where to save the model")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON object per epoch, and a summary, on stdout")
	f.StringVar(&opts.Plot, "plot", "", "draw the training curves into this PNG or SVG file after each epoch")
	return cmd
}

// validate checks the flags that need no data.
func (o *TrainOptions) validate() error {
	cfg := train.Config{Epochs: o.Epochs, LR: o.LR, BatchSize: o.BatchSize, Seed: o.Seed}
	if err := cfg.Validate(0); err != nil {
		return usageError{err}
	}
	if !(o.Sigma >= 0) || math.IsInf(o.Sigma, 0) {
		return usagef("--sigma must be a finite number >= 0, got %v", o.Sigma)
	}
	if o.Out == "" {
		return usagef("--out must name a file")
	}
	if err := checkPlotExt(o.Plot); err != nil {
		return err
	}
	return nil
}

// summary is the last JSON line of `train --json`.
type summary struct {
	ValAcc       float64 `json:"val_acc"`
	ValLoss      float64 `json:"val_loss"`
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_acc"`
	Epochs       int     `json:"epochs"`
	Device       string  `json:"device"`
	Model        string  `json:"model"`
	Interrupted  bool    `json:"interrupted,omitempty"`
	LoadSeconds  float64 `json:"load_seconds"`
	TrainSeconds float64 `json:"train_seconds"`
	TotalSeconds float64 `json:"total_seconds"`
}

func runTrain(cmd *cobra.Command, o *TrainOptions) error {
	start := time.Now()
	if err := o.validate(); err != nil {
		return err
	}
	kind, err := device.Parse(o.Device)
	if err != nil {
		return usageError{err}
	}
	kind, notice, err := device.Resolve(kind)
	if err != nil {
		return err
	}
	if notice != "" {
		fmt.Fprintln(o.IO.ErrOut, notice)
	}
	ctx := cmd.Context()
	spec, dir, sets, err := o.Data.load(ctx, o.IO, dataset.Train, dataset.Test)
	if err != nil {
		return err
	}
	trainSet, testSet := sets[0], sets[1]
	cfg := train.Config{Epochs: o.Epochs, LR: o.LR, BatchSize: o.BatchSize, Seed: o.Seed}
	if err := cfg.Validate(trainSet.N); err != nil {
		return usageError{err}
	}
	m, err := model.New(trainSet.Dim(), len(spec.Classes), o.Sigma, o.Seed)
	if err != nil {
		return err
	}
	loadSeconds := time.Since(start).Seconds()
	fmt.Fprintf(o.IO.ErrOut, "training on %s (%s: %d train, %d test images), device %s\n", spec.Name, dir, trainSet.N, testSet.N, kind)

	tr := &train.Trainer{Config: cfg}
	var bar *progressbar.ProgressBar
	if o.IO.ErrTTY && !o.JSON {
		tr.OnEpochStart = func(epoch, batches int) {
			bar = progressbar.NewOptions(batches,
				progressbar.OptionSetWriter(o.IO.ErrOut),
				progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, cfg.Epochs)),
				progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(100*time.Millisecond),
			)
		}
		tr.OnBatch = func(done, total int) { _ = bar.Set(done) }
	}
	var history []train.Epoch
	// writeErr is the first failure to print or plot. Training goes on
	// and the model is still saved: losing a run to a bad --plot path
	// would cost more than the picture.
	var writeErr error
	tr.OnEpoch = func(e train.Epoch) {
		if bar != nil {
			_ = bar.Finish()
		}
		history = append(history, e)
		if writeErr != nil {
			return
		}
		if o.JSON {
			writeErr = json.NewEncoder(o.IO.Out).Encode(e)
		} else {
			_, writeErr = fmt.Fprintf(o.IO.Out, "epoch %*d/%d  train loss %.4f  train acc %.4f  val loss %.4f  val acc %.4f  %.2fs\n",
				len(fmt.Sprint(cfg.Epochs)), e.Epoch, cfg.Epochs, e.TrainLoss, e.TrainAcc, e.ValLoss, e.ValAcc, e.Seconds)
		}
		if writeErr == nil && o.Plot != "" {
			writeErr = plotCurves(o, spec, history)
		}
	}
	trainStart := time.Now()
	var fitErr error
	if kind == device.CUDA {
		_, fitErr = tr.FitOn(ctx, m, trainSet, testSet, func(p *device.Program) (device.Executor, error) {
			return device.NewExecutor(device.CUDA, p)
		})
	} else {
		_, fitErr = tr.Fit(ctx, m, trainSet, testSet)
	}
	trainSeconds := time.Since(trainStart).Seconds()
	interrupted := errors.Is(fitErr, train.ErrInterrupted)
	if fitErr != nil && !interrupted {
		return fitErr
	}

	final := train.Epoch{}
	if len(history) > 0 {
		final = history[len(history)-1]
	}
	if interrupted {
		// The last epoch's validation figures describe an earlier model:
		// measure the one being saved.
		res, err := train.Evaluate(m, testSet)
		if err != nil {
			return err
		}
		final.ValLoss, final.ValAcc = res.Loss, res.Confusion.Accuracy()
	}
	ck := &checkpoint.Checkpoint{
		W: m.W, B: m.B, In: m.In, Out: m.Out,
		Meta: checkpoint.Meta{
			Dataset:    spec.Name,
			Classes:    spec.Classes,
			InputShape: []int{trainSet.Rows, trainSet.Cols},
			Scaling:    "pixel/255",
			Epochs:     len(history),
			LR:         cfg.LR,
			BatchSize:  cfg.BatchSize,
			Sigma:      o.Sigma,
			Seed:       cfg.Seed,
			Metrics: map[string]float64{
				"train_loss": final.TrainLoss, "train_acc": final.TrainAcc,
				"val_loss": final.ValLoss, "val_acc": final.ValAcc,
			},
			Version: Version,
		},
	}
	if err := checkpoint.Save(o.Out, ck); err != nil {
		return err
	}
	if writeErr != nil {
		return fmt.Errorf("saved the model to %s, but could not write the output: %w", o.Out, writeErr)
	}
	total := time.Since(start).Seconds()
	if o.JSON {
		s := summary{
			ValAcc: final.ValAcc, ValLoss: final.ValLoss, TrainLoss: final.TrainLoss, TrainAcc: final.TrainAcc,
			Epochs: len(history), Device: string(kind), Model: o.Out, Interrupted: interrupted,
			LoadSeconds: loadSeconds, TrainSeconds: trainSeconds, TotalSeconds: total,
		}
		if err := json.NewEncoder(o.IO.Out).Encode(s); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	} else {
		fmt.Fprintf(o.IO.ErrOut, "saved %s (val acc %.4f) after %d epochs; training %.2fs, total %.2fs\n", o.Out, final.ValAcc, len(history), trainSeconds, total)
	}
	if interrupted {
		return interruptError{fmt.Sprintf("interrupted after %d full epochs: saved the model as it was to %s", len(history), o.Out)}
	}
	return nil
}

// plotCurves draws the curves of the epochs so far into o.Plot.
func plotCurves(o *TrainOptions, spec dataset.Spec, history []train.Epoch) error {
	pts := make([]render.EpochPoint, len(history))
	for i, e := range history {
		pts[i] = render.EpochPoint{Epoch: e.Epoch, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc, ValLoss: e.ValLoss, ValAcc: e.ValAcc}
	}
	title := fmt.Sprintf("%s — lr %g, batch %d, %d epochs, seed %d", spec.Name, o.LR, o.BatchSize, o.Epochs, o.Seed)
	return render.Curves(pts, title, o.Plot)
}

// checkPlotExt refuses a --plot file that is neither PNG nor SVG before
// any work is done.
func checkPlotExt(path string) error {
	if path == "" {
		return nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".svg":
		return nil
	}
	return usagef("--plot %s: use a .png or .svg file name", path)
}
