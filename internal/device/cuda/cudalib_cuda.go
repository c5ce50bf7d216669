//go:build softmaxctl_cuda

package cuda

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <stdlib.h>
#include <cuda.h>
#include <cublas_v2.h>
#include <nvrtc.h>

// cuBLAS and NVRTC are opened with dlopen rather than linked, so that one
// binary runs with the libraries of CUDA 11, 12 or 13 (libcublas.so.N and
// libnvrtc.so.N change their soname with every major version, while the
// calls made here kept their ABI). Each pointer has the type the headers
// give the function, so a call through it is checked by the compiler as a
// direct call would be.
static __typeof__(cublasCreate_v2) *smx_cublasCreate;
static __typeof__(cublasDestroy_v2) *smx_cublasDestroy;
static __typeof__(cublasSgemm_v2) *smx_cublasSgemm;
static __typeof__(cublasGetProperty) *smx_cublasGetProperty;
static __typeof__(nvrtcVersion) *smx_nvrtcVersion;
static __typeof__(nvrtcGetErrorString) *smx_nvrtcGetErrorString;
static __typeof__(nvrtcGetNumSupportedArchs) *smx_nvrtcGetNumSupportedArchs;
static __typeof__(nvrtcGetSupportedArchs) *smx_nvrtcGetSupportedArchs;
static __typeof__(nvrtcCreateProgram) *smx_nvrtcCreateProgram;
static __typeof__(nvrtcDestroyProgram) *smx_nvrtcDestroyProgram;
static __typeof__(nvrtcCompileProgram) *smx_nvrtcCompileProgram;
static __typeof__(nvrtcGetCUBINSize) *smx_nvrtcGetCUBINSize;
static __typeof__(nvrtcGetCUBIN) *smx_nvrtcGetCUBIN;
static __typeof__(nvrtcGetPTXSize) *smx_nvrtcGetPTXSize;
static __typeof__(nvrtcGetPTX) *smx_nvrtcGetPTX;
static __typeof__(nvrtcGetProgramLogSize) *smx_nvrtcGetProgramLogSize;
static __typeof__(nvrtcGetProgramLog) *smx_nvrtcGetProgramLog;

// The library each pointer is looked up in (0 cuBLAS, 1 NVRTC), its
// name, where it goes, and whether the library must have it.
typedef struct {
	int lib;
	const char *name;
	void **slot;
	int required;
} smx_sym;

#define SMX_SYM(lib, fn, req) {lib, #fn, (void **)&smx_##fn, req}
#define SMX_SYM_AS(lib, name, fn) {lib, name, (void **)&smx_##fn, 1}
static smx_sym smx_syms[] = {
	SMX_SYM_AS(0, "cublasCreate_v2", cublasCreate),
	SMX_SYM_AS(0, "cublasDestroy_v2", cublasDestroy),
	SMX_SYM_AS(0, "cublasSgemm_v2", cublasSgemm),
	SMX_SYM(0, cublasGetProperty, 0),
	SMX_SYM(1, nvrtcVersion, 1),
	SMX_SYM(1, nvrtcGetErrorString, 1),
	SMX_SYM(1, nvrtcGetNumSupportedArchs, 1),
	SMX_SYM(1, nvrtcGetSupportedArchs, 1),
	SMX_SYM(1, nvrtcCreateProgram, 1),
	SMX_SYM(1, nvrtcDestroyProgram, 1),
	SMX_SYM(1, nvrtcCompileProgram, 1),
	SMX_SYM(1, nvrtcGetCUBINSize, 1),
	SMX_SYM(1, nvrtcGetCUBIN, 1),
	SMX_SYM(1, nvrtcGetPTXSize, 1),
	SMX_SYM(1, nvrtcGetPTX, 1),
	SMX_SYM(1, nvrtcGetProgramLogSize, 1),
	SMX_SYM(1, nvrtcGetProgramLog, 1),
};

static int smx_nsyms(void) { return sizeof smx_syms / sizeof smx_syms[0]; }
static int smx_sym_lib(int i) { return smx_syms[i].lib; }
static const char *smx_sym_name(int i) { return smx_syms[i].name; }
static int smx_sym_required(int i) { return smx_syms[i].required; }

// smx_open dlopens path with every symbol bound now, so that a library
// missing one of its own dependencies fails here rather than at a call.
static void *smx_open(const char *path, const char **err) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	*err = h ? NULL : dlerror();
	return h;
}

static void smx_close(void *h) { dlclose(h); }

