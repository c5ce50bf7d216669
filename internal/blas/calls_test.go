package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// loggingBLAS records the float32 BLAS calls Gorgonia makes, to find out
// which shapes are worth specialising.
type loggingBLAS struct {
	*Implementation
	mu  sync.Mutex
	log []string
}

func (l *loggingBLAS) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, fmt.Sprintf(format, args...))
}

func trans(t blas.Transpose) string {
	if t == blas.NoTrans {
		return "N"
	}
	return "T"
}

func (l *loggingBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	l.add("Sgemm(%s,%s m=%d n=%d k=%d alpha=%g lda=%d ldb=%d beta=%g ldc=%d)", trans(tA), trans(tB), m, n, k, alpha, lda, ldb, beta, ldc)
	l.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (l *loggingBLAS) Sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	l.add("Sgemv(%s m=%d n=%d)", trans(tA), m, n)
	l.Implementation.Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

func (l *loggingBLAS) Sger(m, n int, alpha float32, x []float32, incX int, y []float32, incY int, a []float32, lda int) {
	l.add("Sger(m=%d n=%d)", m, n)
	l.Implementation.Sger(m, n, alpha, x, incX, y, incY, a, lda)
}

func (l *loggingBLAS) Sdot(n int, x []float32, incX int, y []float32, incY int) float32 {
	l.add("Sdot(n=%d)", n)
	return l.Implementation.Sdot(n, x, incX, y, incY)
}

func (l *loggingBLAS) Saxpy(n int, alpha float32, x []float32, incX int, y []float32, incY int) {
	l.add("Saxpy(n=%d)", n)
	l.Implementation.Saxpy(n, alpha, x, incX, y, incY)
}

func (l *loggingBLAS) Sscal(n int, alpha float32, x []float32, incX int) {
	l.add("Sscal(n=%d)", n)
	l.Implementation.Sscal(n, alpha, x, incX)
}

// softmaxData is one batch of MNIST-shaped inputs: X is MNIST-like (see
// mnistLike), Y is one-hot, W and b are small random parameters.
type softmaxData struct {
	batch, in, out int
	x, y, w, b     []float32
}

func newSoftmaxData(batch int, seed uint64) softmaxData {
	const in, out = 784, 10
	rng := rand.New(rand.NewPCG(seed, 7))
	d := softmaxData{batch: batch, in: in, out: out,
		x: make([]float32, batch*in), y: make([]float32, batch*out),
		w: make([]float32, in*out), b: make([]float32, out)}
	for i := 0; i < batch; i++ {
		mnistLike(rng, d.x[i*in:(i+1)*in])
	}
	for i := 0; i < batch; i++ {
		d.y[i*out+rng.IntN(out)] = 1
	}
	for i := range d.w {
		d.w[i] = float32(rng.NormFloat64() * 0.05)
	}
	for i := range d.b {
		d.b[i] = float32(rng.NormFloat64() * 0.05)
	}
	return d
}

// softmaxGraph is softmax regression as the CLI builds it (logits =
// X·W + b, mean cross-entropy, gradients of W and b) on a tape machine.
type softmaxGraph struct {
	vm      G.VM
	w, b    *G.Node
	costVal G.Value
}

func buildSoftmaxGraph(t testing.TB, d softmaxData) *softmaxGraph {
	t.Helper()
	g := G.NewGraph()
	clone := func(s []float32) []float32 { return append([]float32(nil), s...) }
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(d.batch, d.in), G.WithName("X"),
		G.WithValue(tensor.New(tensor.WithShape(d.batch, d.in), tensor.WithBacking(clone(d.x)))))
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(d.batch, d.out), G.WithName("Y"),
		G.WithValue(tensor.New(tensor.WithShape(d.batch, d.out), tensor.WithBacking(clone(d.y)))))
	sg := &softmaxGraph{}
	sg.w = G.NewMatrix(g, tensor.Float32, G.WithShape(d.in, d.out), G.WithName("W"),
		G.WithValue(tensor.New(tensor.WithShape(d.in, d.out), tensor.WithBacking(clone(d.w)))))
	sg.b = G.NewVector(g, tensor.Float32, G.WithShape(d.out), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(d.out), tensor.WithBacking(clone(d.b)))))
	xw := G.Must(G.Mul(x, sg.w))
	logits := G.Must(G.BroadcastAdd(xw, sg.b, nil, []byte{0}))
	prob := G.Must(G.SoftMax(logits))
	cost := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.HadamardProd(y, G.Must(G.Log(prob))))))))
	G.Read(cost, &sg.costVal)
	if _, err := G.Grad(cost, sg.w, sg.b); err != nil {
		t.Fatal(err)
	}
	sg.vm = G.NewTapeMachine(g, G.BindDualValues(sg.w, sg.b))
	return sg
}

