//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// haveAVX2FMA reports whether the assembly kernels can run. x/sys/cpu only
// reports AVX2 when the OS also saves the YMM registers.
var haveAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dot2x5 computes the ten dot products of two rows of A (a0, a1) with five
// packed columns of B (bt, the columns ldbt bytes apart, zero-padded to a
// multiple of 8 elements), over k8 full blocks of 8 elements plus a masked
// tail of tail < 8 elements. out[0:5] gets row a0, out[5:10] row a1. While
// it runs it prefetches a0+pf and a1+pf (bytes), the rows the caller will
// process next.
//
//go:noescape
func dot2x5(a0, a1, bt *float32, ldbt uintptr, k8, tail int, out *[10]float32, pf uintptr)

// gemm6x16 computes the 6×16 tile C = alpha*A'*B' + beta*C over k steps,
// where A' element (r, p) is at a + r*rsA + p*csA (bytes), B' row p is the
// 16 floats at b + p*ldb and C row r the 16 floats at c + r*ldc. With
// betaZero != 0, C is not read. Each step prefetches b + p*ldb + pfB.
//
//go:noescape
func gemm6x16(k int, a *float32, rsA, csA uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, betaZero int, pfB uintptr)
