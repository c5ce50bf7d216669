package imageprep

import (
	"image"
	"math"
	"slices"
)

// Tuning constants of Prepare. The values were chosen so that every
// Fashion-MNIST test image passes through unchanged (see the round-trip
// tests), while photos of objects on paper, cloth or a table are framed as
// the dataset framed its pictures (see the photo tests).
const (
	// workSide is the shorter side, in pixels, that Prepare reduces larger
	// pictures to (by area averaging) before anything else: far more
	// detail than 28×28 needs, in bounded memory. Pictures whose shorter
	// side is under 2·workSide are used as they are.
	workSide = 512

	// analysisSide is the shorter side of the picture in which the object
	// is looked for: a picture larger than that is averaged down to it
	// first, which also averages out sensor noise.
	analysisSide = 160

	// objectSigmas is how many standard deviations of the border's noise a
	// pixel must differ from the background by to count as object.
	objectSigmas = 4.5

	// objectLevel is the least contrast a pixel must have against the
	// background to count as object, whatever the noise: its luminance
	// differs from the background's by this share of the background's
	// distance to black (dark objects) or to white (light ones). At 0.05,
	// as Fashion-MNIST trimmed its pictures ("within 5% of the maximum
	// intensity"), every Fashion-MNIST test object spans at least 25 of
	// the 28 pixels.
	objectLevel = 0.05

	// colourLevel is the least difference in chroma (Cb or Cr, 0..1) that
	// makes a pixel object on its own: a red shirt on green cloth of the
	// same luminance.
	colourLevel = 0.04

	// blankLevel is the brightest the 28×28 result may be and still count
	// as blank; a blank picture prepares to all zeros rather than to
	// amplified noise.
	blankLevel = 0.1

	// faintLevel is the brightness below which the result is stretched so
	// that its brightest pixel becomes white: a faint pencil drawing or a
	// dark-gray shirt on black then looks like the training data, while
	// pictures that are already bright (every Fashion-MNIST image peaks
	// at 254 or 255) keep their levels.
	faintLevel = 0.9

	// coreShare is the share of the object's contrast (its 99th
	// percentile) that its outline has: the frame is fitted to the pixels
	// with at least that much, so that the faint fringe of a cast shadow
	// or of blur is left out of it.
	coreShare = 0.2

	// fillTolerance is how far the object's size may be from the size the
	// box calls for before Prepare crops and rescales it: within it, the
	// picture is used whole, so that pictures already framed like the
	// training data are not shifted or blurred by re-centring.
	fillTolerance = 0.15

	// minShare is the share of the picture below which the square framed
	// around the object counts as small (Result.SmallObject).
	minShare = 0.05

	// unevenFit is the least share of the border that the fitted
	// background must explain (unless it is exactly black or white);
	// below it, or when the border's spread around the fit exceeds
	// unevenSpread, the background is too uneven to separate the object
	// from it reliably (Result.Uneven).
	unevenFit    = 0.5
	unevenSpread = 0.08
)

// Result is what Prepare made of a picture.
type Result struct {
	// Pix is the model's input: Size×Size bytes, row-major, 0 black to
	// 255 white, a light object on a black background.
	Pix []byte
	// Inverted says whether the luminance was inverted: the object was
	// darker than its background.
	Inverted bool
	// Blank says that no object was found: Pix is all black.
	Blank bool
	// Share is the share of the picture's area taken by the square that
	// Prepare framed around the object (at most 1; 1 when the picture is
	// used whole).
	Share float64
	// BackgroundFit is the share of the border that the fitted background
	// explains, and BackgroundSpread the border's standard deviation
	// around it, in levels of 255.
	BackgroundFit, BackgroundSpread float64
	// Uneven says that the background was too uneven to separate the
	// object from it reliably.
	Uneven bool
}

// SmallObject says whether the object takes less than 5% of the picture
// (see Share): enlarged from so few pixels, or perhaps a speck rather
// than the object, it is likely misread.
func (r Result) SmallObject() bool { return !r.Blank && r.Share < minShare }

