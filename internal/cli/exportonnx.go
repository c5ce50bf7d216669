package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/onnxexport"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
)

// ExportONNXOptions are the inputs of `softmaxctl export-onnx`.
type ExportONNXOptions struct {
	IO    *IO
	Model string
	Out   string
}

// NewCmdExportONNX builds `softmaxctl export-onnx`.
func NewCmdExportONNX(ios *IO, runF func(*cobra.Command, *ExportONNXOptions) error) *cobra.Command {
	opts := &ExportONNXOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "export-onnx",
		Short: "Write a model as an ONNX file for other runtimes",
		Long: `Write a model as an ONNX graph (IR version 7, opset 13), for runtimes that
read ONNX:

  input "input"          float32 N×C×H×W, pixels/255 in [0, 1]: N×1×28×28
                         for Fashion-MNIST, as the model was trained
  Flatten → Gemm → Softmax
  output "probabilities" float32 N×classes, each row summing to 1

A model trained with --standardize has its standardisation folded into the
weights and bias, so the graph takes plain pixels/255 too. The picture must be
prepared as predict prepares it (--save-input shows the result). The class
names (a JSON list), the dataset and the preprocessing are in the file's
metadata_props.`,
		Example: `  softmaxctl export-onnx -o model.onnx
  softmaxctl export-onnx --model best.safetensors -o best.onnx`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runExportONNX(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Model, "model", "m", "model.safetensors", "the model file")
	f.StringVarP(&opts.Out, "out", "o", "model.onnx", "the ONNX file to write")
	completeFiles(cmd, "model", "safetensors")
	completeFiles(cmd, "out", "onnx")
	return cmd
}

func runExportONNX(o *ExportONNXOptions) error {
	if o.Out == "" {
		return usagef("--out is empty: pass the ONNX file to write, such as -o model.onnx")
	}
	ck, m, err := loadModel(o.Model)
	if err != nil {
		return err
	}
	if err := checkOutputs([]output{{"--out", o.Out}}, o.Model); err != nil {
		return err
	}
	mp, err := onnxexport.Model(ck, m, Version)
	if err != nil {
		return fmt.Errorf("model %s: %w", o.Model, err)
	}
	data, err := onnxexport.Marshal(mp)
	if err != nil {
		return fmt.Errorf("encode ONNX: %w", err)
	}
	if err := atomicfile.Write(o.Out, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	c, h, w := onnxexport.ImageShape(ck.Meta.InputShape)
	note := ""
	if m.Norm != nil {
		note = ", standardisation folded in"
	}
	_, err = fmt.Fprintf(o.IO.Out, `wrote %s (%d bytes): %s, %d classes%s
  input  %q float32 [N,%d,%d,%d], pixels/255 in [0,1]
  graph  %s (opset %d)
  output %q float32 [N,%d]
`, termtext.Escape(o.Out), len(data), termtext.Escape(ck.Meta.Dataset), m.Out, note,
		onnxexport.Input, c, h, w, onnxexport.Describe(mp), onnxexport.Opset, onnxexport.Output, m.Out)
	return err
}
