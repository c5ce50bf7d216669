//go:build softmaxctl_cuda

package device

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/cu"
	cublas "gorgonia.org/cu/blas"
	"gorgonia.org/cu/nvrtc"
)

// kernelSource is compiled by NVRTC when an executor starts, so that the
// binary carries no PTX and needs no nvcc to build.
//
//go:embed kernels/kernels.cu
var kernelSource string

// kernelArchs are the virtual architectures NVRTC is asked for, in order:
// compute_70 so that the PTX loads on any sm_70 or newer GPU, and
// compute_75 for NVRTC 13 and later, which no longer target Volta.
var kernelArchs = []string{"compute_70", "compute_75"}

// CUDAExecutor runs a Program on GPU 0: every buffer allocated on the
// device once, the kernels of kernels/kernels.cu compiled with NVRTC, and
// GEMMs through cuBLAS. It follows the launch plan (launch.go) step by step,
// the same steps the CPU executor runs.
//
// The driver's context is current on one OS thread at a time, so every
// method locks its goroutine to its thread and makes the executor's
// context current there first.
type CUDAExecutor struct {
	p      *Program
	ctx    cu.CUContext
	mod    cu.Module
	loaded bool // mod holds a loaded module
	fns    map[string]cu.Function
	blas   *cublas.Standard
	mem    []cu.DevicePtr // by BufferID; 0 for a dataset buffer until LoadDataset
	images int            // images of the loaded dataset

	input, run, update []launch // the launches of GatherBatch, Run and SGD, in program order
	index              []int32  // host copy of the Index buffer
	argVals            []uint64 // a launch's arguments, each 8 bytes
	argPtrs            []unsafe.Pointer
}

var _ Executor = (*CUDAExecutor)(nil)

// NewCUDAExecutor creates a context on GPU 0, compiles the kernels, and
// allocates and initialises the buffers of p: constants uploaded,
// temporaries set to NaN as on the CPU executor.
func NewCUDAExecutor(p *Program) (_ *CUDAExecutor, err error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("cuda executor: invalid program: %w", err)
	}
	plan, err := planLaunches(p)
	if err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := cu.GetDevice(0)
	if err != nil {
		return nil, fmt.Errorf("cuda executor: GPU 0: %w", err)
	}
	ctx, err := dev.MakeContext(cu.SchedAuto)
	if err != nil {
		return nil, fmt.Errorf("cuda executor: create context: %w", err)
	}
	e := &CUDAExecutor{p: p, ctx: ctx, fns: map[string]cu.Function{}, mem: make([]cu.DevicePtr, len(p.Buffers))}
	defer func() {
		if err != nil {
			e.release()
		}
	}()

	ptx, err := compileKernels()
	if err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}
	if e.mod, err = cu.LoadData(ptx); err != nil {
		return nil, fmt.Errorf("cuda executor: load kernels: %w", err)
	}
	e.loaded = true
	for _, name := range kernelNames {
		if e.fns[name], err = e.mod.Function(name); err != nil {
			return nil, fmt.Errorf("cuda executor: kernel %s: %w", name, err)
		}
	}
	if e.blas, err = newBLAS(); err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}

	nan := math.Float32bits(float32(math.NaN()))
	for i, b := range p.Buffers {
		n := b.Len()
		if n == 0 {
			continue // a dataset buffer: LoadDataset allocates it
		}
		if e.mem[i], err = cu.MemAlloc(int64(n * b.Dtype.Size())); err != nil {
			return nil, fmt.Errorf("cuda executor: allocate %s (%d elements): %w", b.Name, n, err)
		}
		switch {
		case b.Role == RoleConst:
			err = cu.MemcpyHtoD(e.mem[i], unsafe.Pointer(&b.Init[0]), int64(4*n))
		case b.Role == RoleTemp:
			err = cu.MemsetD32(e.mem[i], nan, int64(n))
		case b.Dtype.Size() == 4:
			err = cu.MemsetD32(e.mem[i], 0, int64(n))
		}
		if err != nil {
			return nil, fmt.Errorf("cuda executor: initialise %s: %w", b.Name, err)
		}
	}

	maxArgs := 0
	for _, l := range plan {
		switch l.phase {
		case PhaseInput:
			e.input = append(e.input, l)
		case PhaseUpdate:
			e.update = append(e.update, l)
		default:
			// Forward and backward together, in program order: the
			// buffer sharing was planned on that order.
			e.run = append(e.run, l)
		}
		maxArgs = max(maxArgs, len(l.args))
	}
	e.index = make([]int32, p.Batch)
	e.argVals = make([]uint64, maxArgs)
	e.argPtrs = make([]unsafe.Pointer, maxArgs)
	for i := range e.argPtrs {
		e.argPtrs[i] = unsafe.Pointer(&e.argVals[i])
	}
	return e, nil
}

