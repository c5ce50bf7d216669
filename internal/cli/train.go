package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/device/program"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/device"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/render"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
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
	// Recipe holds the options beyond the chapter's recipe (recipe.go).
	Recipe recipeOptions
	// NoFuse runs the graph of primitives without the fusion pass.
	NoFuse bool
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

Ctrl-C (or SIGTERM) finishes the current batch and stops. When at least one
epoch is complete the model is saved as it is, unless --out already holds a
model of the same dataset that scored better; the exit status is 130 (143 for
SIGTERM). Output paths are checked before any work starts.`,
		Example: `  softmaxctl train --epochs 10 --lr 0.1
  softmaxctl train --dataset mnist --seed 7 --out mnist.safetensors
  softmaxctl train --data ./fashion --json > log.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runTrain(cmd, opts)
		},
	}
	opts.Data.addFlags(cmd, dataFlags{autoDownload: true, folders: true})
	opts.Data.addFolderFlags(cmd)
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
	opts.Recipe.addFlags(cmd)
	f.BoolVar(&opts.NoFuse, "no-fuse", false, "run Gorgonia's primitive ops as the model is written, without fusing them (slower; for checking)")
	completeValues(cmd, "device", device.Names()...)
	completeFiles(cmd, "out", "safetensors")
	completeFiles(cmd, "plot", "png", "svg")
	return cmd
}

// validate checks the flags that need no data.
func (o *TrainOptions) validate() error {
	if err := o.config().Validate(0); err != nil {
		return configError(err)
	}
	if err := o.Recipe.validate(); err != nil {
		return err
	}
	if !(o.Sigma >= 0 && o.Sigma <= maxSigma) {
		return usagef("--sigma must be between 0 and %g, got %v: larger initial weights saturate the softmax before the first step", float64(maxSigma), o.Sigma)
	}
	if o.Out == "" {
		return usagef("--out must name a file")
	}
	if err := checkPlotExt(o.Plot); err != nil {
		return err
	}
	return nil
}

// config is the training recipe of the flags.
func (o *TrainOptions) config() train.Config {
	r := &o.Recipe
	schedule := r.Schedule
	if schedule == train.ScheduleConstant {
		schedule = ""
	}
	return train.Config{Epochs: o.Epochs, LR: o.LR, BatchSize: o.BatchSize, Seed: o.Seed,
		WeightDecay: r.WeightDecay, Momentum: r.Momentum, Nesterov: r.Nesterov,
		Schedule: schedule, Warmup: r.Warmup, EMA: r.EMA, LabelSmoothing: r.LabelSmoothing}
}

// maxSigma bounds --sigma: with inputs in [0, 1], initial weights this
// large already make logits in the thousands.
const maxSigma = 100

// configError words a train.ConfigError with the flag that set the field.
func configError(err error) error {
	var ce *train.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	flag := map[string]string{"Epochs": "--epochs", "LR": "--lr", "BatchSize": "--batch-size",
		"WeightDecay": "--weight-decay", "Momentum": "--momentum", "Nesterov": "--nesterov",
		"Schedule": "--lr-schedule", "Warmup": "--warmup-epochs", "EMA": "--ema", "LabelSmoothing": "--label-smoothing"}[ce.Field]
	return usagef("%s must be %s, got %v", flag, ce.Want, ce.Value)
}

// summary is the last JSON line of `train --json`.
type summary struct {
	ValAcc       float64 `json:"val_acc"`
	ValLoss      float64 `json:"val_loss"`
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_acc"`
	Epochs       int     `json:"epochs"` // the model's, those before a --resume included
	ResumedFrom  int     `json:"resumed_from_epoch,omitempty"`
	Device       string  `json:"device"`
	Model        string  `json:"model"`
	Interrupted  bool    `json:"interrupted,omitempty"`
	LoadSeconds  float64 `json:"load_seconds"`
	TrainSeconds float64 `json:"train_seconds"` // set-up (programs, device) and the loop
	LoopSeconds  float64 `json:"loop_seconds"`  // the epochs alone, validation included
	TotalSeconds float64 `json:"total_seconds"`

	// The figures of the options beyond the chapter's, absent without them.
	TestAcc   *float64 `json:"test_acc,omitempty"`
	TestLoss  *float64 `json:"test_loss,omitempty"`
	BestEpoch int      `json:"best_epoch,omitempty"`
	Stopped   bool     `json:"early_stopped,omitempty"`
}

// runTrain reads as the chapter's recipe does: load the data, build the
// model, fit it, save it, report. A trainRun carries what one step hands
// to the next.
func runTrain(cmd *cobra.Command, o *TrainOptions) error {
	r := &trainRun{o: o, ctx: cmd.Context(), start: time.Now()}
	if err := r.prepare(cmd); err != nil {
		return err
	}
	defer r.lock.Release()
	if err := r.load(); err != nil {
		return err
	}
	if err := r.build(); err != nil {
		return err
	}
	if err := r.fit(); err != nil {
		return err
	}
	if err := r.save(); err != nil {
		return err
	}
	return r.report()
}

// trainRun is one run of train, from its options to its report.
type trainRun struct {
	o     *TrainOptions
	ctx   context.Context
	start time.Time

	// prepare
	lock       *atomicfile.Lock
	presetLine string
	resume     *resumeState
	initCk     *checkpoint.Checkpoint
	host       *device.Host
	kind       device.Kind

	// load
	spec                      dataset.Spec
	dir                       string
	trainSet, valSet, testSet *dataset.Set
	nVal                      int

	// build
	cfg train.Config
	m   *model.Model
	tr  *train.Trainer

	// fit
	loadSeconds, trainSeconds, loopSeconds float64
	stdout                                 *pipeWriter
	history                                []train.Epoch
	outErr, plotErr, logErr                error
	stopped                                bool

	// save
	final train.Epoch
	test  *train.Result
}

// prepare checks everything that can be checked before any data is read:
// the recipe's preset, the output lock, --resume and --init, the flags,
// the device and the output paths.
func (r *trainRun) prepare(cmd *cobra.Command) (err error) {
	o := r.o
	if r.presetLine, err = o.Recipe.applyPreset(cmd); err != nil {
		return err
	}
	// Another run writing the same --out would replace this one's model,
	// or have its own replaced, without a word: the first holds it.
	if r.lock, err = lockOutput(o.Out); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			r.lock.Release()
		}
	}()
	if o.Recipe.Resume {
		if r.resume, err = o.resumeFrom(cmd); err != nil {
			return err
		}
	}
	if err := o.validate(); err != nil {
		return err
	}
	kind, err := device.Parse(o.Device)
	if err != nil {
		return usageError{err}
	}
	if r.spec, r.dir, err = o.Data.resolve(); err != nil {
		return err
	}
	if err := checkOutputs([]output{{"--out", o.Out}, {"--plot", o.Plot}, {"--log", o.Recipe.Log}}, dataFiles(r.spec, r.dir)...); err != nil {
		return err
	}
	if o.Recipe.Init != "" {
		if r.initCk, _, err = loadModel(o.Recipe.Init); err != nil {
			return err
		}
		if samePath(o.Recipe.Init, o.Out) {
			fmt.Fprintf(o.IO.ErrOut, "--init and --out are the same file: %s will be replaced by the fine-tuned model (pass another --out to keep it)\n", termtext.Escape(o.Out))
		}
	}
	r.host = device.NewHost(os.Getenv)
	var notice string
	if r.kind, notice, err = r.host.Resolve(kind); err != nil {
		return deviceAdvice(err)
	}
	if notice != "" {
		fmt.Fprintln(o.IO.ErrOut, notice)
	}
	// The GPU's set-up (kernels, cuBLAS) overlaps with loading the data.
	r.host.Prepare(r.kind)
	return nil
}

