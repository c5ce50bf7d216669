package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// hookWriter is a buffer that calls hook before its first write.
type hookWriter struct {
	bytes.Buffer
	hook func()
	done bool
}

func (w *hookWriter) Write(p []byte) (int, error) {
	if !w.done && w.hook != nil {
		w.done = true
		w.hook()
	}
	return w.Buffer.Write(p)
}

// pipeClosed is a stdout whose reader has gone: every write fails with
// EPIPE, as it does once SIGPIPE is ignored.
type pipeClosed struct{}

func (pipeClosed) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}
}

// run executes args with ctx and the given stdout.
func run(ctx context.Context, out io.Writer, args ...string) result {
	var errOut bytes.Buffer
	if out == nil {
		out = &bytes.Buffer{}
	}
	code := Execute(ctx, &IO{In: strings.NewReader(""), Out: out, ErrOut: &errOut}, args)
	s := ""
	if b, ok := out.(interface{ String() string }); ok {
		s = b.String()
	}
	return result{code, s, errOut.String()}
}

func oneErrorLine(t *testing.T, stderr string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "softmaxctl: ") || strings.Count(stderr, "softmaxctl: ") != 1 {
		t.Errorf("stderr does not end in exactly one error line: %q", stderr)
	}
	if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr has a panic: %q", stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An interrupted run never replaces a model with a worse one: before the
// first epoch nothing is saved, and after it a better existing model of the
// same dataset is kept. The exit status names the signal.
func TestInterruptNeverDestroysAModel(t *testing.T) {
	dir := synthData(t, 500, 100)
	good := trainedModel(t, dir, 5, "--lr", "0.5", "--batch-size", "50")
	goodBytes := mustRead(t, good)
	tests := []struct {
		name     string
		existing bool   // --out starts as a copy of the good model
		cause    error  // the cancellation's cause
		when     string // cancel: "" before the start, "train" as training starts, "epoch" after the first epoch
		lr       string // learning rate of the interrupted run
		code     int    // exit status
		want     string // in stderr
		saved    bool   // --out holds a new model afterwards
		epochs   int    // epochs recorded in the saved model
	}{
		{name: "before start, existing kept", existing: true, code: 130, want: "nothing was saved"},
		{name: "during the first epoch, no file", when: "train", code: 130, want: "before the first epoch"},
		{name: "during the first epoch, existing kept", existing: true, when: "train", code: 130, want: "unchanged"},
		{name: "SIGTERM exits 143", existing: true, cause: SignalError{syscall.SIGTERM}, code: 143, want: "nothing was saved"},
		{name: "after one epoch, no file", when: "epoch", lr: "0.5", code: 130, want: "saved the model as it was", saved: true, epochs: 1},
		{name: "after one epoch, better file kept", existing: true, when: "epoch", lr: "0.00001", code: 130, want: "kept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "m.safetensors")
			if tt.existing {
				os.WriteFile(out, goodBytes, 0o644)
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			cause := tt.cause
			if cause == nil {
				cause = SignalError{os.Interrupt}
			}
			stdout, stderr := &hookWriter{}, &hookWriter{}
			switch tt.when {
			case "epoch":
				stdout.hook = func() { cancel(cause) }
			case "train":
				stderr.hook = func() { cancel(cause) }
			default:
				cancel(cause)
			}
			lr := tt.lr
			if lr == "" {
				lr = "0.1"
			}
			code := Execute(ctx, &IO{Out: stdout, ErrOut: stderr}, []string{"train", "--data", dir, "--no-download", "--out", out, "--batch-size", "10", "--epochs", "5", "--lr", lr})
			r := result{code, stdout.String(), stderr.String()}
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.err)
			}
			oneErrorLine(t, r.err)
			if !strings.Contains(r.err, tt.want) {
				t.Errorf("stderr %q lacks %q", r.err, tt.want)
			}
			b, err := os.ReadFile(out)
			switch {
			case tt.saved:
				if err != nil {
					t.Fatalf("no model saved: %v", err)
				}
				ck, _, err := loadModel(out)
				if err != nil || ck.Meta.Epochs != tt.epochs {
					t.Errorf("saved model: %v, epochs %v, want %d", err, ck, tt.epochs)
				}
			case tt.existing:
				if !bytes.Equal(b, goodBytes) {
					t.Errorf("the existing model was changed")
				}
			default:
				if err == nil {
					t.Errorf("a model was saved")
				}
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) > 1 || (len(entries) == 1 && !tt.existing && !tt.saved) {
				t.Errorf("files left behind: %v", entries)
			}
		})
	}
}

