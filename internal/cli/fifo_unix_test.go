//go:build unix

package cli

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// predict refuses a FIFO instead of blocking on it, in a folder too.
func TestPredictFIFO(t *testing.T) {
	dir := synthData(t, 100, 50)
	model := trainedModel(t, dir, 1, "--batch-size", "10")
	folder := t.TempDir()
	f, _ := os.Create(filepath.Join(folder, "a.png"))
	png.Encode(f, image.NewGray(image.Rect(0, 0, 28, 28)))
	f.Close()
	if err := syscall.Mkfifo(filepath.Join(folder, "b.png"), 0o644); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot make a FIFO here: %v", err))
	}
	done := make(chan result, 1)
	go func() { done <- execute(t, "predict", "--model", model, folder, filepath.Join(folder, "b.png")) }()
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.stdout, "a.png") || !strings.Contains(r.err, "b.png") || !strings.Contains(r.err, "2 of 3 images") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("predict blocked on a FIFO")
	}
}
