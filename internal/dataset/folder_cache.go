package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

// The folder cache file is, in order: folderCacheMagic; a little-endian
// uint32 n and n bytes of JSON (folderCacheHeader); the training labels and
// pixels; the test labels and pixels.
const folderCacheMagic = "SMXFOLD\x02"

// maxCacheHeader bounds the JSON header, which lists unreadable images and
// recently changed files with their paths.
const maxCacheHeader = 64 << 20

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

// cacheWant is what LoadFolder expects of a cache file: the folder's
// classes and image shape, and one image or unreadable file for each of
// the images it found.
type cacheWant struct {
	classes        []string
	size, channels int
	images         int
}

// DecodeFolderCache parses a folder cache file. The bytes may be anything
// (a cache file is a file on disk, which anything may have changed): it
// checks every length against the data before using it and never panics.
func DecodeFolderCache(data []byte) (*Folder, error) {
	return readCache(bytes.NewReader(data), int64(len(data)), nil)
}

// readCache reads a folder cache file of size bytes from r. It checks the
// header first, against want when not nil, and that the size is exactly
// what the header's counts imply, before it allocates and reads the body:
// so a file with a forged header or a huge (sparse) body costs no more than
// its header.
func readCache(r io.Reader, size int64, want *cacheWant) (*Folder, error) {
	bad := func(what string) (*Folder, error) { return nil, fmt.Errorf("%w: %s", errCache, what) }
	var pre [len(folderCacheMagic) + 4]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil || string(pre[:len(folderCacheMagic)]) != folderCacheMagic {
		return bad("no magic")
	}
	n := int64(binary.LittleEndian.Uint32(pre[len(folderCacheMagic):]))
	if n > maxCacheHeader || n > size-int64(len(pre)) {
		return bad("header length")
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return bad("truncated header")
	}
	var h folderCacheHeader
	if err := json.Unmarshal(js, &h); err != nil {
		return bad("header")
	}
	switch {
	case len(h.Classes) < 2 || len(h.Classes) > MaxFolderClasses:
		return bad("class count")
	case h.Size < 1 || h.Size > 1<<14, h.Channels != 1 && h.Channels != 3:
		return bad("image shape")
	case h.TrainN < 0 || h.TestN < 0 || h.Resized < 0:
		return bad("counts")
	case want != nil && (!slices.Equal(h.Classes, want.classes) || h.Size != want.size || h.Channels != want.channels):
		return bad("another folder's classes or image shape")
	case want != nil && uint64(h.TrainN)+uint64(h.TestN)+uint64(len(h.Bad)) != uint64(want.images):
		return bad("another number of images than the folder's")
	}
	dim := uint64(h.Channels) * uint64(h.Size) * uint64(h.Size)
	count, rest := uint64(h.TrainN)+uint64(h.TestN), uint64(size-int64(len(pre))-n)
	// Dividing keeps a forged count from overflowing the product.
	if count != 0 && dim+1 > rest/count || count*(dim+1) != rest {
		return bad("data length")
	}
	f := &Folder{Classes: h.Classes, Resized: h.Resized, Bad: h.Bad, verify: h.Verify}
	for _, p := range []struct {
		n   int
		dst **Set
	}{{h.TrainN, &f.Train}, {h.TestN, &f.Test}} {
		s := &Set{N: p.n, Rows: h.Size, Cols: h.Size, Channels: h.Channels, Classes: len(h.Classes)}
		s.Labels = make([]byte, p.n)
		s.Pix = make([]byte, p.n*int(dim))
		if _, err := io.ReadFull(r, s.Labels); err != nil {
			return bad("truncated data")
		}
		if _, err := io.ReadFull(r, s.Pix); err != nil {
			return bad("truncated data")
		}
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
	if len(js) > maxCacheHeader {
		return fmt.Errorf("cache header of %d bytes, more than %d", len(js), maxCacheHeader)
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
func readFolderCache(dir, path string, want *cacheWant) (f *Folder, writable bool, ignored error) {
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
	f, err = readCache(bufio.NewReaderSize(fh, readBufSize), fi.Size(), want)
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
