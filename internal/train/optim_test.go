package train

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

func norm2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// TestOptimizerFormula checks one and two steps of each rule against the
// formulas written out by hand.
func TestOptimizerFormula(t *testing.T) {
	const lr, mu, wd = 0.1, 0.9, 0.01
	w0, g1, g2 := float32(2), float32(0.5), float32(-0.25)
	tests := []struct {
		name string
		opt  Optimizer
		want func() float32 // W after the steps with g1, then g2
	}{
		{"sgd", Optimizer{}, func() float32 { return w0 - lr*g1 - lr*g2 }},
		{"decay", Optimizer{WeightDecay: wd}, func() float32 {
			w := w0 - lr*(g1+wd*w0)
			return w - lr*(g2+wd*w)
		}},
		{"momentum", Optimizer{Momentum: mu}, func() float32 {
			v := g1
			w := w0 - lr*v
			v = mu*v + g2
			return w - lr*v
		}},
		{"nesterov", Optimizer{Momentum: mu, Nesterov: true}, func() float32 {
			v := g1
			w := w0 - lr*(g1+mu*v)
			v = mu*v + g2
			return w - lr*(g2+mu*v)
		}},
		{"momentum+decay", Optimizer{Momentum: mu, WeightDecay: wd}, func() float32 {
			v := g1 + wd*w0
			w := w0 - lr*v
			v = mu*v + g2 + wd*w
			return w - lr*v
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, b := []float32{w0}, []float32{w0}
			for _, g := range []float32{g1, g2} {
				if err := tt.opt.Update(w, b, []float32{g}, []float32{g}, lr); err != nil {
					t.Fatal(err)
				}
			}
			if want := tt.want(); math.Abs(float64(w[0]-want)) > 1e-6 {
				t.Errorf("W = %v, want %v", w[0], want)
			}
			// The bias is never decayed.
			noDecay := tt.opt
			noDecay.WeightDecay, noDecay.VW, noDecay.VB = 0, nil, nil
			wb := []float32{w0}
			for _, g := range []float32{g1, g2} {
				_ = noDecay.Update(wb, []float32{0}, []float32{g}, []float32{0}, lr)
			}
			if math.Abs(float64(b[0]-wb[0])) > 1e-6 {
				t.Errorf("b = %v, want %v (no decay)", b[0], wb[0])
			}
		})
	}
}

func TestScheduleAt(t *testing.T) {
	const batches, epochs = 7, 10
	end := batches * epochs
	tests := []struct {
		s    Schedule
		t    int
		want float64
	}{
		{Schedule{Kind: ScheduleConstant, LR: 0.1}, 50, 0.1},
		{Schedule{Kind: ScheduleCosine, LR: 0.1, Epochs: epochs, Batches: batches}, 0, 0.1},
		{Schedule{Kind: ScheduleCosine, LR: 0.1, Epochs: epochs, Batches: batches}, end / 2, 0.05},
		{Schedule{Kind: ScheduleCosine, LR: 0.1, Epochs: epochs, Batches: batches}, end, 0},
		{Schedule{Kind: ScheduleCosine, LR: 0.1, Epochs: epochs, Warmup: 2, Batches: batches}, 0, 0.1 / 14},
		{Schedule{Kind: ScheduleCosine, LR: 0.1, Epochs: epochs, Warmup: 2, Batches: batches}, 13, 0.1},
		{Schedule{Kind: ScheduleCosine, LR: 0.1, Epochs: epochs, Warmup: 2, Batches: batches}, 14, 0.1},
		{Schedule{Kind: ScheduleCosine, LR: 0.1, Epochs: epochs, Warmup: 2, Batches: batches}, end, 0},
		{Schedule{Kind: ScheduleStep, LR: 0.1, Epochs: epochs, Batches: batches}, 4*batches + 6, 0.1},
		{Schedule{Kind: ScheduleStep, LR: 0.1, Epochs: epochs, Batches: batches}, 5 * batches, 0.01},
		{Schedule{Kind: ScheduleStep, LR: 0.1, Epochs: epochs, Batches: batches}, 8 * batches, 0.001},
	}
	for _, tt := range tests {
		if got := tt.s.At(tt.t); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%+v.At(%d) = %v, want %v", tt.s, tt.t, got, tt.want)
		}
	}
	// The cosine never rises after the warm-up.
	s := Schedule{Kind: ScheduleCosine, LR: 0.1, Epochs: epochs, Warmup: 1, Batches: batches}
	for i := batches; i < end; i++ {
		if s.At(i+1) > s.At(i) {
			t.Fatalf("cosine rises at step %d", i)
		}
	}
}

