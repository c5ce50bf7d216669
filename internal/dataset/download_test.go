package dataset

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A mirror makes a test server (or file:// folder) that serves files in
// some way, good or bad.
type mirror func(t *testing.T, files map[string][]byte) (base string, hits *atomic.Int64)

// serve starts a server whose handler gets the requested file's bytes (nil
// if unknown) and counts the requests.
func serve(h func(w http.ResponseWriter, r *http.Request, body []byte)) mirror {
	return func(t *testing.T, files map[string][]byte) (string, *atomic.Int64) {
		hits := new(atomic.Int64)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			h(w, r, files[path.Base(r.URL.Path)])
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/data/", hits
	}
}

var (
	good = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		if body == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	})
	status = func(code int) mirror {
		return serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
			http.Error(w, "no", code)
		})
	}
	// lyingLength promises the whole file but sends half of it.
	lyingLength = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
	})
	// closedEarly sends half the file with no length and closes the
	// connection, which to the client looks like a complete response.
	closedEarly = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
		buf.Write(body[:len(body)/2])
		buf.Flush()
	})
	corrupt = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		b := bytes.Clone(body)
		b[len(b)/2] ^= 1
		w.Write(b)
	})
	// stallBody sends the headers and a few bytes, then nothing.
	stallBody = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:10])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	// stallHeaders accepts the request and never answers.
	stallHeaders = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		<-r.Context().Done()
	})
	fileMirror mirror = func(t *testing.T, files map[string][]byte) (string, *atomic.Int64) {
		dir := t.TempDir()
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return "file://" + dir, new(atomic.Int64)
	}
)