// load reads the training and test sets, holds out the validation set of
// --val-split, and fits the batch size to a small training set.
func (r *trainRun) load() (err error) {
	o := r.o
	o.Data.Folder.splitSeed = o.Seed
	var sets []*dataset.Set
	if r.spec, r.dir, sets, err = o.Data.load(r.ctx, o.IO, dataset.Train, dataset.Test); err != nil {
		return err
	}
	if r.ctx.Err() != nil {
		return interrupted(r.ctx, "interrupted while loading the data: nothing was saved"+unchanged(o.Out))
	}
	r.trainSet, r.testSet = sets[0], sets[1]
	// valSet is what each epoch is scored on: the test set in the
	// chapter's recipe, a held-out part of the training set with
	// --val-split, and then the test set is scored once, at the end.
	r.valSet = r.testSet
	if r.nVal, err = o.Recipe.valCount(r.trainSet.N); err != nil {
		return err
	}
	if r.nVal > 0 {
		if r.trainSet, r.valSet, err = train.Holdout(r.trainSet, r.nVal, o.Seed); err != nil {
			return err
		}
	}
	if o.BatchSize > r.trainSet.N {
		// As Keras and PyTorch's DataLoader do, a batch larger than the
		// data is the whole data: each epoch is then one step.
		fmt.Fprintf(o.IO.ErrOut, "--batch-size %d is more than the %d training images: each epoch is one batch of %d\n", o.BatchSize, r.trainSet.N, r.trainSet.N)
		o.BatchSize = r.trainSet.N
	}
	return nil
}

// build makes the model (the chapter's initialisation, standardised
// inputs, an --init warm start or a --resume's state) and its Trainer.
func (r *trainRun) build() (err error) {
	o := r.o
	r.cfg = o.config()
	if err := r.cfg.Validate(r.trainSet.N); err != nil {
		return configError(err)
	}
	if r.m, err = model.New(r.trainSet.Dim(), len(r.spec.Classes), o.Sigma, o.Seed); err != nil {
		return err
	}
	if o.Recipe.Standardize {
		if r.m.Norm, err = model.NewStandardizer(r.trainSet.Pix, r.trainSet.Dim()); err != nil {
			return err
		}
	}
	r.tr = &train.Trainer{Config: r.cfg, Unfused: o.NoFuse}
	if r.initCk != nil {
		if err := warmStart(r.m, r.initCk, r.spec.Name, o.Recipe.Init); err != nil {
			return err
		}
	}
	if r.resume != nil {
		if err := r.resume.apply(r.m, r.tr, r.spec.Name, o.Out); err != nil {
			return err
		}
	}
	if !o.Recipe.chapter() {
		// A run with a recipe record must be resumable: an interrupted one
		// keeps the state at its last complete epoch.
		r.tr.Rollback = true
		r.tr.SaveBest, r.tr.Patience = o.Recipe.SaveBest, o.Recipe.Patience
	}
	return nil
}