// run executes one forward and backward pass.
func (sg *softmaxGraph) run(t testing.TB) {
	sg.vm.Reset()
	if err := sg.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
}

// runSoftmaxGraph runs the graph once with whatever BLAS is installed and
// returns the loss and the gradients.
func runSoftmaxGraph(t *testing.T, d softmaxData) (loss float32, dW, dB []float32) {
	t.Helper()
	sg := buildSoftmaxGraph(t, d)
	defer sg.vm.Close()
	sg.run(t)
	gw, err := sg.w.Grad()
	if err != nil {
		t.Fatal(err)
	}
	gb, err := sg.b.Grad()
	if err != nil {
		t.Fatal(err)
	}
	clone := func(s []float32) []float32 { return append([]float32(nil), s...) }
	return sg.costVal.Data().(float32), clone(gw.Data().([]float32)), clone(gb.Data().([]float32))
}

// useBLAS installs impl for Gorgonia and tensor and returns a function
// that restores the previous one.
func useBLAS(impl G.BLAS) (restore func()) {
	prev := G.WhichBLAS()
	G.Use(impl)
	return func() { G.Use(prev) }
}

// TestGorgoniaCalls records the BLAS calls of one training step. They are
// the three products this package specialises; in particular Gorgonia also
// computes dY·Wᵀ (the gradient of X) although only W and b are asked for,
// and it uses no level 1 or 2 routines for this model.
func TestGorgoniaCalls(t *testing.T) {
	for _, batch := range []int{256, 96} {
		lb := &loggingBLAS{Implementation: New()}
		restore := useBLAS(lb)
		runSoftmaxGraph(t, newSoftmaxData(batch, 1))
		restore()
		for _, s := range lb.log {
			t.Log(s)
		}
		want := []string{
			fmt.Sprintf("Sgemm(N,N m=%d n=10 k=784 alpha=1 lda=784 ldb=10 beta=0 ldc=10)", batch),
			fmt.Sprintf("Sgemm(N,T m=%d n=784 k=10 alpha=1 lda=10 ldb=10 beta=0 ldc=784)", batch),
			fmt.Sprintf("Sgemm(T,N m=784 n=10 k=%d alpha=1 lda=784 ldb=10 beta=0 ldc=10)", batch),
		}
		got := slices.Clone(lb.log)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("batch %d: BLAS calls\n%q\nwant\n%q", batch, lb.log, want)
		}
	}
}

// TestGorgoniaEndToEnd trains nothing but checks that one forward and
// backward pass gives the same loss and gradients with this BLAS (each
// kernel family) as with Gonum's.
func TestGorgoniaEndToEnd(t *testing.T) {
	for _, batch := range []int{256, 96, 1} {
		d := newSoftmaxData(batch, uint64(batch))
		restore := useBLAS(gonum.Implementation{})
		wantLoss, wantW, wantB := runSoftmaxGraph(t, d)
		restore()
		for _, ks := range kernelSets() {
			withKernels(ks, func(impl *Implementation) {
				restore := useBLAS(impl)
				defer restore()
				loss, dW, dB := runSoftmaxGraph(t, d)
				name := fmt.Sprintf("batch %d, %v", batch, ks)
				closeTo(t, name+" loss", []float32{loss}, []float32{wantLoss})
				closeTo(t, name+" dW", dW, wantW)
				closeTo(t, name+" db", dB, wantB)
			})
		}
	}
}

// closeTo compares two vectors relative to the largest magnitude of want:
// gradients of cancelling sums have elements near zero whose own relative
// error is meaningless.
func closeTo(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", name, len(got), len(want))
	}
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= 1e-5*scale) {
			t.Fatalf("%s[%d] = %v, want %v (scale %g)", name, i, got[i], want[i], scale)
		}
	}
}
