//go:build !unix

package dataset

import "io/fs"

// fileVersion has no inode or ctime to give on these systems: the cache key
// falls back to size and modification time, and the content hash of
// recently changed files (see racyWindow).
func fileVersion(fs.FileInfo) (dev, ino uint64, ctime int64) { return 0, 0, 0 }

// distrust checks nothing on these systems, whose permissions are access
// control lists that file modes do not show.
func distrust(fs.FileInfo) string { return "" }