// Prepare converts img into the model's input, undoing what a camera adds
// and framing the object as Fashion-MNIST framed its product photos (trim
// the background, fit the longer side to the frame, centre, negate,
// grayscale). The steps, in order:
//
//  1. Colour. Luminance Y = 0.299R + 0.587G + 0.114B of the gamma-encoded
//     values, as JPEG and the usual "L" conversions compute it, and the
//     chroma Cb and Cr. Transparent pixels are composited over a backdrop
//     that contrasts with the visible content: over white when the opaque
//     content's mean luminance (weighted by alpha) is at most 0.5, over
//     black otherwise. Pictures whose shorter side is at least 1024 are
//     first averaged down to a shorter side of 512, and the object is
//     looked for in a copy averaged down to 160, which also averages out
//     sensor noise.
//  2. Background. In the border band (the outer 2% of the picture), a
//     surface is fitted to each channel: starting from the densest 15% of
//     the band's values, grown along the band to the neighbours that
//     continue it smoothly, then refitted to the band pixels within 3
//     standard deviations of the border's own noise, a plane, or a
//     quadratic where that fits the band clearly better (a vignette).
//     Light that falls off across the picture, a tinted surface, and an
//     object or clutter that crosses the border are thus handled. A
//     background within a level of black (or white) everywhere is taken as
//     exactly black (white).
//  3. Object. A pixel is object when it differs from the background by
//     more than 4.5 times the border's noise, and by at least 5% in
//     contrast (see 5) or 0.04 in chroma. Among the connected groups of
//     object pixels, the object is the largest (one away from the edge, if
//     it is at least a quarter of the largest at the edge) with the
//     others, except clutter, groups at the picture's edge that are
//     smaller than it and apart from it (unless the object reaches the
//     edge or fills the picture, as the dataset's own images do), and
//     stray pixels, groups under 1% of it.
//  4. Inversion. InvertAuto inverts when the object's pixels are darker
//     than the background in total; with no object found, when the
//     background is brighter than 0.5.
//  5. Levels. Each pixel's contrast with the background at its place:
//     (background − Y) / background for a dark object, (Y − background) /
//     (1 − background) for a light one, at least 0. Dividing by the
//     background removes uneven light, as a white-balanced scan would.
//     Clutter is set to 0.
//  6. Framing. When the object, faint parts included, has a longer side
//     within 15% of Box/Size of the picture's longer side, the picture is
//     used whole, padded with black to a square. Otherwise a square
//     Size/Box times the longer side of the object's core (its pixels with
//     at least a fifth of its contrast, which leaves out a cast shadow and
//     the fringe of blur) is cut around the core's centre: the centre of
//     its bounding box when Box is Size (Fashion-MNIST centres the box),
//     its centre of mass otherwise (MNIST centres the mass of its digits).
//     Outside the picture counts as black.
//  7. Scaling to Size×Size by area averaging (resample.go), then: a result
//     whose brightest pixel is under 0.1 is blank (all black); one under
//     0.9 is stretched so that its brightest pixel is white.
//
// An image that is already Size×Size grayscale, light on black and framed
// like Fashion-MNIST passes through unchanged, bit for bit. An unknown inv
// is treated as InvertAuto, and a Box outside 1..Size as DefaultBox.
func Prepare(img image.Image, inv Invert, opts Options) Result {
	res := Result{Pix: make([]byte, Size*Size), Share: 1}
	p := toPicture(img)
	if p.w == 0 || p.h == 0 {
		res.Blank = true
		return res
	}
	a := p.analysis()
	bgs := a.fitBackgrounds()
	bgL := bgs[0]
	res.BackgroundFit = bgL.fit
	res.BackgroundSpread = 255 * bgL.sigma
	obj := a.findObject(bgs, opts.box())

	switch inv {
	case InvertAlways:
		res.Inverted = true
	case InvertNever:
	default:
		if obj.found {
			res.Inverted = obj.dark
		} else {
			res.Inverted = bgL.at(0, 0) > 0.5
		}
	}
	// A background of exactly black or white, as the dataset's own
	// pictures have, is even however little of the border it takes.
	res.Uneven = bgL.sigma > unevenSpread || bgL.fit < unevenFit && !bgL.flat
	if !obj.found {
		res.Blank = true
		return res
	}
	c := p.contrast(&bgL.surface, res.Inverted, a, obj)
	x0, y0, side := p.frame(obj, c, opts.box(), a)
	res.Share = min(1, side*side/float64(p.w*p.h))
	out := c.resample(x0, y0, side, side, Size, Size)
	var hi float32
	for _, v := range out.v {
		hi = max(hi, v)
	}
	if hi < blankLevel {
		res.Blank = true
		return res
	}
	scale := float32(1)
	if hi < faintLevel {
		scale = 1 / hi
	}
	for i, v := range out.v {
		res.Pix[i] = byte(math.Round(float64(min(max(v*scale, 0), 1)) * 255))
	}
	return res
}