func TestDownload(t *testing.T) {
	s := newSynth(20, 5, 5, 11)
	files := s.files(t, true)
	// Distinct test files so that a mix-up between them shows.
	files[2] = gzipBytes(t, idxBytes([]uint32{2, 5, 5}, s.pix[:50]))
	files[3] = gzipBytes(t, idxBytes([]uint32{2}, s.labels[:2]))
	spec := testSpec(t, files)
	byName := map[string][]byte{}
	for i, f := range spec.Files {
		byName[f.Name] = files[i]
	}

	tests := []struct {
		name     string
		mirrors  []mirror
		present  map[int][]byte // files in Dir before the call
		force    bool
		retries  int
		maxBytes int64
		wantErr  []string // substrings; "{i}" stands for mirror i's file URL prefix
		wantHits []int64
		wantLog  []string
		maxTime  time.Duration
	}{
		{
			name:     "good",
			mirrors:  []mirror{good},
			wantHits: []int64{4},
			wantLog:  []string{"fetched train-images-idx3-ubyte.gz from {0}train-images-idx3-ubyte.gz"},
		},
		{
			name:     "all present",
			mirrors:  []mirror{good},
			present:  map[int][]byte{0: files[0], 1: files[1], 2: files[2], 3: files[3]},
			wantHits: []int64{0},
			wantLog:  []string{"skip train-images-idx3-ubyte.gz (present, MD5 ok)", "skip t10k-labels-idx1-ubyte.gz (present, MD5 ok)"},
		},
		{
			name:     "force",
			mirrors:  []mirror{good},
			present:  map[int][]byte{0: files[0], 1: files[1], 2: files[2], 3: files[3]},
			force:    true,
			wantHits: []int64{4},
		},
		{
			name:     "present but damaged is replaced",
			mirrors:  []mirror{good},
			present:  map[int][]byte{0: []byte("junk"), 1: files[1], 2: files[2], 3: files[3]},
			wantHits: []int64{1},
			wantLog:  []string{"fetched train-images-idx3-ubyte.gz", "skip train-labels-idx1-ubyte.gz"},
		},
		{
			name:     "content length lies",
			mirrors:  []mirror{lyingLength},
			retries:  2,
			wantErr:  []string{"download train-images-idx3-ubyte.gz: the mirror failed", "last tried {0}train-images-idx3-ubyte.gz (2 attempts)", "connection closed after", "--mirror", "--data"},
			wantHits: []int64{2},
		},
		{
			name:     "connection closed early",
			mirrors:  []mirror{closedEarly},
			wantErr:  []string{"{0}train-images-idx3-ubyte.gz", "MD5 mismatch: got", "want " + spec.Files[0].MD5},
			wantHits: []int64{1},
		},
		{
			name:     "corrupted bytes",
			mirrors:  []mirror{corrupt},
			wantErr:  []string{"{0}train-images-idx3-ubyte.gz (1 attempt)", "MD5 mismatch: got", "want " + spec.Files[0].MD5},
			wantHits: []int64{1},
		},
		{
			name:     "500 then good mirror",
			mirrors:  []mirror{status(500), good},
			retries:  2,
			wantHits: []int64{8, 4},
			wantLog:  []string{"fetched t10k-labels-idx1-ubyte.gz from {1}t10k-labels-idx1-ubyte.gz"},
		},
		{
			name:     "corrupt then good mirror",
			mirrors:  []mirror{corrupt, good},
			wantHits: []int64{4, 4},
		},
		{
			name:     "retries honoured",
			mirrors:  []mirror{status(503), status(500)},
			retries:  3,
			wantErr:  []string{"all 2 mirrors failed", "last tried {1}train-images-idx3-ubyte.gz (3 attempts): HTTP 500 Internal Server Error"},
			wantHits: []int64{3, 3},
		},
		{
			name:     "404 is not retried",
			mirrors:  []mirror{status(404), status(404)},
			retries:  3,
			wantErr:  []string{"{1}train-images-idx3-ubyte.gz (1 attempt): HTTP 404 Not Found"},
			wantHits: []int64{1, 1},
		},
		{
			name:     "stalled body",
			mirrors:  []mirror{stallBody},
			retries:  2,
			wantErr:  []string{"{0}train-images-idx3-ubyte.gz (2 attempts): stalled: no data for 200ms"},
			wantHits: []int64{2},
			maxTime:  2 * time.Second,
		},
		{
			name:     "stalled headers",
			mirrors:  []mirror{stallHeaders},
			retries:  1,
			wantErr:  []string{"stalled: no data for 200ms"},
			wantHits: []int64{1},
			maxTime:  2 * time.Second,
		},
		{
			name:     "file mirror",
			mirrors:  []mirror{fileMirror},
			wantLog:  []string{"fetched train-images-idx3-ubyte.gz from file://"},
			wantHits: []int64{0},
		},
		{
			name:     "too large",
			mirrors:  []mirror{good},
			maxBytes: 10,
			retries:  3,
			wantErr:  []string{"over the 10-byte limit"},
			wantHits: []int64{1},
		},
		{
			name:     "too large file mirror",
			mirrors:  []mirror{fileMirror},
			maxBytes: 10,
			wantErr:  []string{"over the 10-byte limit"},
			wantHits: []int64{0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bases []string
			var hits []*atomic.Int64
			for _, m := range tt.mirrors {
				b, h := m(t, byName)
				bases, hits = append(bases, b), append(hits, h)
			}
			// File mirrors come without the trailing slash, which
			// Download adds; urls are the bases as Download uses them.
			urls := make([]string, len(bases))
			for i, b := range bases {
				urls[i] = strings.TrimSuffix(b, "/") + "/"
			}
			expand := func(s string) string {
				for i, b := range urls {
					s = strings.ReplaceAll(s, fmt.Sprintf("{%d}", i), b)
				}
				return s
			}
			dir := filepath.Join(t.TempDir(), "data", "fashion")
			if tt.present != nil {
				os.MkdirAll(dir, 0o755)
				for i, b := range tt.present {
					os.WriteFile(filepath.Join(dir, spec.Files[i].Name), b, 0o644)
				}
			}
			var log bytes.Buffer
			o := DownloadOptions{
				Spec:         spec,
				Dir:          dir,
				Mirrors:      bases,
				Force:        tt.force,
				Retries:      tt.retries,
				Backoff:      time.Millisecond,
				StallTimeout: 200 * time.Millisecond,
				MaxBytes:     tt.maxBytes,
				Log:          &log,
			}
			start := time.Now()
			err := Download(context.Background(), o)
			elapsed := time.Since(start)

			if tt.wantErr != nil {
				checkOneLine(t, err)
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), expand(w)) {
						t.Errorf("error %q does not contain %q", err, expand(w))
					}
				}
			} else if err != nil {
				t.Fatal(err)
			}
			for i, h := range hits {
				if got := h.Load(); got != tt.wantHits[i] {
					t.Errorf("mirror %d got %d requests, want %d", i, got, tt.wantHits[i])
				}
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(log.String(), expand(w)) {
					t.Errorf("log %q does not contain %q", log.String(), expand(w))
				}
			}
			if tt.maxTime > 0 && elapsed > tt.maxTime {
				t.Errorf("took %v, want under %v", elapsed, tt.maxTime)
			}
			checkDir(t, dir, spec, tt.present, tt.wantErr == nil)
		})
	}
}

// checkDir checks that dir holds no temporary files and that every file
// under a final name is valid or was put there by the test; if complete,
// all four must be there.
func checkDir(t *testing.T, dir string, spec Spec, present map[int][]byte, complete bool) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range entries {
		i := -1
		for j, f := range spec.Files {
			if f.Name == e.Name() {
				i = j
			}
		}
		if i < 0 {
			t.Errorf("stray file %s left in the folder", e.Name())
			continue
		}
		found++
		sum, err := fileMD5(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if sum != spec.Files[i].MD5 {
			if b, ok := present[i]; !ok || fmt.Sprintf("%x", md5.Sum(b)) != sum {
				t.Errorf("%s has MD5 %s, want %s", e.Name(), sum, spec.Files[i].MD5)
			}
		}
	}
	if complete && found != 4 {
		t.Errorf("%d of 4 files in the folder", found)
	}
}

