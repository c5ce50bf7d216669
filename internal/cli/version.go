package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

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

// Commit is the commit the binary was built from, set at link time by
// make build (-X github.com/softmaxctl/softmaxctl/internal/cli.Commit=...);
// when empty, the commit the go command recorded, if any, is shown.
var Commit = ""

// versionLine is what both `softmaxctl version` and `softmaxctl --version`
// print: the version, the commit it was built from when the go command
// recorded one, the Go toolchain and platform, and "without CUDA" or the
// CUDA build's GPU (or why none is usable).
func versionLine() string {
	commit := Commit
	if commit == "" {
		bi, _ := debug.ReadBuildInfo()
		commit = commitOf(bi)
	}
	return versionText(Version, commit, device.NewHost(os.Getenv).Info())
}

// versionText lays out the version line; commit may be empty.
func versionText(version, commit, dev string) string {
	build := fmt.Sprintf("%s, %s/%s, %s", runtime.Version(), runtime.GOOS, runtime.GOARCH, dev)
	if commit != "" {
		build = "commit " + commit + ", " + build
	}
	return fmt.Sprintf("softmaxctl %s (%s)", version, build)
}

// commitOf returns the commit that go build recorded in bi (its first 12
// hex digits, as Go's pseudo-versions give it), with "-dirty" when the
// working tree had changes; "" when none was recorded (go run, go test,
// a build outside a git checkout). The version itself stays the release's
// name: a commit is not a version.
func commitOf(bi *debug.BuildInfo) string {
	if bi == nil {
		return ""
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	rev = rev[:min(len(rev), 12)]
	if dirty {
		rev += "-dirty"
	}
	return rev
}