// Output paths are checked before any work: with no data at all, the error
// is about the path, and nothing is written.
func TestOutputPathsCheckedFirst(t *testing.T) {
	dir := synthData(t, 100, 50)
	model := trainedModel(t, dir, 1, "--batch-size", "10")
	noData := t.TempDir()
	tmp := t.TempDir()
	folder := filepath.Join(tmp, "afolder")
	os.Mkdir(folder, 0o755)
	dataFile := filepath.Join(dir, "train-images-idx3-ubyte.gz")
	dataBefore := mustRead(t, dataFile)
	modelBefore := mustRead(t, model)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"--out in a missing folder", []string{"train", "--data", noData, "--no-download", "--out", filepath.Join(tmp, "nodir", "m.safetensors")}, "does not exist"},
		{"--out a folder", []string{"train", "--data", noData, "--no-download", "--out", folder}, "folder"},
		{"--out a device", []string{"train", "--data", noData, "--no-download", "--out", os.DevNull}, os.DevNull},
		{"--plot in a missing folder", []string{"train", "--data", noData, "--no-download", "--out", filepath.Join(tmp, "m.safetensors"), "--plot", filepath.Join(tmp, "nodir", "c.png")}, "does not exist"},
		{"--plot same as --out", []string{"train", "--data", noData, "--no-download", "--out", filepath.Join(tmp, "x.png"), "--plot", filepath.Join(tmp, "x.png")}, "both name"},
		{"--out a data file", []string{"train", "--data", dir, "--no-download", "--out", dataFile}, "input file"},
		{"show-errors -o the model", []string{"show-errors", "--model", model, "--data", dir, "-o", model}, "input file"},
		{"show-errors -o a data file", []string{"show-errors", "--model", model, "--data", dir, "-o", dataFile}, "input file"},
		{"show-errors -o a device", []string{"show-errors", "--model", model, "--data", noData, "--no-download", "-o", os.DevNull}, os.DevNull},
		{"eval --plot in a missing folder", []string{"eval", "--model", model, "--data", noData, "--no-download", "--plot", filepath.Join(tmp, "nodir", "c.svg")}, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := execute(t, tt.args...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want 2; stderr %q", r.code, r.err)
			}
			oneErrorLine(t, r.err)
			if !strings.Contains(r.err, tt.want) || strings.Contains(r.err, "missing") {
				t.Errorf("stderr %q: want the path's problem (%q), found before the data", r.err, tt.want)
			}
		})
	}
	if !bytes.Equal(mustRead(t, dataFile), dataBefore) || !bytes.Equal(mustRead(t, model), modelBefore) {
		t.Error("an input file was changed")
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Errorf("%s is no longer a device: %v", os.DevNull, err)
	}
}

// --out in a folder the user may not write is refused before any work,
// with an error about the folder. Root may write anywhere: as root, the
// test runs as uid 65534.
func TestOutputInReadOnlyFolder(t *testing.T) {
	if !testenv.Unprivileged(t) {
		return
	}
	noData := t.TempDir()
	readOnly := filepath.Join(t.TempDir(), "readonly")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	r := execute(t, "train", "--data", noData, "--no-download", "--out", filepath.Join(readOnly, "m.safetensors"))
	if r.code != ExitUsage {
		t.Fatalf("exit %d, want 2; stderr %q", r.code, r.err)
	}
	oneErrorLine(t, r.err)
	if !strings.Contains(r.err, readOnly) || strings.Contains(r.err, "missing") {
		t.Errorf("stderr %q: want the folder's problem (%q), found before the data", r.err, readOnly)
	}
	if es, err := os.ReadDir(readOnly); err != nil || len(es) != 0 {
		t.Errorf("the read-only folder holds %v, %v", es, err)
	}
}

