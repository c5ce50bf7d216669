// Package device owns the choice of where the model's graph runs: on the
// CPU by Gorgonia's tape machine, or on a CUDA GPU in a binary built with
// the softmaxctl_cuda build tag. Commands parse --device with Parse,
// resolve it with a Host's Select or Resolve, and never look for a GPU
// themselves.
//
// The GPU runs programs: device/program compiles the model's Gorgonia
// graph into one, and device/cuda runs it.
package device

import (
	"errors"
	"fmt"
	"strings"

	"github.com/softmaxctl/softmaxctl/internal/device/cuda"
	"github.com/softmaxctl/softmaxctl/internal/device/program"
)

// Kind is where a graph runs.
type Kind string

// The kinds a user can ask for; Auto resolves to one of the others.
const (
	Auto Kind = "auto"
	CPU  Kind = "cpu"
	CUDA Kind = "cuda"
)

// CUDASupport reports whether this binary was built with CUDA support.
const CUDASupport = cuda.Supported

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

// UnavailableError is Select's answer when CUDA was asked for and cannot
// be had: Reason says why, in the driver's words where it has some.
type UnavailableError struct {
	Reason error
}

func (e *UnavailableError) Error() string { return "CUDA unavailable: " + e.Reason.Error() }

func (e *UnavailableError) Unwrap() error { return e.Reason }

// A Host is what this process can run the graph on. The command line
// makes one with NewHost and the process's environment; the GPU it finds
// (and the CUDA libraries it opens) stay for the life of the process, as
// the driver keeps them.
type Host struct {
	cuda cuda.Config
}

// NewHost returns the Host of a process whose environment getenv reads
// (os.Getenv): CUDA_HOME and CUDA_PATH say where else to look for the
// CUDA libraries.
func NewHost(getenv func(string) string) *Host {
	return &Host{cuda: cuda.Config{LibraryDirs: cuda.LibraryDirs(getenv)}}
}

// Select resolves a requested kind to the one that will run: Auto becomes
// CUDA when this binary has CUDA support and a GPU answers, else CPU; CUDA
// fails with an *UnavailableError when it cannot be had.
func (h *Host) Select(k Kind) (Kind, error) {
	switch k {
	case CPU:
		return CPU, nil
	case CUDA:
		if err := cuda.Usable(h.cuda); err != nil {
			return "", &UnavailableError{Reason: err}
		}
		return CUDA, nil
	case Auto, "":
		if cuda.Usable(h.cuda) == nil {
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
// build has no GPU to explain, and an explicit kind needs no notice).
func (h *Host) Resolve(k Kind) (kind Kind, notice string, err error) {
	kind, err = h.Select(k)
	if err != nil || !CUDASupport || (k != Auto && k != "") {
		return kind, "", err
	}
	if kind == CUDA {
		return kind, cuda.InUse(h.cuda), nil
	}
	return kind, fmt.Sprintf("GPU not used: %v; using the CPU", cuda.Usable(h.cuda)), nil
}

// Prepare starts, in the background, what running on kind needs before
// its first program: for CUDA, opening the GPU, compiling the kernels with
// NVRTC and creating the cuBLAS handle, about a second a process. A command
// calls it as soon as it knows the device, so that this overlaps with
// loading its data; executors made later wait for it and report its
// errors. For CPU it does nothing.
func (h *Host) Prepare(kind Kind) {
	if kind == CUDA {
		go cuda.Warm(h.cuda)
	}
}

// Info says whether this binary has CUDA support and, in a CUDA build,
// which cuBLAS, NVRTC and GPU it found (or why none is usable), for
// `softmaxctl version`: "without CUDA", or "with CUDA 11.8; cuBLAS …".
func (h *Host) Info() string { return cuda.Info(h.cuda) }

// errCPUPrograms: the CPU trains on Gorgonia's tape machine, not programs.
var errCPUPrograms = errors.New("the CPU runs the model on Gorgonia's tape machine, not as a device program")

// NewExecutor returns an executor of p on kind: the GPU's for CUDA.
func (h *Host) NewExecutor(kind Kind, p *program.Program) (program.Executor, error) {
	switch kind {
	case CUDA:
		return cuda.NewExecutor(h.cuda, p)
	case CPU:
		return nil, errCPUPrograms
	}
	return nil, fmt.Errorf("no executor for device %q", kind)
}
