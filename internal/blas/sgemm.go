package blas

import (
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// kernelSet names a family of Sgemm kernels. New chooses the best the CPU
// supports (GODEBUG=cpu.avx512f=off or cpu.avx2=off caps it, as for every
// Go program); tests make Implementations of each family on one machine.
type kernelSet int

const (
	kernelGo     kernelSet = iota // portable scalar Go
	kernelAVX2                    // amd64 assembly using AVX2 and FMA3
	kernelAVX512                  // amd64 assembly using AVX-512 (F)
)

func (k kernelSet) String() string {
	switch k {
	case kernelAVX2:
		return "avx2"
	case kernelAVX512:
		return "avx512"
	}
	return "go"
}

func bestKernels() kernelSet {
	switch {
	case haveAVX512:
		return kernelAVX512
	case haveAVX2FMA:
		return kernelAVX2
	}
	return kernelGo
}

// Kernels names the kernel family impl's Sgemm uses: "avx512", "avx2" or
// "go".
func (impl Implementation) Kernels() string { return impl.kernels.String() }

const (
	// narrowN is the widest C that the narrow kernels handle. Beyond it a
	// row of C no longer fits the register tile and Gonum's blocked code is
	// competitive.
	narrowN = 16
	// shallowK is the deepest product the wide A·Bᵀ kernel handles; it does
	// not block over k, so deep products are left to Gonum.
	shallowK = 64
)

// sgemmFast runs the product with a specialised kernel and reports whether
// it did; on false the caller must fall back to Gonum. The arguments have
// been validated, m, n, k > 0 and alpha != 0.
func sgemmFast(ks kernelSet, aT, bT bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) bool {
	var drv func(m int, a, c []float32)
	align := 1
	scalar := ks == kernelGo // the kernel that runs is portable Go
	switch {
	case !aT && n <= narrowN:
		// X·W (forward) and narrow A·Bᵀ: row-by-column dot products.
		align = 32
		drv = func(m int, a, c []float32) {
			switch {
			case ks == kernelAVX512:
				narrow(tileAVX512, bT, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			case ks == kernelAVX2:
				narrow(tileAVX2, bT, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			case bT:
				ntGo(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			default:
				nnNarrowGo(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			}
		}
	case !aT && bT && k <= shallowK:
		// dY·Wᵀ (the gradient of X, which training never computes: it
		// compiles only what the loss and the parameters' gradients
		// need): a short sum for every element of a big C. The portable
		// kernel serves every family.
		align, scalar = 2, true
		drv = func(m int, a, c []float32) {
			ntGo(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}
	case aT && !bT && n <= narrowN && (m-1)*ldc <= math.MaxInt32:
		// Xᵀ·dY (gradient of W): a long sum of outer products into a small C.
		// (The Go kernel keeps offsets into C in int32, hence the size limit.)
		align = 32
		drv = func(m int, a, c []float32) {
			switch ks {
			case kernelAVX512:
				tnNarrowAVX512(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			case kernelAVX2:
				tnNarrowAVX2(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			default:
				tnNarrowGo(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			}
		}
	default:
		return false
	}
	// Rows of C are independent, so the product splits into row ranges that
	// run on separate cores; each range is a complete smaller Sgemm (with
	// its own packing, which is cheap next to its arithmetic).
	minFMAs := float64(parMinFMAs)
	if scalar {
		// The scalar kernels are ~16× slower, so the split pays 16× sooner.
		minFMAs /= 16
	}
	parallelRows(m, align, float64(m)*float64(n)*float64(k), minFMAs, func(lo, hi int) {
		aOff := lo * lda // row lo of A
		if aT {
			aOff = lo // column lo of the stored k×m matrix
		}
		drv(hi-lo, a[aOff:], c[lo*ldc:])
	})
	return true
}

// parMinFMAs is the size (m·n·k) from which a product is split across
// cores. Waking a parked thread costs tens of microseconds (more in a
// VM), so splitting the 2M-FMA products of a 256-row batch (~50 µs on one
// core) made them slower, while the 78M-FMA forward pass of a 10000-row
// evaluation batch ran 2.1× faster on two cores. The portable Go kernels
// use a 16× lower threshold. See BenchmarkParallelThreshold.
var parMinFMAs = 1 << 24

// parallelRows calls f on disjoint ranges [lo, hi) covering [0, m), in
// parallel when the product has at least minFMAs multiply-adds and more
// than one P is available, using about one P per minFMAs. Range
// boundaries are multiples of align so that the kernels' row tiles are
// not split.
func parallelRows(m, align int, fmas, minFMAs float64, f func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if p < 2 || fmas < minFMAs {
		f(0, m)
		return
	}
	p = min(p, int(fmas/max(minFMAs, 1))+1)
	chunk := roundUp((m+p-1)/p, align)
	if chunk >= m {
		f(0, m)
		return
	}
	var wg sync.WaitGroup
	for lo := chunk; lo < m; lo += chunk {
		wg.Add(1)
		go func(lo int) {
			defer wg.Done()
			f(lo, min(m, lo+chunk))
		}(lo)
	}
	f(0, chunk)
	wg.Wait()
}

// storeRow sets c[j] = alpha*s[j] + beta*c[j], not reading c when beta == 0.
func storeRow(c, s []float32, alpha, beta float32) {
	s = s[:len(c)]
	if beta == 0 {
		for j := range c {
			c[j] = alpha * s[j]
		}
		return
	}
	for j := range c {
		c[j] = alpha*s[j] + beta*c[j]
	}
}

// Scratch buffers for packed operands, reused across calls because
// Gorgonia calls Sgemm several times per training step with the same shapes.
var scratch = sync.Pool{New: func() any { return new([]float32) }}

// getScratch returns a zeroed buffer of n floats; release it with
// putScratch.
func getScratch(n int) *[]float32 {
	p := scratch.Get().(*[]float32)
	if cap(*p) < n {
		// Round up so that slightly different shapes reuse the buffer.
		*p = make([]float32, n, n+n/4+64)
	}
	*p = (*p)[:n]
	clear(*p)
	return p
}

func putScratch(p *[]float32) { scratch.Put(p) }

var offsets = sync.Pool{New: func() any { return new([]int32) }}

// getOffsets returns an int32 buffer of n elements (not zeroed); release
// it with putOffsets.
func getOffsets(n int) *[]int32 {
	p := offsets.Get().(*[]int32)
	if cap(*p) < n {
		*p = make([]int32, n)
	}
	*p = (*p)[:n]
	return p
}

func putOffsets(p *[]int32) { offsets.Put(p) }

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// ptr returns the address of s[i] for the assembly kernels, which take
// raw pointers. The callers guarantee that every address a kernel touches
// lies inside the slice.
func ptr(s []float32, i int) *float32 { return &s[i] }

const f32 = int(unsafe.Sizeof(float32(0)))
