//go:build linux

package dataset

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// envDecodeChild names the folder that the child process of
// TestFolderDecodeMemoryBounded loads, and with _BUDGET appended its
// decoding budget.
const envDecodeChild = "SOFTMAXCTL_TEST_DECODE_CHILD"

// maxRSS is the peak resident memory of this process, in bytes.
func maxRSS(t testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return int64(ru.Maxrss) * 1024 // in kilobytes
}

// TestFolderDecodeMemoryBounded loads a folder of 16-bit RGBA PNGs that
// are small files but 8 MB each decoded, with 8 workers, in a child
// process: with a decoding budget of 16 MiB its peak memory grows by about
// the budget, not by a decoded image per worker as it does with a budget
// that does not bind (1 GiB).
func TestFolderDecodeMemoryBounded(t *testing.T) {
	if dir := os.Getenv(envDecodeChild); dir != "" {
		budget, _ := strconv.ParseInt(os.Getenv(envDecodeChild+"_BUDGET"), 10, 64)
		before := maxRSS(t)
		f, err := LoadFolder(dir, FolderOptions{Size: 8, Color: true, TestSplit: 0.25, Workers: 8, DecodeBytes: budget})
		if err != nil || f.Train.N+f.Test.N != 16 {
			t.Fatalf("load: %v", err)
		}
		fmt.Printf("rss-growth %d\n", maxRSS(t)-before)
		return
	}
	img := image.NewNRGBA64(image.Rect(0, 0, 1000, 1000))
	for y := range 1000 {
		for x := range 1000 {
			img.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 65), uint16(y * 65), 30000, 65535})
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range 16 {
		writeFile(t, dir, fmt.Sprintf("%c/%02d.png", 'a'+i%2, i), b.Bytes())
	}
	growth := func(budget int64) int64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFolderDecodeMemoryBounded$", "-test.count=1")
		cmd.Env = append(os.Environ(), envDecodeChild+"="+dir, fmt.Sprintf("%s_BUDGET=%d", envDecodeChild, budget), "GOGC=100", "GOMEMLIMIT=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		_, after, ok := strings.Cut(string(out), "rss-growth ")
		n, err := strconv.ParseInt(strings.Fields(after + " x")[0], 10, 64)
		if !ok || err != nil {
			t.Fatalf("child said %q", out)
		}
		return n
	}
	bounded, free := growth(16<<20), growth(1<<30)
	t.Logf("peak memory grew by %d MB with a 16 MiB budget, %d MB with 1 GiB (%d KB files, 8 MB decoded each)", bounded>>20, free>>20, b.Len()>>10)
	// The race detector multiplies memory: there only the ratio counts.
	if bounded > free/2 || !raceEnabled && bounded > 48<<20 {
		t.Errorf("peak memory grew by %d MB with a 16 MiB decoding budget (%d MB with 1 GiB)", bounded>>20, free>>20)
	}
}
