//go:build !unix

package testenv

import "testing"

// Unprivileged returns true: file permissions restrain every user here.
func Unprivileged(testing.TB) bool { return true }
