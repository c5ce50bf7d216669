package dataset

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxBytes encodes data as a raw IDX file of unsigned bytes with the given
// dimensions. It does not check that data fits dims, so tests can forge
// headers.
func idxBytes(dims []uint32, data []byte) []byte {
	b := []byte{0, 0, idxUint8, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

// gzipBytes compresses b.
func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// synth is a small generated data set.
type synth struct {
	n, rows, cols int
	pix           []byte
	labels        []uint8
}

// newSynth makes n random images of rows x cols pixels with labels i%10.
func newSynth(n, rows, cols int, seed uint64) synth {
	r := rand.New(rand.NewPCG(seed, 1))
	s := synth{n: n, rows: rows, cols: cols, pix: make([]byte, n*rows*cols), labels: make([]uint8, n)}
	for i := range s.pix {
		s.pix[i] = byte(r.IntN(256))
	}
	for i := range s.labels {
		s.labels[i] = uint8(i % NumClasses)
	}
	return s
}

// files returns the four files (train images, train labels, test images,
// test labels) of a data set whose train and test splits are both s.
func (s synth) files(t testing.TB, gz bool) [4][]byte {
	t.Helper()
	im := idxBytes([]uint32{uint32(s.n), uint32(s.rows), uint32(s.cols)}, s.pix)
	lb := idxBytes([]uint32{uint32(s.n)}, s.labels)
	if gz {
		im, lb = gzipBytes(t, im), gzipBytes(t, lb)
	}
	return [4][]byte{im, lb, im, lb}
}

// testSpec returns a Spec named "synth" for files, with their MD5s and no
// mirrors.
func testSpec(t testing.TB, files [4][]byte) Spec {
	t.Helper()
	spec, err := Lookup("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = "synth"
	spec.Mirrors = nil
	// A system package's copy, if installed here, must not take part.
	spec.SystemDirs = nil
	for i := range spec.Files {
		spec.Files[i].SHA256 = ""
	}
	for i, b := range files {
		sum := md5.Sum(b)
		spec.Files[i].MD5 = hex.EncodeToString(sum[:])
	}
	return spec
}

// writeFiles writes files under spec's names in dir.
func writeFiles(t testing.TB, dir string, spec Spec, files [4][]byte) {
	t.Helper()
	for i, b := range files {
		if b == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, spec.Files[i].Name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

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

// checkOneLine fails if err is nil or its message spans lines.
func checkOneLine(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error is not one line: %q", err)
	}
}
