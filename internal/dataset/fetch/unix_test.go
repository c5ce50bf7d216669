//go:build unix

package fetch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// TestDownloadRemovesStaleTemps checks that the temporary files of killed
// downloads, this version's and earlier versions', are removed when the
// same dataset is downloaded again, and that those of a live download and
// files that only look similar are kept.
func TestDownloadRemovesStaleTemps(t *testing.T) {
	dead := strconv.Itoa(testenv.DeadPID(t))
	live := strconv.Itoa(os.Getppid())
	files := newSynth(5, 2, 2, 8).files(t, true)
	spec := testSpec(t, files)
	dir := t.TempDir()
	writeFiles(t, dir, spec, files) // all present: nothing to fetch
	name := spec.Files[0].Name
	temps := []struct {
		name   string
		age    time.Duration
		remove bool
	}{
		{"." + name + ".tmp-" + dead + "-0123456789ab", 0, true},  // killed
		{"." + name + ".tmp-" + live + "-0123456789ab", 0, false}, // a live writer's
		{"." + name + ".2736419.part", -time.Hour, true},          // an earlier version's, killed
		{"." + name + ".5551212.part", 0, false},                  // an earlier version's, maybe live
		{"." + name + ".x.part", -time.Hour, false},               // not our pattern
		{name + ".2736419.part", -time.Hour, false},               // not our pattern
	}
	for _, tt := range temps {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(tt.age)
		os.Chtimes(p, when, when)
	}
	// Download with Force so that the destination is written: the stale
	// files of this version are removed when writing starts.
	base, _ := fileMirror(t, map[string][]byte{
		spec.Files[0].Name: files[0], spec.Files[1].Name: files[1],
		spec.Files[2].Name: files[2], spec.Files[3].Name: files[3],
	})
	if err := Download(context.Background(), DownloadOptions{Spec: spec, Dir: dir, Mirrors: []string{base}, Force: true}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range temps {
		_, err := os.Lstat(filepath.Join(dir, tt.name))
		if gone := errors.Is(err, fs.ErrNotExist); gone != tt.remove {
			t.Errorf("%s: removed %v, want %v", tt.name, gone, tt.remove)
		}
	}
}
