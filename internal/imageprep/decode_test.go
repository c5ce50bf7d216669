package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// testPicture returns a w×h picture: a white rectangle on black covering
// the middle half, so that decoders can be checked on two known colours.
func testPicture(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{0, 0, 0, 255}
			if x >= w/4 && x < 3*w/4 && y >= h/4 && y < 3*h/4 {
				c = color.RGBA{255, 255, 255, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatalf("encode png: %v", err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatalf("encode jpeg: %v", err)
	}
	return buf.Bytes()
}

func encodeGIF(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, m, nil); err != nil {
		t.Fatalf("encode gif: %v", err)
	}
	return buf.Bytes()
}

// bitWriter writes the least significant bit first, as VP8L requires.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) write(v uint32, n uint) {
	w.acc |= uint64(v) << w.n
	w.n += n
	for w.n >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.n > 0 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc, w.n = 0, 0
	}
	return w.buf
}

// encodeWebP writes m, whose pixels must all be opaque black or white, as a
// lossless WebP. The standard library has no WebP encoder, so this is the
// smallest valid VP8L stream: no transforms and no colour cache, with
// "simple" prefix codes of two one-bit symbols (0 and 255) for green, red
// and blue, one zero-bit symbol for alpha, and three bits a pixel.
func encodeWebP(t testing.TB, m image.Image) []byte {
	t.Helper()
	b := m.Bounds()
	var w bitWriter
	w.write(0x2f, 8) // VP8L signature
	w.write(uint32(b.Dx()-1), 14)
	w.write(uint32(b.Dy()-1), 14)
	w.write(0, 1) // alpha hint
	w.write(0, 3) // version
	w.write(0, 1) // no transform
	w.write(0, 1) // no colour cache
	w.write(0, 1) // no meta prefix codes
	for range 3 { // green, red, blue: simple code, symbols 0 and 255
		w.write(1, 1)
		w.write(1, 1)
		w.write(1, 1)
		w.write(0, 8)
		w.write(255, 8)
	}
	w.write(1, 1) // alpha: simple code, one 8-bit symbol, 255
	w.write(0, 1)
	w.write(1, 1)
	w.write(255, 8)
	w.write(1, 1) // distance: simple code, one 1-bit symbol, 0
	w.write(0, 1)
	w.write(0, 1)
	w.write(0, 1)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, a := m.At(x, y).RGBA()
			if a != 0xffff || (r != 0 && r != 0xffff) {
				t.Fatalf("encodeWebP: pixel (%d,%d) is not opaque black or white", x, y)
			}
			bit := r >> 15
			w.write(bit, 1)
			w.write(bit, 1)
			w.write(bit, 1)
		}
	}
	return riffWebP(w.bytes())
}

// riffWebP wraps a VP8L bitstream in the RIFF container.
func riffWebP(vp8l []byte) []byte {
	pad := len(vp8l) & 1
	var out []byte
	out = append(out, "RIFF"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(4+8+len(vp8l)+pad))
	out = append(out, "WEBPVP8L"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(vp8l)))
	out = append(out, vp8l...)
	if pad == 1 {
		out = append(out, 0)
	}
	return out
}

func encodeBMP(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bmp.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeTIFF(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tiff.Encode(&buf, img, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeFormats(t *testing.T) {
	src := testPicture(40, 30)
	tests := []struct {
		name string
		data []byte
		tol  uint32 // allowed 8-bit error, for lossy formats
	}{
		{"png", encodePNG(t, src), 0},
		{"jpeg", encodeJPEG(t, src, 95), 24},
		{"gif", encodeGIF(t, src), 0},
		{"webp", encodeWebP(t, src), 0},
		{"bmp", encodeBMP(t, src), 0},
		{"tiff", encodeTIFF(t, src), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := img.Bounds().Size(); got != image.Pt(40, 30) {
				t.Fatalf("size = %v, want (40,30)", got)
			}
			// Sample well inside each region, away from JPEG's ringing.
			for _, p := range []struct {
				x, y int
				want uint32
			}{{2, 2, 0}, {20, 15, 255}, {37, 27, 0}, {12, 10, 255}} {
				r, g, b, _ := img.At(p.x, p.y).RGBA()
				for _, c := range []uint32{r >> 8, g >> 8, b >> 8} {
					if d := max(c, p.want) - min(c, p.want); d > tt.tol {
						t.Errorf("pixel (%d,%d) channel = %d, want %d±%d", p.x, p.y, c, p.want, tt.tol)
					}
				}
			}
		})
	}
}

// pngChunk returns one PNG chunk with a correct CRC.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// forgedPNG returns a valid PNG header claiming a w×h RGB image, followed
// by a few bytes of bogus image data.
func forgedPNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1})...)
	return append(out, pngChunk("IEND", nil)...)
}

