// Package safeopen opens files for reading when the path comes from a user,
// a folder listing or a mirror and so may name something that is not a file.
//
// os.Open on a named pipe (FIFO) blocks until a writer appears, which can be
// never, and reading a device such as /dev/zero never ends. Open refuses both
// without blocking: it accepts only regular files (following symbolic links)
// and returns their size, so that callers can cap every read by it.
package safeopen

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// NotRegularError reports a path that names something other than a regular
// file: a directory, a named pipe, a device or a socket. Test for it with
// errors.As.
type NotRegularError struct {
	Path string      // the path as the caller gave it
	Mode fs.FileMode // the mode of what the path names, after links
}

// Error says what the path names, such as
// "x is a named pipe (FIFO), not a regular file".
func (e *NotRegularError) Error() string {
	return Printable(e.Path) + " is " + Describe(e.Mode) + ", not a regular file"
}

// Describe names the kind of file a mode belongs to, with an article, for
// messages: "a directory", "a named pipe (FIFO)", "a character device" and
// so on.
func Describe(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file (" + m.Type().String() + ")"
}

// Open opens path for reading if it is a regular file, following symbolic
// links, and returns it with its FileInfo. Anything else is refused with a
// *NotRegularError, without blocking: on Unix the file is opened with
// O_NONBLOCK, checked with fstat and only then switched back to blocking
// reads. Errors from the system are *fs.PathError values, so
// errors.Is(err, fs.ErrNotExist) works as for os.Open.
//
// The size in the FileInfo is what the file held when it was opened; a
// caller that reads it all should still cap the read (see ReadAll), as a
// file can grow while it is read.
func Open(path string) (*os.File, fs.FileInfo, error) {
	return open(path)
}

// ErrTooLarge is wrapped by the error of ReadAll for a file over its limit.
var ErrTooLarge = errors.New("file too large")

// ReadAll reads the regular file at path whole, refusing it with an error
// that wraps ErrTooLarge if it holds more than max bytes (checked against its
// size before reading, and again while reading, in case it grows). Other
// errors are those of Open.
func ReadAll(path string, max int64) ([]byte, error) {
	f, info, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Size() > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrTooLarge, info.Size(), max)}
	}
	// Read one byte more than the limit to notice a file that grew.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: unwrapPath(err)}
	}
	if int64(len(data)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than the %d bytes allowed", ErrTooLarge, max)}
	}
	return data, nil
}

// Printable returns path as it is when every character prints, and Go-quoted
// otherwise, so that a name from a folder listing cannot break a one-line
// message or send control sequences to a terminal.
func Printable(path string) string {
	if strings.IndexFunc(path, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(path)
	}
	return path
}

// unwrapPath drops a *fs.PathError wrapper, whose message would repeat the
// path that the caller's message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
