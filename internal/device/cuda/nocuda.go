//go:build !softmaxctl_cuda

package cuda

import (
	"errors"

	"github.com/softmaxctl/softmaxctl/internal/device/program"
)

// Supported reports whether this binary was built with CUDA support.
const Supported = false

// errNotBuilt is why this build cannot use a GPU.
var errNotBuilt = errors.New("this softmaxctl was built without CUDA support")

// Usable says why CUDA cannot be used: this build has no CUDA code.
func Usable(Config) error { return errNotBuilt }

// Info is this build's answer to device.Info.
func Info(Config) string { return "without CUDA" }

// Warm has nothing to prepare in this build.
func Warm(Config) {}

// InUse is empty: this build never picks a GPU.
func InUse(Config) string { return "" }

// NewExecutor fails: this build has no CUDA code.
func NewExecutor(Config, *program.Program) (program.Executor, error) { return nil, errNotBuilt }