// smx_path is the file the loader opened for h.
static const char *smx_path(void *h) {
	struct link_map *lm = NULL;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL) {
		return NULL;
	}
	return lm->l_name;
}

// smx_bind looks up symbol i in h; it returns 0 when found.
static int smx_bind(int i, void *h) {
	void *p = dlsym(h, smx_syms[i].name);
	*smx_syms[i].slot = p;
	return p == NULL;
}

static void smx_unbind(int lib) {
	for (int i = 0; i < smx_nsyms(); i++) {
		if (smx_syms[i].lib == lib) {
			*smx_syms[i].slot = NULL;
		}
	}
}

static int smx_cublas_property(int which, int *v) {
	if (smx_cublasGetProperty == NULL) {
		return -1;
	}
	return (int)smx_cublasGetProperty((libraryPropertyType)which, v);
}

// The calls, through the pointers.
static cublasStatus_t smx_blas_create(cublasHandle_t *h) { return smx_cublasCreate(h); }
static cublasStatus_t smx_blas_destroy(cublasHandle_t h) { return smx_cublasDestroy(h); }

// smx_sgemm is C = op(A)·op(B), column-major, with alpha 1 and beta 0.
static cublasStatus_t smx_sgemm(cublasHandle_t h, int ta, int tb, int m, int n, int k,
	CUdeviceptr a, int lda, CUdeviceptr b, int ldb, CUdeviceptr c, int ldc) {
	const float one = 1.0f, zero = 0.0f;
	return smx_cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k,
		&one, (const float *)a, lda, (const float *)b, ldb, &zero, (float *)c, ldc);
}

static nvrtcResult smx_nvrtc_version(int *maj, int *min) { return smx_nvrtcVersion(maj, min); }
static const char *smx_nvrtc_error(nvrtcResult r) { return smx_nvrtcGetErrorString(r); }
static nvrtcResult smx_nvrtc_num_archs(int *n) { return smx_nvrtcGetNumSupportedArchs(n); }
static nvrtcResult smx_nvrtc_archs(int *a) { return smx_nvrtcGetSupportedArchs(a); }
static nvrtcResult smx_nvrtc_create(nvrtcProgram *p, const char *src, const char *name) {
	return smx_nvrtcCreateProgram(p, src, name, 0, NULL, NULL);
}
static nvrtcResult smx_nvrtc_destroy(nvrtcProgram *p) { return smx_nvrtcDestroyProgram(p); }
static nvrtcResult smx_nvrtc_compile(nvrtcProgram p, int n, const char *const *opts) {
	return smx_nvrtcCompileProgram(p, n, opts);
}
static nvrtcResult smx_nvrtc_cubin_size(nvrtcProgram p, size_t *n) { return smx_nvrtcGetCUBINSize(p, n); }
static nvrtcResult smx_nvrtc_cubin(nvrtcProgram p, char *out) { return smx_nvrtcGetCUBIN(p, out); }
static nvrtcResult smx_nvrtc_ptx_size(nvrtcProgram p, size_t *n) { return smx_nvrtcGetPTXSize(p, n); }
static nvrtcResult smx_nvrtc_ptx(nvrtcProgram p, char *out) { return smx_nvrtcGetPTX(p, out); }
static nvrtcResult smx_nvrtc_log_size(nvrtcProgram p, size_t *n) { return smx_nvrtcGetProgramLogSize(p, n); }
static nvrtcResult smx_nvrtc_log(nvrtcProgram p, char *out) { return smx_nvrtcGetProgramLog(p, out); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/softmaxctl/softmaxctl/internal/device/program"
)

// A cudaLibrary is one of the toolkit libraries softmaxctl opens at run
// time, as found.
type cudaLibrary struct {
	Soname  string // the name asked for: libcublas.so.13
	Path    string // the file the loader opened
	Version string // the library's own version: 13.0.2; empty when it does not say
}

// cudaLibraries are cuBLAS and NVRTC, once found.
type cudaLibraries struct {
	cublas, nvrtc cudaLibrary
}

// The sonames tried, newest CUDA first: CUDA 11's NVRTC is
// libnvrtc.so.11.2 for every 11.x from 11.2 on.
var (
	cublasSonames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}
	nvrtcSonames  = []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"}
)

var (
	libsOnce sync.Once
	theLibs  *cudaLibraries
	libsErr  error
)

