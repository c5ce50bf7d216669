package cli

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/onnxpb"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
)

// The ONNX versions export-onnx writes. Opset 13 has every operator the
// graph needs in its current form (Softmax over one axis, Gemm with a
// broadcast bias), and IR version 7 is the one that goes with it: both are
// read by ONNX 1.8 and later, Debian bookworm's onnx 1.12 and every
// current runtime.
const (
	onnxIRVersion = 7
	onnxOpset     = 13
)

// Names in the exported graph, which a user of the file refers to.
const (
	onnxInput  = "input"
	onnxOutput = "probabilities"
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
	mp, err := onnxModel(ck, m)
	if err != nil {
		return fmt.Errorf("model %s: %w", o.Model, err)
	}
	// Deterministic, so that one model always gives the same bytes.
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return fmt.Errorf("encode ONNX: %w", err)
	}
	if err := atomicfile.Write(o.Out, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	c, h, w := onnxImageShape(ck.Meta.InputShape)
	note := ""
	if m.Norm != nil {
		note = ", standardisation folded in"
	}
	_, err = fmt.Fprintf(o.IO.Out, `wrote %s (%d bytes): %s, %d classes%s
  input  %q float32 [N,%d,%d,%d], pixels/255 in [0,1]
  graph  %s (opset %d)
  output %q float32 [N,%d]
`, termtext.Escape(o.Out), len(data), termtext.Escape(ck.Meta.Dataset), m.Out, note,
		onnxInput, c, h, w, describeONNX(mp), onnxOpset, onnxOutput, m.Out)
	return err
}

// onnxImageShape is the C, H, W of a checkpoint's input_shape: [H, W] is
// one channel, [3, H, W] colour. Load has already checked the shape.
func onnxImageShape(shape []int) (c, h, w int) {
	if len(shape) == 3 {
		return shape[0], shape[1], shape[2]
	}
	return 1, shape[0], shape[1]
}

// foldNorm returns W and b with the standardisation n folded in, so that
// x·W' + b' = ((x − mean)/std)·W + b for inputs x of pixels/255:
// W'[i,j] = W[i,j]/std[i] and b'[j] = b[j] − Σᵢ mean[i]·W[i,j]/std[i],
// summed in float64. It fails when the folded parameters leave float32's
// range or could make a logit overflow on inputs in [0, 1], the bound
// every usable model meets (model.MaxLogit).
func foldNorm(m *model.Model) (w, b []float32, err error) {
	if m.Norm == nil {
		return m.W, m.B, nil
	}
	w = make([]float32, len(m.W))
	bias := make([]float64, m.Out)
	for j := range bias {
		bias[j] = float64(m.B[j])
	}
	for i := 0; i < m.In; i++ {
		mean, std := float64(m.Norm.Mean[i]), float64(m.Norm.Std[i])
		for j := 0; j < m.Out; j++ {
			v := float64(m.W[i*m.Out+j]) / std
			w[i*m.Out+j] = float32(v)
			bias[j] -= mean * v
		}
	}
	b = make([]float32, m.Out)
	sums := make([]float64, m.Out)
	for j := range b {
		b[j] = float32(bias[j])
		sums[j] = math.Abs(bias[j])
	}
	for k, v := range w {
		sums[k%m.Out] += math.Abs(float64(v))
	}
	for j, s := range sums {
		if !(s <= model.MaxLogit) {
			return nil, nil, fmt.Errorf("folding the standardisation into the weights makes the logit of class %d reach %.3g, beyond float32's range (a standard deviation near zero?): it cannot be exported", j, s)
		}
	}
	return w, b, nil
}

