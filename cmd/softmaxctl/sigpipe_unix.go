//go:build unix

package main

import (
	"os/signal"
	"syscall"
)

// ignoreSIGPIPE makes a write to a closed pipe return EPIPE instead of
// killing the process: `softmaxctl train --json | head -1` must still
// finish training and save the model.
func ignoreSIGPIPE() { signal.Ignore(syscall.SIGPIPE) }
