//go:build unix

package testenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// Nobody is the uid and gid that Unprivileged runs tests as.
const Nobody = 65534

// envChild marks the child process that Unprivileged starts: it holds the
// name of the test the child is to run.
const envChild = "SOFTMAXCTL_TEST_UNPRIVILEGED"

// Unprivileged lets a test of what file permissions refuse run as root
// too, which they do not restrain (CI runs as root). For any other user it
// returns true: the caller goes on. As root it runs the test again, in a
// child process of the test binary as uid and gid Nobody, reports the
// child's outcome as the test's (a failure fails it; a child that cannot
// start skips it through Skip), and returns false: the caller returns.
// The child runs in a fresh folder, which is also its TMPDIR and HOME: the
// test must not read files relative to its package's folder.
func Unprivileged(t testing.TB) bool {
	t.Helper()
	if name := os.Getenv(envChild); name != "" {
		if name == t.Name() && os.Geteuid() == 0 {
			t.Fatalf("the child process for %s still runs as root", name)
		}
		return true
	}
	if os.Geteuid() != 0 {
		return true
	}
	dir, err := os.MkdirTemp("", "testenv-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The test binary's own folder is root's alone (0700): a copy in a
	// folder anyone may enter, and a TMPDIR the child may write.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, Nobody, Nobody); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "test.bin")
	if err := copyExecutable(bin); err != nil {
		t.Fatal(err)
	}
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	args := []string{"-test.run=" + strings.Join(run, "/"), "-test.v=true", "-test.count=1"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = tmp
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "TMPDIR", "HOME", "GOCOVERDIR", envChild:
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp, "HOME="+tmp, envChild+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		Skip(t, fmt.Sprintf("cannot run %s as uid %d: %v", t.Name(), Nobody, err))
		return false
	}
	switch {
	case err == nil && strings.Contains(string(out), "--- PASS: "+t.Name()+" ("):
		t.Logf("ran as uid %d in a child process:\n%s", Nobody, out)
	case err == nil && strings.Contains(string(out), "--- SKIP: "+t.Name()+" ("):
		Skip(t, fmt.Sprintf("as uid %d, %s skipped:\n%s", Nobody, t.Name(), out))
	default:
		t.Fatalf("as uid %d, %s did not pass (%v):\n%s", Nobody, t.Name(), err, out)
	}
	return false
}

// copyExecutable copies the running test binary to dst.
func copyExecutable(dst string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// DeadPID returns the pid of a process that has exited: a run of the test
// binary that runs no test. Should the pid already belong to a new process,
// it tries again.
func DeadPID(t testing.TB) int {
	t.Helper()
	for range 10 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		if pid := cmd.Process.Pid; errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			return pid
		}
	}
	Skip(t, "the pids of 10 processes that exited were all in use again at once")
	return 0
}
