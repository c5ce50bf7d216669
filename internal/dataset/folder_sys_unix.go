//go:build unix

package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// fileVersion returns what tells one version of a file from another beyond
// its size and modification time: its device and inode (a file replaced by
// another has a new inode), and its ctime, which the kernel sets to the
// current time on every change to the file's content or metadata (setting
// its mtime back included) and which no user can set.
func fileVersion(fi fs.FileInfo) (dev, ino uint64, ctime int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	return uint64(st.Dev), uint64(st.Ino), ctimeOf(st)
}

// distrust says why a cache folder or file must not be trusted: it belongs
// to another user, or its group or others may write it, so that someone
// else could have put forged images or labels in it. It returns "" for one
// that can be trusted.
func distrust(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int64(st.Uid) != int64(os.Geteuid()) {
		return fmt.Sprintf("belongs to uid %d, not to you", st.Uid)
	}
	if p := fi.Mode().Perm(); p&0o022 != 0 {
		return fmt.Sprintf("is writable by group or others (mode %04o)", p)
	}
	return ""
}
