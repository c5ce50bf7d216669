package dataset

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// Shuffler hands out a fresh random order of the examples for every epoch.
// The order of epoch e depends only on the seed and e, so a run can be
// repeated, or resumed at any epoch, and get the same batches.
type Shuffler struct {
	seed int64
	perm []int
}

// NewShuffler returns a Shuffler over the indices 0..n-1.
func NewShuffler(n int, seed int64) *Shuffler {
	return &Shuffler{seed: seed, perm: make([]int, n)}
}

// Epoch returns a permutation of 0..n-1 for epoch e. The slice is reused: the
// next call to Epoch overwrites it, so copy it to keep it.
func (s *Shuffler) Epoch(e int) []int {
	// ChaCha8 is a fixed, documented algorithm, so the orders stay the same
	// across Go releases; any change to the seed bytes gives an unrelated
	// stream, so neighbouring epochs are not correlated.
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], uint64(s.seed))
	binary.LittleEndian.PutUint64(key[8:], uint64(e))
	copy(key[16:], "softmaxctl/data")
	src := rand.NewChaCha8(key)

	for i := range s.perm {
		s.perm[i] = i
	}
	// Fisher-Yates, with our own bounded draw rather than rand.Shuffle,
	// whose use of the source is not promised to stay the same.
	for i := len(s.perm) - 1; i > 0; i-- {
		j := int(uintn(src, uint64(i+1)))
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
	}
	return s.perm
}

// uintn returns a uniform value in [0, n) using Lemire's multiply-and-reject
// method, which is unbiased and rarely needs a second draw.
func uintn(src *rand.ChaCha8, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// Sequential returns the indices 0..n-1 in order, for evaluation passes that
// need no shuffling.
func Sequential(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// NumBatches returns how many batches of at most size indices cover n
// examples; the last batch may be shorter.
func NumBatches(n, size int) int {
	return (n + size - 1) / size
}

// Batch returns batch b of idx cut into batches of size indices: the slice
// idx[b*size:min((b+1)*size, len(idx))]. It shares idx's memory.
func Batch(idx []int, size, b int) []int {
	return idx[b*size : min((b+1)*size, len(idx))]
}
