//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// nobody is the uid that the tests of shared folders give to another
// user's files.
const nobody = 65534

// TestProtectedRule checks the protected_symlinks rule on owners given as
// numbers, so that every case runs whoever runs the test; the test below
// checks on real files that Check, Write and Acquire obey it.
func TestProtectedRule(t *testing.T) {
	const (
		shared = fs.ModeSticky | 0o777
		me     = 1000
		owner  = 2000 // the folder's owner
		other  = nobody
	)
	for _, tt := range []struct {
		name           string
		mode           fs.FileMode
		linkUID, calls uint32
		want           bool
	}{
		{"another user's link in a sticky, world-writable folder", shared, other, me, true},
		{"the same, as root", shared, other, 0, true},
		{"root's link, another user calling", shared, 0, me, true},
		{"the caller's own link", shared, me, me, false},
		{"root's own link", shared, 0, 0, false},
		{"the folder owner's link", shared, owner, me, false},
		{"the folder owner's link, as root", shared, owner, 0, false},
		{"not sticky", 0o777, other, me, false},
		{"sticky, not world-writable", fs.ModeSticky | 0o775, other, me, false},
		{"sticky, world-writable only by others' bit", fs.ModeSticky | 0o702, other, me, true},
	} {
		if got := protected(tt.mode, owner, tt.linkUID, tt.calls); got != tt.want {
			t.Errorf("%s: protected %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestProtectedSymlinks applies the kernel's protected_symlinks rule: in a
// sticky, world-writable folder, a link is followed only when it belongs to
// the caller or to the folder's owner. Refused, neither Check nor Write
// touches the file the link leads to.
func TestProtectedSymlinks(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "only root can give a link to another user: run as root")
	}
	tests := []struct {
		name     string
		sticky   bool // the folder is 01777, else 0777
		dirOwner int  // the folder's owner
		linkUID  int  // the link's owner
		chain    bool // the destination is a link, in a plain folder, to the link
		wantErr  string
	}{
		{name: "another user's link in a sticky folder", sticky: true, linkUID: nobody,
			wantErr: "is a symbolic link owned by another user (uid 65534) in the sticky, world-writable folder"},
		{name: "reached through a chain", sticky: true, linkUID: nobody, chain: true, wantErr: "it leads through "},
		{name: "the caller's own link", sticky: true, linkUID: 0},
		{name: "the folder owner's link", sticky: true, dirOwner: nobody, linkUID: nobody},
		{name: "not sticky", sticky: false, linkUID: nobody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			os.Chmod(base, 0o755)
			shared := filepath.Join(base, "tmp")
			os.Mkdir(shared, 0o755)
			mode := fs.FileMode(0o777)
			if tt.sticky {
				mode |= fs.ModeSticky
			}
			if err := os.Chmod(shared, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(shared, tt.dirOwner, tt.dirOwner); err != nil {
				t.Fatal(err)
			}
			important := writeFile(t, filepath.Join(base, "important.conf"), "secret", 0o600)
			link := symlink(t, important, filepath.Join(shared, "model.safetensors"))
			if err := os.Lchown(link, tt.linkUID, tt.linkUID); err != nil {
				t.Fatal(err)
			}
			path := link
			if tt.chain {
				path = symlink(t, link, filepath.Join(base, "out.safetensors"))
			}
			write := func() error {
				return Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err })
			}
			if tt.wantErr == "" {
				if err := Check(path); err != nil {
					t.Fatalf("Check: %v", err)
				}
				if err := write(); err != nil {
					t.Fatalf("Write: %v", err)
				}
				if b, _ := os.ReadFile(important); string(b) != "new" {
					t.Errorf("the link was not followed: the target holds %q", b)
				}
				return
			}
			checkOneLine(t, Check(path), tt.wantErr)
			err := write()
			checkOneLine(t, err, tt.wantErr)
			var ul *UnsafeLinkError
			if !errors.As(err, &ul) || ul.Owner != nobody {
				t.Errorf("err %v is not an *UnsafeLinkError of uid %d", err, nobody)
			}
			if b, _ := os.ReadFile(important); string(b) != "secret" {
				t.Errorf("the target was overwritten: it holds %q", b)
			}
			if _, err := Acquire(path); err == nil {
				t.Errorf("Acquire followed the link")
			}
			if es := entries(t, shared); len(es) != 1 {
				t.Errorf("the shared folder holds %v", es)
			}
		})
	}
}

