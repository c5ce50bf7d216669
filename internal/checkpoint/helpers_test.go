package checkpoint

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

var fashionClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// fashionCheckpoint returns a 784×10 model like one `softmaxctl train` writes.
func fashionCheckpoint() *Checkpoint {
	c := &Checkpoint{
		W:   make([]float32, 784*10),
		B:   make([]float32, 10),
		In:  784,
		Out: 10,
		Meta: Meta{
			Dataset:    "fashion-mnist",
			Classes:    append([]string(nil), fashionClasses...),
			InputShape: []int{28, 28},
			Scaling:    "pixel/255",
			Epochs:     10,
			LR:         0.1,
			BatchSize:  128,
			Sigma:      0.01,
			Seed:       42,
			Metrics:    map[string]float64{"val_acc": 0.8412, "val_loss": 0.4521, "train_loss": 0.4213, "train_acc": 0.8555},
			Version:    "v0.1.0",
		},
	}
	for i := range c.W {
		c.W[i] = float32(math.Sin(float64(i))) / 10
	}
	for i := range c.B {
		c.B[i] = float32(i) - 4.5
	}
	return c
}

// tinyCheckpoint returns a 4×3 model, small enough to fuzz quickly, holding
// awkward float32 values that must survive a round trip bit for bit.
func tinyCheckpoint() *Checkpoint {
	return &Checkpoint{
		W: []float32{
			0, float32(math.Copysign(0, -1)), 1, -1,
			math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1e-20,
			0.1, 0.2, 0.3, 0.4,
		},
		B:   []float32{1, 2, 3},
		In:  4,
		Out: 3,
		Meta: Meta{
			Dataset:    "toy",
			Classes:    []string{"a", "b \"quoted\"", "ünïcode"},
			InputShape: []int{2, 2},
			Scaling:    "pixel/255",
		},
	}
}

func mustEncode(t testing.TB, c *Checkpoint) []byte {
	t.Helper()
	var buf strings.Builder
	if err := Encode(&buf, c); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return []byte(buf.String())
}

// tensor describes a tensor for build: its dtype, shape and raw bytes. A nil
// data means zeros of the right size.
type tensor struct {
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

// validMeta returns the __metadata__ of tinyCheckpoint, for tests to alter.
func validMeta(t testing.TB) map[string]string {
	t.Helper()
	m, err := encodeMeta(&tinyCheckpoint().Meta)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// validTensors returns the tensors of tinyCheckpoint, for tests to alter.
func validTensors() map[string]tensor {
	c := tinyCheckpoint()
	return map[string]tensor{
		"W": {safetensors.F32, []uint64{4, 3}, float32Bytes(c.W)},
		"b": {safetensors.F32, []uint64{3}, float32Bytes(c.B)},
	}
}

// build serializes arbitrary tensors and metadata with the safetensors
// library, producing well-formed files that are not valid checkpoints.
func build(t testing.TB, tensors map[string]tensor, meta map[string]string) []byte {
	t.Helper()
	views := make(map[string]safetensors.TensorView, len(tensors))
	for name, ts := range tensors {
		if ts.data == nil {
			n := ts.dtype.Size()
			for _, d := range ts.shape {
				n *= d
			}
			ts.data = make([]byte, n)
		}
		v, err := safetensors.NewTensorView(ts.dtype, ts.shape, ts.data)
		if err != nil {
			t.Fatalf("building tensor %q: %v", name, err)
		}
		views[name] = v
	}
	b, err := safetensors.Serialize(views, meta)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// raw assembles a file from a literal header and data, for headers that the
// library would refuse to write.
func raw(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}
