// Package train is the chapter's Trainer and Classifier: the fit loop that
// runs a model's graph over shuffled minibatches with SGD, and the
// evaluation that adds accuracy, loss and a confusion matrix over a whole
// split. It is a package of its own because both the train and eval
// commands use it, and neither the model (math) nor the dataset (bytes)
// should know about the other.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/metrics"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// ErrInterrupted is returned by Fit when its context was cancelled: the
// batch in flight finished and the model holds the parameters after it.
var ErrInterrupted = errors.New("training interrupted")

// Config is a training recipe.
type Config struct {
	Epochs    int
	LR        float64
	BatchSize int
	Seed      int64

	// The options of the book's next chapters, all off at their zero
	// values, which is the chapter's recipe (see Optimizer and Schedule).
	WeightDecay float64
	Momentum    float64
	Nesterov    bool
	Schedule    string // one of Schedules; "" is constant
	Warmup      int    // warm-up epochs
	// EMA, in (0, 1), validates and returns the exponential moving
	// average of the parameters with this decay instead of the last
	// iterate (see Average); 0 is off.
	EMA float64
	// LabelSmoothing, in [0, 1), trains on targets (1−ε)·one-hot + ε/K
	// instead of one-hot ones; validation keeps the plain loss. 0 is off.
	LabelSmoothing float64
}

// ConfigError says which field of a Config is out of range and why. The
// command line words it with its own flag names.
type ConfigError struct {
	Field string // "Epochs", "LR" or "BatchSize"
	Value any
	// Want says what the field must be, such as "at least 1".
	Want string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s must be %s, got %v", e.Field, e.Want, e.Value)
}

// Validate checks a recipe against a training set of n examples (n = 0:
// the set is not known yet). Its errors are *ConfigError.
func (c Config) Validate(n int) error {
	switch {
	case c.Epochs < 1:
		return &ConfigError{"Epochs", c.Epochs, "at least 1"}
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return &ConfigError{"LR", c.LR, "a positive finite number"}
	case c.BatchSize < 1:
		return &ConfigError{"BatchSize", c.BatchSize, "at least 1"}
	case n > 0 && c.BatchSize > n:
		return &ConfigError{"BatchSize", c.BatchSize, fmt.Sprintf("at most the size of the training set, %d examples", n)}
	case !(c.EMA >= 0 && c.EMA < 1):
		return &ConfigError{"EMA", c.EMA, "in [0, 1)"}
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return &ConfigError{"LabelSmoothing", c.LabelSmoothing, "in [0, 1)"}
	}
	if err := c.optimizer().Validate(); err != nil {
		return err
	}
	return c.schedule(0).Validate()
}

// optimizer returns a fresh Optimizer for the recipe.
func (c Config) optimizer() *Optimizer {
	return &Optimizer{WeightDecay: c.WeightDecay, Momentum: c.Momentum, Nesterov: c.Nesterov}
}

// schedule returns the recipe's schedule for epochs of batches steps.
func (c Config) schedule(batches int) Schedule {
	return Schedule{Kind: c.Schedule, LR: c.LR, Epochs: c.Epochs, Warmup: c.Warmup, Batches: batches}
}

// DivergedError reports a loss that became NaN or infinite.
type DivergedError struct {
	Epoch, Batch int
	Loss         float64
	LR           float64
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("training diverged at epoch %d, batch %d (loss %v) with learning rate %v", e.Epoch, e.Batch, e.Loss, e.LR)
}

// Epoch holds the metrics of one epoch: the mean training loss and
// accuracy over its minibatches (as the chapter reports them, measured
// while the parameters change) and the loss and accuracy on the validation
// set after it.
type Epoch struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	ValLoss   float64 `json:"val_loss"`
	ValAcc    float64 `json:"val_acc"`
	Seconds   float64 `json:"seconds"`
}

// Progress is where a run is, after a minibatch.
type Progress struct {
	Epoch, Epochs  int // the current epoch, from 1, and how many there are
	Batch, Batches int // batches done in this epoch, and its total
	// Loss and Acc are the epoch's running mean training loss and
	// accuracy over its batches so far.
	Loss, Acc float64
}

// Done is the fraction of the whole run done, in [0, 1].
func (p Progress) Done() float64 {
	if p.Epochs == 0 || p.Batches == 0 {
		return 0
	}
	return (float64(p.Epoch-1) + float64(p.Batch)/float64(p.Batches)) / float64(p.Epochs)
}

