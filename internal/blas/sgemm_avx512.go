package blas

// The AVX-512 Aᵀ·B driver (kernel512_amd64.s); its narrow A·op(B) is
// narrow with tileAVX512. Unlike the AVX2 one it reads the ragged edges of
// A under masks in the kernel rather than copying them. This file builds on
// every platform; its function only runs when haveAVX512 is true.

// tnNarrowAVX512 computes C = alpha*Aᵀ*B + beta*C for n ≤ narrowN (Xᵀ·dY:
// 784×10 from k = batch), as tnNarrowAVX2 does: it evaluates Cᵀ = Bᵀ·A
// vectorised along m, where A's rows are contiguous, with a 10×32 tile
// (ten classes, 32 pixels: no padding for n = 10) and masked loads for
// the last strip of A. Cᵀ goes to a scratch buffer and is transposed into
// C at the end.
func tnNarrowAVX512(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	nr := roundUp(n, 10)
	mp := roundUp(m, 32)
	buf := getScratch(k*nr + nr*mp)
	defer putScratch(buf)
	bp := (*buf)[:k*nr]
	for p := 0; p < k; p++ {
		copy(bp[p*nr:p*nr+n], b[p*ldb:p*ldb+n])
	}
	ct := (*buf)[k*nr : k*nr+nr*mp]
	pf := uintptr(8 * lda * f32)
	// Blocking k keeps the k×32 strip of A in L1 while it is reused for
	// each block of ten rows of Cᵀ; the first block overwrites Cᵀ, later
	// ones add to it.
	for p0 := 0; p0 < k; p0 += tnBlockK {
		kc := min(tnBlockK, k-p0)
		acc := 0
		if p0 > 0 {
			acc = 1
		}
		for i := 0; i < m; i += 32 {
			w := min(32, m-i)
			masks := uint32(1)<<min(w, 16) - 1
			if w > 16 {
				masks |= (uint32(1)<<(w-16) - 1) << 16
			}
			for j := 0; j < nr; j += 10 {
				tn10x32(kc, ptr(bp, p0*nr+j), uintptr(nr*f32), ptr(a, p0*lda+i), uintptr(lda*f32), ptr(ct, j*mp+i), uintptr(mp*f32), masks, acc, pf)
			}
		}
	}
	storeTransposed(c, ldc, ct, mp, m, n, alpha, beta)
}
