//go:build !unix && !windows

package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// gone falls back to the age of the file where processes cannot be asked
// about: a live writer finishes long before staleAge.
func gone(_ int, e fs.DirEntry) bool { return olderThan(e, staleAge) }

// keepOwner does nothing where ownership cannot be set portably.
func keepOwner(*os.File, fs.FileInfo) {}

func isNoSpace(err error) bool  { return errors.Is(err, syscall.ENOSPC) }
func isQuota(err error) bool    { return false }
func isReadOnly(err error) bool { return errors.Is(err, syscall.EROFS) }

// mayFollow has no folder owners to compare here: every link is followed.
func mayFollow(string, fs.FileInfo) error { return nil }

// ownDir cannot tell owners apart here: every folder counts as the caller's.
func ownDir(fs.DirEntry) bool { return true }