// Trainer runs the fit loop.
type Trainer struct {
	Config
	// OnBatch, if set, is called after each minibatch with the run's
	// progress and the epoch's running figures.
	OnBatch func(Progress)
	// OnEpochStart, if set, is called before each epoch's first batch.
	OnEpochStart func(epoch, batches int)
	// OnEpoch, if set, receives each epoch's metrics as soon as they exist.
	OnEpoch func(Epoch)

	// Start is the number of epochs already done: a resumed run starts
	// at epoch Start+1, with the shuffling, schedule and optimiser state
	// it would have had without the pause.
	Start int
	// Opt, if set, is the optimiser state to continue from (a resumed
	// run's velocities); Fit otherwise makes one from the Config. After
	// Fit it holds the state at the returned parameters.
	Opt *Optimizer
	// Avg, with Config.EMA, is the average to continue from; after Fit it
	// holds the average at the returned parameters.
	Avg *Average
	// Iterate, with Config.EMA, receives the last iterate's parameters
	// (W then b) after Fit, which a resumed run continues from: the Model
	// holds the average.
	Iterate [2][]float32

	// SaveBest makes Fit return the parameters of the epoch with the best
	// validation accuracy (the first of equals) instead of the last.
	SaveBest bool
	// Patience > 0 stops after that many epochs without a better
	// validation accuracy.
	Patience int
	// BestEpoch and BestAcc are set by Fit: the epoch of the best
	// validation accuracy and that accuracy.
	BestEpoch int
	BestAcc   float64
	// Stopped is set by Fit when Patience ended the run early.
	Stopped bool
	// Rollback makes an interrupted Fit return the parameters (and
	// optimiser state) at the end of the last complete epoch rather than
	// after the batch in flight: what a checkpoint that --resume continues
	// must hold.
	Rollback bool
	// Unfused makes Fit run the model's graph of Gorgonia primitives as
	// written, without model.Fuse's fused ops, and FitOn compile that
	// graph's primitives to device steps: slower, the same model to
	// float32 rounding.
	Unfused bool
}

// Fit trains m on trainSet with minibatch SGD and evaluates it on valSet
// after each epoch, running the model's graph on Gorgonia's tape machine.
// The batch order is shuffled each epoch by a generator seeded from
// Config.Seed, so a recipe and seed give the same model. When ctx is
// cancelled, Fit finishes the current batch and returns the epochs
// completed so far with ErrInterrupted; m then holds the parameters after
// that batch.
func (t *Trainer) Fit(ctx context.Context, m *model.Model, trainSet, valSet *dataset.Set) ([]Epoch, error) {
	if err := t.check(m, trainSet, valSet); err != nil {
		return nil, err
	}
	var opts []model.GraphOption
	if t.Unfused {
		opts = append(opts, model.Unfused())
	}
	b, err := newTapeBackend(m, t.BatchSize, trainSet, valSet, opts...)
	if err != nil {
		return nil, err
	}
	b.smooth = float32(t.LabelSmoothing)
	defer b.close()
	return t.fit(ctx, m, trainSet, b)
}

func (t *Trainer) check(m *model.Model, trainSet, valSet *dataset.Set) error {
	if err := t.Validate(trainSet.N); err != nil {
		return err
	}
	if trainSet.Dim() != m.In || valSet.Dim() != m.In {
		return fmt.Errorf("model takes %d inputs, data has %d (train) and %d (validation)", m.In, trainSet.Dim(), valSet.Dim())
	}
	return nil
}

// backend is what the fit loop drives: the tape machine here, a device
// program in program.go.
type backend interface {
	// start loads the epoch's first batch, the rows idx.
	start(idx []int) error
	// step runs the loaded batch (forward and backward), returns its mean
	// loss and its logits, and loads next (nil after the epoch's last
	// batch) for the following step.
	step(next []int) (loss float64, logits []float32, err error)
	// update applies the optimiser to the parameters with the last
	// step's gradients; a nil or plain optimiser is the chapter's SGD.
	update(lr float32, opt *Optimizer) error
	// validate measures the Model's parameters on the validation set;
	// fit syncs first.
	validate() (*Result, error)
	// setParams makes the backend train from the Model's parameters.
	setParams() error
	// sync makes the Model hold the backend's current parameters.
	sync() error
	// Closing is not fit's business: Fit and FitOn close what they made,
	// FitOn reporting a failure to release the device.
}

