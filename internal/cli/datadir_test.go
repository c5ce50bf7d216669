package cli

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/dataset/fetch"
)

// countingMirror serves src's files and counts the requests: a test that
// must not download asserts that it was never asked.
func countingMirror(t *testing.T, src string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.ServeFile(w, r, filepath.Join(src, filepath.Base(r.URL.Path)))
	}))
	t.Cleanup(srv.Close)
	return srv, &asked
}

// A --data folder that does not exist, or that holds files but none of
// the dataset's, is not filled with a download: the command stops with a
// usage error that says what it found and what would help. An empty
// folder, one with some of the dataset's files, and (for the download
// command) a new folder are downloaded into.
func TestDownloadOnlyIntoDatasetFolders(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "fashion-mnist")
	if err := os.Rename(synthData(t, 100, 50), good); err != nil {
		t.Fatal(err)
	}
	photos := filepath.Join(root, "myphotos")
	os.Mkdir(photos, 0o755)
	for _, n := range []string{"cat.jpg", "dog.JPG", "fox.png", "notes.txt"} {
		os.WriteFile(filepath.Join(photos, n), []byte("not really"), 0o644)
	}
	other := filepath.Join(root, "papers")
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, "thesis.pdf"), []byte("%PDF"), 0o644)
	empty := filepath.Join(root, "empty")
	os.Mkdir(empty, 0o755)
	// A first download that was killed leaves only its temporary file.
	stopped := filepath.Join(root, "stopped")
	os.Mkdir(stopped, 0o755)
	os.WriteFile(filepath.Join(stopped, ".train-images-idx3-ubyte.gz.tmp-999999-1"), nil, 0o644)
	typo := filepath.Join(root, "fashoin-mnist")

	// The mirror serves files of the right names but not the official
	// bytes: a download that happens fails its checksum (exit 1).
	srv, asked := countingMirror(t, good)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	tests := []struct {
		name     string
		args     []string
		code     int
		download bool     // the mirror is asked
		want     []string // in stderr
	}{
		{"train, mistyped folder", []string{"train", "--data", typo}, 2, false,
			[]string{"--data " + typo + " does not exist", "does not exist (did you mean --data " + good + "?)", "softmaxctl download --dataset fashion-mnist --data " + typo}},
		{"train, missing folder, no close name", []string{"train", "--data", filepath.Join(root, "zzz")}, 2, false,
			[]string{"does not exist", "softmaxctl download --dataset fashion-mnist --data"}},
		{"train, flat folder of photos", []string{"train", "--data", photos}, 2, false,
			[]string{"holds 3 images (cat.jpg, dog.JPG, fox.png) and 1 other entry", "none of fashion-mnist's files", "subfolder named after the class"}},
		{"train, folder of other files", []string{"train", "--data", other}, 2, false,
			[]string{"holds 1 entry (thesis.pdf)", "or no --data"}},
		{"download, flat folder of photos", []string{"download", "--data", photos}, 2, false,
			[]string{"holds 3 images"}},
		{"train, empty folder", []string{"train", "--data", empty}, 1, true, []string{"MD5"}},
		{"train, a stopped download", []string{"train", "--data", stopped}, 1, true, []string{"MD5"}},
		{"download, new folder", []string{"download", "--data", filepath.Join(root, "new")}, 1, true, []string{"MD5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked.Store(0)
			before := snapshot(t, root)
			args := append(tt.args, "--mirror", srv.URL+"/")
			if tt.args[0] == "train" {
				args = append(args, "--out", out)
			}
			r := execute(t, args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", r.code, tt.code, r.err)
			}
			oneErrorLine(t, r.err)
			for _, w := range tt.want {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr %q lacks %q", r.err, w)
				}
			}
			if got := asked.Load() > 0; got != tt.download {
				t.Errorf("mirror asked %d times, want a download: %v", asked.Load(), tt.download)
			}
			if !tt.download {
				if after := snapshot(t, root); len(after) != len(before) {
					t.Errorf("files changed: %d before, %d after", len(before), len(after))
				}
				if _, err := os.Stat(typo); err == nil {
					t.Errorf("%s was created", typo)
				}
			}
		})
	}
}

// A failed download says how to use a copy of the files that is already
// on the machine, and --mirror takes a plain folder path.
func TestDownloadFailureNamesLocalCopies(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"train", "--data", t.TempDir(), "--mirror", srv.URL + "/", "--out", filepath.Join(t.TempDir(), "m.safetensors")},
			[]string{"HTTP 404", "pass --data DIR", "softmaxctl download --dataset fashion-mnist --mirror DIR"}},
	} {
		args := tt.args
		r := execute(t, args...)
		if r.code != 1 {
			t.Errorf("%s: exit %d, stderr %q", args[0], r.code, r.err)
		}
		last := r.err[strings.LastIndex(strings.TrimSuffix(r.err, "\n"), "\n")+1:]
		oneErrorLine(t, r.err)
		for _, w := range tt.want {
			if !strings.Contains(last, w) {
				t.Errorf("%s: error %q lacks %q", args[0], last, w)
			}
		}
	}

	// The download command, whose --data is where files go, is told of
	// --mirror DIR when it was given none.
	failed := &fetch.DownloadError{File: "f", Failures: []fetch.MirrorError{{URL: "https://example.org/f", Attempts: 1, Err: errors.New("no such host")}}}
	spec, _ := dataset.Lookup("fashion-mnist")
	for _, tt := range []struct {
		err      error
		download bool
		mirrors  []string
		want     string
	}{
		{failed, true, nil, "; to copy them from a folder on this machine instead (a copy of the files), add --mirror DIR"},
		{failed, true, []string{"https://example.org/"}, ""},
		{failed, false, nil, "; to use a copy of the files already on this machine, pass --data DIR (the folder that holds them), or copy and check them with `softmaxctl download --dataset fashion-mnist --mirror DIR`"},
		{errors.New("disk full"), false, nil, ""},
	} {
		if got := offlineHint(spec, tt.err, tt.download, tt.mirrors); got != tt.want {
			t.Errorf("offlineHint(%v, download %v, mirrors %v) = %q, want %q", tt.err, tt.download, tt.mirrors, got, tt.want)
		}
	}

	// A relative folder as --mirror: its files are fetched as from a
	// file:// URL of its absolute path (here they fail the official
	// checksum, being generated).
	src := synthData(t, 20, 10)
	t.Chdir(filepath.Dir(src))
	r := execute(t, "train", "--data", t.TempDir(), "--mirror", filepath.Base(src), "--out", filepath.Join(t.TempDir(), "m.safetensors"))
	if r.code != 1 || !strings.Contains(r.err, "trying file://"+src+"/train-images-idx3-ubyte.gz") || !strings.Contains(r.err, "MD5 mismatch") {
		t.Errorf("--mirror FOLDER: exit %d, stderr %q", r.code, r.err)
	}
	r = execute(t, "download", "--data", t.TempDir(), "--mirror", "no-such-folder")
	if r.code != 2 || !strings.Contains(r.err, `"no-such-folder" is not a URL (http, https or file) and no such folder exists`) {
		t.Errorf("--mirror of a missing folder: exit %d, stderr %q", r.code, r.err)
	}
}
