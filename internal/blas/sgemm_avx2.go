package blas

// Drivers for the assembly kernels: narrow (A·op(B), both families, by
// their tile) and the AVX2 Aᵀ·B driver. They pack the small operand into a
// zero-padded layout so that the assembly never needs edge cases in B, and
// handle the ragged edges of A and C here in Go. This file builds on every
// platform; its functions only run when the CPU has the kernels' family.

// A narrowTile is a kernel family's dot-product tile for the narrow
// driver: two rows of A against width packed columns of op(B), vectorised
// along k in vectors of vec floats.
type narrowTile struct {
	width, vec int
	// dot computes the 2×width tile into out[0:width] (row a0) and
	// out[width:2*width] (row a1); kv full vectors, then tail < vec.
	dot func(a0, a1, bt *float32, ldbt uintptr, kv, tail int, out *[20]float32, pf uintptr)
}

// The AVX2 tile is 2×5 with 8-wide vectors; the AVX-512 one 2×10 with
// 16-wide vectors (a whole row of C for n = 10).
var (
	tileAVX2   = narrowTile{width: 5, vec: 8, dot: dot2x5}
	tileAVX512 = narrowTile{width: 10, vec: 16, dot: dot2x10}
)

// narrow computes C = alpha*A*op(B) + beta*C for n ≤ narrowN with tile t,
// where op(B) is B (k×n) or, with bT, Bᵀ (B is n×k). Bᵀ is packed into
// rows of kp = k rounded up to t.vec floats, so that each column of op(B)
// is a contiguous, zero-padded vector and C[i,j] is a plain dot product of
// the row of A with it, vectorised along k (no lanes wasted for n = 10).
func narrow(t narrowTile, bT bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	kp := roundUp(k, t.vec)
	btBuf := packColumns(bT, n, k, kp, t.width, b, ldb)
	defer putScratch(btBuf)
	bt := *btBuf
	kv, tail := k/t.vec, k%t.vec
	var out [20]float32
	// Rows go in blocks so that a block of A stays in L2 while each group
	// of packed columns (width×kp floats: 16 KB for AVX2, 31 KB for
	// AVX-512 at k = 784) stays in L1: A is fetched from memory once
	// however many column groups there are.
	const rowBlock = 32
	// The kernel prefetches the next pair of rows while it works on this
	// one; prefetches past the end of A are harmless (they never fault).
	pf := uintptr(2 * lda * f32)
	for i0 := 0; i0 < m; i0 += rowBlock {
		iEnd := min(m, i0+rowBlock)
		for j := 0; j < n; j += t.width {
			w := min(t.width, n-j)
			btj := ptr(bt, j*kp)
			for i := i0; i < iEnd; i += 2 {
				i1 := i + 1
				if i1 == iEnd {
					// An odd last row is paired with itself; the second
					// half of the tile is discarded.
					i1 = i
				}
				t.dot(ptr(a, i*lda), ptr(a, i1*lda), btj, uintptr(kp*f32), kv, tail, &out, pf)
				storeRow(c[i*ldc+j:i*ldc+j+w], out[:w], alpha, beta)
				if i1 != i {
					storeRow(c[i1*ldc+j:i1*ldc+j+w], out[t.width:t.width+w], alpha, beta)
				}
			}
		}
	}
}

// tnBlockK is how many rows of A and B (steps of k) tnNarrowAVX2 takes
// at a time: small enough that the strip of A they read stays in L1 while
// it is reused for every column block of C.
const tnBlockK = 256

// tnNarrowAVX2 computes C = alpha*Aᵀ*B + beta*C for n ≤ narrowN (Xᵀ·dY:
// 784×10 from k = batch). It evaluates the transpose Cᵀ = Bᵀ·A with the
// 6×16 micro-kernel, vectorised along m where A's rows are contiguous:
// each k-step broadcasts six elements of a (packed, zero-padded) row of B
// and multiplies them into 16 consecutive elements of a row of A. Cᵀ goes
// to a scratch buffer and is transposed into C at the end, which costs
// only m×n. Rows of A are read as 16-wide strips 8 rows ahead of use by a
// software prefetch, which the hardware prefetchers do not do reliably
// for this large stride.
func tnNarrowAVX2(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	nr := roundUp(n, 6)
	mp := roundUp(m, 16)
	kb := min(k, tnBlockK)
	buf := getScratch(k*nr + nr*mp + kb*16)
	defer putScratch(buf)
	bp := (*buf)[:k*nr]
	for p := 0; p < k; p++ {
		copy(bp[p*nr:p*nr+n], b[p*ldb:p*ldb+n])
	}
	ct := (*buf)[k*nr : k*nr+nr*mp]
	edge := (*buf)[k*nr+nr*mp:]
	mFull := m / 16 * 16
	// Blocking k keeps the k×16 strip of A in L1 while it is reused for
	// every 6-row block of Cᵀ; the first block overwrites Cᵀ, later ones
	// accumulate into it.
	for p0 := 0; p0 < k; p0 += tnBlockK {
		kc := min(tnBlockK, k-p0)
		betaZero := 0
		var beta1 float32 = 1
		if p0 == 0 {
			betaZero, beta1 = 1, 0
		}
		for i := 0; i < mp; i += 16 {
			strip, ld := a[p0*lda+i:], lda
			if i >= mFull {
				// The last, partial strip is copied so that no load runs
				// past the end of A.
				w := m - i
				for p := 0; p < kc; p++ {
					copy(edge[p*16:p*16+w], a[(p0+p)*lda+i:(p0+p)*lda+i+w])
				}
				strip, ld = edge, 16
			}
			for j := 0; j < nr; j += 6 {
				gemm6x16(kc, ptr(bp, p0*nr+j), uintptr(f32), uintptr(nr*f32), ptr(strip, 0), uintptr(ld*f32),
					ptr(ct, j*mp+i), uintptr(mp*f32), 1, beta1, betaZero, uintptr(8*ld*f32))
			}
		}
	}
	storeTransposed(c, ldc, ct, mp, m, n, alpha, beta)
}

// storeTransposed writes C = alpha*Cᵀᵀ + beta*C for the m×n C from ct,
// which holds Cᵀ in rows of mp: the last step of the Aᵀ·B drivers, which
// compute the transpose vectorised along m.
func storeTransposed(c []float32, ldc int, ct []float32, mp, m, n int, alpha, beta float32) {
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		if beta == 0 {
			for j := range crow {
				crow[j] = alpha * ct[j*mp+i]
			}
		} else {
			for j := range crow {
				crow[j] = alpha*ct[j*mp+i] + beta*crow[j]
			}
		}
	}
}

// packColumns packs the n columns of op(B) (B k×n, or n×k with bT) into
// rows of kp ≥ k floats, zero-padded, for n rounded up to a multiple of the
// kernel's tile width nr: each column becomes a contiguous vector the
// narrow kernels take dot products with. The buffer comes from the scratch
// pool; give it back with putScratch.
func packColumns(bT bool, n, k, kp, nr int, b []float32, ldb int) *[]float32 {
	btBuf := getScratch(roundUp(n, nr) * kp)
	bt := *btBuf
	if bT {
		for j := 0; j < n; j++ {
			copy(bt[j*kp:j*kp+k], b[j*ldb:j*ldb+k])
		}
	} else {
		for p := 0; p < k; p++ {
			for j, v := range b[p*ldb : p*ldb+n] {
				bt[j*kp+p] = v
			}
		}
	}
	return btBuf
}
