package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/render"
	"github.com/softmaxctl/softmaxctl/internal/train"
)

// ShowErrorsOptions are the inputs of `softmaxctl show-errors`.
type ShowErrorsOptions struct {
	IO    *IO
	Data  dataOptions
	Model string
	Count int
	Limit int
	Scale int
	Out   string
}

// NewCmdShowErrors builds `softmaxctl show-errors`.
func NewCmdShowErrors(ios *IO, runF func(*cobra.Command, *ShowErrorsOptions) error) *cobra.Command {
	opts := &ShowErrorsOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "show-errors",
		Short: "Draw the test images a model gets wrong, as a PNG grid",
		Long: `Classify the first --count test images (256, the chapter's first validation
batch), keep the misclassified ones and tile them in a PNG grid, each captioned
with its true class over the predicted one, enlarged --scale times. The PNG
goes to standard output (redirect it) or to --out FILE (-o FILE).`,
		Example: `  softmaxctl show-errors > misclassified.png
  softmaxctl show-errors --model mnist.safetensors --limit 16 --scale 4 -o errors.png`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runShowErrors(cmd, opts)
		},
	}
	opts.Data.addFlags(cmd, dataFlags{autoDownload: true, fromModel: true})
	f := cmd.Flags()
	f.StringVarP(&opts.Model, "model", "m", "model.safetensors", "the model file")
	f.IntVar(&opts.Count, "count", 256, "how many test images to look through, from the first")
	f.IntVar(&opts.Limit, "limit", 0, "at most this many tiles (0: all misclassified images found)")
	f.IntVar(&opts.Scale, "scale", 3, "enlarge each image this many times")
	f.StringVarP(&opts.Out, "out", "o", "", "write the PNG to this file instead of standard output")
	// --output was this flag's name before -o meant --out everywhere.
	f.StringVar(&opts.Out, "output", "", "")
	_ = f.MarkHidden("output")
	completeFiles(cmd, "model", "safetensors")
	completeFiles(cmd, "out", "png")
	return cmd
}

func runShowErrors(cmd *cobra.Command, o *ShowErrorsOptions) error {
	switch {
	case o.Count < 1:
		return usagef("--count must be at least 1, got %d", o.Count)
	case o.Limit < 0:
		return usagef("--limit must be 0 (no limit) or more, got %d", o.Limit)
	case o.Scale < 1 || o.Scale > render.MaxScale:
		return usagef("--scale must be between 1 and %d, got %d", render.MaxScale, o.Scale)
	case o.Out == "" && o.IO.OutTTY:
		return usagef("show-errors writes a PNG: redirect it (softmaxctl show-errors > errors.png) or use --out FILE")
	}
	ck, m, err := loadModel(o.Model)
	if err != nil {
		return err
	}
	if err := datasetFor(&o.Data, ck, o.Model); err != nil {
		return err
	}
	spec, dir, err := o.Data.resolve()
	if err != nil {
		return err
	}
	if err := checkOutputs([]output{{"--out", o.Out}}, append(dataFiles(spec, dir), o.Model)...); err != nil {
		return err
	}
	ctx := cmd.Context()
	spec, _, sets, err := o.Data.load(ctx, o.IO, dataset.Test)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return interrupted(ctx, "interrupted: nothing was drawn")
	}
	full := sets[0]
	if full.Dim() != m.In {
		return fmt.Errorf("model %s takes %d inputs, but %s images have %d", o.Model, m.In, spec.Name, full.Dim())
	}
	n := min(o.Count, full.N)
	s := &dataset.Set{Pix: full.Pix[:n*full.Dim()], Labels: full.Labels[:n], N: n, Rows: full.Rows, Cols: full.Cols, Channels: full.Channels, Classes: full.Classes}
	res, err := train.Evaluate(m, s)
	if err != nil {
		return err
	}
	var tiles []render.Tile
	for i := 0; i < n && (o.Limit == 0 || len(tiles) < o.Limit); i++ {
		if t := int(s.Labels[i]); res.Pred[i] != t {
			tiles = append(tiles, render.Tile{
				Pix: s.Pix[i*s.Dim() : (i+1)*s.Dim()], Rows: s.Rows, Cols: s.Cols, Channels: s.Channels,
				True: spec.Classes[t], Pred: spec.Classes[res.Pred[i]],
			})
		}
	}
	if len(tiles) == 0 {
		return fmt.Errorf("the model classifies all of the first %d test images correctly: look through more with --count", n)
	}
	img, err := render.ErrorGrid(tiles, o.Scale)
	var big *render.GridTooLargeError
	if errors.As(err, &big) {
		return usagef("%v: use --limit %d, a smaller --scale or a smaller --count", err, max(big.Fit, 1))
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return interrupted(ctx, "interrupted: nothing was written")
	}
	wrong := 0
	for i := 0; i < n; i++ {
		if res.Pred[i] != int(s.Labels[i]) {
			wrong++
		}
	}
	fmt.Fprintf(o.IO.ErrOut, "%d of the first %d test images are misclassified; drew %d\n", wrong, n, len(tiles))
	return writePNG(o.IO, o.Out, img)
}
