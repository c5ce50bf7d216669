package device

import (
	"fmt"
	"math"
)

// CPUExecutor runs a Program on the CPU with the reference semantics of
// each step, float32 buffers allocated once. It is the definition the CUDA
// executor is tested against, and what tests compare with Gorgonia's tape
// machine.
type CPUExecutor struct {
	p      *Program
	f32    [][]float32 // by BufferID; nil for non-float buffers
	index  []int32
	pix    []byte
	labels []uint8
	input  []int         // the steps GatherBatch runs
	run    []int         // the steps Run runs, forward and backward in program order
	update []int         // the steps SGD runs
	ins    [][][]float32 // by step: its operand buffers, bound once
}

var _ Executor = (*CPUExecutor)(nil)

// NewCPUExecutor allocates the buffers of p and loads its constants.
// Temporaries start as NaN, so a step that reads a value no step wrote
// shows in every result.
func NewCPUExecutor(p *Program) (*CPUExecutor, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("cpu executor: invalid program: %w", err)
	}
	e := &CPUExecutor{p: p, f32: make([][]float32, len(p.Buffers))}
	for i, b := range p.Buffers {
		switch {
		case b.Dtype != Float32 || b.Shape == nil:
		case b.Role == RoleConst:
			e.f32[i] = append([]float32(nil), b.Init...)
		default:
			e.f32[i] = make([]float32, b.Len())
			if b.Role == RoleTemp {
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
	e.input, e.run, e.update = p.stepsOf(PhaseInput), p.stepsOf(PhaseForward, PhaseBackward), p.stepsOf(PhaseUpdate)
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
func (e *CPUExecutor) SetParams(w, b []float32) error {
	if err := e.p.checkParams(w, b); err != nil {
		return err
	}
	copy(e.f32[e.p.W], w)
	copy(e.f32[e.p.B], b)
	return nil
}

// Params copies W and b out.
func (e *CPUExecutor) Params(w, b []float32) error {
	if err := e.p.checkParams(w, b); err != nil {
		return err
	}
	copy(w, e.f32[e.p.W])
	copy(b, e.f32[e.p.B])
	return nil
}

// LoadDataset keeps pix and labels, without copying, as the source of
// GatherBatch; the caller must not change them while they are in use.
func (e *CPUExecutor) LoadDataset(pix []byte, labels []uint8) error {
	if err := e.p.checkDataset(pix, labels); err != nil {
		return err
	}
	e.pix, e.labels = pix, labels
	return nil
}

// GatherBatch builds X and Y from the dataset's rows idx by running the
// program's gather steps.
func (e *CPUExecutor) GatherBatch(idx []int) error {
	if err := e.p.indexRows(e.index, idx, len(e.labels)); err != nil {
		return fmt.Errorf("gather batch: %w", err)
	}
	for _, i := range e.input {
		s := &e.p.Steps[i]
		if s.Kind != StepGather {
			e.execInput(s)
			continue
		}
		if s.OneHot {
			gatherLabels(e.f32[s.Out], e.labels, e.index, s.Len)
		} else {
			gatherPixels(e.f32[s.Out], e.pix, e.index, s.Len)
		}
	}
	return nil
}

// SetBatch copies x and y into X and Y.
func (e *CPUExecutor) SetBatch(x, y []float32) error {
	if err := e.p.checkBatch(x, y); err != nil {
		return err
	}
	copy(e.f32[e.p.X], x)
	copy(e.f32[e.p.Y], y)
	return nil
}

// Run runs the forward and backward steps.
func (e *CPUExecutor) Run() error { return e.exec(e.run) }

func (e *CPUExecutor) exec(steps []int) error {
	for _, i := range steps {
		s := &e.p.Steps[i]
		if err := execFloat(s, e.f32[s.Out], e.ins[i]); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	return nil
}

// Loss returns the loss of the last Run.
func (e *CPUExecutor) Loss() (float32, error) { return e.f32[e.p.Loss][0], nil }

// Logits copies the logits of the last Run into dst.
func (e *CPUExecutor) Logits(dst []float32) error {
	if err := e.p.checkLen("logits", dst, e.p.Logits); err != nil {
		return err
	}
	copy(dst, e.f32[e.p.Logits])
	return nil
}

// Grads copies the gradients of the last Run into dW and dB.
func (e *CPUExecutor) Grads(dW, dB []float32) error {
	if !e.p.Train() {
		return errForwardOnly
	}
	if err := e.p.checkParams(dW, dB); err != nil {
		return fmt.Errorf("gradients: %w", err)
	}
	copy(dW, e.f32[e.p.WGrad])
	copy(dB, e.f32[e.p.BGrad])
	return nil
}

// SGD runs the update steps with learning rate lr.
func (e *CPUExecutor) SGD(lr float32) error {
	if !e.p.Train() {
		return errForwardOnly
	}
	if e.p.Optim != nil {
		return errOptimSGD
	}
	e.f32[e.p.LR][0] = lr
	return e.exec(e.update)
}

// Close does nothing: the buffers are Go memory.
func (e *CPUExecutor) Close() error { return nil }
