package dataset

import "fmt"

// Set holds one split of a data set in memory. Pixels stay bytes, as in the
// files; Gather scales them when a batch is built.
//
// A colour image is stored channel-major (CHW): its red plane, row by row,
// then its green plane, then its blue plane, the order in which PyTorch's
// ToTensor followed by flatten lays out a picture.
type Set struct {
	Pix    []byte  // N*Dim() bytes; image i is Pix[i*Dim():(i+1)*Dim()], CHW
	Labels []uint8 // N labels, each < NumClass(); nil for a Set from ReadImages
	N      int     // number of examples
	Rows   int     // image height in pixels
	Cols   int     // image width in pixels
	// Channels is 3 for RGB images; 0 and 1 both mean grayscale.
	Channels int
	// Classes is the number of classes, the width of a one-hot label row;
	// 0 means NumClasses.
	Classes int
}

// Dim returns the number of values in one image, Channels*Rows*Cols.
func (s *Set) Dim() int { return s.Chans() * s.Rows * s.Cols }

// Chans returns the number of channels, 1 for grayscale.
func (s *Set) Chans() int { return max(s.Channels, 1) }

// NumClass returns the number of classes, the width of a one-hot label row.
func (s *Set) NumClass() int {
	if s.Classes > 0 {
		return s.Classes
	}
	return NumClasses
}

// scale maps a pixel byte to pixel/255. A table lookup is both faster than a
// division and bit-for-bit the same as float32(p)/255.
var scale = func() (t [256]float32) {
	for p := range t {
		t[p] = float32(p) / 255
	}
	return t
}()

// scaleKernel names an implementation of scaleRow.
type scaleKernel int

const (
	scaleGo     scaleKernel = iota // the table lookup, in Go
	scaleAVX2                      // amd64 assembly, AVX2 and FMA
	scaleAVX512                    // amd64 assembly, AVX-512
)

func (k scaleKernel) String() string {
	return [...]string{"go", "avx2", "avx512"}[k]
}

// scaleTail is the portable scaleRow: a table lookup per pixel.
func scaleTail(dst []float32, src []byte) {
	dst = dst[:len(src)] // lets the compiler drop the bounds checks
	for j, p := range src {
		dst[j] = scale[p]
	}
}

// Gather writes the images idx[k], scaled to [0, 1] (pixel/255), into
// x[k*Dim():(k+1)*Dim()] and, if y is not nil, their one-hot labels into
// y[k*NumClass():(k+1)*NumClass()], zeroing those rows first. It does not
// allocate, so a training loop can reuse x and y for every batch.
//
// Gather panics if x or y is shorter than len(idx) rows, if an index is out
// of range, or if y is not nil and the Set has no labels: all are bugs in the
// caller, not conditions a user can cause.
func (s *Set) Gather(idx []int, x, y []float32) { s.gather(scaleBest, idx, x, y) }

// gather is Gather with the scaling kernel k.
func (s *Set) gather(k scaleKernel, idx []int, x, y []float32) {
	d, nc := s.Dim(), s.NumClass()
	if len(x) < len(idx)*d {
		panic(fmt.Sprintf("dataset: Gather: x has %d floats, %d images of %d pixels need %d", len(x), len(idx), d, len(idx)*d))
	}
	if y != nil {
		if len(y) < len(idx)*nc {
			panic(fmt.Sprintf("dataset: Gather: y has %d floats, %d labels need %d", len(y), len(idx), len(idx)*nc))
		}
		if s.Labels == nil {
			panic("dataset: Gather: y given but the Set has no labels")
		}
	}
	for r, i := range idx {
		// Images are scattered over the set: while one is scaled, the
		// one after next is prefetched, so that its cache misses overlap
		// the arithmetic instead of following it.
		next := idx[min(r+2, len(idx)-1)]
		scaleRow(k, x[r*d:(r+1)*d], s.Pix[i*d:(i+1)*d], s.Pix[next*d:(next+1)*d])
		if y != nil {
			row := y[r*nc : (r+1)*nc]
			clear(row)
			row[s.Labels[i]] = 1
		}
	}
}
