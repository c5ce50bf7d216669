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
			// "without CUDA", or the CUDA build's GPU (or why none is usable).
			_, err := fmt.Fprintf(ios.Out, "softmaxctl %s (%s, %s/%s, %s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, device.Info())
			return err
		},
	}
}