// compileKernels compiles kernelSource to PTX for the first architecture
// NVRTC accepts. FMA contraction is off so that every step computes what
// the CPU semantics compute, rounding each operation.
func compileKernels() (string, error) {
	var errs []error
	for _, arch := range kernelArchs {
		ptx, err := compileKernelsFor(arch)
		if err == nil {
			return ptx, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("compile kernels with NVRTC: %w", errors.Join(errs...))
}

func compileKernelsFor(arch string) (string, error) {
	prog, err := nvrtc.CreateProgram(kernelSource, "kernels.cu")
	if err != nil {
		return "", fmt.Errorf("%s: create program: %w", arch, err)
	}
	defer prog.Destroy()
	if err := prog.Compile("--gpu-architecture="+arch, "--fmad=false"); err != nil {
		log, _ := prog.GetLog()
		return "", fmt.Errorf("%s: %w: %s", arch, err, strings.TrimSpace(log))
	}
	ptx, err := prog.GetPTX()
	if err != nil {
		return "", fmt.Errorf("%s: get PTX: %w", arch, err)
	}
	return ptx, nil
}

// newBLAS creates a cuBLAS handle in the current context; cublas.New
// panics when cublasCreate fails.
func newBLAS() (h *cublas.Standard, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("create cuBLAS handle: %v", r)
		}
	}()
	return cublas.New(), nil
}

// enter locks the calling goroutine to its thread and makes the
// executor's context current there; call the returned function when done.
func (e *CUDAExecutor) enter() (func(), error) {
	runtime.LockOSThread()
	if e.mem == nil {
		runtime.UnlockOSThread()
		return nil, errors.New("cuda executor is closed")
	}
	if err := cu.SetCurrentContext(e.ctx); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda executor: make context current: %w", err)
	}
	return runtime.UnlockOSThread, nil
}

// upload copies n elements of size bytes from src to buffer id.
func (e *CUDAExecutor) upload(id BufferID, src unsafe.Pointer, n int) error {
	b := e.p.Buffers[id]
	if err := cu.MemcpyHtoD(e.mem[id], src, int64(n*b.Dtype.Size())); err != nil {
		return fmt.Errorf("copy %s to the GPU: %w", b.Name, err)
	}
	return nil
}

// download copies buffer id, n elements long, to dst.
func (e *CUDAExecutor) download(dst unsafe.Pointer, id BufferID, n int) error {
	b := e.p.Buffers[id]
	if err := cu.MemcpyDtoH(dst, e.mem[id], int64(n*b.Dtype.Size())); err != nil {
		return fmt.Errorf("copy %s from the GPU: %w", b.Name, err)
	}
	return nil
}

