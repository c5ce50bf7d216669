//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// acquire opens (creating it if needed) and flocks the lock file name. A
// holder that releases removes the file while it still holds the lock, so
// after locking, the file must still be the one the name leads to;
// otherwise the lock is on a removed file and acquire tries again.
func acquire(name string) (*Lock, error) {
	for range 100 {
		// O_NOFOLLOW: in a shared folder the name could be another user's
		// link to a file of ours.
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
		if errors.Is(err, fs.ErrPermission) {
			// Another user's lock file, in a sticky folder (where the
			// kernel refuses O_CREAT on it) or not writable: reading is
			// enough to lock.
			f, err = os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		}
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			pid := readPID(f)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &LockedError{PID: pid}
			}
			return nil, err
		}
		held, herr := f.Stat()
		named, nerr := os.Lstat(name)
		if herr == nil && nerr == nil && os.SameFile(held, named) {
			// The holder's pid, for the message of whoever comes next;
			// best effort, as the file may be read-only to us.
			if f.Truncate(0) == nil {
				f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			}
			return &Lock{f: f, name: name}, nil
		}
		f.Close()
	}
	return nil, errors.New("the lock file keeps being replaced")
}

// readPID reads the pid a holder wrote into its lock file; 0 if none.
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, 32), 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid < 1 {
		return 0
	}
	return pid
}