// fit is the loop shared by Fit and FitOn.
func (t *Trainer) fit(ctx context.Context, m *model.Model, trainSet *dataset.Set, b backend) ([]Epoch, error) {
	pred := make([]int, t.BatchSize)
	shuffler := dataset.NewShuffler(trainSet.N, t.Seed)
	batches := dataset.NumBatches(trainSet.N, t.BatchSize)
	sched := t.schedule(batches)
	if t.Opt == nil {
		t.Opt = t.optimizer()
	}
	if t.EMA > 0 && t.Avg == nil {
		t.Avg = &Average{Decay: t.EMA}
	}
	if t.Start > 0 {
		// A resumed run's parameters came from its checkpoint.
		if err := b.setParams(); err != nil {
			return nil, err
		}
	}
	t.BestEpoch, t.BestAcc, t.Stopped = 0, 0, false
	var snap, best *snapshot
	var history []Epoch
	for e := t.Start + 1; e <= t.Epochs; e++ {
		start := time.Now()
		if t.OnEpochStart != nil {
			t.OnEpochStart(e, batches)
		}
		order := shuffler.Epoch(e)
		batch := func(bi int) []int {
			if bi >= batches {
				return nil
			}
			return dataset.Batch(order, t.BatchSize, bi)
		}
		if err := b.start(batch(0)); err != nil {
			return history, err
		}
		var lossSum float64
		var correct, seen int
		for bi := 0; bi < batches; bi++ {
			if ctx.Err() != nil {
				if err := b.sync(); err != nil {
					return history, err
				}
				if t.Rollback && snap != nil {
					snap.restore(m, t)
				}
				t.finish(m, best)
				return history, ErrInterrupted
			}
			loss, logits, err := b.step(batch(bi + 1))
			if err != nil {
				return history, err
			}
			lr := sched.At((e-1)*batches + bi)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return history, &DivergedError{Epoch: e, Batch: bi + 1, Loss: loss, LR: lr}
			}
			idx := batch(bi)
			n := len(idx)
			model.Argmax(logits[:n*m.Out], m.Out, pred[:n])
			for k, i := range idx {
				if pred[k] == int(trainSet.Labels[i]) {
					correct++
				}
			}
			lossSum += loss * float64(n)
			seen += n
			if err := b.update(float32(lr), t.Opt); err != nil {
				return history, err
			}
			if t.Avg != nil {
				if err := b.sync(); err != nil {
					return history, err
				}
				t.Avg.Update(m)
			}
			if t.OnBatch != nil {
				t.OnBatch(Progress{Epoch: e, Epochs: t.Epochs, Batch: bi + 1, Batches: batches,
					Loss: lossSum / float64(seen), Acc: float64(correct) / float64(seen)})
			}
		}
		if err := b.sync(); err != nil {
			return history, err
		}
		// Validate what the run would return: the average under EMA. The
		// tape backend trains the Model's own slices, so the iterate is
		// put back afterwards.
		var live *snapshot
		if t.Avg != nil {
			live = takeSnapshot(m, t)
			copy(m.W, t.Avg.AW)
			copy(m.B, t.Avg.AB)
		}
		res, err := b.validate()
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
		improved := t.BestEpoch == 0 || ep.ValAcc > t.BestAcc
		if improved {
			t.BestEpoch, t.BestAcc = e, ep.ValAcc
			if t.SaveBest {
				best = takeSnapshot(m, nil)
			}
		}
		if live != nil {
			live.restore(m, nil)
		}
		if t.Rollback {
			snap = takeSnapshot(m, t)
		}
		history = append(history, ep)
		if t.OnEpoch != nil {
			t.OnEpoch(ep)
		}
		if !improved && t.Patience > 0 && e-t.BestEpoch >= t.Patience {
			t.Stopped = true
			break
		}
	}
	if err := b.sync(); err != nil {
		return history, err
	}
	t.finish(m, best)
	return history, nil
}

// finish turns the Model, holding the last iterate, into what Fit returns:
// the average under EMA (the iterate goes to Iterate), the best epoch's
// parameters under SaveBest.
func (t *Trainer) finish(m *model.Model, best *snapshot) {
	if t.Avg != nil && t.Avg.AW != nil {
		t.Iterate = [2][]float32{slices.Clone(m.W), slices.Clone(m.B)}
		copy(m.W, t.Avg.AW)
		copy(m.B, t.Avg.AB)
	}
	if best != nil {
		best.restore(m, nil)
	}
}

