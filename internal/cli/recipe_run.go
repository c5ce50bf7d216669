package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/train"
)

// resumeState is what --resume reads from the checkpoint in --out.
type resumeState struct {
	ck     *checkpoint.Checkpoint
	recipe *checkpoint.Recipe
}

// resumeFlags are the flags that --resume may be given: where things go
// and how long to go on. Every other setting comes from the checkpoint.
var resumeFlags = []string{"resume", "out", "epochs", "data", "dataset", "device", "json", "plot", "log", "no-download", "mirror", "skip-dataset-check"}

// resumeFrom reads the run in --out and sets the flags to its recipe.
func (o *TrainOptions) resumeFrom(cmd *cobra.Command) (*resumeState, error) {
	var bad []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if !slices.Contains(resumeFlags, f.Name) {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return nil, usagef("--resume takes the recipe from the checkpoint in --out; %s cannot change it (only --epochs, the data, device and output flags can be given)", bad[0])
	}
	ck, err := checkpoint.Load(o.Out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--resume: %w: nothing to resume; train one first", err)
	}
	if err != nil {
		return nil, fmt.Errorf("--resume: %w", err)
	}
	rr, err := ck.ReadRecipe()
	if err != nil {
		return nil, fmt.Errorf("--resume: model %s: %w", o.Out, err)
	}
	if rr.SaveBest || rr.Patience > 0 {
		return nil, usagef("--resume: model %s was saved by a run with --save-best or --patience, whose weights are not those of its last epoch; start a new run instead", o.Out)
	}
	if ck.Meta.Epochs < 1 || rr.BatchSize < 1 || !(rr.LR > 0) {
		return nil, fmt.Errorf("--resume: model %s records no complete training run (epochs %d, batch size %d, lr %v)", o.Out, ck.Meta.Epochs, rr.BatchSize, rr.LR)
	}
	if !cmd.Flags().Changed("epochs") {
		o.Epochs = rr.Epochs
	}
	if o.Epochs <= ck.Meta.Epochs {
		return nil, usagef("--resume: model %s has already trained %d of %d epochs: pass a larger --epochs to go on", o.Out, ck.Meta.Epochs, o.Epochs)
	}
	if o.Epochs != rr.Epochs && (rr.Schedule != "" && rr.Schedule != train.ScheduleConstant) {
		return nil, usagef("--resume: model %s follows a %s schedule planned for %d epochs; --epochs %d would change it", o.Out, rr.Schedule, rr.Epochs, o.Epochs)
	}
	o.LR, o.BatchSize, o.Sigma, o.Seed = rr.LR, rr.BatchSize, rr.Sigma, rr.Seed
	r := &o.Recipe
	r.WeightDecay, r.Momentum, r.Nesterov, r.Warmup, r.EMA, r.Standardize = rr.WeightDecay, rr.Momentum, rr.Nesterov, rr.Warmup, rr.EMA, rr.Standardize
	r.LabelSmoothing = rr.Smoothing
	r.Schedule = rr.Schedule
	if r.Schedule == "" {
		r.Schedule = train.ScheduleConstant
	}
	r.ValSplit, r.Preset = "", rr.Preset
	if rr.ValSplit > 0 {
		r.ValSplit = strconv.Itoa(rr.ValSplit)
	}
	return &resumeState{ck: ck, recipe: rr}, nil
}

// apply puts the checkpoint's parameters and optimiser state into m and tr.
func (rs *resumeState) apply(m *model.Model, tr *train.Trainer, dataset, path string) error {
	ck := rs.ck
	if ck.Meta.Dataset != dataset || ck.In != m.In || ck.Out != m.Out {
		return fmt.Errorf("--resume: model %s was trained on %s (%d inputs, %d classes), the data is %s (%d inputs, %d classes)", path, ck.Meta.Dataset, ck.In, ck.Out, dataset, m.In, m.Out)
	}
	norm, err := normFrom(ck)
	if err != nil {
		return fmt.Errorf("--resume: model %s: %w", path, err)
	}
	if (norm != nil) != rs.recipe.Standardize {
		return fmt.Errorf("--resume: model %s: its standardisation does not match its recipe", path)
	}
	if norm != nil {
		m.Norm = norm
	}
	tr.Start = ck.Meta.Epochs
	copy(m.W, ck.W)
	copy(m.B, ck.B)
	x := ck.Extra
	if rs.recipe.Momentum > 0 {
		vw, vb := x[checkpoint.TensorMomentumW], x[checkpoint.TensorMomentumB]
		if vw == nil || vb == nil {
			return fmt.Errorf("--resume: model %s has no momentum state", path)
		}
		tr.Opt = &train.Optimizer{WeightDecay: rs.recipe.WeightDecay, Momentum: rs.recipe.Momentum, Nesterov: rs.recipe.Nesterov, VW: vw, VB: vb}
	}
	if rs.recipe.EMA > 0 {
		iw, ib := x[checkpoint.TensorIterateW], x[checkpoint.TensorIterateB]
		if iw == nil || ib == nil {
			return fmt.Errorf("--resume: model %s has no iterate to go on from", path)
		}
		// The file's W and b are the average; training goes on from the
		// last iterate.
		tr.Avg = &train.Average{Decay: rs.recipe.EMA, AW: slices.Clone(ck.W), AB: slices.Clone(ck.B)}
		copy(m.W, iw)
		copy(m.B, ib)
	}
	return nil
}

