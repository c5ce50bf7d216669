// Package model is the chapter's Module: softmax regression's parameters
// (Model), its forward pass (flatten → linear → softmax) and its loss
// (cross-entropy), written as a Gorgonia expression graph and run by
// Gorgonia's tape machine. Gradients come from Gorgonia's symbolic
// differentiation.
//
// Where each part lives:
//   - graph.go: the graph that ties parameters, inputs and loss together
//     (NewGraph), with Run, Grads and SGD;
//   - ops.go: the loss as the chapter writes it, from Gorgonia's primitive
//     ops (LogSoftmax, CrossEntropyFromLogits), made numerically stable;
//   - fuse.go and fused.go: the fusion pass, which rewrites that graph
//     into a few ops of its own (linear layer, softmax cross-entropy and
//     their derivatives), as XLA fuses a graph; Unfused keeps the
//     primitives;
//   - loss.go: the fused loss's arithmetic, defined once (SoftmaxXent,
//     SoftmaxXentGrad), which the device programs and the CUDA kernels are
//     checked against;
//   - update.go: the optimiser's update rule (Update), the one the tape
//     graph's SGD, the trainer's optimiser and the device programs apply.
package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Model holds the parameters of softmax regression: W (In×Out, row-major)
// and b (Out). A graph built from a Model reads and updates these slices in
// place, so every graph built from one Model shares its parameters.
type Model struct {
	In, Out int
	W       []float32
	B       []float32
	// Norm, when set, standardises every input before the graph sees it
	// (see Standardizer); nil is the chapter's pixel/255 alone.
	Norm *Standardizer
}

// New returns a model whose weights are drawn from N(0, sigma²) with a
// generator seeded by seed, and whose biases are zero, as in the chapter.
func New(in, out int, sigma float64, seed int64) (*Model, error) {
	if in < 1 || out < 2 {
		return nil, fmt.Errorf("model needs at least 1 input and 2 classes, got %d and %d", in, out)
	}
	if !(sigma >= 0) || math.IsInf(sigma, 0) {
		return nil, fmt.Errorf("sigma must be a finite number >= 0, got %v", sigma)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	m := &Model{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out)}
	for i := range m.W {
		m.W[i] = float32(rng.NormFloat64() * sigma)
	}
	return m, nil
}

// FromParams wraps existing parameters (from a checkpoint) in a Model.
func FromParams(in, out int, w, b []float32) (*Model, error) {
	if len(w) != in*out || len(b) != out {
		return nil, fmt.Errorf("parameters have %d weights and %d biases, want %d and %d", len(w), len(b), in*out, out)
	}
	m := &Model{In: in, Out: out, W: w, B: b}
	if err := m.checkRange(); err != nil {
		return nil, err
	}
	return m, nil
}

// MaxLogit bounds what one logit of a usable model can reach on inputs of
// magnitude at most 1: far below float32's 3.4e38, so that the logits of
// scaled inputs cannot overflow to ±Inf and turn probabilities into NaN.
const MaxLogit = 1e30

// checkRange refuses parameters that are not finite, or so large that a
// logit, at most Σ|W[:,j]| + |b[j]| for inputs in [-1, 1], could overflow.
func (m *Model) checkRange() error {
	if !m.Finite() {
		return &RangeError{"parameters hold NaN or infinite values"}
	}
	sums := make([]float64, m.Out)
	for i, v := range m.W {
		sums[i%m.Out] += math.Abs(float64(v))
	}
	for j, s := range sums {
		if s += math.Abs(float64(m.B[j])); s > MaxLogit {
			return &RangeError{fmt.Sprintf("weights so large that the logit of class %d can reach %.3g, beyond float32's range", j, s)}
		}
	}
	return nil
}

// RangeError is FromParams' refusal of parameters that training can reach
// only by diverging: not finite, or beyond MaxLogit.
type RangeError struct {
	Reason string // what is wrong with them, such as "weights so large that ..."
}

func (e *RangeError) Error() string {
	return e.Reason + ": training diverged; retrain with a smaller learning rate"
}

// Finite reports whether every parameter is a finite number.
func (m *Model) Finite() bool {
	for _, v := range m.W {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	for _, v := range m.B {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

// Argmax returns, for each row of the rows×cols matrix v, the index of its
// largest entry (the first one on ties), into dst.
func Argmax(v []float32, cols int, dst []int) {
	for r := range dst {
		row := v[r*cols : (r+1)*cols]
		// The running maximum in a variable rather than re-read from the
		// row: this runs over every batch's logits, on the critical path.
		best, max := 0, row[0]
		for j, x := range row[1:] {
			if x > max {
				best, max = j+1, x
			}
		}
		dst[r] = best
	}
}
