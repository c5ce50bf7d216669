// Package cuda runs device programs on an NVIDIA GPU: the executor, the
// kernels (kernels/kernels.cu, compiled by NVRTC at run time), cuBLAS and
// NVRTC opened at run time, and the launch plan that maps a program's
// steps to kernel launches and GEMMs. All its cgo is behind the build tag
// softmaxctl_cuda (make build-cuda); without it, the package says that
// this build has no CUDA support. The launch plan and the target choice
// are plain Go, built and tested in every build.
package cuda

import (
	"fmt"

	"github.com/softmaxctl/softmaxctl/internal/device/program"
)

// This file turns a program.Program into the kernel launches and cuBLAS calls that
// run it on a GPU. It is plain Go so that the plan is built and tested in
// every build: the CUDA executor follows it, and a test runs it against the
// kernels compiled for the host (kernels_test.go).

// blockSize is the number of threads per block of the element-wise
// launches.
const blockSize = 256

// The softmax cross-entropy kernels reduce across a block of xentThreads
// threads (XENT_THREADS in kernels.cu); the loss runs as one block, its
// derivative as at most xentGradBlocks, each thread a row.
const (
	xentThreads    = 256
	xentGradBlocks = 64
)

// The kernels of kernels/kernels.cu. Each takes only 8-byte arguments
// (pointers and long long), because gorgonia.org/cu's Function.Launch copies
// 8 bytes per argument.
const (
	kernelGatherPixels = "gather_pixels"
	kernelGatherLabels = "gather_labels"
	kernelUnary        = "unary_f32"
	kernelBinary       = "binary_f32"
	kernelRepeat       = "repeat_f32"
	kernelReduce       = "reduce_f32"
	kernelSGD          = "sgd_f32"
	// The steps of the fused ops of model.Fuse.
	kernelBiasAdd = "bias_add_f32"
	// The optimiser's and the input options' steps.
	kernelUpdate      = "update_f32"
	kernelStandardize = "standardize_f32"
	kernelSmooth      = "smooth_labels"
	kernelXent        = "softmax_xent_f32"
	kernelXentGrad    = "softmax_xent_grad_f32"
)

// kernelNames lists the kernels a plan may launch.
var kernelNames = []string{kernelGatherPixels, kernelGatherLabels, kernelUnary, kernelBinary, kernelRepeat, kernelReduce, kernelSGD,
	kernelUpdate, kernelStandardize, kernelSmooth,
	kernelBiasAdd, kernelXent, kernelXentGrad}

// A launch is one kernel launch, or the cuBLAS program.GEMM of a program.StepGEMM when
// kernel is empty.
type launch struct {
	step        int
	phase       program.Phase
	kernel      string
	grid, block int
	args        []launchArg
	gemm        program.ColumnMajorGEMM
}

// A launchArg is a buffer's device address or, with buf program.NoBuffer, an integer.
type launchArg struct {
	buf program.BufferID
	val int64
}

func bufArg(id program.BufferID) launchArg { return launchArg{buf: id} }
func intArg(v int) launchArg               { return launchArg{buf: program.NoBuffer, val: int64(v)} }

