// Package testenv lets tests skip when a prerequisite is missing on a
// developer's machine (a C++ compiler, the real dataset) but fail in CI,
// where a missing prerequisite would otherwise pass unnoticed.
package testenv

import (
	"os"
	"testing"
)

// EnvRequire names the variable that turns skips into failures; CI sets it.
const EnvRequire = "SOFTMAXCTL_REQUIRE_ALL"

// Skip skips the test with why, or fails it when EnvRequire is set.
func Skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(EnvRequire) != "" {
		t.Fatalf("%s (%s is set: every prerequisite must be present)", why, EnvRequire)
	}
	t.Skip(why)
}

// Data returns the Fashion-MNIST folder that SOFTMAXCTL_TEST_DATA names,
// or skips (fails under EnvRequire) when it names none.
func Data(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SOFTMAXCTL_TEST_DATA")
	if dir == "" {
		Skip(t, "set SOFTMAXCTL_TEST_DATA to a Fashion-MNIST folder to run this test on the real data")
	}
	return dir
}
