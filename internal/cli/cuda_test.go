//go:build softmaxctl_cuda

package cli

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// These tests check the CUDA build where the driver library loads but no
// GPU is usable: make check-cuda runs them against a stub driver whose
// cuInit returns CUDA_ERROR_NO_DEVICE, with SOFTMAXCTL_TEST_CUDA=none, under
// which a usable GPU fails them instead of skipping them.

// needNoGPU skips t where a GPU is usable (failing it under
// SOFTMAXCTL_TEST_CUDA=none). It returns the notice train --device auto
// prints and the reason in it, the driver's words.
func needNoGPU(t *testing.T) (notice, why string) {
	t.Helper()
	kind, notice, err := device.NewHost(os.Getenv).Resolve(device.Auto)
	if err != nil {
		t.Fatal(err)
	}
	if kind == device.CPU {
		if !strings.HasPrefix(notice, "GPU not used: ") || !strings.HasSuffix(notice, "; using the CPU") {
			t.Fatalf("notice %q", notice)
		}
		return notice, strings.TrimSuffix(strings.TrimPrefix(notice, "GPU not used: "), "; using the CPU")
	}
	if os.Getenv("SOFTMAXCTL_TEST_CUDA") == "none" {
		t.Fatalf("SOFTMAXCTL_TEST_CUDA=none, but a GPU is usable: %s", device.NewHost(os.Getenv).Info())
	}
	testenv.SkipByDesign(t, "a GPU is usable: the no-GPU behaviour cannot be seen here")
	return "", ""
}

