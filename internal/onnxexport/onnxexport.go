// Package onnxexport writes a softmax regression model as an ONNX graph
// (Flatten → Gemm → Softmax, standardisation folded into W and b, the
// class names as metadata), for runtimes that read ONNX. The protobuf
// types are internal/onnxpb's, generated from onnx.proto.
package onnxexport

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// The ONNX versions written. Opset 13 has every operator the
// graph needs in its current form (Softmax over one axis, Gemm with a
// broadcast bias), and IR version 7 is the one that goes with it: both are
// read by ONNX 1.8 and later, Debian bookworm's onnx 1.12 and every
// current runtime.
const (
	IRVersion = 7
	Opset     = 13
)

// Names in the exported graph, which a user of the file refers to.
const (
	Input  = "input"
	Output = "probabilities"
)

// ImageShape is the C, H, W of a checkpoint's input_shape: [H, W] is
// one channel, [3, H, W] colour. Load has already checked the shape.
func ImageShape(shape []int) (c, h, w int) {
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

// Model is the ONNX graph of a checkpoint's model m: Flatten, Gemm
// with the (folded) weights, Softmax over the classes.
func Model(ck *checkpoint.Checkpoint, m *model.Model, producerVersion string) (*onnxpb.ModelProto, error) {
	if ck.Meta.Scaling != "pixel/255" {
		return nil, fmt.Errorf("its inputs are scaled %q; export-onnx handles models of pixel/255 inputs", ck.Meta.Scaling)
	}
	w, b, err := foldNorm(m)
	if err != nil {
		return nil, err
	}
	c, h, wd := ImageShape(ck.Meta.InputShape)
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
		Input: []*onnxpb.ValueInfoProto{value(Input, "the images, N×C×H×W, pixels/255 in [0, 1]",
			batch, dim(c), dim(h), dim(wd))},
		Output: []*onnxpb.ValueInfoProto{value(Output, "the probability of each class, in the order of metadata_props classes",
			batch, dim(m.Out))},
		Initializer: []*onnxpb.TensorProto{
			Floats("W", w, m.In, m.Out),
			Floats("b", b, m.Out),
		},
		Node: []*onnxpb.NodeProto{
			node("Flatten", "flatten", []string{Input}, "x", intAttr("axis", 1)),
			node("Gemm", "gemm", []string{"x", "W", "b"}, "logits"),
			node("Softmax", "softmax", []string{"logits"}, Output, intAttr("axis", 1)),
		},
	}
	doc := fmt.Sprintf("softmaxctl model of %s (%d classes)", ck.Meta.Dataset, m.Out)
	if m.Norm != nil {
		doc += "; its input standardisation is folded into W and b"
	}
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(IRVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:    proto.String("softmaxctl"),
		ProducerVersion: proto.String(producerVersion),
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

// dim is a fixed dimension.
func dim(n int) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}}
}

// value is a float32 tensor of the given dimensions, named name.
func value(name, doc string, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{
		Name:      proto.String(name),
		DocString: proto.String(doc),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape:    &onnxpb.TensorShapeProto{Dim: dims},
		}}},
	}
}

// Floats is a float32 initializer, its values little-endian in
// raw_data as ONNX specifies.
func Floats(name string, v []float32, dims ...int) *onnxpb.TensorProto {
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

// node is one operator of the default domain with one output.
func node(op, name string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{
		OpType:    proto.String(op),
		Name:      proto.String(name),
		Input:     in,
		Output:    []string{out},
		Attribute: attrs,
	}
}

// intAttr is an integer attribute.
func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{
		Name: proto.String(name),
		Type: onnxpb.AttributeProto_INT.Enum(),
		I:    proto.Int64(v),
	}
}

// Describe is a one-line summary of an exported graph's operators,
// for messages.
func Describe(mp *onnxpb.ModelProto) string {
	ops := make([]string, len(mp.GetGraph().GetNode()))
	for i, n := range mp.GetGraph().GetNode() {
		ops[i] = n.GetOpType()
	}
	return strings.Join(ops, " → ")
}

// Marshal encodes mp deterministically, so that one model always gives the
// same bytes.
func Marshal(mp *onnxpb.ModelProto) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(mp)
}
