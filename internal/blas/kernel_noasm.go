//go:build !amd64 || purego

package blas

// Without the amd64 assembly only the portable Go kernels exist.
const (
	haveAVX2FMA = false
	haveAVX512  = false
)

func dot2x5(a0, a1, bt *float32, ldbt uintptr, k8, tail int, out *[20]float32, pf uintptr) {
	panic("blas: dot2x5 without assembly")
}

func gemm6x16(k int, a *float32, rsA, csA uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, betaZero int, pfB uintptr) {
	panic("blas: gemm6x16 without assembly")
}

func dot2x10(a0, a1, bt *float32, ldbt uintptr, k16, tail int, out *[20]float32, pf uintptr) {
	panic("blas: dot2x10 without assembly")
}

func tn10x32(k int, b *float32, ldb uintptr, a *float32, lda uintptr, c *float32, ldc uintptr, masks uint32, accumulate int, pf uintptr) {
	panic("blas: tn10x32 without assembly")
}
