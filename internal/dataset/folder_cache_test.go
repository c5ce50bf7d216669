package dataset

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
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

// cacheFile returns the one cache file in dir.
func cacheFile(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil || len(m) != 1 {
		t.Fatalf("cache files %v: %v", m, err)
	}
	return m[0]
}

// forgeLabels rewrites the cache file at path with every label changed,
// as a file planted by someone else would be.
func forgeLabels(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFolderCache(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Set{f.Train, f.Test} {
		for i := range s.Labels {
			s.Labels[i] = 1 - s.Labels[i]
		}
	}
	var b bytes.Buffer
	if err := EncodeFolderCache(&b, f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// chownNobody gives path to uid and gid 65534, which only root can do.
func chownNobody(t *testing.T, path string) {
	t.Helper()
	if err := os.Chown(path, 65534, 65534); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot give a file to another user here (%v): run as root", err))
	}
}

// TestFolderCacheUntrusted plants a cache file with forged labels where
// another user could: a cache file or folder that belongs to another user
// or that others may write is ignored, with a reason, and the images are
// decoded afresh.
func TestFolderCacheUntrusted(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, cacheDir, file string)
		want  string // in the reason
		dirOK bool   // the folder is trusted: a fresh cache replaces the file
	}{
		{"file of another user", func(t *testing.T, _, file string) { chownNobody(t, file) }, "belongs to uid 65534", true},
		{"file writable by others", func(t *testing.T, _, file string) { os.Chmod(file, 0o666) }, "writable by group or others", true},
		{"file writable by group", func(t *testing.T, _, file string) { os.Chmod(file, 0o620) }, "writable by group or others", true},
		{"folder of another user", func(t *testing.T, dir, _ string) { chownNobody(t, dir) }, "belongs to uid 65534", false},
		{"folder writable by others", func(t *testing.T, dir, _ string) { os.Chmod(dir, 0o777) }, "writable by group or others", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, o := cacheFolder(t)
			first, err := LoadFolder(dir, o)
			if err != nil || first.CacheErr != nil {
				t.Fatalf("first load: %v (cache error %v)", err, first.CacheErr)
			}
			file := cacheFile(t, o.CacheDir)
			forgeLabels(t, file)
			tt.plant(t, o.CacheDir, file)
			planted, _ := os.ReadFile(file)
			f, err := LoadFolder(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			if f.Cached {
				t.Errorf("the planted cache file was used")
			}
			sameFolder(t, f, first)
			if f.CacheIgnored == nil || !strings.Contains(f.CacheIgnored.Error(), tt.want) {
				t.Fatalf("reason %v, want %q", f.CacheIgnored, tt.want)
			}
			checkOneLine(t, f.CacheIgnored)
			now, _ := os.ReadFile(file)
			if tt.dirOK {
				// Replaced by a cache of our own, private, that the next
				// load uses.
				if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 || bytes.Equal(now, planted) {
					t.Errorf("the planted file was not replaced by a private one: %v", err)
				}
				if g, err := LoadFolder(dir, o); err != nil || !g.Cached || g.CacheIgnored != nil {
					t.Errorf("third load: %v, cached %v", err, g != nil && g.Cached)
				}
			} else if !bytes.Equal(now, planted) {
				t.Errorf("wrote into a folder it does not trust")
			}
		})
	}
}

// TestFolderCachePrivate checks that the cache folder is made 0700 and its
// files 0600.
func TestFolderCachePrivate(t *testing.T) {
	dir, o := cacheFolder(t)
	o.CacheDir = filepath.Join(t.TempDir(), "data", "folders")
	if _, err := LoadFolder(dir, o); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{o.CacheDir: 0o700, cacheFile(t, o.CacheDir): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode().Perm(), want, err)
		}
	}
}

// TestFolderCacheReadBounded gives the cache file a huge sparse body: it is
// refused by its size and header, before its body is read, and the images
// are decoded afresh.
func TestFolderCacheReadBounded(t *testing.T) {
	tests := []struct {
		name  string
		forge func(t *testing.T, path string)
	}{
		{"sparse tail", func(t *testing.T, path string) {
			if err := os.Truncate(path, 256<<20); err != nil {
				t.Fatal(err)
			}
		}},
		{"header claims more images than the folder has", func(t *testing.T, path string) {
			// A valid header for 4,000,000 training images of the
			// folder's shape, and a sparse body of exactly that size.
			js := `{"classes":["cat","dog"],"size":6,"channels":1,"train_n":4000000,"test_n":0,"resized":0}`
			head := []byte(folderCacheMagic)
			head = append(head, byte(len(js)), 0, 0, 0)
			head = append(head, js...)
			if err := os.WriteFile(path, head, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, int64(len(head))+4_000_000*37); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, o := cacheFolder(t)
			first, err := LoadFolder(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			tt.forge(t, cacheFile(t, o.CacheDir))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := LoadFolder(dir, o)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if f.Cached {
				t.Errorf("the forged cache file was used")
			}
			sameFolder(t, f, first)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("allocated %d MB to load 8 tiny images", alloc>>20)
			}
		})
	}
}
