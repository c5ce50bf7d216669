package train

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"

	"github.com/softmaxctl/softmaxctl/internal/blas"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// benchData returns Fashion-MNIST from SOFTMAXCTL_TEST_DATA, or random
// bytes of the same shape when it is not set.
func benchData(b *testing.B) (trainSet, testSet *dataset.Set) {
	b.Helper()
	if dir := os.Getenv("SOFTMAXCTL_TEST_DATA"); dir != "" {
		spec, _ := dataset.Lookup("fashion-mnist")
		tr, err := dataset.Load(dir, spec, dataset.Train)
		if err != nil {
			b.Fatal(err)
		}
		te, err := dataset.Load(dir, spec, dataset.Test)
		if err != nil {
			b.Fatal(err)
		}
		return tr, te
	}
	return randomSet(60000, 1), randomSet(10000, 2)
}

func randomSet(n int, seed uint64) *dataset.Set {
	rng := rand.New(rand.NewPCG(seed, 0))
	s := &dataset.Set{Pix: make([]byte, n*784), Labels: make([]uint8, n), N: n, Rows: 28, Cols: 28}
	for i := range s.Pix {
		s.Pix[i] = byte(rng.UintN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(rng.IntN(10))
	}
	return s
}

// blasImpls are the matrix-product implementations the benchmarks compare:
// Gorgonia's default (gonum, pure Go) and the project's (internal/blas).
var blasImpls = []struct {
	name string
	impl G.BLAS
}{{"gonum", gonum.Implementation{}}, {"fast", blas.New()}}

// withEachBLAS runs f as a sub-benchmark under each implementation.
func withEachBLAS(b *testing.B, f func(b *testing.B)) {
	for _, bi := range blasImpls {
		b.Run(bi.name, func(b *testing.B) {
			G.Use(bi.impl)
			defer G.Use(gonum.Implementation{})
			f(b)
		})
	}
}

// BenchmarkStep measures one SGD step at the default batch size: gather,
// forward, backward, update, on the fused graph (the default) and on the
// graph of primitives (model.Unfused), with allocations per step.
func BenchmarkStep(b *testing.B) {
	for _, g := range graphKinds {
		b.Run(g.name, func(b *testing.B) {
			withEachBLAS(b, func(b *testing.B) { benchStep(b, g.opts...) })
		})
	}
}

// graphKinds are the two forms of the model's graph.
var graphKinds = []struct {
	name string
	opts []model.GraphOption
}{{"fused", nil}, {"unfused", []model.GraphOption{model.Unfused()}}}

func benchStep(b *testing.B, opts ...model.GraphOption) {
	s := randomSet(4096, 3)
	m, _ := model.New(784, 10, 0.01, 0)
	gr, err := m.NewGraph(256, true, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer gr.Close()
	x, y := gr.Inputs()
	order := dataset.NewShuffler(s.N, 0).Epoch(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lo := (i * 256) % (s.N - 256)
		s.Gather(order[lo:lo+256], x, y)
		if _, err := gr.Run(); err != nil {
			b.Fatal(err)
		}
		if err := gr.SGD(0.1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEpoch measures one epoch of the default recipe, validation
// included.
func BenchmarkEpoch(b *testing.B) {
	tr, te := benchData(b)
	withEachBLAS(b, func(b *testing.B) { benchEpoch(b, tr, te) })
}

func benchEpoch(b *testing.B, tr, te *dataset.Set) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, _ := model.New(784, 10, 0.01, 0)
		t := &Trainer{Config: Config{Epochs: 1, LR: 0.1, BatchSize: 256, Seed: 0}}
		if _, err := t.Fit(context.Background(), m, tr, te); err != nil {
			b.Fatal(err)
		}
	}
}