// loadCUDALibraries opens cuBLAS and NVRTC once per process, searching
// dirs after the loader's own path, and binds the calls softmaxctl makes;
// later calls return the same answer whatever their dirs (the libraries
// stay open). It needs no GPU, only the libraries.
func loadCUDALibraries(dirs []string) (*cudaLibraries, error) {
	libsOnce.Do(func() {
		driverMajor := 0
		if v, err := driverVersion(); err == nil {
			driverMajor = v / 1000
		}
		l := &cudaLibraries{}
		var err error
		if l.cublas, err = openCUDALibrary(0, "cuBLAS", cublasSonames, dirs, driverMajor); err != nil {
			libsErr = err
			return
		}
		if l.nvrtc, err = openCUDALibrary(1, "NVRTC", nvrtcSonames, dirs, driverMajor); err != nil {
			libsErr = err
			return
		}
		var v [3]C.int
		if C.smx_cublas_property(0, &v[0]) == 0 && C.smx_cublas_property(1, &v[1]) == 0 && C.smx_cublas_property(2, &v[2]) == 0 {
			l.cublas.Version = fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
		}
		var maj, min C.int
		if C.smx_nvrtc_version(&maj, &min) == C.NVRTC_SUCCESS {
			l.nvrtc.Version = fmt.Sprintf("%d.%d", maj, min)
		}
		theLibs = l
	})
	return theLibs, libsErr
}

// sonameMajor is the CUDA major version of a soname: 13 for
// libcublas.so.13, 11 for libnvrtc.so.11.2.
func sonameMajor(soname string) int {
	_, rest, _ := strings.Cut(soname, ".so.")
	major, _, _ := strings.Cut(rest, ".")
	n, _ := strconv.Atoi(major)
	return n
}

// openCUDALibrary opens the first of sonames that the loader finds, by
// name, then in dirs, and binds library lib's symbols from it. A soname of
// a CUDA newer than the driver (driverMajor, 0 when unknown) is skipped:
// its libraries would refuse to start, or emit code the driver cannot load.
func openCUDALibrary(lib int, what string, sonames, dirs []string, driverMajor int) (cudaLibrary, error) {
	var tried []string
	for _, soname := range sonames {
		if driverMajor > 0 && sonameMajor(soname) > driverMajor {
			tried = append(tried, fmt.Sprintf("%s (newer than the driver's CUDA %d)", soname, driverMajor))
			continue
		}
		candidates := []string{soname}
		for _, d := range dirs {
			candidates = append(candidates, filepath.Join(d, soname))
		}
		var firstErr string
		for _, c := range candidates {
			if c != soname {
				if _, err := os.Stat(c); err != nil {
					continue
				}
			}
			h, err := dlopen(c)
			if err != nil {
				if firstErr == "" || c != soname {
					firstErr = err.Error()
				}
				continue
			}
			if err := bindSymbols(lib, h, soname); err != nil {
				C.smx_close(h)
				return cudaLibrary{}, fmt.Errorf("%s: %w", what, err)
			}
			path := c
			if p := C.smx_path(h); p != nil && C.GoString(p) != "" {
				path = C.GoString(p)
			}
			// h stays open for the life of the process.
			return cudaLibrary{Soname: soname, Path: path}, nil
		}
		if firstErr != "" && !strings.Contains(firstErr, "No such file") && !strings.Contains(firstErr, "cannot open shared object file") {
			tried = append(tried, fmt.Sprintf("%s (%s)", soname, firstErr))
		} else {
			tried = append(tried, soname)
		}
	}
	return cudaLibrary{}, fmt.Errorf("%s not found (tried %s, on the loader's path and in %s): install CUDA 11, 12 or 13, or add its lib64 folder to LD_LIBRARY_PATH",
		what, strings.Join(tried, ", "), strings.Join(dirs, ", "))
}

func dlopen(path string) (unsafe.Pointer, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr *C.char
	h := C.smx_open(cpath, &cerr)
	if h == nil {
		msg := "dlopen failed"
		if cerr != nil {
			msg = C.GoString(cerr)
		}
		return nil, errors.New(msg)
	}
	return h, nil
}

// bindSymbols looks up every symbol of library lib in h; a required one
// missing is an error naming them all.
func bindSymbols(lib int, h unsafe.Pointer, soname string) error {
	var missing []string
	for i := range int(C.smx_nsyms()) {
		if int(C.smx_sym_lib(C.int(i))) != lib {
			continue
		}
		if C.smx_bind(C.int(i), h) != 0 && C.smx_sym_required(C.int(i)) != 0 {
			missing = append(missing, C.GoString(C.smx_sym_name(C.int(i))))
		}
	}
	if len(missing) > 0 {
		C.smx_unbind(C.int(lib))
		return fmt.Errorf("%s lacks %s", soname, strings.Join(missing, ", "))
	}
	return nil
}