// warmStart starts m from the checkpoint of --init, which must be a model
// of the same data and preprocessing.
func warmStart(m *model.Model, ck *checkpoint.Checkpoint, dataset, path string) error {
	if ck.Meta.Dataset != dataset {
		return fmt.Errorf("--init %s: model of %s, the data is %s", path, ck.Meta.Dataset, dataset)
	}
	if ck.In != m.In || ck.Out != m.Out {
		return fmt.Errorf("--init %s: model of %d inputs and %d classes, the data has %d and %d", path, ck.In, ck.Out, m.In, m.Out)
	}
	norm, err := normFrom(ck)
	if err != nil {
		return fmt.Errorf("--init %s: %w", path, err)
	}
	switch {
	case norm == nil && m.Norm != nil:
		return fmt.Errorf("--init %s: model trained without standardisation, this run has --standardize", path)
	case norm != nil && m.Norm == nil:
		return fmt.Errorf("--init %s: model trained with standardisation: add --standardize", path)
	case norm != nil:
		// The weights belong to the standardisation they were trained
		// with.
		m.Norm = norm
	}
	copy(m.W, ck.W)
	copy(m.B, ck.B)
	return nil
}

// record adds the recipe, the extra tensors and the extra figures of a run
// beyond the chapter's recipe to its checkpoint.
func (o *TrainOptions) record(ck *checkpoint.Checkpoint, tr *train.Trainer, m *model.Model, nVal int, resume *resumeState, test *train.Result) {
	r := &o.Recipe
	rr := checkpoint.Recipe{
		Preset: r.Preset, Epochs: o.Epochs, LR: o.LR, BatchSize: o.BatchSize, Sigma: o.Sigma, Seed: o.Seed,
		ValSplit: nVal, WeightDecay: r.WeightDecay, Momentum: r.Momentum, Nesterov: r.Nesterov,
		Schedule: tr.Schedule, Warmup: r.Warmup, EMA: r.EMA, Standardize: m.Norm != nil, Smoothing: r.LabelSmoothing,
		SaveBest: r.SaveBest, Patience: r.Patience, TestSelection: (r.SaveBest || r.Patience > 0) && nVal == 0,
		Init: r.Init,
	}
	if resume != nil {
		rr.StartEpoch = tr.Start
		if resume.recipe.Init != "" {
			rr.Init = resume.recipe.Init
		}
	}
	if r.SaveBest {
		rr.BestEpoch = tr.BestEpoch
		ck.Meta.Metrics["best_epoch"] = float64(tr.BestEpoch)
	}
	ck.Meta.Recipe = rr.Encode()
	if test != nil {
		ck.Meta.Metrics["test_acc"] = test.Confusion.Accuracy()
		ck.Meta.Metrics["test_loss"] = test.Loss
	}
	ck.Extra = map[string][]float32{}
	if m.Norm != nil {
		ck.Extra[checkpoint.TensorMean] = m.Norm.Mean
		ck.Extra[checkpoint.TensorStd] = m.Norm.Std
	}
	if tr.Opt != nil && tr.Opt.VW != nil && !r.SaveBest {
		ck.Extra[checkpoint.TensorMomentumW] = tr.Opt.VW
		ck.Extra[checkpoint.TensorMomentumB] = tr.Opt.VB
	}
	if tr.Iterate[0] != nil && !r.SaveBest {
		ck.Extra[checkpoint.TensorIterateW] = tr.Iterate[0]
		ck.Extra[checkpoint.TensorIterateB] = tr.Iterate[1]
	}
}

// epochLog is --log: the rows so far, rewritten whole and atomically after
// each epoch, so that the file is never half-written and always current.
type epochLog struct {
	path string
	csv  bool
	head []byte // the rows of the run being resumed
	rows bytes.Buffer
}

func newEpochLog(path string, resume bool) (*epochLog, error) {
	if path == "" {
		return nil, nil
	}
	l := &epochLog{path: path, csv: logExt(path) == ".csv"}
	if resume {
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--log %s: %w", path, err)
		}
		l.head = old
	}
	if l.csv && len(l.head) == 0 {
		l.rows.WriteString("epoch,train_loss,train_acc,val_loss,val_acc,seconds\n")
	}
	return l, nil
}

func (l *epochLog) add(e train.Epoch) error {
	if l.csv {
		fmt.Fprintf(&l.rows, "%d,%g,%g,%g,%g,%.3f\n", e.Epoch, e.TrainLoss, e.TrainAcc, e.ValLoss, e.ValAcc, e.Seconds)
	} else if err := writeJSON(&l.rows, e, ""); err != nil {
		return err
	}
	return atomicfile.Write(l.path, func(w io.Writer) error {
		if _, err := w.Write(l.head); err != nil {
			return err
		}
		_, err := w.Write(l.rows.Bytes())
		return err
	})
}
