package blas

import "math"

// Portable kernels in plain Go, for non-amd64 builds and the purego tag.
// They keep a small tile of C in scalar registers instead of calling an
// axpy or dot routine for every 10-element row segment as Gonum does,
// which makes them 1.2-1.7× faster than Gonum on one core; without SIMD
// that is about what scalar code can get.

// nnNarrowGo computes C = alpha*A*B + beta*C for n ≤ narrowN. Each row of C
// is built in five register accumulators per pass while the row of
// A streams past. Rows that are mostly zero (MNIST images are ~80% zero)
// are first compacted to their non-zero elements, so the passes neither
// multiply by zero nor branch on it; dense rows skip the compaction.
func nnNarrowGo(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	var s [narrowN]float32
	bufp := getScratch(k)
	defer putScratch(bufp)
	vals := *bufp
	offsp := getOffsets(k)
	defer putOffsets(offsp)
	offs := *offsp
	// Offsets into b are int32 to halve the buffer; larger B (8 GB) always
	// takes the dense loops.
	compact := k*ldb <= math.MaxInt32
	for i := 0; i < m; i++ {
		arow := a[i*lda : i*lda+k]
		nz := k
		if compact {
			nz = 0
			for p, x := range arow {
				if x != 0 {
					vals[nz] = x
					offs[nz] = int32(p * ldb)
					nz++
				}
			}
		}
		if nz*4 > k*3 {
			nnRowDense(s[:n], arow, b, ldb)
		} else {
			nnRowSparse(s[:n], vals[:nz], offs[:nz], b)
		}
		storeRow(c[i*ldc:i*ldc+n], s[:n], alpha, beta)
	}
}

// nnRowDense sets s = arow · B[:, 0:len(s)], five columns per pass: with
// more accumulators the Go compiler runs out of XMM registers and spills
// one of them in the inner loop, which costs more than an extra pass.
func nnRowDense(s, arow, b []float32, ldb int) {
	n, j := len(s), 0
	for ; j+5 <= n; j += 5 {
		*(*[5]float32)(s[j:]) = dotCols5(arow, b[j:], ldb)
	}
	if j+2 <= n {
		*(*[2]float32)(s[j:]) = dotCols2(arow, b[j:], ldb)
		j += 2
	}
	if j+2 <= n {
		*(*[2]float32)(s[j:]) = dotCols2(arow, b[j:], ldb)
		j += 2
	}
	if j < n {
		s[j] = dotCols1(arow, b[j:], ldb)
	}
}

// nnRowSparse sets s = Σ vals[q]·B[row, 0:len(s)] where that row of B
// starts at b[offs[q]].
func nnRowSparse(s, vals []float32, offs []int32, b []float32) {
	n, j := len(s), 0
	offs = offs[:len(vals)]
	for ; j+5 <= n; j += 5 {
		var s0, s1, s2, s3, s4 float32
		bj := b[j:]
		for q, x := range vals {
			o := int(offs[q])
			bp := bj[o : o+5 : o+5]
			s0 += x * bp[0]
			s1 += x * bp[1]
			s2 += x * bp[2]
			s3 += x * bp[3]
			s4 += x * bp[4]
		}
		s[j], s[j+1], s[j+2], s[j+3], s[j+4] = s0, s1, s2, s3, s4
	}
	for ; j < n; j++ {
		var s0 float32
		bj := b[j:]
		for q, x := range vals {
			s0 += x * bj[offs[q]]
		}
		s[j] = s0
	}
}

// dotCols5 returns arow · B[:, 0:5] where B's rows are ldb apart in b,
// skipping zeros of arow.
func dotCols5(arow, b []float32, ldb int) [5]float32 {
	var s0, s1, s2, s3, s4 float32
	off := 0
	for _, x := range arow {
		if x != 0 {
			bp := b[off : off+5 : off+5]
			s0 += x * bp[0]
			s1 += x * bp[1]
			s2 += x * bp[2]
			s3 += x * bp[3]
			s4 += x * bp[4]
		}
		off += ldb
	}
	return [5]float32{s0, s1, s2, s3, s4}
}

// dotCols2 returns arow · B[:, 0:2].
func dotCols2(arow, b []float32, ldb int) [2]float32 {
	var s0, s1 float32
	off := 0
	for _, x := range arow {
		if x != 0 {
			bp := b[off : off+2 : off+2]
			s0 += x * bp[0]
			s1 += x * bp[1]
		}
		off += ldb
	}
	return [2]float32{s0, s1}
}

// dotCols1 returns arow · B[:, 0].
func dotCols1(arow, b []float32, ldb int) float32 {
	var s float32
	off := 0
	for _, x := range arow {
		if x != 0 {
			s += x * b[off]
		}
		off += ldb
	}
	return s
}

