package dataset

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
)

// The folder cache file is, in order: folderCacheMagic; a little-endian
// uint32 n and n bytes of JSON (folderCacheHeader); the training labels and
// pixels; the test labels and pixels.
const folderCacheMagic = "SMXFOLD\x02"

const (
	// maxFolderCache bounds the cache file LoadFolder reads (8 GiB).
	maxFolderCache = 8 << 30
	// maxCacheHeader bounds the JSON header.
	maxCacheHeader = 16 << 20
)

type folderCacheHeader struct {
	Classes  []string   `json:"classes"`
	Size     int        `json:"size"`
	Channels int        `json:"channels"`
	TrainN   int        `json:"train_n"`
	TestN    int        `json:"test_n"`
	Resized  int        `json:"resized"`
	Bad      []BadImage `json:"bad,omitempty"`
	// Verify lists the files that had changed just before they were
	// decoded, with the hash of the content decoded (see racyWindow).
	Verify []verifyEntry `json:"verify,omitempty"`
}

// errCache is the cause of every DecodeFolderCache error.
var errCache = errors.New("not a valid folder cache file")

// DecodeFolderCache parses a folder cache file. The bytes may be anything
// (a cache file is a file on disk, which anything may have changed): it
// checks every length against the data before using it and never panics.
// The Sets' pixels and labels share data.
func DecodeFolderCache(data []byte) (*Folder, error) {
	bad := func(what string) (*Folder, error) { return nil, fmt.Errorf("%w: %s", errCache, what) }
	if !bytes.HasPrefix(data, []byte(folderCacheMagic)) {
		return bad("no magic")
	}
	data = data[len(folderCacheMagic):]
	if len(data) < 4 {
		return bad("truncated header")
	}
	n := binary.LittleEndian.Uint32(data)
	data = data[4:]
	if n > maxCacheHeader || uint64(n) > uint64(len(data)) {
		return bad("header length")
	}
	var h folderCacheHeader
	if err := json.Unmarshal(data[:n], &h); err != nil {
		return bad("header")
	}
	data = data[n:]
	switch {
	case len(h.Classes) < 2 || len(h.Classes) > MaxFolderClasses:
		return bad("class count")
	case h.Size < 1 || h.Size > 1<<14, h.Channels != 1 && h.Channels != 3:
		return bad("image shape")
	case h.TrainN < 0 || h.TestN < 0 || h.Resized < 0:
		return bad("counts")
	}
	dim := uint64(h.Channels) * uint64(h.Size) * uint64(h.Size)
	want := (uint64(h.TrainN) + uint64(h.TestN)) * (dim + 1)
	if want != uint64(len(data)) {
		return bad("data length")
	}
	f := &Folder{Classes: h.Classes, Resized: h.Resized, Bad: h.Bad, verify: h.Verify}
	for _, p := range []struct {
		n   int
		dst **Set
	}{{h.TrainN, &f.Train}, {h.TestN, &f.Test}} {
		s := &Set{N: p.n, Rows: h.Size, Cols: h.Size, Channels: h.Channels, Classes: len(h.Classes)}
		s.Labels, data = data[:p.n:p.n], data[p.n:]
		size := p.n * int(dim)
		s.Pix, data = data[:size:size], data[size:]
		for _, l := range s.Labels {
			if int(l) >= len(h.Classes) {
				return bad("label out of range")
			}
		}
		*p.dst = s
	}
	return f, nil
}

// EncodeFolderCache writes f in the format DecodeFolderCache reads.
func EncodeFolderCache(w io.Writer, f *Folder) error {
	h := folderCacheHeader{
		Classes: f.Classes, Size: f.Train.Rows, Channels: f.Train.Chans(),
		TrainN: f.Train.N, TestN: f.Test.N, Resized: f.Resized, Bad: f.Bad, Verify: f.verify,
	}
	js, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(js)))
	for _, b := range [][]byte{[]byte(folderCacheMagic), n[:], js, f.Train.Labels, f.Train.Pix, f.Test.Labels, f.Test.Pix} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// writeFolderCache stores f at path, atomically.
func writeFolderCache(path string, f *Folder) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error { return EncodeFolderCache(w, f) })
}
