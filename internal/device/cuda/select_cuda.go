//go:build softmaxctl_cuda

// The CUDA build of this package uses the tag softmaxctl_cuda, not cuda:
// build tags are global, and with cuda Gorgonia compiles its own CUDA
// machine, which imports gorgonia.org/cu/dnn (cuDNN 7-era calls that
// current cuDNN lacks) and makes the CPU path's tape machine run
// elementwise ops through CUDA.

package cuda

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sync"

	"github.com/softmaxctl/softmaxctl/internal/device/program"
	"gorgonia.org/cu"
)

// Supported reports whether this binary was built with CUDA support.
const Supported = true

// A gpu is GPU 0 as this process uses it, found once (openGPU).
type gpu struct {
	dev          cu.Device
	name         string
	major, minor int // compute capability
	// ctx is the device's primary context, retained once and kept for
	// the life of the process: every executor and cuBLAS use it, so the
	// process holds one context, as the CUDA runtime would.
	ctx cu.CUContext

	kernelsOnce sync.Once
	kernels     []byte // the kernels' CUBIN or PTX for this GPU
	kernelArch  string
	kernelsErr  error

	// blas is the process's one cuBLAS handle, made in ctx and shared
	// by every executor, as the context is: creating one takes tens of
	// milliseconds.
	blasOnce sync.Once
	blas     *cublasHandle
	blasErr  error
}

var (
	gpuOnce sync.Once
	theGPU  *gpu
	gpuErr  error
)

// openGPU returns GPU 0, or why there is none to use. The first call asks
// the driver (and opens the libraries with c); later calls return the same
// answer.
func openGPU(c Config) (*gpu, error) {
	gpuOnce.Do(func() {
		theGPU, gpuErr = probeGPU(c)
	})
	return theGPU, gpuErr
}

// probeGPU asks the driver for GPU 0, after checking that cuBLAS and
// NVRTC can be opened: a GPU without them cannot run a program.
func probeGPU(c Config) (*gpu, error) {
	g, err := probeDriver()
	if err != nil {
		return nil, fmt.Errorf("CUDA driver: %w", err)
	}
	if _, err := loadCUDALibraries(c.LibraryDirs); err != nil {
		return nil, err
	}
	return g, nil
}

func probeDriver() (*gpu, error) {
	if err := driverInitErr(); err != nil {
		return nil, err
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("count GPUs: %w", fromCU(err))
	}
	if n < 1 {
		return nil, fmt.Errorf("no GPU found")
	}
	g := &gpu{}
	if g.dev, err = cu.GetDevice(0); err != nil {
		return nil, fmt.Errorf("GPU 0: %w", fromCU(err))
	}
	if g.name, err = g.dev.Name(); err != nil {
		return nil, fmt.Errorf("GPU 0: name: %w", fromCU(err))
	}
	if g.major, err = g.dev.Attribute(cu.ComputeCapabilityMajor); err != nil {
		return nil, fmt.Errorf("GPU 0: compute capability: %w", fromCU(err))
	}
	if g.minor, err = g.dev.Attribute(cu.ComputeCapabilityMinor); err != nil {
		return nil, fmt.Errorf("GPU 0: compute capability: %w", fromCU(err))
	}
	// A retained primary context is not current anywhere yet: each user
	// makes it current on its locked OS thread (Executor.enter).
	if g.ctx, err = g.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("GPU 0 (%s): cannot create its context: %w", g.name, fromCU(err))
	}
	return g, nil
}

// Usable says why CUDA cannot be used, or returns nil when GPU 0
// answers and its context was created.
func Usable(c Config) error {
	_, err := openGPU(c)
	return err
}

