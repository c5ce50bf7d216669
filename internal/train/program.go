package train

import (
	"context"
	"errors"
	"fmt"

	"github.com/softmaxctl/softmaxctl/internal/device/program"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// FitOn is Fit on a device: the model's training and evaluation graphs are
// compiled to device programs (internal/device) and run by executors made
// by newExec. Both datasets are loaded into the executors once as bytes;
// each batch is gathered and scaled there (standardised with m.Norm, its
// labels smoothed with LabelSmoothing), and forward, loss, gradients and
// the update run there: the chapter's SGD, or, with momentum or weight
// decay, the optimiser's update steps with the velocities kept on the
// device (an executor that is not a program.Updater gets the host round
// trip instead). The loss and logits of each batch come back for the
// epoch's metrics, the weights (and velocities) once per epoch for
// validation and at the end into m and Opt; under EMA the weights come
// back after every step, as the host keeps the average.
//
// A failure to release the executors is returned too: on a GPU it can be
// the first report of a fault.
func (t *Trainer) FitOn(ctx context.Context, m *model.Model, trainSet, valSet *dataset.Set, newExec func(*program.Program) (program.Executor, error)) (_ []Epoch, err error) {
	if err := t.check(m, trainSet, valSet); err != nil {
		return nil, err
	}
	if t.Opt == nil {
		// Made here rather than in fit: the program's update steps
		// depend on it.
		t.Opt = t.optimizer()
	}
	b := &execBackend{m: m, valSet: valSet, logits: make([]float32, t.BatchSize*m.Out)}
	defer func() {
		if cerr := b.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	var evalOpts program.CompileOptions
	if m.Norm != nil {
		evalOpts.Mean, evalOpts.Std = m.Norm.Mean, m.Norm.Std
	}
	trainOpts := evalOpts
	trainOpts.LabelSmoothing = float32(t.LabelSmoothing)
	if !t.Opt.Plain() {
		trainOpts.Update = &program.UpdateRule{Nesterov: t.Opt.Nesterov}
	}
	var gopts []model.GraphOption
	if t.Unfused {
		gopts = append(gopts, model.Unfused())
	}
	if b.ex, err = compileExec(m, t.BatchSize, true, trainOpts, trainSet, newExec, gopts...); err != nil {
		return nil, err
	}
	if b.ev, err = compileExec(m, evalBatch(valSet.N), false, evalOpts, valSet, newExec, gopts...); err != nil {
		return nil, err
	}
	if up, ok := b.ex.(program.Updater); ok && trainOpts.Update != nil {
		b.up, b.opt = up, t.Opt
		if err := b.setVelocity(); err != nil {
			return nil, err
		}
	}
	return t.fit(ctx, m, trainSet, b)
}

// execBackend runs device programs: ex trains, ev evaluates.
type execBackend struct {
	m      *model.Model
	ex, ev program.Executor
	valSet *dataset.Set
	idx    []int // the rows the next step runs
	logits []float32
	dW, dB []float32 // the gradients, for an optimiser that runs on the host
	// up, when set, runs the optimiser opt on the device (ex compiled
	// with its update steps); opt's velocities are synced with the
	// device's by sync and setParams.
	up  program.Updater
	opt *Optimizer
}

func (b *execBackend) start(idx []int) error { b.idx = idx; return nil }

func (b *execBackend) step(next []int) (float64, []float32, error) {
	loss, err := runBatch(b.ex, b.idx, b.logits)
	b.idx = next
	return loss, b.logits, err
}

func (b *execBackend) update(lr float32, opt *Optimizer) error {
	if b.up != nil {
		// The optimiser's update steps: the gradients and velocities
		// stay on the device; the same float32 scalars as the host's
		// Optimizer.update uses.
		if err := b.up.Update(lr, float32(opt.WeightDecay), float32(opt.Momentum)); err != nil {
			return fmt.Errorf("optimiser update: %w", err)
		}
		return nil
	}
	if opt.Plain() {
		if err := b.ex.SGD(lr); err != nil {
			return fmt.Errorf("SGD step: %w", err)
		}
		return nil
	}
	// An executor without update steps: the gradients come back, the
	// optimiser updates the Model, the parameters go back.
	if b.dW == nil {
		b.dW, b.dB = make([]float32, len(b.m.W)), make([]float32, len(b.m.B))
	}
	if err := b.ex.Grads(b.dW, b.dB); err != nil {
		return fmt.Errorf("read gradients: %w", err)
	}
	if err := b.sync(); err != nil {
		return err
	}
	if err := opt.Update(b.m.W, b.m.B, b.dW, b.dB, lr); err != nil {
		return err
	}
	return b.setParams()
}

func (b *execBackend) setParams() error {
	if err := b.ex.SetParams(b.m.W, b.m.B); err != nil {
		return fmt.Errorf("load weights: %w", err)
	}
	return b.setVelocity()
}

// setVelocity loads the optimiser's velocities, a resumed run's, into the
// device; without any the device's stay zero, as a fresh Optimizer's.
func (b *execBackend) setVelocity() error {
	if b.up == nil || b.opt.VW == nil {
		return nil
	}
	if err := b.up.SetVelocity(b.opt.VW, b.opt.VB); err != nil {
		return fmt.Errorf("load momentum: %w", err)
	}
	return nil
}

func (b *execBackend) validate() (*Result, error) {
	return evaluateOn(b.ev, b.m, b.valSet)
}

func (b *execBackend) sync() error {
	if err := b.ex.Params(b.m.W, b.m.B); err != nil {
		return fmt.Errorf("read weights: %w", err)
	}
	// The host Optimizer has velocities only with momentum, which is
	// what a checkpoint then saves.
	if b.up == nil || b.opt.Momentum == 0 {
		return nil
	}
	if b.opt.VW == nil {
		b.opt.VW, b.opt.VB = make([]float32, len(b.m.W)), make([]float32, len(b.m.B))
	}
	if err := b.up.Velocity(b.opt.VW, b.opt.VB); err != nil {
		return fmt.Errorf("read momentum: %w", err)
	}
	return nil
}

func (b *execBackend) close() error {
	var errs []error
	for _, ex := range []program.Executor{b.ex, b.ev} {
		if ex != nil {
			if err := ex.Close(); err != nil {
				errs = append(errs, fmt.Errorf("release the device: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// compileExec builds the model's graph for batch rows (with gopts: the
// primitives of Unfused), compiles it to a device program and loads the
// dataset and parameters into an executor. opts adds the recipe's options
// to the program.
func compileExec(m *model.Model, batch int, train bool, opts program.CompileOptions, s *dataset.Set, newExec func(*program.Program) (program.Executor, error), gopts ...model.GraphOption) (program.Executor, error) {
	gr, err := m.NewGraph(batch, train, gopts...)
	if err != nil {
		return nil, err
	}
	defer gr.Close()
	prog, err := program.Compile(gr.Nodes(), opts)
	if err != nil {
		return nil, err
	}
	ex, err := newExec(prog)
	if err != nil {
		return nil, err
	}
	if err := ex.SetParams(m.W, m.B); err != nil {
		return nil, errors.Join(fmt.Errorf("load weights: %w", err), ex.Close())
	}
	if err := ex.LoadDataset(s.Pix, s.Labels); err != nil {
		return nil, errors.Join(fmt.Errorf("load dataset: %w", err), ex.Close())
	}
	return ex, nil
}

// runBatch gathers the rows idx on the executor, runs the program and
// returns the loss, with the logits in logits.
func runBatch(ex program.Executor, idx []int, logits []float32) (float64, error) {
	if err := ex.GatherBatch(idx); err != nil {
		return 0, fmt.Errorf("gather batch: %w", err)
	}
	if err := ex.Run(); err != nil {
		return 0, fmt.Errorf("run program: %w", err)
	}
	loss, err := ex.Loss()
	if err != nil {
		return 0, fmt.Errorf("read loss: %w", err)
	}
	if err := ex.Logits(logits); err != nil {
		return 0, fmt.Errorf("read logits: %w", err)
	}
	return float64(loss), nil
}

// evaluateOn is Evaluate on an executor holding s: it loads m's weights
// and runs every example of s in order.
func evaluateOn(ev program.Executor, m *model.Model, s *dataset.Set) (*Result, error) {
	if err := ev.SetParams(m.W, m.B); err != nil {
		return nil, fmt.Errorf("load weights: %w", err)
	}
	batch := evalBatch(s.N)
	logits := make([]float32, batch*m.Out)
	return evaluate(s, batch, m.Out, func(idx []int) (float64, []float32, error) {
		loss, err := runBatch(ev, idx, logits)
		return loss, logits, err
	})
}