func TestWeightDecayShrinksWeights(t *testing.T) {
	tr, te := separable(500, 1), separable(100, 2)
	norms := map[float64]float64{}
	for _, wd := range []float64{0, 0.01, 0.1} {
		m, _ := model.New(784, 10, 0.01, 1)
		trn := &Trainer{Config: Config{Epochs: 3, LR: 0.1, BatchSize: 50, Seed: 1, WeightDecay: wd}}
		if _, err := trn.Fit(context.Background(), m, tr, te); err != nil {
			t.Fatal(err)
		}
		norms[wd] = norm2(m.W)
	}
	if !(norms[0.1] < norms[0.01] && norms[0.01] < norms[0]) {
		t.Errorf("‖W‖ by weight decay: %v; want it to shrink as the decay grows", norms)
	}
}

// TestFitMomentumMatchesFormula runs the fit loop with momentum and
// replays its steps by hand with the graph's gradients.
func TestFitMomentumMatchesFormula(t *testing.T) {
	tr, te := separable(100, 1), separable(50, 2)
	cfg := Config{Epochs: 2, LR: 0.05, BatchSize: 25, Seed: 3, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3, Schedule: ScheduleCosine}
	m, _ := model.New(784, 10, 0.01, 1)
	if _, err := (&Trainer{Config: cfg}).Fit(context.Background(), m, tr, te); err != nil {
		t.Fatal(err)
	}

	ref, _ := model.New(784, 10, 0.01, 1)
	gr, err := ref.NewGraph(cfg.BatchSize, true)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	vw, vb := make([]float32, len(ref.W)), make([]float32, len(ref.B))
	sh := dataset.NewShuffler(tr.N, cfg.Seed)
	batches := dataset.NumBatches(tr.N, cfg.BatchSize)
	sched := cfg.schedule(batches)
	step := func(p, g, v []float32, wd, lr float32) {
		for i := range p {
			// Each product rounded on its own, as Optimizer does.
			gi := g[i] + float32(wd*p[i])
			v[i] = float32(0.9*v[i]) + gi
			p[i] -= float32(lr * (gi + float32(0.9*v[i])))
		}
	}
	for e := 1; e <= cfg.Epochs; e++ {
		order := sh.Epoch(e)
		for bi := 0; bi < batches; bi++ {
			load(gr, tr, dataset.Batch(order, cfg.BatchSize, bi))
			if _, err := gr.Run(); err != nil {
				t.Fatal(err)
			}
			dW, dB, _ := gr.Grads()
			lr := float32(sched.At((e-1)*batches + bi))
			step(ref.W, dW, vw, 1e-3, lr)
			step(ref.B, dB, vb, 0, lr)
		}
	}
	if !slices.Equal(m.W, ref.W) || !slices.Equal(m.B, ref.B) {
		t.Errorf("fit with Nesterov momentum differs from the formula replayed by hand")
	}
}

// TestResumeEqualsUninterrupted interrupts a run after 2 of 4 epochs,
// resumes it from what it returned and compares with a run of 4.
func TestResumeEqualsUninterrupted(t *testing.T) {
	tr, te := separable(200, 1), separable(50, 2)
	for _, cfg := range []Config{
		{Epochs: 4, LR: 0.1, BatchSize: 30, Seed: 5},
		{Epochs: 4, LR: 0.05, BatchSize: 30, Seed: 5, Momentum: 0.9, WeightDecay: 1e-3, Schedule: ScheduleCosine, Warmup: 1, EMA: 0.9},
	} {
		full, _ := model.New(784, 10, 0.01, 1)
		if _, err := (&Trainer{Config: cfg}).Fit(context.Background(), full, tr, te); err != nil {
			t.Fatal(err)
		}

		half, _ := model.New(784, 10, 0.01, 1)
		ctx, cancel := context.WithCancel(context.Background())
		first := &Trainer{Config: cfg, Rollback: true}
		// Cancelled mid-epoch 3: the rollback returns the state after 2.
		first.OnBatch = func(p Progress) {
			if p.Epoch == 3 && p.Batch == 2 {
				cancel()
			}
		}
		hist, err := first.Fit(ctx, half, tr, te)
		if !errors.Is(err, ErrInterrupted) || len(hist) != 2 {
			t.Fatalf("interrupted run: %d epochs, %v", len(hist), err)
		}
		// What a checkpoint carries: the returned parameters (the
		// average under EMA), the iterate, the velocities, the average.
		second := &Trainer{Config: cfg, Start: 2, Opt: &Optimizer{WeightDecay: cfg.WeightDecay, Momentum: cfg.Momentum,
			VW: slices.Clone(first.Opt.VW), VB: slices.Clone(first.Opt.VB)}}
		resumed, _ := model.New(784, 10, 0.5, 9) // different start, overwritten below
		copy(resumed.W, half.W)
		copy(resumed.B, half.B)
		if cfg.EMA > 0 {
			second.Avg = &Average{Decay: cfg.EMA, AW: slices.Clone(half.W), AB: slices.Clone(half.B)}
			copy(resumed.W, first.Iterate[0])
			copy(resumed.B, first.Iterate[1])
		}
		hist, err = second.Fit(context.Background(), resumed, tr, te)
		if err != nil || len(hist) != 2 || hist[0].Epoch != 3 {
			t.Fatalf("resumed run: %v, %v", hist, err)
		}
		if !slices.Equal(full.W, resumed.W) || !slices.Equal(full.B, resumed.B) {
			t.Errorf("%+v: 2 epochs + resume 2 differs from 4 epochs", cfg)
		}
	}
}

