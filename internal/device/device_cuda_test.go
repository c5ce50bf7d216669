//go:build softmaxctl_cuda

package device

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/cuda"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// The selection in a CUDA build. SOFTMAXCTL_TEST_CUDA says what the
// machine must have, so that a missing GPU (or a GPU where CI expects
// none) fails instead of skipping: "gpu" (the GPU bundle) or "none" (make
// check-cuda, with the no-GPU stub driver). Unset, tests skip what the
// machine cannot run.

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

// usable is cuda.Usable, failing or skipping t by what the machine must
// have: want is whether t needs a GPU.
func usable(t *testing.T, want bool) error {
	t.Helper()
	err := cuda.Usable(testHost.cuda)
	switch {
	case want && err != nil && expectCUDA(t) == "gpu":
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=gpu, but %v", err)
	case want && err != nil:
		testenv.SkipByDesign(t, fmt.Sprintf("needs a GPU (SOFTMAXCTL_TEST_CUDA=gpu requires one): %v", err))
	case !want && err == nil && expectCUDA(t) == "none":
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=none, but a GPU answers: %s", cuda.Info(testHost.cuda))
	case !want && err == nil:
		testenv.SkipByDesign(t, "a GPU is usable: the no-GPU behaviour cannot be seen here (SOFTMAXCTL_TEST_CUDA=none requires none)")
	case !want && expectCUDA(t) == "gpu":
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=gpu, but %v", err)
	}
	return err
}

// TestSelectWithoutGPU checks the selection where the driver library
// loads but no GPU is usable: Auto falls back to the CPU with a notice in
// the driver's words, CUDA fails with an UnavailableError on one line.
func TestSelectWithoutGPU(t *testing.T) {
	why := usable(t, false)
	if k, err := testHost.Select(Auto); err != nil || k != CPU {
		t.Errorf("testHost.Select(auto) = %v, %v; want cpu", k, err)
	}
	k, notice, err := testHost.Resolve(Auto)
	if err != nil || k != CPU || !strings.Contains(notice, why.Error()) || strings.Contains(notice, "\n") {
		t.Errorf("testHost.Resolve(auto) = %v, %q, %v; want cpu and one line that says %q", k, notice, err, why)
	}
	if k, notice, err := testHost.Resolve(CPU); err != nil || k != CPU || notice != "" {
		t.Errorf("testHost.Resolve(cpu) = %v, %q, %v; want cpu without a notice", k, notice, err)
	}
	_, err = testHost.Select(CUDA)
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), why.Error()) || strings.Contains(err.Error(), "\n") {
		t.Errorf("testHost.Select(cuda) error = %v, want one line: an UnavailableError with %q", err, why)
	}
	if info := testHost.Info(); !strings.Contains(info, "no usable GPU: "+why.Error()) {
		t.Errorf("testHost.Info() = %q", info)
	}
	t.Logf("notice: %s", notice)
}

// TestSelectWithGPU checks the selection where a GPU answers.
func TestSelectWithGPU(t *testing.T) {
	usable(t, true)
	if k, err := testHost.Select(Auto); err != nil || k != CUDA {
		t.Errorf("testHost.Select(auto) = %v, %v; want cuda", k, err)
	}
	k, notice, err := testHost.Resolve(Auto)
	if err != nil || k != CUDA || !strings.HasPrefix(notice, "using GPU 0: ") || !strings.Contains(notice, "cuBLAS") ||
		!strings.Contains(notice, "NVRTC") || strings.Contains(notice, "\n") {
		t.Errorf("testHost.Resolve(auto) = %v, %q, %v; want cuda with one line naming the GPU, cuBLAS and NVRTC", k, notice, err)
	}
	if k, notice, err := testHost.Resolve(CUDA); err != nil || k != CUDA || notice != "" {
		t.Errorf("testHost.Resolve(cuda) = %v, %q, %v; want cuda without a notice", k, notice, err)
	}
	if info := testHost.Info(); !strings.Contains(info, "GPU 0: ") || !strings.Contains(info, "compute capability ") {
		t.Errorf("testHost.Info() = %q, want GPU 0's name and compute capability", info)
	}
	t.Logf("version: %s", testHost.Info())
}