// picture is a picture's luminance and chroma planes (chroma nil for a
// gray picture), values in [0, 1] for luminance and [-0.5, 0.5] for
// chroma.
type picture struct {
	w, h int
	ch   []*plane // Y, then Cb and Cr when the picture has colour
}

// analysis returns p averaged down to a shorter side of analysisSide, or
// p itself when it is no larger.
func (p *picture) analysis() *picture {
	m := min(p.w, p.h)
	if m <= analysisSide {
		return p
	}
	w := max(1, int(math.Round(float64(p.w)*analysisSide/float64(m))))
	h := max(1, int(math.Round(float64(p.h)*analysisSide/float64(m))))
	a := &picture{w: w, h: h}
	for _, c := range p.ch {
		a.ch = append(a.ch, c.resample(0, 0, float64(p.w), float64(p.h), w, h))
	}
	return a
}

// fitBackgrounds fits the background of each channel of p (background.go).
func (p *picture) fitBackgrounds() []background {
	b := border(p.w, p.h)
	vals := make([]float32, len(b.px))
	bgs := make([]background, len(p.ch))
	for k, c := range p.ch {
		for i, q := range b.px {
			vals[i] = c.v[q.y*p.w+q.x]
		}
		bgs[k] = fitBackground(b, vals)
	}
	return bgs
}

// object is what findObject found in the analysed picture: the object's
// bounding box, whether it is darker than the background, and which pixels
// are clutter.
type object struct {
	found bool
	// x0..x1, y0..y1 is the bounding box (x1 and y1 exclusive) of the
	// object's core: its pixels with at least coreShare of its contrast.
	x0, y0, x1, y1 int
	// whole says that the object, faint parts included, fills the
	// picture as the box calls for: the picture is used whole.
	whole   bool
	dark    bool
	clutter []bool // per pixel
}

// lumContrast returns the contrast of luminance y against background b
// (see Prepare, step 5), positive for both polarities.
func lumContrast(y, b float64) float64 {
	if y < b {
		return (b - y) / max(b, objectLevel)
	}
	return (y - b) / max(1-b, objectLevel)
}