// gpuLines counts the lines of stderr that speak of the GPU: the notice,
// or the driver's reason.
func gpuLines(stderr, why string) int {
	n := 0
	for _, l := range lines(stderr) {
		if strings.Contains(l, "GPU not used") || strings.Contains(l, why) {
			n++
		}
	}
	return n
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestCUDAFallbackWithoutGPU runs the commands in process, as the CPU
// build's tests do.
func TestCUDAFallbackWithoutGPU(t *testing.T) {
	notice, why := needNoGPU(t)
	dir := synthData(t, 300, 100)
	out := filepath.Join(t.TempDir(), "m.safetensors")

	r := execute(t, "version")
	if r.code != 0 || !strings.Contains(r.stdout, "with CUDA ") || !strings.Contains(r.stdout, "no usable GPU: "+why) {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}

	r = execute(t, "train", "--data", dir, "--no-download", "--epochs", "1", "--out", out, "--device", "auto")
	errLines := lines(r.err)
	if r.code != 0 || len(errLines) < 2 || errLines[0] != notice || !strings.HasSuffix(errLines[1], "device cpu") {
		t.Fatalf("train --device auto: exit %d, stderr %q; want the notice, then training on the CPU", r.code, r.err)
	}
	if n := gpuLines(r.err, why); n != 1 {
		t.Errorf("train --device auto: %d lines speak of the GPU, want 1: %q", n, r.err)
	}

	r = execute(t, "train", "--data", dir, "--no-download", "--epochs", "1", "--out", out, "--device", "cpu")
	if r.code != 0 || gpuLines(r.err, why) != 0 {
		t.Errorf("train --device cpu: exit %d, stderr %q; want no word of the GPU", r.code, r.err)
	}

	r = execute(t, "train", "--data", dir, "--no-download", "--epochs", "1", "--out", out, "--device", "cuda")
	errLines = lines(r.err)
	if r.code != 1 || len(errLines) != 1 || !strings.HasPrefix(errLines[0], "softmaxctl: --device cuda: ") || !strings.Contains(errLines[0], why) {
		t.Errorf("train --device cuda: exit %d, stderr %q; want 1 and one line with %q", r.code, r.err, why)
	}
}

// TestCUDABinaryWithoutGPU runs the built softmaxctl-cuda, named by
// SOFTMAXCTL_CUDA_BIN, as a user would: it must start (gorgonia.org/cu's
// init must not end it), and behave as the CPU build does.
func TestCUDABinaryWithoutGPU(t *testing.T) {
	notice, why := needNoGPU(t)
	bin := os.Getenv("SOFTMAXCTL_CUDA_BIN")
	if bin == "" {
		if os.Getenv("SOFTMAXCTL_TEST_CUDA") == "none" {
			t.Fatal("SOFTMAXCTL_TEST_CUDA=none needs SOFTMAXCTL_CUDA_BIN, the softmaxctl-cuda to run (make check-cuda sets both)")
		}
		testenv.Skip(t, "SOFTMAXCTL_CUDA_BIN does not name a softmaxctl-cuda binary")
	}
	dir := synthData(t, 300, 100)
	tmp := t.TempDir()
	model := filepath.Join(tmp, "m.safetensors")
	img := filepath.Join(tmp, "shirt.png")
	writeTestPNG(t, img)

	run := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.Env = append(os.Environ(), "SOFTMAXCTL_DATA="+tmp)
		err := cmd.Run()
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("run %s: %v", bin, err)
			}
			code = ee.ExitCode()
		}
		t.Logf("$ softmaxctl-cuda %s  → exit %d\n%s", strings.Join(args, " "), code, errOut.String())
		return result{code, out.String(), errOut.String()}
	}

	if r := run("--help"); r.code != 0 || !strings.Contains(r.stdout, "Usage:") || r.err != "" {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.err)
	}
	if r := run("version"); r.code != 0 || !strings.Contains(r.stdout, "with CUDA ") || !strings.Contains(r.stdout, "no usable GPU: "+why) {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	} else {
		t.Logf("version: %s", strings.TrimSpace(r.stdout))
	}
	train := []string{"train", "--data", dir, "--no-download", "--epochs", "2", "--out", model, "--json"}
	if r := run(append(train, "--device", "cpu")...); r.code != 0 || gpuLines(r.err, why) != 0 || lastJSON(t, r.stdout)["device"] != "cpu" {
		t.Errorf("train --device cpu: exit %d, stderr %q", r.code, r.err)
	}
	r := run(append(train, "--device", "auto")...)
	errLines := lines(r.err)
	if r.code != 0 || len(errLines) < 1 || errLines[0] != notice || gpuLines(r.err, why) != 1 || lastJSON(t, r.stdout)["device"] != "cpu" {
		t.Errorf("train --device auto: exit %d, stderr %q; want one line on the GPU, then training on the CPU", r.code, r.err)
	}
	r = run(append(train, "--device", "cuda")...)
	if errLines := lines(r.err); r.code != 1 || len(errLines) != 1 || !strings.HasPrefix(errLines[0], "softmaxctl: --device cuda: "+why) || r.stdout != "" {
		t.Errorf("train --device cuda: exit %d, stdout %q, stderr %q; want 1 and one line", r.code, r.stdout, r.err)
	}
	if r := run("eval", "--model", model, "--data", dir, "--no-download"); r.code != 0 || !strings.Contains(r.stdout, "accuracy") {
		t.Errorf("eval: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.err)
	}
	if r := run("predict", "--model", model, img); r.code != 0 || !strings.Contains(r.stdout, "shirt.png") {
		t.Errorf("predict: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.err)
	}
}

// TestCUDATrainOnGPU trains on the GPU through the command, where one is
// usable: --device auto picks it with a line naming the GPU and the
// libraries, and the model learns, with the fused program and with
// --no-fuse's primitives.
// SOFTMAXCTL_TEST_CUDA=gpu (scripts/gpu-check.sh) makes a missing GPU fail
// the test.
func TestCUDATrainOnGPU(t *testing.T) {
	if _, err := device.NewHost(os.Getenv).Select(device.CUDA); err != nil {
		if os.Getenv("SOFTMAXCTL_TEST_CUDA") == "gpu" {
			t.Fatalf("SOFTMAXCTL_TEST_CUDA=gpu, but %v", err)
		}
		testenv.SkipByDesign(t, fmt.Sprintf("needs a GPU: %v", err))
	}
	dir := synthData(t, 1000, 300)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	r := execute(t, "version")
	if r.code != 0 || !strings.Contains(r.stdout, "; GPU 0: ") {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
	t.Logf("%s", strings.TrimSpace(r.stdout))
	for _, extra := range [][]string{nil, {"--no-fuse"}} {
		args := append([]string{"train", "--data", dir, "--no-download", "--epochs", "3", "--batch-size", "64", "--lr", "0.5", "--out", out, "--json"}, extra...)
		r = execute(t, args...)
		if r.code != 0 || strings.Contains(r.err, "GPU not used") || !strings.Contains(r.err, "using GPU 0: ") || !strings.Contains(r.err, "cuBLAS") {
			t.Fatalf("train %v: exit %d, stderr %q; want a line naming the GPU and cuBLAS", extra, r.code, r.err)
		}
		s := lastJSON(t, r.stdout)
		if s["device"] != "cuda" {
			t.Errorf("train %v: --device auto trained on %v, want cuda", extra, s["device"])
		}
		if acc, _ := s["val_acc"].(float64); acc < 0.9 {
			t.Errorf("train %v: val_acc %v after 3 epochs on separable data, want ≥ 0.9", extra, acc)
		}
		t.Logf("train %v: %s", extra, strings.TrimSpace(r.err))
	}
}

// writeTestPNG writes a 28×28 gray image: a light square on black.
func writeTestPNG(t *testing.T, path string) {
	t.Helper()
	im := image.NewGray(image.Rect(0, 0, 28, 28))
	for y := 6; y < 22; y++ {
		for x := 8; x < 20; x++ {
			im.SetGray(x, y, color.Gray{Y: 200})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, im); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