// snapshot is a copy of the parameters and, when taken with a Trainer, of
// its optimiser and average state.
type snapshot struct {
	w, b, vw, vb, aw, ab []float32
}

func takeSnapshot(m *model.Model, t *Trainer) *snapshot {
	s := &snapshot{w: slices.Clone(m.W), b: slices.Clone(m.B)}
	if t != nil {
		s.vw, s.vb = slices.Clone(t.Opt.VW), slices.Clone(t.Opt.VB)
		if t.Avg != nil {
			s.aw, s.ab = slices.Clone(t.Avg.AW), slices.Clone(t.Avg.AB)
		}
	}
	return s
}

func (s *snapshot) restore(m *model.Model, t *Trainer) {
	copy(m.W, s.w)
	copy(m.B, s.b)
	if t != nil {
		t.Opt.VW, t.Opt.VB = s.vw, s.vb
		if t.Avg != nil {
			t.Avg.AW, t.Avg.AB = s.aw, s.ab
		}
	}
}

// tapeBackend runs the model's graph on Gorgonia's tape machine. Two
// graphs take turns: while one runs a batch, another goroutine gathers the
// next batch into the other's inputs, so the second core converts pixels
// while the first does the math. Both read and update the Model's own
// parameter slices, so the result is that of one graph.
type tapeBackend struct {
	graphs   [2]*model.Graph
	cur      int // the graph holding the loaded batch
	trainSet *dataset.Set
	valSet   *dataset.Set
	ev       *Evaluator
	smooth   float32 // label smoothing of the training batches
}

func newTapeBackend(m *model.Model, batch int, trainSet, valSet *dataset.Set, opts ...model.GraphOption) (*tapeBackend, error) {
	b := &tapeBackend{trainSet: trainSet, valSet: valSet}
	for k := range b.graphs {
		gr, err := m.NewGraph(batch, true, opts...)
		if err != nil {
			b.close()
			return nil, err
		}
		b.graphs[k] = gr
	}
	ev, err := NewEvaluator(m, evalBatch(valSet.N), opts...)
	if err != nil {
		b.close()
		return nil, err
	}
	b.ev = ev
	return b, nil
}

func (b *tapeBackend) start(idx []int) error {
	loadSmoothed(b.graphs[b.cur], b.trainSet, idx, b.smooth)
	return nil
}

func (b *tapeBackend) step(next []int) (float64, []float32, error) {
	gr, other := b.graphs[b.cur], b.graphs[1-b.cur]
	var loading sync.WaitGroup
	if next != nil {
		loading.Go(func() { loadSmoothed(other, b.trainSet, next, b.smooth) })
	}
	loss, err := gr.Run()
	loading.Wait()
	b.cur = 1 - b.cur
	return loss, gr.Logits(), err
}

// update applies the gradients of the graph the last step ran.
func (b *tapeBackend) update(lr float32, opt *Optimizer) error {
	gr := b.graphs[1-b.cur]
	if opt.Plain() {
		return gr.SGD(lr)
	}
	dW, dB, err := gr.Grads()
	if err != nil {
		return err
	}
	return opt.Update(gr.Model.W, gr.Model.B, dW, dB, lr)
}

// setParams has nothing to do: the graphs read the Model's slices.
func (b *tapeBackend) setParams() error { return nil }

func (b *tapeBackend) validate() (*Result, error) { return b.ev.Evaluate(b.valSet) }

// sync has nothing to do: the graphs update the Model's slices in place.
func (b *tapeBackend) sync() error { return nil }

func (b *tapeBackend) close() {
	for _, gr := range b.graphs {
		if gr != nil {
			gr.Close()
		}
	}
	if b.ev != nil {
		b.ev.Close()
	}
}

// load gathers the examples idx of s into gr's inputs, zeroing the rows
// past them: zero label rows add nothing to the loss.
func load(gr *model.Graph, s *dataset.Set, idx []int) {
	x, y := gr.Inputs()
	n, in, out := len(idx), gr.Model.In, gr.Model.Out
	s.Gather(idx, x[:n*in], y[:n*out])
	if norm := gr.Model.Norm; norm != nil {
		norm.Apply(x, n)
	}
	clear(x[n*in:])
	clear(y[n*out:])
}

