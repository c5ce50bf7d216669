package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/safeopen"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func checkOneLine(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one with %q", want)
	}
	if !strings.Contains(err.Error(), want) || strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("err = %q, want one line with %q", err, want)
	}
}

func writeFile(t *testing.T, path, content string, mode fs.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is subject to the umask
		t.Fatal(err)
	}
	return path
}

func TestWrite(t *testing.T) {
	writeHello := func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }
	failing := func(w io.Writer) error {
		io.WriteString(w, "partial")
		return errors.New("boom")
	}
	tests := []struct {
		name    string
		setup   func(dir string) string // returns the path to write
		write   func(io.Writer) error
		inject  bool
		wantErr string
		want    string // content at path afterwards ("" = absent)
	}{
		{"new file", func(d string) string { return filepath.Join(d, "a.png") }, writeHello, false, "", "hello"},
		{"replace", func(d string) string {
			p := filepath.Join(d, "a.png")
			os.WriteFile(p, []byte("old"), 0o644)
			return p
		}, writeHello, false, "", "hello"},
		{"writer fails, old kept", func(d string) string {
			p := filepath.Join(d, "a.png")
			os.WriteFile(p, []byte("old"), 0o644)
			return p
		}, failing, false, "a.png: boom", "old"},
		{"rename fails", func(d string) string { return filepath.Join(d, "a.png") }, writeHello, true, "rename in", ""},
		{"missing folder", func(d string) string { return filepath.Join(d, "no", "a.png") }, writeHello, false, "does not exist: create it first (mkdir -p", ""},
		{"is a directory", func(d string) string { return d }, writeHello, false, "is a directory: give the path of a file", ""},
		{"trailing separator", func(d string) string { return filepath.Join(d, "new") + string(filepath.Separator) }, writeHello, false, "is a directory", ""},
		{"parent is a file", func(d string) string {
			p := filepath.Join(d, "file")
			os.WriteFile(p, nil, 0o644)
			return filepath.Join(p, "a.png")
		}, writeHello, false, "is not a directory; give a path in an existing folder", ""},
		{"no name", func(d string) string { return "" }, writeHello, false, "no file name given: give the path of a file to write", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(dir)
			if tt.inject {
				rename = func(string, string) error { return &os.LinkError{Op: "rename", Err: errors.New("injected")} }
				t.Cleanup(func() { rename = os.Rename })
			}
			before := entries(t, dir)
			err := Write(path, tt.write)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				checkOneLine(t, err, tt.wantErr)
				if got := entries(t, dir); strings.Join(got, ",") != strings.Join(before, ",") {
					t.Errorf("folder changed from %v to %v", before, got)
				}
			}
			if tt.want != "" {
				b, err := os.ReadFile(path)
				if err != nil || string(b) != tt.want {
					t.Errorf("content %q, %v; want %q", b, err, tt.want)
				}
			}
		})
	}
}

// TestStreaming checks the Create, Write, Commit and Abort life cycle.
func TestStreaming(t *testing.T) {
	t.Run("commit", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, filepath.Join(dir, "m.bin"), "old", 0o644)
		f, err := Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Abort()
		io.WriteString(f, "new ")
		io.WriteString(f, "content")
		// Until Commit, readers see the old file and one temporary file
		// named with our pid.
		if b, _ := os.ReadFile(p); string(b) != "old" {
			t.Errorf("before Commit the file holds %q", b)
		}
		es := entries(t, dir)
		tmpRE := regexp.MustCompile(`^\.m\.bin\.tmp-` + strconv.Itoa(os.Getpid()) + `-[0-9a-f]{12}$`)
		if len(es) != 2 || !tmpRE.MatchString(es[0]) {
			t.Errorf("folder holds %v, want m.bin and one temporary file matching %s", es, tmpRE)
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		f.Abort() // no-op after Commit
		f.Abort()
		if b, _ := os.ReadFile(p); string(b) != "new content" {
			t.Errorf("after Commit the file holds %q", b)
		}
		if es := entries(t, dir); len(es) != 1 {
			t.Errorf("folder holds %v after Commit", es)
		}
		if err := f.Commit(); err == nil {
			t.Error("second Commit succeeded")
		}
	})
	t.Run("abort", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, filepath.Join(dir, "m.bin"), "old", 0o644)
		f, err := Create(p)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(f, "new")
		f.Abort()
		f.Abort() // safe twice
		if b, _ := os.ReadFile(p); string(b) != "old" {
			t.Errorf("after Abort the file holds %q", b)
		}
		if es := entries(t, dir); len(es) != 1 {
			t.Errorf("folder holds %v after Abort", es)
		}
		if _, err := f.Write([]byte("x")); err == nil {
			t.Error("Write after Abort succeeded")
		}
		if err := f.Commit(); err == nil {
			t.Error("Commit after Abort succeeded")
		}
		if es := entries(t, dir); len(es) != 1 {
			t.Errorf("folder holds %v after Commit following Abort", es)
		}
	})
}

