package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// gzipLevel compresses b at the given level with a name in the header, as
// another tool re-compressing the official file would.
func gzipLevel(t testing.TB, b []byte, level int, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Name = name
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestContentSHA256(t *testing.T) {
	raw := idxBytes([]uint32{3, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	gz := gzipLevel(t, raw, 9, "")
	bad := bytes.Clone(gz)
	bad[len(bad)-5] ^= 0xff // the CRC
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr string
	}{
		{"raw", raw, sha(raw), ""},
		{"gzip best", gz, sha(raw), ""},
		{"gzip fast, named", gzipLevel(t, raw, 1, "x.idx"), sha(raw), ""},
		{"two members", append(gzipLevel(t, raw[:5], 5, ""), gzipLevel(t, raw[5:], 5, "")...), sha(raw), ""},
		{"bad checksum", bad, "", "checksum"},
		{"truncated", gz[:len(gz)/2], "", "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ContentSHA256(bytes.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
			// The streaming hasher agrees.
			c := newContentHasher()
			c.Write(tt.in[:len(tt.in)/3])
			c.Write(tt.in[len(tt.in)/3:])
			if s, err := c.result(); s != tt.want || err != nil {
				t.Errorf("streaming: %s, %v", s, err)
			}
		})
	}
	// idxSHA256 rebuilds the same bytes from a loaded file.
	if got := idxSHA256([]int{3, 2, 2}, raw[16:]); got != sha(raw) {
		t.Errorf("idxSHA256 = %s, want %s", got, sha(raw))
	}
}

// officialSpec returns a fake "official" dataset: its files are s's, gzipped
// at the best level, with their MD5s and content SHA-256s; recompressed are
// the same contents gzipped another way, as a Debian package or a user's
// re-compression would ship them.
func officialSpec(t *testing.T, s synth) (spec dataset.Spec, official, recompressed [4][]byte) {
	t.Helper()
	im := idxBytes([]uint32{uint32(s.n), uint32(s.rows), uint32(s.cols)}, s.pix)
	lb := idxBytes([]uint32{uint32(s.n)}, s.labels)
	raw := [4][]byte{im, lb, im, lb}
	for i, b := range raw {
		official[i] = gzipLevel(t, b, 9, "")
		recompressed[i] = gzipLevel(t, b, 1, "copy")
	}
	spec = testSpec(t, official)
	for i, b := range raw {
		spec.Files[i].SHA256 = sha(b)
	}
	return spec, official, recompressed
}

func byName(spec dataset.Spec, files [4][]byte) map[string][]byte {
	m := map[string][]byte{}
	for i, f := range spec.Files {
		m[f.Name] = files[i]
	}
	return m
}

// A mirror's re-compressed copy of the official content is accepted (its
// MD5 differs), a copy with other content is not, a present re-compressed
// copy is kept without fetching, and a spec without content sums still
// refuses the re-compressed copy.
func TestDownloadRecompressed(t *testing.T) {
	s := newSynth(40, 5, 5, 11)
	spec, _, recompressed := officialSpec(t, s)
	changed := bytes.Clone(s.pix)
	changed[7] ^= 1
	other := gzipLevel(t, idxBytes([]uint32{40, 5, 5}, changed), 1, "")
	noSHA := spec
	noSHA.Files = spec.Files
	for i := range noSHA.Files {
		noSHA.Files[i].SHA256 = ""
	}
	tests := []struct {
		name     string
		spec     dataset.Spec
		served   [4][]byte
		present  bool // the served files are already in the folder
		wantErr  []string
		wantLog  string
		wantHits int64
	}{
		{name: "re-compressed mirror", spec: spec, served: recompressed, wantLog: "fetched train-images-idx3-ubyte.gz from", wantHits: 4},
		{name: "other content", spec: spec, served: [4][]byte{other, recompressed[1], recompressed[2], recompressed[3]},
			wantErr: []string{"MD5 mismatch", "decompressed content's SHA-256 is " + sha(idxBytes([]uint32{40, 5, 5}, changed)), "not the official " + spec.Files[0].SHA256}, wantHits: 1},
		{name: "not gzip at all", spec: spec, served: [4][]byte{[]byte("\x1f\x8b junk"), recompressed[1], recompressed[2], recompressed[3]},
			wantErr: []string{"MD5 mismatch", "content cannot be read"}, wantHits: 1},
		{name: "present re-compressed copy kept", spec: spec, served: recompressed, present: true, wantLog: "skip t10k-labels-idx1-ubyte.gz (present, a re-compressed copy of the official file: content SHA-256 ok)", wantHits: 0},
		{name: "no content sums: MD5 only", spec: noSHA, served: recompressed, wantErr: []string{"MD5 mismatch: got"}, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, hits := good(t, byName(tt.spec, tt.served))
			dir := t.TempDir()
			if tt.present {
				writeFiles(t, dir, tt.spec, tt.served)
			}
			var log bytes.Buffer
			err := Download(context.Background(), DownloadOptions{Spec: tt.spec, Dir: dir, Mirrors: []string{base}, Retries: 1, Log: &log})
			if h := hits.Load(); h != tt.wantHits {
				t.Errorf("%d requests, want %d", h, tt.wantHits)
			}
			if tt.wantErr != nil {
				checkOneLine(t, err)
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %v, want %q in it", err, w)
					}
				}
				if _, serr := os.Stat(filepath.Join(dir, tt.spec.Files[0].Name)); serr == nil {
					t.Error("a refused file was kept")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", log.String(), tt.wantLog)
			}
			if !tt.present && !strings.Contains(log.String(), "re-compressed copy of the official file: content SHA-256 ok") {
				t.Errorf("log %q does not say the copy is re-compressed", log.String())
			}
			for i, f := range tt.spec.Files {
				if b, _ := os.ReadFile(filepath.Join(dir, f.Name)); !bytes.Equal(b, tt.served[i]) {
					t.Errorf("%s differs from what was served", f.Name)
				}
			}
		})
	}
}

