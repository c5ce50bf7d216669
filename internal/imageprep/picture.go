package imageprep

import (
	"image"
	"math"
)

// toPicture converts img to luminance and chroma planes (see Prepare,
// step 1), reducing a large picture to a shorter side of workSide by area
// averaging as its rows are read, so that no full-size copy is made.
func toPicture(img image.Image) *picture {
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	if W <= 0 || H <= 0 {
		return &picture{}
	}
	read, colour := rowReader(img)
	nch := 1
	if colour {
		nch = 3
	}
	w, h := W, H
	if m := min(W, H); m >= 2*workSide {
		w = max(1, int(math.Round(float64(W)*workSide/float64(m))))
		h = max(1, int(math.Round(float64(H)*workSide/float64(m))))
	}
	p := &picture{w: w, h: h}
	for range nch {
		p.ch = append(p.ch, &plane{w: w, h: h, v: make([]float32, w*h)})
	}
	rows := make([][]float32, 3)
	for k := range rows[:nch] {
		rows[k] = make([]float32, W)
	}
	if w == W && h == H {
		for y := 0; y < H; y++ {
			read(b.Min.Y+y, rows)
			for k, c := range p.ch {
				copy(c.v[y*w:(y+1)*w], rows[k])
			}
		}
		return p
	}
	// Each source row is reduced across, then added to the output rows it
	// falls in with the weights areaTaps gives them.
	tx := areaTaps(0, float64(W)/float64(w), W, w)
	ty := areaTaps(0, float64(H)/float64(h), H, h)
	type use struct {
		o int
		w float32
	}
	uses := make([][]use, H)
	for o, ts := range ty {
		for _, t := range ts {
			uses[t.i] = append(uses[t.i], use{o, t.w})
		}
	}
	across := make([]float32, w)
	for y := 0; y < H; y++ {
		read(b.Min.Y+y, rows)
		for k, c := range p.ch {
			for ox, xs := range tx {
				var s float32
				for _, x := range xs {
					s += x.w * rows[k][x.i]
				}
				across[ox] = s
			}
			for _, u := range uses[y] {
				dst := c.v[u.o*w : (u.o+1)*w]
				for ox, s := range across {
					dst[ox] += u.w * s
				}
			}
		}
	}
	return p
}

// rowReader returns a function that writes row y of img (in img's
// coordinates) into rows: its luminance into rows[0] and, when colour is
// true, its chroma Cb and Cr into rows[1] and rows[2], one element per
// column.
func rowReader(img image.Image) (read func(y int, rows [][]float32), colour bool) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		return func(y int, rows [][]float32) {
			off := m.PixOffset(b.Min.X, y)
			for x, p := range m.Pix[off : off+len(rows[0])] {
				rows[0][x] = float32(p) / 255
			}
		}, false
	case *image.YCbCr:
		// JPEG's Y channel is already the luminance we want; reading it
		// directly avoids a lossy round trip through RGB.
		return func(y int, rows [][]float32) {
			for x := range rows[0] {
				ci := m.COffset(b.Min.X+x, y)
				rows[0][x] = float32(m.Y[m.YOffset(b.Min.X+x, y)]) / 255
				rows[1][x] = (float32(m.Cb[ci]) - 128) / 255
				rows[2][x] = (float32(m.Cr[ci]) - 128) / 255
			}
		}, true
	}
	backdrop := backdropFor(img)
	put := func(rows [][]float32, x int, r, g, bl, a uint32) {
		y, cb, cr := ycc(r, g, bl, a, backdrop)
		rows[0][x], rows[1][x], rows[2][x] = y, cb, cr
	}
	if m, ok := img.(image.RGBA64Image); ok {
		return func(y int, rows [][]float32) {
			for x := range rows[0] {
				c := m.RGBA64At(b.Min.X+x, y)
				put(rows, x, uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A))
			}
		}, true
	}
	return func(y int, rows [][]float32) {
		for x := range rows[0] {
			r, g, bl, a := img.At(b.Min.X+x, y).RGBA()
			put(rows, x, r, g, bl, a)
		}
	}, true
}

// ycc returns the luminance and chroma (BT.601) of a premultiplied 16-bit
// colour composited over a gray backdrop.
func ycc(r, g, b, a uint32, backdrop float32) (y, cb, cr float32) {
	back := (1 - float32(a)/0xffff) * backdrop
	rf := float32(r)/0xffff + back
	gf := float32(g)/0xffff + back
	bf := float32(b)/0xffff + back
	y = min(max(0.299*rf+0.587*gf+0.114*bf, 0), 1)
	return y, 0.564 * (bf - y), 0.713 * (rf - y)
}

// backdropFor returns the luminance to composite transparent pixels over:
// white behind dark content and black behind light content, so that the
// content stays visible (see Prepare).
func backdropFor(img image.Image) float32 {
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return 1
	}
	b := img.Bounds()
	at := func(x, y int) (r, g, b, a uint32) { return img.At(x, y).RGBA() }
	if m, ok := img.(image.RGBA64Image); ok {
		// RGBA64At does not allocate, which matters at MaxPixels.
		at = func(x, y int) (r, g, b, a uint32) {
			c := m.RGBA64At(x, y)
			return uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
		}
	}
	var sumY, sumA float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := at(x, y)
			// Premultiplied luminance summed over alpha is the
			// alpha-weighted mean of the straight colours.
			sumY += 0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)
			sumA += float64(a)
		}
	}
	if sumA > 0 && sumY/sumA > 0.5 {
		return 0
	}
	return 1
}
