//go:build unix

package dataset

import (
	"io/fs"
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
