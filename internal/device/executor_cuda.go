//go:build softmaxctl_cuda

package device

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/cu"
	cublas "gorgonia.org/cu/blas"
)

// kernelSource is compiled by NVRTC for the GPU in use when the first
// executor starts (gpu.kernelImage), so that the binary carries no GPU code
// and needs no nvcc to build.
//
//go:embed kernels/kernels.cu
var kernelSource string

// CUDAExecutor runs a Program on GPU 0: every buffer allocated on the
// device once, the kernels of kernels/kernels.cu compiled with NVRTC for
// the GPU's architecture, and GEMMs through cuBLAS. It follows the launch
// plan (launch.go) step by step, the same steps the CPU executor runs. Each
// method waits for the GPU before it returns, so a fault in a kernel is
// reported by the call that launched it.
//
// All executors share the GPU's primary context. A context is current on
// one OS thread at a time, so every method locks its goroutine to its
// thread and makes the context current there first.
type CUDAExecutor struct {
	p      *Program
	gpu    *gpu
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

// NewCUDAExecutor compiles the kernels for GPU 0 (once per process),
// loads them into the GPU's primary context, and allocates and initialises
// the buffers of p: constants uploaded, temporaries set to NaN as on the
// CPU executor.
func NewCUDAExecutor(p *Program) (_ *CUDAExecutor, err error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("cuda executor: invalid program: %w", err)
	}
	plan, err := planLaunches(p)
	if err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}
	g, err := openGPU()
	if err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}
	image, arch, err := g.kernelImage()
	if err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}
	e := &CUDAExecutor{p: p, gpu: g, fns: map[string]cu.Function{}, mem: make([]cu.DevicePtr, len(p.Buffers))}
	done, err := e.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	defer func() {
		if err != nil {
			if rerr := e.release(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()

	// cu.LoadData copies the image with C.CString, which keeps every byte
	// of a CUBIN (NULs included) and ends PTX with the NUL it needs.
	if e.mod, err = cu.LoadData(string(image)); err != nil {
		return nil, fmt.Errorf("cuda executor: load the kernels (%s): %w", arch, fromCU(err))
	}
	e.loaded = true
	for _, name := range kernelNames {
		if e.fns[name], err = e.mod.Function(name); err != nil {
			return nil, fmt.Errorf("cuda executor: kernel %s: %w", name, fromCU(err))
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
			return nil, fmt.Errorf("cuda executor: allocate %s (%d elements): %w", b.Name, n, fromCU(err))
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
			return nil, fmt.Errorf("cuda executor: initialise %s: %w", b.Name, fromCU(err))
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

// newBLAS creates a cuBLAS handle in the current context. It uses Init,
// which returns cublasCreate's failure, not New, which panics with it.
func newBLAS() (*cublas.Standard, error) {
	h := new(cublas.Standard)
	if err := h.Init(); err != nil {
		return nil, fmt.Errorf("create cuBLAS handle: %w", err)
	}
	return h, nil
}

// enter locks the calling goroutine to its thread and makes the GPU's
// primary context current there; call the returned function when done.
func (e *CUDAExecutor) enter() (func(), error) {
	runtime.LockOSThread()
	if e.mem == nil {
		runtime.UnlockOSThread()
		return nil, errors.New("cuda executor is closed")
	}
	if err := cu.SetCurrentContext(e.gpu.ctx); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda executor: make the context current: %w", fromCU(err))
	}
	return runtime.UnlockOSThread, nil
}

// wait blocks until the GPU has run everything launched, so that a fault
// in a kernel is reported by the call that launched it, named by what.
func wait(what string) error {
	if err := cu.Synchronize(); err != nil {
		return fmt.Errorf("%s: the GPU failed: %w", what, fromCU(err))
	}
	return nil
}

// upload copies n elements of size bytes from src to buffer id.
func (e *CUDAExecutor) upload(id BufferID, src unsafe.Pointer, n int) error {
	b := e.p.Buffers[id]
	if err := cu.MemcpyHtoD(e.mem[id], src, int64(n*b.Dtype.Size())); err != nil {
		return fmt.Errorf("copy %s to the GPU: %w", b.Name, fromCU(err))
	}
	return nil
}

// download copies buffer id, n elements long, to dst.
func (e *CUDAExecutor) download(dst unsafe.Pointer, id BufferID, n int) error {
	b := e.p.Buffers[id]
	if err := cu.MemcpyDtoH(dst, e.mem[id], int64(n*b.Dtype.Size())); err != nil {
		return fmt.Errorf("copy %s from the GPU: %w", b.Name, fromCU(err))
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
				return fmt.Errorf("free the previous dataset: %w", fromCU(err))
			}
			e.mem[d.id] = 0
		}
		if e.mem[d.id], err = cu.MemAlloc(int64(len(d.data))); err != nil {
			return fmt.Errorf("allocate %d bytes for the dataset: %w", len(d.data), fromCU(err))
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
	if err := e.launchAll(e.input); err != nil {
		return err
	}
	return wait("gather batch")
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
	return wait("run program")
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
	if e.p.Optim != nil {
		return errOptimSGD
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.upload(e.p.LR, unsafe.Pointer(&lr), 1); err != nil {
		return err
	}
	if err := e.launchAll(e.update); err != nil {
		return err
	}
	return wait("SGD update")
}

// Close frees the GPU memory, the module and the cuBLAS handle. The
// primary context stays for the process's other executors. The executor
// cannot be used afterwards.
func (e *CUDAExecutor) Close() error {
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	return e.release()
}

// release frees what e holds, with the context current.
func (e *CUDAExecutor) release() error {
	var errs []error
	for i, p := range e.mem {
		if p != 0 {
			if err := cu.MemFree(p); err != nil {
				errs = append(errs, fmt.Errorf("free %s: %w", e.p.Buffers[i].Name, fromCU(err)))
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
			errs = append(errs, fmt.Errorf("unload kernels: %w", fromCU(err)))
		}
		e.loaded = false
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
		return fmt.Errorf("launch %s: %w", l.kernel, fromCU(err))
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