// SetParams copies W and b to the GPU.
func (e *CUDAExecutor) SetParams(w, b []float32) error {
	if err := e.p.checkParams(w, b); err != nil {
		return err
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.upload(e.p.W, unsafe.Pointer(&w[0]), len(w)); err != nil {
		return err
	}
	return e.upload(e.p.B, unsafe.Pointer(&b[0]), len(b))
}

// Params copies W and b from the GPU.
func (e *CUDAExecutor) Params(w, b []float32) error {
	if err := e.p.checkParams(w, b); err != nil {
		return err
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.download(unsafe.Pointer(&w[0]), e.p.W, len(w)); err != nil {
		return err
	}
	return e.download(unsafe.Pointer(&b[0]), e.p.B, len(b))
}

// LoadDataset copies a dataset's pixels and labels to the GPU, replacing
// any loaded before.
func (e *CUDAExecutor) LoadDataset(pix []byte, labels []uint8) error {
	if err := e.p.checkDataset(pix, labels); err != nil {
		return err
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	e.images = 0
	for _, d := range []struct {
		id   BufferID
		data []byte
	}{{e.p.Pixels, pix}, {e.p.Labels, labels}} {
		if e.mem[d.id] != 0 {
			if err := cu.MemFree(e.mem[d.id]); err != nil {
				return fmt.Errorf("free the previous dataset: %w", err)
			}
			e.mem[d.id] = 0
		}
		if e.mem[d.id], err = cu.MemAlloc(int64(len(d.data))); err != nil {
			return fmt.Errorf("allocate %d bytes for the dataset: %w", len(d.data), err)
		}
		if err := e.upload(d.id, unsafe.Pointer(&d.data[0]), len(d.data)); err != nil {
			return err
		}
	}
	e.images = len(labels)
	return nil
}

// GatherBatch copies the batch's indices to the GPU and runs the gather
// kernels, which build X and Y from the dataset there.
func (e *CUDAExecutor) GatherBatch(idx []int) error {
	if err := e.p.indexRows(e.index, idx, e.images); err != nil {
		return fmt.Errorf("gather batch: %w", err)
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.upload(e.p.Index, unsafe.Pointer(&e.index[0]), len(e.index)); err != nil {
		return err
	}
	return e.launchAll(e.input)
}

// SetBatch copies x and y to the GPU.
func (e *CUDAExecutor) SetBatch(x, y []float32) error {
	if err := e.p.checkBatch(x, y); err != nil {
		return err
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.upload(e.p.X, unsafe.Pointer(&x[0]), len(x)); err != nil {
		return err
	}
	return e.upload(e.p.Y, unsafe.Pointer(&y[0]), len(y))
}

// Run launches the forward and backward steps and waits for them, so that
// a fault in a kernel is reported here.
func (e *CUDAExecutor) Run() error {
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.launchAll(e.run); err != nil {
		return err
	}
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("run program: %w", err)
	}
	return nil
}

// Loss copies the loss of the last Run from the GPU.
func (e *CUDAExecutor) Loss() (float32, error) {
	done, err := e.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	var loss float32
	err = e.download(unsafe.Pointer(&loss), e.p.Loss, 1)
	return loss, err
}

// Logits copies the logits of the last Run from the GPU into dst.
func (e *CUDAExecutor) Logits(dst []float32) error {
	if err := e.p.checkLen("logits", dst, e.p.Logits); err != nil {
		return err
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	return e.download(unsafe.Pointer(&dst[0]), e.p.Logits, len(dst))
}

// Grads copies the gradients of the last Run from the GPU.
func (e *CUDAExecutor) Grads(dW, dB []float32) error {
	if !e.p.Train() {
		return errForwardOnly
	}
	if err := e.p.checkParams(dW, dB); err != nil {
		return fmt.Errorf("gradients: %w", err)
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.download(unsafe.Pointer(&dW[0]), e.p.WGrad, len(dW)); err != nil {
		return err
	}
	return e.download(unsafe.Pointer(&dB[0]), e.p.BGrad, len(dB))
}

// SGD copies lr to the GPU and launches the update steps.
func (e *CUDAExecutor) SGD(lr float32) error {
	if !e.p.Train() {
		return errForwardOnly
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.upload(e.p.LR, unsafe.Pointer(&lr), 1); err != nil {
		return err
	}
	return e.launchAll(e.update)
}

// Close frees the GPU memory, the module, the cuBLAS handle and the
// context. The executor cannot be used afterwards.
func (e *CUDAExecutor) Close() error {
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	return e.release()
}

// release frees what e holds, with e's context current.
func (e *CUDAExecutor) release() error {
	var errs []error
	for i, p := range e.mem {
		if p != 0 {
			if err := cu.MemFree(p); err != nil {
				errs = append(errs, fmt.Errorf("free %s: %w", e.p.Buffers[i].Name, err))
			}
		}
	}
	e.mem = nil
	if e.blas != nil {
		if err := e.blas.Close(); err != nil {
			errs = append(errs, fmt.Errorf("destroy cuBLAS handle: %w", err))
		}
		e.blas = nil
	}
	if e.loaded {
		if err := e.mod.Unload(); err != nil {
			errs = append(errs, fmt.Errorf("unload kernels: %w", err))
		}
		e.loaded = false
	}
	if err := e.ctx.Destroy(); err != nil {
		errs = append(errs, fmt.Errorf("destroy context: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda executor: close: %w", err)
	}
	return nil
}

// launchAll runs launches in order on the default stream, which also
// orders them with cuBLAS's calls and with the copies.
func (e *CUDAExecutor) launchAll(ls []launch) error {
	for i := range ls {
		l := &ls[i]
		if err := e.launch(l); err != nil {
			return fmt.Errorf("step %d (%s): %w", l.step, e.p.Steps[l.step].Kind, err)
		}
	}
	return nil
}

func (e *CUDAExecutor) launch(l *launch) error {
	if l.kernel == "" {
		return e.gemm(l.gemm)
	}
	for i, a := range l.args {
		if a.buf != NoBuffer {
			e.argVals[i] = uint64(e.mem[a.buf])
		} else {
			e.argVals[i] = uint64(a.val)
		}
	}
	if err := e.fns[l.kernel].Launch(l.grid, 1, 1, l.block, 1, 1, 0, cu.NoStream, e.argPtrs[:len(l.args)]); err != nil {
		return fmt.Errorf("launch %s: %w", l.kernel, err)
	}
	return nil
}

// gemm makes the column-major cuBLAS call of a GEMM step.
func (e *CUDAExecutor) gemm(g ColumnMajorGEMM) error {
	op := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	e.blas.Sgemm(op(g.TransA), op(g.TransB), g.M, g.N, g.K,
		1, e.deviceFloats(g.A), g.LDA, e.deviceFloats(g.B), g.LDB,
		0, e.deviceFloats(g.C), g.LDC)
	if err := e.blas.Err(); err != nil {
		return fmt.Errorf("cuBLAS Sgemm: %w", err)
	}
	return nil
}

// deviceFloats returns buffer id as a []float32 over device memory, the
// form gorgonia.org/cu/blas takes device pointers in: it passes &s[0] to
// cuBLAS untouched. Go never reads or writes through it, and the garbage
// collector ignores pointers outside its heap. The address is read through
// an unsafe.Pointer rather than converted from a uintptr, which vet
// rightly distrusts.
func (e *CUDAExecutor) deviceFloats(id BufferID) []float32 {
	addr := e.mem[id]
	return unsafe.Slice((*float32)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), e.p.Buffers[id].Len())
}
