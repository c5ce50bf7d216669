//go:build softmaxctl_cuda

package device

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// These tests need a GPU: they compare the CUDA executor with the CPU
// executor, which the untagged tests tie to Gorgonia's tape machine.

func newCUDAExecutor(tb testing.TB, p *Program) *CUDAExecutor {
	tb.Helper()
	e, err := NewCUDAExecutor(p)
	if err != nil {
		tb.Fatalf("NewCUDAExecutor: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return e
}

func TestSelectWithCUDA(t *testing.T) {
	if k, err := Select(Auto); err != nil || k != CUDA {
		t.Errorf("Select(auto) = %v, %v; want cuda", k, err)
	}
	if k, err := Select(CUDA); err != nil || k != CUDA {
		t.Errorf("Select(cuda) = %v, %v; want cuda", k, err)
	}
}

// TestCUDAExecutorMatchesCPU runs one training step on both executors and
// compares every result. cuBLAS sums in its own order, so GEMM results
// differ in the last bits; everything else is the same float32 arithmetic.
func TestCUDAExecutorMatchesCPU(t *testing.T) {
	tests := []struct {
		name   string
		rows   int     // dataset rows gathered; the rest of the 256 are padding
		bias   float32 // ±bias on the first two classes: huge logits
		floats bool    // SetBatch instead of GatherBatch
	}{
		{name: "gathered full batch", rows: 256},
		{name: "gathered padded batch", rows: 37},
		{name: "floats, huge logits", rows: 200, bias: 1e4, floats: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, gr := newGraph(t, 256, true, int64(i+1))
			if tt.bias != 0 {
				m.B[0], m.B[1] = tt.bias, -tt.bias
			}
			p, cpu := compileGraph(t, gr, CompileOptions{})
			gpu := newCUDAExecutor(t, p)
			if err := gpu.SetParams(m.W, m.B); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			pix, labels := randomDataset(rng, 1000)
			idx := rng.Perm(1000)[:tt.rows]
			x, y := randomBatch(rng, 256, tt.rows)
			for _, e := range []Executor{cpu, gpu} {
				var err error
				if tt.floats {
					err = e.SetBatch(x, y)
				} else if err = e.LoadDataset(pix, labels); err == nil {
					err = e.GatherBatch(idx)
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := e.Run(); err != nil {
					t.Fatal(err)
				}
			}
			cl, _ := cpu.Loss()
			gl, err := gpu.Loss()
			if err != nil {
				t.Fatal(err)
			}
			if !closeTo(float64(gl), float64(cl), 1e-6, 1e-5) {
				t.Errorf("loss = %v, CPU %v", gl, cl)
			}
			var res [2][4][]float32
			for k, e := range []Executor{cpu, gpu} {
				logits := make([]float32, 256*testClasses)
				dW, dB := make([]float32, testIn*testClasses), make([]float32, testClasses)
				if err := e.Logits(logits); err != nil {
					t.Fatal(err)
				}
				if err := e.Grads(dW, dB); err != nil {
					t.Fatal(err)
				}
				if err := e.SGD(0.1); err != nil {
					t.Fatal(err)
				}
				w, b := make([]float32, testIn*testClasses), make([]float32, testClasses)
				if err := e.Params(w, b); err != nil {
					t.Fatal(err)
				}
				res[k] = [4][]float32{logits, dW, dB, slices.Concat(w, b)}
			}
			for j, name := range []string{"logits", "dW", "db", "params after SGD"} {
				worst := compareSlices(t, name, res[1][j], res[0][j], 1e-5, 1e-4)
				t.Logf("%s: max |Δ| %.3g", name, worst)
			}
		})
	}
}

// TestCUDATrainingMatchesCPU trains 300 steps from dataset bytes on both
// executors from the same parameters and compares the parameters.
func TestCUDATrainingMatchesCPU(t *testing.T) {
	const batch, steps, n, lr = 256, 300, 5000, 0.1
	rng := rand.New(rand.NewPCG(3, 4))
	pix, labels := randomDataset(rng, n)
	m, gr := newGraph(t, batch, true, 42)
	p, cpu := compileGraph(t, gr, CompileOptions{})
	gpu := newCUDAExecutor(t, p)
	if err := gpu.SetParams(m.W, m.B); err != nil {
		t.Fatal(err)
	}
	order := rng.Perm(n)
	var losses [2]float32
	for k, e := range []Executor{cpu, gpu} {
		if err := e.LoadDataset(pix, labels); err != nil {
			t.Fatal(err)
		}
		for step := range steps {
			start := (step * batch) % n
			if err := e.GatherBatch(order[start:min(start+batch, n)]); err != nil {
				t.Fatal(err)
			}
			if err := e.Run(); err != nil {
				t.Fatal(err)
			}
			if err := e.SGD(lr); err != nil {
				t.Fatal(err)
			}
		}
		losses[k], _ = e.Loss()
	}
	var params [2][]float32
	for k, e := range []Executor{cpu, gpu} {
		w, b := make([]float32, testIn*testClasses), make([]float32, testClasses)
		if err := e.Params(w, b); err != nil {
			t.Fatal(err)
		}
		params[k] = slices.Concat(w, b)
	}
	worst := compareSlices(t, "params", params[1], params[0], 1e-5, 1e-3)
	t.Logf("after %d steps: loss CPU %v, GPU %v; max |Δparam| %.3g", steps, losses[0], losses[1], worst)
}

// BenchmarkCUDATrainStep times GatherBatch, Run and SGD at batch 256, with
// a Loss read each step as a training loop does (it waits for the GPU).
func BenchmarkCUDATrainStep(b *testing.B) {
	benchmarkTrainStep(b, func(tb testing.TB, p *Program) Executor { return newCUDAExecutor(tb, p) })
}