// failWriter fails every write with err, as a full disk would.
type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: "/tmp/.x.tmp-1-000000000000", Err: w.err}
}

// TestWriteErrors checks that a failing disk gives a typed, one-line error
// that says what to do, that it sticks, and that Commit then cleans up.
func TestWriteErrors(t *testing.T) {
	tests := []struct {
		cause error
		want  string
	}{
		{syscall.ENOSPC, "no space left on device writing m.bin in {dir}: free some space or choose another location"},
		{syscall.EDQUOT, "disk quota exceeded writing m.bin in {dir}"},
		{syscall.EROFS, "cannot write {dir}/m.bin: {dir} is on a read-only file system; choose another location"},
		{syscall.EACCES, "cannot write {dir}/m.bin: no permission to create files in {dir}"},
		{syscall.EIO, "cannot write {dir}/m.bin (write in {dir} failed: input/output error); check free disk space and permissions"},
	}
	for _, tt := range tests {
		t.Run(tt.cause.Error(), func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, filepath.Join(dir, "m.bin"), "old", 0o644)
			f, err := Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Abort()
			f.w = failWriter{tt.cause}
			_, err = f.Write([]byte("data"))
			want := strings.ReplaceAll(tt.want, "{dir}", dir)
			checkOneLine(t, err, want)
			var fe *Error
			if !errors.As(err, &fe) || fe.Op != "write" || fe.Path != p || !errors.Is(err, tt.cause) {
				t.Errorf("error %#v: want an *Error for write of %s wrapping %v", err, p, tt.cause)
			}
			if _, again := f.Write([]byte("more")); again != err {
				t.Errorf("second Write gave %v, want the first error", again)
			}
			if cerr := f.Commit(); cerr != err {
				t.Errorf("Commit gave %v, want the write error", cerr)
			}
			if b, _ := os.ReadFile(p); string(b) != "old" {
				t.Errorf("the file holds %q after a failed write", b)
			}
			if es := entries(t, dir); len(es) != 1 {
				t.Errorf("folder holds %v after a failed write", es)
			}
		})
	}
}

