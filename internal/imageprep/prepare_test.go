package imageprep

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

func TestParseInvert(t *testing.T) {
	tests := []struct {
		in      string
		want    Invert
		wantErr bool
	}{
		{"auto", InvertAuto, false},
		{"always", InvertAlways, false},
		{"never", InvertNever, false},
		{" Always ", InvertAlways, false},
		{"NEVER", InvertNever, false},
		{"", InvertAuto, true},
		{"yes", InvertAuto, true},
	}
	for _, tt := range tests {
		got, err := ParseInvert(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseInvert(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") || !strings.Contains(err.Error(), "auto, always or never") {
				t.Errorf("ParseInvert(%q) error = %q, want one line naming the choices", tt.in, err)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("ParseInvert(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if back, _ := ParseInvert(got.String()); back != got {
			t.Errorf("ParseInvert(%v.String()) = %v", got, back)
		}
	}
}

// grayImage returns a w×h image whose luminance at each pixel is f(x, y)
// in [0, 1].
func grayImage(w, h int, f func(x, y int) float64) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Pix[y*m.Stride+x] = uint8(math.Round(255 * math.Min(math.Max(f(x, y), 0), 1)))
		}
	}
	return m
}

// disc returns a function that is in inside the circle of radius r around
// (cx, cy) and out elsewhere.
func disc(cx, cy, r, in, out float64) func(x, y int) float64 {
	return func(x, y int) float64 {
		if math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy) <= r {
			return in
		}
		return out
	}
}