// forgedJPEG returns a JPEG frame header claiming a w×h grayscale image
// and a scan header, with no image data.
func forgedJPEG(w, h uint16) []byte {
	out := []byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8}
	out = binary.BigEndian.AppendUint16(out, h)
	out = binary.BigEndian.AppendUint16(out, w)
	out = append(out, 1, 1, 0x11, 0)
	return append(out, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0, 0xff, 0xd9)
}

// forgedGIF returns a GIF header claiming a w×h logical screen.
func forgedGIF(w, h uint16) []byte {
	out := []byte("GIF89a")
	out = binary.LittleEndian.AppendUint16(out, w)
	out = binary.LittleEndian.AppendUint16(out, h)
	return append(out, 0, 0, 0, 0x3b)
}

// forgedWebP returns a VP8L header claiming a w×h image and nothing else.
func forgedWebP(w, h uint32) []byte {
	var bw bitWriter
	bw.write(0x2f, 8)
	bw.write(w-1, 14)
	bw.write(h-1, 14)
	bw.write(0, 4)
	return riffWebP(append(bw.bytes(), 0, 0, 0, 0))
}

func TestDecodeRefusesHugeImages(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"png 100000x100000", forgedPNG(100_000, 100_000), "scale it down"},
		// image/png itself refuses dimensions whose product overflows.
		{"png 2^31-1 square", forgedPNG(1<<31-1, 1<<31-1), "overflow"},
		{"png just over", forgedPNG(MaxPixels/1000+1, 1000), "scale it down"},
		{"jpeg 65535x65535", forgedJPEG(65535, 65535), "scale it down"},
		{"gif 65535x65535", forgedGIF(65535, 65535), "scale it down"},
		{"webp 16384x16384", forgedWebP(16384, 16384), "scale it down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.data) > 200 {
				t.Fatalf("forged file is %d bytes, want a small one", len(tt.data))
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Decode(bytes.NewReader(tt.data))
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("Decode accepted a forged huge image")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to mention %q", err, tt.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("Decode allocated %d bytes for a %d-byte file, want < 1 MiB", alloc, len(tt.data))
			}
			if elapsed > time.Second {
				t.Errorf("Decode took %v to refuse, want well under a second", elapsed)
			}
		})
	}
}

// errReader fails every read.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errTest }

var errTest = errors.New("disk on fire")

func TestDecodeErrors(t *testing.T) {
	valid := encodePNG(t, testPicture(8, 8))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"text", []byte("hello, this is not an image"), "not recognised"},
		{"truncated png", valid[:len(valid)/2], "truncated or damaged"},
		{"header only png", valid[:40], "truncated or damaged"},
		{"zero width png", forgedPNG(0, 10), "png"},
		{"too many bytes", make([]byte, MaxBytes+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tt.data))
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error = %q, want it to mention %q", msg, tt.want)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q spans lines, want one line", msg)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		_, err := Decode(errReader{})
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("error = %v, want the reader's error wrapped", err)
		}
	})
}

