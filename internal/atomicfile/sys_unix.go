//go:build unix

package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// gone reports whether the process pid no longer exists. Signal 0 checks
// without sending anything: ESRCH means there is no such process; EPERM
// means there is one, owned by another user. A writer in another pid
// namespace sharing the folder looks gone; its Commit then fails cleanly
// instead of renaming.
func gone(pid int, _ fs.DirEntry) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// keepOwner gives f the owner and group of old, where allowed (as root, or
// a group the user is in); best effort, as an ordinary user usually cannot.
func keepOwner(f *os.File, old fs.FileInfo) {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	uid, gid := int(st.Uid), int(st.Gid)
	if uid == os.Geteuid() && gid == os.Getegid() {
		return
	}
	if err := f.Chown(uid, gid); err != nil && uid != os.Geteuid() {
		// Not root: keep at least the group, if we are in it.
		f.Chown(-1, gid)
	}
}

func isNoSpace(err error) bool  { return errors.Is(err, syscall.ENOSPC) }
func isQuota(err error) bool    { return errors.Is(err, syscall.EDQUOT) }
func isReadOnly(err error) bool { return errors.Is(err, syscall.EROFS) }
