package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	removeStaleTrees(parent, base)
	tmp, err := mkdirTemp(parent, base)
	if err != nil {
		return nil, &Error{Op: "create", Path: path, Err: unwrapPath(err), dir: parent}
	}
	return &Tree{path: clean, tmp: tmp}, nil
}

// treePrefix is the start of the names of the temporary folders of the
// folder base.
func treePrefix(base string) string {
	return tempPrefix(strings.TrimPrefix(base, "."))
}

// mkdirTemp creates the temporary folder of base in parent, named
// .<base>.tmp-<pid>-<random> like the temporary files, so that a later
// CreateTree can tell whether its writer is still alive. Its mode is 0777
// less the umask, as for any folder a program creates.
func mkdirTemp(parent, base string) (string, error) {
	prefix := filepath.Join(parent, treePrefix(base)+strconv.Itoa(os.Getpid())+"-")
	for range 100 {
		name := fmt.Sprintf("%s%012x", prefix, rand.Uint64()>>16)
		err := os.Mkdir(name, 0o777)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", &fs.PathError{Op: "mkdir", Path: prefix, Err: fs.ErrExist}
}

// removeStaleTrees removes the temporary folders of base in parent whose
// writers are gone (killed during an export, which can leave tens of
// megabytes behind): those named with the pid of a process that no longer
// exists, with or without the .old suffix of a folder being replaced, and
// those of earlier versions (.<base>.tmp-<digits>, no pid) once they are
// staleAge old. Only real folders (not links) of the caller's own are
// touched; it is best effort.
func removeStaleTrees(parent, base string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	q := regexp.QuoteMeta(treePrefix(base))
	current := regexp.MustCompile(`^` + q + `([1-9][0-9]{0,9})-[0-9a-f]{12}(\.old)?$`)
	legacy := regexp.MustCompile(`^` + q + `[0-9]+(\.old)?$`)
	for _, e := range entries {
		if !e.IsDir() || !ownDir(e) {
			continue
		}
		name := e.Name()
		stale := false
		if m := current.FindStringSubmatch(name); m != nil {
			pid, err := strconv.Atoi(m[1])
			stale = err == nil && pid != os.Getpid() && gone(pid, e)
		} else if legacy.MatchString(name) {
			stale = olderThan(e, staleAge)
		}
		if stale {
			os.RemoveAll(filepath.Join(parent, name))
		}
	}
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
