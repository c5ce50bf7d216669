//go:build softmaxctl_cuda

package cuda

/*
#include <stdlib.h>
#include <string.h>
#include <cuda.h>

// smx_module_load loads a CUBIN or a PTX image (len bytes; a NUL is added
// for PTX, which the driver reads as a C string).
static CUresult smx_module_load(CUmodule *mod, const void *image, size_t len) {
	char *copy = malloc(len + 1);
	if (copy == NULL) {
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memcpy(copy, image, len);
	copy[len] = 0;
	CUresult r = cuModuleLoadData(mod, copy);
	free(copy);
	return r;
}

// smx_launch launches f on the default stream with the n 8-byte arguments
// in argv, through argp, which points at them: both live in C memory the
// executor allocated once, so a launch allocates nothing.
static CUresult smx_launch(CUfunction f, unsigned grid, unsigned block, void **argp) {
	return cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, NULL, argp, NULL);
}
*/
import "C"

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/softmaxctl/softmaxctl/internal/device/program"
	"gorgonia.org/cu"
)

// kernelSource is compiled by NVRTC for the GPU in use when the first
// executor starts (gpu.kernelImage), so that the binary carries no GPU code
// and needs no nvcc to build.
//
//go:embed kernels/kernels.cu
var kernelSource string

// Executor runs a program.Program on GPU 0: every buffer allocated on the
// device once, the kernels of kernels/kernels.cu compiled with NVRTC for
// the GPU's architecture, and GEMMs through cuBLAS. It follows the launch
// plan (launch.go) step by step, the same steps the CPU executor runs.
//
// The methods that start work (GatherBatch, SetBatch, Run, SGD, Update)
// only enqueue it on the default stream: Run ends by enqueueing the copies
// of the loss and the logits into pinned host memory, and Loss or Logits
// waits for the GPU once and reads them there. A training step thus waits
// once, and a fault in a kernel is reported by the next method that reads
// a result (Loss, Logits, Grads, Params, Velocity), as "the GPU failed".
//
// All executors share the GPU's primary context. A context is current on
// one OS thread at a time, so every method locks its goroutine to its
// thread and makes the context current there first.
type Executor struct {
	p      *program.Program
	gpu    *gpu
	mod    C.CUmodule
	loaded bool // mod holds a loaded module
	fns    map[string]C.CUfunction
	blas   *cublasHandle  // the process's, shared (gpu.blasHandle)
	mem    []cu.DevicePtr // by program.BufferID; 0 for a dataset buffer until LoadDataset
	images int            // images of the loaded dataset

	input, run, update []launch // the launches of GatherBatch, Run and SGD, in program order

	// args holds a launch's arguments in C memory, allocated once:
	// maxArgs 8-byte values, then maxArgs pointers to them.
	args    unsafe.Pointer
	maxArgs int

	// host is pinned host memory, allocated once: the staging area of
	// the copies that run asynchronously, each a view over it.
	host   unsafe.Pointer
	index  []int32   // the batch's rows, copied to the Index buffer
	hyper  []float32 // [lr] for SGD, [lr, weight decay, momentum] for Update
	loss   []float32 // the last Run's loss, copied back
	logits []float32 // the last Run's logits, copied back
	// Whether a copy from index or hyper may still be pending (it must
	// run before the slot is written again), and whether work was
	// enqueued since the GPU was last waited for.
	indexBusy, hyperBusy, unsynced bool
}

var _ program.Executor = (*Executor)(nil)

