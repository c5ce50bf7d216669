package dataset

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
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

// readFolderCache reads the cache file at path in the cache folder dir. It
// returns nil when there is no valid file there; writable says whether a
// new one may be written there. A folder or file that is not trusted (see
// distrust) is not read, and ignored says why.
func readFolderCache(dir, path string) (f *Folder, writable bool, ignored error) {
	di, err := os.Stat(dir)
	if err != nil || !di.IsDir() {
		return nil, true, nil // writing makes it, or says why it cannot
	}
	if why := distrust(di); why != "" {
		advice := "set " + EnvData + " to a folder of your own to keep a cache"
		if !strings.HasPrefix(why, "belongs") {
			advice = "chmod go-w it to keep a cache"
		}
		return nil, false, fmt.Errorf("cache folder %s %s: %s", dir, why, advice)
	}
	fh, fi, err := safeopen.Open(path)
	if err != nil {
		return nil, true, nil
	}
	defer fh.Close()
	if why := distrust(fi); why != "" {
		return nil, true, fmt.Errorf("cache file %s %s", path, why)
	}
	if fi.Size() > maxFolderCache {
		return nil, true, nil
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFolderCache))
	if err != nil {
		return nil, true, nil
	}
	f, err = DecodeFolderCache(data)
	if err != nil {
		return nil, true, nil
	}
	return f, true, nil
}

// writeFolderCache stores f at path in the cache folder dir, atomically,
// making the folder (0700) if needed; the file is 0600. replace removes the
// file first, so that one of another user is not replaced by one that keeps
// its owner and mode.
func writeFolderCache(dir, path string, f *Folder, replace bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// The folder may have been made meanwhile by someone else.
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if why := distrust(di); why != "" {
		return fmt.Errorf("cache folder %s %s", dir, why)
	}
	if replace {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return EncodeFolderCache(w, f) }); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