// evalBatch picks the evaluation batch: large batches amortise the graph's
// per-run overhead, and 1000 divides both MNIST splits.
func evalBatch(n int) int { return max(1, min(n, 1000)) }

// Result is a model's performance on one split.
type Result struct {
	Loss      float64 // mean cross-entropy
	Confusion *metrics.Confusion
	// Pred holds the predicted class of each example, in the split's order.
	Pred []int
}

// Evaluator is the Classifier: forward-only graphs that measure loss and
// accuracy of a model over a whole split. It has two, which take the two
// halves of a split side by side, one core each.
type Evaluator struct {
	m      *model.Model
	graphs [2]*model.Graph
}

// NewEvaluator builds the forward graphs for batches of up to batch rows.
func NewEvaluator(m *model.Model, batch int, opts ...model.GraphOption) (*Evaluator, error) {
	ev := &Evaluator{m: m}
	for k := range ev.graphs {
		gr, err := m.NewGraph(batch, false, opts...)
		if err != nil {
			ev.Close()
			return nil, err
		}
		ev.graphs[k] = gr
	}
	return ev, nil
}

// Close releases the graphs.
func (ev *Evaluator) Close() error {
	var errs []error
	for _, gr := range ev.graphs {
		if gr != nil {
			errs = append(errs, gr.Close())
		}
	}
	return errors.Join(errs...)
}

// Evaluate runs the model over every example of s in order.
func (ev *Evaluator) Evaluate(s *dataset.Set) (*Result, error) {
	batch := ev.graphs[0].Batch
	// Split at a batch boundary, so that every batch is the one a single
	// pass would run.
	half := min(s.N, (s.N/2+batch-1)/batch*batch)
	bounds := [3]int{0, half, s.N}
	res := newResult(s.N, ev.m.Out)
	var sums [2]float64
	var confs [2]*metrics.Confusion
	var errs [2]error
	var wg sync.WaitGroup
	for k, gr := range ev.graphs {
		wg.Go(func() {
			sums[k], confs[k], errs[k] = evaluateRange(s, bounds[k], bounds[k+1], batch, ev.m.Out, res.Pred, func(idx []int) (float64, []float32, error) {
				load(gr, s, idx)
				loss, err := gr.Run()
				return loss, gr.Logits(), err
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	res.Confusion.Merge(confs[0])
	res.Confusion.Merge(confs[1])
	res.Loss = (sums[0] + sums[1]) / float64(s.N)
	return res, nil
}

func newResult(n, classes int) *Result {
	return &Result{Confusion: metrics.NewConfusion(classes), Pred: make([]int, n)}
}

// evaluate runs every example of s in order, batch rows at a time, through
// run, which returns the batch's mean loss and its logits (batch × classes).
func evaluate(s *dataset.Set, batch, classes int, run func(idx []int) (float64, []float32, error)) (*Result, error) {
	res := newResult(s.N, classes)
	sum, conf, err := evaluateRange(s, 0, s.N, batch, classes, res.Pred, run)
	if err != nil {
		return nil, err
	}
	res.Confusion = conf
	res.Loss = sum / float64(s.N)
	return res, nil
}

// evaluateRange runs the examples lo..hi-1 of s through run, writes their
// predicted classes into pred and returns the sum of their losses and
// their confusion matrix.
func evaluateRange(s *dataset.Set, lo, hi, batch, classes int, pred []int, run func(idx []int) (float64, []float32, error)) (float64, *metrics.Confusion, error) {
	conf := metrics.NewConfusion(classes)
	idx := make([]int, 0, batch)
	var lossSum float64
	for b := lo; b < hi; b += batch {
		e := min(b+batch, hi)
		idx = idx[:0]
		for i := b; i < e; i++ {
			idx = append(idx, i)
		}
		loss, logits, err := run(idx)
		if err != nil {
			return 0, nil, err
		}
		lossSum += loss * float64(e-b)
		model.Argmax(logits[:(e-b)*classes], classes, pred[b:e])
		for i := b; i < e; i++ {
			conf.Add(int(s.Labels[i]), pred[i])
		}
	}
	return lossSum, conf, nil
}

// Evaluate is a one-shot Evaluator.Evaluate.
func Evaluate(m *model.Model, s *dataset.Set) (*Result, error) {
	ev, err := NewEvaluator(m, evalBatch(s.N))
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	return ev.Evaluate(s)
}
