package cuda

import (
	"bytes"
	"fmt"
	"slices"
)

// This file chooses what NVRTC compiles the kernels to. It is plain Go,
// so that every build tests it; the CUDA executor calls it with the GPU's
// compute capability and the architectures its NVRTC reports.

// A kernelTarget is NVRTC's --gpu-architecture for one GPU.
type kernelTarget struct {
	// Arch is sm_XY (a CUBIN for the GPU itself: the driver loads it as
	// is) or compute_XY (PTX, which the driver compiles when it loads it).
	Arch string
	// CUBIN is true for sm_XY: the output is read with nvrtcGetCUBIN.
	CUBIN bool
}

// chooseKernelTarget picks the target for a GPU of compute capability
// major.minor, given the real architectures NVRTC supports (as
// nvrtcGetSupportedArchs lists them: 75 for sm_75). The GPU's own sm_XY when
// NVRTC knows it, so nothing is compiled at load time and no list of
// fallbacks is needed; otherwise PTX for the newest architecture NVRTC
// knows that the GPU can run (PTX for compute_XY runs on compute capability
// X.Y and later), which covers a GPU newer than the NVRTC. A GPU older than
// every architecture NVRTC knows is an error that says so.
func chooseKernelTarget(major, minor int, supported []int) (kernelTarget, error) {
	if major < 1 || minor < 0 || minor > 9 {
		return kernelTarget{}, fmt.Errorf("GPU reports compute capability %d.%d", major, minor)
	}
	if len(supported) == 0 {
		return kernelTarget{}, fmt.Errorf("NVRTC lists no GPU architectures")
	}
	cc := 10*major + minor
	if slices.Contains(supported, cc) {
		return kernelTarget{Arch: fmt.Sprintf("sm_%d", cc), CUBIN: true}, nil
	}
	best := -1
	for _, a := range supported {
		if a <= cc && a > best {
			best = a
		}
	}
	if best < 0 {
		return kernelTarget{}, fmt.Errorf("GPU of compute capability %d.%d is older than every architecture this NVRTC compiles for (%d.%d and newer)",
			major, minor, slices.Min(supported)/10, slices.Min(supported)%10)
	}
	return kernelTarget{Arch: fmt.Sprintf("compute_%d", best)}, nil
}

// trimNUL drops the terminating NUL that NVRTC counts in the size of its
// log and its PTX: kept, it ends an error message with an invisible byte
// and makes a PTX string one byte longer than its text.
func trimNUL(b []byte) []byte {
	return bytes.TrimRight(b, "\x00")
}
