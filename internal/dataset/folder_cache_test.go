package dataset

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// grayPNG is the PNG of a w×h image of value v.
func grayPNG(t testing.TB, w, h int, v byte) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = v
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cacheFolder writes a two-class folder of 6×6 gray PNGs whose values say
// class and index, and returns it with FolderOptions that cache into a
// folder of its own.
func cacheFolder(t *testing.T) (string, FolderOptions) {
	t.Helper()
	dir := t.TempDir()
	for i, c := range []string{"cat", "dog"} {
		for k := range 4 {
			writePNG(t, dir, c+"/"+string(rune('0'+k))+".png", 6, 6, byte(10+100*i+k))
		}
	}
	return dir, FolderOptions{Size: 6, TestSplit: 0.25, CacheDir: filepath.Join(t.TempDir(), "folders")}
}

// sameFolder fails unless got holds what want holds.
func sameFolder(t *testing.T, got, want *Folder) {
	t.Helper()
	switch {
	case !slices.Equal(got.Classes, want.Classes):
		t.Errorf("classes %v, want %v", got.Classes, want.Classes)
	case !bytes.Equal(got.Train.Pix, want.Train.Pix) || !bytes.Equal(got.Test.Pix, want.Test.Pix):
		t.Errorf("pixels differ from a fresh decode")
	case !bytes.Equal(got.Train.Labels, want.Train.Labels) || !bytes.Equal(got.Test.Labels, want.Test.Labels):
		t.Errorf("labels %v %v, want %v %v", got.Train.Labels, got.Test.Labels, want.Train.Labels, want.Test.Labels)
	case got.Skipped != want.Skipped || got.Resized != want.Resized || len(got.Bad) != len(want.Bad):
		t.Errorf("skipped %d resized %d bad %v, want %d %d %v", got.Skipped, got.Resized, got.Bad, want.Skipped, want.Resized, want.Bad)
	}
}

// TestFolderCacheNotStale changes a folder in ways that keep each file's
// size and modification time: the next load must give what a fresh decode
// gives, never the cached copy of what the files held before.
func TestFolderCacheNotStale(t *testing.T) {
	root := os.Geteuid() == 0
	keepTimes := func(t *testing.T, path string, write func()) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		write()
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		after, err := os.Stat(path)
		if err != nil || after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
			t.Fatalf("the change did not keep size and mtime: %v", err)
		}
	}
	tests := []struct {
		name   string
		before func(t *testing.T, path string) // before the first load
		change func(t *testing.T, path string)
		miss   bool // the second load must decode afresh
	}{
		{name: "rewritten in place", miss: true, change: func(t *testing.T, path string) {
			keepTimes(t, path, func() {
				if err := os.WriteFile(path, grayPNG(t, 6, 6, 77), 0o644); err != nil {
					t.Fatal(err)
				}
			})
		}},
		{name: "replaced by a renamed file", miss: true, change: func(t *testing.T, path string) {
			tmp := filepath.Join(filepath.Dir(path), ".new")
			if err := os.WriteFile(tmp, grayPNG(t, 6, 6, 77), 0o644); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		// As root the file stays readable, and only its ctime changes.
		{name: "permissions fixed", miss: !root,
			before: func(t *testing.T, path string) { os.Chmod(path, 0) },
			change: func(t *testing.T, path string) { os.Chmod(path, 0o644) }},
		{name: "hidden file added", change: func(t *testing.T, path string) {
			writeFile(t, filepath.Dir(path), ".DS_Store", []byte("x"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, o := cacheFolder(t)
			path := filepath.Join(dir, "cat", "0.png")
			if tt.before != nil {
				tt.before(t, path)
			}
			first, err := LoadFolder(dir, o)
			if err != nil || first.Cached || first.CacheErr != nil {
				t.Fatalf("first load: %v (cache error %v)", err, first.CacheErr)
			}
			tt.change(t, path)
			second, err := LoadFolder(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			nocache := o
			nocache.CacheDir = ""
			fresh, err := LoadFolder(dir, nocache)
			if err != nil {
				t.Fatal(err)
			}
			if tt.miss && second.Cached {
				t.Errorf("served from the cache after the change")
			}
			sameFolder(t, second, fresh)
		})
	}
}
