package cli

import (
	"errors"
	"syscall"
)

// isBrokenPipe reports whether err is a write to a pipe whose reader has
// gone (EPIPE).
func isBrokenPipe(err error) bool { return errors.Is(err, syscall.EPIPE) }
