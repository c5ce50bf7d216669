package program

import (
	"errors"
	"fmt"
)

// An Executor runs a Program: CPUExecutor here, CUDAExecutor on a GPU in a
// binary built with the cuda tag. A training step is
//
//	GatherBatch(idx) (or SetBatch(x, y)); Run(); Loss(); SGD(lr)
//
// An Executor is not safe for concurrent use.
type Executor interface {
	// SetParams copies the parameters W (In×Classes, row-major) and b
	// (Classes) in; Params copies them out.
	SetParams(w, b []float32) error
	Params(w, b []float32) error
	// LoadDataset makes a dataset's bytes the source of GatherBatch: pix
	// holds len(labels) images of In bytes each, labels their classes.
	LoadDataset(pix []byte, labels []uint8) error
	// GatherBatch builds X and Y from the loaded dataset's rows idx,
	// scaling pixels by 1/255 and one-hot encoding labels. With fewer
	// than Batch indices the remaining rows are padding: zero X and Y
	// rows, which the loss ignores.
	GatherBatch(idx []int) error
	// SetBatch copies a batch in: x is Batch×In, y Batch×Classes, with
	// padding rows zero.
	SetBatch(x, y []float32) error
	// Run computes the logits, the loss and, in a training program, the
	// gradients of the current batch.
	Run() error
	// Loss returns the mean loss over the labelled rows of the last Run.
	Loss() (float32, error)
	// Logits copies the Batch×Classes logits of the last Run into dst.
	Logits(dst []float32) error
	// Grads copies the gradients of the last Run into dW and dB.
	Grads(dW, dB []float32) error
	// SGD updates the parameters with the gradients of the last Run:
	// p -= lr·∂loss/∂p.
	SGD(lr float32) error
	// Close releases what the executor holds.
	Close() error
}

// ErrForwardOnly is returned by Grads and SGD on a forward-only program.
var ErrForwardOnly = errors.New("program was compiled without gradients")

// The checks below are the host side of every executor, so that the CPU and
// CUDA executors accept and reject the same arguments.

func (p *Program) CheckParams(w, b []float32) error {
	if len(w) != p.In*p.Classes || len(b) != p.Classes {
		return fmt.Errorf("parameters have %d weights and %d biases, want %d and %d", len(w), len(b), p.In*p.Classes, p.Classes)
	}
	return nil
}

func (p *Program) CheckBatch(x, y []float32) error {
	if len(x) != p.Batch*p.In || len(y) != p.Batch*p.Classes {
		return fmt.Errorf("batch has %d pixels and %d label values, want %d×%d and %d×%d", len(x), len(y), p.Batch, p.In, p.Batch, p.Classes)
	}
	return nil
}

// CheckDataset validates a dataset once, so that gathering needs no checks
// on the device.
func (p *Program) CheckDataset(pix []byte, labels []uint8) error {
	if len(labels) == 0 {
		return errors.New("dataset has no labelled images")
	}
	if len(pix) != len(labels)*p.In {
		return fmt.Errorf("dataset has %d pixel bytes for %d labels of %d-pixel images", len(pix), len(labels), p.In)
	}
	if len(labels) > 1<<31-1 {
		return fmt.Errorf("dataset has %d images, more than an int32 index reaches", len(labels))
	}
	for i, l := range labels {
		if int(l) >= p.Classes {
			return fmt.Errorf("label %d of image %d is not below %d classes", l, i, p.Classes)
		}
	}
	return nil
}

// IndexRows writes the batch rows idx of an n-image dataset into dst (Batch
// entries), with -1 for the padding rows after them.
func (p *Program) IndexRows(dst []int32, idx []int, n int) error {
	if n == 0 {
		return errors.New("no dataset loaded")
	}
	if len(idx) > p.Batch {
		return fmt.Errorf("batch of %d rows, the program holds %d", len(idx), p.Batch)
	}
	for r, i := range idx {
		if i < 0 || i >= n {
			return fmt.Errorf("row %d: index %d outside the dataset's %d images", r, i, n)
		}
		dst[r] = int32(i)
	}
	for r := len(idx); r < len(dst); r++ {
		dst[r] = -1
	}
	return nil
}

func (p *Program) CheckLen(what string, dst []float32, id BufferID) error {
	if n := p.Buffers[id].Len(); len(dst) != n {
		return fmt.Errorf("%s: destination has %d elements, want %d", what, len(dst), n)
	}
	return nil
}
