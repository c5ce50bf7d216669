package blas

// Drivers for the AVX-512 kernels (kernel512_amd64.s). Like the AVX2
// drivers they pack the small operand into a zero-padded layout; ragged
// edges of A are read under masks in the kernels rather than copied. This
// file builds on every platform; its functions only run when haveAVX512
// is true.

// narrowAVX512 computes C = alpha*A*op(B) + beta*C for n ≤ narrowN, as
// narrowAVX2 does but with 16-wide vectors along k and a 2×10 tile: Bᵀ is
// packed into rows of kp = k rounded up to 16 floats, ten columns (a whole
// row of C for n = 10) per pass.
func narrowAVX512(bT bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	kp := roundUp(k, 16)
	btBuf := packColumns(bT, n, k, kp, 10, b, ldb)
	defer putScratch(btBuf)
	bt := *btBuf
	k16, tail := k/16, k%16
	var out [20]float32
	// Rows go in blocks so that a block of A stays in cache while each
	// group of ten packed columns (10×kp floats, 31 KB for k = 784) stays
	// in L1.
	const rowBlock = 32
	pf := uintptr(2 * lda * f32)
	for i0 := 0; i0 < m; i0 += rowBlock {
		iEnd := min(m, i0+rowBlock)
		for j := 0; j < n; j += 10 {
			w := min(10, n-j)
			btj := ptr(bt, j*kp)
			for i := i0; i < iEnd; i += 2 {
				i1 := i + 1
				if i1 == iEnd {
					// An odd last row is paired with itself; the second
					// half of the tile is discarded.
					i1 = i
				}
				dot2x10(ptr(a, i*lda), ptr(a, i1*lda), btj, uintptr(kp*f32), k16, tail, &out, pf)
				storeRow(c[i*ldc+j:i*ldc+j+w], out[:w], alpha, beta)
				if i1 != i {
					storeRow(c[i1*ldc+j:i1*ldc+j+w], out[10:10+w], alpha, beta)
				}
			}
		}
	}
}

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