// kernelImage compiles kernelSource for g once per process, for the GPU's
// own architecture (chooseKernelTarget), and returns the image to load.
func (g *gpu) kernelImage() ([]byte, string, error) {
	g.kernelsOnce.Do(func() {
		archs, err := nvrtcArchs()
		if err != nil {
			g.kernelsErr = fmt.Errorf("NVRTC: %w", err)
			return
		}
		target, err := chooseKernelTarget(g.major, g.minor, archs)
		if err != nil {
			maj, min, _ := nvrtcVersion()
			g.kernelsErr = fmt.Errorf("NVRTC %d.%d: %w", maj, min, err)
			return
		}
		// FMA contraction is off so that every step computes what the
		// CPU semantics compute, rounding each operation.
		g.kernels, g.kernelsErr = nvrtcCompile("kernels.cu", kernelSource, target, "--fmad=false")
		g.kernelArch = target.Arch
		if g.kernelsErr != nil {
			g.kernelsErr = fmt.Errorf("compile kernels with NVRTC: %w", g.kernelsErr)
		}
	})
	return g.kernels, g.kernelArch, g.kernelsErr
}

// blasHandle returns the process's cuBLAS handle, creating it once with
// the context current on a locked thread.
func (g *gpu) blasHandle() (*cublasHandle, error) {
	g.blasOnce.Do(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cu.SetCurrentContext(g.ctx); err != nil {
			g.blasErr = fmt.Errorf("make the context current: %w", fromCU(err))
			return
		}
		g.blas, g.blasErr = newCublasHandle()
	})
	return g.blas, g.blasErr
}

// Warm opens GPU 0, compiles the kernels and creates the cuBLAS handle,
// so that a command can overlap that second or so with loading its data;
// the executors then find them done. Errors are kept for the executors
// to report.
func Warm(c Config) {
	g, err := openGPU(c)
	if err != nil {
		return
	}
	g.kernelImage()
	g.blasHandle()
}

// Info describes the CUDA build for `softmaxctl version`: the CUDA
// version of its headers, the cuBLAS and NVRTC it loaded (or why none),
// and GPU 0 (name, compute capability, driver), or why no GPU is usable.
func Info(c Config) string {
	built := fmt.Sprintf("with CUDA %s", cudaVersionString(cudaHeaderVersion))
	libs := "no cuBLAS and NVRTC: "
	if l, err := loadCUDALibraries(c.LibraryDirs); err == nil {
		libs = l.describe()
	} else {
		libs += err.Error()
	}
	g, err := openGPU(c)
	if err != nil {
		return fmt.Sprintf("%s; %s; no usable GPU: %v", built, libs, err)
	}
	return fmt.Sprintf("%s; %s; GPU 0: %s", built, libs, g.describe())
}

// describe names the GPU and its driver: "NVIDIA H200, compute capability
// 9.0, driver 580.65.06 for CUDA 13.0".
func (g *gpu) describe() string {
	driver := "driver"
	if v := kernelModuleVersion(); v != "" {
		driver += " " + v
	}
	if v, err := driverVersion(); err == nil {
		driver += " for CUDA " + cudaVersionString(v)
	}
	return fmt.Sprintf("%s, compute capability %d.%d, %s", g.name, g.major, g.minor, driver)
}

// InUse is the line --device auto prints when it picks the GPU: which
// GPU, and the cuBLAS and NVRTC it runs with.
func InUse(c Config) string {
	g, err := openGPU(c)
	if err != nil {
		return ""
	}
	l, err := loadCUDALibraries(c.LibraryDirs)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("using GPU 0: %s; %s", g.describe(), l.describe())
}

// cudaVersionString writes a CUDA_VERSION-style number (12040) as 12.4.
func cudaVersionString(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

// kernelModuleVersion is the NVIDIA kernel module's version (580.65.06),
// which the driver API does not report, from /proc; empty when unknown.
func kernelModuleVersion() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	b, err := os.ReadFile("/proc/driver/nvidia/version")
	if err != nil {
		return ""
	}
	return parseKernelModuleVersion(string(b))
}

var kernelModuleRE = regexp.MustCompile(`Kernel Module(?: for \S+)?\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)`)

func parseKernelModuleVersion(s string) string {
	if m := kernelModuleRE.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// NewExecutor opens an executor of p on GPU 0 (Open).
func NewExecutor(c Config, p *program.Program) (program.Executor, error) { return Open(c, p) }
