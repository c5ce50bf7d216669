package devicetest

import (
	"fmt"
	"math"

	"github.com/softmaxctl/softmaxctl/internal/device/program"
)

// Executor runs a program.Program on the CPU with the reference semantics of
// each step, float32 buffers allocated once. It is the definition the CUDA
// executor is tested against, and what tests compare with Gorgonia's tape
// machine.
type Executor struct {
	p      *program.Program
	f32    [][]float32 // by program.BufferID; nil for non-float buffers
	index  []int32
	pix    []byte
	labels []uint8
	input  []int         // the steps GatherBatch runs
	run    []int         // the steps Run runs, forward and backward in program order
	update []int         // the steps SGD runs
	ins    [][][]float32 // by step: its operand buffers, bound once
}

var _ program.Executor = (*Executor)(nil)

// NewExecutor allocates the buffers of p and loads its constants.
// Temporaries start as NaN, so a step that reads a value no step wrote
// shows in every result.
func NewExecutor(p *program.Program) (*Executor, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("cpu executor: invalid program: %w", err)
	}
	e := &Executor{p: p, f32: make([][]float32, len(p.Buffers))}
	for i, b := range p.Buffers {
		switch {
		case b.Dtype != program.Float32 || b.Shape == nil:
		case b.Role == program.RoleConst:
			e.f32[i] = append([]float32(nil), b.Init...)
		default:
			e.f32[i] = make([]float32, b.Len())
			if b.Role == program.RoleTemp {
				nan := float32(math.NaN())
				for j := range e.f32[i] {
					e.f32[i][j] = nan
				}
			}
		}
	}
	e.index = make([]int32, p.Buffers[p.Index].Len())
	// Buffers are shared on the steps' program order, so Run keeps it
	// rather than running all forward steps before the backward ones.
	e.input, e.run, e.update = p.StepsOf(program.PhaseInput), p.StepsOf(program.PhaseForward, program.PhaseBackward), p.StepsOf(program.PhaseUpdate)
	e.ins = make([][][]float32, len(p.Steps))
	for i, s := range p.Steps {
		e.ins[i] = make([][]float32, len(s.In))
		for j, id := range s.In {
			e.ins[i][j] = e.f32[id]
		}
	}
	return e, nil
}

// SetParams copies W and b in.
func (e *Executor) SetParams(w, b []float32) error {
	if err := e.p.CheckParams(w, b); err != nil {
		return err
	}
	copy(e.f32[e.p.W], w)
	copy(e.f32[e.p.B], b)
	return nil
}

// Params copies W and b out.
func (e *Executor) Params(w, b []float32) error {
	if err := e.p.CheckParams(w, b); err != nil {
		return err
	}
	copy(w, e.f32[e.p.W])
	copy(b, e.f32[e.p.B])
	return nil
}

// LoadDataset keeps pix and labels, without copying, as the source of
// GatherBatch; the caller must not change them while they are in use.
func (e *Executor) LoadDataset(pix []byte, labels []uint8) error {
	if err := e.p.CheckDataset(pix, labels); err != nil {
		return err
	}
	e.pix, e.labels = pix, labels
	return nil
}

// GatherBatch builds X and Y from the dataset's rows idx by running the
// program's gather steps.
func (e *Executor) GatherBatch(idx []int) error {
	if err := e.p.IndexRows(e.index, idx, len(e.labels)); err != nil {
		return fmt.Errorf("gather batch: %w", err)
	}
	for _, i := range e.input {
		s := &e.p.Steps[i]
		if s.Kind != program.StepGather {
			e.execInput(s)
			continue
		}
		if s.OneHot {
			program.GatherLabels(e.f32[s.Out], e.labels, e.index, s.Len)
		} else {
			program.GatherPixels(e.f32[s.Out], e.pix, e.index, s.Len)
		}
	}
	return nil
}

// SetBatch copies x and y into X and Y.
func (e *Executor) SetBatch(x, y []float32) error {
	if err := e.p.CheckBatch(x, y); err != nil {
		return err
	}
	copy(e.f32[e.p.X], x)
	copy(e.f32[e.p.Y], y)
	return nil
}

// Run runs the forward and backward steps.
func (e *Executor) Run() error { return e.exec(e.run) }

func (e *Executor) exec(steps []int) error {
	for _, i := range steps {
		s := &e.p.Steps[i]
		if err := program.ExecFloat(s, e.f32[s.Out], e.ins[i]); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	return nil
}

// Loss returns the loss of the last Run.
func (e *Executor) Loss() (float32, error) { return e.f32[e.p.Loss][0], nil }

// Logits copies the logits of the last Run into dst.
func (e *Executor) Logits(dst []float32) error {
	if err := e.p.CheckLen("logits", dst, e.p.Logits); err != nil {
		return err
	}
	copy(dst, e.f32[e.p.Logits])
	return nil
}

// Grads copies the gradients of the last Run into dW and dB.
func (e *Executor) Grads(dW, dB []float32) error {
	if !e.p.Train() {
		return program.ErrForwardOnly
	}
	if err := e.p.CheckParams(dW, dB); err != nil {
		return fmt.Errorf("gradients: %w", err)
	}
	copy(dW, e.f32[e.p.WGrad])
	copy(dB, e.f32[e.p.BGrad])
	return nil
}

// SGD runs the update steps with learning rate lr.
func (e *Executor) SGD(lr float32) error {
	if !e.p.Train() {
		return program.ErrForwardOnly
	}
	if e.p.Optim != nil {
		return program.ErrOptimSGD
	}
	e.f32[e.p.LR][0] = lr
	return e.exec(e.update)
}

// Close does nothing: the buffers are Go memory.
func (e *Executor) Close() error { return nil }

// execInput runs an input step of this file's kinds on the CPU.
func (e *Executor) execInput(s *program.Step) {
	switch s.Kind {
	case program.StepStandardize:
		program.StandardizeRows(e.f32[s.Out], e.index, e.f32[s.In[1]], e.f32[s.In[2]], s.Len)
	case program.StepSmooth:
		program.SmoothRows(e.f32[s.Out], e.index, e.f32[s.In[1]], s.Len)
	}
}

// Update sets the runtime scalars and runs the update steps.
func (e *Executor) Update(lr, weightDecay, momentum float32) error {
	if e.p.Optim == nil {
		return program.ErrNoOptim
	}
	copy(e.f32[e.p.Optim.Hyper], []float32{lr, weightDecay, momentum})
	return e.exec(e.update)
}

// Velocity copies the velocities out.
func (e *Executor) Velocity(vw, vb []float32) error {
	if e.p.Optim == nil {
		return program.ErrNoOptim
	}
	if err := e.p.CheckParams(vw, vb); err != nil {
		return fmt.Errorf("velocities: %w", err)
	}
	copy(vw, e.f32[e.p.Optim.VW])
	copy(vb, e.f32[e.p.Optim.VB])
	return nil
}

// SetVelocity copies the velocities in.
func (e *Executor) SetVelocity(vw, vb []float32) error {
	if e.p.Optim == nil {
		return program.ErrNoOptim
	}
	if err := e.p.CheckParams(vw, vb); err != nil {
		return fmt.Errorf("velocities: %w", err)
	}
	copy(e.f32[e.p.Optim.VW], vw)
	copy(e.f32[e.p.Optim.VB], vb)
	return nil
}

// Buffer returns the float buffer id as the executor holds it (nil for
// a buffer of bytes or indices), for tests that compare every buffer.
func (e *Executor) Buffer(id program.BufferID) []float32 { return e.f32[id] }