// ntGo computes C = alpha*A*Bᵀ + beta*C. Both A's rows and B's rows run
// along k, so every element is a contiguous dot product; a 2×3 tile of
// them shares the loads of A and B and gives six independent add chains,
// where Gonum makes one call to a dot routine per element.
func ntGo(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	bufp := getScratch(2 * n)
	defer putScratch(bufp)
	s0, s1 := (*bufp)[:n], (*bufp)[n:]
	for i := 0; i < m; i += 2 {
		i1 := i + 1
		if i1 == m {
			// An odd last row pairs with itself; the duplicate is cheap.
			i1 = i
		}
		a0 := a[i*lda : i*lda+k]
		a1 := a[i1*lda : i1*lda+k]
		j := 0
		for ; j+3 <= n; j += 3 {
			*(*[3]float32)(s0[j:]), *(*[3]float32)(s1[j:]) = dot2x3(a0, a1, b[j*ldb:], ldb)
		}
		for ; j < n; j++ {
			s0[j], s1[j] = dot2x1(a0, a1, b[j*ldb:j*ldb+k])
		}
		storeRow(c[i*ldc:i*ldc+n], s0, alpha, beta)
		if i1 != i {
			storeRow(c[i1*ldc:i1*ldc+n], s1, alpha, beta)
		}
	}
}

// dot2x3 returns the dot products of a0 and a1 with rows 0..2 of B. Six
// accumulators is the most the Go compiler keeps in registers here; a 2×4
// tile spills in the inner loop.
func dot2x3(a0, a1, b []float32, ldb int) (r0, r1 [3]float32) {
	k := len(a0)
	a1 = a1[:k]
	b0 := b[:k]
	b1 := b[ldb : ldb+k]
	b2 := b[2*ldb : 2*ldb+k]
	var s00, s01, s02, s10, s11, s12 float32
	for p, x0 := range a0 {
		x1 := a1[p]
		v0, v1, v2 := b0[p], b1[p], b2[p]
		s00 += x0 * v0
		s01 += x0 * v1
		s02 += x0 * v2
		s10 += x1 * v0
		s11 += x1 * v1
		s12 += x1 * v2
	}
	return [3]float32{s00, s01, s02}, [3]float32{s10, s11, s12}
}

// dot2x1 returns a0·b and a1·b.
func dot2x1(a0, a1, b []float32) (float32, float32) {
	a1 = a1[:len(a0)]
	b = b[:len(a0)]
	var s0, s1 float32
	for p, x0 := range a0 {
		s0 += x0 * b[p]
		s1 += a1[p] * b[p]
	}
	return s0, s1
}

// tnNarrowGo computes C = alpha*Aᵀ*B + beta*C for n ≤ narrowN, where A is
// k×m and B is k×n: C += Σ_p A[p,:]ᵀ ⊗ alpha·B[p,:], one outer product per
// row of A, as Gonum does, but inlined. Each row of A (an image) is
// compacted to its non-zero elements first, so MNIST's zero pixels cost
// one compare each and no branch inside the update loops; C (m×n, 31 KB
// for 784×10) stays in L1 throughout.
func tnNarrowGo(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	scaleC(m, n, beta, c, ldc)
	bufp := getScratch(m)
	defer putScratch(bufp)
	vals := *bufp
	offsp := getOffsets(m)
	defer putOffsets(offsp)
	offs := *offsp
	if (m-1)*ldc > math.MaxInt32 {
		panic("blas: C too large for tnNarrowGo") // excluded by sgemmFast
	}
	for p := 0; p < k; p++ {
		nz := 0
		for i, x := range a[p*lda : p*lda+m] {
			if x != 0 {
				vals[nz] = x
				offs[nz] = int32(i * ldc)
				nz++
			}
		}
		if nz == 0 {
			continue
		}
		brow := b[p*ldb : p*ldb+n]
		j := 0
		for ; j+5 <= n; j += 5 {
			axpyRows5(vals[:nz], offs[:nz], c[j:], alpha*brow[j], alpha*brow[j+1], alpha*brow[j+2], alpha*brow[j+3], alpha*brow[j+4])
		}
		for ; j < n; j++ {
			axpyRows1(vals[:nz], offs[:nz], c[j:], alpha*brow[j])
		}
	}
}

// axpyRows5 adds vals[q]·(b0..b4) to the five floats at c[offs[q]:].
func axpyRows5(vals []float32, offs []int32, c []float32, b0, b1, b2, b3, b4 float32) {
	offs = offs[:len(vals)]
	for q, x := range vals {
		o := int(offs[q])
		cp := c[o : o+5 : o+5]
		cp[0] += x * b0
		cp[1] += x * b1
		cp[2] += x * b2
		cp[3] += x * b3
		cp[4] += x * b4
	}
}

// axpyRows1 adds vals[q]·b0 to c[offs[q]].
func axpyRows1(vals []float32, offs []int32, c []float32, b0 float32) {
	offs = offs[:len(vals)]
	for q, x := range vals {
		c[offs[q]] += x * b0
	}
}
