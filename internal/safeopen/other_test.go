//go:build !unix

package safeopen

import (
	"os"
	"path/filepath"
	"testing"
)

// There are no FIFOs or sockets to make here; the tests that use them skip.
func mkfifo(t *testing.T, dir, name string) string { return filepath.Join(dir, name) }
func socket(t *testing.T, dir string) string       { return filepath.Join(dir, "sock") }
func checkBlocking(t *testing.T, f *os.File)       {}
