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
		Long: `Classify the test images in order until --count of them (32) are misclassified,
or the test split ends, and tile those in a PNG grid, each captioned with its
true class over the predicted one, enlarged --scale times. The PNG goes to
standard output (redirect it) or to --out FILE (-o FILE). A model that gets
every test image right has nothing to draw: one line says so, and the exit
status is 0.`,
		Example: `  softmaxctl show-errors > misclassified.png
  softmaxctl show-errors --model mnist.safetensors --count 16 --scale 4 -o errors.png`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runShowErrors(cmd, opts)
		},
	}
	opts.Data.addFlags(cmd, dataFlags{autoDownload: true, fromModel: true, folders: true})
	f := cmd.Flags()
	f.StringVarP(&opts.Model, "model", "m", "model.safetensors", "the model file")
	f.IntVar(&opts.Count, "count", 32, "how many misclassified test images to find and draw, looking from the first")
	// --limit capped the tiles when --count was the number of images to
	// look through; now that --count is the number of tiles, it is the
	// same setting.
	f.IntVar(&opts.Limit, "limit", 0, "")
	_ = f.MarkHidden("limit")
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
	// --limit N of earlier versions is --count N; its 0 meant "no cap",
	// which leaves --count as it is.
	if cmd.Flags().Changed("limit") && !cmd.Flags().Changed("count") {
		if o.Limit < 0 {
			return usagef("--limit (now --count) must be at least 1, got %d", o.Limit)
		}
		if o.Limit > 0 {
			o.Count = o.Limit
		}
	}
	switch {
	case o.Count < 1:
		return usagef("--count must be at least 1, got %d", o.Count)
	case o.Scale < 1 || o.Scale > render.MaxScale:
		return usagef("--scale must be between 1 and %d, got %d", render.MaxScale, o.Scale)
	case o.Out == "" && o.IO.OutTTY:
		return usagef("show-errors writes a PNG: redirect it (softmaxctl show-errors > errors.png) or use --out FILE")
	}
	if err := o.Data.checkName(); err != nil {
		return err
	}
	ctx := cmd.Context()
	_, m, spec, s, err := modelAndSplit(ctx, o.IO, o.Model, &o.Data, dataset.Test, []output{{"--out", o.Out}}, "nothing was drawn")
	if err != nil {
		return err
	}
	// The whole split is classified (10,000 images take milliseconds) and
	// searched in order: a good model's errors are rare, and a small
	// folder's test split may hold fewer images than a batch.
	res, err := train.Evaluate(m, s)
	if err != nil {
		return err
	}
	var tiles []render.Tile
	looked := 0
	for i := 0; i < s.N && len(tiles) < o.Count; i++ {
		looked++
		if t := int(s.Labels[i]); res.Pred[i] != t {
			tiles = append(tiles, render.Tile{
				Pix: s.Pix[i*s.Dim() : (i+1)*s.Dim()], Rows: s.Rows, Cols: s.Cols, Channels: s.Channels,
				True: spec.Classes[t], Pred: spec.Classes[res.Pred[i]],
			})
		}
	}
	if len(tiles) == 0 {
		_, err := fmt.Fprintf(o.IO.ErrOut, "the model classifies all %d test images correctly: there are no errors to draw, and nothing was written\n", s.N)
		return err
	}
	img, err := render.ErrorGrid(tiles, o.Scale)
	var big *render.GridTooLargeError
	if errors.As(err, &big) {
		return usagef("%v: use --count %d or a smaller --scale", err, max(big.Fit, 1))
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return interrupted(ctx, "interrupted: nothing was written")
	}
	if len(tiles) < o.Count {
		fmt.Fprintf(o.IO.ErrOut, "%d of the %d test images are misclassified; drew them all\n", len(tiles), s.N)
	} else {
		fmt.Fprintf(o.IO.ErrOut, "drew the first %d misclassified test images, found among the first %d of %d\n", len(tiles), looked, s.N)
	}
	return writePNG(o.IO, o.Out, img)
}
