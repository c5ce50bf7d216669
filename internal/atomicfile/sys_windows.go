//go:build windows

package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// gone cannot ask whether a process lives without more system calls than
// this is worth here, so it falls back to the age of the file: a live
// writer finishes long before staleAge.
func gone(_ int, e fs.DirEntry) bool { return olderThan(e, staleAge) }

// keepOwner does nothing: ownership on Windows follows ACLs, which a new
// file in the same folder inherits.
func keepOwner(*os.File, fs.FileInfo) {}

// Windows error codes, from winerror.h.
const (
	errorHandleDiskFull = syscall.Errno(39)
	errorDiskFull       = syscall.Errno(112)
	errorWriteProtect   = syscall.Errno(19)
	errorDiskQuota      = syscall.Errno(1295)
)

func isNoSpace(err error) bool {
	return errors.Is(err, errorDiskFull) || errors.Is(err, errorHandleDiskFull) || errors.Is(err, syscall.ENOSPC)
}
func isQuota(err error) bool    { return errors.Is(err, errorDiskQuota) }
func isReadOnly(err error) bool { return errors.Is(err, errorWriteProtect) }

// mayFollow follows every link: Windows has no sticky folders.
func mayFollow(string, fs.FileInfo) error { return nil }

// ownDir cannot tell owners apart without ACLs: every folder counts as the
// caller's.
func ownDir(fs.DirEntry) bool { return true }