// fit trains: the epoch lines (or JSON), the progress bar, --log and
// --plot as each epoch ends, on the device chosen.
func (r *trainRun) fit() error {
	o, tr := r.o, r.tr
	r.loadSeconds = time.Since(r.start).Seconds()
	if r.presetLine != "" {
		fmt.Fprintf(o.IO.ErrOut, "recipe %s: %s\n", o.Recipe.Preset, r.presetLine)
	}
	if r.nVal > 0 {
		fmt.Fprintf(o.IO.ErrOut, "training on %s (%s: %d train, %d held-out validation, %d test images), device %s\n", termtext.Escape(r.spec.Name), termtext.Escape(r.dir), r.trainSet.N, r.valSet.N, r.testSet.N, r.kind)
	} else {
		fmt.Fprintf(o.IO.ErrOut, "training on %s (%s: %d train, %d test images), device %s\n", termtext.Escape(r.spec.Name), termtext.Escape(r.dir), r.trainSet.N, r.testSet.N, r.kind)
	}
	if r.resume != nil {
		fmt.Fprintf(o.IO.ErrOut, "resuming %s after epoch %d of %d\n", o.Out, tr.Start, r.cfg.Epochs)
	}
	logw, err := newEpochLog(o.Recipe.Log, r.resume != nil)
	if err != nil {
		return err
	}

	// A reader that goes away (| head) must not cost the run: stdout
	// stops, training goes on and the model is saved.
	r.stdout = &pipeWriter{w: o.IO.Out}
	var bar *trainBar
	if o.IO.ErrTTY && !o.JSON {
		bar = newTrainBar(o.IO.ErrOut, r.cfg.Epochs)
		tr.OnBatch = bar.update
	}
	// outErr and plotErr are the first failures to print and to plot.
	// Training goes on and the model is still saved: losing a run to a
	// full disk under --plot would cost more than the picture, and a
	// failing plot must not silence the epoch lines.
	tr.OnEpoch = func(e train.Epoch) {
		if r.logErr == nil && logw != nil {
			r.logErr = logw.add(e)
		}
		if bar != nil {
			bar.clear()
		}
		r.history = append(r.history, e)
		if r.outErr == nil {
			if o.JSON {
				r.outErr = writeJSON(r.stdout, e, "")
			} else {
				_, r.outErr = fmt.Fprintf(r.stdout, "epoch %*d/%d  train loss %.4f  train acc %.4f  val loss %.4f  val acc %.4f  %.2fs\n",
					len(fmt.Sprint(r.cfg.Epochs)), e.Epoch, r.cfg.Epochs, e.TrainLoss, e.TrainAcc, e.ValLoss, e.ValAcc, e.Seconds)
			}
			if r.stdout.closed {
				r.outErr = nil
			}
		}
		if r.plotErr == nil && o.Plot != "" {
			r.plotErr = plotCurves(o, r.spec, r.history)
		}
	}
	trainStart := time.Now()
	var loopStart time.Time // the first epoch's start: what precedes it is set-up
	tr.OnEpochStart = func(int, int) {
		if loopStart.IsZero() {
			loopStart = time.Now()
		}
	}
	var fitErr error
	if r.kind == device.CUDA {
		_, fitErr = tr.FitOn(r.ctx, r.m, r.trainSet, r.valSet, func(p *program.Program) (program.Executor, error) {
			return r.host.NewExecutor(device.CUDA, p)
		})
	} else {
		_, fitErr = tr.Fit(r.ctx, r.m, r.trainSet, r.valSet)
	}
	r.trainSeconds = time.Since(trainStart).Seconds()
	if !loopStart.IsZero() {
		r.loopSeconds = time.Since(loopStart).Seconds()
	}
	if bar != nil {
		bar.clear()
	}
	r.stopped = errors.Is(fitErr, train.ErrInterrupted)
	var diverged *train.DivergedError
	if errors.As(fitErr, &diverged) {
		return fmt.Errorf("%w: %s; nothing was saved%s", fitErr, o.divergedAdvice(), unchanged(o.Out))
	}
	if fitErr != nil && !r.stopped {
		return fitErr
	}
	return nil
}

// save writes the model to --out, with the figures that describe it,
// unless it must not replace what is there: an interrupted run before its
// first epoch, or beaten by the model already saved, or a model the
// loaders would refuse.
func (r *trainRun) save() (err error) {
	o, tr, history := r.o, r.tr, r.history
	if len(history) > 0 {
		r.final = history[len(history)-1]
	}
	if tr.SaveBest && tr.BestEpoch > 0 {
		// The saved model is the best epoch's: its figures describe it.
		r.final = history[tr.BestEpoch-tr.Start-1]
	}
	if r.stopped {
		if len(history) == 0 {
			// A model that has not seen one epoch is worth nothing, and
			// must not replace one that has.
			return interrupted(r.ctx, "interrupted before the first epoch finished: nothing was saved"+unchanged(o.Out))
		}
		// The last epoch's validation figures describe an earlier model:
		// measure the one being saved.
		res, err := train.Evaluate(r.m, r.valSet)
		if err != nil {
			return err
		}
		r.final.ValLoss, r.final.ValAcc = res.Loss, res.Confusion.Accuracy()
		if acc, ok := betterExisting(o.Out, r.spec.Name, r.final.ValAcc); ok {
			return interrupted(r.ctx, fmt.Sprintf("interrupted after %d full %s (val acc %.4f): kept %s, which scores better (val acc %.4f); the interrupted model was not saved",
				len(history), plural(len(history), "epoch"), r.final.ValAcc, o.Out, acc))
		}
	}
	prep, split := o.Data.trainPreprocess(r.spec)
	if r.nVal > 0 {
		if r.test, err = train.Evaluate(r.m, r.testSet); err != nil {
			return err
		}
	}
	m := r.m
	ck := &checkpoint.Checkpoint{
		W: m.W, B: m.B, In: m.In, Out: m.Out,
		Meta: checkpoint.Meta{
			Dataset:    r.spec.Name,
			Classes:    r.spec.Classes,
			InputShape: inputShape(r.trainSet),
			Scaling:    "pixel/255",
			Epochs:     tr.Start + len(history),
			LR:         r.cfg.LR,
			BatchSize:  r.cfg.BatchSize,
			Sigma:      o.Sigma,
			Seed:       r.cfg.Seed,
			Metrics: map[string]float64{
				"train_loss": r.final.TrainLoss, "train_acc": r.final.TrainAcc,
				"val_loss": r.final.ValLoss, "val_acc": r.final.ValAcc,
			},
			Version:    Version,
			Preprocess: prep,
			TestSplit:  split,
		},
	}
	if !o.Recipe.chapter() {
		o.record(ck, tr, m, r.nVal, r.resume, r.test)
	}
	// A model that eval, predict and show-errors would refuse must not
	// replace anything: check it as they do when they load it.
	if _, err := modelOf(ck); err != nil {
		var re *model.RangeError
		if errors.As(err, &re) {
			return fmt.Errorf("training diverged: %s; nothing was saved%s; %s", re.Reason, unchanged(o.Out), o.divergedAdvice())
		}
		return fmt.Errorf("the trained model is not usable: %w; nothing was saved%s", err, unchanged(o.Out))
	}
	if err := checkpoint.Save(o.Out, ck); err != nil {
		return err
	}
	if r.logErr != nil {
		return fmt.Errorf("saved the model to %s, but could not write --log %s: %w", o.Out, o.Recipe.Log, r.logErr)
	}
	if r.outErr != nil {
		return fmt.Errorf("saved the model to %s, but could not write the epoch lines: %w", o.Out, r.outErr)
	}
	if r.plotErr != nil {
		return fmt.Errorf("saved the model to %s, but could not draw --plot %s: %w", o.Out, o.Plot, r.plotErr)
	}
	return nil
}

