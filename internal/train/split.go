package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

// Holdout splits s into a training part and a validation part of n
// examples, drawn at random by a generator seeded from seed, so that a
// seed always holds out the same examples. Both parts keep the examples in
// their original order and copy their pixels: s is left as it is.
func Holdout(s *dataset.Set, n int, seed int64) (rest, held *dataset.Set, err error) {
	if n < 1 || n >= s.N {
		return nil, nil, fmt.Errorf("a validation set of %d examples needs 1 to %d, a training set of %d examples", n, s.N-1, s.N)
	}
	// A stream of its own (the second PCG word differs from the weights'
	// and the shuffling's), so that the split does not move the others.
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7a11d))
	pick := make([]bool, s.N)
	for _, i := range rng.Perm(s.N)[:n] {
		pick[i] = true
	}
	d := s.Dim()
	rest, held = part(s, s.N-n), part(s, n)
	var r, h int
	for i := 0; i < s.N; i++ {
		dst, k := rest, &r
		if pick[i] {
			dst, k = held, &h
		}
		copy(dst.Pix[*k*d:(*k+1)*d], s.Pix[i*d:(i+1)*d])
		dst.Labels[*k] = s.Labels[i]
		*k++
	}
	return rest, held, nil
}

// part is an empty Set shaped like s for n examples; copying *s keeps
// whatever else describes the images.
func part(s *dataset.Set, n int) *dataset.Set {
	p := *s
	p.N = n
	p.Pix = make([]byte, n*s.Dim())
	p.Labels = make([]uint8, n)
	return &p
}
