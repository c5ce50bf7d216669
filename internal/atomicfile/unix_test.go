//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/safeopen"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// withUmask runs f with the process umask set to mask. Tests in this
// package do not run in parallel, so nothing else sees it.
func withUmask(t *testing.T, mask int, f func()) {
	t.Helper()
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	f()
}

func TestModes(t *testing.T) {
	tests := []struct {
		name  string
		umask int
		old   fs.FileMode // mode of an existing file; 0: none
		want  fs.FileMode
	}{
		{"new file, umask 022", 0o022, 0, 0o644},
		{"new file, umask 027", 0o027, 0, 0o640},
		{"new file, umask 002", 0o002, 0, 0o664},
		{"replaced private file", 0o022, 0o600, 0o600},
		{"replaced executable", 0o022, 0o755, 0o755},
		{"replaced group-writable file, strict umask", 0o077, 0o664, 0o664},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "out.png")
			if tt.old != 0 {
				writeFile(t, p, "old", tt.old)
			}
			withUmask(t, tt.umask, func() {
				f, err := Create(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Abort()
				// The temporary file has its final mode before any data
				// goes in, so private content is never exposed.
				if info, err := os.Stat(f.tmp); err != nil || info.Mode().Perm() != tt.want {
					t.Errorf("temporary file mode %v, %v; want %v", info.Mode().Perm(), err, tt.want)
				}
				io.WriteString(f, "new")
				if err := f.Commit(); err != nil {
					t.Fatal(err)
				}
			})
			info, err := os.Stat(p)
			if err != nil || info.Mode().Perm() != tt.want {
				t.Errorf("mode %v, %v; want %v", info.Mode().Perm(), err, tt.want)
			}
		})
	}
}

// TestKeepsOwner checks that, as root, a replaced file keeps its owner.
func TestKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "only root can give a file to another user: run as root")
	}
	p := writeFile(t, filepath.Join(t.TempDir(), "m.bin"), "old", 0o644)
	if err := os.Chown(p, 12345, 23456); err != nil {
		testenv.Skip(t, fmt.Sprintf("chown: %v", err))
	}
	if err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(p)
	if st := info.Sys().(*syscall.Stat_t); st.Uid != 12345 || st.Gid != 23456 {
		t.Errorf("owner %d:%d, want 12345:23456", st.Uid, st.Gid)
	}
}

// TestRefusesSpecialFiles checks that an existing destination that is not
// a regular file is refused by Check, Create and Write, and left as it was.
// /dev/null is only passed to Check, which writes nothing, so that a bug
// cannot destroy the test machine's /dev/null.
func TestRefusesSpecialFiles(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string
		mode    fs.FileMode
		wantErr string
		onlyChk bool
	}{
		{"FIFO", func(t *testing.T, d string) string { return mkfifo(t, filepath.Join(d, "out.png")) },
			fs.ModeNamedPipe, "{dir}/out.png is a named pipe (FIFO), not a regular file: give the path of a regular file to write", false},
		{"link to a FIFO", func(t *testing.T, d string) string {
			mkfifo(t, filepath.Join(d, "fifo"))
			return symlink(t, "fifo", filepath.Join(d, "out.png"))
		}, fs.ModeNamedPipe, "{dir}/out.png leads to {dir}/fifo, which is a named pipe (FIFO)", false},
		{"socket", func(t *testing.T, d string) string {
			p := filepath.Join(d, "s")
			l, err := net.Listen("unix", p)
			if err != nil {
				testenv.Skip(t, fmt.Sprintf("no unix socket: %v", err))
			}
			t.Cleanup(func() { l.Close() })
			return p
		}, fs.ModeSocket, "is a socket, not a regular file", false},
		{"link to /dev/null", func(t *testing.T, d string) string { return symlink(t, "/dev/null", filepath.Join(d, "out.png")) },
			fs.ModeCharDevice, "out.png leads to /dev/null, which is a character device, not a regular file", false},
		{"/dev/null", func(t *testing.T, d string) string { return "/dev/null" },
			fs.ModeCharDevice, "/dev/null is a character device, not a regular file", true},
		// What /dev/stdout is under a pipe (| head): a link to the
		// descriptor, made here for a pipe of the test's own, since the
		// test's stdout may be a file.
		{"/dev/fd/N of a pipe", func(t *testing.T, d string) string {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close(); w.Close() })
			return fmt.Sprintf("/dev/fd/%d", w.Fd())
		}, fs.ModeNamedPipe, " is a named pipe (FIFO), not a regular file", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			if _, err := os.Lstat(path); err != nil {
				testenv.Skip(t, err.Error())
			}
			want := strings.ReplaceAll(tt.wantErr, "{dir}", dir)
			before := lstat(t, path)
			done := make(chan struct{})
			go func() {
				defer close(done)
				check := func(what string, err error) {
					checkOneLine(t, err, want)
					var nr *safeopen.NotRegularError
					if !errors.As(err, &nr) || (tt.mode != 0 && nr.Mode&tt.mode == 0) {
						t.Errorf("%s: error %#v, want a *safeopen.NotRegularError of mode %v", what, err, tt.mode)
					}
				}
				check("Check", Check(path))
				if tt.onlyChk {
					return
				}
				f, err := Create(path)
				if err == nil {
					f.Abort()
				}
				check("Create", err)
				check("Write", Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }))
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("blocked for 5 s")
			}
			if after := lstat(t, path); after != before {
				t.Errorf("%s changed from %v to %v", path, before, after)
			}
			if es := entries(t, dir); len(es) > 2 {
				t.Errorf("folder holds %v", es)
			}
		})
	}
}

