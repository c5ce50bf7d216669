package imageprep

import (
	"image"
	"image/color"
	"math"
)

// Fit turns img into the input of a model trained on an image folder: a
// size×size picture, the shorter side scaled to size and the longer side
// cropped about its centre, each output pixel the area-weighted average of
// the source pixels it covers. Nothing else is changed: no inversion, no
// level stretching, no framing. Transparency is dropped, keeping the
// colour under it, as PIL's convert("RGB") does.
//
// With colour it returns 3·size·size bytes, channel-major (the red plane,
// then green, then blue); otherwise size·size bytes of luminance
// (Gray returns the same luminance for one pixel). An image whose shorter
// side is already size, and which is square, comes back pixel for pixel.
func Fit(img image.Image, size int, colour bool) []byte {
	chans := 1
	if colour {
		chans = 3
	}
	out := make([]byte, chans*max(size, 0)*max(size, 0))
	FitInto(out, img, size, colour)
	return out
}

// FitInto is Fit writing into out, which must hold 3·size·size bytes with
// colour, size·size without: a caller that fills a large buffer image by
// image spares an allocation per image.
func FitInto(out []byte, img image.Image, size int, colour bool) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	chans := 1
	if colour {
		chans = 3
	}
	if size <= 0 {
		return
	}
	out = out[:chans*size*size]
	if w <= 0 || h <= 0 {
		clear(out)
		return
	}
	side := min(w, h)
	x0, y0 := b.Min.X+(w-side)/2, b.Min.Y+(h-side)/2
	if g, ok := img.(*image.Gray); ok && !colour && side == size {
		for y := 0; y < size; y++ {
			off := g.PixOffset(x0, y0+y)
			copy(out[y*size:(y+1)*size], g.Pix[off:off+size])
		}
		return
	}
	xt := areaTaps(0, float64(side)/float64(size), side, size)
	yt := xt
	read := rgbRow(img)
	row := make([]float32, 3*side) // r, g, b of the cropped row, interleaved
	acc := make([]float32, chans*size)
	for oy := 0; oy < size; oy++ {
		clear(acc)
		for _, ty := range yt[oy] {
			read(x0, y0+ty.i, row)
			for ox := 0; ox < size; ox++ {
				var r, g, bl float32
				for _, tx := range xt[ox] {
					p := row[3*tx.i : 3*tx.i+3]
					r += tx.w * p[0]
					g += tx.w * p[1]
					bl += tx.w * p[2]
				}
				if colour {
					acc[ox] += ty.w * r
					acc[size+ox] += ty.w * g
					acc[2*size+ox] += ty.w * bl
				} else {
					acc[ox] += ty.w * lum(r, g, bl)
				}
			}
		}
		for c := 0; c < chans; c++ {
			for ox := 0; ox < size; ox++ {
				out[c*size*size+oy*size+ox] = toByte(acc[c*size+ox])
			}
		}
	}
}

// Gray returns the luminance of an 8-bit RGB pixel, rounded: ITU-R BT.601
// weights, as image/color's GrayModel uses, so a gray pixel keeps its value.
func Gray(r, g, b byte) byte {
	return byte((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// lum is Gray on float values in 0..255.
func lum(r, g, b float32) float32 {
	return (19595*r + 38470*g + 7471*b) / 65536
}

func toByte(v float32) byte {
	return byte(min(max(math.Round(float64(v)), 0), 255))
}

// rgbRow returns a function that writes the 8-bit R, G, B values (as
// floats, interleaved) of the len(dst)/3 pixels of row y from column x0
// into dst. Alpha is ignored: the colour is the un-premultiplied one.
func rgbRow(img image.Image) func(x0, y int, dst []float32) {
	switch m := img.(type) {
	case *image.Gray:
		return func(x0, y int, dst []float32) {
			off := m.PixOffset(x0, y)
			for i, p := range m.Pix[off : off+len(dst)/3] {
				v := float32(p)
				dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
			}
		}
	case *image.NRGBA:
		return func(x0, y int, dst []float32) {
			off := m.PixOffset(x0, y)
			px := m.Pix[off : off+4*(len(dst)/3)]
			for i := 0; i < len(dst)/3; i++ {
				dst[3*i], dst[3*i+1], dst[3*i+2] = float32(px[4*i]), float32(px[4*i+1]), float32(px[4*i+2])
			}
		}
	case *image.YCbCr:
		return func(x0, y int, dst []float32) {
			for i := 0; i < len(dst)/3; i++ {
				yi, ci := m.YOffset(x0+i, y), m.COffset(x0+i, y)
				r, g, b := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				dst[3*i], dst[3*i+1], dst[3*i+2] = float32(r), float32(g), float32(b)
			}
		}
	}
	return func(x0, y int, dst []float32) {
		for i := 0; i < len(dst)/3; i++ {
			c := color.NRGBAModel.Convert(img.At(x0+i, y)).(color.NRGBA)
			dst[3*i], dst[3*i+1], dst[3*i+2] = float32(c.R), float32(c.G), float32(c.B)
		}
	}
}
