//go:build softmaxctl_cuda

package cuda

/*
#cgo LDFLAGS: -lcuda -Wl,--wrap=cuInit
#include <stddef.h>
#include <cuda.h>

// gorgonia.org/cu calls cuInit in its package init and, when that fails,
// prints to stdout and exits the process before main runs: a CUDA build
// could not even print --help on a machine without a usable GPU. The link
// flag --wrap=cuInit (above; cgo passes it to the final link) sends every
// call to cuInit from outside the driver to __wrap_cuInit, and
// __real_cuInit to the driver's own. The first call, cu's, is answered
// CUDA_SUCCESS whatever the driver said, and the driver's answer is kept
// for driverInitErr; any later call gets the driver's answer. Nothing else
// of cu changes, and nothing calls the driver again before driverInitErr
// has been checked.
CUresult __real_cuInit(unsigned int flags);

static int softmaxctl_init_calls;
static CUresult softmaxctl_init_result;

CUresult __wrap_cuInit(unsigned int flags) {
	CUresult r = __real_cuInit(flags);
	if (softmaxctl_init_calls++ > 0) {
		return r;
	}
	softmaxctl_init_result = r;
	return CUDA_SUCCESS;
}

static int softmaxctl_init_state(CUresult *r) {
	*r = softmaxctl_init_result;
	return softmaxctl_init_calls;
}

// The driver's name and words for an error code; NULL when it has none.
static const char *softmaxctl_error_name(CUresult e) {
	const char *s = NULL;
	return cuGetErrorName(e, &s) == CUDA_SUCCESS ? s : NULL;
}

static const char *softmaxctl_error_string(CUresult e) {
	const char *s = NULL;
	return cuGetErrorString(e, &s) == CUDA_SUCCESS ? s : NULL;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"reflect"

	"gorgonia.org/cu"
)

// cudaHeaderVersion is the CUDA_VERSION of the headers this binary was
// compiled against, e.g. 11080 for 11.8.
const cudaHeaderVersion = int(C.CUDA_VERSION)

// driverError is a failed CUDA driver call, told in the driver's words:
// "no CUDA-capable device is detected (CUDA_ERROR_NO_DEVICE)".
type driverError struct {
	code int
}

func (e driverError) Error() string {
	code := C.CUresult(e.code)
	name, words := C.softmaxctl_error_name(code), C.softmaxctl_error_string(code)
	switch {
	case name != nil && words != nil:
		return fmt.Sprintf("%s (%s)", C.GoString(words), C.GoString(name))
	case name != nil:
		return C.GoString(name)
	}
	return fmt.Sprintf("CUDA driver error %d", e.code)
}

// cuErrorType is gorgonia.org/cu's error type: an unexported int holding
// the driver's code.
var cuErrorType = reflect.TypeOf(cu.NoDevice)

// fromCU turns an error of gorgonia.org/cu, which names the code in cu's
// own spelling ("NoDevice"), into a driverError, which says it in the
// driver's words. Other errors pass unchanged.
func fromCU(err error) error {
	if err != nil && reflect.TypeOf(err) == cuErrorType {
		return driverError{code: int(reflect.ValueOf(err).Int())}
	}
	return err
}

// driverInitErr is the driver's answer to cu's cuInit at start-up.
func driverInitErr() error {
	var r C.CUresult
	if C.softmaxctl_init_state(&r) == 0 {
		// --wrap=cuInit is in this file's link flags, and cu's init runs
		// before this package's code: only a broken link gets here.
		return errors.New("the CUDA driver was never initialised (the binary was linked without --wrap=cuInit)")
	}
	if r != C.CUDA_SUCCESS {
		return driverError{code: int(r)}
	}
	return nil
}

// driverVersion is the CUDA version the driver supports, as
// cuDriverGetVersion reports it (13000 for 13.0); the driver answers it
// without a GPU.
func driverVersion() (int, error) {
	var v C.int
	if r := C.cuDriverGetVersion(&v); r != C.CUDA_SUCCESS {
		return 0, driverError{code: int(r)}
	}
	return int(v), nil
}
