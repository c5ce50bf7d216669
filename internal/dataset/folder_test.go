package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// writePNG writes a w×h gray PNG of value v at dir/rel.
func writePNG(t testing.TB, dir, rel string, w, h int, v byte) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = v
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, rel, b.Bytes())
}

func writeFile(t testing.TB, dir, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFolderLayouts(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []string{"cat", "dog"} {
		for k := 0; k < 5; k++ {
			writePNG(t, dir, c+"/"+string(rune('a'+k))+".png", 8, 8, byte(100*i+k))
		}
	}
	writeFile(t, dir, "cat/.hidden.png", []byte("x"))
	writeFile(t, dir, "cat/notes.txt", []byte("x"))
	writeFile(t, dir, "dog/broken.png", []byte("not a png"))
	f, err := LoadFolder(dir, FolderOptions{Size: 4, TestSplit: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if f.Layout != LayoutClasses || len(f.Classes) != 2 || f.Classes[0] != "cat" {
		t.Fatalf("layout %q classes %v", f.Layout, f.Classes)
	}
	if f.Train.N != 8 || f.Test.N != 2 || f.Skipped != 2 || len(f.Bad) != 1 || f.Bad[0].Path != "dog/broken.png" {
		t.Fatalf("train %d test %d skipped %d bad %v", f.Train.N, f.Test.N, f.Skipped, f.Bad)
	}
	if f.Resized != 10 || f.Train.Dim() != 16 || f.Train.NumClass() != 2 {
		t.Fatalf("resized %d dim %d classes %d", f.Resized, f.Train.Dim(), f.Train.NumClass())
	}

	split := t.TempDir()
	for _, sp := range []string{"train", "test"} {
		for _, c := range []string{"a", "b", "c"} {
			writePNG(t, split, sp+"/"+c+"/1.png", 6, 6, 9)
		}
	}
	f, err = LoadFolder(split, FolderOptions{Size: 6, Color: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Layout != LayoutSplit || f.Train.N != 3 || f.Test.N != 3 || f.Train.Dim() != 108 || f.Resized != 0 {
		t.Fatalf("%+v", f)
	}
	if f.Train.Pix[0] != 9 {
		t.Fatalf("pixel %d, want 9", f.Train.Pix[0])
	}
}

func TestLoadFolderErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]int // path -> side (0: corrupt file)
		kind  FolderErrorKind
	}{
		{"no class folders", map[string]int{"a.png": 4}, NotImageFolder},
		{"one class", map[string]int{"cat/a.png": 4}, OneClass},
		{"empty class", map[string]int{"cat/a.png": 4, "cat/b.png": 4, "dog/x.txt": 4}, EmptyClass},
		{"only corrupt", map[string]int{"cat/a.png": 0, "dog/b.png": 0}, EmptyClass},
		{"unknown test class", map[string]int{"train/a/1.png": 4, "train/b/1.png": 4, "test/c/1.png": 4}, UnknownTestClass},
		{"no test images", map[string]int{"train/a/1.png": 4, "train/b/1.png": 4, "test/a/x.txt": 4}, NoImages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, side := range tt.files {
				if side == 0 || filepath.Ext(p) == ".txt" {
					writeFile(t, dir, p, []byte("junk"))
				} else {
					writePNG(t, dir, p, side, side, 1)
				}
			}
			_, err := LoadFolder(dir, FolderOptions{Size: 4, TestSplit: 0.5})
			var fe *FolderError
			if !errors.As(err, &fe) || fe.Kind != tt.kind {
				t.Fatalf("got %v, want kind %d", err, tt.kind)
			}
		})
	}
}

func TestLoadFolderCache(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	for _, c := range []string{"x", "y"} {
		for k := 0; k < 4; k++ {
			writePNG(t, dir, c+"/"+string(rune('0'+k))+".png", 5, 7, byte(k*10))
		}
	}
	o := FolderOptions{Size: 5, TestSplit: 0.25, CacheDir: cache}
	first, err := LoadFolder(dir, o)
	if err != nil || first.Cached || first.CacheErr != nil {
		t.Fatalf("first: %v cached %v cacheErr %v", err, first != nil && first.Cached, first.CacheErr)
	}
	second, err := LoadFolder(dir, o)
	if err != nil || !second.Cached {
		t.Fatalf("second: %v, cached %v", err, second != nil && second.Cached)
	}
	if !bytes.Equal(first.Train.Pix, second.Train.Pix) || !bytes.Equal(first.Test.Labels, second.Test.Labels) || second.Resized != first.Resized {
		t.Fatal("cached load differs")
	}
	// A changed file (new modification time) invalidates the copy.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "x", "0.png"), later, later); err != nil {
		t.Fatal(err)
	}
	third, err := LoadFolder(dir, o)
	if err != nil || third.Cached {
		t.Fatalf("after a change: %v, cached %v", err, third != nil && third.Cached)
	}
	// Other options, other copy.
	o.Color = true
	if fourth, err := LoadFolder(dir, o); err != nil || fourth.Cached || fourth.Train.Dim() != 75 {
		t.Fatalf("colour: %v", err)
	}
}