// onnxModel is the ONNX graph of a checkpoint's model m: Flatten, Gemm
// with the (folded) weights, Softmax over the classes.
func onnxModel(ck *checkpoint.Checkpoint, m *model.Model) (*onnxpb.ModelProto, error) {
	if ck.Meta.Scaling != "pixel/255" {
		return nil, fmt.Errorf("its inputs are scaled %q; export-onnx handles models of pixel/255 inputs", ck.Meta.Scaling)
	}
	w, b, err := foldNorm(m)
	if err != nil {
		return nil, err
	}
	c, h, wd := onnxImageShape(ck.Meta.InputShape)
	classes, err := json.Marshal(ck.Meta.Classes)
	if err != nil {
		return nil, fmt.Errorf("encode class names: %w", err)
	}
	prep, err := json.Marshal(ck.Meta.Prep())
	if err != nil {
		return nil, fmt.Errorf("encode preprocessing: %w", err)
	}
	batch := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
	graph := &onnxpb.GraphProto{
		Name: proto.String("softmax_regression"),
		DocString: proto.String(fmt.Sprintf("softmax regression on %s: probabilities = softmax(flatten(input)·W + b), input pixels/255 in [0, 1]",
			ck.Meta.Dataset)),
		Input: []*onnxpb.ValueInfoProto{onnxValue(onnxInput, "the images, N×C×H×W, pixels/255 in [0, 1]",
			batch, onnxDim(c), onnxDim(h), onnxDim(wd))},
		Output: []*onnxpb.ValueInfoProto{onnxValue(onnxOutput, "the probability of each class, in the order of metadata_props classes",
			batch, onnxDim(m.Out))},
		Initializer: []*onnxpb.TensorProto{
			onnxFloats("W", w, m.In, m.Out),
			onnxFloats("b", b, m.Out),
		},
		Node: []*onnxpb.NodeProto{
			onnxNode("Flatten", "flatten", []string{onnxInput}, "x", onnxInt("axis", 1)),
			onnxNode("Gemm", "gemm", []string{"x", "W", "b"}, "logits"),
			onnxNode("Softmax", "softmax", []string{"logits"}, onnxOutput, onnxInt("axis", 1)),
		},
	}
	doc := fmt.Sprintf("softmaxctl model of %s (%d classes)", ck.Meta.Dataset, m.Out)
	if m.Norm != nil {
		doc += "; its input standardisation is folded into W and b"
	}
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(onnxIRVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(onnxOpset)}},
		ProducerName:    proto.String("softmaxctl"),
		ProducerVersion: proto.String(Version),
		DocString:       proto.String(doc),
		Graph:           graph,
		MetadataProps: []*onnxpb.StringStringEntryProto{
			{Key: proto.String("classes"), Value: proto.String(string(classes))},
			{Key: proto.String("dataset"), Value: proto.String(ck.Meta.Dataset)},
			{Key: proto.String("input_scaling"), Value: proto.String(ck.Meta.Scaling)},
			{Key: proto.String("preprocess"), Value: proto.String(string(prep))},
		},
	}, nil
}

// onnxDim is a fixed dimension.
func onnxDim(n int) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}}
}

// onnxValue is a float32 tensor of the given dimensions, named name.
func onnxValue(name, doc string, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{
		Name:      proto.String(name),
		DocString: proto.String(doc),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape:    &onnxpb.TensorShapeProto{Dim: dims},
		}}},
	}
}

// onnxFloats is a float32 initializer, its values little-endian in
// raw_data as ONNX specifies.
func onnxFloats(name string, v []float32, dims ...int) *onnxpb.TensorProto {
	raw := make([]byte, 0, 4*len(v))
	for _, x := range v {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
	}
	d := make([]int64, len(dims))
	for i, n := range dims {
		d[i] = int64(n)
	}
	return &onnxpb.TensorProto{
		Name:     proto.String(name),
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		Dims:     d,
		RawData:  raw,
	}
}

// onnxNode is one operator of the default domain with one output.
func onnxNode(op, name string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{
		OpType:    proto.String(op),
		Name:      proto.String(name),
		Input:     in,
		Output:    []string{out},
		Attribute: attrs,
	}
}

// onnxInt is an integer attribute.
func onnxInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{
		Name: proto.String(name),
		Type: onnxpb.AttributeProto_INT.Enum(),
		I:    proto.Int64(v),
	}
}

// describeONNX is a one-line summary of an exported graph's operators,
// for messages.
func describeONNX(mp *onnxpb.ModelProto) string {
	ops := make([]string, len(mp.GetGraph().GetNode()))
	for i, n := range mp.GetGraph().GetNode() {
		ops[i] = n.GetOpType()
	}
	return strings.Join(ops, " → ")
}
