// Package checkpoint saves and loads softmaxctl models as safetensors files.
//
// A checkpoint holds a softmax regression model, logits = x·W + b, where x is
// a flattened input image scaled as Meta.Scaling says. The file contains two
// little-endian float32 tensors:
//
//	"W"  shape [In, Out]  row-major, W[i*Out+j] links input pixel i to class j
//	"b"  shape [Out]
//
// and, in the safetensors "__metadata__" map (whose values must be strings),
// the keys "format" ("softmaxctl"), "format_version" ("1"), "dataset",
// "classes" (a JSON array of names), "input_shape" (a JSON array such as
// [28,28]), "scaling" (such as "pixel/255"), "epochs", "lr", "batch_size",
// "sigma", "seed", "metrics" (a JSON object of numbers) and "version",
// and, since models learnt from image folders, "preprocess" (a JSON object,
// see Preprocess) and "test_split" (a JSON object, see TestSplit).
// "sigma", "seed", "metrics" (a JSON object of numbers) and "version".
// A run beyond the chapter's recipe may add the key "recipe" (a JSON
// object) and the optional tensors named by TensorMean and the constants
// after it: "mean" and "std"
// ([In]; the input is then (pixel/255 − mean)/std) and the training state
// that a resumed run continues from.
// In must equal the product of input_shape and Out the number of classes.
//
// input_shape is [height, width] for a grayscale model and [3, height,
// width] for a colour one. A flattened input is channel-major (CHW): the
// red plane row by row, then green, then blue, the order of PyTorch's
// ToTensor followed by flatten, so row i of W is torch's input i.
//
// A file without "preprocess" (written before it existed) is an
// MNIST-family model: predict runs the photo pipeline on its input
// (grayscale, auto-invert, levels, framing in a 20-pixel box for MNIST and
// 28 otherwise), as it did when the file was written.
// Load requires format, dataset, classes, input_shape and scaling, treats the
// other keys as optional, and ignores keys it does not know, so that files
// written by hand or by later versions still load.
//
// The files are ordinary safetensors files, so other tools read them
// directly. In Python with NumPy:
//
//	import json
//	from safetensors import safe_open
//	from safetensors.numpy import load_file
//
//	t = load_file("model.safetensors")
//	W, b = t["W"], t["b"]                      # float32, (784, 10) and (10,)
//	logits = x.reshape(len(x), -1) / 255.0 @ W + b
//
//	with safe_open("model.safetensors", framework="numpy") as f:
//	    classes = json.loads(f.metadata()["classes"])
//
// and with PyTorch:
//
//	from safetensors.torch import load_file
//
//	t = load_file("model.safetensors")
//	W, b = t["W"], t["b"]                      # torch.float32 tensors
//
// A checkpoint of 784×10 weights is about 31 KiB. Load refuses files larger
// than 64 MiB and headers larger than 1 MiB, so that a forged or mistaken
// file cannot make it allocate unbounded memory.
package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

const (
	// maxFileSize caps what Load reads; a real checkpoint is about 31 KiB.
	maxFileSize = 64 << 20
	// maxHeaderSize caps the JSON header; a real one is under 1 KiB.
	maxHeaderSize = 1 << 20
)

// Meta describes how a model was trained and how to feed it.
type Meta struct {
	Dataset    string   // dataset the model was trained on, such as "fashion-mnist"
	Classes    []string // class names, in output order
	InputShape []int    // shape of one input before flattening, such as [28, 28]
	Scaling    string   // how raw pixels become inputs, such as "pixel/255"

	// Training hyperparameters, recorded so that a run can be reproduced.
	Epochs    int
	LR        float64
	BatchSize int
	Sigma     float64 // standard deviation of the initial weights
	Seed      int64

	Metrics map[string]float64 // final metrics such as "val_acc"; nil if none
	Version string             // version of the softmaxctl that wrote the file

	// Preprocess is how a picture becomes the model's input; nil in
	// files written before it was recorded (see Prep).
	Preprocess *Preprocess
	// TestSplit records how the test images were held out of a folder
	// that had no test/ folder; nil otherwise.
	TestSplit *TestSplit
	// Recipe is the full training recipe as a JSON object (key "recipe"),
	// written by runs that use options beyond the chapter's; "" if none.
	// The package stores it as text: the command line owns its fields.
	Recipe string
}

