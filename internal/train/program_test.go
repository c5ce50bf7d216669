package train

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/devicetest"

	"github.com/softmaxctl/softmaxctl/internal/device/program"

	"github.com/softmaxctl/softmaxctl/internal/model"
)

func cpuExec(p *program.Program) (program.Executor, error) { return devicetest.NewExecutor(p) }

// hostExec is an executor that hides its Updater methods, so that FitOn
// falls back to the optimiser on the host.
type hostExec struct{ program.Executor }

func hostOnly(p *program.Program) (program.Executor, error) {
	ex, err := cpuExec(p)
	return hostExec{ex}, err
}

// maxDiff returns the largest |a[i] − b[i]|.
func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestDeviceUpdateMatchesOptimizer runs a few steps of the device
// program's update steps on the CPU executor next to the host Optimizer
// and the tape machine: fed the executor's own gradients, the Optimizer
// makes the same parameters and velocities to the bit; the tape machine,
// whose gradients are summed in another order, the same within float32
// rounding.
func TestDeviceUpdateMatchesOptimizer(t *testing.T) {
	const batch, steps = 32, 6
	set := separable(200, 4)
	for _, tc := range []struct {
		name string
		opt  Optimizer
	}{
		{"momentum", Optimizer{Momentum: 0.9}},
		{"nesterov", Optimizer{Momentum: 0.9, Nesterov: true}},
		{"decay", Optimizer{WeightDecay: 1e-2}},
		{"nesterov and decay", Optimizer{Momentum: 0.5, Nesterov: true, WeightDecay: 3e-3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := model.New(784, 10, 0.01, 2)
			host := &Optimizer{WeightDecay: tc.opt.WeightDecay, Momentum: tc.opt.Momentum, Nesterov: tc.opt.Nesterov}
			tape := &Optimizer{WeightDecay: tc.opt.WeightDecay, Momentum: tc.opt.Momentum, Nesterov: tc.opt.Nesterov}
			hw, hb := slices.Clone(m.W), slices.Clone(m.B)
			ex, err := compileExec(m, batch, true, program.CompileOptions{Update: &program.UpdateRule{Nesterov: tc.opt.Nesterov}}, set, cpuExec)
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			up := ex.(program.Updater)
			gr, err := m.NewGraph(batch, true) // trains m's own slices
			if err != nil {
				t.Fatal(err)
			}
			defer gr.Close()
			dW, dB := make([]float32, len(hw)), make([]float32, len(hb))
			w, b := make([]float32, len(hw)), make([]float32, len(hb))
			vw, vb := make([]float32, len(hw)), make([]float32, len(hb))
			for s := range steps {
				idx := []int{}
				for i := range batch - 5*(s%2) { // every other batch has padding rows
					idx = append(idx, (s*batch+i*7)%set.N)
				}
				lr := 0.2 / float32(s+1) // as a schedule changes it
				if err := ex.GatherBatch(idx); err != nil {
					t.Fatal(err)
				}
				if err := ex.Run(); err != nil {
					t.Fatal(err)
				}
				if err := ex.Grads(dW, dB); err != nil {
					t.Fatal(err)
				}
				if err := host.Update(hw, hb, dW, dB, lr); err != nil {
					t.Fatal(err)
				}
				if err := up.Update(lr, float32(tc.opt.WeightDecay), float32(tc.opt.Momentum)); err != nil {
					t.Fatal(err)
				}
				load(gr, set, idx)
				if _, err := gr.Run(); err != nil {
					t.Fatal(err)
				}
				tw, tb, _ := gr.Grads()
				if err := tape.Update(m.W, m.B, tw, tb, lr); err != nil {
					t.Fatal(err)
				}

				if err := ex.Params(w, b); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(w, hw) || !slices.Equal(b, hb) {
					t.Fatalf("step %d: device update differs from Optimizer.Update on the same gradients (max |ΔW| %.3g)", s, maxDiff(w, hw))
				}
				if tc.opt.Momentum != 0 {
					if err := up.Velocity(vw, vb); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(vw, host.VW) || !slices.Equal(vb, host.VB) {
						t.Fatalf("step %d: device velocities differ from Optimizer's", s)
					}
				}
				if d := max(maxDiff(w, m.W), maxDiff(b, m.B)); d > 1e-6 {
					t.Errorf("step %d: device and tape machine differ by %.3g", s, d)
				}
			}
		})
	}
}