// planLaunches returns the launches of p's steps, in order.
func planLaunches(p *program.Program) ([]launch, error) {
	ls := make([]launch, 0, len(p.Steps))
	for i := range p.Steps {
		s := &p.Steps[i]
		l := launch{step: i, phase: s.Phase, block: blockSize}
		var n int
		b := func(j int) launchArg { return bufArg(s.In[j]) }
		flag := func(v bool) launchArg {
			if v {
				return intArg(1)
			}
			return intArg(0)
		}
		switch s.Kind {
		case program.StepGather:
			n = s.Outer * s.Len
			l.kernel = kernelGatherPixels
			if s.OneHot {
				l.kernel = kernelGatherLabels
			}
			l.args = []launchArg{intArg(n), intArg(s.Len), bufArg(s.Out), b(0), b(1)}
		case program.StepGEMM:
			l.block, l.gemm = 0, s.ColumnMajor()
			ls = append(ls, l)
			continue
		case program.StepUnary:
			n = s.N
			l.kernel = kernelUnary
			l.args = []launchArg{intArg(int(s.Fn)), intArg(n), bufArg(s.Out), b(0)}
		case program.StepBinary, program.StepCompare:
			n = s.N
			l.kernel = kernelBinary
			l.args = []launchArg{intArg(int(s.Fn)), intArg(n), bufArg(s.Out), b(0), flag(s.Scalar[0]), b(1), flag(s.Scalar[1])}
		case program.StepRepeat:
			n = s.Outer * s.Len * s.Reps * s.Inner
			l.kernel = kernelRepeat
			l.args = []launchArg{intArg(n), intArg(s.Len), intArg(s.Reps), intArg(s.Inner), bufArg(s.Out), b(0)}
		case program.StepReduce:
			n = s.Outer * s.Inner
			l.kernel = kernelReduce
			l.args = []launchArg{intArg(int(s.Fn)), intArg(n), intArg(s.Len), intArg(s.Inner), bufArg(s.Out), b(0)}
		case program.StepSGD:
			n = s.N
			l.kernel = kernelSGD
			l.args = []launchArg{intArg(n), bufArg(s.Out), b(0), b(1)}
		case program.StepUpdate, program.StepStandardize, program.StepSmooth:
			n, l.kernel, l.args = optimLaunch(s)
		case program.StepBiasAdd:
			n = s.N
			l.kernel = kernelBiasAdd
			l.args = []launchArg{intArg(n), intArg(s.Len), bufArg(s.Out), b(0), b(1)}
		case program.StepSoftmaxXent:
			// One block: the loss is one sum, reduced across it.
			n, l.grid, l.block = s.Outer, 1, xentThreads
			l.kernel = kernelXent
			l.args = []launchArg{intArg(s.Outer), intArg(s.Len), bufArg(s.Out), b(0), b(1)}
		case program.StepSoftmaxXentGrad:
			// A thread per row, in at most xentGradBlocks blocks.
			n, l.block = s.Outer, xentThreads
			l.grid = min((n+xentThreads-1)/xentThreads, xentGradBlocks)
			l.kernel = kernelXentGrad
			l.args = []launchArg{intArg(s.Outer), intArg(s.Len), bufArg(s.Out), b(0), b(1), b(2)}
		default:
			return nil, fmt.Errorf("step %d: no kernel for kind %s", i, s.Kind)
		}
		if n < 1 {
			return nil, fmt.Errorf("step %d (%s): %d threads", i, s.Kind, n)
		}
		if l.grid == 0 {
			l.grid = (n + blockSize - 1) / blockSize
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// optimLaunch returns the thread count, kernel and arguments of a step
// of this file's kinds, for planLaunches.
func optimLaunch(s *program.Step) (int, string, []launchArg) {
	switch s.Kind {
	case program.StepUpdate:
		return s.N, kernelUpdate, []launchArg{intArg(s.N), intArg(b2int(s.Decay)), intArg(b2int(s.Nesterov)),
			bufArg(s.Out), bufArg(s.In[0]), bufArg(s.In[1]), bufArg(s.In[2])}
	case program.StepStandardize:
		n := s.Outer * s.Len
		return n, kernelStandardize, []launchArg{intArg(n), intArg(s.Len), bufArg(s.Out), bufArg(s.In[0]), bufArg(s.In[1]), bufArg(s.In[2])}
	case program.StepSmooth:
		n := s.Outer * s.Len
		return n, kernelSmooth, []launchArg{intArg(n), intArg(s.Len), bufArg(s.Out), bufArg(s.In[0]), bufArg(s.In[1])}
	}
	return 0, "", nil
}

func b2int(b bool) int {
	if b {
		return 1
	}
	return 0
}
