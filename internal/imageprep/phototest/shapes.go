package phototest

import (
	"math"
	"math/rand/v2"
)

// ShapeClasses names the classes of Shapes, in label order.
var ShapeClasses = []string{"disc", "square", "bar", "pillar", "triangle", "ring", "cross", "ell", "tee", "diamond"}

// Shapes returns n images of a small stand-in for Fashion-MNIST, for tests
// that cannot read the real data: ten kinds of shape (ShapeClasses), each
// drawn with random proportions, stroke and shading, light on black and
// framed as Fashion-MNIST frames its objects (the longer side spans the
// image, centred). A linear model learns them well, and they can be
// photographed with Render like the real images. pix holds n Side×Side
// images, row-major; labels their classes.
func Shapes(n int, seed uint64) (pix, labels []byte) {
	rng := rand.New(rand.NewPCG(seed, 0x5ba9e5))
	pix = make([]byte, n*Side*Side)
	labels = make([]byte, n)
	for i := range labels {
		k := rng.IntN(len(ShapeClasses))
		labels[i] = byte(k)
		img := pix[i*Side*Side : (i+1)*Side*Side]
		// Fashion-MNIST's objects leave at least 18% of the outer ring of
		// pixels black (85% in the median image): one that covers more is
		// drawn again.
		for drawShape(img, k, rng); blackRing(img) < 0.2; {
			drawShape(img, k, rng)
		}
	}
	return pix, labels
}

// drawShape draws a shape of class k into dst, supersampled 4×4 for soft
// edges.
func drawShape(dst []byte, k int, rng *rand.Rand) {
	j := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	t := j(0.18, 0.3) // stroke width, as a share of the shape's size
	aspect := j(0.75, 1)
	var in func(x, y float64) bool // x, y in [0, 1]², the shape's box
	switch k {
	case 0: // disc
		in = func(x, y float64) bool { return math.Hypot(x-0.5, y-0.5) <= 0.5 }
	case 1: // square
		in = func(x, y float64) bool { return true }
	case 2: // bar: a wide rectangle
		aspect = j(0.3, 0.45)
		in = func(x, y float64) bool { return true }
	case 3: // pillar: a tall rectangle
		aspect = 1 / j(0.3, 0.45)
		in = func(x, y float64) bool { return true }
	case 4: // triangle, point up
		in = func(x, y float64) bool { return math.Abs(x-0.5) <= y/2 }
	case 5: // ring
		in = func(x, y float64) bool {
			d := math.Hypot(x-0.5, y-0.5)
			return d <= 0.5 && d >= 0.5-t
		}
	case 6: // cross
		in = func(x, y float64) bool { return math.Abs(x-0.5) <= t/2 || math.Abs(y-0.5) <= t/2 }
	case 7: // ell
		in = func(x, y float64) bool { return x <= t || y >= 1-t }
	case 8: // tee
		in = func(x, y float64) bool { return y <= t || math.Abs(x-0.5) <= t/2 }
	default: // diamond
		in = func(x, y float64) bool { return math.Abs(x-0.5)+math.Abs(y-0.5) <= 0.5 }
	}
	// The box: the longer side spans the image, the other centred.
	w, h := float64(Side), float64(Side)*aspect
	if aspect > 1 {
		w, h = float64(Side)/aspect, float64(Side)
	}
	x0, y0 := (float64(Side)-w)/2, (float64(Side)-h)/2
	level := j(0.55, 1)
	shade := j(-0.3, 0.3) // light falling across the shape
	const ss = 4
	var hi float64
	v := make([]float64, Side*Side)
	for py := 0; py < Side; py++ {
		for px := 0; px < Side; px++ {
			var sum float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss - x0) / w
					y := (float64(py) + (float64(sy)+0.5)/ss - y0) / h
					if x >= 0 && x <= 1 && y >= 0 && y <= 1 && in(x, y) {
						sum += level * (1 + shade*(x-0.5))
					}
				}
			}
			v[py*Side+px] = sum / (ss * ss)
			hi = max(hi, v[py*Side+px])
		}
	}
	// Like Fashion-MNIST's, the brightest pixel is white.
	for i, s := range v {
		if hi > 0 {
			dst[i] = to8(s / hi)
		}
	}
}

// blackRing returns the share of the outermost ring of a Side×Side image
// that is black.
func blackRing(img []byte) float64 {
	black, n := 0, 0
	for i, v := range img {
		x, y := i%Side, i/Side
		if x == 0 || y == 0 || x == Side-1 || y == Side-1 {
			n++
			if v == 0 {
				black++
			}
		}
	}
	return float64(black) / float64(n)
}
