package dataset

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"

	// klauspost's gzip decodes the training images about 25% faster than
	// compress/gzip, with the same API and error values.
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

const (
	// idxUint8 is the IDX element-type byte for unsigned bytes, the only
	// type MNIST-style files use.
	idxUint8 = 0x08

	// firstChunk is the most ReadIDX allocates before any data has
	// arrived. The buffer then doubles as data keeps coming, so a header
	// that claims more data than the stream holds costs at most about
	// twice the bytes that are really there.
	firstChunk = 1 << 20

	// readBufSize is the bufio size used in front of files and the gzip
	// decoder: large enough that system calls do not show in a profile.
	readBufSize = 64 << 10

	// maxRatio bounds how much larger than its file the data of an IDX file
	// may be. Real MNIST-style files compress about 2-5 times; a larger
	// claim is a forged header or a gzip bomb.
	maxRatio = 64

	// ratioSlack is added to the bound so that tiny, highly compressible
	// files (test data) are not refused.
	ratioSlack = 1 << 20

	// preallocRatio times a gzip file's size is what reading it may
	// allocate up front: enough for real files (the data is at most about 5
	// times the gzip file) while a forged header in a small file still costs
	// little. A raw file needs no guess: its size says what it holds.
	preallocRatio = 8

	// maxPrealloc caps the up-front allocation for a gzip file whatever
	// its size: the largest real data, 47 MB of training images, fits, and
	// beyond it the buffer grows only as decompressed bytes arrive.
	maxPrealloc = 64 << 20
)

// ReadIDX reads one IDX file from r, gzip-compressed or raw (it tells them
// apart by the gzip magic bytes 1f 8b), and returns its dimensions and its
// data, which holds the product of dims bytes in row-major order.
//
// Only the unsigned-byte element type is accepted. limit bounds the size of
// the data in bytes; a header that claims more is refused before anything is
// allocated, and limit <= 0 means no bound. Whatever the limit, the data
// buffer grows as bytes arrive, so a forged header costs little memory.
// A stream that ends before the data the header promises is an error, as are
// bytes after it and a gzip stream whose checksum or end is missing.
func ReadIDX(r io.Reader, limit int64) (dims []int, data []byte, err error) {
	return readIDX(r, limit, firstChunk, -1)
}

// IDXHeader returns the header of the IDX file of unsigned bytes with
// dimensions dims: the header ReadIDX accepts, so that IDXHeader(dims)
// followed by the data ReadIDX returned are the file's decompressed bytes,
// and a loaded file's content can be hashed without reading it again.
func IDXHeader(dims []int) []byte {
	hdr := make([]byte, 4+4*len(dims))
	hdr[2], hdr[3] = idxUint8, byte(len(dims))
	for i, d := range dims {
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	return hdr
}

// readIDX is ReadIDX that may allocate up to prealloc bytes for the data of
// a gzip stream before any of it has arrived; callers that know the file's
// size pass a multiple of it, which spares the copies of growing a buffer
// from small. size, if not negative, is the size of the whole stream: a raw
// (not gzip) stream must then hold exactly the data its header claims, which
// is checked before anything is allocated, so that a header claiming more
// than a (possibly sparse) file holds fails at once.
func readIDX(r io.Reader, limit, prealloc, size int64) (dims []int, data []byte, err error) {
	br := bufio.NewReaderSize(r, readBufSize)
	var src io.Reader = br
	gz := false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip header: %w", gzipErr(err))
		}
		defer zr.Close()
		src, gz = zr, true
	}

	var head [4]byte
	if n, err := io.ReadFull(src, head[:]); err != nil {
		return nil, nil, truncated("the IDX header", 4, n, gz, err)
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, nil, fmt.Errorf("not an IDX file: starts with % x, want 00 00 08 and a dimension count", head[:])
	}
	if head[2] != idxUint8 {
		return nil, nil, fmt.Errorf("unsupported IDX element type 0x%02x, want 0x08 (unsigned bytes)", head[2])
	}
	ndim := int(head[3])
	if ndim == 0 {
		return nil, nil, errors.New("IDX header has no dimensions")
	}

	// At most 255 dimensions of 4 bytes: small enough for the stack.
	var dimBuf [255 * 4]byte
	if n, err := io.ReadFull(src, dimBuf[:4*ndim]); err != nil {
		return nil, nil, truncated("the IDX header", 4+4*ndim, 4+n, gz, err)
	}
	if limit <= 0 || limit > math.MaxInt {
		limit = math.MaxInt
	}
	dims = make([]int, ndim)
	need := int64(1)
	for i := range dims {
		b := dimBuf[4*i:]
		d := int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
		dims[i] = int(d)
		// Dividing instead of multiplying keeps need from overflowing.
		if d != 0 && need > limit/d {
			return nil, nil, fmt.Errorf("IDX header claims dimensions %v, more data than the %d-byte limit", dimsOf(dimBuf[:4*ndim]), limit)
		}
		need *= d
	}

	if !gz && size >= 0 {
		have := size - int64(4+4*ndim)
		switch {
		case need > have:
			return nil, nil, fmt.Errorf("truncated file: dimensions %v need %d bytes of data, the file holds %d", dims, need, have)
		case need < have:
			return nil, nil, fmt.Errorf("unexpected bytes after the %d bytes of data that dimensions %v hold: the file holds %d", need, dims, have)
		}
		// The file holds the data: read it into one buffer of its size.
		prealloc = need
	}

	data, err = readData(src, int(need), int(max(prealloc, firstChunk)))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("truncated %s: dimensions %v need %d bytes of data, got %d", kindOf(gz), dims, need, len(data))
		}
		return nil, nil, fmt.Errorf("read data: %w", gzipErr(err))
	}

	// Reading past the data checks the gzip checksum and finds trailing
	// bytes, which mean the header and the file disagree.
	var extra [1]byte
	switch n, err := io.ReadFull(src, extra[:]); {
	case n > 0:
		return nil, nil, fmt.Errorf("unexpected bytes after the %d bytes of data that dimensions %v hold", need, dims)
	case err == io.EOF:
	case gz && errors.Is(err, io.ErrUnexpectedEOF):
		return nil, nil, errors.New("truncated gzip stream: its end (checksum and length) is missing")
	default:
		return nil, nil, fmt.Errorf("after the data: %w", gzipErr(err))
	}
	return dims, data, nil
}

