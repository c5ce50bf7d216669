// Package phototest renders the images of a 28×28 dataset (Fashion-MNIST,
// MNIST: a light object on black) as a phone would photograph the object:
// dark on a light, tinted, unevenly lit surface, with sensor noise, a
// little blur and JPEG compression, the object at any size and off centre,
// and, for harder cases, a cast shadow, a coloured cloth or clutter at the
// edge of the picture. The tests of predict measure its accuracy on these
// photos; nothing is stored: every photo is rendered, deterministically
// from a seed, when a test runs.
//
// The rendering inverts the dataset's own conversion (Fashion-MNIST's
// README: trim, fit the longer side to 28, centre, negate, grayscale): a
// pixel's value v in the dataset image is how far the object's reflectance
// there is from the surface's, so the photo's colour is the mix
// light·(surface·(1−v) + cloth·v), with cloth the colour of the object's
// darkest part.
package phototest

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"

	"golang.org/x/image/draw"
)

// Side is the width and height of the dataset images that Render takes.
const Side = 28

// Condition is one way of photographing an object: the ranges that each
// photo's parameters are drawn from. The zero value is a clean photo: a
// white surface, even light, the object centred at 60% of the picture's
// shorter side, no noise, no blur, saved as PNG.
type Condition struct {
	// Name names the condition in tests and in the README's table.
	Name string
	// Size is the range of the object's longer side (the dataset image's
	// side), as a share of the picture's shorter side; zero means 0.6.
	Size [2]float64
	// Offset is the most the object's centre is moved from the picture's
	// centre along each axis, as a share of the picture's shorter side;
	// the object always stays inside the picture.
	Offset float64
	// Surface is the range of the surface's luminance; zero means 0.92.
	Surface [2]float64
	// Tint is the most each of the surface's colour channels is scaled up
	// or down by (0.08: ±8%).
	Tint float64
	// Falloff is the range of how much the light falls off from one side
	// of the picture to the other, in a random direction (0.2: 250 → 200).
	Falloff [2]float64
	// Noise is the range of the sensor noise's standard deviation, in
	// levels of 255, drawn afresh for each channel of each pixel.
	Noise [2]float64
	// Blur is the range of the blur's radius, in pixels (0 for none).
	Blur [2]float64
	// JPEG is the range of JPEG quality; zero means PNG.
	JPEG [2]int
	// Shadow casts a soft shadow of the object onto the surface, offset
	// by 2–5% of the picture and 20–40% deep.
	Shadow bool
	// Cloth lays the object on a coloured cloth (a saturated surface of
	// luminance 0.45–0.7 with a visible weave) instead of a light surface.
	Cloth bool
	// Clutter puts one to three other things at the picture's edge: a
	// strip of another surface, or part of a round or square object, of
	// any colour.
	Clutter bool
}

// Phone is the condition of a phone photo of an object on a table or
// paper: every effect that predict must handle at once.
var Phone = Condition{
	Name:    "phone photo (all of the above)",
	Size:    [2]float64{0.35, 0.85},
	Offset:  0.12,
	Surface: [2]float64{0.7, 0.95},
	Tint:    0.08,
	Falloff: [2]float64{0, 0.2},
	Noise:   [2]float64{2, 8},
	Blur:    [2]float64{0.5, 1.5},
	JPEG:    [2]int{60, 90},
}

// Conditions returns the conditions the photo tests measure: a clean
// photo, each of Phone's effects alone, Phone, and Phone with a shadow, a
// coloured cloth or a cluttered edge.
func Conditions() []Condition {
	with := func(name string, f func(*Condition)) Condition {
		c := Phone
		c.Name = name
		f(&c)
		return c
	}
	return []Condition{
		{Name: "clean"},
		{Name: "object 35-85% of the picture", Size: Phone.Size},
		{Name: "off centre by up to 12%", Offset: Phone.Offset},
		{Name: "tinted surface, 0.70-0.95", Surface: Phone.Surface, Tint: Phone.Tint},
		{Name: "light falling off by up to 20%", Falloff: Phone.Falloff},
		{Name: "noise, sigma 2-8 levels", Noise: Phone.Noise},
		{Name: "blur, radius 0.5-1.5 px", Blur: Phone.Blur},
		{Name: "JPEG quality 60-90", JPEG: Phone.JPEG},
		Phone,
		with("phone photo + shadow", func(c *Condition) { c.Shadow = true }),
		with("phone photo + coloured cloth", func(c *Condition) { c.Cloth = true }),
		with("phone photo + cluttered edge", func(c *Condition) { c.Clutter = true }),
	}
}

// Photo is one rendered photo.
type Photo struct {
	// Image is the photo before encoding.
	Image *image.RGBA
	// Data is the encoded file, and Ext its extension (".jpg", ".png").
	Data []byte
	Ext  string
}

