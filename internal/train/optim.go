package train

import (
	"fmt"
	"math"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// loadSmoothed is load with label smoothing eps: the labelled rows'
// targets become (1−eps)·one-hot + eps/K. The padding rows stay zero, so
// they still add nothing to the loss.
func loadSmoothed(gr *model.Graph, s *dataset.Set, idx []int, eps float32) {
	load(gr, s, idx)
	if eps == 0 {
		return
	}
	_, y := gr.Inputs()
	k := gr.Model.Out
	for i := range y[:len(idx)*k] {
		y[i] = (1-eps)*y[i] + eps/float32(k)
	}
}

// Optimizer is the update rule of the next chapters of the book, in the
// convention of PyTorch's SGD: with g = ∂loss/∂W + WeightDecay·W (decay on
// the weights only, as the book's weight-decay chapter does; the biases
// are not decayed),
//
//	v ← Momentum·v + g
//	W ← W − lr·v                   (heavy ball)
//	W ← W − lr·(g + Momentum·v)    (Nesterov)
//
// and the same for b without the decay term. With Momentum and WeightDecay
// zero it is the chapter's p ← p − lr·g.
type Optimizer struct {
	WeightDecay float64
	Momentum    float64
	Nesterov    bool
	// VW and VB are the velocities (In×Out and Out), allocated by the
	// first Update; a resumed run sets them from its checkpoint.
	VW, VB []float32
}

// Plain reports whether o is the chapter's SGD, which the graph applies by
// itself (Graph.SGD), bit for bit as before these options existed.
func (o *Optimizer) Plain() bool {
	return o == nil || o.WeightDecay == 0 && o.Momentum == 0
}

// Update applies one step with learning rate lr and gradients dW, dB to
// the parameters w, b.
func (o *Optimizer) Update(w, b, dW, dB []float32, lr float32) error {
	if len(dW) != len(w) || len(dB) != len(b) {
		return fmt.Errorf("gradients have %d and %d values for %d weights and %d biases", len(dW), len(dB), len(w), len(b))
	}
	if o.Momentum != 0 && o.VW == nil {
		o.VW, o.VB = make([]float32, len(w)), make([]float32, len(b))
	}
	o.update(w, dW, o.VW, float32(o.WeightDecay), lr)
	o.update(b, dB, o.VB, 0, lr)
	return nil
}

func (o *Optimizer) update(p, grad, v []float32, wd, lr float32) {
	model.Update(p, grad, v, lr, wd, float32(o.Momentum), o.Nesterov)
}

// Validate checks the optimiser's settings. Its errors are *ConfigError.
func (o *Optimizer) Validate() error {
	switch {
	case !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0):
		return &ConfigError{"WeightDecay", o.WeightDecay, "a finite number >= 0"}
	case !(o.Momentum >= 0 && o.Momentum < 1):
		return &ConfigError{"Momentum", o.Momentum, "in [0, 1)"}
	case o.Nesterov && o.Momentum == 0:
		return &ConfigError{"Nesterov", o.Nesterov, "used with a momentum above 0"}
	}
	return nil
}

// Average keeps an exponential moving average of the parameters (Polyak
// averaging in its EMA form): after each update, a ← a + (1−Decay)(p − a).
// Validation and the saved model use the average, which smooths the noise
// of the last SGD steps.
type Average struct {
	Decay  float64
	AW, AB []float32
}

// Update folds the current parameters into the average.
func (a *Average) Update(m *model.Model) {
	if a.AW == nil {
		a.AW, a.AB = append([]float32(nil), m.W...), append([]float32(nil), m.B...)
		return
	}
	k := float32(1 - a.Decay)
	for i, v := range m.W {
		a.AW[i] += k * (v - a.AW[i])
	}
	for i, v := range m.B {
		a.AB[i] += k * (v - a.AB[i])
	}
}
