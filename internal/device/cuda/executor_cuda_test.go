//go:build softmaxctl_cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/devicetest"
	"github.com/softmaxctl/softmaxctl/internal/device/program"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
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
	err := Usable(testConfig)
	if err == nil {
		return
	}
	if expectCUDA(t) == "gpu" {
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=gpu, but %v", err)
	}
	testenv.SkipByDesign(t, fmt.Sprintf("needs a GPU (SOFTMAXCTL_TEST_CUDA=gpu requires one): %v", err))
}

// needNoGPU skips t, or fails it under SOFTMAXCTL_TEST_CUDA=none, when a
// GPU is usable; it returns why none is.
func needNoGPU(t testing.TB) error {
	t.Helper()
	err := Usable(testConfig)
	if err != nil {
		if expectCUDA(t) == "gpu" {
			t.Fatalf("SOFTMAXCTL_TEST_CUDA=gpu, but %v", err)
		}
		return err
	}
	if expectCUDA(t) == "none" {
		g, _ := openGPU(testConfig)
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=none, but GPU 0 (%s) answers", g.name)
	}
	testenv.SkipByDesign(t, "a GPU is usable: the no-GPU behaviour cannot be seen here (SOFTMAXCTL_TEST_CUDA=none requires none)")
	return nil
}

func openCUDAExecutor(tb testing.TB, p *program.Program) *Executor {
	tb.Helper()
	needGPU(tb)
	e, err := Open(testConfig, p)
	if err != nil {
		tb.Fatalf("Open: %v", err)
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

// TestCUDAWithoutGPU checks the package where the driver library loads
// but no GPU is usable (make check-cuda runs it against the stub driver):
// executors fail without panicking, in the driver's words, and Info says
// why. device's tests check the selection on top of it.
func TestCUDAWithoutGPU(t *testing.T) {
	why := needNoGPU(t)
	if expectCUDA(t) == "none" && !strings.Contains(why.Error(), "CUDA_ERROR_") {
		t.Errorf("why = %q, want the driver's words and error name", why)
	}
	_, gr := devicetest.NewGraph(t, 16, true, 1)
	p, _ := devicetest.Compile(t, gr, program.CompileOptions{})
	if _, err := NewExecutor(testConfig, p); err == nil || !strings.Contains(err.Error(), why.Error()) {
		t.Errorf("NewExecutor error = %v, want %q", err, why)
	}
	if info := Info(testConfig); !strings.HasPrefix(info, "with CUDA ") || !strings.Contains(info, "no usable GPU: "+why.Error()) {
		t.Errorf("Info() = %q", info)
	}
	t.Logf("version: %s", Info(testConfig))
}

// TestCUDAKernelsCompile compiles the kernels for the GPU, as the first
// executor does, and checks the target: the GPU's own sm_XY (a CUBIN) when
// NVRTC knows it.
func TestCUDAKernelsCompile(t *testing.T) {
	needGPU(t)
	g, _ := openGPU(testConfig)
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
	_, gr := devicetest.NewGraph(t, 16, true, 1)
	p, _ := devicetest.Compile(t, gr, program.CompileOptions{})
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
// compares every result. cuBLAS sums in its own order, so program.GEMM results
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
			m, gr := devicetest.NewGraph(t, 256, true, int64(i+1))
			if tt.bias != 0 {
				m.B[0], m.B[1] = tt.bias, -tt.bias
			}
			p, cpu := devicetest.Compile(t, gr, program.CompileOptions{})
			gpu := openCUDAExecutor(t, p)
			if err := gpu.SetParams(m.W, m.B); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			pix, labels := devicetest.RandomDataset(rng, 1000)
			idx := rng.Perm(1000)[:tt.rows]
			x, y := devicetest.RandomBatch(rng, 256, tt.rows)
			for _, e := range []program.Executor{cpu, gpu} {
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
			if !devicetest.CloseTo(float64(gl), float64(cl), 1e-6, 1e-5) {
				t.Errorf("loss = %v, CPU %v", gl, cl)
			}
			var res [2][4][]float32
			for k, e := range []program.Executor{cpu, gpu} {
				logits := make([]float32, 256*devicetest.Classes)
				dW, dB := make([]float32, devicetest.In*devicetest.Classes), make([]float32, devicetest.Classes)
				if err := e.Logits(logits); err != nil {
					t.Fatal(err)
				}
				if err := e.Grads(dW, dB); err != nil {
					t.Fatal(err)
				}
				if err := e.SGD(0.1); err != nil {
					t.Fatal(err)
				}
				w, b := make([]float32, devicetest.In*devicetest.Classes), make([]float32, devicetest.Classes)
				if err := e.Params(w, b); err != nil {
					t.Fatal(err)
				}
				res[k] = [4][]float32{logits, dW, dB, slices.Concat(w, b)}
			}
			for j, name := range []string{"logits", "dW", "db", "params after SGD"} {
				worst := devicetest.CompareSlices(t, name, res[1][j], res[0][j], 1e-5, 1e-4)
				t.Logf("%s: max |Δ| %.3g", name, worst)
			}
		})
	}
}

