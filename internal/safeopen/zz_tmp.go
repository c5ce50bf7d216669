// Package safeopen TEMPORARY stand-in until the real one lands.
package safeopen

import (
	"fmt"
	"io/fs"
	"os"
)

// Open is a temporary stand-in.
func Open(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	return f, fi, err
}
