//go:build !softmaxctl_cuda

package device

import "errors"

// CUDASupport reports whether this binary was built with CUDA support.
const CUDASupport = false

// cudaUsable says why CUDA cannot be used: this build has no CUDA code.
func cudaUsable() error {
	return errors.New("this softmaxctl was built without CUDA support: build one with `make build-cuda` on a machine with the CUDA toolkit, or use --device cpu")
}

// cudaInfo is the CPU build's answer to Info.
func cudaInfo() string { return "without CUDA" }

// warm has nothing to prepare in this build.
func warm() {}

// cudaInUse is empty: this build never picks a GPU.
func cudaInUse() string { return "" }

// newCUDAExecutor fails: this build has no CUDA code.
func newCUDAExecutor(*Program) (Executor, error) { return nil, cudaUsable() }
