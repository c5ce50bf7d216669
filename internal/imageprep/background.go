package imageprep

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Tuning constants of the background fit.
const (
	// bandShare is the width of the border band, as a share of the
	// analysed picture's shorter side (at least one pixel), whose pixels
	// the background is fitted to.
	bandShare = 0.02

	// seedShare is the share of the band taken as the first guess of the
	// background: the values in the narrowest interval that holds this
	// share. A small share lets the background win even when an object
	// covers most of the border, as Fashion-MNIST's objects do (their
	// images leave at least 18% of the outer ring black).
	seedShare = 0.15

	// inlierSigmas is how many standard deviations of the border's own
	// noise a band pixel may lie from the fitted background and still
	// count as background.
	inlierSigmas = 3

	// minInlierDelta is the least distance, in luminance, within which a
	// band pixel counts as background: half a level, so that on a flat
	// border (no noise to measure) exactly the background's pixels do.
	minInlierDelta = 0.5 / 255

	// growStep is the least step, in luminance, between neighbouring band
	// pixels that the background may take as it is grown along the band:
	// a level and a half, so that light falling off smoothly across a
	// noiseless picture (a level at a time) stays background.
	growStep = 1.5 / 255

	// quadraticGain is how much smaller the spread of the band around a
	// quadratic must be than around a plane for the quadratic to be used.
	quadraticGain = 0.8

	// minNoise is the least noise assumed in a channel, in luminance: a
	// perfectly flat border would otherwise make any difference at all
	// significant.
	minNoise = 0.5 / 255
)

// surface is a low-order polynomial in the picture's normalised
// coordinates u, v ∈ [-1, 1] (pixel centres): a background level that may
// vary across the picture, as light does.
type surface struct {
	c [6]float64 // 1, u, v, u², uv, v²
}

// at returns the surface at (u, v).
func (s *surface) at(u, v float64) float64 {
	c := &s.c
	return c[0] + c[1]*u + c[2]*v + c[3]*u*u + c[4]*u*v + c[5]*v*v
}

// bandPixel is one pixel of the border band: its place, normalised
// coordinates and side.
type bandPixel struct {
	x, y int
	u, v float64
	side int // 0 top, 1 bottom, 2 left, 3 right
}

// background is the fitted background of one channel.
type background struct {
	surface
	// sigma is the robust standard deviation of the band around the
	// surface: the border's own noise.
	sigma float64
	// fit is the share of the band that the surface explains (inliers).
	fit float64
	// flat says that the surface was snapped to exactly black or white.
	flat bool
}

// band is the border band of a w×h picture: its pixels, and for each
// pixel of the picture its index among them (-1 outside the band).
type band struct {
	w, h int
	px   []bandPixel
	at   []int32
}

// border returns the border band of a w×h picture.
func border(w, h int) *band {
	bw := max(1, int(math.Round(bandShare*float64(min(w, h)))))
	b := &band{w: w, h: h, at: make([]int32, w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			side := -1
			switch {
			case y < bw:
				side = 0
			case y >= h-bw:
				side = 1
			case x < bw:
				side = 2
			case x >= w-bw:
				side = 3
			}
			b.at[y*w+x] = -1
			if side >= 0 {
				b.at[y*w+x] = int32(len(b.px))
				b.px = append(b.px, bandPixel{x, y, norm(x, w), norm(y, h), side})
			}
		}
	}
	return b
}

// neighbours calls f with the index of each band pixel next to band pixel
// i (left, right, above, below).
func (b *band) neighbours(i int, f func(j int)) {
	p := b.px[i]
	for _, d := range [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
		x, y := p.x+d[0], p.y+d[1]
		if x >= 0 && y >= 0 && x < b.w && y < b.h {
			if j := b.at[y*b.w+x]; j >= 0 {
				f(int(j))
			}
		}
	}
}

// norm maps pixel index i of n to the normalised coordinate of its centre.
func norm(i, n int) float64 { return (float64(i)+0.5)/float64(n)*2 - 1 }