// findObject marks the object pixels of p against the backgrounds bgs and
// picks the object among their connected groups (see Prepare, step 3).
func (p *picture) findObject(bgs []background, box int) object {
	n := p.w * p.h
	mask := make([]bool, n)
	signed := make([]float64, n) // luminance minus background
	cont := make([]float64, n)   // contrast
	for y := 0; y < p.h; y++ {
		v := norm(y, p.h)
		for x := 0; x < p.w; x++ {
			u := norm(x, p.w)
			i := y*p.w + x
			var z2, chroma float64
			for k, c := range p.ch {
				b := bgs[k].at(u, v)
				r := float64(c.v[i]) - b
				z2 += r * r / (bgs[k].sigma * bgs[k].sigma)
				if k == 0 {
					signed[i] = r
					cont[i] = lumContrast(float64(c.v[i]), b)
				} else {
					chroma = max(chroma, math.Abs(r))
				}
			}
			mask[i] = z2 > objectSigmas*objectSigmas && (cont[i] >= objectLevel || chroma >= colourLevel)
		}
	}
	comps := components(mask, p.w, p.h)
	var obj object
	if len(comps) == 0 {
		return obj
	}
	// The main group: the largest, by area, preferring one that does not
	// touch the edge unless it is under a quarter of one that does.
	best, bestInside := 0, -1
	for i, c := range comps {
		if c.area > comps[best].area {
			best = i
		}
		if !c.edge && (bestInside < 0 || c.area > comps[bestInside].area) {
			bestInside = i
		}
	}
	main := best
	if bestInside >= 0 && comps[bestInside].area*4 >= comps[best].area {
		main = bestInside
	}
	m := comps[main]
	gap := max(1, int(math.Round(bandShare*float64(min(p.w, p.h)))))
	// Clutter: a group at the edge, away from the object and smaller than
	// it, in a picture whose object does not reach the edge. Stray
	// pixels: a group too small to count; it is left out of the frame but
	// left as it is.
	clutter := make([]bool, len(comps))
	stray := make([]bool, len(comps))
	for i, c := range comps {
		if i != main {
			clutter[i] = c.edge && !m.edge && c.area < m.area && c.apart(m, gap)
			stray[i] = c.area*100 < m.area
		}
	}
	// bbox returns the bounding box of the object's pixels with at least
	// level of contrast.
	bbox := func(level float64) (x0, y0, x1, y1 int) {
		x0, y0 = p.w, p.h
		for i, c := range comps {
			if clutter[i] || stray[i] {
				continue
			}
			for _, j := range c.pix {
				if cont[j] >= level {
					x, y := j%p.w, j/p.w
					x0, y0 = min(x0, x), min(y0, y)
					x1, y1 = max(x1, x+1), max(y1, y+1)
				}
			}
		}
		return x0, y0, x1, y1
	}
	if x0, y0, x1, y1 := bbox(0); fills(p.w, p.h, box, x0, y0, x1, y1) {
		// An object that fills the picture reaches its edges: what
		// touches them is part of it, as in the dataset's own pictures.
		clear(clutter)
		obj.whole = true
	}
	var conts []float64
	var sum float64
	obj.clutter = make([]bool, n)
	for i, c := range comps {
		for _, j := range c.pix {
			switch {
			case clutter[i]:
				obj.clutter[j] = true
			case !stray[i]:
				sum += signed[j]
				conts = append(conts, cont[j])
			}
		}
	}
	// The core: the faint fringe of a cast shadow, or of blur, is not the
	// object's outline.
	slices.Sort(conts)
	peak := conts[int(0.99*float64(len(conts)-1))]
	obj.x0, obj.y0, obj.x1, obj.y1 = bbox(max(objectLevel, coreShare*peak))
	obj.found = true
	obj.dark = sum < 0
	dilate(obj.clutter, p.w, p.h, gap)
	return obj
}

// fills says whether the longer side of the bounding box x0..x1, y0..y1
// is within fillTolerance of the size that box calls for in a w×h
// picture: the picture is then used whole (see Prepare, step 6).
func fills(w, h, box int, x0, y0, x1, y1 int) bool {
	long := float64(max(x1-x0, y1-y0))
	r := long / (float64(max(w, h)) * float64(box) / Size)
	return r >= 1-fillTolerance && r <= 1+fillTolerance
}

// apart says whether c's bounding box is more than gap pixels away from
// d's.
func (c *component) apart(d component, gap int) bool {
	return c.x0 >= d.x1+gap || d.x0 >= c.x1+gap || c.y0 >= d.y1+gap || d.y0 >= c.y1+gap
}

// dilate grows the set pixels of the w×h mask m by r pixels in every
// direction (a square), so that the soft edge of clutter goes with it.
func dilate(m []bool, w, h, r int) {
	// One pass along rows, one along columns: a square is separable.
	grow := func(n, stride, count, step int) {
		line := make([]bool, n)
		for k := 0; k < count; k++ {
			base := k * step
			for i := range line {
				line[i] = m[base+i*stride]
			}
			for i, set := range line {
				if set {
					for d := max(0, i-r); d <= min(n-1, i+r); d++ {
						m[base+d*stride] = true
					}
				}
			}
		}
	}
	grow(w, 1, h, w)
	grow(h, w, w, 1)
}