// TestCUDATrainingMatchesCPU trains 300 steps from dataset bytes on both
// executors from the same parameters and compares what the two models
// predict on held-out data. cuBLAS adds each program.GEMM's 784-term dot products
// in its own order (tiles, split-k), so every step's gradients differ from
// the CPU's in the last bits, and SGD carries such differences forward
// rather than damping them: after 300 steps the parameters agree only to
// about 1e-4 with nothing wrong, so an elementwise tolerance would be
// arbitrary. What must agree is the model: accuracy within 0.5 points
// (the bundle's bar for the real data) and the held-out loss within 1 %.
func TestCUDATrainingMatchesCPU(t *testing.T) {
	const batch, steps, n, held, lr = 256, 300, 5000, 2000, 0.1
	rng := rand.New(rand.NewPCG(3, 4))
	pix, labels := devicetest.RandomDataset(rng, n)
	testPix, testLabels := devicetest.RandomDataset(rng, held)
	m, gr := devicetest.NewGraph(t, batch, true, 42)
	p, cpu := devicetest.Compile(t, gr, program.CompileOptions{})
	gpu := openCUDAExecutor(t, p)
	if err := gpu.SetParams(m.W, m.B); err != nil {
		t.Fatal(err)
	}
	order := rng.Perm(n)
	var losses [2]float32
	for k, e := range []program.Executor{cpu, gpu} {
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
	var acc, loss [2]float64
	for k, e := range []program.Executor{cpu, gpu} {
		w, b := make([]float32, devicetest.In*devicetest.Classes), make([]float32, devicetest.Classes)
		if err := e.Params(w, b); err != nil {
			t.Fatal(err)
		}
		params[k] = slices.Concat(w, b)
		acc[k], loss[k] = heldOut(w, b, testPix, testLabels)
	}
	if math.Abs(acc[0]-acc[1]) > 0.005 || math.Abs(loss[0]-loss[1]) > 0.01*loss[0] {
		t.Errorf("held out: CPU accuracy %.4f loss %.5f, GPU %.4f %.5f", acc[0], loss[0], acc[1], loss[1])
	}
	worst := 0.0
	for i := range params[0] {
		worst = max(worst, math.Abs(float64(params[0][i]-params[1][i])))
	}
	t.Logf("after %d steps: last loss CPU %v, GPU %v; held out accuracy %.4f / %.4f, loss %.5f / %.5f; max |Δparam| %.3g",
		steps, losses[0], losses[1], acc[0], acc[1], loss[0], loss[1], worst)
}

// heldOut is the accuracy and mean cross-entropy of the model (w, b) on
// images pix (bytes, scaled by 1/255) with labels, computed on the host in
// float64.
func heldOut(w, b []float32, pix []byte, labels []uint8) (acc, loss float64) {
	logits := make([]float64, devicetest.Classes)
	right := 0
	for i, l := range labels {
		img := pix[i*devicetest.In : (i+1)*devicetest.In]
		for c := range logits {
			logits[c] = float64(b[c])
		}
		for j, v := range img {
			x := float64(v) / 255
			for c := range logits {
				logits[c] += x * float64(w[j*devicetest.Classes+c])
			}
		}
		best, m := 0, logits[0]
		for c, z := range logits {
			if z > m {
				best, m = c, z
			}
		}
		if best == int(l) {
			right++
		}
		var s float64
		for _, z := range logits {
			s += math.Exp(z - m)
		}
		loss += m + math.Log(s) - logits[l]
	}
	return float64(right) / float64(len(labels)), loss / float64(len(labels))
}

// BenchmarkCUDATrainStep times GatherBatch, Run and SGD at batch 256, with
// a Loss read each step as a training loop does (it waits for the GPU).
func BenchmarkCUDATrainStep(b *testing.B) {
	devicetest.BenchmarkTrainStep(b, func(tb testing.TB, p *program.Program) program.Executor { return openCUDAExecutor(tb, p) })
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

// TestKernelNVRTC compiles the kernels with the NVRTC the binary loaded, as
// executors do, for a GPU of each real architecture from sm_70 on that
// NVRTC lists (a CUBIN each), and for a GPU newer than all of them (PTX);
// and checks that a failed compilation returns NVRTC's log without its
// NUL. It needs no GPU: make check-cuda runs it with NVRTC 11.8, with
// SOFTMAXCTL_TEST_NVRTC=1, under which an NVRTC that does not work (the
// stub) fails it instead of skipping it.
func TestKernelNVRTC(t *testing.T) {
	maj, min, err := nvrtcVersion()
	if err != nil {
		if os.Getenv("SOFTMAXCTL_TEST_NVRTC") != "" {
			t.Fatalf("SOFTMAXCTL_TEST_NVRTC is set, but NVRTC does not answer: %v", err)
		}
		testenv.SkipByDesign(t, fmt.Sprintf("no working NVRTC (SOFTMAXCTL_TEST_NVRTC=1 requires one): %v", err))
	}
	archs, err := nvrtcArchs()
	if err != nil || len(archs) == 0 {
		t.Fatalf("NVRTC %d.%d lists architectures %v, %v", maj, min, archs, err)
	}
	t.Logf("NVRTC %d.%d, architectures %v", maj, min, archs)
	for _, a := range archs {
		if a < 70 {
			continue // older than any GPU the README promises
		}
		g := &gpu{major: a / 10, minor: a % 10}
		image, arch, err := g.kernelImage()
		if err != nil {
			t.Errorf("compute capability %d.%d: %v", g.major, g.minor, err)
			continue
		}
		if want := fmt.Sprintf("sm_%d", a); arch != want || len(image) < 4 || string(image[:4]) != "\x7fELF" {
			t.Errorf("compute capability %d.%d: %d bytes for %s, want a CUBIN (ELF) for %s", g.major, g.minor, len(image), arch, want)
		}
	}

	newest := slices.Max(archs)
	g := &gpu{major: newest/10 + 1, minor: 0}
	image, arch, err := g.kernelImage()
	if err != nil {
		t.Fatalf("compute capability %d.0: %v", g.major, err)
	}
	ptx := string(image)
	if arch != fmt.Sprintf("compute_%d", newest) || strings.Contains(ptx, "\x00") || !strings.Contains(ptx, ".target sm_") {
		t.Errorf("compute capability %d.0: %s, %d bytes (NUL inside: %v); want PTX for compute_%d", g.major, arch, len(ptx), strings.Contains(ptx, "\x00"), newest)
	}
	for _, k := range kernelNames {
		if !strings.Contains(ptx, ".entry "+k+"(") {
			t.Errorf("PTX lacks kernel %s", k)
		}
	}

	_, err = nvrtcCompile("broken.cu", `extern "C" __global__ void k(float *x) { x[0] = undeclared_name; }`, kernelTarget{Arch: "compute_" + fmt.Sprint(newest)})
	if err == nil || !strings.Contains(err.Error(), "undeclared_name") || strings.ContainsAny(err.Error(), "\x00\n") {
		t.Errorf("broken source: error %q, want NVRTC's log naming undeclared_name, on one line without NUL", err)
	}
	t.Logf("broken source: %v", err)
}

// testConfig is the configuration the tests open the libraries with, as
// the command line does: CUDA_HOME's and /usr/local/cuda's folders.
var testConfig = Config{LibraryDirs: LibraryDirs(os.Getenv)}
