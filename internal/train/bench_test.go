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

// benchData returns Fashion-MNIST from SOFTMAXCTL_TEST_DATA or, when that
// is not set, from softmaxctl's own folder ($SOFTMAXCTL_DATA/fashion-mnist,
// else the user cache) if the files are there; random bytes of the same
// shape otherwise.
func benchData(b *testing.B) (trainSet, testSet *dataset.Set) {
	b.Helper()
	spec, _ := dataset.Lookup("fashion-mnist")
	dir := os.Getenv("SOFTMAXCTL_TEST_DATA")
	if dir == "" {
		root, _ := dataset.DefaultRoot(os.Getenv, os.UserCacheDir)
		if d, err := dataset.ResolveDir("", root, spec.Name); err == nil && len(dataset.Missing(d, spec)) == 0 {
			dir = d
		}
	}
	if dir == "" {
		b.Log("no Fashion-MNIST (set SOFTMAXCTL_TEST_DATA or SOFTMAXCTL_DATA): random data")
		return randomSet(60000, 1), randomSet(10000, 2)
	}
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

// BenchmarkPipeline measures a training step of the tape backend three
// ways, to show what gathering the next batch on the other core saves:
// "pipelined" is the backend's step (the next batch gathered while this
// one runs), "serial" gathers and then runs, "run-only" runs without
// gathering (the floor the pipeline can reach).
func BenchmarkPipeline(b *testing.B) {
	s := randomSet(60000, 9)
	m, _ := model.New(784, 10, 0.01, 0)
	order := dataset.NewShuffler(s.N, 0).Epoch(1)
	batch := func(i int) []int {
		lo := (i * 256) % (s.N - 256)
		return order[lo : lo+256]
	}
	G.Use(blas.New())
	defer G.Use(gonum.Implementation{})
	for _, mode := range []string{"pipelined", "serial", "serial-one-graph", "run-only"} {
		b.Run(mode, func(b *testing.B) {
			tb, err := newTapeBackend(m, 256, s, s)
			if err != nil {
				b.Fatal(err)
			}
			defer tb.close()
			if err := tb.start(batch(0)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				switch mode {
				case "pipelined":
					_, _, err = tb.step(batch(i + 1))
				case "serial":
					load(tb.graphs[tb.cur], s, batch(i+1))
					_, _, err = tb.step(nil)
				case "serial-one-graph":
					load(tb.graphs[0], s, batch(i+1))
					_, err = tb.graphs[0].Run()
					tb.cur = 1
				case "run-only":
					_, _, err = tb.step(nil)
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := tb.update(0.1, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
