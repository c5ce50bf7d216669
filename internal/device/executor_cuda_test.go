//go:build softmaxctl_cuda

package device

import (
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/cu"
)

// The tests of this file that compare the CUDA executor with the CPU
// executor (which the untagged tests tie to Gorgonia's tape machine) need a
// GPU; the others run everywhere the binary starts, and some only where no
// GPU is usable. SOFTMAXCTL_TEST_CUDA says what the machine must have, so
// that a missing GPU (or a GPU where CI expects none) fails instead of
// skipping: "gpu" (scripts/gpu-check.sh) or "none" (make check-cuda, with
// the no-GPU stub driver). Unset, tests skip what the machine cannot run.

func expectCUDA(t testing.TB) string {
	t.Helper()
	switch v := os.Getenv("SOFTMAXCTL_TEST_CUDA"); v {
	case "", "gpu", "none":
		return v
	default:
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=%q: want gpu, none or unset", v)
		return ""
	}
}

// needGPU skips t, or fails it under SOFTMAXCTL_TEST_CUDA=gpu, when no GPU
// is usable.
func needGPU(t testing.TB) {
	t.Helper()
	err := cudaUsable()
	if err == nil {
		return
	}
	if expectCUDA(t) == "gpu" {
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=gpu, but %v", err)
	}
	t.Skipf("needs a GPU: %v", err)
}

// needNoGPU skips t, or fails it under SOFTMAXCTL_TEST_CUDA=none, when a
// GPU is usable; it returns why none is.
func needNoGPU(t testing.TB) error {
	t.Helper()
	err := cudaUsable()
	if err != nil {
		if expectCUDA(t) == "gpu" {
			t.Fatalf("SOFTMAXCTL_TEST_CUDA=gpu, but %v", err)
		}
		return err
	}
	if expectCUDA(t) == "none" {
		g, _ := openGPU()
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=none, but GPU 0 (%s) answers", g.name)
	}
	t.Skip("a GPU is usable: the no-GPU behaviour cannot be seen here")
	return nil
}

func openCUDAExecutor(tb testing.TB, p *Program) *CUDAExecutor {
	tb.Helper()
	needGPU(tb)
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

// TestCUDAInitWrapped checks that gorgonia.org/cu's package init reached
// the driver through __wrap_cuInit: that this test runs at all shows that
// a failed cuInit no longer ends the process before main.
func TestCUDAInitWrapped(t *testing.T) {
	err := driverInitErr()
	if err != nil && strings.Contains(err.Error(), "never initialised") {
		t.Fatal(err)
	}
	t.Logf("cuInit at start-up: %v", err)
}

// TestCUDAWithoutGPU checks the CUDA build where the driver library loads
// but no GPU is usable (make check-cuda runs it against the stub driver):
// Auto falls back to the CPU with a notice in the driver's words, CUDA
// fails in one line, executors fail without panicking, Info says why.
func TestCUDAWithoutGPU(t *testing.T) {
	why := needNoGPU(t)
	if expectCUDA(t) == "none" && !strings.Contains(why.Error(), "CUDA_ERROR_") {
		t.Errorf("why = %q, want the driver's words and error name", why)
	}
	if k, err := Select(Auto); err != nil || k != CPU {
		t.Errorf("Select(auto) = %v, %v; want cpu", k, err)
	}
	k, notice, err := Resolve(Auto)
	if err != nil || k != CPU || !strings.Contains(notice, why.Error()) || strings.Contains(notice, "\n") {
		t.Errorf("Resolve(auto) = %v, %q, %v; want cpu and one line that says %q", k, notice, err, why)
	}
	if k, notice, err := Resolve(CPU); err != nil || k != CPU || notice != "" {
		t.Errorf("Resolve(cpu) = %v, %q, %v; want cpu without a notice", k, notice, err)
	}
	_, err = Select(CUDA)
	if err == nil || !strings.Contains(err.Error(), why.Error()) || !strings.Contains(err.Error(), "--device cpu") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Select(cuda) error = %v, want one line with %q and the advice", err, why)
	}
	_, gr := newGraph(t, 16, true, 1)
	p, _ := compileGraph(t, gr, CompileOptions{})
	if _, err := NewExecutor(CUDA, p); err == nil || !strings.Contains(err.Error(), why.Error()) {
		t.Errorf("NewExecutor(cuda) error = %v, want %q", err, why)
	}
	if info := Info(); !strings.HasPrefix(info, "with CUDA ") || !strings.Contains(info, "no usable GPU: "+why.Error()) {
		t.Errorf("Info() = %q", info)
	}
	t.Logf("notice: %s", notice)
	t.Logf("Select(cuda): %v", err)
	t.Logf("version: %s", Info())
}