// Kinds of Preprocess.
const (
	// PrepMNIST is the photo pipeline of imageprep.Prepare: grayscale,
	// inversion to a light object on black, levels, framing in a Box×Box
	// square, 28×28.
	PrepMNIST = "mnist-photo"
	// PrepResize is imageprep.Fit: shorter side to Size, centre crop,
	// area average, RGB when Color, nothing else.
	PrepResize = "resize"
)

// FitCentreCrop is the only Fit that PrepResize has.
const FitCentreCrop = "shorter-side-centre-crop"

// Preprocess is the preprocessing a model was trained with, which predict
// applies to a new picture.
type Preprocess struct {
	Kind  string `json:"kind"`            // PrepMNIST or PrepResize
	Box   int    `json:"box,omitempty"`   // PrepMNIST: object box, 0 for 28
	Size  int    `json:"size,omitempty"`  // PrepResize: output side
	Color bool   `json:"color,omitempty"` // PrepResize: keep RGB
	Fit   string `json:"fit,omitempty"`   // PrepResize: FitCentreCrop
}

// TestSplit is the seeded random share of each class that was held out as
// the test split.
type TestSplit struct {
	Fraction float64 `json:"fraction"`
	Seed     int64   `json:"seed"`
}

// Prep returns m's preprocessing, with that of a file that predates the
// "preprocess" key filled in: the MNIST-family photo pipeline, with a box
// of 20 for MNIST.
func (m *Meta) Prep() Preprocess {
	if m.Preprocess != nil {
		return *m.Preprocess
	}
	p := Preprocess{Kind: PrepMNIST}
	if m.Dataset == "mnist" {
		p.Box = 20
	}
	return p
}

// validate checks p against the input shape it must produce.
func (p *Preprocess) validate(shape []int) error {
	switch p.Kind {
	case PrepMNIST:
		if len(shape) != 2 || p.Box < 0 || p.Box > shape[0] {
			return fmt.Errorf("%q %s needs a 2-D input_shape and a box within it, got %v and box %d", keyPreprocess, PrepMNIST, shape, p.Box)
		}
	case PrepResize:
		want := []int{p.Size, p.Size}
		if p.Color {
			want = []int{3, p.Size, p.Size}
		}
		if p.Size < 1 || !slices.Equal(shape, want) || (p.Fit != "" && p.Fit != FitCentreCrop) {
			return fmt.Errorf("%q resize to %d (colour %t, fit %q) does not produce input_shape %v", keyPreprocess, p.Size, p.Color, p.Fit, shape)
		}
	default:
		return fmt.Errorf("%q has unknown kind %q (written by a later softmaxctl?)", keyPreprocess, p.Kind)
	}
	return nil
}

// Checkpoint is a trained softmax regression model and its metadata.
type Checkpoint struct {
	W   []float32 // In×Out weights, row-major: W[i*Out+j]
	B   []float32 // Out biases
	In  int       // number of inputs, the product of Meta.InputShape
	Out int       // number of classes, len(Meta.Classes)

	// Extra holds the optional tensors beyond W and b, by name (see
	// TensorMean and the constants after it): nil or empty for the chapter's checkpoint.
	Extra map[string][]float32

	Meta Meta
}

