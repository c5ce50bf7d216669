package imageprep

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// TestDecodedSizeCoversDecoding decodes generated images of each format
// and colour model and checks that what decoding allocates stays within
// the cost a Budget holds for it.
func TestDecodedSizeCoversDecoding(t *testing.T) {
	const w, h = 400, 300
	src := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			src.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 160), uint16(y * 210), uint16((x ^ y) * 97), 0xffff - uint16(x)})
		}
	}
	convert := func(dst draw.Image) image.Image {
		draw.Draw(dst, dst.Bounds(), src, image.Point{}, draw.Src)
		return dst
	}
	enc := func(f func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	r := src.Bounds()
	// A small palette keeps the conversion quick.
	pal := convert(image.NewPaletted(r, color.Palette{color.Black, color.White, color.Gray{128}, color.RGBA{200, 30, 30, 255}}))
	pngOf := func(m image.Image) []byte { return enc(func(b *bytes.Buffer) error { return png.Encode(b, m) }) }
	tests := []struct {
		name string
		data []byte
	}{
		{"png gray", pngOf(convert(image.NewGray(r)))},
		{"png gray16", pngOf(convert(image.NewGray16(r)))},
		{"png rgba", pngOf(convert(image.NewNRGBA(r)))},
		{"png rgba64", pngOf(src)},
		{"png paletted", pngOf(pal)},
		{"jpeg colour", enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, src, nil) })},
		{"jpeg gray", enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, convert(image.NewGray(r)), nil) })},
		{"gif", enc(func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) })},
		{"bmp", enc(func(b *bytes.Buffer) error { return bmp.Encode(b, convert(image.NewNRGBA(r))) })},
		{"tiff deflate", enc(func(b *bytes.Buffer) error { return tiff.Encode(b, src, &tiff.Options{Compression: tiff.Deflate}) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, format, err := header(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			cost := DecodedSize(cfg, format, tt.data) + decodeOverhead
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := decodeData(tt.data, format); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if raceEnabled {
				cost *= 2 // the TIFF decoder allocates more under the race detector
			}
			if alloc := int64(after.TotalAlloc - before.TotalAlloc); alloc > cost {
				t.Errorf("decoding allocated %d bytes, more than the %d estimated", alloc, cost)
			}
		})
	}
}

// TestBudgetLargerImagesDecodeAlone gives a budget smaller than each
// image: the images are decoded one at a time, all of them, without the
// decodes waiting on each other for ever.
func TestBudgetLargerImagesDecodeAlone(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewNRGBA(image.Rect(0, 0, 300, 300))); err != nil {
		t.Fatal(err)
	}
	budget := NewBudget(100 << 10) // an image costs 360 KB decoded
	var mu sync.Mutex
	in, most := 0, 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			errs[i] = budget.Decode(ctx, bytes.NewReader(b.Bytes()), int64(b.Len()), func(_ []byte, _ image.Image, err error) error {
				mu.Lock()
				in++
				most = max(most, in)
				mu.Unlock()
				time.Sleep(time.Millisecond) // let the others try
				mu.Lock()
				in--
				mu.Unlock()
				return err
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if most != 1 {
		t.Errorf("%d images decoded at once with a budget smaller than one", most)
	}
}
