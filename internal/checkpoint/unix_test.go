//go:build unix

package checkpoint

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

// TestLoadSpecialFiles checks that a model path naming a FIFO or a device
// fails at once with one line, instead of blocking in open (a FIFO without
// a writer) or reading for ever (/dev/zero). Each Load runs under a 5 s
// deadline so that a hang fails the test instead of hanging the run.
func TestLoadSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.safetensors")
	if err := syscall.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"FIFO", fifo, "model file " + fifo + " is a named pipe (FIFO), not a regular file: pass the path of a .safetensors file"},
		{"link to /dev/zero", zero, "model file " + zero + " is a character device, not a regular file: pass the path of a .safetensors file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Load(tt.path); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Load blocked for 5 s")
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Load() error =\n%v\nwant\n%s", err, tt.want)
			}
			var nr *safeopen.NotRegularError
			if !errors.As(err, &nr) {
				t.Errorf("error does not wrap a *safeopen.NotRegularError")
			}
		})
	}
}