// cudaSymbols lists the symbols looked up in library lib (0 cuBLAS, 1
// NVRTC), and whether each is required, for the tests' fake libraries.
func cudaSymbols(lib int) (names []string, required []bool) {
	for i := range int(C.smx_nsyms()) {
		if int(C.smx_sym_lib(C.int(i))) == lib {
			names = append(names, C.GoString(C.smx_sym_name(C.int(i))))
			required = append(required, C.smx_sym_required(C.int(i)) != 0)
		}
	}
	return names, required
}

// describe is how version and --device auto name the libraries:
// "cuBLAS 13.0.2 (libcublas.so.13), NVRTC 13.0 (libnvrtc.so.13)".
func (l *cudaLibraries) describe() string {
	one := func(what string, c cudaLibrary) string {
		s := what
		if c.Version != "" {
			s += " " + c.Version
		}
		return fmt.Sprintf("%s (%s)", s, c.Path)
	}
	return one("cuBLAS", l.cublas) + ", " + one("NVRTC", l.nvrtc)
}

// cublasHandle is a cuBLAS context for the calling thread's current CUDA
// context.
type cublasHandle struct {
	h C.cublasHandle_t
}

// cublasError is a failed cuBLAS call with its status code.
type cublasError struct {
	op   string
	code C.cublasStatus_t
}

func (e cublasError) Error() string {
	names := map[C.cublasStatus_t]string{
		C.CUBLAS_STATUS_NOT_INITIALIZED:  "CUBLAS_STATUS_NOT_INITIALIZED",
		C.CUBLAS_STATUS_ALLOC_FAILED:     "CUBLAS_STATUS_ALLOC_FAILED",
		C.CUBLAS_STATUS_INVALID_VALUE:    "CUBLAS_STATUS_INVALID_VALUE",
		C.CUBLAS_STATUS_ARCH_MISMATCH:    "CUBLAS_STATUS_ARCH_MISMATCH",
		C.CUBLAS_STATUS_MAPPING_ERROR:    "CUBLAS_STATUS_MAPPING_ERROR",
		C.CUBLAS_STATUS_EXECUTION_FAILED: "CUBLAS_STATUS_EXECUTION_FAILED",
		C.CUBLAS_STATUS_INTERNAL_ERROR:   "CUBLAS_STATUS_INTERNAL_ERROR",
		C.CUBLAS_STATUS_NOT_SUPPORTED:    "CUBLAS_STATUS_NOT_SUPPORTED",
	}
	if n, ok := names[e.code]; ok {
		return fmt.Sprintf("%s: %s", e.op, n)
	}
	return fmt.Sprintf("%s: cuBLAS status %d", e.op, int(e.code))
}

// newCublasHandle creates a cuBLAS handle in the current context.
func newCublasHandle() (*cublasHandle, error) {
	if _, err := loadCUDALibraries(nil); err != nil {
		return nil, err
	}
	h := &cublasHandle{}
	if r := C.smx_blas_create(&h.h); r != C.CUBLAS_STATUS_SUCCESS {
		return nil, cublasError{op: "create cuBLAS handle", code: r}
	}
	return h, nil
}

// sgemm enqueues the column-major C = op(A)·op(B) of g on the default
// stream, over device addresses a, b and c.
func (h *cublasHandle) sgemm(g program.ColumnMajorGEMM, a, b, c uint64) error {
	r := C.smx_sgemm(h.h, C.int(b2int(g.TransA)), C.int(b2int(g.TransB)), C.int(g.M), C.int(g.N), C.int(g.K),
		C.CUdeviceptr(a), C.int(g.LDA), C.CUdeviceptr(b), C.int(g.LDB), C.CUdeviceptr(c), C.int(g.LDC))
	if r != C.CUBLAS_STATUS_SUCCESS {
		return cublasError{op: "cuBLAS Sgemm", code: r}
	}
	return nil
}

// NVRTC is called through the pointers above rather than through
// gorgonia.org/cu/nvrtc, which links libnvrtc by its soname and has neither
// nvrtcGetCUBIN nor nvrtcGetSupportedArchs (both CUDA 11.2 and later):
// compiling for the GPU's own sm_XY needs them.

// nvrtcError is a failed NVRTC call, with NVRTC's name for the code.
type nvrtcError struct {
	op   string
	code C.nvrtcResult
}

func (e nvrtcError) Error() string {
	return fmt.Sprintf("%s: %s", e.op, C.GoString(C.smx_nvrtc_error(e.code)))
}

