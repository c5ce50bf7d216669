//go:build unix

package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// makeDryRun returns the commands `make -n args...` would run from the
// repository root, one a line; the Makefile is what the README's two
// commands go through, so its recipes are checked as a user runs them.
func makeDryRun(t *testing.T, args ...string) (root string, lines []string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Skip(t, "make is not installed")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", append([]string{"--no-print-directory", "-n"}, args...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return root, strings.Split(strings.TrimSpace(string(out)), "\n")
}

// goCommand returns the line of lines that runs `go verb`, failing the
// test when there is none.
func goCommand(t *testing.T, lines []string, verb string) string {
	t.Helper()
	re := regexp.MustCompile(`(^|\s)go ` + verb + `\s`)
	for _, l := range lines {
		if re.MatchString(l) {
			return l
		}
	}
	t.Fatalf("no `go %s` among:\n%s", verb, strings.Join(lines, "\n"))
	return ""
}

// The README's test command with a relative folder: go test runs each
// package in its own folder, so the Makefile must hand the tests an
// absolute path (taken from the repository root, where make runs).
func TestMakeTestDataPathAbsolute(t *testing.T) {
	for _, given := range []string{"./fashion-mnist", "fashion-mnist", "data/../fashion-mnist"} {
		root, lines := makeDryRun(t, "test", "SOFTMAXCTL_TEST_DATA="+given)
		line := goCommand(t, lines, "test")
		want := "SOFTMAXCTL_TEST_DATA=" + filepath.Join(root, "fashion-mnist")
		if !strings.Contains(line, want+" ") && !strings.Contains(line, `"`+strings.TrimPrefix(want, "SOFTMAXCTL_TEST_DATA=")+`"`) {
			t.Errorf("make test SOFTMAXCTL_TEST_DATA=%s runs\n  %s\nwant it to pass %s", given, line, want)
		}
	}
	// An absolute path is passed as it is.
	_, lines := makeDryRun(t, "test", "SOFTMAXCTL_TEST_DATA=/srv/fashion-mnist")
	if line := goCommand(t, lines, "test"); !strings.Contains(line, "/srv/fashion-mnist") {
		t.Errorf("absolute path: %s", line)
	}
}

// buildFlags are the settings of a go command line that decide whether
// its compiled packages can be reused by another: the cgo setting, and the
// flags that change how each package is compiled.
func buildFlags(line string) string {
	var keep []string
	cgo := "CGO_ENABLED=default"
	for _, f := range strings.Fields(line) {
		switch {
		case strings.HasPrefix(f, "CGO_ENABLED="):
			cgo = f
		case f == "-trimpath", f == "-race", strings.HasPrefix(f, "-tags"), strings.HasPrefix(f, "-gcflags"), strings.HasPrefix(f, "-asmflags"):
			keep = append(keep, f)
		}
	}
	return strings.Join(append([]string{cgo}, keep...), " ")
}

// The README's two commands, `make build` (then the binary trains) and
// `make test`, compile with the same settings, so that the second reuses
// the packages the first compiled instead of compiling everything again;
// `make install` too.
func TestMakeBuildAndTestShareOneBuild(t *testing.T) {
	_, b := makeDryRun(t, "build")
	build := buildFlags(goCommand(t, b, "build"))
	_, i := makeDryRun(t, "install")
	install := buildFlags(goCommand(t, i, "install"))
	_, tl := makeDryRun(t, "test")
	test := buildFlags(goCommand(t, tl, "test"))
	vet := buildFlags(goCommand(t, tl, "vet"))
	for what, got := range map[string]string{"make install": install, "make test's go test": test, "make test's go vet": vet} {
		if got != build {
			t.Errorf("%s compiles with %q, make build with %q: one would compile everything again", what, got, build)
		}
	}
}

// make build stamps the binary with a version only when the commit is a
// release tag; otherwise the binary keeps the version in the code, the
// one the README shows. The commit is recorded apart, for `version`.
func TestMakeBuildVersion(t *testing.T) {
	_, lines := makeDryRun(t, "build")
	line := goCommand(t, lines, "build")
	m := regexp.MustCompile(`internal/cli\.Version=(\S*?)['"\s]`).FindStringSubmatch(line + " ")
	if m != nil && !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(m[1]) {
		t.Errorf("make build sets the version to %q, not a release version such as 0.1.0: %s", m[1], line)
	}
	// The commit goes in apart, when the tree is a git checkout.
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return
	}
	if want := "internal/cli.Commit=" + strings.TrimSpace(string(head)); !strings.Contains(line, want) {
		t.Errorf("make build does not record the commit (%s): %s", want, line)
	}
}

// ./fashion-mnist, the folder the README tells a new user to put the data
// in, is ignored by git, so that it never shows as untracked.
func TestDataFolderIgnored(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		testenv.Skip(t, "git is not installed")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	if out, err := exec.Command(git, "-C", root, "rev-parse", "--show-toplevel").Output(); err != nil || strings.TrimSpace(string(out)) != root {
		testenv.Skip(t, "not a git checkout of the repository")
	}
	// The folder itself, whether it is a folder or a link to one (a path
	// inside a link is beyond git's reach, so it is not asked about).
	if err := exec.Command(git, "-C", root, "check-ignore", "-q", "--no-index", "fashion-mnist").Run(); err != nil {
		t.Errorf("git does not ignore ./fashion-mnist (check-ignore: %v)", err)
	}
}