// fitBackground fits a surface to the values of one channel at the band
// pixels, robustly. It starts from the densest part of the band's values,
// grows that set along the band to the neighbours that continue it
// smoothly (so that light falling off across the picture stays
// background), then alternates between fitting the surface to the set and
// taking as the set the band pixels within inlierSigmas of the border's
// noise from it. The surface is a plane, or a quadratic from the third
// round on when the set reaches all four sides (else it would bend freely
// over the side without background) and the quadratic's spread is under
// quadraticGain of the plane's: light falling off evenly is a plane, a
// vignette or a lamp's spot is not. Pixels of an object that crosses the
// border, or clutter at the edge, are thus left out, as long as the
// background holds the densest part of the band.
func fitBackground(b *band, vals []float32) background {
	px := b.px
	var bg background
	noise := neighbourNoise(b, vals)
	seed, width := densest(vals, seedShare)
	bg.c[0] = seed

	// Grow the seed along the band.
	in := make([]bool, len(vals))
	var stack []int
	for i, v := range vals {
		if math.Abs(float64(v)-seed) <= width/2+1e-9 {
			in[i] = true
			stack = append(stack, i)
		}
	}
	step := max(inlierSigmas*math.Sqrt2*noise, growStep)
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		b.neighbours(i, func(j int) {
			if !in[j] && math.Abs(float64(vals[j]-vals[i])) <= step {
				in[j] = true
				stack = append(stack, j)
			}
		})
	}

	sigma := noise
	var n int
	for it := 0; it < 6; it++ {
		var sides [4]int
		for i, ok := range in {
			if ok {
				sides[px[i].side]++
			}
		}
		if c, ok := leastSquares(px, vals, in, 3); ok {
			bg.c = c
		}
		s := mad(bg.residuals(px, vals, in))
		if it >= 2 && slices.Min(sides[:]) >= 4 {
			if c, ok := leastSquares(px, vals, in, 6); ok {
				q := surface{c: c}
				if sq := mad(q.residuals(px, vals, in)); sq < quadraticGain*s {
					bg.c, s = c, sq
				}
			}
		}
		sigma = max(s, noise)
		n = 0
		changed := false
		for i, p := range px {
			ok := math.Abs(float64(vals[i])-bg.at(p.u, p.v)) <= max(inlierSigmas*sigma, minInlierDelta)
			changed = changed || ok != in[i]
			in[i] = ok
			if ok {
				n++
			}
		}
		if !changed && it >= 2 {
			break
		}
	}
	bg.sigma = max(sigma, minNoise)
	bg.fit = float64(n) / float64(max(len(px), 1))
	bg.flat = bg.snap()
	return bg
}

