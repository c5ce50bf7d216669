package cli

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/softmaxctl/softmaxctl/internal/termtext"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// checkTerminalSafe fails if s holds anything a terminal would act on:
// bytes that are not UTF-8 (a lone 0x9b is CSI to an 8-bit terminal) or a
// character termtext.Unsafe names, other than the line breaks.
func checkTerminalSafe(t *testing.T, what, s string) {
	t.Helper()
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			t.Errorf("%s has the raw byte %#x at %d: %q", what, s[i], i, s)
			return
		}
		if r != '\n' && termtext.Unsafe(r) {
			t.Errorf("%s has the raw character %U at %d: %q", what, r, i, s)
			return
		}
	}
}

// File names that are not valid UTF-8 are escaped byte by byte on stdout
// and in error lines, and predict --json escapes bidirectional and other
// unsafe characters in its strings too.
func TestPredictEscapesBytes(t *testing.T) {
	if runtime.GOOS == "windows" {
		testenv.SkipByDesign(t, "such bytes are not allowed in Windows file names")
	}
	dir := synthData(t, 100, 50)
	model := trainedModel(t, dir, 1, "--batch-size", "10")
	folder := t.TempDir()
	c1 := filepath.Join(folder, "csi\x9b2J\xff.png") // not UTF-8
	bidi := filepath.Join(folder, "rtl\u202egnp.png")
	bad := filepath.Join(folder, "bad\x9b2J.png") // not an image
	for _, p := range []string{c1, bidi} {
		f, err := os.Create(p)
		if err != nil {
			testenv.Skip(t, fmt.Sprintf("this file system refuses the name: %v", err))
		}
		png.Encode(f, image.NewGray(image.Rect(0, 0, 28, 28)))
		f.Close()
	}
	if err := os.WriteFile(bad, []byte("junk"), 0o644); err != nil {
		testenv.Skip(t, fmt.Sprintf("this file system refuses the name: %v", err))
	}

	r := execute(t, "predict", "--model", model, c1, bidi, bad)
	checkTerminalSafe(t, "stdout", r.stdout)
	checkTerminalSafe(t, "stderr", r.err)
	for _, want := range []string{`csi\x9b2J\xff.png`, `rtl\u202egnp.png`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout %q lacks %q", r.stdout, want)
		}
	}
	if !strings.Contains(r.err, `bad\x9b2J.png: `) {
		t.Errorf("stderr %q lacks the escaped name of the bad image", r.err)
	}

	r = execute(t, "predict", "--json", "--model", model, c1, bidi, bad)
	checkTerminalSafe(t, "stdout", r.stdout)
	checkTerminalSafe(t, "stderr", r.err)
	if !strings.Contains(r.stdout, `rtl\u202egnp.png`) {
		t.Errorf("stdout %q lacks the name escaped as \\u202e", r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want 3: %q", len(lines), r.stdout)
	}
	var l predictLine
	if err := json.Unmarshal([]byte(lines[1]), &l); err != nil || l.File != bidi {
		t.Errorf("line %q decodes to file %q (%v), want %q", lines[1], l.File, err, bidi)
	}
}