func TestDownloadProgress(t *testing.T) {
	s := newSynth(10, 3, 3, 5)
	files := s.files(t, true)
	spec := testSpec(t, files)
	base, _ := good(t, map[string][]byte{
		spec.Files[0].Name: files[0], spec.Files[1].Name: files[1],
		spec.Files[2].Name: files[2], spec.Files[3].Name: files[3],
	})
	spec.Mirrors = []string{base} // the default mirrors this time

	var mu sync.Mutex
	totals := map[string]int64{}
	got := map[string]*bytes.Buffer{}
	err := Download(context.Background(), DownloadOptions{
		Spec: spec,
		Dir:  t.TempDir(),
		Progress: func(name string, total int64) io.Writer {
			mu.Lock()
			defer mu.Unlock()
			totals[name] = total
			got[name] = new(bytes.Buffer)
			return got[name]
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range spec.Files {
		if totals[f.Name] != int64(len(files[i])) || !bytes.Equal(got[f.Name].Bytes(), files[i]) {
			t.Errorf("%s: progress saw total %d and %d bytes, want %d", f.Name, totals[f.Name], got[f.Name].Len(), len(files[i]))
		}
	}
}

func TestDownloadBadOptions(t *testing.T) {
	spec := testSpec(t, newSynth(1, 1, 1, 1).files(t, false))
	noMD5 := spec
	noMD5.Files[1].MD5 = ""
	escape := spec
	escape.Files[2].Name = "../evil.gz"
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	fileInDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(fileInDir, nil, 0o644)

	tests := []struct {
		name    string
		ctx     context.Context
		o       DownloadOptions
		wantErr string
	}{
		{"no dir", context.Background(), DownloadOptions{Spec: spec, Mirrors: []string{"http://x/"}}, "pass --data DIR"},
		{"no mirrors", context.Background(), DownloadOptions{Spec: spec, Dir: t.TempDir()}, "pass --mirror"},
		{"no MD5", context.Background(), DownloadOptions{Spec: noMD5, Dir: t.TempDir(), Mirrors: []string{"http://x/"}}, "no MD5 for train-labels"},
		{"name escapes", context.Background(), DownloadOptions{Spec: escape, Dir: t.TempDir(), Mirrors: []string{"http://x/"}}, "bad file name"},
		{"bad scheme", context.Background(), DownloadOptions{Spec: spec, Dir: t.TempDir(), Mirrors: []string{"ftp://x/"}}, `unsupported URL scheme "ftp"`},
		{"relative file URL", context.Background(), DownloadOptions{Spec: spec, Dir: t.TempDir(), Mirrors: []string{"file://data/"}}, "absolute path"},
		{"missing file", context.Background(), DownloadOptions{Spec: spec, Dir: t.TempDir(), Mirrors: []string{"file:///nonexistent/"}}, "no such file"},
		{"dir is a file", context.Background(), DownloadOptions{Spec: spec, Dir: filepath.Join(fileInDir, "sub"), Mirrors: []string{"http://x/"}}, "create data folder"},
		{"canceled", canceled, DownloadOptions{Spec: spec, Dir: t.TempDir(), Mirrors: []string{"http://127.0.0.1:1/"}}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Download(tt.ctx, tt.o)
			checkOneLine(t, err)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
	if err := Download(canceled, DownloadOptions{Spec: spec, Dir: t.TempDir(), Mirrors: []string{"http://127.0.0.1:1/"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

// TestDownloadThenLoad checks the two halves fit: what Download writes,
// Load reads.
func TestDownloadThenLoad(t *testing.T) {
	s := newSynth(30, 4, 4, 9)
	files := s.files(t, true)
	spec := testSpec(t, files)
	base, _ := fileMirror(t, map[string][]byte{
		spec.Files[0].Name: files[0], spec.Files[1].Name: files[1],
		spec.Files[2].Name: files[2], spec.Files[3].Name: files[3],
	})
	dir := t.TempDir()
	if err := Download(context.Background(), DownloadOptions{Spec: spec, Dir: dir, Mirrors: []string{base}}); err != nil {
		t.Fatal(err)
	}
	if m := Missing(dir, spec); m != nil {
		t.Fatalf("missing after download: %v", m)
	}
	set, err := Load(dir, spec, Train)
	if err != nil {
		t.Fatal(err)
	}
	if set.N != 30 || !bytes.Equal(set.Pix, s.pix) {
		t.Errorf("loaded %d images, want %d and the same pixels", set.N, 30)
	}
	sum := md5.Sum(files[0])
	if got, _ := fileMD5(filepath.Join(dir, spec.Files[0].Name)); got != hex.EncodeToString(sum[:]) {
		t.Errorf("MD5 on disk %s", got)
	}
}
