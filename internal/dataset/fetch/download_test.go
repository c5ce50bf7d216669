package fetch

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// serveFile sends the requested file, or 404 if there is none.
func serveFile(w http.ResponseWriter, r *http.Request, body []byte) {
	if body == nil {
		http.NotFound(w, r)
		return
	}
	w.Write(body)
}

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
	good   = serve(serveFile)
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
	// trickle sends the file at about 50 bytes per second, as a hostile
	// or broken server can, keeping a stall timeout from ever firing.
	trickle = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		for i := range body {
			if _, err := w.Write(body[i : i+1]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	// gzipEncoded serves a .gz file as many static servers do, labelled
	// "Content-Encoding: gzip" whatever the client asked for; a client
	// that decompresses it transparently gets other bytes than published.
	gzipEncoded = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(body)
	})
	// stallHeaders accepts the request and never answers.
	stallHeaders = serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
		<-r.Context().Done()
	})
	// withUser puts credentials into a mirror's URL.
	withUser = func(m mirror) mirror {
		return func(t *testing.T, files map[string][]byte) (string, *atomic.Int64) {
			base, hits := m(t, files)
			return strings.Replace(base, "http://", "http://alice:S3cretPassw0rd@", 1), hits
		}
	}
	// withToken puts an access token into a mirror's query, as signed
	// URLs do, and makes the server refuse requests without it.
	withToken = func(h func(w http.ResponseWriter, r *http.Request, body []byte)) mirror {
		m := serve(func(w http.ResponseWriter, r *http.Request, body []byte) {
			if r.URL.Query().Get("token") != "S3cretTok" {
				http.Error(w, "no token", http.StatusForbidden)
				return
			}
			h(w, r, body)
		})
		return func(t *testing.T, files map[string][]byte) (string, *atomic.Int64) {
			base, hits := m(t, files)
			return base + "?token=S3cretTok", hits
		}
	}
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
		name        string
		mirrors     []mirror
		present     map[int][]byte // files in Dir before the call
		force       bool
		onlyMissing bool
		retries     int
		maxBytes    int64
		wantErr     []string // substrings; "{i}" stands for mirror i's file URL prefix
		wantHits    []int64
		wantLog     []string
		maxTime     time.Duration
	}{
		{
			name:     "good",
			mirrors:  []mirror{good},
			wantHits: []int64{4},
			wantLog:  []string{"trying {0}train-images-idx3-ubyte.gz\nfetched train-images-idx3-ubyte.gz from {0}train-images-idx3-ubyte.gz\n"},
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
			wantErr:  []string{"download train-images-idx3-ubyte.gz: the mirror failed: {0}train-images-idx3-ubyte.gz (2 attempts): connection closed after", "; check the network or try another mirror"},
			wantHits: []int64{2},
			wantLog:  []string{"trying {0}train-images-idx3-ubyte.gz\ntrying {0}train-images-idx3-ubyte.gz again (attempt 2 of 2)\n"},
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
			wantErr:  []string{"all 2 mirrors failed: [1] {0}train-images-idx3-ubyte.gz (3 attempts): HTTP 503 Service Unavailable; [2] {1}train-images-idx3-ubyte.gz (3 attempts): HTTP 500 Internal Server Error; check the network"},
			wantHits: []int64{3, 3},
		},
		{
			name:     "404 is not retried",
			mirrors:  []mirror{status(404), status(404)},
			retries:  3,
			wantErr:  []string{"[1] {0}train-images-idx3-ubyte.gz (1 attempt): HTTP 404 Not Found; [2] {1}train-images-idx3-ubyte.gz (1 attempt): HTTP 404 Not Found"},
			wantHits: []int64{1, 1},
		},
		{
			name:     "stalled body",
			mirrors:  []mirror{stallBody},
			retries:  2,
			wantErr:  []string{"{0}train-images-idx3-ubyte.gz (2 attempts): too slow: under 1 KiB/s for 300ms"},
			wantHits: []int64{2},
			maxTime:  3 * time.Second,
		},
		{
			name:     "stalled headers",
			mirrors:  []mirror{stallHeaders},
			retries:  1,
			wantErr:  []string{"too slow: under 1 KiB/s for 300ms"},
			wantHits: []int64{1},
			maxTime:  3 * time.Second,
		},
		{
			name:     "trickling body",
			mirrors:  []mirror{trickle},
			retries:  1,
			wantErr:  []string{"{0}train-images-idx3-ubyte.gz (1 attempt): too slow: under 1 KiB/s for 300ms"},
			wantHits: []int64{1},
			maxTime:  3 * time.Second,
		},
		{
			name:     "gzip content encoding keeps the bytes",
			mirrors:  []mirror{gzipEncoded},
			wantHits: []int64{4},
		},
		{
			name:     "credentials never shown in errors",
			mirrors:  []mirror{withUser(status(500))},
			retries:  2,
			wantErr:  []string{"http://xxxxx@127.0.0.1:", "(2 attempts): HTTP 500"},
			wantHits: []int64{2},
			wantLog:  []string{"trying http://xxxxx@127.0.0.1:"},
		},
		{
			name:     "credentials never shown in logs",
			mirrors:  []mirror{withUser(good)},
			wantHits: []int64{4},
			wantLog:  []string{"fetched train-images-idx3-ubyte.gz from http://xxxxx@127.0.0.1:"},
		},
		{
			name:     "query token: the file name goes on the path, the token is never shown",
			mirrors:  []mirror{withToken(serveFile)},
			wantHits: []int64{4},
			wantLog:  []string{"/data/train-images-idx3-ubyte.gz?token=xxxxx\n", "fetched train-images-idx3-ubyte.gz from http://127.0.0.1:"},
		},
		{
			name:     "query token never shown in errors",
			mirrors:  []mirror{withToken(func(w http.ResponseWriter, r *http.Request, body []byte) { http.Error(w, "no", 500) })},
			retries:  2,
			wantErr:  []string{"/data/train-images-idx3-ubyte.gz?token=xxxxx (2 attempts): HTTP 500"},
			wantHits: []int64{2},
		},
		{
			name:        "only missing keeps a present copy whatever its MD5",
			mirrors:     []mirror{good},
			present:     map[int][]byte{0: []byte("re-compressed copy"), 3: files[3]},
			onlyMissing: true,
			wantHits:    []int64{2},
			wantLog:     []string{"skip train-images-idx3-ubyte.gz (present)\n", "fetched train-labels-idx1-ubyte.gz", "fetched t10k-images-idx3-ubyte.gz", "skip t10k-labels-idx1-ubyte.gz (present)\n"},
		},
		{
			name:        "force wins over only missing",
			mirrors:     []mirror{good},
			present:     map[int][]byte{0: []byte("re-compressed copy"), 1: files[1], 2: files[2], 3: files[3]},
			force:       true,
			onlyMissing: true,
			wantHits:    []int64{4},
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
				Spec:        spec,
				Dir:         dir,
				Mirrors:     bases,
				Force:       tt.force,
				OnlyMissing: tt.onlyMissing,
				Retries:     tt.retries,
				Backoff:     time.Millisecond,
				SpeedTime:   300 * time.Millisecond,
				MaxBytes:    tt.maxBytes,
				Log:         &log,
			}
			start := time.Now()
			err := Download(context.Background(), o)
			elapsed := time.Since(start)

			// No credentials, and no command-line flags: this is a
			// library, and the cli words its own advice.
			for _, never := range []string{"S3cret", "alice", "--data", "--mirror"} {
				if err != nil && strings.Contains(err.Error(), never) || strings.Contains(log.String(), never) {
					t.Errorf("error %v or log %q shows %q", err, log.String(), never)
				}
			}
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
func checkDir(t *testing.T, dir string, spec dataset.Spec, present map[int][]byte, complete bool) {
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
		sum, err := fileMD5(filepath.Join(dir, e.Name()), DefaultMaxBytes)
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
		{"no dir", context.Background(), DownloadOptions{Spec: spec, Mirrors: []string{"http://x/"}}, "no data folder given"},
		{"no mirrors", context.Background(), DownloadOptions{Spec: spec, Dir: t.TempDir()}, "no mirrors known"},
		{"bad URL with a password", context.Background(), DownloadOptions{Spec: spec, Dir: t.TempDir(), Mirrors: []string{"http://alice:S3cret@[::1/"}}, "http://xxxxx@[::1/train-images"},
		{"password with a slash", context.Background(), DownloadOptions{Spec: spec, Dir: t.TempDir(), Mirrors: []string{"http://alice:S3cret/x@example.org/"}}, "http://xxxxx@example.org/train-images"},
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
			if strings.Contains(err.Error(), "S3cret") || strings.Contains(err.Error(), "--") {
				t.Errorf("error %q shows a password or a flag", err)
			}
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
	if m := dataset.Missing(dir, spec); m != nil {
		t.Fatalf("missing after download: %v", m)
	}
	set, err := dataset.Load(dir, spec, dataset.Train)
	if err != nil {
		t.Fatal(err)
	}
	if set.N != 30 || !bytes.Equal(set.Pix, s.pix) {
		t.Errorf("loaded %d images, want %d and the same pixels", set.N, 30)
	}
	sum := md5.Sum(files[0])
	if got, _ := fileMD5(filepath.Join(dir, spec.Files[0].Name), DefaultMaxBytes); got != hex.EncodeToString(sum[:]) {
		t.Errorf("MD5 on disk %s", got)
	}
}

// TestDownloadRedirects checks the redirect policy with real servers: within
// the mirror's host and port redirects are followed; to another host or
// port (http to https included: see TestDownloadRedirectToHTTPS), back to
// http, to a file: URL or in a long chain they are refused at once with an
// error that names the target (without credentials), and the other host
// gets no request.
func TestDownloadRedirects(t *testing.T) {
	s := newSynth(5, 2, 2, 3)
	files := s.files(t, true)
	spec := testSpec(t, files)
	byName := map[string][]byte{}
	for i, f := range spec.Files {
		byName[f.Name] = files[i]
	}
	// other is another server: the target of cross-host redirects.
	other, otherHits := good(t, byName)
	otherURL, _ := url.Parse(other)
	// secure serves the files over https on 127.0.0.1, and redirects
	// /down/ to the plain server given in downTo.
	var downTo atomic.Value
	secureHits := new(atomic.Int64)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHits.Add(1)
		if strings.HasPrefix(r.URL.Path, "/down/") {
			http.Redirect(w, r, downTo.Load().(string)+path.Base(r.URL.Path), http.StatusFound)
			return
		}
		w.Write(byName[path.Base(r.URL.Path)])
	}))
	t.Cleanup(secure.Close)

	tests := []struct {
		name    string
		to      func(base, file string) string // where the mirror redirects to
		base    func(plain string) string      // the mirror's URL; nil: plain
		wantErr string                         // "" means success
	}{
		{name: "same host", to: func(base, f string) string { return base + "moved/" + f }},
		{name: "http to https on another port", to: func(base, f string) string { return secure.URL + "/data/" + f },
			wantErr: "refused redirect to " + secure.URL + "/data/train-images-idx3-ubyte.gz: another port"},
		{name: "another port", to: func(base, f string) string { return other + f },
			wantErr: "refused redirect to " + other + "train-images-idx3-ubyte.gz: another port; downloads follow redirects only within the mirror's host 127.0.0.1:"},
		{name: "another host", to: func(base, f string) string { return "http://localhost:" + otherURL.Port() + "/data/" + f },
			wantErr: "refused redirect to http://localhost:" + otherURL.Port() + "/data/train-images-idx3-ubyte.gz: another host"},
		{name: "metadata address", to: func(base, f string) string { return "http://169.254.169.254/latest/meta-data/" },
			wantErr: "refused redirect to http://169.254.169.254/latest/meta-data/: another host"},
		{name: "credentials in the target", to: func(base, f string) string { return "http://bob:Pa55word@localhost:" + otherURL.Port() + "/" },
			wantErr: "refused redirect to http://xxxxx@localhost:" + otherURL.Port() + "/: another host"},
		{name: "file URL", to: func(base, f string) string { return "file:///etc/passwd" },
			wantErr: "refused redirect to file:///etc/passwd: it is a file: URL"},
		{name: "https back to http", to: func(base, f string) string { return base + "moved/" + f },
			base:    func(plain string) string { downTo.Store(plain + "moved/"); return secure.URL + "/down/" },
			wantErr: "refused redirect to http://127.0.0.1:"},
		{name: "endless", to: func(base, f string) string { return base + f },
			wantErr: "more than 10 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			otherHits.Store(0)
			hits := new(atomic.Int64)
			var plain string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if strings.HasPrefix(r.URL.Path, "/data/moved/") {
					w.Write(byName[path.Base(r.URL.Path)])
					return
				}
				http.Redirect(w, r, tt.to(plain, path.Base(r.URL.Path)), http.StatusFound)
			}))
			t.Cleanup(srv.Close)
			plain = srv.URL + "/data/"
			base := plain
			if tt.base != nil {
				base = tt.base(plain)
			}
			dir := t.TempDir()
			var log bytes.Buffer
			err := Download(context.Background(), DownloadOptions{
				Spec: spec, Dir: dir, Mirrors: []string{base}, Retries: 3, Backoff: time.Millisecond, Log: &log,
				Client: secure.Client(), // trusts the https server, and speaks plain http too
			})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				checkDir(t, dir, spec, nil, true)
				return
			}
			checkOneLine(t, err)
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "(1 attempt)") {
				t.Errorf("error %q does not contain %q after one attempt", err, tt.wantErr)
			}
			if strings.Contains(err.Error()+log.String(), "Pa55word") {
				t.Errorf("a password shows in %q", err.Error()+log.String())
			}
			if n := otherHits.Load(); n != 0 {
				t.Errorf("the other host got %d requests", n)
			}
			checkDir(t, dir, spec, nil, false)
		})
	}
}

