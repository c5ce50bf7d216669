package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Check is a TEMPORARY stand-in until the real one lands.
func Check(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s is a folder: give a file name", path)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file: give a file path", path)
		}
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return fmt.Errorf("folder %s does not exist: create it first", filepath.Dir(path))
	}
	return nil
}
