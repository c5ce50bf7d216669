//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// haveAVX2FMA reports whether the assembly kernels can run. x/sys/cpu only
// reports AVX2 when the OS also saves the YMM registers.
var haveAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveAVX512 reports whether the AVX-512 kernels can run: they need only
// the foundation instructions (and the AVX2 ones for their horizontal
// sums). x/sys/cpu reports AVX512F only when the OS saves the ZMM and mask
// registers, and GODEBUG=cpu.avx512f=off turns it off.
var haveAVX512 = haveAVX2FMA && cpu.X86.HasAVX512F

// dot2x5 computes the ten dot products of two rows of A (a0, a1) with five
// packed columns of B (bt, the columns ldbt bytes apart, zero-padded to a
// multiple of 8 elements), over k8 full blocks of 8 elements plus a masked
// tail of tail < 8 elements. out[0:5] gets row a0, out[5:10] row a1 (the
// rest of out, sized for dot2x10, is left alone). While
// it runs it prefetches a0+pf and a1+pf (bytes), the rows the caller will
// process next.
//
//go:noescape
func dot2x5(a0, a1, bt *float32, ldbt uintptr, k8, tail int, out *[20]float32, pf uintptr)

// gemm6x16 computes the 6×16 tile C = alpha*A'*B' + beta*C over k steps,
// where A' element (r, p) is at a + r*rsA + p*csA (bytes), B' row p is the
// 16 floats at b + p*ldb and C row r the 16 floats at c + r*ldc. With
// betaZero != 0, C is not read. Each step prefetches b + p*ldb + pfB.
//
//go:noescape
func gemm6x16(k int, a *float32, rsA, csA uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, betaZero int, pfB uintptr)

// dot2x10 computes the twenty dot products of two rows of A (a0, a1) with
// ten packed columns of B (bt, the columns ldbt bytes apart, zero-padded
// to a multiple of 16 elements), over k16 full blocks of 16 elements plus
// a masked tail of tail < 16 elements. out[0:10] gets row a0, out[10:20]
// row a1. While it runs it prefetches a0+pf and a1+pf (bytes).
//
//go:noescape
func dot2x10(a0, a1, bt *float32, ldbt uintptr, k16, tail int, out *[20]float32, pf uintptr)

// tn10x32 computes the 10×32 tile Cᵀ[j][i] = Σ_p b[p][j]·A[p][i] over k
// steps, where row p of b is the 10 floats at b + p·ldb (bytes) and row p
// of A the 32 floats at a + p·lda, read
// under the 16-lane masks masks&0xffff (first 16) and masks>>16 (last 16),
// and row j of the tile is stored at c + j·ldc, or added to it when
// accumulate != 0. Each step prefetches a + p·lda + pf.
//
//go:noescape
func tn10x32(k int, b *float32, ldb uintptr, a *float32, lda uintptr, c *float32, ldc uintptr, masks uint32, accumulate int, pf uintptr)