// report prints the summary (JSON, or the closing lines) of a saved run.
func (r *trainRun) report() error {
	o, tr, stdout := r.o, r.tr, r.stdout
	total := time.Since(r.start).Seconds()
	if o.JSON {
		s := summary{
			ValAcc: r.final.ValAcc, ValLoss: r.final.ValLoss, TrainLoss: r.final.TrainLoss, TrainAcc: r.final.TrainAcc,
			Epochs: tr.Start + len(r.history), Device: string(r.kind), Model: o.Out, Interrupted: r.stopped,
			LoadSeconds: r.loadSeconds, TrainSeconds: r.trainSeconds, LoopSeconds: r.loopSeconds, TotalSeconds: total,
			Stopped: tr.Stopped,
		}
		if tr.SaveBest {
			s.BestEpoch = tr.BestEpoch
		}
		if r.resume != nil {
			s.ResumedFrom = tr.Start
		}
		if r.test != nil {
			acc := r.test.Confusion.Accuracy()
			s.TestAcc, s.TestLoss = &acc, &r.test.Loss
		}
		if err := writeJSON(stdout, s, ""); err != nil && !stdout.closed {
			return fmt.Errorf("saved the model to %s, but could not write the summary: %w", o.Out, err)
		}
	}
	if r.test != nil && !o.JSON {
		fmt.Fprintf(stdout, "test loss %.4f  test acc %.4f  (the test set, scored once)\n", r.test.Loss, r.test.Confusion.Accuracy())
	}
	if tr.Stopped {
		fmt.Fprintf(o.IO.ErrOut, "stopped early: no better validation accuracy for %d epochs after epoch %d\n", tr.Patience, tr.BestEpoch)
	}
	if tr.SaveBest && tr.BestEpoch > 0 {
		fmt.Fprintf(o.IO.ErrOut, "saved the weights of epoch %d, the best on the validation set\n", tr.BestEpoch)
	}
	if !o.JSON || stdout.closed {
		fmt.Fprintf(o.IO.ErrOut, "saved %s (val acc %.4f) after %s; training %.2fs, total %.2fs\n", o.Out, r.final.ValAcc, epochsDone(tr.Start, len(r.history)), r.trainSeconds, total)
	}
	if stdout.closed {
		fmt.Fprintln(o.IO.ErrOut, "standard output was closed by its reader: the rest of the output was dropped, the model was saved")
	}
	if r.stopped {
		return interrupted(r.ctx, fmt.Sprintf("interrupted after %s: saved the model as it was to %s", epochsDone(tr.Start, len(r.history)), o.Out))
	}
	return nil
}

