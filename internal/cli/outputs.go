package cli

import (
	"os"
	"path/filepath"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
)

// output is a file a command will write, with the flag that named it.
type output struct{ flag, path string }

// checkOutputs runs before any work is done, so that a bad output path
// fails at once instead of after a whole training run: every output can be
// written where it is named (the folder exists and is writable, the path is
// not a folder or a device), no two outputs are the same file, and none is
// one of the files the command reads. Empty paths are skipped.
func checkOutputs(outs []output, inputs ...string) error {
	for i, o := range outs {
		if o.path == "" {
			continue
		}
		if err := atomicfile.Check(o.path); err != nil {
			return usagef("%s %s: %w", o.flag, o.path, err)
		}
		for _, in := range inputs {
			if in != "" && samePath(o.path, in) {
				return usagef("%s %s is the input file %s: writing it would destroy what the command reads; choose another name", o.flag, o.path, in)
			}
		}
		for _, p := range outs[:i] {
			if p.path != "" && samePath(o.path, p.path) {
				return usagef("%s and %s both name %s: give each its own file", p.flag, o.flag, o.path)
			}
		}
	}
	return nil
}

// samePath reports whether a and b name the same file: the same inode when
// both exist, else the same absolute path once the folders' links are
// resolved.
func samePath(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	return canonical(a) == canonical(b)
}

// canonical is path made absolute, with the links in its folder resolved.
func canonical(path string) string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	if d, err := filepath.Abs(dir); err == nil {
		dir = d
	}
	return filepath.Join(dir, base)
}