func TestFitGrayUnchanged(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 3, 3))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 20)
	}
	rgba := image.NewNRGBA(img.Rect)
	for y := 0; y < 3; y++ {
		for x := 0; x < 3; x++ {
			v := img.GrayAt(x, y).Y
			rgba.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	dir := t.TempDir()
	var b bytes.Buffer
	_ = png.Encode(&b, rgba)
	writeFile(t, dir, "train/a/1.png", b.Bytes())
	writeFile(t, dir, "test/a/1.png", b.Bytes())
	b.Reset()
	_ = png.Encode(&b, img)
	writeFile(t, dir, "train/b/1.png", b.Bytes())
	f, err := LoadFolder(dir, FolderOptions{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Train.Pix[:9], img.Pix) || !bytes.Equal(f.Train.Pix[9:], img.Pix) {
		t.Fatalf("got %v, want %v twice", f.Train.Pix, img.Pix)
	}
}

// TestLoadFolderTooLarge checks the size of the decoded set before
// decoding anything: over the limit the folder is refused with what would
// fit, and under it the set is allocated once, not image by image.
func TestLoadFolderTooLarge(t *testing.T) {
	dir := t.TempDir()
	for i := range 40 {
		writePNG(t, dir, fmt.Sprintf("%c/%02d.png", 'a'+i%2, i), 3, 3, byte(i))
	}
	tests := []struct {
		name        string
		o           FolderOptions
		fit, fitRGB int // 0: loads
	}{
		// 40 images of 3·64·64 bytes: 491,520 bytes.
		{"over the limit", FolderOptions{Size: 64, Color: true, MaxBytes: 400_000}, 100, 57},
		// 40 images of 3·256·256 bytes: 7.5 MiB.
		{"under it", FolderOptions{Size: 256, Color: true}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.TestSplit = 0.25
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := LoadFolder(dir, tt.o)
			runtime.ReadMemStats(&after)
			alloc := int64(after.TotalAlloc - before.TotalAlloc)
			if tt.fit == 0 {
				if err != nil {
					t.Fatal(err)
				}
				// The decoded set once, and what decoding 40 tiny files
				// takes besides (decoders' buffers, under 128 KiB each).
				if set := int64(len(f.Train.Pix) + len(f.Test.Pix)); alloc > set+40*128<<10 {
					t.Errorf("allocated %d MB for a decoded set of %d MB", alloc>>20, set>>20)
				}
				return
			}
			var se *FolderSizeError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *FolderSizeError", err)
			}
			checkOneLine(t, err)
			if se.Images != 40 || se.Bytes != 491_520 || se.Limit != tt.o.MaxBytes || se.FitSize(1) != tt.fit || se.FitSize(3) != tt.fitRGB {
				t.Errorf("%+v: fits at %d gray, %d colour", se, se.FitSize(1), se.FitSize(3))
			}
			if alloc > 256<<10 {
				t.Errorf("allocated %d bytes to refuse the folder", alloc)
			}
		})
	}
}
