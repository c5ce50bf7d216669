package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/render"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
)

// ShowWeightsOptions are the inputs of `softmaxctl show-weights`.
type ShowWeightsOptions struct {
	IO    *IO
	Model string
	Scale int
	Out   string
}

// NewCmdShowWeights builds `softmaxctl show-weights`.
func NewCmdShowWeights(ios *IO, runF func(*cobra.Command, *ShowWeightsOptions) error) *cobra.Command {
	opts := &ShowWeightsOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "show-weights",
		Short: "Draw a model's weights, one image per class, as a PNG",
		Long: `Draw the ten columns of the weight matrix W as images of the input's shape,
one tile per class captioned with its name, on one diverging colour scale
centred on zero (blue negative, white zero, red positive) with a colour bar:
the template each class's score matches an image against. For a model trained
with --standardize the weights act on standardised pixels. The PNG goes to
standard output (redirect it) or to --out FILE (-o FILE).`,
		Example: `  softmaxctl show-weights > weights.png
  softmaxctl show-weights --model best.safetensors --scale 6 -o weights.png`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runShowWeights(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Model, "model", "m", "model.safetensors", "the model file")
	f.IntVar(&opts.Scale, "scale", 5, "enlarge each weight image this many times")
	f.StringVarP(&opts.Out, "out", "o", "", "write the PNG to this file instead of standard output")
	completeFiles(cmd, "model", "safetensors")
	completeFiles(cmd, "out", "png")
	return cmd
}

func runShowWeights(o *ShowWeightsOptions) error {
	switch {
	case o.Scale < 1 || o.Scale > render.MaxScale:
		return usagef("--scale must be between 1 and %d, got %d", render.MaxScale, o.Scale)
	case o.Out == "" && o.IO.OutTTY:
		return usagef("show-weights writes a PNG: redirect it (softmaxctl show-weights > weights.png) or use --out FILE")
	}
	ck, m, err := loadModel(o.Model)
	if err != nil {
		return err
	}
	if err := checkOutputs([]output{{"--out", o.Out}}, o.Model); err != nil {
		return err
	}
	shape := ck.Meta.InputShape
	if len(shape) != 2 {
		return fmt.Errorf("model %s takes inputs of shape %v: show-weights draws 2-D (rows × columns) inputs", o.Model, shape)
	}
	title := fmt.Sprintf("%s: weights of each class", termtext.Escape(ck.Meta.Dataset))
	if m.Norm != nil {
		title += " (on standardised pixels)"
	}
	classes := make([]string, len(ck.Meta.Classes))
	for i, c := range ck.Meta.Classes {
		classes[i] = termtext.Escape(c)
	}
	img, err := render.WeightGrid(m.W, shape[0], shape[1], classes, o.Scale, title)
	if err != nil {
		return usageError{err}
	}
	return writePNG(o.IO, o.Out, img)
}
