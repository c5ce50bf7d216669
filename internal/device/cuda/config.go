package cuda

import (
	"path/filepath"
	"runtime"
	"slices"
)

// Config is how the command line configures this package: LibraryDirs
// are the folders searched for cuBLAS and NVRTC after the loader's own
// path (LD_LIBRARY_PATH, the ld.so cache). The first call that opens the
// libraries decides for the process, as they stay open.
type Config struct {
	LibraryDirs []string
}

// LibraryDirs returns the folders where a CUDA toolkit keeps its
// libraries, for one installed but not on the loader's path: those of
// CUDA_HOME and CUDA_PATH (read through getenv, which the caller passes:
// os.Getenv), then /usr/local/cuda's.
func LibraryDirs(getenv func(string) string) []string {
	target := map[string]string{"amd64": "x86_64-linux", "arm64": "sbsa-linux"}[runtime.GOARCH]
	var dirs []string
	for _, home := range []string{getenv("CUDA_HOME"), getenv("CUDA_PATH"), "/usr/local/cuda"} {
		if home == "" {
			continue
		}
		cands := []string{filepath.Join(home, "lib64")}
		if target != "" {
			cands = append(cands, filepath.Join(home, "targets", target, "lib"))
		}
		for _, d := range cands {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}
