package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// kernelSets lists the kernel families this machine can run, so every test
// covers the assembly of each instruction set and the portable Go code.
func kernelSets() []kernelSet {
	ks := []kernelSet{kernelGo}
	if haveAVX2FMA {
		ks = append(ks, kernelAVX2)
	}
	if haveAVX512 {
		ks = append(ks, kernelAVX512)
	}
	return ks
}

// withKernels runs f with an Implementation whose Sgemm uses ks.
func withKernels(ks kernelSet, f func(impl *Implementation)) {
	f(&Implementation{kernels: ks})
}

type gemmCase struct {
	tA, tB      blas.Transpose
	m, n, k     int
	alpha, beta float32
	padA, padB  int // extra leading dimension beyond the stored width
	padC        int
	nanC        bool // fill C with NaN (only meaningful with beta == 0)
	mnistA      bool // A's stored rows look like MNIST images (~18% non-zero, in strokes)
}

func (tc gemmCase) String() string {
	t := func(t blas.Transpose) string {
		if t == blas.NoTrans {
			return "N"
		}
		return "T"
	}
	return fmt.Sprintf("%s%s/m%d_n%d_k%d/a%g_b%g/pad%d,%d,%d", t(tc.tA), t(tc.tB), tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

// operands builds A, B and C for tc. Padding between rows is filled with
// NaN so that a kernel reading it would poison the result.
func (tc gemmCase) operands(rng *rand.Rand) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := tc.m, tc.k
	if tc.tA != blas.NoTrans {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.tB != blas.NoTrans {
		br, bc = tc.n, tc.k
	}
	fill := func(rows, cols, pad int) ([]float32, int) {
		ld := max(1, cols+pad)
		s := make([]float32, max(0, (rows-1)*ld+cols))
		for i := range s {
			if i%ld >= cols {
				s[i] = float32(math.NaN())
			} else {
				s[i] = float32(rng.NormFloat64())
			}
		}
		return s, ld
	}
	a, lda = fill(ar, ac, tc.padA)
	if tc.mnistA {
		for r := 0; r < ar; r++ {
			mnistLike(rng, a[r*lda:r*lda+ac])
		}
	}
	b, ldb = fill(br, bc, tc.padB)
	c, ldc = fill(tc.m, tc.n, tc.padC)
	if tc.nanC {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	return
}

// mnistLike fills img (28×28 pixels, or any length as rows of 28) like a
// handwritten digit: zero except one run of 2..12 bright pixels in each of
// the middle 20 rows, about 18% non-zero. Zeros come in long runs as in
// real MNIST, which matters for kernels that branch on them.
func mnistLike(rng *rand.Rand, img []float32) {
	clear(img)
	for r := 4; r*28+28 <= len(img) && r < 24; r++ {
		l := 2 + rng.IntN(11)
		s := 4 + rng.IntN(20-l+1)
		for c := s; c < s+l; c++ {
			img[r*28+c] = 1 - rng.Float32()
		}
	}
}

// checkAgainstGonum runs tc through Implementation and Gonum and compares
// every element of C, including the padding, which must be left alone.
func checkAgainstGonum(t *testing.T, impl *Implementation, tc gemmCase, rng *rand.Rand) {
	t.Helper()
	a, lda, b, ldb, c, ldc := tc.operands(rng)
	want := append([]float32(nil), c...)
	got := append([]float32(nil), c...)
	gonum.Implementation{}.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	impl.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)

	// Error bound of a float32 sum: relative to the sum of the magnitudes
	// of its terms, not to the (possibly cancelled) result. |alpha|·|A|·|B|
	// is computed with Gonum on absolute values.
	abs := func(s []float32) []float32 {
		r := make([]float32, len(s))
		for i, v := range s {
			r[i] = float32(math.Abs(float64(v)))
		}
		return r
	}
	mags := make([]float32, len(c))
	gonum.Implementation{}.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, float32(math.Abs(float64(tc.alpha))), abs(a), lda, abs(b), ldb, 0, mags, ldc)
	for idx := range got {
		i, j := idx/ldc, idx%ldc
		g, w := got[idx], want[idx]
		if j >= tc.n {
			if math.Float32bits(g) != math.Float32bits(c[idx]) {
				t.Fatalf("%v: padding C[%d,%d] changed to %v", tc, i, j, g)
			}
			continue
		}
		if tc.nanC && tc.beta == 0 && g != g {
			t.Fatalf("%v: C[%d,%d] = NaN, beta == 0 must overwrite C", tc, i, j)
		}
		mag := float64(mags[idx])
		if tc.beta != 0 {
			mag += math.Abs(float64(tc.beta) * float64(c[idx]))
		}
		if d := math.Abs(float64(g) - float64(w)); d > 1e-5*mag+1e-30 || g != g {
			t.Fatalf("%v: C[%d,%d] = %v, gonum %v (|diff| %g, bound %g)", tc, i, j, g, w, d, 1e-5*mag)
		}
	}
}

var alphaBetas = [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-1.5, 0}, {2, 1}, {0, 0}, {0, 3}, {1, 0.25}}

