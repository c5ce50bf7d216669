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

// mayFollow applies the kernel's protected_symlinks rule to the link at
// path, whose Lstat info is info: in a folder that is sticky and
// world-writable, a link is followed only when it belongs to the caller or
// to the folder's owner.
func mayFollow(path string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	dir, _ := split(path)
	dinfo, err := os.Stat(dir)
	if err != nil {
		return err
	}
	dst, ok := dinfo.Sys().(*syscall.Stat_t)
	if !ok || !protected(dinfo.Mode(), dst.Uid, st.Uid, uint32(os.Geteuid())) {
		return nil
	}
	return &UnsafeLinkError{Link: path, Owner: int(st.Uid), Dir: dir}
}

// protected is the protected_symlinks rule itself: a link owned by
// linkUID, in a folder of mode dirMode owned by dirUID, may not be
// followed by caller when the folder is sticky and world-writable and the
// link belongs neither to the caller nor to the folder's owner.
func protected(dirMode fs.FileMode, dirUID, linkUID, caller uint32) bool {
	shared := dirMode&fs.ModeSticky != 0 && dirMode.Perm()&0o002 != 0
	return shared && linkUID != caller && linkUID != dirUID
}

// ownDir reports whether the folder e belongs to the caller: stale
// temporary folders are removed only then, never another user's.
func ownDir(e fs.DirEntry) bool {
	info, err := e.Info()
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Uid == uint32(os.Geteuid())
}