// The optional tensors of a checkpoint. "mean" and "std" (shape [In]) are
// the standardisation of its inputs: logits = ((x/255 − mean)/std)·W + b.
// The others are training state that lets --resume continue a run bit for
// bit: the momentum velocities and, for a run that returns the average of
// its iterates, the last iterate.
const (
	TensorMean      = "mean"
	TensorStd       = "std"
	TensorMomentumW = "momentum.W"
	TensorMomentumB = "momentum.b"
	TensorIterateW  = "iterate.W"
	TensorIterateB  = "iterate.b"
)

// extraShape returns the shape of the optional tensor name in a model of
// in inputs and out classes, and whether the name is one.
func extraShape(name string, in, out int) ([]int, bool) {
	switch name {
	case TensorMean, TensorStd:
		return []int{in}, true
	case TensorMomentumW, TensorIterateW:
		return []int{in, out}, true
	case TensorMomentumB, TensorIterateB:
		return []int{out}, true
	}
	return nil, false
}

// Save writes c to path in the safetensors format, atomically: the data goes
// to a temporary file in the same directory, which is synced and then renamed
// over path. A reader therefore sees either the old file or the complete new
// one, never a torn write, and a failed Save leaves path untouched and no
// temporary file behind. A new file gets mode 0666 less the umask; a
// replaced one keeps its mode. See package atomicfile for the rules on
// symbolic links and on destinations that are not regular files.
func Save(path string, c *Checkpoint) (err error) {
	if path == "" {
		return errors.New("cannot save model: no output file given; pass a file name such as model.safetensors")
	}
	where := quotePath(path)
	// Encode first, so that an invalid checkpoint never creates a file.
	var buf bytes.Buffer
	if err := Encode(&buf, c); err != nil {
		return fmt.Errorf("cannot save model to %s: %w", where, err)
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("cannot save model to %s: it is a directory; pass a file name such as %s",
			where, quotePath(filepath.Join(path, "model.safetensors")))
	}

	if err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	}); err != nil {
		return fmt.Errorf("cannot save model to %s: %w", where, err)
	}
	return nil
}

// Load reads and validates the checkpoint at path. Its errors are single
// lines that name the file, say what is wrong and what to do; a missing file
// gives an error that matches fs.ErrNotExist.
func Load(path string) (*Checkpoint, error) {
	where := quotePath(path)
	// safeopen refuses a FIFO without waiting for a writer, and devices
	// such as /dev/zero, whose reads never end.
	f, info, err := safeopen.Open(path)
	if err != nil {
		var nr *safeopen.NotRegularError
		switch {
		case errors.As(err, &nr) && nr.Mode.IsDir():
			return nil, fmt.Errorf("model file %s is a directory: pass the path of a .safetensors file", where)
		case errors.As(err, &nr):
			return nil, &wrapped{fmt.Sprintf("model file %s is %s, not a regular file: pass the path of a .safetensors file", where, safeopen.Describe(nr.Mode)), err}
		case errors.Is(err, fs.ErrNotExist):
			return nil, &wrapped{fmt.Sprintf("model file %s not found", where), err}
		case errors.Is(err, fs.ErrPermission):
			return nil, &wrapped{fmt.Sprintf("cannot read model file %s: permission denied; check its permissions", where), err}
		}
		return nil, &wrapped{fmt.Sprintf("cannot open model file %s: %s", where, cause(err)), err}
	}
	defer f.Close()

	tooBig := &formatError{fmt.Sprintf("is larger than %d MiB, far more than a softmaxctl model (about 31 KiB)", maxFileSize>>20), fixRetrain}
	if info.Size() > maxFileSize {
		return nil, tooBig.at(path)
	}
	// Cap the read as well, in case the file grows while it is read.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &wrapped{fmt.Sprintf("cannot read model file %s: %s", where, cause(err)), err}
	}
	if len(data) > maxFileSize {
		return nil, tooBig.at(path)
	}

	c, err := Decode(data)
	if err != nil {
		var fe *formatError
		if errors.As(err, &fe) {
			return nil, fe.at(path)
		}
		return nil, fmt.Errorf("model file %s: %w", where, err)
	}
	return c, nil
}
