package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncTree flushes the file system that holds root with one syncfs call,
// which writes out every file and folder under it.
func syncTree(root string) error {
	d, err := os.Open(root)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return syncEach(root)
	}
	return nil
}
