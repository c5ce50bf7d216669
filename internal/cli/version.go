package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/device"
)

// NewCmdVersion builds `softmaxctl version`.
func NewCmdVersion(ios *IO) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version and build of softmaxctl",
		Example: "  softmaxctl version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(ios.Out, versionLine())
			return err
		},
	}
}

// versionLine is what both `softmaxctl version` and `softmaxctl --version`
// print: the version, the Go toolchain and platform, and "without CUDA" or
// the CUDA build's GPU (or why none is usable).
func versionLine() string {
	return fmt.Sprintf("softmaxctl %s (%s, %s/%s, %s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, device.Info())
}
