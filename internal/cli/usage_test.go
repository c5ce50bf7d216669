package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
)

// Mistakes on the command line get one plain sentence, with a suggestion
// where one is close, and exit 2.
func TestUsageMessages(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // all in stderr
	}{
		{"misspelt command", []string{"trian"}, []string{`unknown command "trian": did you mean train?`, "commands: "}},
		{"misspelt flag", []string{"train", "--epoch", "5"}, []string{"unknown flag --epoch: did you mean --epochs?"}},
		{"flag far from any", []string{"train", "--zzzzzz"}, []string{"unknown flag --zzzzzz (see 'softmaxctl train --help')"}},
		{"unknown shorthand", []string{"train", "-q"}, []string{"unknown flag -q "}},
		{"not a number", []string{"train", "--lr", "abc"}, []string{`--lr "abc" is not a number`}},
		{"not a whole number", []string{"train", "--epochs", "2.5"}, []string{`--epochs "2.5" is not a whole number`}},
		{"missing value", []string{"train", "--lr"}, []string{"--lr needs a value"}},
		{"predict without images", []string{"predict"}, []string{"predict needs at least one IMAGE"}},
		{"stray argument", []string{"eval", "model.safetensors"}, []string{`eval takes no arguments, got "model.safetensors"`}},
		{"split val", []string{"eval", "--split", "val"}, []string{"--split val", "use --split test"}},
		{"completion for an unknown shell", []string{"completion", "tcsh"}, []string{`no completion for shell "tcsh"`, "bash, fish, powershell or zsh", "softmaxctl completion bash"}},
		{"completion with two shells", []string{"completion", "bash", "zsh"}, []string{"bash"}},
		{"unknown dataset names folder", []string{"train", "--dataset", "pets"}, []string{`unknown dataset "pets"`, "cifar10", "folder (--data DIR"}},
		{"unknown dataset of a model's command", []string{"eval", "--dataset", "pets"}, []string{`unknown dataset "pets"`, "folder (--data DIR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := execute(t, tt.args...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want 2", r.code)
			}
			oneErrorLine(t, r.err)
			for _, w := range tt.want {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr %q lacks %q", r.err, w)
				}
			}
			for _, bad := range []string{"strconv", `\t`, "arg(s)", "Did you mean"} {
				if strings.Contains(r.err, bad) {
					t.Errorf("stderr %q has %q", r.err, bad)
				}
			}
		})
	}
}

// The shell completes flag values and file flags by extension.
func TestCompletion(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"train", "--dataset", ""}, []string{"fashion-mnist", "mnist", "kmnist", "cifar10", "folder"}},
		{[]string{"eval", "--dataset", "f"}, []string{"fashion-mnist", "folder"}},
		{[]string{"show-errors", "--dataset", "fo"}, []string{"folder"}},
		// download and export-images fetch or write a known dataset.
		{[]string{"download", "--dataset", "f"}, []string{"fashion-mnist"}},
		{[]string{"train", "--device", ""}, []string{"auto", "cpu", "cuda"}},
		{[]string{"eval", "--split", "t"}, []string{"test", "train"}},
		{[]string{"predict", "--invert", "a"}, []string{"auto", "always"}},
		{[]string{"eval", "--model", ""}, []string{"safetensors"}},
		{[]string{"train", "--plot", ""}, []string{"png", "svg"}},
		{[]string{"show-errors", "--out", ""}, []string{"png"}},
	}
	for _, tt := range tests {
		r := execute(t, append([]string{"__complete"}, tt.args...)...)
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		got = got[:len(got)-1] // the directive line
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("complete %v: got %v, want %v", tt.args, got, tt.want)
		}
	}
}

// show-errors takes -o as --out, like train, and the old --output still works.
func TestOutFlagsConsistent(t *testing.T) {
	for _, c := range []string{"train", "show-errors"} {
		r := execute(t, c, "--help")
		if !strings.Contains(r.stdout, "-o, --out") {
			t.Errorf("%s --help lacks -o, --out", c)
		}
		if strings.Contains(r.stdout, "--output") {
			t.Errorf("%s --help still shows --output", c)
		}
	}
}

