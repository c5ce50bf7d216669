package train

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/device"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// FitOn is Fit on a device: the model's training and evaluation graphs are
// compiled to device programs (internal/device) and run by executors made
// by newExec. Both datasets are loaded into the executors once as bytes;
// each batch is gathered and scaled there, and forward, loss, gradients and
// the SGD update run there. The loss and logits of each batch come back
// for the epoch's metrics, and the weights once per epoch for validation
// and at the end into m.
func (t *Trainer) FitOn(ctx context.Context, m *model.Model, trainSet, valSet *dataset.Set, newExec func(*device.Program) (device.Executor, error)) ([]Epoch, error) {
	if err := t.Validate(trainSet.N); err != nil {
		return nil, err
	}
	ex, err := compileExec(m, t.BatchSize, true, trainSet, newExec)
	if err != nil {
		return nil, err
	}
	defer ex.Close()
	ev, err := compileExec(m, evalBatch(valSet.N), false, valSet, newExec)
	if err != nil {
		return nil, err
	}
	defer ev.Close()

	logits := make([]float32, t.BatchSize*m.Out)
	pred := make([]int, t.BatchSize)
	shuffler := dataset.NewShuffler(trainSet.N, t.Seed)
	batches := (trainSet.N + t.BatchSize - 1) / t.BatchSize
	lr := float32(t.LR)
	var history []Epoch
	for e := 1; e <= t.Epochs; e++ {
		start := time.Now()
		if t.OnEpochStart != nil {
			t.OnEpochStart(e, batches)
		}
		order := shuffler.Epoch(e)
		var lossSum float64
		var correct int
		for bi := 0; bi < batches; bi++ {
			if ctx.Err() != nil {
				return history, interrupted(ex, m)
			}
			idx := order[bi*t.BatchSize : min((bi+1)*t.BatchSize, trainSet.N)]
			loss, err := runBatch(ex, idx, logits)
			if err != nil {
				return history, err
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return history, fmt.Errorf("training diverged at epoch %d, batch %d (loss %v): use a smaller --lr than %v", e, bi+1, loss, t.LR)
			}
			n := len(idx)
			model.Argmax(logits[:n*m.Out], m.Out, pred[:n])
			for k, i := range idx {
				if pred[k] == int(trainSet.Labels[i]) {
					correct++
				}
			}
			lossSum += loss * float64(n)
			if err := ex.SGD(lr); err != nil {
				return history, fmt.Errorf("SGD step: %w", err)
			}
			if t.OnBatch != nil {
				t.OnBatch(bi+1, batches)
			}
		}
		if err := ex.Params(m.W, m.B); err != nil {
			return history, fmt.Errorf("read weights: %w", err)
		}
		res, err := evaluateOn(ev, m, valSet)
		if err != nil {
			return history, err
		}
		ep := Epoch{
			Epoch:     e,
			TrainLoss: lossSum / float64(trainSet.N),
			TrainAcc:  float64(correct) / float64(trainSet.N),
			ValLoss:   res.Loss,
			ValAcc:    res.Confusion.Accuracy(),
			Seconds:   time.Since(start).Seconds(),
		}
		history = append(history, ep)
		if t.OnEpoch != nil {
			t.OnEpoch(ep)
		}
	}
	return history, nil
}

// interrupted copies the weights of the last finished batch into m.
func interrupted(ex device.Executor, m *model.Model) error {
	if err := ex.Params(m.W, m.B); err != nil {
		return fmt.Errorf("read weights: %w", err)
	}
	return ErrInterrupted
}

// compileExec builds the model's graph for batch rows, compiles it to a
// device program and loads the dataset and parameters into an executor.
func compileExec(m *model.Model, batch int, train bool, s *dataset.Set, newExec func(*device.Program) (device.Executor, error)) (device.Executor, error) {
	gr, err := m.NewGraph(batch, train)
	if err != nil {
		return nil, err
	}
	defer gr.Close()
	prog, err := device.Compile(gr.Nodes(), device.CompileOptions{})
	if err != nil {
		return nil, err
	}
	ex, err := newExec(prog)
	if err != nil {
		return nil, err
	}
	if err := ex.SetParams(m.W, m.B); err != nil {
		ex.Close()
		return nil, fmt.Errorf("load weights: %w", err)
	}
	if err := ex.LoadDataset(s.Pix, s.Labels); err != nil {
		ex.Close()
		return nil, fmt.Errorf("load dataset: %w", err)
	}
	return ex, nil
}

// runBatch gathers the rows idx on the executor, runs the program and
// returns the loss, with the logits in logits.
func runBatch(ex device.Executor, idx []int, logits []float32) (float64, error) {
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
func evaluateOn(ev device.Executor, m *model.Model, s *dataset.Set) (*Result, error) {
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
