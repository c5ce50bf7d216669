// Package device owns the choice of where the model's graph runs: on the
// CPU by Gorgonia's tape machine, or on a CUDA GPU in a binary built with
// the softmaxctl_cuda build tag (make build-cuda). Commands parse --device
// with Select and never look for a GPU themselves.
//
// For the GPU, Compile turns the model's Gorgonia graph (forward and the
// gradient nodes G.Grad added) into a Program: an ordered list of steps over
// buffers planned once, each Gorgonia op kind mapped to a GEMM (cuBLAS) or
// to a kernel of kernels/kernels.cu. CPUExecutor runs the same Program in
// pure Go, so the compilation is tested on every machine; CUDAExecutor runs
// it on the GPU.
package device

import (
	"fmt"
	"strings"
)

// Kind is where a graph runs.
type Kind string

// The kinds a user can ask for; Auto resolves to one of the others.
const (
	Auto Kind = "auto"
	CPU  Kind = "cpu"
	CUDA Kind = "cuda"
)

// Names lists the values --device accepts.
func Names() []string { return []string{string(Auto), string(CPU), string(CUDA)} }

// Parse checks a --device value.
func Parse(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case Auto, CPU, CUDA:
		return k, nil
	}
	return "", fmt.Errorf("unknown device %q: use one of %s", s, strings.Join(Names(), ", "))
}

// Select resolves a requested kind to the one that will run: Auto becomes
// CUDA when this binary has CUDA support and a GPU answers, else CPU; CUDA
// fails when it cannot be had, with an error that says how to get it.
func Select(k Kind) (Kind, error) {
	switch k {
	case CPU:
		return CPU, nil
	case CUDA:
		if err := cudaUsable(); err != nil {
			if CUDASupport {
				return "", fmt.Errorf("--device cuda: %w; use --device cpu, or auto to fall back to the CPU", err)
			}
			return "", err
		}
		return CUDA, nil
	case Auto, "":
		if cudaUsable() == nil {
			return CUDA, nil
		}
		return CPU, nil
	}
	return "", fmt.Errorf("unknown device %q: use one of %s", k, strings.Join(Names(), ", "))
}

// Resolve is Select plus a one-line notice for Auto in a binary built
// with CUDA support: when it picks the GPU, which one and the cuBLAS and
// NVRTC it runs with; when it falls back to the CPU, why the GPU is not
// used, in the driver's words. The notice is empty otherwise (a CPU-only
// build has no GPU to explain, and an explicit --device needs no notice).
func Resolve(k Kind) (kind Kind, notice string, err error) {
	kind, err = Select(k)
	if err != nil || !CUDASupport || (k != Auto && k != "") {
		return kind, "", err
	}
	if kind == CUDA {
		return kind, cudaInUse(), nil
	}
	return kind, fmt.Sprintf("GPU not used: %v; using the CPU", cudaUsable()), nil
}

// Prepare starts, in the background, what running on kind needs before
// its first program: for CUDA, opening the GPU, compiling the kernels with
// NVRTC and creating the cuBLAS handle, about a second a process. A command
// calls it as soon as it knows the device, so that this overlaps with
// loading its data; executors made later wait for it and report its
// errors. For CPU it does nothing.
func Prepare(kind Kind) {
	if kind == CUDA {
		go warm()
	}
}

// Info says whether this binary has CUDA support and, in a CUDA build,
// which GPU answers (name, compute capability, driver) or why none is
// usable, for `softmaxctl version`: "without CUDA", or "with CUDA 11.8;
// GPU 0: ...".
func Info() string { return cudaInfo() }

// NewExecutor returns an executor of p for kind: the pure-Go CPUExecutor
// for CPU, the CUDAExecutor for CUDA in a binary built with CUDA support.
func NewExecutor(kind Kind, p *Program) (Executor, error) {
	switch kind {
	case CPU:
		return NewCPUExecutor(p)
	case CUDA:
		return newCUDAExecutor(p)
	}
	return nil, fmt.Errorf("no executor for device %q", kind)
}
