//go:build !amd64 || purego

package blas

// Without the amd64 assembly only the portable Go kernels exist.
const haveAVX2FMA = false

func dot2x5(a0, a1, bt *float32, ldbt uintptr, k8, tail int, out *[10]float32, pf uintptr) {
	panic("blas: dot2x5 without assembly")
}

func gemm6x16(k int, a *float32, rsA, csA uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, betaZero int, pfB uintptr) {
	panic("blas: gemm6x16 without assembly")
}
