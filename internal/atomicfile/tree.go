package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Tree is a folder being written as a whole: its files go into a hidden
// temporary sibling of the destination without syncing each one; Commit
// syncs them all at once, then renames the folder into place, so the
// destination is either absent (or as it was) or complete. This is much
// faster than an atomic write per file for tens of thousands of small files.
type Tree struct {
	path string // destination
	tmp  string // the temporary sibling; files go here
	done bool
}

// TreeExistsError reports a destination that already holds files.
type TreeExistsError struct{ Path string }

func (e *TreeExistsError) Error() string {
	return fmt.Sprintf("%s already exists and is not empty", e.Path)
}

// CreateTree starts writing the folder path. It refuses a path that exists
// and is not a folder, and a non-empty folder unless replace is true. Files
// are written under Dir(). Errors other than a *TreeExistsError are *Error
// values.
func CreateTree(path string, replace bool) (*Tree, error) {
	clean := filepath.Clean(path)
	if fi, err := os.Stat(clean); err == nil {
		if !fi.IsDir() {
			return nil, &Error{Op: "create", Path: path, Err: errors.New("it is a file, not a folder")}
		}
		if !replace && !emptyDir(clean) {
			return nil, &TreeExistsError{Path: path}
		}
	}
	parent, base := filepath.Dir(clean), filepath.Base(clean)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, &Error{Op: "create", Path: path, Err: unwrapPath(err), dir: parent}
	}
	tmp, err := os.MkdirTemp(parent, "."+strings.TrimPrefix(base, ".")+".tmp-")
	if err != nil {
		return nil, &Error{Op: "create", Path: path, Err: unwrapPath(err), dir: parent}
	}
	// MkdirTemp makes the folder private; the result is an ordinary one.
	os.Chmod(tmp, 0o755)
	return &Tree{path: clean, tmp: tmp}, nil
}

// Dir is the temporary folder the files go into.
func (t *Tree) Dir() string { return t.tmp }

// Commit syncs everything written under Dir to disk, then moves the folder
// to the destination, replacing what was there (CreateTree allowed that).
// On failure the temporary folder is removed and the destination left as
// it was, as far as the file system allows: replacing a folder takes two
// renames, the old one aside and the new one in, and the old one is put
// back if the second fails.
func (t *Tree) Commit() error {
	if t.done {
		return &Error{Op: "rename", Path: t.path, Err: os.ErrClosed}
	}
	fail := func(op string, err error) error {
		t.Abort()
		return &Error{Op: op, Path: t.path, Err: unwrapPath(err), dir: filepath.Dir(t.path)}
	}
	if err := syncTree(t.tmp); err != nil {
		return fail("sync", err)
	}
	var old string
	if fi, err := os.Stat(t.path); err == nil && fi.IsDir() {
		if emptyDir(t.path) {
			if err := os.Remove(t.path); err != nil {
				return fail("rename", err)
			}
		} else {
			old = t.tmp + ".old"
			if err := os.Rename(t.path, old); err != nil {
				return fail("rename", err)
			}
		}
	}
	if err := os.Rename(t.tmp, t.path); err != nil {
		if old != "" {
			os.Rename(old, t.path)
		}
		return fail("rename", err)
	}
	t.done = true
	syncDir(filepath.Dir(t.path))
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// Abort removes the temporary folder; it does nothing after Commit or a
// first Abort, so it can be deferred.
func (t *Tree) Abort() {
	if t == nil || t.done {
		return
	}
	t.done = true
	os.RemoveAll(t.tmp)
}

// emptyDir reports whether dir is a folder with nothing in it.
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && err != nil
}

// syncDir syncs a folder's entries; best effort, as in File.Commit.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// syncEach syncs every file and folder under root, one by one: the
// fallback where the whole file system cannot be synced at once.
func syncEach(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			syncDir(p)
			return nil
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}