// component is a connected group of mask pixels.
type component struct {
	pix            []int
	area           int
	x0, y0, x1, y1 int // bounding box, x1 and y1 exclusive
	edge           bool
}

// components returns the 8-connected groups of set pixels in mask.
func components(mask []bool, w, h int) []component {
	seen := make([]bool, len(mask))
	var comps []component
	var stack []int
	for start, set := range mask {
		if !set || seen[start] {
			continue
		}
		c := component{x0: w, y0: h}
		seen[start] = true
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			c.pix = append(c.pix, i)
			x, y := i%w, i/w
			c.x0, c.y0 = min(c.x0, x), min(c.y0, y)
			c.x1, c.y1 = max(c.x1, x+1), max(c.y1, y+1)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					if j := ny*w + nx; mask[j] && !seen[j] {
						seen[j] = true
						stack = append(stack, j)
					}
				}
			}
		}
		c.area = len(c.pix)
		c.edge = c.x0 == 0 || c.y0 == 0 || c.x1 == w || c.y1 == h
		comps = append(comps, c)
	}
	return comps
}

// contrast returns the luminance contrast of each pixel of p with the
// background bg (see Prepare, step 5): a light object on black. Pixels
// under the clutter of obj, found in the analysed picture a, are black.
func (p *picture) contrast(bg *surface, inverted bool, a *picture, obj object) *plane {
	out := &plane{w: p.w, h: p.h, v: make([]float32, p.w*p.h)}
	sx, sy := float64(a.w)/float64(p.w), float64(a.h)/float64(p.h)
	for y := 0; y < p.h; y++ {
		v := norm(y, p.h)
		ay := min(int(float64(y)*sy), a.h-1)
		for x := 0; x < p.w; x++ {
			i := y*p.w + x
			if obj.clutter[ay*a.w+min(int(float64(x)*sx), a.w-1)] {
				continue
			}
			b := bg.at(norm(x, p.w), v)
			lum := float64(p.ch[0].v[i])
			var c float64
			if inverted {
				c = (b - lum) / max(b, objectLevel)
			} else {
				c = (lum - b) / max(1-b, objectLevel)
			}
			out.v[i] = float32(max(c, 0))
		}
	}
	return out
}

// frame returns the square region of p, origin (x0, y0) and side, that
// Prepare scales to Size×Size (see Prepare, step 6). The region may extend
// past p's edges. obj was found in the analysed picture a, and c is the
// contrast plane.
func (p *picture) frame(obj object, c *plane, box int, a *picture) (x0, y0, side float64) {
	if obj.whole {
		pw := max(p.w, p.h)
		return float64(p.w-pw) / 2, float64(p.h-pw) / 2, float64(pw)
	}
	sx, sy := float64(p.w)/float64(a.w), float64(p.h)/float64(a.h)
	bx0, by0 := float64(obj.x0)*sx, float64(obj.y0)*sy
	bx1, by1 := float64(obj.x1)*sx, float64(obj.y1)*sy
	side = max(bx1-bx0, by1-by0) * Size / float64(box)
	cx, cy := (bx0+bx1)/2, (by0+by1)/2
	if box < Size {
		cx, cy = c.centreOfMass(int(bx0), int(by0), int(math.Ceil(bx1)), int(math.Ceil(by1)), cx, cy)
	}
	return cx - side/2, cy - side/2, side
}

// centreOfMass returns the centre of mass of c's values in the rectangle
// x0..x1, y0..y1 (pixel coordinates, centres at +0.5), or (cx, cy) when
// they sum to zero.
func (c *plane) centreOfMass(x0, y0, x1, y1 int, cx, cy float64) (float64, float64) {
	var sx, sy, sum float64
	for y := max(y0, 0); y < min(y1, c.h); y++ {
		for x := max(x0, 0); x < min(x1, c.w); x++ {
			v := float64(c.v[y*c.w+x])
			sx += v * (float64(x) + 0.5)
			sy += v * (float64(y) + 0.5)
			sum += v
		}
	}
	if sum == 0 {
		return cx, cy
	}
	return sx / sum, sy / sum
}
