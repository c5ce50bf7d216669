package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

// Lock is an advisory lock on a destination, held by a process that will
// write it after long work (a training run), so that a second such process
// learns at its start that the file is taken instead of silently replacing
// the first one's result at its end. It is a lock file named .<name>.lock
// next to the destination (after symbolic links), locked with flock where
// the system has it: the kernel drops the lock when the process dies, so a
// killed holder never blocks the next run. Release removes the file.
type Lock struct {
	f    *os.File
	name string
}

// LockedError reports a destination whose lock another process holds.
type LockedError struct {
	Path string // the destination as the caller named it
	PID  int    // the holder's process id, 0 if unknown
}

func (e *LockedError) Error() string {
	by := "another process"
	if e.PID > 0 {
		by = fmt.Sprintf("another process (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s is being written by %s", safeopen.Printable(e.Path), by)
}

// lockName is the name of base's lock file.
func lockName(base string) string {
	if len(base) > maxTempBase {
		base = base[:maxTempBase]
	}
	return "." + base + ".lock"
}

// Acquire takes the lock of the destination path without waiting. It
// returns a *LockedError when another process holds it, and an *Error when
// path cannot be a destination (see Check) or no lock file can be made
// there. Where the system has no flock, the lock is a no-op that always
// succeeds.
func Acquire(path string) (*Lock, error) {
	_, dir, base, err := destination("lock", path)
	if err != nil {
		return nil, err
	}
	name := filepath.Join(dir, lockName(base))
	l, err := acquire(name)
	var le *LockedError
	switch {
	case err == nil:
		return l, nil
	case errors.As(err, &le):
		le.Path = path
		return nil, le
	}
	return nil, &Error{Op: "lock", Path: path, Err: unwrapPath(err), dir: dir}
}

// Release removes the lock file and drops the lock. It does nothing on a
// nil Lock or after a first Release, so it can be deferred.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	// Removed while still locked: a process that opened the file meanwhile
	// finds, once it has the lock, that the name no longer leads to it,
	// and starts again (see acquire).
	os.Remove(l.name)
	l.f.Close()
	l.f = nil
}