// Open compiles the kernels for GPU 0 (once per process),
// loads them into the GPU's primary context, and allocates and initialises
// the buffers of p: constants uploaded, temporaries set to NaN as on the
// CPU executor.
func Open(c Config, p *program.Program) (_ *Executor, err error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("cuda executor: invalid program: %w", err)
	}
	plan, err := planLaunches(p)
	if err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}
	g, err := openGPU(c)
	if err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}
	image, arch, err := g.kernelImage()
	if err != nil {
		return nil, fmt.Errorf("cuda executor: %w", err)
	}
	e := &Executor{p: p, gpu: g, fns: map[string]C.CUfunction{}, mem: make([]cu.DevicePtr, len(p.Buffers))}
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

	if r := C.smx_module_load(&e.mod, unsafe.Pointer(&image[0]), C.size_t(len(image))); r != C.CUDA_SUCCESS {
		return nil, fmt.Errorf("cuda executor: load the kernels (%s): %w", arch, driverError{code: int(r)})
	}
	e.loaded = true
	for _, name := range kernelNames {
		cname := C.CString(name)
		var fn C.CUfunction
		r := C.cuModuleGetFunction(&fn, e.mod, cname)
		C.free(unsafe.Pointer(cname))
		if r != C.CUDA_SUCCESS {
			return nil, fmt.Errorf("cuda executor: kernel %s: %w", name, driverError{code: int(r)})
		}
		e.fns[name] = fn
	}
	if e.blas, err = g.blasHandle(); err != nil {
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
		case b.Role == program.RoleConst:
			err = cu.MemcpyHtoD(e.mem[i], unsafe.Pointer(&b.Init[0]), int64(4*n))
		case b.Role == program.RoleTemp:
			err = cu.MemsetD32(e.mem[i], nan, int64(n))
		case b.Dtype.Size() == 4:
			err = cu.MemsetD32(e.mem[i], 0, int64(n))
		}
		if err != nil {
			return nil, fmt.Errorf("cuda executor: initialise %s: %w", b.Name, fromCU(err))
		}
	}

	for _, l := range plan {
		switch l.phase {
		case program.PhaseInput:
			e.input = append(e.input, l)
		case program.PhaseUpdate:
			e.update = append(e.update, l)
		default:
			// Forward and backward together, in program order: the
			// buffer sharing was planned on that order.
			e.run = append(e.run, l)
		}
		e.maxArgs = max(e.maxArgs, len(l.args))
	}
	e.args = C.calloc(C.size_t(max(e.maxArgs, 1)), 16)
	if e.args == nil {
		return nil, errors.New("cuda executor: out of host memory for launch arguments")
	}
	for i := range e.maxArgs {
		*(*unsafe.Pointer)(unsafe.Add(e.args, 8*(e.maxArgs+i))) = unsafe.Add(e.args, 8*i)
	}
	if err := e.allocHost(); err != nil {
		return nil, err
	}
	return e, nil
}

// allocHost allocates the pinned staging area: the batch's index, the
// update's scalars, the loss and the logits.
func (e *Executor) allocHost() error {
	nIndex, nHyper, nLogits := e.p.Batch, program.HyperLen, e.p.Buffers[e.p.Logits].Len()
	bytes := 4 * (nIndex + nHyper + 1 + nLogits)
	if r := C.cuMemAllocHost(&e.host, C.size_t(bytes)); r != C.CUDA_SUCCESS {
		e.host = nil
		return fmt.Errorf("cuda executor: allocate %d bytes of pinned host memory: %w", bytes, driverError{code: int(r)})
	}
	e.index = unsafe.Slice((*int32)(e.host), nIndex)
	f := unsafe.Slice((*float32)(unsafe.Add(e.host, 4*nIndex)), nHyper+1+nLogits)
	e.hyper, e.loss, e.logits = f[:nHyper:nHyper], f[nHyper:nHyper+1:nHyper+1], f[nHyper+1:]
	return nil
}

// enter locks the calling goroutine to its thread and makes the GPU's
// primary context current there; call the returned function when done.
func (e *Executor) enter() (func(), error) {
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

// wait blocks until the GPU has run everything enqueued, so that a fault
// in a kernel is reported, named by what; the staging area is free again.
func (e *Executor) wait(what string) error {
	err := cu.Synchronize()
	e.unsynced, e.indexBusy, e.hyperBusy = false, false, false
	if err != nil {
		return fmt.Errorf("%s: the GPU failed: %w", what, fromCU(err))
	}
	return nil
}

// settle waits for the GPU if work was enqueued since it last did, before
// a synchronous copy, so that a kernel's fault is reported as such.
func (e *Executor) settle(what string) error {
	if !e.unsynced {
		return nil
	}
	return e.wait(what)
}

// upload copies n elements of size bytes from src to buffer id, waiting
// for the copy.
func (e *Executor) upload(id program.BufferID, src unsafe.Pointer, n int) error {
	b := e.p.Buffers[id]
	if err := cu.MemcpyHtoD(e.mem[id], src, int64(n*b.Dtype.Size())); err != nil {
		return fmt.Errorf("copy %s to the GPU: %w", b.Name, fromCU(err))
	}
	return nil
}

// stage enqueues the copy of n 4-byte elements of the staging area at src
// to buffer id.
func (e *Executor) stage(id program.BufferID, src unsafe.Pointer, n int) error {
	if err := cu.MemcpyHtoDAsync(e.mem[id], src, int64(4*n), cu.NoStream); err != nil {
		return fmt.Errorf("copy %s to the GPU: %w", e.p.Buffers[id].Name, fromCU(err))
	}
	e.unsynced = true
	return nil
}

// download copies buffer id, n elements long, to dst.
func (e *Executor) download(dst unsafe.Pointer, id program.BufferID, n int) error {
	b := e.p.Buffers[id]
	if err := e.settle("copy " + b.Name + " from the GPU"); err != nil {
		return err
	}
	if err := cu.MemcpyDtoH(dst, e.mem[id], int64(n*b.Dtype.Size())); err != nil {
		return fmt.Errorf("copy %s from the GPU: %w", b.Name, fromCU(err))
	}
	return nil
}

// SetParams copies W and b to the GPU.
func (e *Executor) SetParams(w, b []float32) error {
	if err := e.p.CheckParams(w, b); err != nil {
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
func (e *Executor) Params(w, b []float32) error {
	if err := e.p.CheckParams(w, b); err != nil {
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
func (e *Executor) LoadDataset(pix []byte, labels []uint8) error {
	if err := e.p.CheckDataset(pix, labels); err != nil {
		return err
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	// The previous dataset may still be read by enqueued gathers.
	if err := e.settle("load dataset"); err != nil {
		return err
	}
	e.images = 0
	for _, d := range []struct {
		id   program.BufferID
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

// GatherBatch enqueues the copy of the batch's indices and the gather
// kernels, which build X and Y from the dataset on the GPU.
func (e *Executor) GatherBatch(idx []int) error {
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if e.indexBusy {
		// The previous batch's indices are still to be copied.
		if err := e.wait("gather batch"); err != nil {
			return err
		}
	}
	if err := e.p.IndexRows(e.index, idx, e.images); err != nil {
		return fmt.Errorf("gather batch: %w", err)
	}
	if err := e.stage(e.p.Index, unsafe.Pointer(&e.index[0]), len(e.index)); err != nil {
		return err
	}
	e.indexBusy = true
	return e.launchAll(e.input)
}

// SetBatch copies x and y to the GPU.
func (e *Executor) SetBatch(x, y []float32) error {
	if err := e.p.CheckBatch(x, y); err != nil {
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

// Run enqueues the forward and backward steps, then the copies of the
// loss and the logits into the staging area, which Loss and Logits read.
func (e *Executor) Run() error {
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := e.launchAll(e.run); err != nil {
		return err
	}
	for _, c := range []struct {
		dst []float32
		id  program.BufferID
	}{{e.loss, e.p.Loss}, {e.logits, e.p.Logits}} {
		if err := cu.MemcpyDtoHAsync(unsafe.Pointer(&c.dst[0]), e.mem[c.id], int64(4*len(c.dst)), cu.NoStream); err != nil {
			return fmt.Errorf("copy %s from the GPU: %w", e.p.Buffers[c.id].Name, fromCU(err))
		}
	}
	e.unsynced = true
	return nil
}

// results waits for the GPU when work was enqueued since it last did:
// the staged loss and logits are then those of the last Run.
func (e *Executor) results() error {
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	return e.settle("run program")
}

// Loss is the loss of the last Run.
func (e *Executor) Loss() (float32, error) {
	if err := e.results(); err != nil {
		return 0, err
	}
	return e.loss[0], nil
}

// Logits copies the logits of the last Run into dst.
func (e *Executor) Logits(dst []float32) error {
	if err := e.p.CheckLen("logits", dst, e.p.Logits); err != nil {
		return err
	}
	if err := e.results(); err != nil {
		return err
	}
	copy(dst, e.logits)
	return nil
}

// Grads copies the gradients of the last Run from the GPU.
func (e *Executor) Grads(dW, dB []float32) error {
	if !e.p.Train() {
		return program.ErrForwardOnly
	}
	if err := e.p.CheckParams(dW, dB); err != nil {
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

// SGD enqueues the copy of lr and the update steps.
func (e *Executor) SGD(lr float32) error {
	if !e.p.Train() {
		return program.ErrForwardOnly
	}
	if e.p.Optim != nil {
		return program.ErrOptimSGD
	}
	return e.enqueueUpdate(e.p.LR, lr)
}

// enqueueUpdate stages the update's scalars (lr, then the rest) for
// buffer id and enqueues the update steps.
func (e *Executor) enqueueUpdate(id program.BufferID, scalars ...float32) error {
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	if e.hyperBusy {
		if err := e.wait("update"); err != nil {
			return err
		}
	}
	copy(e.hyper, scalars)
	if err := e.stage(id, unsafe.Pointer(&e.hyper[0]), len(scalars)); err != nil {
		return err
	}
	e.hyperBusy = true
	return e.launchAll(e.update)
}

// Close frees the GPU memory and the module. The primary context and the
// cuBLAS handle stay for the process's other executors. The executor
// cannot be used afterwards.
func (e *Executor) Close() error {
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	return e.release()
}

// release frees what e holds, with the context current, after the GPU has
// finished what was enqueued.
func (e *Executor) release() error {
	var errs []error
	if e.unsynced {
		if err := e.wait("close"); err != nil {
			errs = append(errs, err)
		}
	}
	for i, p := range e.mem {
		if p != 0 {
			if err := cu.MemFree(p); err != nil {
				errs = append(errs, fmt.Errorf("free %s: %w", e.p.Buffers[i].Name, fromCU(err)))
			}
		}
	}
	e.mem = nil
	if e.host != nil {
		if r := C.cuMemFreeHost(e.host); r != C.CUDA_SUCCESS {
			errs = append(errs, fmt.Errorf("free pinned memory: %w", driverError{code: int(r)}))
		}
		e.host, e.index, e.hyper, e.loss, e.logits = nil, nil, nil, nil, nil
	}
	if e.args != nil {
		C.free(e.args)
		e.args = nil
	}
	e.blas = nil // the process's, not e's to destroy
	if e.loaded {
		if r := C.cuModuleUnload(e.mod); r != C.CUDA_SUCCESS {
			errs = append(errs, fmt.Errorf("unload kernels: %w", driverError{code: int(r)}))
		}
		e.loaded = false
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda executor: close: %w", err)
	}
	return nil
}

// launchAll enqueues launches in order on the default stream, which also
// orders them with cuBLAS's calls and with the copies.
func (e *Executor) launchAll(ls []launch) error {
	for i := range ls {
		l := &ls[i]
		if err := e.launch(l); err != nil {
			return fmt.Errorf("step %d (%s): %w", l.step, e.p.Steps[l.step].Kind, err)
		}
	}
	e.unsynced = true
	return nil
}

func (e *Executor) launch(l *launch) error {
	if l.kernel == "" {
		g := l.gemm
		return e.blas.sgemm(g, uint64(e.mem[g.A]), uint64(e.mem[g.B]), uint64(e.mem[g.C]))
	}
	argv := unsafe.Slice((*uint64)(e.args), len(l.args))
	for i, a := range l.args {
		if a.buf != program.NoBuffer {
			argv[i] = uint64(e.mem[a.buf])
		} else {
			argv[i] = uint64(a.val)
		}
	}
	argp := (*unsafe.Pointer)(unsafe.Add(e.args, 8*e.maxArgs))
	if r := C.smx_launch(e.fns[l.kernel], C.uint(l.grid), C.uint(l.block), argp); r != C.CUDA_SUCCESS {
		return fmt.Errorf("launch %s: %w", l.kernel, driverError{code: int(r)})
	}
	return nil
}
