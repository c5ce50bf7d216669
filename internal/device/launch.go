package device

import "fmt"

// This file turns a Program into the kernel launches and cuBLAS calls that
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
	kernelBiasAdd  = "bias_add_f32"
	kernelXent     = "softmax_xent_f32"
	kernelXentGrad = "softmax_xent_grad_f32"
)

// kernelNames lists the kernels a plan may launch.
var kernelNames = []string{kernelGatherPixels, kernelGatherLabels, kernelUnary, kernelBinary, kernelRepeat, kernelReduce, kernelSGD,
	kernelUpdate, kernelStandardize, kernelSmooth,
	kernelBiasAdd, kernelXent, kernelXentGrad}

// A launch is one kernel launch, or the cuBLAS GEMM of a StepGEMM when
// kernel is empty.
type launch struct {
	step        int
	phase       Phase
	kernel      string
	grid, block int
	args        []launchArg
	gemm        ColumnMajorGEMM
}

// A launchArg is a buffer's device address or, with buf NoBuffer, an integer.
type launchArg struct {
	buf BufferID
	val int64
}

func bufArg(id BufferID) launchArg { return launchArg{buf: id} }
func intArg(v int) launchArg       { return launchArg{buf: NoBuffer, val: int64(v)} }

// planLaunches returns the launches of p's steps, in order.
func planLaunches(p *Program) ([]launch, error) {
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
		case StepGather:
			n = s.Outer * s.Len
			l.kernel = kernelGatherPixels
			if s.OneHot {
				l.kernel = kernelGatherLabels
			}
			l.args = []launchArg{intArg(n), intArg(s.Len), bufArg(s.Out), b(0), b(1)}
		case StepGEMM:
			l.block, l.gemm = 0, s.ColumnMajor()
			ls = append(ls, l)
			continue
		case StepUnary:
			n = s.N
			l.kernel = kernelUnary
			l.args = []launchArg{intArg(int(s.Fn)), intArg(n), bufArg(s.Out), b(0)}
		case StepBinary, StepCompare:
			n = s.N
			l.kernel = kernelBinary
			l.args = []launchArg{intArg(int(s.Fn)), intArg(n), bufArg(s.Out), b(0), flag(s.Scalar[0]), b(1), flag(s.Scalar[1])}
		case StepRepeat:
			n = s.Outer * s.Len * s.Reps * s.Inner
			l.kernel = kernelRepeat
			l.args = []launchArg{intArg(n), intArg(s.Len), intArg(s.Reps), intArg(s.Inner), bufArg(s.Out), b(0)}
		case StepReduce:
			n = s.Outer * s.Inner
			l.kernel = kernelReduce
			l.args = []launchArg{intArg(int(s.Fn)), intArg(n), intArg(s.Len), intArg(s.Inner), bufArg(s.Out), b(0)}
		case StepSGD:
			n = s.N
			l.kernel = kernelSGD
			l.args = []launchArg{intArg(n), bufArg(s.Out), b(0), b(1)}
		case StepUpdate, StepStandardize, StepSmooth:
			n, l.kernel, l.args = optimLaunch(s)
		case StepBiasAdd:
			n = s.N
			l.kernel = kernelBiasAdd
			l.args = []launchArg{intArg(n), intArg(s.Len), bufArg(s.Out), b(0), b(1)}
		case StepSoftmaxXent:
			// One block: the loss is one sum, reduced across it.
			n, l.grid, l.block = s.Outer, 1, xentThreads
			l.kernel = kernelXent
			l.args = []launchArg{intArg(s.Outer), intArg(s.Len), bufArg(s.Out), b(0), b(1)}
		case StepSoftmaxXentGrad:
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