// A system package's folder is used before the mirrors, unless mirrors were
// given; a damaged file there falls through to the next mirror.
func TestDownloadSystemDir(t *testing.T) {
	s := newSynth(20, 4, 4, 12)
	spec, official, recompressed := officialSpec(t, s)
	damaged := recompressed
	damaged[2] = gzipLevel(t, []byte("not the data"), 1, "")
	tests := []struct {
		name        string
		system      [4][]byte // the system folder's files; nil: no folder
		userMirrors bool
		wantHits    int64
		wantLog     []string
	}{
		{name: "system copy", system: recompressed, wantHits: 0, wantLog: []string{"installed by a system package", "fetched t10k-images-idx3-ubyte.gz from file://"}},
		{name: "no system folder", wantHits: 4, wantLog: []string{"fetched train-images-idx3-ubyte.gz from http"}},
		{name: "user's mirror wins", system: recompressed, userMirrors: true, wantHits: 4},
		{name: "damaged system file", system: damaged, wantHits: 1, wantLog: []string{"fetched t10k-images-idx3-ubyte.gz from http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, hits := good(t, byName(spec, official))
			sp := spec
			sp.Mirrors = []string{base}
			sp.SystemDirs = []string{filepath.Join(t.TempDir(), "absent")}
			if tt.system[0] != nil {
				sys := t.TempDir()
				writeFiles(t, sys, spec, tt.system)
				sp.SystemDirs = append(sp.SystemDirs, sys)
			}
			o := DownloadOptions{Spec: sp, Dir: t.TempDir(), Retries: 1}
			if tt.userMirrors {
				o.Mirrors = []string{base}
			}
			var log bytes.Buffer
			o.Log = &log
			if err := Download(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if h := hits.Load(); h != tt.wantHits {
				t.Errorf("%d requests to the mirror, want %d; log:\n%s", h, tt.wantHits, log.String())
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(log.String(), w) {
					t.Errorf("log %q lacks %q", log.String(), w)
				}
			}
			if tt.userMirrors && strings.Contains(log.String(), "system package") {
				t.Errorf("used the system folder despite the user's mirror: %s", log.String())
			}
			if strings.Count(log.String(), "system package") > 1 {
				t.Errorf("said more than once that the system folder is used: %s", log.String())
			}
		})
	}
}

func TestCheckSplit(t *testing.T) {
	s := newSynth(30, 4, 4, 13)
	spec, official, recompressed := officialSpec(t, s)
	noSHA := spec
	for i := range noSHA.Files {
		noSHA.Files[i].SHA256 = ""
	}
	none := noSHA
	for i := range none.Files {
		none.Files[i].MD5 = ""
	}
	changed := bytes.Clone(s.pix)
	changed[0] ^= 1
	modified := recompressed
	modified[2] = gzipLevel(t, idxBytes([]uint32{30, 4, 4}, changed), 1, "")
	tests := []struct {
		name   string
		spec   dataset.Spec
		files  [4][]byte
		split  dataset.Split
		want   Provenance
		differ []string
		by     string
	}{
		{"official archives", spec, official, dataset.Train, Official, nil, "content SHA-256"},
		{"re-compressed, content sums", spec, recompressed, dataset.Test, Official, nil, "content SHA-256"},
		{"changed pixel", spec, modified, dataset.Test, Modified, []string{"t10k-images-idx3-ubyte.gz"}, "content SHA-256"},
		{"MD5 only, official", noSHA, official, dataset.Train, Official, nil, "archive MD5"},
		{"MD5 only, re-compressed", noSHA, recompressed, dataset.Train, Modified, []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}, "archive MD5"},
		{"no sums", none, recompressed, dataset.Train, Unchecked, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.spec, tt.files)
			set, err := dataset.Load(dir, tt.spec, tt.split)
			if err != nil {
				t.Fatal(err)
			}
			o := CheckSplit(dir, tt.spec, tt.split, set)
			if o.Provenance != tt.want || strings.Join(o.Differ, ",") != strings.Join(tt.differ, ",") || o.By != tt.by {
				t.Errorf("got %+v, want %v %v by %q", o, tt.want, tt.differ, tt.by)
			}
		})
	}
}

