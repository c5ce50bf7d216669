package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// formatError says why some bytes are not a usable checkpoint. The message
// is phrased to follow a subject ("checkpoint" from Decode, "model file X"
// from Load) because only Load knows the file name, which the advice repeats.
type formatError struct {
	msg string // what is wrong, such as `has no tensor "W"`
	fix fix    // what to do about it
}

func (e *formatError) Error() string {
	return "checkpoint " + e.msg + ": " + e.fix.advice("")
}

// at returns the error as Load reports it for the file at path.
func (e *formatError) at(path string) error {
	return errors.New("model file " + quotePath(path) + " " + e.msg + ": " + e.fix.advice(path))
}

// fix is the advice attached to a formatError.
type fix int

const (
	fixRetrain  fix = iota // the file is not, or no longer, a softmaxctl model
	fixFloat32             // the tensors were exported with the wrong dtype
	fixDiverged            // the weights are NaN or infinite
	fixUpgrade             // a newer softmaxctl wrote the file
)

func (f fix) advice(path string) string {
	switch f {
	case fixFloat32:
		return "save the tensors as float32 (NumPy: W.astype(numpy.float32); PyTorch: W.float())"
	case fixDiverged:
		return "training diverged; retrain with a smaller learning rate"
	case fixUpgrade:
		return "upgrade softmaxctl to read it"
	}
	if path == "" {
		return "pass a model written by `softmaxctl train`"
	}
	return "pass a model written by `softmaxctl train`"
}

// wrapped is an error with a hand-written one-line message that still
// matches its cause with errors.Is, such as fs.ErrNotExist.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// cause returns the message of err without the operation and paths that
// *fs.PathError and *os.LinkError add, since our messages already name them.
func cause(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return oneLine(err.Error())
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// quotePath formats path for a message: bare when that is unambiguous, in
// single quotes when a shell would otherwise split it, so the suggested
// commands can be pasted, and Go-quoted when it holds control characters,
// which would break the one-line message.
func quotePath(path string) string {
	switch {
	case shellSafe.MatchString(path):
		return path
	case strings.IndexFunc(path, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return strconv.Quote(path)
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// maxQuoted bounds values quoted from a file into a message, and
// maxLibraryText the library error text, which can quote the header.
const (
	maxQuoted      = 120
	maxLibraryText = 200
)

// oneLine makes text from a file or a library safe to embed in a one-line
// message: control characters are escaped and long text is cut.
func oneLine(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	if utf8.RuneCountInString(s) > maxLibraryText {
		s = string([]rune(s)[:maxLibraryText]) + "..."
	}
	return s
}

// quote formats a value read from a file for a message.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxQuoted {
		s = string([]rune(s)[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
