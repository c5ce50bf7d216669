//go:build unix

package safeopen

import (
	"io/fs"
	"os"
	"syscall"
)

// open opens path without blocking, checks what it is on the descriptor
// itself (so nothing can be swapped in between the check and the open), and
// makes reads blocking again for a regular file. O_NONBLOCK is what keeps
// open(2) of a FIFO without a writer from waiting; it has no effect on
// reads of regular files, but is cleared so the descriptor behaves like
// any other.
func open(path string) (*os.File, fs.FileInfo, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		// A socket cannot be opened at all (ENXIO): say what it is rather
		// than "no such device or address".
		if info, serr := os.Stat(path); serr == nil && !info.Mode().IsRegular() {
			return nil, nil, &NotRegularError{Path: path, Mode: info.Mode().Type()}
		}
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	// os.NewFile on a non-blocking descriptor would register it with the
	// poller; until we know it is a regular file, only raw calls are used.
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, nil, &NotRegularError{Path: path, Mode: modeOf(uint32(st.Mode))}
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// modeOf converts the file-type bits of a stat mode to an fs.FileMode.
func modeOf(m uint32) fs.FileMode {
	switch m & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}