// neighbourNoise estimates the standard deviation of the band's noise from
// the differences between neighbouring band pixels, which a background
// that varies slowly does not change: from the seedShare quantile of their
// sizes, which holds while most neighbours are both background.
func neighbourNoise(b *band, vals []float32) float64 {
	var d []float64
	for i, p := range b.px {
		// Right and lower neighbours only: each pair once.
		for _, q := range [2][2]int{{p.x + 1, p.y}, {p.x, p.y + 1}} {
			if q[0] < b.w && q[1] < b.h {
				if j := b.at[q[1]*b.w+q[0]]; j >= 0 {
					d = append(d, math.Abs(float64(vals[j]-vals[i])))
				}
			}
		}
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	// The difference of two N(0, σ²) is N(0, 2σ²), and P(|x| <= 0.189·s)
	// = 0.15 for x ~ N(0, s²).
	return d[int(seedShare*float64(len(d)-1))] / (0.189 * math.Sqrt2)
}

// residuals returns the values of the band pixels marked in minus s.
func (s *surface) residuals(px []bandPixel, vals []float32, in []bool) []float64 {
	var r []float64
	for i, p := range px {
		if in[i] {
			r = append(r, float64(vals[i])-s.at(p.u, p.v))
		}
	}
	return r
}

// mad returns the standard deviation of a normal distribution with the
// median absolute deviation (from 0) of r; 0 for no values.
func mad(r []float64) float64 {
	if len(r) == 0 {
		return 0
	}
	a := make([]float64, len(r))
	for i, v := range r {
		a[i] = math.Abs(v)
	}
	slices.Sort(a)
	return 1.4826 * a[len(a)/2]
}

// snapLevel is how close, in luminance, a surface must stay to black (or
// white) everywhere to be taken as exactly black (white): a level, below
// anything the model can tell apart, so that pictures already light on
// black, as the dataset's are, keep their exact levels.
const snapLevel = 1.0 / 255

// snap makes s exactly 0 or 1 when it is within snapLevel of it over the
// whole picture (checked on a 9×9 grid, which a quadratic cannot slip
// through by more than a fraction of snapLevel), and reports whether it
// did.
func (s *surface) snap() bool {
	for _, to := range []float64{0, 1} {
		near := true
		for i := 0; i <= 8 && near; i++ {
			for j := 0; j <= 8 && near; j++ {
				near = math.Abs(s.at(float64(i)/4-1, float64(j)/4-1)-to) <= snapLevel
			}
		}
		if near {
			s.c = [6]float64{to}
			return true
		}
	}
	return false
}

// densest returns the mean of the values in the narrowest interval that
// holds share of vals (of those intervals, the one holding the most), and
// its width: a robust estimate of their mode.
func densest(vals []float32, share float64) (mid, width float64) {
	s := slices.Clone(vals)
	slices.Sort(s)
	k := max(1, int(math.Ceil(share*float64(len(s))))) - 1
	best, bestN := 0, 0
	for i := 0; i+k < len(s); i++ {
		switch w, bw := s[i+k]-s[i], s[best+k]-s[best]; {
		case w < bw:
			best, bestN = i, 0
		case w > bw:
			continue
		}
		// Among intervals of the same width, the one holding the most
		// values: with flat backgrounds many are 0 wide.
		n, _ := slices.BinarySearch(s, nextAfter(s[i]+s[i+k]-s[i]))
		if n-i > bestN {
			best, bestN = i, n-i
		}
	}
	k = bestN - 1
	// Averaging the interval's values, rather than taking its midpoint,
	// keeps a run of equal values exact.
	var sum float64
	for _, v := range s[best : best+k+1] {
		sum += float64(v)
	}
	return sum / float64(k+1), float64(s[best+k] - s[best])
}

// nextAfter returns the smallest float32 above v.
func nextAfter(v float32) float32 { return math.Nextafter32(v, float32(math.Inf(1))) }

// leastSquares fits the first terms coefficients of a surface to the
// values of the band pixels marked in, by least squares: the normal
// equations, which are small (at most 6×6) and well conditioned in the
// normalised coordinates, solved by Cholesky. It reports false when there
// are too few pixels or the fit is singular.
func leastSquares(px []bandPixel, vals []float32, in []bool, terms int) ([6]float64, bool) {
	var c [6]float64
	ata := mat.NewSymDense(terms, nil)
	atb := mat.NewVecDense(terms, nil)
	var sum [6][6]float64
	var rhs [6]float64
	n := 0
	for i, p := range px {
		if !in[i] {
			continue
		}
		n++
		t := [6]float64{1, p.u, p.v, p.u * p.u, p.u * p.v, p.v * p.v}
		v := float64(vals[i])
		for j := 0; j < terms; j++ {
			rhs[j] += t[j] * v
			for k := j; k < terms; k++ {
				sum[j][k] += t[j] * t[k]
			}
		}
	}
	if n < 2*terms {
		return c, false
	}
	for j := 0; j < terms; j++ {
		atb.SetVec(j, rhs[j])
		for k := j; k < terms; k++ {
			ata.SetSym(j, k, sum[j][k])
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(ata) {
		return c, false
	}
	var x mat.VecDense
	if err := ch.SolveVecTo(&x, atb); err != nil {
		return c, false
	}
	for k := 0; k < terms; k++ {
		c[k] = x.AtVec(k)
		if math.IsNaN(c[k]) || math.IsInf(c[k], 0) {
			return [6]float64{}, false
		}
	}
	return c, true
}