// TestSaveBestKeepsBestEpoch records each epoch's parameters and checks
// that Fit returns those of the best validation accuracy.
func TestSaveBestKeepsBestEpoch(t *testing.T) {
	tr, te := separable(300, 1), randomSet(100, 7) // noise: the best epoch is not the last
	m, _ := model.New(784, 10, 0.01, 1)
	var perEpoch [][]float32
	trn := &Trainer{Config: Config{Epochs: 6, LR: 0.5, BatchSize: 30, Seed: 2}, SaveBest: true}
	trn.OnEpoch = func(Epoch) { perEpoch = append(perEpoch, slices.Clone(m.W)) }
	hist, err := trn.Fit(context.Background(), m, tr, te)
	if err != nil {
		t.Fatal(err)
	}
	best := 0
	for i, e := range hist {
		if e.ValAcc > hist[best].ValAcc {
			best = i
		}
	}
	if trn.BestEpoch != best+1 {
		t.Fatalf("BestEpoch = %d, want %d (val acc %v)", trn.BestEpoch, best+1, hist)
	}
	if !slices.Equal(m.W, perEpoch[best]) {
		t.Errorf("returned weights are not those of epoch %d", best+1)
	}
}

func TestPatienceStops(t *testing.T) {
	tr, te := separable(300, 1), randomSet(100, 7)
	m, _ := model.New(784, 10, 0.01, 1)
	trn := &Trainer{Config: Config{Epochs: 30, LR: 0.5, BatchSize: 30, Seed: 2}, Patience: 2}
	hist, err := trn.Fit(context.Background(), m, tr, te)
	if err != nil {
		t.Fatal(err)
	}
	if !trn.Stopped || len(hist) != trn.BestEpoch+2 {
		t.Errorf("stopped %v after %d epochs, best %d; want a stop 2 epochs after the best", trn.Stopped, len(hist), trn.BestEpoch)
	}
}

// TestStandardizeAppliedByEvaluate checks that the Evaluator feeds the
// graph standardised inputs: a model whose standardisation is folded into
// its weights must score the same without it.
func TestStandardizeAppliedByEvaluate(t *testing.T) {
	s := separable(120, 3)
	m, _ := model.New(784, 10, 0.05, 4)
	norm, err := model.NewStandardizer(s.Pix, 784)
	if err != nil {
		t.Fatal(err)
	}
	m.Norm = norm
	// Folded: W' = W/std per input row, b' = b − Σ mean/std·W.
	f, _ := model.New(784, 10, 0, 0)
	copy(f.B, m.B)
	for i := 0; i < 784; i++ {
		for j := 0; j < 10; j++ {
			w := m.W[i*10+j] / norm.Std[i]
			f.W[i*10+j] = w
			f.B[j] -= norm.Mean[i] * w
		}
	}
	a, err := Evaluate(m, s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Evaluate(f, s)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(a.Loss-b.Loss) > 1e-3 || !slices.Equal(a.Pred, b.Pred) {
		t.Errorf("standardised model: loss %v, folded: %v; predictions equal: %v", a.Loss, b.Loss, slices.Equal(a.Pred, b.Pred))
	}
}

func TestHoldout(t *testing.T) {
	s := separable(100, 1)
	rest, held, err := Holdout(s, 20, 7)
	if err != nil || rest.N != 80 || held.N != 20 {
		t.Fatalf("Holdout: %v, %v", err, err)
	}
	again, held2, _ := Holdout(s, 20, 7)
	if !slices.Equal(held.Pix, held2.Pix) || !slices.Equal(rest.Labels, again.Labels) {
		t.Error("same seed, different split")
	}
	_, other, _ := Holdout(s, 20, 8)
	if slices.Equal(held.Pix, other.Pix) {
		t.Error("another seed, same split")
	}
	for _, n := range []int{0, 100} {
		if _, _, err := Holdout(s, n, 1); err == nil {
			t.Errorf("Holdout(%d of 100) succeeded", n)
		}
	}
}
