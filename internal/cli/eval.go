package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/metrics"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/render"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
	"github.com/softmaxctl/softmaxctl/internal/train"
)

// EvalOptions are the inputs of `softmaxctl eval`.
type EvalOptions struct {
	IO    *IO
	Data  dataOptions
	Model string
	Split string
	JSON  bool
	Plot  string
}

// NewCmdEval builds `softmaxctl eval`.
func NewCmdEval(ios *IO, runF func(*cobra.Command, *EvalOptions) error) *cobra.Command {
	opts := &EvalOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Measure a saved model: accuracy, loss, per-class scores, confusion matrix",
		Long: `Evaluate a saved model on the test (default) or training split: accuracy, mean
cross-entropy, per-class precision, recall and F1, and the confusion matrix.
The dataset defaults to the one the model was trained on.`,
		Example: `  softmaxctl eval --model model.safetensors
  softmaxctl eval --model model.safetensors --split train --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runEval(cmd, opts)
		},
	}
	opts.Data.addFlags(cmd, dataFlags{autoDownload: true, fromModel: true, folders: true})
	cmd.Flags().StringVarP(&opts.Model, "model", "m", "model.safetensors", "the model file to evaluate")
	cmd.Flags().StringVar(&opts.Split, "split", "test", "which split: test or train")
	cmd.Flags().StringVar(&opts.Plot, "plot", "", "draw the confusion matrix as a heatmap into this PNG or SVG file")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON on stdout")
	completeFiles(cmd, "model", "safetensors")
	completeValues(cmd, "split", "test", "train")
	completeFiles(cmd, "plot", "png", "svg")
	return cmd
}

// loadModel reads a checkpoint and wraps it in a model.
func loadModel(path string) (*checkpoint.Checkpoint, *model.Model, error) {
	ck, err := checkpoint.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: train one with `softmaxctl train --out %s`", err, shellQuote(path))
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := modelOf(ck)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", path, err)
	}
	return ck, m, nil
}

// modelOf is the model of a checkpoint, refused when it is not usable:
// parameters that are not finite or so large that the logits could
// overflow, or a standardisation that does not fit. Every command that
// loads a model applies it (loadModel), and train applies it before it
// saves one, so that it never writes a model the others refuse.
func modelOf(ck *checkpoint.Checkpoint) (*model.Model, error) {
	m, err := model.FromParams(ck.In, ck.Out, ck.W, ck.B)
	if err != nil {
		return nil, err
	}
	if m.Norm, err = normFrom(ck); err != nil {
		return nil, err
	}
	return m, nil
}

// modelAndSplit is what eval and show-errors start with: the model of
// path, then the split of the data it was trained on (--dataset checked
// against it, --data resolved, the outputs checked against every input
// before anything is read), checked to fit the model. what says what an
// interruption while loading leaves undone.
func modelAndSplit(ctx context.Context, ios *IO, path string, d *dataOptions, split dataset.Split, outs []output, what string) (*checkpoint.Checkpoint, *model.Model, dataset.Spec, *dataset.Set, error) {
	fail := func(err error) (*checkpoint.Checkpoint, *model.Model, dataset.Spec, *dataset.Set, error) {
		return nil, nil, dataset.Spec{}, nil, err
	}
	ck, m, err := loadModel(path)
	if err != nil {
		return fail(err)
	}
	if err := datasetFor(d, ck, path); err != nil {
		return fail(err)
	}
	spec, dir, err := d.resolve()
	if err != nil {
		return fail(err)
	}
	if err := checkOutputs(outs, append(dataFiles(spec, dir), path)...); err != nil {
		return fail(err)
	}
	spec, _, sets, err := d.load(ctx, ios, split)
	if err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return fail(interrupted(ctx, "interrupted: "+what))
	}
	s := sets[0]
	if s.Dim() != m.In || len(spec.Classes) != m.Out {
		return fail(fmt.Errorf("model %s takes %d inputs and %d classes, but %s has %d and %d", path, m.In, m.Out, spec.Name, s.Dim(), len(spec.Classes)))
	}
	return ck, m, spec, s, nil
}

// datasetFor settles --dataset against the dataset a model was trained on.
func datasetFor(d *dataOptions, ck *checkpoint.Checkpoint, path string) error {
	d.fromModel(ck)
	if d.Dataset == "" {
		d.Dataset = ck.Meta.Dataset
		return nil
	}
	if d.Dataset != ck.Meta.Dataset {
		return usagef("model %s was trained on %s, not %s: drop --dataset or pass --dataset %s", path, ck.Meta.Dataset, d.Dataset, ck.Meta.Dataset)
	}
	return nil
}

type evalJSON struct {
	Model     string               `json:"model"`
	Dataset   string               `json:"dataset"`
	Split     string               `json:"split"`
	Examples  int                  `json:"examples"`
	Accuracy  float64              `json:"accuracy"`
	Loss      float64              `json:"loss"`
	MacroF1   float64              `json:"macro_f1"`
	PerClass  []metrics.ClassStats `json:"per_class"`
	Confusion [][]int64            `json:"confusion"`
	Classes   []string             `json:"classes"`
	// Recipe is the training recipe a run beyond the chapter's recorded.
	Recipe *checkpoint.Recipe `json:"recipe,omitempty"`
}

func runEval(cmd *cobra.Command, o *EvalOptions) error {
	split := dataset.Split(o.Split)
	if o.Split == "val" {
		return usagef("--split val: the val figures train prints are measured on the test split, as the chapter validates on the test set; use --split test")
	}
	if split != dataset.Train && split != dataset.Test {
		return usagef("unknown --split %q: use test or train", o.Split)
	}
	if err := o.Data.checkName(); err != nil {
		return err
	}
	if err := checkPlotExt(o.Plot); err != nil {
		return err
	}
	ctx := cmd.Context()
	ck, m, spec, s, err := modelAndSplit(ctx, o.IO, o.Model, &o.Data, split, []output{{"--plot", o.Plot}}, "nothing was evaluated")
	if err != nil {
		return err
	}
	res, err := train.Evaluate(m, s)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return interrupted(ctx, "interrupted: nothing was written")
	}
	c := res.Confusion
	if o.Plot != "" {
		title := fmt.Sprintf("%s %s set — accuracy %.4f", spec.Name, o.Split, c.Accuracy())
		if err := render.ConfusionHeatmap(c.Counts, c.K, spec.Classes, title, o.Plot); err != nil {
			return fmt.Errorf("--plot %s: %w", o.Plot, err)
		}
	}
	if o.JSON {
		out := evalJSON{
			Model: o.Model, Dataset: spec.Name, Split: o.Split, Examples: s.N,
			Accuracy: c.Accuracy(), Loss: res.Loss, MacroF1: c.MacroF1(),
			PerClass: c.PerClass(spec.Classes), Classes: spec.Classes,
		}
		for t := 0; t < c.K; t++ {
			row := make([]int64, c.K)
			for p := range row {
				row[p] = c.At(t, p)
			}
			out.Confusion = append(out.Confusion, row)
		}
		if ck.Meta.Recipe != "" {
			out.Recipe, _ = ck.ReadRecipe()
		}
		// One line, as train and predict print theirs.
		return writeJSON(o.IO.Out, out, "")
	}
	fmt.Fprintf(o.IO.Out, "model     %s (%s, %d %s, lr %g, batch %d)\n", termtext.Escape(o.Model), termtext.Escape(ck.Meta.Dataset), ck.Meta.Epochs, plural(ck.Meta.Epochs, "epoch"), ck.Meta.LR, ck.Meta.BatchSize)
	if line := recipeLine(ck); line != "" {
		fmt.Fprintf(o.IO.Out, "recipe    %s\n", termtext.Escape(line))
	}
	fmt.Fprintf(o.IO.Out, "split     %s (%d examples)\n", o.Split, s.N)
	fmt.Fprintf(o.IO.Out, "accuracy  %.4f\n", c.Accuracy())
	fmt.Fprintf(o.IO.Out, "loss      %.4f\n", res.Loss)
	fmt.Fprintf(o.IO.Out, "macro F1  %.4f\n\n", c.MacroF1())
	return metrics.WriteTables(o.IO.Out, c, spec.Classes)
}
