// Package testenv says how tests skip. A test whose prerequisite may be
// missing on a developer's machine (a C++ compiler, the real dataset)
// skips there through Skip, but fails in CI, where a missing prerequisite
// would otherwise pass unnoticed. A test that by design does not apply to
// a run (another operating system or build, a machine without a GPU, go
// test -short) skips through SkipByDesign or SkipShort, which never fail:
// CI's required set is every test that does not call them.
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

// SkipByDesign skips the test with why, even when EnvRequire is set: for a
// test that does not apply to this run whatever the machine holds (it is
// for another operating system or build, or for a machine with a GPU where
// SOFTMAXCTL_TEST_CUDA does not say one must be there). A prerequisite that
// CI installs is not such a reason: use Skip.
func SkipByDesign(t testing.TB, why string) {
	t.Helper()
	t.Skip("by design: " + why)
}

// SkipShort skips the test under go test -short, saying what it would
// cost (what), even when EnvRequire is set: CI never runs -short.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		SkipByDesign(t, "-short: "+what)
	}
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