// A reader that goes away (| head -1) costs nothing: train finishes, saves
// and says so; the other commands stop quietly with status 141.
func TestClosedStdout(t *testing.T) {
	dir := synthData(t, 200, 50)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	r := run(context.Background(), pipeClosed{}, "train", "--data", dir, "--no-download", "--epochs", "3", "--batch-size", "20", "--json", "--out", out)
	if r.code != 0 {
		t.Fatalf("train with a closed stdout: exit %d, stderr %q", r.code, r.err)
	}
	ck, _, err := loadModel(out)
	if err != nil || ck.Meta.Epochs != 3 {
		t.Fatalf("model after a closed stdout: %v", err)
	}
	if !strings.Contains(r.err, "standard output was closed") || !strings.Contains(r.err, "saved") {
		t.Errorf("stderr %q: want a note that stdout closed and the model was saved", r.err)
	}
	for _, args := range [][]string{
		{"eval", "--model", out, "--data", dir},
		{"eval", "--model", out, "--data", dir, "--json"},
	} {
		r := run(context.Background(), pipeClosed{}, args...)
		if r.code != ExitPipe || r.err != "" {
			t.Errorf("%v with a closed stdout: exit %d, stderr %q; want 141 and silence", args, r.code, r.err)
		}
	}
}

// A --plot that fails in the middle of a run does not silence the epoch
// lines; the model is saved and the command then fails once.
func TestPlotFailureKeepsEpochLines(t *testing.T) {
	dir := synthData(t, 200, 50)
	tmp := t.TempDir()
	plot := filepath.Join(tmp, "curves.png")
	out := filepath.Join(tmp, "m.safetensors")
	// After epoch 1's line, the plot's name becomes a folder: every later
	// plot write fails.
	var stdout bytes.Buffer
	lines := 0
	w := writerFunc(func(p []byte) (int, error) {
		lines++
		if lines == 1 {
			os.Remove(plot)
			os.Mkdir(plot, 0o755)
		}
		return stdout.Write(p)
	})
	r := run(context.Background(), w, "train", "--data", dir, "--no-download", "--epochs", "4", "--batch-size", "20", "--out", out, "--plot", plot)
	if r.code != ExitRuntime {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.err)
	}
	oneErrorLine(t, r.err)
	if n := strings.Count(stdout.String(), "epoch "); n != 4 {
		t.Errorf("%d epoch lines printed, want 4:\n%s", n, stdout.String())
	}
	if !strings.Contains(r.err, "saved the model") || !strings.Contains(r.err, "--plot") {
		t.Errorf("stderr %q: want the plot failure after saving", r.err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("model not saved: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Every command stops on the first signal, writes nothing and exits 130
// for SIGINT, 143 for SIGTERM.
func TestSignalsStopEveryCommand(t *testing.T) {
	dir := synthData(t, 100, 50)
	model := trainedModel(t, dir, 1, "--batch-size", "10")
	img := filepath.Join(t.TempDir(), "a.png")
	f, _ := os.Create(img)
	png.Encode(f, image.NewGray(image.Rect(0, 0, 28, 28)))
	f.Close()
	tmp := t.TempDir()
	tests := []struct {
		name string
		args []string
	}{
		{"eval", []string{"eval", "--model", model, "--data", dir, "--plot", filepath.Join(tmp, "c.png")}},
		{"predict", []string{"predict", "--model", model, img}},
		{"show-errors", []string{"show-errors", "--model", model, "--data", dir, "-o", filepath.Join(tmp, "e.png")}},
		{"download", []string{"download", "--data", tmp, "--mirror", "http://127.0.0.1:1/"}},
	}
	for _, tt := range tests {
		for _, sig := range []struct {
			s    os.Signal
			code int
		}{{os.Interrupt, 130}, {syscall.SIGTERM, 143}} {
			t.Run(fmt.Sprintf("%s %v", tt.name, sig.s), func(t *testing.T) {
				ctx, cancel := context.WithCancelCause(context.Background())
				cancel(SignalError{sig.s})
				r := run(ctx, nil, tt.args...)
				if r.code != sig.code {
					t.Fatalf("exit %d, want %d; stderr %q", r.code, sig.code, r.err)
				}
				oneErrorLine(t, r.err)
				if !strings.Contains(r.err, "interrupted") {
					t.Errorf("stderr %q does not say it was interrupted", r.err)
				}
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
					t.Errorf("wrote %v", entries)
				}
			})
		}
	}
}

// The exit status comes from the error's type, not its words.
func TestExitStatusFromErrorTypes(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancelCause(ctx)
	cancel(SignalError{syscall.SIGTERM})
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		code int
	}{
		{"runtime error that says invalid argument", ctx, runError{fmt.Errorf("read x: %w", syscall.EINVAL)}, 1},
		{"usage error", ctx, runError{usagef("--top must be at least 1")}, 2},
		{"cobra's own error", ctx, errors.New(`unknown command "fly" for "softmaxctl"`), 2},
		{"interrupted by SIGTERM", canceled, runError{interrupted(canceled, "stopped")}, 143},
		{"cancelled download", canceled, runError{fmt.Errorf("download x: %w", context.Canceled)}, 143},
		{"closed stdout", ctx, runError{fmt.Errorf("write output: %w", syscall.EPIPE)}, 141},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			if got := exitFor(tt.ctx, &IO{ErrOut: &errOut}, tt.err); got != tt.code {
				t.Errorf("status %d, want %d (stderr %q)", got, tt.code, errOut.String())
			}
		})
	}
}

