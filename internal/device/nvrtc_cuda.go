//go:build softmaxctl_cuda

package device

/*
#cgo LDFLAGS: -lnvrtc
#include <stdlib.h>
#include <nvrtc.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// NVRTC is called directly rather than through gorgonia.org/cu/nvrtc,
// which has neither nvrtcGetCUBIN nor nvrtcGetSupportedArchs (both CUDA
// 11.2 and later): compiling for the GPU's own sm_XY needs them.

// nvrtcError is a failed NVRTC call, with NVRTC's name for the code.
type nvrtcError struct {
	op   string
	code C.nvrtcResult
}

func (e nvrtcError) Error() string {
	return fmt.Sprintf("%s: %s", e.op, C.GoString(C.nvrtcGetErrorString(e.code)))
}

func nvrtcCheck(op string, r C.nvrtcResult) error {
	if r != C.NVRTC_SUCCESS {
		return nvrtcError{op: op, code: r}
	}
	return nil
}

// nvrtcVersion is the version of the NVRTC library loaded.
func nvrtcVersion() (major, minor int, err error) {
	var maj, min C.int
	err = nvrtcCheck("nvrtcVersion", C.nvrtcVersion(&maj, &min))
	return int(maj), int(min), err
}

// nvrtcArchs lists the real architectures NVRTC compiles for, as 10·major
// + minor (75 for sm_75).
func nvrtcArchs() ([]int, error) {
	var n C.int
	if err := nvrtcCheck("count supported architectures", C.nvrtcGetNumSupportedArchs(&n)); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	archs := make([]C.int, n)
	if err := nvrtcCheck("list supported architectures", C.nvrtcGetSupportedArchs(&archs[0])); err != nil {
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
	csrc, cname := C.CString(src), C.CString(name)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cname))
	var prog C.nvrtcProgram
	if err := nvrtcCheck("create program", C.nvrtcCreateProgram(&prog, csrc, cname, 0, nil, nil)); err != nil {
		return nil, err
	}
	defer func() {
		if derr := nvrtcCheck("destroy program", C.nvrtcDestroyProgram(&prog)); derr != nil {
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
	if cerr := nvrtcCheck("compile for "+target.Arch, C.nvrtcCompileProgram(prog, C.int(len(cargs)), &cargs[0])); cerr != nil {
		log, lerr := nvrtcLog(prog)
		if lerr != nil {
			return nil, errors.Join(cerr, lerr)
		}
		return nil, fmt.Errorf("%w: %s", cerr, log)
	}

	var size C.size_t
	if target.CUBIN {
		if err := nvrtcCheck("CUBIN size", C.nvrtcGetCUBINSize(prog, &size)); err != nil {
			return nil, err
		}
		if size == 0 {
			return nil, errors.New("NVRTC returned an empty CUBIN")
		}
		image = make([]byte, size)
		if err := nvrtcCheck("get CUBIN", C.nvrtcGetCUBIN(prog, (*C.char)(unsafe.Pointer(&image[0])))); err != nil {
			return nil, err
		}
		return image, nil
	}
	if err := nvrtcCheck("PTX size", C.nvrtcGetPTXSize(prog, &size)); err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, errors.New("NVRTC returned empty PTX")
	}
	image = make([]byte, size)
	if err := nvrtcCheck("get PTX", C.nvrtcGetPTX(prog, (*C.char)(unsafe.Pointer(&image[0])))); err != nil {
		return nil, err
	}
	return trimNUL(image), nil
}

// nvrtcLog is the program's compilation log, without NVRTC's terminating
// NUL and surrounding blank lines.
func nvrtcLog(prog C.nvrtcProgram) (string, error) {
	var size C.size_t
	if err := nvrtcCheck("log size", C.nvrtcGetProgramLogSize(prog, &size)); err != nil {
		return "", err
	}
	if size == 0 {
		return "", nil
	}
	log := make([]byte, size)
	if err := nvrtcCheck("get log", C.nvrtcGetProgramLog(prog, (*C.char)(unsafe.Pointer(&log[0])))); err != nil {
		return "", err
	}
	return strings.TrimSpace(string(trimNUL(log))), nil
}
