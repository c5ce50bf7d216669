//go:build !linux

package atomicfile

// syncTree syncs each file and folder under root: there is no portable
// call that flushes one file system.
func syncTree(root string) error { return syncEach(root) }