// show-errors refuses a picture over the pixel limit with a usage error
// that says the limit, instead of allocating gigabytes.
func TestShowErrorsPictureLimit(t *testing.T) {
	dir := synthData(t, 200, 300)
	// A barely trained model gets most test images wrong.
	model := trainedModel(t, dir, 1, "--lr", "0.00001", "--batch-size", "200")
	out := filepath.Join(t.TempDir(), "e.png")
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r := execute(t, "show-errors", "--model", model, "--data", dir, "--count", "300", "--scale", "32", "-o", out)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if r.code != ExitUsage || !strings.Contains(r.err, "megapixel limit") || !strings.Contains(r.err, "--count") {
		t.Fatalf("exit %d, stderr %q: want a usage error naming the limit", r.code, r.err)
	}
	oneErrorLine(t, r.err)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 100<<20 {
		t.Errorf("allocated %d MB before refusing", grew>>20)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("wrote a picture")
	}
}

// predict prints file names escaped, and a crafted name cannot drive the
// terminal.
func TestPredictEscapesNames(t *testing.T) {
	if runtime.GOOS == "windows" {
		testenv.SkipByDesign(t, "control characters are not allowed in Windows file names")
	}
	dir := synthData(t, 100, 50)
	model := trainedModel(t, dir, 1, "--batch-size", "10")
	img := filepath.Join(t.TempDir(), "\x1b]0;owned\x07\x1b[2J.png")
	f, err := os.Create(img)
	if err != nil {
		testenv.Skip(t, fmt.Sprintf("this file system refuses the name: %v", err))
	}
	png.Encode(f, image.NewGray(image.Rect(0, 0, 28, 28)))
	f.Close()
	r := execute(t, "predict", "--model", model, img)
	if strings.ContainsAny(r.stdout+r.err, "\x1b\x07") {
		t.Errorf("raw escape reached the output: %q %q", r.stdout, r.err)
	}
	if !strings.Contains(r.stdout, `\e]0;owned`) {
		t.Errorf("stdout %q lacks the escaped name", r.stdout)
	}
}

// predict streams: results of the first chunk are out before the later
// images are read, in input order.
func TestPredictStreams(t *testing.T) {
	dir := synthData(t, 100, 50)
	model := trainedModel(t, dir, 1, "--batch-size", "10")
	folder := t.TempDir()
	n := predictChunk + 10
	for i := 0; i < n; i++ {
		f, _ := os.Create(filepath.Join(folder, fmt.Sprintf("%04d.png", i)))
		png.Encode(f, image.NewGray(image.Rect(0, 0, 28, 28)))
		f.Close()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stdout := &hookWriter{hook: func() { cancel(SignalError{os.Interrupt}) }}
	r := run(ctx, stdout, "predict", "--json", "--model", model, folder)
	if r.code != 130 {
		t.Fatalf("exit %d; stderr %q", r.code, r.err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != predictChunk {
		t.Fatalf("%d results before the interrupt, want the first chunk of %d", len(lines), predictChunk)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%04d.png", i); !strings.Contains(l, want) {
			t.Fatalf("line %d is %q, want %s: out of order", i, l, want)
		}
	}
}