func nvrtcCheck(op string, r C.nvrtcResult) error {
	if r != C.NVRTC_SUCCESS {
		return nvrtcError{op: op, code: r}
	}
	return nil
}

// nvrtcVersion is the version of the NVRTC library loaded.
func nvrtcVersion() (major, minor int, err error) {
	if _, err := loadCUDALibraries(nil); err != nil {
		return 0, 0, err
	}
	var maj, min C.int
	err = nvrtcCheck("nvrtcVersion", C.smx_nvrtc_version(&maj, &min))
	return int(maj), int(min), err
}

// nvrtcArchs lists the real architectures NVRTC compiles for, as 10·major
// + minor (75 for sm_75).
func nvrtcArchs() ([]int, error) {
	if _, err := loadCUDALibraries(nil); err != nil {
		return nil, err
	}
	var n C.int
	if err := nvrtcCheck("count supported architectures", C.smx_nvrtc_num_archs(&n)); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	archs := make([]C.int, n)
	if err := nvrtcCheck("list supported architectures", C.smx_nvrtc_archs(&archs[0])); err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i, a := range archs {
		out[i] = int(a)
	}
	return out, nil
}

// nvrtcCompile compiles the CUDA C++ source src (named name in messages)
// for target with the extra options opts, and returns the CUBIN or, for a
// compute_XY target, the PTX text without its terminating NUL. A failed
// compilation's error carries NVRTC's log.
func nvrtcCompile(name, src string, target kernelTarget, opts ...string) (image []byte, err error) {
	if _, err := loadCUDALibraries(nil); err != nil {
		return nil, err
	}
	csrc, cname := C.CString(src), C.CString(name)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cname))
	var prog C.nvrtcProgram
	if err := nvrtcCheck("create program", C.smx_nvrtc_create(&prog, csrc, cname)); err != nil {
		return nil, err
	}
	defer func() {
		if derr := nvrtcCheck("destroy program", C.smx_nvrtc_destroy(&prog)); derr != nil {
			err = errors.Join(err, derr)
			image = nil
		}
	}()

	args := append([]string{"--gpu-architecture=" + target.Arch}, opts...)
	cargs := make([]*C.char, len(args))
	for i, a := range args {
		cargs[i] = C.CString(a)
		defer C.free(unsafe.Pointer(cargs[i]))
	}
	if cerr := nvrtcCheck("compile for "+target.Arch, C.smx_nvrtc_compile(prog, C.int(len(cargs)), &cargs[0])); cerr != nil {
		log, lerr := nvrtcLog(prog)
		if lerr != nil {
			return nil, errors.Join(cerr, lerr)
		}
		return nil, fmt.Errorf("%w: %s", cerr, log)
	}

	var size C.size_t
	if target.CUBIN {
		if err := nvrtcCheck("CUBIN size", C.smx_nvrtc_cubin_size(prog, &size)); err != nil {
			return nil, err
		}
		if size == 0 {
			return nil, errors.New("NVRTC returned an empty CUBIN")
		}
		image = make([]byte, size)
		if err := nvrtcCheck("get CUBIN", C.smx_nvrtc_cubin(prog, (*C.char)(unsafe.Pointer(&image[0])))); err != nil {
			return nil, err
		}
		return image, nil
	}
	if err := nvrtcCheck("PTX size", C.smx_nvrtc_ptx_size(prog, &size)); err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, errors.New("NVRTC returned empty PTX")
	}
	image = make([]byte, size)
	if err := nvrtcCheck("get PTX", C.smx_nvrtc_ptx(prog, (*C.char)(unsafe.Pointer(&image[0])))); err != nil {
		return nil, err
	}
	return trimNUL(image), nil
}

// nvrtcLog is the program's compilation log, without NVRTC's terminating
// NUL and blank lines.
func nvrtcLog(prog C.nvrtcProgram) (string, error) {
	var size C.size_t
	if err := nvrtcCheck("log size", C.smx_nvrtc_log_size(prog, &size)); err != nil {
		return "", err
	}
	if size == 0 {
		return "", nil
	}
	log := make([]byte, size)
	if err := nvrtcCheck("get log", C.smx_nvrtc_log(prog, (*C.char)(unsafe.Pointer(&log[0])))); err != nil {
		return "", err
	}
	// One line: NVRTC's lines joined, so that the error fits the CLI's
	// one-line report.
	var parts []string
	for _, l := range strings.Split(string(trimNUL(log)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; "), nil
}