// Render photographs the Side×Side dataset image pix (row-major, a light
// object on black) under c. The same pix, c and seed always give the same
// photo.
func (c Condition) Render(pix []byte, seed uint64) (Photo, error) {
	if len(pix) != Side*Side {
		return Photo{}, fmt.Errorf("render: got %d pixels, want %d", len(pix), Side*Side)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	uni := func(r [2]float64, def float64) float64 {
		if r == [2]float64{} {
			return def
		}
		return r[0] + (r[1]-r[0])*rng.Float64()
	}

	// The picture: 4:3, either way up, shorter side 240-400 pixels.
	short := 240 + rng.IntN(161)
	w, h := short*4/3, short
	if rng.IntN(2) == 0 {
		w, h = h, w
	}
	s := float64(short)

	// Where the object goes.
	side := max(4, int(math.Round(uni(c.Size, 0.6)*s)))
	margin := 0.03 * s
	place := func(n int) int {
		free := (float64(n)-float64(side))/2 - margin
		d := c.Offset * s * (2*rng.Float64() - 1)
		d = max(-free, min(free, d))
		if free < 0 {
			d = 0
		}
		return int(math.Round((float64(n)-float64(side))/2 + d))
	}
	ox, oy := place(w), place(h)
	obj := image.Rect(ox, oy, ox+side, oy+side)

	// The object's coverage v, enlarged smoothly to its place.
	src := &image.Gray{Pix: pix, Stride: Side, Rect: image.Rect(0, 0, Side, Side)}
	cover := image.NewGray(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(cover, obj, src, src.Bounds(), draw.Src, nil)

	// Colours: the surface, and the object's darkest part.
	surface := [3]float64{}
	level := uni(c.Surface, 0.92)
	for k := range surface {
		surface[k] = level * (1 + c.Tint*(2*rng.Float64()-1))
	}
	var weave float64
	if c.Cloth {
		level = 0.45 + 0.25*rng.Float64()
		hue := rng.Float64() * 2 * math.Pi
		for k := range surface {
			surface[k] = level * (1 + 0.45*math.Cos(hue+float64(k)*2*math.Pi/3))
		}
		weave = 0.04 + 0.04*rng.Float64()
	}
	dark := 0.04 + 0.2*rng.Float64()
	cloth := [3]float64{}
	for k := range cloth {
		cloth[k] = level * dark * (1 + 0.3*(2*rng.Float64()-1))
	}

	// Light: a linear falloff in a random direction.
	fall := uni(c.Falloff, 0)
	angle := rng.Float64() * 2 * math.Pi
	dx, dy := math.Cos(angle), math.Sin(angle)
	span := math.Abs(dx)*float64(w) + math.Abs(dy)*float64(h)
	light := func(x, y int) float64 {
		t := (dx*(float64(x)-float64(w)/2) + dy*(float64(y)-float64(h)/2)) / span // -0.5..0.5
		return 1 - fall*(t+0.5)
	}

	var shadow *image.Gray
	var shadowDepth float64
	var sdx, sdy int
	if c.Shadow {
		shadow = blurred(cover, 0.02*s)
		shadowDepth = 0.2 + 0.2*rng.Float64()
		a := rng.Float64() * 2 * math.Pi
		d := (0.02 + 0.03*rng.Float64()) * s
		sdx, sdy = int(math.Round(d*math.Cos(a))), int(math.Round(d*math.Sin(a)))
	}
	var things []thing
	if c.Clutter {
		things = clutter(rng, w, h, obj, s)
	}

	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			l := light(x, y)
			if shadow != nil {
				if sx, sy := x-sdx, y-sdy; sx >= 0 && sy >= 0 && sx < w && sy < h {
					l *= 1 - shadowDepth*float64(shadow.Pix[sy*shadow.Stride+sx])/255
				}
			}
			base := surface
			if weave > 0 {
				f := 1 + weave*math.Sin(float64(x)*2.1)*math.Sin(float64(y)*2.1)
				for k := range base {
					base[k] *= f
				}
			}
			for _, t := range things {
				if t.contains(x, y) {
					base = t.colour
				}
			}
			v := float64(cover.Pix[y*cover.Stride+x]) / 255
			i := img.PixOffset(x, y)
			for k := 0; k < 3; k++ {
				img.Pix[i+k] = to8(l * (base[k]*(1-v) + cloth[k]*v))
			}
			img.Pix[i+3] = 0xff
		}
	}

	if r := uni(c.Blur, 0); r > 0 {
		img = blurRGB(img, r)
	}
	if sigma := uni(c.Noise, 0); sigma > 0 {
		for i := range img.Pix {
			if i%4 != 3 {
				img.Pix[i] = to8((float64(img.Pix[i]) + sigma*rng.NormFloat64()) / 255)
			}
		}
	}

	var buf bytes.Buffer
	ph := Photo{Image: img, Ext: ".png"}
	if c.JPEG != [2]int{} {
		q := c.JPEG[0] + rng.IntN(c.JPEG[1]-c.JPEG[0]+1)
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			return Photo{}, fmt.Errorf("render: %w", err)
		}
		ph.Ext = ".jpg"
	} else if err := png.Encode(&buf, img); err != nil {
		return Photo{}, fmt.Errorf("render: %w", err)
	}
	ph.Data = buf.Bytes()
	return ph, nil
}