// bbox returns the bounding box of pixels above level in a Size×Size
// picture.
func bbox(pix []byte, level byte) image.Rectangle {
	r := image.Rectangle{}
	for y := 0; y < Size; y++ {
		for x := 0; x < Size; x++ {
			if pix[y*Size+x] > level {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

func TestPrepareInversionRule(t *testing.T) {
	tests := []struct {
		name string
		img  image.Image
		inv  Invert
		want bool
	}{
		{"light disc on black", grayImage(60, 60, disc(30, 30, 20, 1, 0)), InvertAuto, false},
		{"dark disc on white", grayImage(60, 60, disc(30, 30, 20, 0, 1)), InvertAuto, true},
		{"dark disc on mid gray", grayImage(60, 60, disc(30, 30, 20, 0.05, 0.55)), InvertAuto, true},
		{"light disc on mid gray", grayImage(60, 60, disc(30, 30, 20, 0.95, 0.45)), InvertAuto, false},
		{"light object touching the border", grayImage(28, 28, func(x, y int) float64 {
			if x >= 4 && x < 24 {
				return 0.8
			}
			return 0
		}), InvertAuto, false},
		{"ink on unevenly lit paper", grayImage(100, 100, func(x, y int) float64 {
			// Paper at 0.6 at the edges brightening to 0.8 in the
			// middle, with a dark stroke across it.
			if y >= 45 && y < 55 && x >= 20 && x < 80 {
				return 0.1
			}
			return 0.8 - 0.2*math.Hypot(float64(x-50), float64(y-50))/71
		}), InvertAuto, true},
		{"uniform white", grayImage(30, 30, func(int, int) float64 { return 1 }), InvertAuto, true},
		{"uniform black", grayImage(30, 30, func(int, int) float64 { return 0 }), InvertAuto, false},
		{"always on light-on-dark", grayImage(60, 60, disc(30, 30, 20, 1, 0)), InvertAlways, true},
		{"never on dark-on-light", grayImage(60, 60, disc(30, 30, 20, 0, 1)), InvertNever, false},
		{"unknown mode acts as auto", grayImage(60, 60, disc(30, 30, 20, 0, 1)), Invert(42), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Prepare(tt.img, tt.inv, Options{}).Inverted
			if got != tt.want {
				t.Errorf("inverted = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrepareOutputPolarity(t *testing.T) {
	// Whatever the input's polarity, with the right mode the output is a
	// light disc on a black background.
	tests := []struct {
		name string
		img  image.Image
	}{
		{"light on black", grayImage(60, 60, disc(30, 30, 20, 1, 0))},
		{"dark on white", grayImage(60, 60, disc(30, 30, 20, 0, 1))},
		{"dark on gray paper", grayImage(60, 60, disc(30, 30, 20, 0.15, 0.75))},
		{"faint gray on black", grayImage(60, 60, disc(30, 30, 20, 0.4, 0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pix := Prepare(tt.img, InvertAuto, Options{}).Pix
			if c := pix[14*Size+14]; c < 250 {
				t.Errorf("centre = %d, want white", c)
			}
			for _, i := range []int{0, Size - 1, Size * (Size - 1), Size*Size - 1} {
				if pix[i] != 0 {
					t.Errorf("corner %d = %d, want black", i, pix[i])
				}
			}
		})
	}
}

func TestPrepareBlank(t *testing.T) {
	for _, v := range []float64{0, 0.5, 1} {
		pix := Prepare(grayImage(40, 40, func(int, int) float64 { return v }), InvertAuto, Options{}).Pix
		for i, p := range pix {
			if p != 0 {
				t.Fatalf("uniform %.1f: pixel %d = %d, want all black", v, i, p)
			}
		}
	}
}

// alphaDisc returns a w×w NRGBA picture: a disc of colour c on a fully
// transparent background whose hidden colour is bg.
func alphaDisc(w int, c, bg color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, w))
	in := disc(float64(w)/2, float64(w)/2, float64(w)/3, 1, 0)
	for y := 0; y < w; y++ {
		for x := 0; x < w; x++ {
			if in(x, y) == 1 {
				m.SetNRGBA(x, y, c)
			} else {
				m.SetNRGBA(x, y, bg)
			}
		}
	}
	return m
}

func TestPrepareAlpha(t *testing.T) {
	tests := []struct {
		name         string
		img          image.Image
		wantInverted bool
	}{
		// Transparent pixels are composited over white behind dark
		// content and over black behind light content; their hidden
		// colour never matters.
		{"black disc, transparent black", alphaDisc(60, color.NRGBA{0, 0, 0, 255}, color.NRGBA{}), true},
		{"black disc, transparent white", alphaDisc(60, color.NRGBA{0, 0, 0, 255}, color.NRGBA{255, 255, 255, 0}), true},
		{"white disc, transparent black", alphaDisc(60, color.NRGBA{255, 255, 255, 255}, color.NRGBA{}), false},
		{"white disc, transparent white", alphaDisc(60, color.NRGBA{255, 255, 255, 255}, color.NRGBA{255, 255, 255, 0}), false},
		{"navy disc", alphaDisc(60, color.NRGBA{0, 0, 128, 255}, color.NRGBA{}), true},
		{"half-transparent black disc", alphaDisc(60, color.NRGBA{0, 0, 0, 128}, color.NRGBA{}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Prepare(tt.img, InvertAuto, Options{})
			pix, inverted := r.Pix, r.Inverted
			if inverted != tt.wantInverted {
				t.Errorf("inverted = %v, want %v", inverted, tt.wantInverted)
			}
			// Navy is not quite black: 0.114*128/255 luminance.
			if c := pix[14*Size+14]; c < 235 {
				t.Errorf("centre = %d, want the disc white", c)
			}
			if pix[0] != 0 || pix[Size*Size-1] != 0 {
				t.Errorf("corners = %d, %d, want black", pix[0], pix[Size*Size-1])
			}
		})
	}
}

func TestPrepareFraming(t *testing.T) {
	rect := func(x0, y0, x1, y1 int) func(x, y int) float64 {
		return func(x, y int) float64 {
			if x >= x0 && x < x1 && y >= y0 && y < y1 {
				return 1
			}
			return 0
		}
	}
	tests := []struct {
		name    string
		img     image.Image
		box     int
		wantW   int // width of the object in the output, ±1
		wantH   int
		centreX float64 // centre of the object in the output, ±0.5
		centreY float64
	}{
		{"wide bar off-centre in a square", grayImage(300, 300, rect(10, 200, 210, 240)), 0, 28, 6, 14, 14},
		{"tall bar in a wide picture", grayImage(400, 200, rect(300, 20, 340, 180)), 0, 7, 28, 14, 14},
		{"small square gets enlarged", grayImage(200, 100, rect(20, 20, 40, 40)), 0, 28, 28, 14, 14},
		{"mnist box", grayImage(28, 28, rect(0, 0, 28, 14)), 20, 20, 10, 14, 14},
		{"full-height object is kept whole", grayImage(28, 28, rect(5, 0, 20, 28)), 0, 15, 28, 12.5, 14},
		{"wide picture, object fills it", grayImage(56, 28, rect(0, 2, 56, 26)), 0, 28, 12, 14, 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pix := Prepare(tt.img, InvertAuto, Options{Box: tt.box}).Pix
			b := bbox(pix, 64)
			if abs(b.Dx()-tt.wantW) > 1 || abs(b.Dy()-tt.wantH) > 1 {
				t.Errorf("object is %dx%d, want %dx%d±1 (bbox %v)", b.Dx(), b.Dy(), tt.wantW, tt.wantH, b)
			}
			cx, cy := float64(b.Min.X+b.Max.X)/2, float64(b.Min.Y+b.Max.Y)/2
			if math.Abs(cx-tt.centreX) > 0.5 || math.Abs(cy-tt.centreY) > 0.5 {
				t.Errorf("object centred at (%.1f, %.1f), want (%.1f, %.1f)", cx, cy, tt.centreX, tt.centreY)
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestPrepareLargeImage(t *testing.T) {
	// Big enough to take the block-averaging path (shorter side over
	// 2*workSide), with a dark disc on white like a phone photo.
	img := grayImage(3000, 2000, disc(1500, 1000, 600, 0.1, 0.9))
	r := Prepare(img, InvertAuto, Options{})
	pix, inverted := r.Pix, r.Inverted
	if !inverted {
		t.Error("inverted = false, want true")
	}
	b := bbox(pix, 128)
	if abs(b.Dx()-28) > 1 || abs(b.Dy()-28) > 1 {
		t.Errorf("disc is %v, want it to fill the frame", b)
	}
}

func TestPrepareSubImage(t *testing.T) {
	// Bounds that do not start at the origin must be handled.
	full := grayImage(100, 100, func(x, y int) float64 {
		if x < 50 {
			return 1 // a white left half that the sub-image excludes
		}
		return disc(75, 50, 10, 1, 0)(x, y)
	})
	sub := full.SubImage(image.Rect(50, 25, 100, 75))
	r := Prepare(sub, InvertAuto, Options{})
	pix, inverted := r.Pix, r.Inverted
	if inverted {
		t.Error("inverted = true, want false")
	}
	if b := bbox(pix, 128); abs(b.Dx()-28) > 1 || abs(b.Dy()-28) > 1 {
		t.Errorf("disc is %v, want it to fill the frame", b)
	}
}
