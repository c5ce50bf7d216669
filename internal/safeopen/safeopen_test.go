package safeopen

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// within runs f and fails the test if it does not return in 5 s, so that a
// blocking open shows as a failure instead of a hung test run.
func within[T any](t *testing.T, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("still blocked after 5 s")
	}
	panic("unreachable")
}

type result struct {
	f    *os.File
	info fs.FileInfo
	err  error
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := symlink(t, "regular", filepath.Join(dir, "link"))
	dangling := symlink(t, "nowhere", filepath.Join(dir, "dangling"))

	tests := []struct {
		name     string
		path     string
		wantMode fs.FileMode // of a *NotRegularError; 0: none
		wantText string      // in the error
		isErr    error
		unixOnly bool
	}{
		{name: "regular file", path: regular},
		{name: "symlink to a regular file", path: link},
		{name: "missing", path: filepath.Join(dir, "missing"), isErr: fs.ErrNotExist},
		{name: "dangling symlink", path: dangling, isErr: fs.ErrNotExist},
		{name: "directory", path: dir, wantMode: fs.ModeDir, wantText: " is a directory, not a regular file"},
		{name: "FIFO", path: mkfifo(t, dir, "fifo"), wantMode: fs.ModeNamedPipe, wantText: "fifo is a named pipe (FIFO), not a regular file", unixOnly: true},
		{name: "symlink to a FIFO", path: symlink(t, mkfifo(t, dir, "fifo2"), filepath.Join(dir, "b.png")), wantMode: fs.ModeNamedPipe, wantText: "b.png is a named pipe (FIFO)", unixOnly: true},
		{name: "character device", path: "/dev/null", wantMode: fs.ModeCharDevice, wantText: "/dev/null is a character device, not a regular file", unixOnly: true},
		{name: "symlink to /dev/zero", path: symlink(t, "/dev/zero", filepath.Join(dir, "zero")), wantMode: fs.ModeCharDevice, wantText: "zero is a character device", unixOnly: true},
		{name: "socket", path: socket(t, dir), wantMode: fs.ModeSocket, wantText: "is a socket", unixOnly: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unixOnly && runtime.GOOS == "windows" {
				testenv.SkipByDesign(t, "Windows has no FIFOs, devices or sockets")
			}
			r := within(t, func() result {
				f, info, err := Open(tt.path)
				return result{f, info, err}
			})
			if tt.wantMode == 0 && tt.isErr == nil {
				if r.err != nil {
					t.Fatal(r.err)
				}
				defer r.f.Close()
				b, err := io.ReadAll(r.f)
				if err != nil || string(b) != "hello" || r.info.Size() != 5 || !r.info.Mode().IsRegular() {
					t.Errorf("read %q, %v; size %d, mode %v", b, err, r.info.Size(), r.info.Mode())
				}
				checkBlocking(t, r.f)
				return
			}
			if r.err == nil {
				r.f.Close()
				t.Fatal("opened, want an error")
			}
			if r.f != nil || r.info != nil {
				t.Errorf("got a file and info along with error %v", r.err)
			}
			if strings.ContainsAny(r.err.Error(), "\r\n") {
				t.Errorf("error spans lines: %q", r.err)
			}
			if tt.isErr != nil && !errors.Is(r.err, tt.isErr) {
				t.Errorf("errors.Is(%v, %v) = false", r.err, tt.isErr)
			}
			if tt.wantMode != 0 {
				var nr *NotRegularError
				if !errors.As(r.err, &nr) || nr.Mode&tt.wantMode == 0 || nr.Path != tt.path {
					t.Errorf("error %#v, want a *NotRegularError with mode %v for %s", r.err, tt.wantMode, tt.path)
				}
			}
			if !strings.Contains(r.err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", r.err, tt.wantText)
			}
		})
	}
}

func TestReadAll(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		max     int64
		want    string
		isErr   error
		errText string
	}{
		{name: "under the limit", path: p, max: 100, want: "0123456789"},
		{name: "at the limit", path: p, max: 10, want: "0123456789"},
		{name: "over the limit", path: p, max: 9, isErr: ErrTooLarge, errText: "10 bytes, more than the 9 allowed"},
		{name: "missing", path: filepath.Join(dir, "missing"), max: 9, isErr: fs.ErrNotExist},
		{name: "device", path: "/dev/zero", max: 1 << 20, errText: "is a character device"},
		{name: "FIFO", path: mkfifo(t, dir, "fifo"), max: 1 << 20, errText: "is a named pipe (FIFO)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.errText != "" && strings.Contains(tt.errText, "is a") && runtime.GOOS == "windows" {
				testenv.SkipByDesign(t, "Windows has no FIFOs or devices")
			}
			type res struct {
				b   []byte
				err error
			}
			r := within(t, func() res { b, err := ReadAll(tt.path, tt.max); return res{b, err} })
			if tt.isErr == nil && tt.errText == "" {
				if r.err != nil || string(r.b) != tt.want {
					t.Fatalf("got %q, %v; want %q", r.b, r.err, tt.want)
				}
				return
			}
			if r.err == nil {
				t.Fatalf("got %d bytes, want an error", len(r.b))
			}
			if tt.isErr != nil && !errors.Is(r.err, tt.isErr) {
				t.Errorf("errors.Is(%v, %v) = false", r.err, tt.isErr)
			}
			if !strings.Contains(r.err.Error(), tt.errText) {
				t.Errorf("error %q does not contain %q", r.err, tt.errText)
			}
		})
	}
}

func TestDescribeAndPrintable(t *testing.T) {
	if got := (&NotRegularError{Path: "x", Mode: fs.ModeNamedPipe}).Error(); got != "x is a named pipe (FIFO), not a regular file" {
		t.Errorf("got %q", got)
	}
	if got := Printable("a\x1b]0;title\ab"); got != `"a\x1b]0;title\ab"` {
		t.Errorf("Printable escaped to %s", got)
	}
	if got := Printable("my file.png"); got != "my file.png" {
		t.Errorf("Printable changed a plain name to %s", got)
	}
	if got := Printable("a\u202eb"); got != `"a\u202eb"` {
		t.Errorf("Printable kept a bidi override: %s", got)
	}
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot make symbolic links here: %v", err))
	}
	return link
}
