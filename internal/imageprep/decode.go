package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"

	// The decoders register themselves with package image; Decode accepts
	// exactly these formats.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// MaxPixels is the largest width×height that Decode accepts. It bounds the
// memory a decoded image takes (about 4 bytes a pixel for colour images,
// 200 MB at the limit) whatever its file claims.
const MaxPixels = 50_000_000

// MaxBytes is the largest encoded file, in bytes, that Decode reads.
const MaxBytes = 64 << 20

// Decode reads one PNG, JPEG, GIF, WebP, BMP or TIFF image from r; for an animated GIF
// it returns the first frame. A JPEG is turned upright as its EXIF
// orientation tag says, as photo viewers do: phones store most photos
// sideways with such a tag.
//
// It reads at most MaxBytes, then checks the header's dimensions before
// decoding any pixel data, so a small forged file that claims a huge image
// is refused without allocating memory for it. Every error is one line that
// says what to do.
func Decode(r io.Reader) (image.Image, error) {
	// Reading into memory first lets DecodeConfig and Decode both see the
	// start of the stream, which a plain io.Reader cannot rewind.
	data, err := readData(r, 0)
	if err != nil {
		return nil, err
	}
	_, format, err := header(data)
	if err != nil {
		return nil, err
	}
	return decodeData(data, format)
}

// readData reads at most MaxBytes from r, room for size bytes (when known)
// allocated up front.
func readData(r io.Reader, size int64) ([]byte, error) {
	var b bytes.Buffer
	if size > 0 {
		b.Grow(int(min(size, MaxBytes)) + bytes.MinRead)
	}
	if _, err := b.ReadFrom(io.LimitReader(r, MaxBytes+1)); err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	data := b.Bytes()
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("image file is larger than %d MiB: scale it down or re-save it compressed", MaxBytes>>20)
	}
	if len(data) == 0 {
		return nil, errors.New("image file is empty: give a PNG, JPEG, GIF, WebP, BMP or TIFF file")
	}
	return data, nil
}

// header reads the format and dimensions of the image in data, refusing
// one with no pixels or more than MaxPixels.
func header(data []byte) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return cfg, "", errors.New("image format not recognised: give a PNG, JPEG, GIF, WebP, BMP or TIFF file")
		}
		return cfg, "", fmt.Errorf("read image header: %w; the file may be truncated or damaged, re-save it", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, "", fmt.Errorf("%s image is %d×%d and has no pixels: give a picture with content", format, cfg.Width, cfg.Height)
	}
	// Multiply in int64 so that a forged header cannot overflow the check.
	if n := int64(cfg.Width) * int64(cfg.Height); n > MaxPixels {
		return cfg, "", fmt.Errorf("%s image is %d×%d (%d pixels), more than the %d allowed: scale it down first",
			format, cfg.Width, cfg.Height, n, int64(MaxPixels))
	}
	return cfg, format, nil
}

// decodeData decodes the image in data, whose header has been checked.
func decodeData(data []byte, format string) (image.Image, error) {
	var img image.Image
	var err error
	if format == "tiff" {
		// Given an io.ReaderAt the TIFF decoder reads the strips in
		// place; through image.Decode it would copy the whole file.
		img, err = tiff.Decode(bytes.NewReader(data))
	} else {
		img, _, err = image.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s image: %w; the file may be truncated or damaged, re-save it", format, err)
	}
	// A decoder that disagrees with its own header must not slip a bigger
	// image past the limit.
	if b := img.Bounds(); b.Empty() || int64(b.Dx())*int64(b.Dy()) > MaxPixels {
		return nil, fmt.Errorf("decode %s image: decoded size %d×%d does not match the header; re-save the file", format, b.Dx(), b.Dy())
	}
	if format == "jpeg" {
		if o := exifOrientation(data); o > 1 {
			img = newOriented(img, o)
		}
	}
	return img, nil
}

// exifOrientation returns the EXIF orientation (1 to 8) recorded in a JPEG
// file's APP1 segment, or 0 when there is none or it cannot be read.
func exifOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return 0
	}
	// Walk the marker segments that precede the image data.
	for i := 2; i+4 <= len(data) && data[i] == 0xff; {
		marker := data[i+1]
		if marker == 0xda || marker == 0xd9 { // start of scan, end of image
			return 0
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 0
		}
		seg := data[i+4 : i+2+n]
		if marker == 0xe1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 0
}

// tiffOrientation returns the orientation tag (0x0112) of the first IFD of
// the TIFF structure in an EXIF segment, or 0.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd+2 > int64(len(t)) {
		return 0
	}
	n := int64(bo.Uint16(t[ifd:]))
	for e := ifd + 2; e+12 <= int64(len(t)) && e < ifd+2+12*n; e += 12 {
		// Tag 0x0112, type SHORT, one value, stored in the entry itself.
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 {
			if o := int(bo.Uint16(t[e+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 0
		}
	}
	return 0
}

// oriented shows an image turned upright according to an EXIF orientation,
// without copying its pixels, which at MaxPixels would take another 200 MB.
type oriented struct {
	src  image.Image
	o    int
	w, h int // of src
}

// newOriented returns src shown with EXIF orientation o.
func newOriented(src image.Image, o int) image.Image {
	b := src.Bounds()
	return &oriented{src: src, o: o, w: b.Dx(), h: b.Dy()}
}

// ColorModel implements image.Image.
func (m *oriented) ColorModel() color.Model { return m.src.ColorModel() }

// Bounds implements image.Image.
func (m *oriented) Bounds() image.Rectangle {
	if m.o >= 5 { // orientations 5 to 8 swap width and height
		return image.Rect(0, 0, m.h, m.w)
	}
	return image.Rect(0, 0, m.w, m.h)
}

// source returns the pixel of src that shows at (x, y).
func (m *oriented) source(x, y int) (int, int) {
	w, h := m.w-1, m.h-1
	switch m.o {
	case 2: // mirrored left to right
		x = w - x
	case 3: // rotated 180°
		x, y = w-x, h-y
	case 4: // mirrored top to bottom
		y = h - y
	case 5: // transposed
		x, y = y, x
	case 6: // stored rotated 90° anticlockwise
		x, y = y, h-x
	case 7: // transversed
		x, y = w-y, h-x
	case 8: // stored rotated 90° clockwise
		x, y = w-y, x
	}
	b := m.src.Bounds()
	return b.Min.X + x, b.Min.Y + y
}

// At implements image.Image.
func (m *oriented) At(x, y int) color.Color {
	if !image.Pt(x, y).In(m.Bounds()) {
		return color.RGBA64{}
	}
	return m.src.At(m.source(x, y))
}

// RGBA64At implements image.RGBA64Image, which lets Prepare read pixels
// without allocating.
func (m *oriented) RGBA64At(x, y int) color.RGBA64 {
	if !image.Pt(x, y).In(m.Bounds()) {
		return color.RGBA64{}
	}
	sx, sy := m.source(x, y)
	if r, ok := m.src.(image.RGBA64Image); ok {
		return r.RGBA64At(sx, sy)
	}
	r, g, b, a := m.src.At(sx, sy).RGBA()
	return color.RGBA64{uint16(r), uint16(g), uint16(b), uint16(a)}
}