var transCombos = [][2]blas.Transpose{{blas.NoTrans, blas.NoTrans}, {blas.Trans, blas.NoTrans}, {blas.NoTrans, blas.Trans}, {blas.Trans, blas.Trans}}

func TestSgemmSmallShapes(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17}
	for _, ks := range kernelSets() {
		t.Run(ks.String(), func(t *testing.T) {
			withKernels(ks, func(impl *Implementation) {
				// Split every product across cores, so that the row ranges
				// of parallelRows (and their alignment) are tested on odd
				// sizes too.
				old := parMinFMAs
				defer func() { parMinFMAs = old }()
				parMinFMAs = 1
				rng := rand.New(rand.NewPCG(1, 2))
				n := 0
				for _, tr := range transCombos {
					for _, m := range sizes {
						for _, nn := range sizes {
							for _, k := range sizes {
								ab := alphaBetas[n%len(alphaBetas)]
								tc := gemmCase{tA: tr[0], tB: tr[1], m: m, n: nn, k: k, alpha: ab[0], beta: ab[1],
									padA: n % 3, padB: (n / 3) % 2 * 5, padC: (n / 2) % 3, nanC: ab[1] == 0 && n%2 == 0}
								checkAgainstGonum(t, impl, tc, rng)
								n++
							}
						}
					}
				}
			})
		})
	}
}

// hotCases are the exact calls Gorgonia makes for softmax regression
// (see TestGorgoniaCalls), plus edges around the kernels' tile sizes and
// dispatch limits.
func hotCases() []gemmCase {
	N, T := blas.NoTrans, blas.Trans
	var cs []gemmCase
	for _, bs := range []int{256, 96, 1, 7, 1000} {
		cs = append(cs,
			gemmCase{tA: N, tB: N, m: bs, n: 10, k: 784, alpha: 1, mnistA: true},
			gemmCase{tA: N, tB: T, m: bs, n: 784, k: 10, alpha: 1},
			gemmCase{tA: T, tB: N, m: 784, n: 10, k: bs, alpha: 1, mnistA: true},
		)
	}
	cs = append(cs,
		gemmCase{tA: N, tB: N, m: 10000, n: 10, k: 784, alpha: 1},
		gemmCase{tA: T, tB: N, m: 784, n: 10, k: 10000, alpha: 1},
		gemmCase{tA: T, tB: N, m: 785, n: 11, k: 700, alpha: -0.5, beta: 2, padA: 3, padB: 1, padC: 2},
		gemmCase{tA: T, tB: N, m: 33, n: 16, k: 513, alpha: 1, beta: 0, padC: 1, nanC: true},
		gemmCase{tA: N, tB: T, m: 97, n: 785, k: 10, alpha: 2, beta: 0.5, padA: 2, padB: 7, padC: 5},
		gemmCase{tA: N, tB: T, m: 13, n: 40, k: 64, alpha: 1, beta: 0, nanC: true, padC: 3},
		gemmCase{tA: N, tB: T, m: 13, n: 40, k: 65, alpha: 1, beta: 1},
		gemmCase{tA: N, tB: T, m: 6, n: 18, k: 1, alpha: 1, beta: 1},
		gemmCase{tA: N, tB: T, m: 50, n: 16, k: 300, alpha: 1, beta: -1, padA: 1},
		gemmCase{tA: N, tB: N, m: 255, n: 17, k: 783, alpha: 1, beta: 1},
		gemmCase{tA: N, tB: N, m: 255, n: 16, k: 783, alpha: 3, beta: 0, padA: 9, padB: 2, padC: 4, nanC: true},
		gemmCase{tA: N, tB: N, m: 3, n: 10, k: 7, alpha: 1, beta: 0.5},
		gemmCase{tA: T, tB: T, m: 100, n: 10, k: 100, alpha: 1, beta: 0.5},
	)
	return cs
}