// TestDownloadRedirectToHTTPS checks that a redirect from http to https on
// the same host is followed from port 80 to port 443 only. The client's
// dialer sends those ports, and 8080 and 8443, to two loopback servers, so
// that the URLs have the ports under test.
func TestDownloadRedirectToHTTPS(t *testing.T) {
	s := newSynth(5, 2, 2, 3)
	files := s.files(t, true)
	spec := testSpec(t, files)
	byName := map[string][]byte{}
	for i, f := range spec.Files {
		byName[f.Name] = files[i]
	}
	secureHits, plainHits := new(atomic.Int64), new(atomic.Int64)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHits.Add(1)
		w.Write(byName[path.Base(r.URL.Path)])
	}))
	t.Cleanup(secure.Close)
	var to atomic.Value // the https base the plain server redirects to
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		http.Redirect(w, r, to.Load().(string)+path.Base(r.URL.Path), http.StatusFound)
	}))
	t.Cleanup(plain.Close)
	addr := map[string]string{
		"127.0.0.1:80": plain.Listener.Addr().String(), "127.0.0.1:8080": plain.Listener.Addr().String(),
		"127.0.0.1:443": secure.Listener.Addr().String(), "127.0.0.1:8443": secure.Listener.Addr().String(),
	}
	tr := secure.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		real, ok := addr[a]
		if !ok {
			return nil, fmt.Errorf("test dialer: no server for %s", a)
		}
		return (&net.Dialer{}).DialContext(ctx, network, real)
	}
	client := &http.Client{Transport: tr}

	tests := []struct {
		from, to string
		wantErr  string // "" means success
	}{
		{"http://127.0.0.1/data/", "https://127.0.0.1/data/", ""},
		{"http://127.0.0.1:80/data/", "https://127.0.0.1:443/data/", ""},
		{"http://127.0.0.1:8080/data/", "https://127.0.0.1:8443/data/", "refused redirect to https://127.0.0.1:8443/data/train-images-idx3-ubyte.gz: another port"},
		{"http://127.0.0.1:8080/data/", "https://127.0.0.1/data/", "refused redirect to https://127.0.0.1/data/train-images-idx3-ubyte.gz: another port"},
		{"http://127.0.0.1/data/", "https://127.0.0.1:8443/data/", "refused redirect to https://127.0.0.1:8443/data/train-images-idx3-ubyte.gz: another port"},
	}
	for _, tt := range tests {
		t.Run(tt.from+" to "+tt.to, func(t *testing.T) {
			secureHits.Store(0)
			plainHits.Store(0)
			to.Store(tt.to)
			dir := t.TempDir()
			err := Download(context.Background(), DownloadOptions{
				Spec: spec, Dir: dir, Mirrors: []string{tt.from}, Retries: 3, Backoff: time.Millisecond, Client: client,
			})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if plainHits.Load() != 4 || secureHits.Load() != 4 {
					t.Errorf("%d requests over http and %d over https, want 4 each", plainHits.Load(), secureHits.Load())
				}
				checkDir(t, dir, spec, nil, true)
				return
			}
			checkOneLine(t, err)
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "(1 attempt)") {
				t.Errorf("error %q does not contain %q after one attempt", err, tt.wantErr)
			}
			if n := secureHits.Load(); n != 0 {
				t.Errorf("the https server got %d requests", n)
			}
			checkDir(t, dir, spec, nil, false)
		})
	}
}