// The real Fashion-MNIST files of SOFTMAXCTL_TEST_DATA: their content sums
// are the spec's (the image archives are re-compressed copies, the labels
// are the official archives).
func TestFashionContentSums(t *testing.T) {
	dir := testenv.Data(t)
	spec, _ := dataset.Lookup("fashion-mnist")
	if missing := dataset.Missing(dir, spec); missing != nil {
		t.Fatalf("SOFTMAXCTL_TEST_DATA=%s lacks %v", dir, missing)
	}
	for _, sp := range []dataset.Split{dataset.Train, dataset.Test} {
		set, err := dataset.Load(dir, spec, sp)
		if err != nil {
			t.Fatal(err)
		}
		if o := CheckSplit(dir, spec, sp, set); o.Provenance != Official {
			t.Errorf("%s: %+v", sp, o)
		}
	}
}

func FuzzContentSHA256(f *testing.F) {
	f.Add([]byte{})
	f.Add(gzipLevel(f, idxBytes([]uint32{1}, []byte{3}), 9, ""))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s1, err1 := ContentSHA256(bytes.NewReader(b))
		c := newContentHasher()
		c.Write(b)
		s2, err2 := c.result()
		if s1 != s2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("streaming differs: %s %v / %s %v", s1, err1, s2, err2)
		}
		if b0 := len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b; b0 && (err1 != nil || s1 != sha(b)) {
			t.Fatalf("raw input: %s %v", s1, err1)
		}
	})
}
