package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// benchShapes are the Sgemm calls of one softmax-regression step (see
// TestGorgoniaCalls) at the training batch and at a large evaluation batch.
// The _mnist variants fill X like MNIST images, where about 80% of the
// pixels are zero; Gonum and the Go kernels skip those, the AVX2 and
// AVX-512 kernels do not.
func benchShapes() []gemmCase {
	N, T := blas.NoTrans, blas.Trans
	var cs []gemmCase
	for _, bs := range []int{256, 10000} {
		cs = append(cs,
			gemmCase{tA: N, tB: N, m: bs, n: 10, k: 784, alpha: 1},               // X·W
			gemmCase{tA: N, tB: N, m: bs, n: 10, k: 784, alpha: 1, mnistA: true}, // X·W, MNIST-like X
			gemmCase{tA: T, tB: N, m: 784, n: 10, k: bs, alpha: 1},               // Xᵀ·dY
			gemmCase{tA: T, tB: N, m: 784, n: 10, k: bs, alpha: 1, mnistA: true}, // Xᵀ·dY, MNIST-like X
			gemmCase{tA: N, tB: T, m: bs, n: 784, k: 10, alpha: 1},               // dY·Wᵀ
		)
	}
	return cs
}

func benchName(tc gemmCase) string {
	var op string
	switch {
	case tc.tA == blas.NoTrans && tc.tB == blas.NoTrans:
		op = "XW"
	case tc.tA == blas.Trans:
		op = "XtdY"
	default:
		op = "dYWt"
	}
	name := fmt.Sprintf("%s_%dx%dx%d", op, tc.m, tc.n, tc.k)
	if tc.mnistA {
		name += "_mnist"
	}
	return name
}

func BenchmarkSgemm(b *testing.B) {
	for _, tc := range benchShapes() {
		rng := rand.New(rand.NewPCG(5, 6))
		a, lda, bm, ldb, c, ldc := tc.operands(rng)
		impls := []struct {
			name string
			f    func()
		}{
			{"gonum", func() {
				gonum.Implementation{}.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, bm, ldb, tc.beta, c, ldc)
			}},
		}
		for _, ks := range kernelSets() {
			name := "fast"
			if ks != bestKernels() {
				name = ks.String()
			}
			impls = append(impls, struct {
				name string
				f    func()
			}{name, func() {
				withKernels(ks, func(impl *Implementation) {
					impl.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, bm, ldb, tc.beta, c, ldc)
				})
			}})
		}
		for _, im := range impls {
			b.Run(benchName(tc)+"/"+im.name, func(b *testing.B) {
				for b.Loop() {
					im.f()
				}
				flops := 2 * float64(tc.m) * float64(tc.n) * float64(tc.k)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkParallelThreshold compares the fast kernels on one core
// (serial) with the same call split across GOMAXPROCS cores (split), for
// the hot shapes and a few smaller ones, to place parMinFMAs.
func BenchmarkParallelThreshold(b *testing.B) {
	N, T := blas.NoTrans, blas.Trans
	shapes := []gemmCase{
		{tA: N, tB: N, m: 64, n: 10, k: 784, alpha: 1},
		{tA: N, tB: N, m: 128, n: 10, k: 784, alpha: 1},
		{tA: N, tB: N, m: 256, n: 10, k: 784, alpha: 1},
		{tA: T, tB: N, m: 784, n: 10, k: 96, alpha: 1},
		{tA: T, tB: N, m: 784, n: 10, k: 256, alpha: 1},
		{tA: N, tB: T, m: 96, n: 784, k: 10, alpha: 1},
		{tA: N, tB: T, m: 256, n: 784, k: 10, alpha: 1},
		{tA: N, tB: N, m: 512, n: 10, k: 784, alpha: 1},
		{tA: N, tB: N, m: 1024, n: 10, k: 784, alpha: 1},
		{tA: T, tB: N, m: 784, n: 10, k: 1024, alpha: 1},
		{tA: N, tB: T, m: 1024, n: 784, k: 10, alpha: 1},
		{tA: N, tB: N, m: 10000, n: 10, k: 784, alpha: 1},
	}
	for _, tc := range shapes {
		rng := rand.New(rand.NewPCG(5, 6))
		a, lda, bm, ldb, c, ldc := tc.operands(rng)
		for _, mode := range []string{"serial", "split"} {
			b.Run(benchName(tc)+"/"+mode, func(b *testing.B) {
				old := parMinFMAs
				defer func() { parMinFMAs = old }()
				parMinFMAs = math.MaxInt
				if mode == "split" {
					parMinFMAs = 1
				}
				impl := New()
				for b.Loop() {
					impl.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, bm, ldb, tc.beta, c, ldc)
				}
			})
		}
	}
}

// BenchmarkGorgoniaStep times one forward and backward pass of the
// softmax-regression graph on the tape machine with Gonum's BLAS and with
// this one, to show how much of a training step Sgemm is.
func BenchmarkGorgoniaStep(b *testing.B) {
	for _, batch := range []int{256, 10000} {
		d := newSoftmaxData(batch, 1)
		for _, impl := range []struct {
			name string
			blas G.BLAS
		}{{"gonum", gonum.Implementation{}}, {"fast", New()}} {
			b.Run(fmt.Sprintf("B%d/%s", batch, impl.name), func(b *testing.B) {
				restore := useBLAS(impl.blas)
				defer restore()
				sg := buildSoftmaxGraph(b, d)
				defer sg.vm.Close()
				for b.Loop() {
					sg.run(b)
				}
			})
		}
	}
}