// On a terminal the progress bar is labelled like the epoch lines, shows
// the running loss, accuracy and time left, and is cleared before the
// next message.
func TestProgressBar(t *testing.T) {
	dir := synthData(t, 2000, 50)
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), &IO{Out: &out, ErrOut: &errOut, ErrTTY: true},
		[]string{"train", "--data", dir, "--epochs", "2", "--batch-size", "10", "--out", filepath.Join(t.TempDir(), "m.safetensors")})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	s := errOut.String()
	for _, want := range []string{"epoch 1/2  loss ", "  acc ", " left", "/200"} {
		if !strings.Contains(s, want) {
			t.Errorf("progress lacks %q:\n%q", want, s)
		}
	}
	if strings.Contains(s, "[0s:0s]") {
		t.Errorf("progress shows the elapsed/predicted pair: %q", s)
	}
	i := strings.Index(s, "saved ")
	if i < 0 || !strings.HasSuffix(strings.TrimRight(s[:i], " "), "\r") {
		t.Errorf("the bar's line was not cleared before the saved line: %q", s[max(0, i-80):])
	}
}

// fullDisk is a stdout on a full disk.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// Output that cannot be written is a failure, even where cobra ignores the
// error (help, version).
func TestFullStdoutFails(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"train", "--help"}, {"version"}, {"completion", "bash"}} {
		var errOut bytes.Buffer
		code := Execute(context.Background(), &IO{Out: fullDisk{}, ErrOut: &errOut}, args)
		if code != ExitRuntime || !strings.Contains(errOut.String(), "no space left") {
			t.Errorf("%v to a full disk: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}

// --version and version print the same line.
func TestOneVersionString(t *testing.T) {
	a, b := execute(t, "--version"), execute(t, "version")
	if a.code != 0 || b.code != 0 || a.stdout != b.stdout || !strings.HasPrefix(a.stdout, "softmaxctl ") {
		t.Errorf("--version %q (exit %d), version %q (exit %d)", a.stdout, a.code, b.stdout, b.code)
	}
}

// The version line names the release version and, separately, the commit
// the binary was built from, when the go command recorded one.
func TestVersionNamesCommitApart(t *testing.T) {
	bi := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "d5d23d3c0ffee0123456789abcdef0123456789a"},
		{Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{bi, "softmaxctl 0.1.0-dev (commit d5d23d3c0ffe-dirty, go"},
		{&debug.BuildInfo{Settings: bi.Settings[:2]}, "softmaxctl 0.1.0-dev (commit d5d23d3c0ffe, go"},
		{&debug.BuildInfo{}, "softmaxctl 0.1.0-dev (go"},
		{nil, "softmaxctl 0.1.0-dev (go"},
	}
	for _, tt := range tests {
		if got := versionText("0.1.0-dev", commitOf(tt.bi), "without CUDA"); !strings.HasPrefix(got, tt.want) || !strings.HasSuffix(got, ", without CUDA)") {
			t.Errorf("got %q, want it to start with %q", got, tt.want)
		}
	}
	// The binary's own version is a release version, not a commit.
	if !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(Version) {
		t.Errorf("Version %q is not a release version such as 0.1.0-dev", Version)
	}
}

// Help names image folders wherever it names datasets: --dataset and
// --data of the commands that read them, and the root's description.
func TestHelpNamesImageFolders(t *testing.T) {
	root := execute(t, "--help")
	if !strings.Contains(root.stdout, "your own images") || strings.Contains(root.stdout, "Fashion-MNIST or MNIST") {
		t.Errorf("root help omits image folders:\n%s", root.stdout)
	}
	for _, c := range []string{"train", "eval", "show-errors"} {
		r := execute(t, c, "--help")
		dataset, data := flagHelp(r.stdout, "--dataset"), flagHelp(r.stdout, "--data")
		if !strings.Contains(dataset, "folder") {
			t.Errorf("%s --dataset help: %q", c, dataset)
		}
		if !strings.Contains(data, "class") || !strings.Contains(data, "images") {
			t.Errorf("%s --data help mentions no image folder: %q", c, data)
		}
	}
	for _, c := range []string{"download", "export-images"} {
		r := execute(t, c, "--help")
		if dataset := flagHelp(r.stdout, "--dataset"); strings.Contains(dataset, "folder") {
			t.Errorf("%s --dataset offers a folder it cannot take: %q", c, dataset)
		}
	}
}

// flagHelp returns the help line of flag in a command's help text.
func flagHelp(help, flag string) string {
	for _, l := range strings.Split(help, "\n") {
		if f := strings.Fields(l); len(f) > 0 && (f[0] == flag || len(f) > 1 && f[1] == flag) {
			return l
		}
	}
	return ""
}
