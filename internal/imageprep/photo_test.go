package imageprep

import (
	"bytes"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/imageprep/phototest"
)

func TestAreaTaps(t *testing.T) {
	// Inside the source, each output pixel's weights sum to 1, shrinking
	// or enlarging.
	for _, tt := range []struct {
		start, scale float64
		src, n       int
	}{{0, 3, 84, 28}, {0.5, 2.7, 100, 28}, {0, 0.5, 14, 28}, {3.25, 0.8, 40, 28}} {
		for o, ts := range areaTaps(tt.start, tt.scale, tt.src, tt.n) {
			var sum float32
			for _, x := range ts {
				sum += x.w
			}
			if math.Abs(float64(sum)-1) > 1e-6 {
				t.Errorf("%+v: output %d weighs %v in all", tt, o, sum)
			}
		}
	}
	// Past the source's edge counts as black.
	ts := areaTaps(-2, 4, 10, 3)
	if len(ts[0]) != 2 || ts[0][0].i != 0 || ts[0][0].w != 0.25 {
		t.Errorf("taps over the edge: %+v", ts[0])
	}
	// A picture enlarged k times by pixel repetition shrinks back exactly.
	rng := rand.New(rand.NewPCG(1, 1))
	src := &plane{w: Size, h: Size, v: make([]float32, Size*Size)}
	for i := range src.v {
		src.v[i] = float32(rng.IntN(256)) / 255
	}
	for _, k := range []int{2, 3, 10} {
		big := &plane{w: k * Size, h: k * Size, v: make([]float32, k*k*Size*Size)}
		for i := range big.v {
			x, y := i%big.w, i/big.w
			big.v[i] = src.v[(y/k)*Size+x/k]
		}
		back := big.resample(0, 0, float64(big.w), float64(big.h), Size, Size)
		for i, v := range back.v {
			if math.Round(float64(v)*255) != math.Round(float64(src.v[i])*255) {
				t.Fatalf("×%d: pixel %d came back as %v, was %v", k, i, v*255, src.v[i]*255)
			}
		}
	}
}

// bandOf returns the border band of a w×h picture and f's values on it.
func bandOf(w, h int, f func(x, y int) float64) (*band, []float32) {
	b := border(w, h)
	vals := make([]float32, len(b.px))
	for i, p := range b.px {
		vals[i] = float32(f(p.x, p.y))
	}
	return b, vals
}

func TestFitBackground(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	noise := func(s float64) float64 { return s * rng.NormFloat64() }
	const w, h = 160, 120
	u := func(x int) float64 { return norm(x, w) }
	v := func(y int) float64 { return norm(y, h) }
	tests := []struct {
		name string
		f    func(x, y int) float64
		// want is the background at (u, v); tol how close the fit must
		// be to it over the picture.
		want           func(u, v float64) float64
		tol            float64
		minFit, maxFit float64
	}{
		{"flat black", func(x, y int) float64 { return 0 }, func(u, v float64) float64 { return 0 }, 0, 1, 1},
		{"light falling off, noise 4 levels",
			func(x, y int) float64 { return 0.9 - 0.1*u(x) + 0.05*v(y) + noise(4.0/255) },
			func(u, v float64) float64 { return 0.9 - 0.1*u + 0.05*v }, 2.0 / 255, 0.97, 1},
		{"vignette",
			func(x, y int) float64 { return 0.85 - 0.1*(u(x)*u(x)+v(y)*v(y)) + noise(1.0/255) },
			func(u, v float64) float64 { return 0.85 - 0.1*(u*u+v*v) }, 2.0 / 255, 0.97, 1},
		{"object over most of the border",
			func(x, y int) float64 {
				if x > w/5 {
					return 0.6 + 0.3*math.Sin(float64(x*y)) // textured cloth
				}
				return 0
			},
			func(u, v float64) float64 { return 0 }, 0, 0.3, 0.35},
		{"clutter on one side",
			func(x, y int) float64 {
				if x > w-10 && y < h/2 {
					return 0.2
				}
				return 0.8 + noise(2.0/255)
			},
			func(u, v float64) float64 { return 0.8 }, 1.5 / 255, 0.85, 0.95},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, vals := bandOf(w, h, tt.f)
			bg := fitBackground(b, vals)
			worst := 0.0
			for y := 0; y < h; y += 4 {
				for x := 0; x < w; x += 4 {
					worst = math.Max(worst, math.Abs(bg.at(u(x), v(y))-tt.want(u(x), v(y))))
				}
			}
			if worst > tt.tol {
				t.Errorf("fit %v is up to %.2f levels off, want %.2f", bg.c, 255*worst, 255*tt.tol)
			}
			if bg.fit < tt.minFit || bg.fit > tt.maxFit {
				t.Errorf("fit share %.3f, want %.2f..%.2f", bg.fit, tt.minFit, tt.maxFit)
			}
		})
	}
}

