package imageprep

import (
	"image"
	"math"
	"slices"
)

// Tuning constants of Prepare. The values were chosen so that every
// Fashion-MNIST test image passes through unchanged (see the round-trip
// tests), while photos of objects on paper or a table are still framed.
const (
	// workSide is the shorter side, in pixels, below which Prepare works at
	// full resolution. Larger images are first averaged down in integer
	// blocks so that the shorter side stays at least workSide: far more
	// detail than 28×28 needs, in bounded memory.
	workSide = 512

	// contrastDelta is how far, in luminance, a pixel must be from the
	// border's median to count as object rather than background when
	// InvertAuto decides. It is large enough to ignore JPEG noise and
	// uneven lighting of paper.
	contrastDelta = 0.2

	// bgPercentile is the percentile of the border ring taken as the
	// background level. A low percentile, rather than the median, keeps
	// objects that run off the border (as Fashion-MNIST's do) from being
	// mistaken for background.
	bgPercentile = 0.10

	// blankLevel is the brightest an image may be after background removal
	// and still count as blank; a blank image prepares to all zeros rather
	// than to amplified noise.
	blankLevel = 0.1

	// faintLevel is the brightness below which the object is stretched so
	// that its brightest pixel becomes white: a faint pencil drawing then
	// looks like the training data, while images that are already bright
	// (every Fashion-MNIST image peaks at 254 or 255) keep their levels.
	faintLevel = 0.9

	// objectLevel is the brightness above which a pixel belongs to the
	// object's bounding box. At 0.05 every Fashion-MNIST test object spans
	// at least 25 of the 28 pixels, as the dataset's own framing intends.
	objectLevel = 0.05

	// fillTolerance is how far the object's size may be from the size the
	// box calls for before Prepare crops and rescales it: within it, the
	// image is used whole, so pictures that are already framed like the
	// training data are not shifted or blurred by re-centring.
	fillTolerance = 0.15
)

// Prepare converts img into Size×Size bytes (row-major, 0 black to 255
// white) with a light object on a black background, and reports whether it
// inverted the luminance. The steps, in order:
//
//  1. Grayscale: luminance Y = 0.299R + 0.587G + 0.114B of the gamma-encoded
//     values, as JPEG and the usual "L" conversions compute it. Transparent
//     pixels are composited over a backdrop that contrasts with the visible
//     content: over white when the opaque content's mean luminance
//     (weighted by alpha) is at most 0.5, over black otherwise. A dark logo
//     on a transparent background thus becomes dark on white, and a white
//     one becomes white on black.
//  2. Inversion. InvertAuto takes the median luminance b of the outermost
//     one-pixel ring as the background, and the pixels more than 0.2 away
//     from b as the object. It inverts when the object's pixels lie darker
//     than b by more in total (the sum of |Y−b|) than they lie lighter; when
//     no pixel is that far from b, it inverts when b > 0.5.
//  3. Levels. The 10th percentile of the ring, after inversion, is taken as
//     the background and mapped to black (unless it is above 0.5, when the
//     ring cannot be background and levels are left alone); then, if the
//     brightest pixel is below 0.9, the image is stretched so that it is
//     white. An image whose brightest pixel stays below 0.1 is blank and
//     prepares to all zeros.
//  4. Framing. The bounding box of pixels brighter than 0.05 is the object.
//     When its longer side is within 15% of Box/Size of the image's longer
//     side, the image is used whole, padded with black to a square;
//     otherwise a square around the box's centre, Size/Box times its longer
//     side, is cut out (padding with black where it leaves the image).
//  5. Scaling to Size×Size, by area averaging when shrinking (so a picture
//     enlarged k times by pixel repetition shrinks back exactly) and
//     bilinear interpolation when enlarging.
//
// An image that is already Size×Size grayscale, light on black and framed
// like Fashion-MNIST passes through unchanged. An unknown inv is treated as
// InvertAuto, and a Box outside 1..Size as DefaultBox.
func Prepare(img image.Image, inv Invert, opts Options) (pix []byte, inverted bool) {
	pix = make([]byte, Size*Size)
	g := toGray(img)
	if len(g.v) == 0 {
		return pix, false
	}
	ring := g.ring()
	switch inv {
	case InvertAlways:
		inverted = true
	case InvertNever:
	default:
		inverted = objectIsDark(g.v, percentile(ring, 0.5))
	}
	if inverted {
		for i, v := range g.v {
			g.v[i] = 1 - v
		}
		for i, v := range ring {
			ring[i] = 1 - v
		}
	}
	if !g.normalise(percentile(ring, bgPercentile)) {
		return pix, inverted
	}
	x0, y0, side := g.frame(opts.box())
	g.resample(x0, y0, side, pix)
	return pix, inverted
}

