package imageprep

import "math"

// This file holds the package's one resampler: area averaging. Fit (a
// folder model's input), Prepare (the photo pipeline) and the reduction of
// large pictures all use it, so that a picture enlarged k times by pixel
// repetition shrinks back exactly, and a picture already at the output
// size comes back pixel for pixel, whichever path it takes.

// tap is one source pixel's weight in an output pixel.
type tap struct {
	i int
	w float32
}

// areaTaps returns, for each of n output pixels along one axis, the source
// pixels it covers and their weights: output pixel o spans the source
// interval [start+o·scale, start+(o+1)·scale), and each source pixel weighs
// by how much of that interval it covers, divided by scale. Source pixels
// outside 0..src-1 are left out, which makes them black. The weights of an
// interval that lies inside the source sum to 1, in both directions: when
// enlarging (scale < 1) an output pixel takes the one or two source pixels
// under it.
func areaTaps(start, scale float64, src, n int) [][]tap {
	out := make([][]tap, n)
	for o := range out {
		a, b := start+float64(o)*scale, start+float64(o+1)*scale
		for i := int(math.Floor(a)); float64(i) < b; i++ {
			cover := math.Min(b, float64(i+1)) - math.Max(a, float64(i))
			if i >= 0 && i < src && cover > 1e-9 {
				out[o] = append(out[o], tap{i, float32(cover / scale)})
			}
		}
	}
	return out
}

// plane is one channel of a picture: w×h values, row-major.
type plane struct {
	w, h int
	v    []float32
}

// resample returns the region of p with origin (x0, y0) and size sw×sh
// source pixels, scaled to ow×oh by area averaging (see areaTaps); the
// region may extend past p's edges, where p counts as 0.
func (p *plane) resample(x0, y0, sw, sh float64, ow, oh int) *plane {
	tx := areaTaps(x0, sw/float64(ow), p.w, ow)
	ty := areaTaps(y0, sh/float64(oh), p.h, oh)
	out := &plane{w: ow, h: oh, v: make([]float32, ow*oh)}
	row := make([]float32, ow)
	for oy, ys := range ty {
		dst := out.v[oy*ow : (oy+1)*ow]
		for _, y := range ys {
			src := p.v[y.i*p.w : (y.i+1)*p.w]
			for ox, xs := range tx {
				var s float32
				for _, x := range xs {
					s += x.w * src[x.i]
				}
				row[ox] = s
			}
			for ox, s := range row {
				dst[ox] += y.w * s
			}
		}
	}
	return out
}