// epochsDone says how many epochs the saved model has trained: all of
// them, and those of this run when it resumed after epoch start ("10
// epochs (5 in this run)"), so that a resumed run does not seem to have
// trained only its own.
func epochsDone(start, run int) string {
	total := start + run
	s := fmt.Sprintf("%d %s", total, plural(total, "epoch"))
	if start > 0 {
		s += fmt.Sprintf(" (%d in this run)", run)
	}
	return s
}

// lockOutput takes the advisory lock of train's --out (see
// atomicfile.Lock), refusing to start while another run holds it. A path
// that cannot be locked because it cannot be written is left to
// checkOutputs, which says why in its own words.
func lockOutput(path string) (*atomicfile.Lock, error) {
	if path == "" {
		return nil, nil
	}
	l, err := atomicfile.Acquire(path)
	var le *atomicfile.LockedError
	switch {
	case errors.As(err, &le):
		by := "another softmaxctl run"
		if le.PID > 0 {
			by += fmt.Sprintf(" (pid %d)", le.PID)
		}
		return nil, fmt.Errorf("--out %s is being written by %s, whose model would replace this one's or be replaced by it: wait for it to finish, or choose another --out; nothing was done",
			termtext.Escape(path), by)
	case err != nil:
		return nil, nil
	}
	return l, nil
}

// divergedAdvice is what to change after a run diverged.
func (o *TrainOptions) divergedAdvice() string {
	advice := fmt.Sprintf("use a smaller --lr than %v", o.LR)
	if o.Sigma > 1 {
		advice += fmt.Sprintf(" or a smaller --sigma than %v", o.Sigma)
	}
	return advice
}

// dataFiles lists the four files of spec in dir: what train reads, and so
// what no output may overwrite.
func dataFiles(spec dataset.Spec, dir string) []string {
	files := make([]string, len(spec.Downloads()))
	for i, f := range spec.Downloads() {
		files[i] = filepath.Join(dir, f.Name)
	}
	return files
}

// unchanged tells, for a message about a run that saved nothing, that the
// file at path (if there is one) was left as it was.
func unchanged(path string) string {
	if _, err := os.Lstat(path); err == nil {
		return "; " + path + " is unchanged"
	}
	return ""
}

// betterExisting reports whether path already holds a model of the same
// dataset whose recorded validation accuracy is at least acc, and that
// accuracy. An interrupted run must not replace a better model.
func betterExisting(path, dataset string, acc float64) (float64, bool) {
	ck, err := checkpoint.Load(path)
	if err != nil || ck.Meta.Dataset != dataset {
		return 0, false
	}
	old, ok := ck.Meta.Metrics["val_acc"]
	if !ok || !(old >= acc) {
		return 0, false
	}
	return old, true
}

// plural returns word, in its plural form unless n is 1.
func plural(n int, word string) string {
	switch {
	case n == 1:
		return word
	case strings.HasSuffix(word, "y"):
		return strings.TrimSuffix(word, "y") + "ies"
	}
	return word + "s"
}

// pipeWriter passes writes to w until the reader of a pipe goes away
// (EPIPE); from then on it drops them and reports success, and closed is
// true.
type pipeWriter struct {
	w      io.Writer
	closed bool
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	if p.closed {
		return len(b), nil
	}
	n, err := p.w.Write(b)
	if isBrokenPipe(err) {
		p.closed = true
		return len(b), nil
	}
	return n, err
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
	if err := render.CheckChartName(path); err != nil {
		return usagef("--plot %s: %w", path, err)
	}
	return nil
}

// deviceAdvice adds to device's answer what a user can do about it: build
// with CUDA, or train on the CPU.
func deviceAdvice(err error) error {
	var unavailable *device.UnavailableError
	if !errors.As(err, &unavailable) {
		return err
	}
	if !device.CUDASupport {
		return fmt.Errorf("--device cuda: %w: build one with `make build-cuda` on a machine with the CUDA toolkit, or use --device cpu", unavailable.Reason)
	}
	return fmt.Errorf("--device cuda: %w; use --device cpu, or auto to fall back to the CPU", unavailable.Reason)
}
