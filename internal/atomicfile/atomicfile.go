// Package atomicfile writes files so that no reader ever sees a partial
// one: the content goes to a temporary file in the same folder, which is
// synced and then renamed over the destination. A failure at any point
// removes the temporary file and leaves whatever was at the destination
// untouched. Models, plots and pictures are all written this way.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Rename is the final step, replaceable by tests to exercise the cleanup
// after the temporary file has been written.
var Rename = os.Rename

// Write creates or replaces path with what write writes, with mode 0644.
// Its errors are one line that say what failed and what to do.
func Write(path string, write func(io.Writer) error) (err error) {
	if path == "" {
		return errors.New("no file name given")
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("%s is a directory: give a file name", path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return &wrapped{fmt.Sprintf("folder %s does not exist: create it first (mkdir -p %s)", dir, dir), err}
		case errors.Is(err, fs.ErrPermission):
			return &wrapped{fmt.Sprintf("no permission to create files in %s: choose another location", dir), err}
		}
		return fmt.Errorf("cannot create a file in %s: %w", dir, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	fail := func(what string, err error) error {
		return fmt.Errorf("%s: %w; check free disk space and permissions", what, unwrapPath(err))
	}
	if err := write(f); err != nil {
		return fail("writing", err)
	}
	// CreateTemp makes the file private; what we write is meant to be
	// shared like any file the user creates.
	if err := f.Chmod(0o644); err != nil {
		return fail("setting permissions", err)
	}
	// Sync before rename: otherwise a crash can leave the new name
	// pointing at an empty or partial file on some file systems.
	if err := f.Sync(); err != nil {
		return fail("syncing", err)
	}
	if err := f.Close(); err != nil {
		return fail("closing", err)
	}
	if err := Rename(f.Name(), path); err != nil {
		return fail("renaming the temporary file into place", err)
	}
	// Syncing the folder makes the rename durable; best effort, as some
	// systems cannot sync folders and every reader already sees the file.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// unwrapPath drops the *fs.PathError wrapper, whose message repeats the
// temporary file's name.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// wrapped is an error with a message of its own that still matches its
// cause with errors.Is.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }
