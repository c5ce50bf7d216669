package imageprep

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"io"

	"golang.org/x/sync/semaphore"
)

// DefaultBudget is the memory, in bytes, that images being decoded at the
// same time may take by default (256 MiB): enough for several photos at
// once, while a folder of images that are small files but huge decoded
// (a 16-bit 7000×7000 PNG is 392 MB decoded) is decoded one at a time
// however many cores there are.
const DefaultBudget = 256 << 20

// decodeOverhead is what a decoder takes besides the image: buffers, zlib
// window, Huffman tables.
const decodeOverhead = 256 << 10

// Budget bounds the memory that images being decoded at the same time
// take, so that parallel decoding costs bytes in flight, not a decoded
// image per core. Each decode holds its cost from before its file is read
// until its image is no longer used: the file's bytes plus the decoded
// image's size as its header gives it (DecodedSize). An image that costs
// more than the whole budget waits for all of it, so it is decoded alone.
// A Budget is safe for concurrent use.
type Budget struct {
	sem   *semaphore.Weighted
	bytes int64
}

// NewBudget returns a Budget of n bytes (DefaultBudget if n is not
// positive).
func NewBudget(n int64) *Budget {
	if n <= 0 {
		n = DefaultBudget
	}
	return &Budget{sem: semaphore.NewWeighted(n), bytes: n}
}

// clamp is n, or the whole budget for a cost above it.
func (b *Budget) clamp(n int64) int64 { return max(1, min(n, b.bytes)) }

// errChanged is returned when a file's cost kept growing as it was read
// again.
var errChanged = errors.New("the file changed while it was read: try again")

// Decode reads the image of size bytes in r and decodes it as Decode does,
// within the budget, then calls use with the bytes read and the image, or
// with the decoding error; the budget is held until use returns, and
// Decode returns what use returns. An error reading r is returned without
// calling use.
//
// The file is read holding its size; if its header then shows that the
// decoded image needs more than is free, Decode lets go of everything,
// waits for the whole cost, and reads r again from the start, so that a
// decode that waits holds nothing and decodes cannot wait on each other.
func (b *Budget) Decode(ctx context.Context, r io.ReadSeeker, size int64, use func(data []byte, img image.Image, err error) error) error {
	held := b.clamp(max(size, 0) + bytes.MinRead)
	if err := b.sem.Acquire(ctx, held); err != nil {
		return err
	}
	defer func() { b.sem.Release(held) }()
	for try := 0; ; try++ {
		data, err := readData(r, size)
		if err != nil {
			return err
		}
		cfg, format, err := header(data)
		if err != nil {
			return use(data, nil, err)
		}
		need := b.clamp(int64(cap(data)) + DecodedSize(cfg, format, data) + decodeOverhead)
		if need > held && !b.sem.TryAcquire(need-held) {
			if try == 2 {
				return errChanged
			}
			b.sem.Release(held)
			held = 0
			data = nil
			if err := b.sem.Acquire(ctx, need); err != nil {
				return err
			}
			held = need
			if _, err := r.Seek(0, io.SeekStart); err != nil {
				return err
			}
			continue
		}
		held = max(held, need)
		img, err := decodeData(data, format)
		return use(data, img, err)
	}
}

// DecodedSize estimates the bytes that decoding the image whose header is
// cfg (of the given format, in data) allocates: the image in the decoder's
// colour model, and the decoder's own copies where it makes them.
func DecodedSize(cfg image.Config, format string, data []byte) int64 {
	bpp := int64(8) // bytes per pixel; 16-bit RGBA where unknown
	switch m := cfg.ColorModel; m {
	case color.GrayModel:
		bpp = 1
	case color.Gray16Model:
		bpp = 2
	case color.YCbCrModel:
		bpp = 3 // 4:4:4 at most
	case color.NYCbCrAModel:
		bpp = 4
	case color.RGBAModel, color.NRGBAModel:
		bpp = 4
	case color.CMYKModel:
		bpp = 8 // JPEG: YCbCr and black planes, then CMYK
	default:
		if _, ok := m.(color.Palette); ok {
			bpp = 1
		}
	}
	switch format {
	case "jpeg":
		if jpegProgressive(data) {
			bpp += 12 // coefficients kept until the end: 4 bytes a sample
		}
	case "png":
		if len(data) > 28 && data[28] == 1 {
			bpp *= 2 // Adam7: each pass is a sub-image, then merged
		}
	case "gif":
		bpp *= 2 // a second frame
	case "tiff":
		bpp *= 4 // the uncompressed strips, in a buffer grown by doubling
	case "webp":
		if cfg.ColorModel == color.NRGBAModel {
			bpp += 4 // lossless: ARGB words, then NRGBA
		}
	}
	return int64(cfg.Width) * int64(cfg.Height) * bpp
}

// jpegProgressive reports whether the JPEG in data is progressive (its
// frame header is SOF2), which makes its decoder keep every coefficient.
func jpegProgressive(data []byte) bool {
	for i := 2; i+4 <= len(data) && data[i] == 0xff; {
		switch m := data[i+1]; {
		case m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce:
			return true
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc, m == 0xda, m == 0xd9:
			return false
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		if n < 2 {
			return false
		}
		i += 2 + n
	}
	return false
}