// Photos of drawn shapes under each condition must prepare to nearly the
// shapes themselves: framed, centred, inverted and levelled as the
// dataset's images are.
func TestPreparePhotos(t *testing.T) {
	const n = 40
	pix, _ := phototest.Shapes(n, 5)
	for _, c := range phototest.Conditions() {
		t.Run(c.Name, func(t *testing.T) {
			var sum, worst float64
			for i := range n {
				src := pix[i*Size*Size : (i+1)*Size*Size]
				ph, err := c.Render(src, uint64(i))
				if err != nil {
					t.Fatal(err)
				}
				img, err := Decode(bytes.NewReader(ph.Data))
				if err != nil {
					t.Fatal(err)
				}
				r := Prepare(img, InvertAuto, Options{})
				if !r.Inverted || r.Blank || r.SmallObject() {
					t.Errorf("photo %d: inverted %v, blank %v, small %v; want true, false, false", i, r.Inverted, r.Blank, r.SmallObject())
				}
				d := meanAbsDiff(r.Pix, src)
				sum += d
				worst = max(worst, d)
			}
			mean := sum / n
			t.Logf("%s: mean |diff| %.1f levels, worst %.1f", c.Name, mean, worst)
			if mean > 20 {
				t.Errorf("mean |diff| %.1f levels, want at most 20", mean)
			}
		})
	}
}

func TestPrepareFlags(t *testing.T) {
	disc := func(w, h int, r float64) image.Image {
		return grayImage(w, h, func(x, y int) float64 {
			if math.Hypot(float64(x-w/2), float64(y-h/2)) < r {
				return 0.1
			}
			return 0.9
		})
	}
	busy := grayImage(300, 300, func(x, y int) float64 {
		if math.Hypot(float64(x-150), float64(y-150)) < 90 {
			return 0.05
		}
		h := uint32(x/4)*2654435761 ^ uint32(y/4)*40503
		return 0.25 + float64(h>>24)/255*0.75
	})
	for _, tt := range []struct {
		name          string
		img           image.Image
		small, uneven bool
	}{
		{"disc filling the picture", disc(200, 200, 80), false, false},
		{"small disc", disc(1000, 800, 25), true, false},
		{"disc on a busy pattern", busy, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Prepare(tt.img, InvertAuto, Options{})
			if r.SmallObject() != tt.small || r.Uneven != tt.uneven {
				t.Errorf("small %v (share %.3f), uneven %v (fit %.2f, spread %.1f); want %v, %v", r.SmallObject(), r.Share, r.Uneven, r.BackgroundFit, r.BackgroundSpread, tt.small, tt.uneven)
			}
		})
	}
}

// FuzzPrepare feeds Prepare pictures of any size, colour and alpha: it
// must not panic, and its result must be well formed.
func FuzzPrepare(f *testing.F) {
	f.Add([]byte{3, 3, 0, 0, 0, 255, 255, 255, 255, 255})
	f.Add(bytes.Repeat([]byte{200, 10, 30, 255}, 64))
	pix, _ := phototest.Shapes(1, 1)
	f.Add(append([]byte{27, 27}, pix...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		w, h := 1+int(data[0])%64, 1+int(data[1])%64
		data = data[2:]
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			if len(data) > 0 {
				img.Pix[i] = data[i%len(data)]
			}
		}
		for _, inv := range []Invert{InvertAuto, InvertAlways, InvertNever} {
			for _, box := range []int{0, 20} {
				r := Prepare(img, inv, Options{Box: box})
				if len(r.Pix) != Size*Size || r.Share <= 0 || r.Share > 1 || r.BackgroundFit < 0 || r.BackgroundFit > 1 || math.IsNaN(r.BackgroundSpread) {
					t.Fatalf("%dx%d: result %+v", w, h, r)
				}
				if r.Blank && slices.ContainsFunc(r.Pix, func(c byte) bool { return c != 0 }) {
					t.Fatalf("%dx%d: blank but not black", w, h)
				}
			}
		}
	})
}
