package cli

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

// bigColourModel saves a two-class model of 1024×1024 colour inputs (25
// MB of weights) as a folder model would be.
func bigColourModel(t *testing.T) string {
	t.Helper()
	const in = 3 * 1024 * 1024
	path := filepath.Join(t.TempDir(), "big.safetensors")
	ck := &checkpoint.Checkpoint{
		W: make([]float32, in*2), B: make([]float32, 2), In: in, Out: 2,
		Meta: checkpoint.Meta{
			Dataset: folderName, Classes: []string{"a", "b"}, InputShape: []int{3, 1024, 1024}, Scaling: "pixel/255",
			Preprocess: &checkpoint.Preprocess{Kind: checkpoint.PrepResize, Size: 1024, Color: true, Fit: checkpoint.FitCentreCrop},
		},
	}
	if err := checkpoint.Save(path, ck); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyPNGs writes n 4×4 colour PNGs into dir, alternately in classes a
// and b, and returns their paths.
func tinyPNGs(t *testing.T, dir string, n int) []string {
	t.Helper()
	files := make([]string, n)
	for i := range files {
		files[i] = filepath.Join(dir, string(rune('a'+i%2)), fmt.Sprintf("%04d.png", i))
		writeColourPNG(t, files[i], 4, 4, color.NRGBA{uint8(i), 100, 200, 255})
	}
	return files
}

// TestFolderTooLargeRefused trains a 1024×1024 colour model on 1000 tiny
// images, whose decoded set would be 3 GiB: refused before anything is
// decoded, in one line that says which --image-size fits; eval of such a
// model on that folder says how many images fit.
func TestFolderTooLargeRefused(t *testing.T) {
	t.Setenv(dataset.EnvData, t.TempDir())
	dir := t.TempDir()
	tinyPNGs(t, dir, 1000)
	r := execute(t, "train", "--data", dir, "--image-size", "1024", "--color", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
	oneErrorLine(t, r.err)
	if r.code != 2 || !strings.Contains(r.err, "would take 3000 MiB decoded, more than the 1024 MiB allowed: use --image-size 598 or smaller, or drop --color") {
		t.Errorf("train: %d %q", r.code, r.err)
	}
	r = execute(t, "eval", "--model", bigColourModel(t), "--data", dir)
	oneErrorLine(t, r.err)
	if r.code != 2 || !strings.Contains(r.err, "give a folder of at most 341 images") {
		t.Errorf("eval: %d %q", r.code, r.err)
	}
	if entries, _ := os.ReadDir(filepath.Join(os.Getenv(dataset.EnvData), "folders")); len(entries) != 0 {
		t.Errorf("a cache was written: %v", entries)
	}
}

// largestAlloc runs f and returns the largest average size of what f
// allocated at one place (one call stack), by the memory profile, which
// records every allocation much larger than its sampling rate.
func largestAlloc(f func()) int64 {
	profile := func() map[[32]uintptr]runtime.MemProfileRecord {
		runtime.GC()
		runtime.GC() // publishes the allocations of the last cycle
		n, _ := runtime.MemProfile(nil, true)
		var recs []runtime.MemProfileRecord
		for ok := false; !ok; {
			recs = make([]runtime.MemProfileRecord, n+64)
			n, ok = runtime.MemProfile(recs, true)
		}
		m := make(map[[32]uintptr]runtime.MemProfileRecord, n)
		for _, r := range recs[:n] {
			m[r.Stack0] = r
		}
		return m
	}
	before := profile()
	f()
	var most int64
	for k, r := range profile() {
		b := before[k]
		if objs := r.AllocObjects - b.AllocObjects; objs > 0 {
			most = max(most, (r.AllocBytes-b.AllocBytes)/objs)
		}
	}
	return most
}

// TestPredictChunksByBytes runs predict with a 1024×1024 colour model (12
// MiB of float32 input per image) on 5 tiny images (the 64 MiB of input
// that make a chunk) and on 16: chunks are sized by bytes, so 16 images
// allocate nothing larger than 5 do, where chunks of 256 images made a
// buffer for the input of all 16 (192 MiB).
func TestPredictChunksByBytes(t *testing.T) {
	model := bigColourModel(t)
	files := tinyPNGs(t, t.TempDir(), 16)
	largest := func(n int) int64 {
		var r result
		most := largestAlloc(func() {
			r = execute(t, append([]string{"predict", "--model", model, "--json"}, files[:n]...)...)
		})
		if r.code != 0 || strings.Count(r.stdout, "\n") != n {
			t.Fatalf("predict: %d %s", r.code, r.err)
		}
		return most
	}
	one, many := largest(5), largest(16)
	t.Logf("largest allocation: %d MB for 5 images, %d MB for 16", one>>20, many>>20)
	if many > one+1<<20 {
		t.Errorf("predict allocated %d MB at once for 16 images, %d MB for 5", many>>20, one>>20)
	}
}