func TestSgemmHotShapes(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.String(), func(t *testing.T) {
			withKernels(ks, func(impl *Implementation) {
				rng := rand.New(rand.NewPCG(3, 4))
				for ci, tc := range hotCases() {
					// Cases that do not set alpha and beta get a rotating pair.
					if tc.alpha == 1 && tc.beta == 0 && !tc.nanC {
						ab := alphaBetas[ci%4]
						tc.alpha, tc.beta, tc.nanC = ab[0], ab[1], ab[1] == 0
					}
					checkAgainstGonum(t, impl, tc, rng)
				}
			})
		})
	}
}

// TestSgemmDispatch makes sure the hot shapes really take the fast paths,
// so the comparisons above test the kernels rather than Gonum.
func TestSgemmDispatch(t *testing.T) {
	for _, tc := range []struct {
		aT, bT  bool
		m, n, k int
		fast    bool
	}{
		{false, false, 256, 10, 784, true},
		{false, true, 256, 784, 10, true},
		{true, false, 784, 10, 256, true},
		{false, false, 256, 784, 10, false},
		{true, true, 784, 10, 256, false},
		{false, true, 256, 784, 65, false},
	} {
		m, n, k := tc.m, tc.n, tc.k
		a := make([]float32, m*k)
		b := make([]float32, k*n)
		c := make([]float32, m*n)
		lda, ldb := k, n
		if tc.aT {
			lda = m
		}
		if tc.bT {
			ldb = k
		}
		for _, ks := range kernelSets() {
			if got := sgemmFast(ks, tc.aT, tc.bT, m, n, k, 1, a, lda, b, ldb, 0, c, n); got != tc.fast {
				t.Errorf("%v aT=%v bT=%v %dx%dx%d: fast path %v, want %v", ks, tc.aT, tc.bT, m, n, k, got, tc.fast)
			}
		}
	}
}

// TestSgemmPanics checks that bad arguments panic just like Gonum.
func TestSgemmPanics(t *testing.T) {
	recovered := func(f func()) (r any) {
		defer func() { r = recover() }()
		f()
		return nil
	}
	a := make([]float32, 100)
	for _, f := range []func(blas.Float32Level3){
		func(i blas.Float32Level3) { i.Sgemm(blas.NoTrans, blas.NoTrans, 10, 10, 10, 1, a, 9, a, 10, 0, a, 10) },
		func(i blas.Float32Level3) { i.Sgemm(blas.NoTrans, blas.NoTrans, 10, 10, 11, 1, a, 11, a, 10, 0, a, 10) },
		func(i blas.Float32Level3) {
			i.Sgemm(blas.Transpose('x'), blas.NoTrans, 1, 1, 1, 1, a, 1, a, 1, 0, a, 1)
		},
		func(i blas.Float32Level3) { i.Sgemm(blas.NoTrans, blas.NoTrans, -1, 1, 1, 1, a, 1, a, 1, 0, a, 1) },
	} {
		want := recovered(func() { f(gonum.Implementation{}) })
		got := recovered(func() { f(New()) })
		if want == nil || got != want {
			t.Errorf("panic %v, gonum panics with %v", got, want)
		}
	}
}

// TestNewChoosesTheBest: New uses the best family the machine supports.
func TestNewChoosesTheBest(t *testing.T) {
	if got := New().Kernels(); got != bestKernels().String() {
		t.Errorf("New uses %s, the best here is %s", got, bestKernels())
	}
}