func lstat(t *testing.T, p string) fs.FileMode {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode()
}

func mkfifo(t *testing.T, p string) string {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRemovesStaleTemps checks that Create removes the temporary files of
// killed writers of the same destination, and nothing else.
func TestRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	dead := strconv.Itoa(testenv.DeadPID(t))
	live := strconv.Itoa(os.Getppid())
	self := strconv.Itoa(os.Getpid())
	hour := -2 * time.Hour
	files := []struct {
		name   string
		age    time.Duration // how far to set the mtime back
		dir    bool
		remove bool
	}{
		{".m.safetensors.tmp-" + dead + "-0123456789ab", 0, false, true},
		{".m.safetensors.tmp-123456789", hour, false, true}, // an earlier version's, old
		{".m.safetensors.tmp-" + live + "-0123456789ab", hour, false, false},
		{".m.safetensors.tmp-" + self + "-0123456789ab", 0, false, false},
		{".m.safetensors.tmp-987654321", 0, false, false}, // an earlier version's, recent
		{".m.safetensors.tmp-" + dead + "-0123456789abc", 0, false, false},
		{".m.safetensors.tmp-" + dead + "-0123456789AB", 0, false, false},
		{"m.safetensors.tmp-" + dead + "-0123456789ab", 0, false, false},
		{".other.tmp-" + dead + "-0123456789ab", 0, false, false},
		{".m.safetensors.tmp-" + dead + "-ba9876543210", 0, true, false},
		{".m.safetensors.tmp-0-0123456789ab", 0, false, false},
		{"m.safetensors", 0, false, false},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if f.dir {
			os.Mkdir(p, 0o755)
		} else {
			writeFile(t, p, "x", 0o644)
		}
		if f.age != 0 {
			when := time.Now().Add(f.age)
			os.Chtimes(p, when, when)
		}
	}
	f, err := Create(filepath.Join(dir, "m.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	f.Abort()
	for _, f := range files {
		_, err := os.Lstat(filepath.Join(dir, f.name))
		if gone := errors.Is(err, fs.ErrNotExist); gone != f.remove {
			t.Errorf("%s: removed %v, want %v", f.name, gone, f.remove)
		}
	}
}

// TestCheckPermissions checks the probe of a folder the user cannot write.
// Root can write in any folder: as root it runs as uid 65534.
func TestCheckPermissions(t *testing.T) {
	if !testenv.Unprivileged(t) {
		return
	}
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o555)
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	checkOneLine(t, Check(filepath.Join(ro, "m.png")), "cannot write "+ro+"/m.png: no permission to create files in "+ro)
}