// TestTreeRemovesStale checks that CreateTree removes the temporary
// folders of exports that were killed (the pid in the name is gone), and
// nothing else.
func TestTreeRemovesStale(t *testing.T) {
	parent := t.TempDir()
	dead := strconv.Itoa(testenv.DeadPID(t))
	live := strconv.Itoa(os.Getppid())
	hour := -2 * time.Hour
	dirs := []struct {
		name   string
		age    time.Duration
		file   bool // a file, not a folder
		owner  int  // uid; 0 is the test's (root or not, see below)
		remove bool
	}{
		{name: ".png.tmp-" + dead + "-0123456789ab", remove: true},
		{name: ".png.tmp-" + dead + "-0123456789ab.old", remove: true},
		{name: ".png.tmp-123456789", age: hour, remove: true}, // an earlier version's, old
		{name: ".png.tmp-987654321"},                          // an earlier version's, recent
		{name: ".png.tmp-" + live + "-0123456789ab", age: hour},
		{name: ".png.tmp-" + dead + "-0123456789abc"},
		{name: ".other.tmp-" + dead + "-0123456789ab"},
		{name: "png.tmp-" + dead + "-0123456789ab"},
		{name: ".png.tmp-" + dead + "-ba9876543210", file: true},
		{name: ".png.tmp-" + dead + "-aaaaaaaaaaaa", owner: nobody},
	}
	// Only root can give a folder to another user; the other cases run
	// for anyone, and the test says when it left that one out.
	asRoot := os.Geteuid() == 0
	for _, d := range dirs {
		p := filepath.Join(parent, d.name)
		if d.file {
			writeFile(t, p, "x", 0o644)
		} else {
			os.MkdirAll(filepath.Join(p, "train", "0"), 0o755)
			writeFile(t, filepath.Join(p, "train", "0", "00000.png"), "x", 0o644)
		}
		if d.owner != 0 {
			if !asRoot {
				continue
			}
			if err := os.Chown(p, d.owner, d.owner); err != nil {
				t.Fatal(err)
			}
		}
		if d.age != 0 {
			when := time.Now().Add(d.age)
			os.Chtimes(p, when, when)
		}
	}
	tr, err := CreateTree(filepath.Join(parent, "png"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(tr.Dir()), ".png.tmp-"+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("temporary folder %s is not named with the pid", tr.Dir())
	}
	tr.Abort()
	for _, d := range dirs {
		_, err := os.Lstat(filepath.Join(parent, d.name))
		if d.owner != 0 && !asRoot {
			continue
		}
		if gone := errors.Is(err, fs.ErrNotExist); gone != d.remove {
			t.Errorf("%s: removed %v, want %v", d.name, gone, d.remove)
		}
	}
	if !asRoot {
		testenv.Skip(t, "the other cases passed; the case of another user's folder needs root, to give it to that user: run as root")
	}
}

// TestLock checks the advisory lock of a destination: a second Acquire
// fails with the holder's pid while the first holds it, and succeeds once
// it is released, which leaves no file behind.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || le.Path != path {
		t.Fatalf("second Acquire: %v, want a *LockedError with pid %d", err, os.Getpid())
	}
	checkOneLine(t, err, path+" is being written by another process (pid "+strconv.Itoa(os.Getpid())+")")
	// Through a link, the lock is the target's.
	link := symlink(t, path, filepath.Join(dir, "link"))
	if _, err := Acquire(link); !errors.As(err, &le) {
		t.Errorf("Acquire through a link: %v, want a *LockedError", err)
	}
	l.Release()
	l.Release()
	if es := entries(t, dir); len(es) != 1 || es[0] != "link" {
		t.Errorf("after Release the folder holds %v", es)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
	if _, err := Acquire(filepath.Join(dir, "nodir", "m")); err == nil {
		t.Errorf("Acquire in a missing folder succeeded")
	}
}