// gray is a grayscale picture with luminance in [0, 1], row-major.
type gray struct {
	w, h int
	v    []float32
}

// toGray converts img to luminance, averaging blocks of f×f pixels when the
// image is large (see workSide).
func toGray(img image.Image) *gray {
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	if W <= 0 || H <= 0 {
		return &gray{}
	}
	f := 1
	if m := min(W, H); m >= 2*workSide {
		f = m / workSide
	}
	w, h := (W+f-1)/f, (H+f-1)/f
	sum := make([]float32, w*h)
	row := make([]float32, W)
	read := rowReader(img)
	for y := 0; y < H; y++ {
		read(b.Min.Y+y, row)
		dst := sum[(y/f)*w : (y/f+1)*w]
		if f == 1 {
			copy(dst, row)
			continue
		}
		for x, v := range row {
			dst[x/f] += v
		}
	}
	if f > 1 {
		// Blocks on the right and bottom edges may be partial.
		for y := 0; y < h; y++ {
			bh := min(f, H-y*f)
			for x := 0; x < w; x++ {
				bw := min(f, W-x*f)
				sum[y*w+x] /= float32(bw * bh)
			}
		}
	}
	return &gray{w: w, h: h, v: sum}
}

// rowReader returns a function that writes the luminance of row y of img
// (in img's coordinates) into dst, which has one element per column.
func rowReader(img image.Image) func(y int, dst []float32) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		return func(y int, dst []float32) {
			off := m.PixOffset(b.Min.X, y)
			for x, p := range m.Pix[off : off+len(dst)] {
				dst[x] = float32(p) / 255
			}
		}
	case *image.YCbCr:
		// JPEG's Y channel is already the luminance we want; reading it
		// directly avoids a lossy round trip through RGB.
		return func(y int, dst []float32) {
			for x := range dst {
				dst[x] = float32(m.Y[m.YOffset(b.Min.X+x, y)]) / 255
			}
		}
	}
	backdrop := backdropFor(img)
	if m, ok := img.(image.RGBA64Image); ok {
		return func(y int, dst []float32) {
			for x := range dst {
				c := m.RGBA64At(b.Min.X+x, y)
				dst[x] = luminance(uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A), backdrop)
			}
		}
	}
	return func(y int, dst []float32) {
		for x := range dst {
			r, g, bl, a := img.At(b.Min.X+x, y).RGBA()
			dst[x] = luminance(r, g, bl, a, backdrop)
		}
	}
}

