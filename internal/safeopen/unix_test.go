//go:build unix

package safeopen

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
	"golang.org/x/sys/unix"
)

func mkfifo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func socket(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		testenv.Skip(t, fmt.Sprintf("no unix socket: %v", err))
	}
	t.Cleanup(func() { l.Close() })
	return p
}

// checkBlocking fails if f still has O_NONBLOCK set. It reads the flags
// through SyscallConn, as f.Fd() would itself change them.
func checkBlocking(t *testing.T, f *os.File) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	if err := rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil || ferr != nil {
		t.Fatal(err, ferr)
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Error("O_NONBLOCK is still set")
	}
}