// TestDownloadIdentityEncoding checks that the request asks for the bytes as
// stored, so that no transport decompresses them on the way.
func TestDownloadIdentityEncoding(t *testing.T) {
	files := newSynth(5, 2, 2, 4).files(t, true)
	spec := testSpec(t, files)
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Accept-Encoding"))
		for i, f := range spec.Files {
			if f.Name == path.Base(r.URL.Path) {
				w.Write(files[i])
			}
		}
	}))
	defer srv.Close()
	if err := Download(context.Background(), DownloadOptions{Spec: spec, Dir: t.TempDir(), Mirrors: []string{srv.URL}}); err != nil {
		t.Fatal(err)
	}
	if ae := got.Load(); ae != "identity" {
		t.Errorf("Accept-Encoding %q, want identity", ae)
	}
}

// TestDownloadCancel checks that cancelling the context (Ctrl-C) stops a
// download at once, whatever it is doing, with an error that wraps
// context.Canceled, without retrying and without leaving files behind.
func TestDownloadCancel(t *testing.T) {
	files := newSynth(20, 5, 5, 5).files(t, true)
	spec := testSpec(t, files)
	byName := map[string][]byte{}
	for i, f := range spec.Files {
		byName[f.Name] = files[i]
	}
	tests := []struct {
		name   string
		mirror mirror
	}{
		{"while reading the body", stallBody},
		{"while waiting for the answer", stallHeaders},
		{"while backing off", status(503)},
		{"while trickling", trickle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, hits := tt.mirror(t, byName)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			dir := t.TempDir()
			done := make(chan error, 1)
			go func() {
				done <- Download(ctx, DownloadOptions{Spec: spec, Dir: dir, Mirrors: []string{base, base},
					Retries: 3, Backoff: 10 * time.Second, SpeedTime: time.Minute})
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Download still running 5 s after the context was cancelled")
			}
			checkOneLine(t, err)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d requests, want 1: no retry after a cancel", n)
			}
			checkDir(t, dir, spec, nil, false)
		})
	}
}