// TestFitOnOptionsMatchFit trains with the recipe options through FitOn
// on the CPU executor (the options as device steps) and through Fit on
// the tape machine: the same weights within float32 tolerance, and, where
// the executor hides its update steps (the host round trip), the same
// weights to the bit as the device update steps.
func TestFitOnOptionsMatchFit(t *testing.T) {
	tr, te := separable(400, 5), separable(120, 6)
	norm, err := model.NewStandardizer(tr.Pix, 784)
	if err != nil {
		t.Fatal(err)
	}
	base := Config{Epochs: 2, LR: 0.05, BatchSize: 48, Seed: 3}
	for _, tc := range []struct {
		name     string
		cfg      func(*Config)
		standard bool
	}{
		{"momentum", func(c *Config) { c.Momentum = 0.9 }, false},
		{"nesterov decay cosine", func(c *Config) {
			c.Momentum, c.Nesterov, c.WeightDecay, c.Schedule, c.Warmup = 0.9, true, 3e-3, ScheduleCosine, 1
		}, false},
		{"decay only", func(c *Config) { c.WeightDecay = 1e-2 }, false},
		{"standardize", func(*Config) {}, true},
		{"label smoothing", func(c *Config) { c.LabelSmoothing = 0.1 }, false},
		{"ema", func(c *Config) { c.Momentum, c.EMA = 0.9, 0.9 }, false},
		{"best recipe", func(c *Config) {
			c.Momentum, c.WeightDecay, c.Schedule, c.LabelSmoothing = 0.9, 3e-3, ScheduleCosine, 0.05
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.cfg(&cfg)
			models := make([]*model.Model, 3)
			for i := range models {
				models[i], _ = model.New(784, 10, 0.01, 3)
				if tc.standard {
					models[i].Norm = norm
				}
			}
			tape := &Trainer{Config: cfg}
			h1, err := tape.Fit(context.Background(), models[0], tr, te)
			if err != nil {
				t.Fatal(err)
			}
			dev := &Trainer{Config: cfg}
			h2, err := dev.FitOn(context.Background(), models[1], tr, te, cpuExec)
			if err != nil {
				t.Fatal(err)
			}
			if d := max(maxDiff(models[0].W, models[1].W), maxDiff(models[0].B, models[1].B)); d > 1e-5 {
				t.Errorf("device program and tape machine differ by %.3g", d)
			}
			for i := range h1 {
				if math.Abs(h1[i].TrainLoss-h2[i].TrainLoss) > 1e-5 || math.Abs(h1[i].ValLoss-h2[i].ValLoss) > 1e-4 || math.Abs(h1[i].ValAcc-h2[i].ValAcc) > 0.01 {
					t.Errorf("epoch %d: tape machine %+v, device program %+v", i+1, h1[i], h2[i])
				}
			}
			if (tape.Opt.VW == nil) != (dev.Opt.VW == nil) {
				t.Fatalf("velocities: tape machine has %d, device %d", len(tape.Opt.VW), len(dev.Opt.VW))
			}
			if d := maxDiff(tape.Opt.VW, dev.Opt.VW); d > 1e-4 {
				t.Errorf("velocities differ by %.3g", d)
			}
			if _, err := (&Trainer{Config: cfg}).FitOn(context.Background(), models[2], tr, te, hostOnly); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(models[1].W, models[2].W) || !slices.Equal(models[1].B, models[2].B) {
				t.Errorf("device update steps and the host round trip differ by %.3g", maxDiff(models[1].W, models[2].W))
			}
		})
	}
}

// TestFitOnResumeEqualsUninterrupted interrupts a device run with
// momentum after 2 of 4 epochs and resumes it from what it returned (the
// velocities read back from the device, loaded again by the resumed run):
// the same as 4 epochs, to the bit.
func TestFitOnResumeEqualsUninterrupted(t *testing.T) {
	tr, te := separable(200, 1), separable(50, 2)
	cfg := Config{Epochs: 4, LR: 0.05, BatchSize: 30, Seed: 5, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3, Schedule: ScheduleCosine}
	full, _ := model.New(784, 10, 0.01, 1)
	whole := &Trainer{Config: cfg}
	if _, err := whole.FitOn(context.Background(), full, tr, te, cpuExec); err != nil {
		t.Fatal(err)
	}
	half, _ := model.New(784, 10, 0.01, 1)
	ctx, cancel := context.WithCancel(context.Background())
	first := &Trainer{Config: cfg, Rollback: true}
	first.OnBatch = func(p Progress) {
		if p.Epoch == 3 && p.Batch == 2 {
			cancel()
		}
	}
	if hist, err := first.FitOn(ctx, half, tr, te, cpuExec); !errors.Is(err, ErrInterrupted) || len(hist) != 2 {
		t.Fatalf("interrupted run: %d epochs, %v", len(hist), err)
	}
	if first.Opt.VW == nil || slices.Equal(first.Opt.VW, make([]float32, len(first.Opt.VW))) {
		t.Fatal("no velocities came back from the device")
	}
	second := &Trainer{Config: cfg, Start: 2, Opt: &Optimizer{WeightDecay: cfg.WeightDecay, Momentum: cfg.Momentum, Nesterov: true,
		VW: slices.Clone(first.Opt.VW), VB: slices.Clone(first.Opt.VB)}}
	if _, err := second.FitOn(context.Background(), half, tr, te, cpuExec); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(full.W, half.W) || !slices.Equal(full.B, half.B) || !slices.Equal(whole.Opt.VW, second.Opt.VW) {
		t.Errorf("2 epochs + resume 2 on the device differs from 4 epochs (max |ΔW| %.3g)", maxDiff(full.W, half.W))
	}
}

// TestFitOnUnfused checks that FitOn honours Unfused: the programs it
// compiles hold the primitives' steps, no fused cross-entropy, and train
// the same model as the fused programs within float32 tolerance.
func TestFitOnUnfused(t *testing.T) {
	tr, te := separable(300, 7), separable(100, 8)
	cfg := Config{Epochs: 2, LR: 0.1, BatchSize: 32, Seed: 5}
	var models [2]*model.Model
	for i, unfused := range []bool{false, true} {
		models[i], _ = model.New(784, 10, 0.01, 5)
		var kinds []program.StepKind
		newExec := func(p *program.Program) (program.Executor, error) {
			for _, s := range p.Steps {
				kinds = append(kinds, s.Kind)
			}
			return cpuExec(p)
		}
		if _, err := (&Trainer{Config: cfg, Unfused: unfused}).FitOn(context.Background(), models[i], tr, te, newExec); err != nil {
			t.Fatal(err)
		}
		if fused := slices.Contains(kinds, program.StepSoftmaxXent); fused == unfused {
			t.Errorf("Unfused %v: the programs have a fused cross-entropy step: %v", unfused, fused)
		}
	}
	if d := max(maxDiff(models[0].W, models[1].W), maxDiff(models[0].B, models[1].B)); d > 1e-5 {
		t.Errorf("fused and unfused device programs differ by %.3g", d)
	}
}