// TestSymlinks checks that a link stays a link and its final target is
// replaced, through chains and relative links.
func TestSymlinks(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) (path, target string)
		wantErr string
	}{
		{"link to a file", func(t *testing.T, d string) (string, string) {
			writeFile(t, filepath.Join(d, "real"), "old", 0o644)
			return symlink(t, "real", filepath.Join(d, "link")), filepath.Join(d, "real")
		}, ""},
		{"absolute link", func(t *testing.T, d string) (string, string) {
			writeFile(t, filepath.Join(d, "real"), "old", 0o644)
			return symlink(t, filepath.Join(d, "real"), filepath.Join(d, "link")), filepath.Join(d, "real")
		}, ""},
		{"chain of relative links across folders", func(t *testing.T, d string) (string, string) {
			os.MkdirAll(filepath.Join(d, "a"), 0o755)
			os.MkdirAll(filepath.Join(d, "b"), 0o755)
			writeFile(t, filepath.Join(d, "b", "real"), "old", 0o644)
			symlink(t, "../b/real", filepath.Join(d, "a", "mid"))
			return symlink(t, "a/mid", filepath.Join(d, "link")), filepath.Join(d, "b", "real")
		}, ""},
		{"dangling link into an existing folder", func(t *testing.T, d string) (string, string) {
			return symlink(t, "new", filepath.Join(d, "link")), filepath.Join(d, "new")
		}, ""},
		{"dangling link into a missing folder", func(t *testing.T, d string) (string, string) {
			return symlink(t, "nodir/new", filepath.Join(d, "link")), ""
		}, "does not exist"},
		{"loop", func(t *testing.T, d string) (string, string) {
			symlink(t, "b", filepath.Join(d, "a"))
			return symlink(t, "a", filepath.Join(d, "b")), ""
		}, "too many levels of symbolic links"},
		{"link to a directory", func(t *testing.T, d string) (string, string) {
			os.Mkdir(filepath.Join(d, "sub"), 0o755)
			return symlink(t, "sub", filepath.Join(d, "link")), ""
		}, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, target := tt.setup(t, dir)
			linkTo, _ := os.Readlink(path)
			err := Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err })
			if tt.wantErr != "" {
				checkOneLine(t, err, tt.wantErr)
				if cerr := Check(path); cerr == nil || !strings.Contains(cerr.Error(), tt.wantErr) {
					t.Errorf("Check gave %v, want an error with %q", cerr, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if err := Check(path); err != nil {
					t.Errorf("Check after Write: %v", err)
				}
				if b, err := os.ReadFile(target); string(b) != "new" {
					t.Errorf("target holds %q, %v; want %q", b, err, "new")
				}
			}
			if now, err := os.Readlink(path); err != nil || now != linkTo {
				t.Errorf("the link now reads %q, %v; want it kept as a link to %q", now, err, linkTo)
			}
		})
	}
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot make symbolic links here: %v", err))
	}
	return link
}

// TestCheck covers the pre-flight test of output paths: it must find what
// Write would fail on, and leave no file behind.
func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string
		wantErr string
	}{
		{"new file", func(t *testing.T, d string) string { return filepath.Join(d, "m.safetensors") }, ""},
		{"existing file", func(t *testing.T, d string) string {
			return writeFile(t, filepath.Join(d, "m.safetensors"), "keep", 0o644)
		}, ""},
		{"relative name in the working folder", func(t *testing.T, d string) string { t.Chdir(d); return "m.safetensors" }, ""},
		{"missing folder", func(t *testing.T, d string) string { return filepath.Join(d, "nodir", "m.safetensors") },
			"cannot write {dir}/nodir/m.safetensors: folder {dir}/nodir does not exist: create it first (mkdir -p {dir}/nodir)"},
		{"a directory", func(t *testing.T, d string) string { return d }, "{dir} is a directory: give the path of a file to write"},
		{"empty", func(t *testing.T, d string) string { return "" }, "no file name given: give the path of a file to write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := entries(t, dir)
			err := Check(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				checkOneLine(t, err, strings.ReplaceAll(tt.wantErr, "{dir}", dir))
				var fe *Error
				if !errors.As(err, &fe) {
					t.Errorf("error is a %T, want *Error", err)
				}
			}
			if after := entries(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("Check changed the folder from %v to %v", before, after)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "m.safetensors")); err == nil && string(b) != "keep" {
				t.Errorf("Check changed the file to %q", b)
			}
		})
	}
}

// TestErrorTypes checks that a refused destination is told apart with
// errors.As.
func TestErrorTypes(t *testing.T) {
	dir := t.TempDir()
	err := Check(dir)
	var nr *safeopen.NotRegularError
	if !errors.As(err, &nr) || !nr.Mode.IsDir() {
		t.Errorf("Check(dir) = %#v, want a *safeopen.NotRegularError for a directory", err)
	}
}