func TestSelectWithCUDA(t *testing.T) {
	needGPU(t)
	if k, err := Select(Auto); err != nil || k != CUDA {
		t.Errorf("Select(auto) = %v, %v; want cuda", k, err)
	}
	if k, notice, err := Resolve(Auto); err != nil || k != CUDA || notice != "" {
		t.Errorf("Resolve(auto) = %v, %q, %v; want cuda without a notice", k, notice, err)
	}
	if k, err := Select(CUDA); err != nil || k != CUDA {
		t.Errorf("Select(cuda) = %v, %v; want cuda", k, err)
	}
	info := Info()
	if !strings.Contains(info, "GPU 0: ") || !strings.Contains(info, "compute capability ") {
		t.Errorf("Info() = %q, want GPU 0's name and compute capability", info)
	}
	t.Logf("version: %s", info)
}

// TestCUDAKernelsCompile compiles the kernels for the GPU, as the first
// executor does, and checks the target: the GPU's own sm_XY (a CUBIN) when
// NVRTC knows it.
func TestCUDAKernelsCompile(t *testing.T) {
	needGPU(t)
	g, _ := openGPU()
	image, arch, err := g.kernelImage()
	if err != nil {
		t.Fatal(err)
	}
	archs, err := nvrtcArchs()
	if err != nil {
		t.Fatal(err)
	}
	want, err := chooseKernelTarget(g.major, g.minor, archs)
	if err != nil || arch != want.Arch || len(image) == 0 {
		t.Fatalf("kernels for %s (%d bytes), want %s (%v)", arch, len(image), want.Arch, err)
	}
	if want.CUBIN && string(image[:4]) != "\x7fELF" {
		t.Errorf("CUBIN for %s does not start like an ELF file: %q", arch, image[:4])
	}
	if !want.CUBIN && image[len(image)-1] == 0 {
		t.Error("PTX ends in a NUL")
	}
	maj, min, _ := nvrtcVersion()
	t.Logf("GPU 0 %s, compute capability %d.%d; NVRTC %d.%d compiled %d bytes for %s", g.name, g.major, g.minor, maj, min, len(image), arch)
}

// TestCUDAOneContext checks that executors share the primary context.
func TestCUDAOneContext(t *testing.T) {
	_, gr := newGraph(t, 16, true, 1)
	p, _ := compileGraph(t, gr, CompileOptions{})
	a, b := openCUDAExecutor(t, p), openCUDAExecutor(t, p)
	if a.gpu != b.gpu || a.gpu.ctx != b.gpu.ctx {
		t.Error("two executors hold different contexts")
	}
	done, err := a.enter()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	cur, err := cu.CurrentContext()
	if err != nil || cur != a.gpu.ctx {
		t.Errorf("current context %v (%v), want the primary context %v", cur, err, a.gpu.ctx)
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
			gpu := openCUDAExecutor(t, p)
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
	gpu := openCUDAExecutor(t, p)
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
	benchmarkTrainStep(b, func(tb testing.TB, p *Program) Executor { return openCUDAExecutor(tb, p) })
}

func TestCUDAKernelModuleVersion(t *testing.T) {
	for in, want := range map[string]string{
		"NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.261.03  Tue Jun 17 2025\nGCC version: gcc 12":                "535.261.03",
		"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (dvs-builder@U16-I3-B03-4-3)": "580.65.06",
		"": "",
	} {
		if got := parseKernelModuleVersion(in); got != want {
			t.Errorf("parseKernelModuleVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
