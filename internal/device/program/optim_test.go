package program_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/program"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/device/devicetest"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// TestCompileOptions checks what each option adds to a program: its steps,
// its buffers, and that a program with update steps refuses SGD while one
// without refuses Update.
func TestCompileOptions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mean, std := devicetest.RandomNorm(rng)
	for _, tc := range []struct {
		name   string
		train  bool
		opts   program.CompileOptions
		kinds  map[string]int // counts of the option's step kinds
		listed []string       // in program.Program.String
	}{
		{"chapter", true, program.CompileOptions{}, map[string]int{"sgd": 2}, []string{"sgd"}},
		{"momentum", true, program.CompileOptions{Update: &program.UpdateRule{}}, map[string]int{"update": 2}, []string{"vW", "vb", "hyper", "momentum(dW + decay·W"}},
		{"nesterov", true, program.CompileOptions{Update: &program.UpdateRule{Nesterov: true}}, map[string]int{"update": 2}, []string{"nesterov(db, vb"}},
		{"standardize", true, program.CompileOptions{Mean: mean, Std: std}, map[string]int{"standardize": 1, "sgd": 2}, []string{"mean", "std"}},
		{"standardize eval", false, program.CompileOptions{Mean: mean, Std: std}, map[string]int{"standardize": 1}, []string{"X = (X − mean)/std"}},
		{"smoothing", true, program.CompileOptions{LabelSmoothing: 0.1}, map[string]int{"smooth": 1, "sgd": 2}, []string{"Y = smooth[0]·Y + smooth[1]"}},
		{"all", true, program.CompileOptions{Update: &program.UpdateRule{}, Mean: mean, Std: std, LabelSmoothing: 0.1, NoBufferReuse: true},
			map[string]int{"update": 2, "standardize": 1, "smooth": 1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, gr := devicetest.NewGraph(t, 8, tc.train, 3)
			p, e := devicetest.Compile(t, gr, tc.opts)
			got := devicetest.StepKinds(p)
			for _, k := range []string{"sgd", "update", "standardize", "smooth"} {
				if got[k] != tc.kinds[k] {
					t.Errorf("%d %s steps, want %d", got[k], k, tc.kinds[k])
				}
			}
			// The input steps come first, each option's after its gather.
			for i, s := range p.Steps {
				if (s.Kind == program.StepStandardize || s.Kind == program.StepSmooth) && (i == 0 || p.Steps[i-1].Kind != program.StepGather) {
					t.Errorf("step %d (%s) does not follow a gather", i, s.Kind)
				}
			}
			listing := p.String()
			for _, want := range tc.listed {
				if !strings.Contains(listing, want) {
					t.Errorf("listing lacks %q:\n%s", want, listing)
				}
			}
			if (p.Optim != nil) != (tc.opts.Update != nil) {
				t.Fatalf("Optim %v with Update %v", p.Optim, tc.opts.Update)
			}
			w, b := make([]float32, devicetest.In*devicetest.Classes), make([]float32, devicetest.Classes)
			switch {
			case !tc.train:
				if err := e.Update(0.1, 0, 0.9); !errors.Is(err, program.ErrNoOptim) {
					t.Errorf("Update on a forward-only program: %v", err)
				}
			case p.Optim != nil:
				if err := e.SGD(0.1); !errors.Is(err, program.ErrOptimSGD) {
					t.Errorf("SGD on a program with update steps: %v", err)
				}
				// Velocities round-trip, and start at zero.
				if err := e.Velocity(w, b); err != nil || slices.ContainsFunc(w, func(v float32) bool { return v != 0 }) {
					t.Errorf("initial velocity: %v, nonzero %v", err, w[:3])
				}
				for i := range w {
					w[i] = float32(i)
				}
				if err := e.SetVelocity(w, b); err != nil {
					t.Fatal(err)
				}
				w2, b2 := make([]float32, len(w)), make([]float32, len(b))
				if err := e.Velocity(w2, b2); err != nil || !slices.Equal(w, w2) {
					t.Errorf("velocity did not round-trip: %v", err)
				}
				if err := e.SetVelocity(w[:3], b); err == nil {
					t.Error("SetVelocity took 3 weights")
				}
			default:
				if err := e.Update(0.1, 0, 0.9); !errors.Is(err, program.ErrNoOptim) {
					t.Errorf("Update on a program without update steps: %v", err)
				}
				if err := e.Velocity(w, b); !errors.Is(err, program.ErrNoOptim) {
					t.Errorf("Velocity on a program without update steps: %v", err)
				}
			}
		})
	}
}

// TestCompileOptionsRejects checks the options program.Compile refuses.
func TestCompileOptionsRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		train bool
		opts  program.CompileOptions
		want  string
	}{
		{"short mean", true, program.CompileOptions{Mean: make([]float32, 3), Std: make([]float32, devicetest.In)}, "3 means"},
		{"smoothing without training", false, program.CompileOptions{LabelSmoothing: 0.1}, "forward-only"},
		{"smoothing 1", true, program.CompileOptions{LabelSmoothing: 1}, "not in (0, 1)"},
		{"update without training", false, program.CompileOptions{Update: &program.UpdateRule{}}, "forward-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, gr := devicetest.NewGraph(t, 4, tc.train, 1)
			_, err := program.Compile(gr.Nodes(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestGatherOptionsMatchHost checks the standardisation and smoothing
// steps against the host's: dataset.Set.Gather, model.Standardizer.Apply
// on the labelled rows and (1−ε)·y + ε/K, bit for bit, padding rows zero.
func TestGatherOptionsMatchHost(t *testing.T) {
	const batch, n = 16, 50
	const eps = float32(0.1)
	rng := rand.New(rand.NewPCG(5, 6))
	pix, labels := devicetest.RandomDataset(rng, n)
	set := &dataset.Set{Pix: pix, Labels: labels, N: n, Rows: 28, Cols: 28}
	mean, std := devicetest.RandomNorm(rng)
	norm := &model.Standardizer{Mean: mean, Std: std}
	_, gr := devicetest.NewGraph(t, batch, true, 1)
	p, e := devicetest.Compile(t, gr, program.CompileOptions{Mean: mean, Std: std, LabelSmoothing: eps})
	if err := e.LoadDataset(pix, labels); err != nil {
		t.Fatal(err)
	}
	for _, idx := range [][]int{{0, 49, 7, 7, 3}, rng.Perm(n)[:batch], {}} {
		if err := e.GatherBatch(idx); err != nil {
			t.Fatal(err)
		}
		x, y := make([]float32, batch*devicetest.In), make([]float32, batch*devicetest.Classes)
		set.Gather(idx, x, y)
		norm.Apply(x, len(idx))
		for i := range y[:len(idx)*devicetest.Classes] {
			y[i] = (1-eps)*y[i] + eps/float32(devicetest.Classes)
		}
		if !slices.Equal(e.Buffer(p.X), x) {
			t.Errorf("standardised X of %v differs from the host's", idx)
		}
		if !slices.Equal(e.Buffer(p.Y), y) {
			t.Errorf("smoothed Y of %v differs from the host's", idx)
		}
	}
}