// fullDisk is a sink that fails as a full disk does once some bytes are
// in, wrapping a real one so that Abort cleans up.
type fullDisk struct {
	sink
	path    string
	written int
}

func (f *fullDisk) Write(p []byte) (int, error) {
	if f.written+len(p) > 100 {
		return 0, &atomicfile.Error{Op: "write", Path: f.path, Err: syscall.ENOSPC}
	}
	f.written += len(p)
	return f.sink.Write(p)
}

// TestDownloadLocalWriteError checks that a failure to write locally is not
// retried, not tried on other mirrors and not blamed on the network.
func TestDownloadLocalWriteError(t *testing.T) {
	files := newSynth(50, 5, 5, 6).files(t, false)
	spec := testSpec(t, files)
	byName := map[string][]byte{}
	for i, f := range spec.Files {
		byName[f.Name] = files[i]
	}
	orig := createSink
	t.Cleanup(func() { createSink = orig })
	createSink = func(path string) (sink, error) {
		s, err := orig(path)
		if err != nil {
			return nil, err
		}
		return &fullDisk{sink: s, path: path}, nil
	}
	a, aHits := good(t, byName)
	b, bHits := good(t, byName)
	dir := t.TempDir()
	err := Download(context.Background(), DownloadOptions{Spec: spec, Dir: dir, Mirrors: []string{a, b}, Retries: 3, Backoff: time.Millisecond})
	checkOneLine(t, err)
	want := "download train-images-idx3-ubyte.gz: no space left on device writing train-images-idx3-ubyte.gz in " + dir + ": free some space or choose another location"
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("error does not wrap ENOSPC")
	}
	if a, b := aHits.Load(), bHits.Load(); a != 1 || b != 0 {
		t.Errorf("mirrors got %d and %d requests, want 1 and 0", a, b)
	}
	checkDir(t, dir, spec, nil, false)
}