// to8 converts a value in [0, 1] to a byte, clamping.
func to8(v float64) uint8 {
	return uint8(math.Round(255 * min(max(v, 0), 1)))
}

// blurred returns g blurred by about radius pixels: shrunk by that factor
// and enlarged back, both with bilinear filtering.
func blurred(g *image.Gray, radius float64) *image.Gray {
	b := g.Bounds()
	sw := max(1, int(float64(b.Dx())/radius))
	sh := max(1, int(float64(b.Dy())/radius))
	small := image.NewGray(image.Rect(0, 0, sw, sh))
	draw.BiLinear.Scale(small, small.Bounds(), g, b, draw.Src, nil)
	out := image.NewGray(b)
	draw.BiLinear.Scale(out, b, small, small.Bounds(), draw.Src, nil)
	return out
}

// blurRGB is blurred for a colour picture: shrunk 1+radius times and
// enlarged back, which spreads each pixel over about radius pixels.
func blurRGB(m *image.RGBA, radius float64) *image.RGBA {
	b := m.Bounds()
	f := 1 + radius
	small := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(b.Dx())/f)), max(1, int(float64(b.Dy())/f))))
	draw.BiLinear.Scale(small, small.Bounds(), m, b, draw.Src, nil)
	out := image.NewRGBA(b)
	draw.BiLinear.Scale(out, b, small, small.Bounds(), draw.Src, nil)
	return out
}

// thing is one piece of clutter: a rectangle or an ellipse of one colour.
type thing struct {
	r       image.Rectangle
	ellipse bool
	colour  [3]float64
}

func (t thing) contains(x, y int) bool {
	if !(image.Point{x, y}).In(t.r) {
		return false
	}
	if !t.ellipse {
		return true
	}
	cx, cy := float64(t.r.Min.X+t.r.Max.X)/2, float64(t.r.Min.Y+t.r.Max.Y)/2
	rx, ry := float64(t.r.Dx())/2, float64(t.r.Dy())/2
	u, v := (float64(x)+0.5-cx)/rx, (float64(y)+0.5-cy)/ry
	return u*u+v*v <= 1
}

// clutter returns one to three things at the edges of a w×h picture, each
// reaching no closer to the object's square obj than 1% of s.
func clutter(rng *rand.Rand, w, h int, obj image.Rectangle, s float64) []thing {
	n := 1 + rng.IntN(3)
	var out []thing
	for range n {
		var t thing
		switch rng.IntN(3) {
		case 0: // dark
			v := 0.05 + 0.25*rng.Float64()
			t.colour = [3]float64{v, v * (0.8 + 0.4*rng.Float64()), v * (0.8 + 0.4*rng.Float64())}
		case 1: // light
			v := 0.85 + 0.15*rng.Float64()
			t.colour = [3]float64{v, v, v * (0.9 + 0.1*rng.Float64())}
		default: // coloured
			for k := range t.colour {
				t.colour[k] = 0.1 + 0.8*rng.Float64()
			}
		}
		t.ellipse = rng.IntN(2) == 0
		keep := int(0.01 * s)
		depth := int((0.03 + 0.07*rng.Float64()) * s)
		length := int((0.1 + 0.4*rng.Float64()) * s)
		switch edge := rng.IntN(4); edge {
		case 0, 1: // top, bottom
			d := min(depth, map[int]int{0: obj.Min.Y, 1: h - obj.Max.Y}[edge]-keep)
			if d < 2 {
				continue
			}
			x := rng.IntN(max(1, w-length))
			if edge == 0 {
				t.r = image.Rect(x, -d, x+length, d)
			} else {
				t.r = image.Rect(x, h-d, x+length, h+d)
			}
		default: // left, right
			d := min(depth, map[int]int{2: obj.Min.X, 3: w - obj.Max.X}[edge]-keep)
			if d < 2 {
				continue
			}
			y := rng.IntN(max(1, h-length))
			if edge == 2 {
				t.r = image.Rect(-d, y, d, y+length)
			} else {
				t.r = image.Rect(w-d, y, w+d, y+length)
			}
		}
		out = append(out, t)
	}
	return out
}