// luminance returns the luminance of a premultiplied 16-bit colour
// composited over a gray backdrop.
func luminance(r, g, b, a uint32, backdrop float32) float32 {
	y := (0.299*float32(r) + 0.587*float32(g) + 0.114*float32(b)) / 0xffff
	if a < 0xffff {
		y += (1 - float32(a)/0xffff) * backdrop
	}
	return min(max(y, 0), 1)
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

// ring returns the luminance of the outermost one-pixel ring of g.
func (g *gray) ring() []float32 {
	if g.w <= 2 || g.h <= 2 {
		return slices.Clone(g.v)
	}
	r := make([]float32, 0, 2*g.w+2*g.h-4)
	r = append(r, g.v[:g.w]...)
	r = append(r, g.v[(g.h-1)*g.w:]...)
	for y := 1; y < g.h-1; y++ {
		r = append(r, g.v[y*g.w], g.v[y*g.w+g.w-1])
	}
	return r
}

// percentile returns the p-th quantile (0..1) of v, by the lower nearest
// rank, without changing v.
func percentile(v []float32, p float64) float32 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// objectIsDark implements InvertAuto's rule (see Prepare): whether the
// pixels that differ clearly from the background level bg are mostly darker
// than it.
func objectIsDark(v []float32, bg float32) bool {
	var dark, light float64
	for _, p := range v {
		switch d := float64(p - bg); {
		case d > contrastDelta:
			light += d
		case d < -contrastDelta:
			dark -= d
		}
	}
	if dark == 0 && light == 0 {
		return bg > 0.5
	}
	return dark > light
}

// normalise maps the background level bg to black and stretches faint
// images (see Prepare). It reports false when the image is blank.
func (g *gray) normalise(bg float32) bool {
	if bg >= 0.5 {
		bg = 0
	}
	span := 1 - bg
	var hi float32
	for i, p := range g.v {
		p = max((p-bg)/span, 0)
		g.v[i] = p
		hi = max(hi, p)
	}
	if hi < blankLevel {
		return false
	}
	if hi < faintLevel {
		for i := range g.v {
			g.v[i] /= hi
		}
	}
	return true
}

// frame returns the square region of g, origin (x0, y0) and side, that
// Prepare scales to Size×Size (see Prepare, step 4). The region may extend
// past g's edges, where the picture counts as black.
func (g *gray) frame(box int) (x0, y0, side float64) {
	bx0, by0, bx1, by1 := g.w, g.h, -1, -1
	for y := 0; y < g.h; y++ {
		for x, p := range g.v[y*g.w : (y+1)*g.w] {
			if p > objectLevel {
				bx0, bx1 = min(bx0, x), max(bx1, x)
				by0, by1 = min(by0, y), max(by1, y)
			}
		}
	}
	p := float64(max(g.w, g.h))
	whole := func() (float64, float64, float64) {
		return float64(g.w-int(p)) / 2, float64(g.h-int(p)) / 2, p
	}
	if bx1 < 0 {
		return whole()
	}
	long := float64(max(bx1-bx0+1, by1-by0+1))
	if r := long / (p * float64(box) / Size); r >= 1-fillTolerance && r <= 1+fillTolerance {
		return whole()
	}
	side = long * Size / float64(box)
	cx := float64(bx0+bx1+1) / 2
	cy := float64(by0+by1+1) / 2
	return cx - side/2, cy - side/2, side
}

// tap is one source pixel's weight in an output pixel.
type tap struct {
	i int
	w float64
}

// taps returns, for each of the Size output pixels along one axis, the
// source pixels and weights that make it up, for a region that starts at
// start and is Size*scale source pixels long in a picture n pixels long.
// Source pixels outside 0..n-1 are left out, which makes them black.
func taps(start, scale float64, n int) [][]tap {
	out := make([][]tap, Size)
	for o := range out {
		if scale >= 1 {
			// Area averaging: each source pixel weighs by how much of
			// it the output pixel covers.
			a, b := start+float64(o)*scale, start+float64(o+1)*scale
			for i := int(math.Floor(a)); float64(i) < b; i++ {
				cover := math.Min(b, float64(i+1)) - math.Max(a, float64(i))
				if i >= 0 && i < n && cover > 1e-9 {
					out[o] = append(out[o], tap{i, cover / scale})
				}
			}
			continue
		}
		// Bilinear interpolation between the two nearest pixel centres.
		u := start + (float64(o)+0.5)*scale - 0.5
		i := int(math.Floor(u))
		t := u - float64(i)
		for k, w := range [2]float64{1 - t, t} {
			if j := i + k; j >= 0 && j < n && w > 1e-9 {
				out[o] = append(out[o], tap{j, w})
			}
		}
	}
	return out
}

// resample scales the square region (x0, y0, side) of g to Size×Size bytes
// in dst, one axis at a time.
func (g *gray) resample(x0, y0, side float64, dst []byte) {
	scale := side / Size
	tx, ty := taps(x0, scale, g.w), taps(y0, scale, g.h)
	// Only rows that some output row uses need the horizontal pass.
	rows := make(map[int][]float64)
	for _, ts := range ty {
		for _, t := range ts {
			if _, ok := rows[t.i]; ok {
				continue
			}
			src := g.v[t.i*g.w : (t.i+1)*g.w]
			r := make([]float64, Size)
			for o, xs := range tx {
				var s float64
				for _, x := range xs {
					s += x.w * float64(src[x.i])
				}
				r[o] = s
			}
			rows[t.i] = r
		}
	}
	for oy, ys := range ty {
		for ox := 0; ox < Size; ox++ {
			var s float64
			for _, y := range ys {
				s += y.w * rows[y.i][ox]
			}
			dst[oy*Size+ox] = byte(math.Round(math.Min(math.Max(s, 0), 1) * 255))
		}
	}
}
