package fetch

import (
	"bufio"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

// maxContent bounds how many decompressed bytes a content check hashes:
// the largest real IDX file is 47 MB, so a stream that inflates beyond this
// is not a copy of one (a gzip bomb, say) and is not hashed to its end.
const maxContent = 1 << 30

// readBufSize is the bufio size in front of the gzip decoder, as in
// dataset's readers: large enough that system calls do not show in a
// profile.
const readBufSize = 64 << 10

// ContentSHA256 returns the hex SHA-256 of the decompressed bytes of r: of
// the gzip stream's contents if r starts with the gzip magic bytes, else of
// r itself. Two files with the same content but compressed differently
// (another level, another tool, another timestamp in the gzip header) have
// the same content SHA-256 and different MD5s. A stream that inflates to
// more than 1 GiB, or a damaged gzip stream, is an error.
func ContentSHA256(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(r, readBufSize)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", err
		}
		defer zr.Close()
		src = zr
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(src, maxContent+1))
	if err != nil {
		return "", err
	}
	if n > maxContent {
		return "", fmt.Errorf("decompresses to over %d bytes", int64(maxContent))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// idxSHA256 is the SHA-256 of the IDX file with dimensions dims and data
// data: dataset.ReadIDX accepts exactly the header and the data, so a loaded
// file's content is known without reading it again.
func idxSHA256(dims []int, data []byte) string {
	h := sha256.New()
	h.Write(dataset.IDXHeader(dims))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// contentHasher computes ContentSHA256 of what is written to it, as it is
// written, so that a download is checked in the same pass that stores it.
type contentHasher struct {
	pw   *io.PipeWriter
	done chan struct{}
	sum  string
	err  error
}

func newContentHasher() *contentHasher {
	pr, pw := io.Pipe()
	c := &contentHasher{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.sum, c.err = ContentSHA256(pr)
		// Whatever went wrong, keep reading so that writers never block.
		io.Copy(io.Discard, pr)
	}()
	return c
}

// Write never fails: a stream that is not valid gzip is reported by result.
func (c *contentHasher) Write(p []byte) (int, error) {
	c.pw.Write(p)
	return len(p), nil
}

// result ends the stream and returns its content SHA-256.
func (c *contentHasher) result() (string, error) {
	c.pw.Close()
	<-c.done
	return c.sum, c.err
}

// abort ends the stream without a result.
func (c *contentHasher) abort() {
	c.pw.CloseWithError(errors.New("aborted"))
	<-c.done
}

// Provenance says whether a split's files are the official ones.
type Provenance int

const (
	// Unchecked: no checksum of the dataset is known that could tell.
	Unchecked Provenance = iota
	// Official: every file's archive MD5 or content SHA-256 is the
	// official one.
	Official
	// Modified: some file's sums are known and differ.
	Modified
)

// Origin reports the provenance of a loaded split.
type Origin struct {
	Provenance Provenance
	// Differ names the files whose sums are not the official ones.
	Differ []string
	// By says which sums decided: "content SHA-256" or "archive MD5".
	By string
}

// CheckSplit tells whether split s, loaded by dataset.Load from dir, is
// spec's official data. A file whose spec has a content SHA-256 is checked
// by it, computed from the loaded data without reading the file again (so a
// re-compressed copy counts as official); a file with only an MD5 is
// checked by its archive's MD5, which a re-compressed copy fails.
func CheckSplit(dir string, spec dataset.Spec, split dataset.Split, s *dataset.Set) Origin {
	if a := spec.Archive; a != nil {
		if a.File.MD5 == "" {
			return Origin{}
		}
		sum, err := fileMD5(filepath.Join(dir, a.File.Name), max(DefaultMaxBytes, spec.MaxBytes))
		if err == nil && strings.EqualFold(sum, a.File.MD5) {
			return Origin{Provenance: Official, By: "archive MD5"}
		}
		return Origin{Provenance: Modified, Differ: []string{a.File.Name}, By: "archive MD5"}
	}
	imf, lbf, err := spec.SplitFiles(split)
	if err != nil || s == nil {
		return Origin{}
	}
	o := Origin{Provenance: Official}
	var by []string
	check := func(f dataset.File, dims []int, data []byte) {
		var ok bool
		switch {
		case f.SHA256 != "" && data != nil:
			ok = strings.EqualFold(idxSHA256(dims, data), f.SHA256)
			by = append(by, "content SHA-256")
		case f.MD5 != "":
			sum, err := fileMD5(filepath.Join(dir, f.Name), DefaultMaxBytes)
			ok = err == nil && strings.EqualFold(sum, f.MD5)
			by = append(by, "archive MD5")
		default:
			o.Provenance = Unchecked
			return
		}
		if !ok {
			o.Differ = append(o.Differ, f.Name)
		}
	}
	check(imf, []int{s.N, s.Rows, s.Cols}, s.Pix)
	check(lbf, []int{s.N}, s.Labels)
	if o.Provenance == Unchecked {
		return Origin{}
	}
	if len(o.Differ) > 0 {
		o.Provenance = Modified
	}
	o.By = by[0]
	if len(by) > 1 && by[1] != by[0] {
		o.By = by[0] + " and " + by[1]
	}
	return o
}

// fileSums returns the MD5 of the regular file at path and, if content,
// its content SHA-256, reading it once and at most max bytes of it.
func fileSums(path string, max int64, content bool) (md5sum, sha string, err error) {
	f, info, err := safeopen.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	if info.Size() > max {
		return "", "", fmt.Errorf("%s is over the %d-byte limit", path, max)
	}
	h := md5.New()
	var w io.Writer = h
	var c *contentHasher
	if content {
		c = newContentHasher()
		w = io.MultiWriter(h, c)
	}
	n, err := io.Copy(w, io.LimitReader(f, max+1))
	if err == nil && n > max {
		err = fmt.Errorf("%s is over the %d-byte limit", path, max)
	}
	if err != nil {
		if c != nil {
			c.abort()
		}
		return "", "", err
	}
	md5sum = hex.EncodeToString(h.Sum(nil))
	if c != nil {
		sha, _ = c.result()
	}
	return md5sum, sha, nil
}
