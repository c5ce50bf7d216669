package dataset

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// writeImageFolder writes the sets as dir/<split>/<label>/NNNNN.png, in
// parallel: the test helper that turns IDX files into an image folder.
func writeImageFolder(tb testing.TB, dir string, sets map[Split]*Set) {
	tb.Helper()
	for sp, s := range sets {
		for c := 0; c < s.NumClass(); c++ {
			if err := os.MkdirAll(filepath.Join(dir, string(sp), fmt.Sprint(c)), 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, runtime.GOMAXPROCS(0))
		for w := range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				var b bytes.Buffer
				for i := w; i < s.N; i += runtime.GOMAXPROCS(0) {
					img := &image.Gray{Pix: s.Pix[i*s.Dim() : (i+1)*s.Dim()], Stride: s.Cols, Rect: image.Rect(0, 0, s.Cols, s.Rows)}
					b.Reset()
					if err := png.Encode(&b, img); err != nil {
						errs <- err
						return
					}
					p := filepath.Join(dir, string(sp), fmt.Sprint(s.Labels[i]), fmt.Sprintf("%05d.png", i))
					if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkFolderLoad compares, on the 70,000 Fashion-MNIST images of
// $SOFTMAXCTL_TEST_DATA, loading the IDX files with loading the same
// images as a folder of PNG files: decoded (first load, which also writes
// the cache) and read back from the cache. Run it with
//
//	SOFTMAXCTL_TEST_DATA=DIR go test ./internal/dataset -run XXX -bench FolderLoad -benchtime 3x
//
// and divide the times for the ratios.
func BenchmarkFolderLoad(b *testing.B) {
	dir := testenv.Data(b)
	spec, _ := Lookup("fashion-mnist")
	loadIDX := func() {
		for _, sp := range []Split{Train, Test} {
			if _, err := Load(dir, spec, sp); err != nil {
				b.Fatal(err)
			}
		}
	}
	tr, err := Load(dir, spec, Train)
	if err != nil {
		b.Fatal(err)
	}
	te, err := Load(dir, spec, Test)
	if err != nil {
		b.Fatal(err)
	}
	folder, err := os.MkdirTemp("", "softmaxctl-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(folder)
	writeImageFolder(b, folder, map[Split]*Set{Train: tr, Test: te})
	b.Run("idx", func(b *testing.B) {
		for b.Loop() {
			loadIDX()
		}
	})
	b.Run("folder-first", func(b *testing.B) {
		for b.Loop() {
			cache := filepath.Join(folder+"-cache", fmt.Sprint(b.N, "-", os.Getpid()))
			os.RemoveAll(cache)
			f, err := LoadFolder(folder, FolderOptions{Size: 28, CacheDir: cache})
			if err != nil || f.Cached || f.Train.N != 60000 {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(cache)
			b.StartTimer()
		}
	})
	cache := folder + "-cache"
	defer os.RemoveAll(cache)
	if _, err := LoadFolder(folder, FolderOptions{Size: 28, CacheDir: cache}); err != nil {
		b.Fatal(err)
	}
	b.Run("folder-cached", func(b *testing.B) {
		for b.Loop() {
			f, err := LoadFolder(folder, FolderOptions{Size: 28, CacheDir: cache})
			if err != nil || !f.Cached {
				b.Fatal(err)
			}
		}
	})
}
