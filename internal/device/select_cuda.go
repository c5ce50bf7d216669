//go:build softmaxctl_cuda

// The CUDA build of this package uses the tag softmaxctl_cuda, not cuda:
// build tags are global, and with cuda Gorgonia compiles its own CUDA
// machine, which imports gorgonia.org/cu/dnn (cuDNN 7-era calls that
// current cuDNN lacks) and makes the CPU path's tape machine run
// elementwise ops through CUDA.

package device

import (
	"errors"
	"fmt"
	"runtime"

	"gorgonia.org/cu"
)

// CUDASupport reports whether this binary was built with CUDA support.
const CUDASupport = true

// cudaUsable says why CUDA cannot be used, or returns nil when there is a
// GPU and a context can be created on it. (gorgonia.org/cu initialises the
// driver when the program starts and exits if that fails, so a CUDA build
// needs a working driver to start at all.)
func cudaUsable() error {
	n, err := cu.NumDevices()
	if err != nil {
		return fmt.Errorf("CUDA: counting GPUs failed (%w); use --device cpu", err)
	}
	if n < 1 {
		return errors.New("CUDA: no GPU found; use --device cpu")
	}
	// A context is current on the OS thread that made it: keep this
	// goroutine there until it is destroyed.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := cu.GetDevice(0)
	if err != nil {
		return fmt.Errorf("CUDA: GPU 0 (%w); use --device cpu", err)
	}
	ctx, err := dev.MakeContext(cu.SchedAuto)
	if err != nil {
		return fmt.Errorf("CUDA: cannot create a context on GPU 0 (%w); use --device cpu", err)
	}
	if err := ctx.Destroy(); err != nil {
		return fmt.Errorf("CUDA: destroy the test context (%w); use --device cpu", err)
	}
	return nil
}

func newCUDAExecutor(p *Program) (Executor, error) { return NewCUDAExecutor(p) }
