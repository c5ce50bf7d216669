// Package blas provides a BLAS implementation for Gorgonia that is tuned for
// softmax regression.
//
// Softmax regression multiplies a tall batch matrix by a narrow weight
// matrix (784×10 for MNIST). Gonum's generic Sgemm splits work into 64×64
// blocks and calls a 4-wide axpy or dot kernel for every row segment, which
// for a 10-wide output spends most of its time in call overhead and
// half-empty vectors. Implementation keeps everything of Gonum except Sgemm,
// which it routes to kernels specialised for narrow (small n) or shallow
// (small k) products; every other call goes to Gonum unchanged.
//
// Install it with
//
//	gorgonia.Use(blas.New())
//
// which also installs it for gorgonia.org/tensor.
package blas

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Implementation is a BLAS (blas.Float32, blas.Float64, blas.Complex64 and
// blas.Complex128, as Gorgonia's and tensor's BLAS interfaces require) that
// embeds Gonum's pure-Go implementation and overrides Sgemm with faster
// kernels for the narrow products of softmax regression.
type Implementation struct {
	gonum.Implementation
	kernels kernelSet
}

// New returns an Implementation that uses the fastest kernels the CPU and
// the operating system support: AVX-512 or AVX2+FMA assembly on amd64,
// portable Go elsewhere or with the purego build tag. GODEBUG's
// cpu.avx512f=off and cpu.avx2=off cap the choice (golang.org/x/sys/cpu
// honours them), which is how the families are compared on one machine.
// An Implementation holds no mutable state and is safe for concurrent use;
// the zero value uses the portable Go kernels.
func New() *Implementation { return &Implementation{kernels: bestKernels()} }

var _ interface {
	blas.Float32
	blas.Float64
	blas.Complex64
	blas.Complex128
} = (*Implementation)(nil)

// Sgemm performs one of the matrix-matrix operations
//
//	C = alpha * A * B + beta * C
//	C = alpha * Aᵀ * B + beta * C
//	C = alpha * A * Bᵀ + beta * C
//	C = alpha * Aᵀ * Bᵀ + beta * C
//
// where A is an m×k or k×m, B a k×n or n×k and C an m×n row-major matrix,
// with the same argument conventions and panics as Gonum's Sgemm.
//
// Products with a narrow result (A or Aᵀ times B, or A times Bᵀ, with
// n ≤ 16: X·W and Xᵀ·dY) or a shallow wide one (A·Bᵀ with k ≤ 64: dY·Wᵀ)
// use the specialised kernels; all others, including Aᵀ·Bᵀ, go to Gonum.
// Results agree with Gonum to rounding (the sums are ordered differently).
// As in reference BLAS, beta == 0 overwrites C without reading it (NaNs in
// C do not propagate), and alpha == 0 or k == 0 only scales C without
// reading A or B. Like Gonum, the Go kernels for A·B and Aᵀ·B skip zero
// elements of A, so 0·Inf there gives 0; the vector kernels give NaN.
func (impl Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !sgemmArgsOK(tA, tB, m, n, k, a, lda, b, ldb, c, ldc) {
		// Let Gonum raise the panic so that messages match exactly.
		impl.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		if beta != 1 {
			scaleC(m, n, beta, c, ldc)
		}
		return
	}
	aT := tA != blas.NoTrans
	bT := tB != blas.NoTrans
	if !sgemmFast(impl.kernels, aT, bT, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		impl.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// sgemmArgsOK reports whether the arguments pass every check that Gonum's
// Sgemm makes, so the fast paths can rely on the slice lengths.
func sgemmArgsOK(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) bool {
	okT := func(t blas.Transpose) bool {
		return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
	}
	if !okT(tA) || !okT(tB) || m < 0 || n < 0 || k < 0 {
		return false
	}
	aT := tA != blas.NoTrans
	bT := tB != blas.NoTrans
	if lda < max(1, k) && !aT || lda < max(1, m) && aT ||
		ldb < max(1, n) && !bT || ldb < max(1, k) && bT || ldc < max(1, n) {
		return false
	}
	if m == 0 || n == 0 {
		return true
	}
	// The same length formulas as Gonum, which for k == 0 can be negative
	// (trivially satisfied).
	needA, needB := (m-1)*lda+k, (k-1)*ldb+n
	if aT {
		needA = (k-1)*lda + m
	}
	if bT {
		needB = (n-1)*ldb + k
	}
	return len(a) >= needA && len(b) >= needB && len(c) >= (m-1)*ldc+n
}

// scaleC computes C = beta*C, writing zeros when beta == 0 so that NaNs in
// C are discarded as the BLAS convention requires.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