// TestDownloadSpecialFiles checks that a present data file that is a FIFO
// or a link to /dev/zero neither hangs the MD5 check nor gets replaced, and
// that a file: mirror whose file is a FIFO fails at once. Each call runs
// under a 5 s deadline.
func TestDownloadSpecialFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		testenv.SkipByDesign(t, "Windows has no FIFOs or /dev/zero")
	}
	files := newSynth(5, 2, 2, 7).files(t, true)
	spec := testSpec(t, files)
	byName := map[string][]byte{}
	for i, f := range spec.Files {
		byName[f.Name] = files[i]
	}
	name := spec.Files[0].Name
	fifoMirror := t.TempDir()
	if err := mkfifo(filepath.Join(fifoMirror, name)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		present     func(t *testing.T, path string) // makes the present file
		mirror      string                          // "" means a good server
		onlyMissing bool
		want        string
	}{
		{"present FIFO", func(t *testing.T, p string) { mkfifo(p) }, "", false,
			"download " + name + ": {dir}/" + name + " is a named pipe (FIFO), not a regular file: give the path of a regular file to write"},
		{"present FIFO, only missing", func(t *testing.T, p string) { mkfifo(p) }, "", true, "is a named pipe (FIFO), not a regular file"},
		{"present link to /dev/zero", func(t *testing.T, p string) { os.Symlink("/dev/zero", p) }, "", false,
			"download " + name + ": {dir}/" + name + " leads to /dev/zero, which is a character device, not a regular file"},
		{"FIFO on a file mirror", nil, "file://" + fifoMirror, false,
			"the mirror failed: file://" + fifoMirror + "/" + name + " (1 attempt): " + fifoMirror + "/" + name + " is a named pipe (FIFO), not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.present != nil {
				tt.present(t, filepath.Join(dir, name))
			}
			m := tt.mirror
			hits := new(atomic.Int64)
			if m == "" {
				m, hits = good(t, byName)
			}
			done := make(chan error, 1)
			go func() {
				done <- Download(context.Background(), DownloadOptions{Spec: spec, Dir: dir, Mirrors: []string{m}, OnlyMissing: tt.onlyMissing})
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Download still running after 5 s")
			}
			checkOneLine(t, err)
			if want := strings.ReplaceAll(tt.want, "{dir}", dir); !strings.Contains(err.Error(), want) {
				t.Errorf("error\n%s\ndoes not contain\n%s", err, want)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("%d requests for a file that cannot be written", n)
			}
		})
	}
}