// readData reads exactly need bytes from src into a buffer that starts at no
// more than first bytes and grows as data arrives. On error it returns what
// it read so far.
func readData(src io.Reader, need, first int) ([]byte, error) {
	buf := make([]byte, 0, min(need, first))
	for len(buf) < need {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(need, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		n, err := io.ReadFull(src, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// truncated describes a short read of what, which needed want bytes from the
// start of the file but got only got.
func truncated(what string, want, got int, gz bool, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated %s: %s needs %d bytes, got %d", kindOf(gz), what, want, got)
	}
	return fmt.Errorf("read %s: %w", what, gzipErr(err))
}

// kindOf names what ended early in a truncation error.
func kindOf(gz bool) string {
	if gz {
		return "gzip stream"
	}
	return "file"
}

// gzipErr makes the decoder's terse errors say that the compressed data,
// rather than the IDX content, is damaged.
func gzipErr(err error) error {
	var ce flate.CorruptInputError
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce) {
		return fmt.Errorf("corrupt gzip data: %w", err)
	}
	return err
}

// dimsOf decodes big-endian uint32 dimensions for an error message.
func dimsOf(b []byte) []uint32 {
	d := make([]uint32, len(b)/4)
	for i := range d {
		d[i] = uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
	}
	return d
}

// readFile opens path and reads it with ReadIDX, bounding the data by the
// file's size: a raw file must hold exactly what its header claims, and a
// gzip file may expand at most maxRatio times. A FIFO or a device is refused
// at once rather than read (see safeopen).
func readFile(path string) (dims []int, data []byte, err error) {
	f, fi, err := safeopen.Open(path)
	if err != nil {
		var nr *safeopen.NotRegularError
		if errors.As(err, &nr) {
			return nil, nil, err // its message names the path
		}
		return nil, nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	limit := fi.Size()*maxRatio + ratioSlack
	dims, data, err = readIDX(f, limit, min(fi.Size()*preallocRatio, maxPrealloc), fi.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return dims, data, nil
}

// unwrapPath drops the *fs.PathError wrapper of err, whose message would
// repeat the path that the caller's message names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ReadImages reads an IDX file of images, dimensions (N, Rows, Cols), into a
// Set whose Labels are nil.
func ReadImages(path string) (*Set, error) {
	dims, data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if len(dims) != 3 {
		return nil, fmt.Errorf("read %s: images need 3 dimensions (count, rows, columns), the file has %v; is it a labels file?", path, dims)
	}
	if dims[1] == 0 || dims[2] == 0 {
		return nil, fmt.Errorf("read %s: images of %dx%d pixels are empty", path, dims[1], dims[2])
	}
	return &Set{Pix: data, N: dims[0], Rows: dims[1], Cols: dims[2]}, nil
}

// ReadLabels reads an IDX file of labels, one dimension (N). It does not
// check the label range; Load does, against the data set's classes.
func ReadLabels(path string) ([]uint8, error) {
	dims, data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if len(dims) != 1 {
		return nil, fmt.Errorf("read %s: labels need 1 dimension, the file has %v; is it an images file?", path, dims)
	}
	return data, nil
}