// withEXIF returns a JPEG file with an EXIF segment recording orientation
// o, in big-endian (MM) or little-endian (II) byte order, after the start
// marker.
func withEXIF(jpg []byte, o uint16, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	tiff := []byte("II*\x00")
	if bigEndian {
		bo, tiff = binary.BigEndian, []byte("MM\x00*")
	}
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 2) // two entries: another tag first
	tiff = bo.AppendUint16(tiff, 0x010f)
	tiff = bo.AppendUint16(tiff, 2)
	tiff = bo.AppendUint32(tiff, 4)
	tiff = append(tiff, "Go\x00\x00"...)
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := []byte{0xff, 0xd8, 0xff, 0xe1}
	out = binary.BigEndian.AppendUint16(out, uint16(2+len(seg)))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func TestDecodeEXIFOrientation(t *testing.T) {
	// A 40×24 black picture with a white 10×10 mark in its top-left
	// corner, stored as a camera would for each orientation.
	src := image.NewRGBA(image.Rect(0, 0, 40, 24))
	for y := 0; y < 24; y++ {
		for x := 0; x < 40; x++ {
			v := uint8(0)
			if x < 10 && y < 10 {
				v = 255
			}
			src.SetRGBA(x, y, color.RGBA{v, v, v, 255})
		}
	}
	jpg := encodeJPEG(t, src, 95)
	const tl, tr, br, bl = 0, 1, 2, 3
	tests := []struct {
		o      uint16
		size   image.Point
		corner int // where the mark shows once upright
	}{
		{0, image.Pt(40, 24), tl}, // no tag
		{1, image.Pt(40, 24), tl},
		{2, image.Pt(40, 24), tr},
		{3, image.Pt(40, 24), br},
		{4, image.Pt(40, 24), bl},
		{5, image.Pt(24, 40), tl},
		{6, image.Pt(24, 40), tr},
		{7, image.Pt(24, 40), br},
		{8, image.Pt(24, 40), bl},
		{9, image.Pt(40, 24), tl}, // invalid: ignored
	}
	for _, tt := range tests {
		for _, big := range []bool{false, true} {
			data := jpg
			if tt.o != 0 {
				data = withEXIF(jpg, tt.o, big)
			}
			img, err := Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("orientation %d: %v", tt.o, err)
			}
			b := img.Bounds()
			if b.Size() != tt.size {
				t.Errorf("orientation %d: size %v, want %v", tt.o, b.Size(), tt.size)
				continue
			}
			corners := []image.Point{
				{b.Min.X + 3, b.Min.Y + 3}, {b.Max.X - 4, b.Min.Y + 3},
				{b.Max.X - 4, b.Max.Y - 4}, {b.Min.X + 3, b.Max.Y - 4},
			}
			for i, p := range corners {
				r, _, _, _ := img.At(p.X, p.Y).RGBA()
				if white := r > 0x8000; white != (i == tt.corner) {
					t.Errorf("orientation %d (big-endian %v): corner %d white = %v, want %v", tt.o, big, i, white, i == tt.corner)
				}
			}
			if tt.o == 0 {
				break
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	small := testPicture(12, 9)
	gray := image.NewPaletted(image.Rect(0, 0, 5, 5), palette.Plan9)
	f.Add(encodePNG(f, small))
	f.Add(encodeJPEG(f, small, 80))
	f.Add(encodeGIF(f, gray))
	f.Add(encodeWebP(f, small))
	f.Add(forgedPNG(100_000, 100_000))
	f.Add(forgedJPEG(300, 200))
	f.Add(forgedGIF(4, 4))
	f.Add(forgedWebP(3, 3))
	f.Add(withEXIF(encodeJPEG(f, small, 80), 6, true))
	f.Add(encodeBMP(f, small))
	f.Add(encodeTIFF(f, small))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(bytes.NewReader(data))
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q spans lines", err)
			}
			return
		}
		b := img.Bounds()
		if b.Empty() || int64(b.Dx())*int64(b.Dy()) > MaxPixels {
			t.Fatalf("Decode returned bounds %v", b)
		}
		if r := Prepare(img, InvertAuto, Options{}); len(r.Pix) != Size*Size {
			t.Fatalf("Prepare returned %d bytes", len(r.Pix))
		}
	})
}
