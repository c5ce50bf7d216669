//go:build unix

package testenv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnprivileged runs, as root too, as a user whom a folder's
// permissions restrain.
func TestUnprivileged(t *testing.T) {
	if !Unprivileged(t) {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatal("runs as root")
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "f"), nil, 0o644); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("writing in a read-only folder: %v, want a permission error", err)
	}
}

// TestUnprivilegedReportsFailure checks that, as root, a test that fails
// in the child process fails the test that started it.
func TestUnprivilegedReportsFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		Skip(t, "only root starts a child process as another user")
	}
	r := &recorder{TB: t, name: "TestUnprivilegedChildFails"}
	if Unprivileged(r) {
		t.Fatal("as root, Unprivileged returned true: the caller would go on as root")
	}
	if !strings.Contains(r.fatal, "did not pass") || !strings.Contains(r.fatal, "failing on purpose as uid 65534") {
		t.Errorf("fatal %q, skip %q: want the child's failure", r.fatal, r.skip)
	}
}

// TestUnprivilegedChildFails is the child of TestUnprivilegedReportsFailure:
// it fails in that child process only, and passes anywhere else.
func TestUnprivilegedChildFails(t *testing.T) {
	if os.Getenv(envChild) == t.Name() {
		t.Errorf("failing on purpose as uid %d", os.Geteuid())
	}
}
