// Package devicetest holds what the tests of device programs share: the
// reference executor, which runs a program.Program on the CPU in plain Go
// (the definition the CUDA executor is checked against; no production code
// runs programs on the CPU, where Gorgonia's tape machine trains), and
// helpers to build the model's graphs, data and comparisons. Only tests
// import it.
package devicetest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/program"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// The model's sizes: Fashion-MNIST images and classes.
const (
	In      = 784
	Classes = 10
)

// A GraphKind is one of the graphs model.NewGraph builds.
type GraphKind struct {
	Name string
	Opts []model.GraphOption
}

// GraphKinds returns the two graphs model.NewGraph builds: the fused one
// (the default) and the primitives as written (model.Unfused). Compile
// must lower both, and the executors must match the tape machine on both.
func GraphKinds() []GraphKind {
	return []GraphKind{{"fused", nil}, {"unfused", []model.GraphOption{model.Unfused()}}}
}

// NewGraph returns a model drawn from seed and its graph for batches of
// batch rows.
func NewGraph(t testing.TB, batch int, train bool, seed int64, opts ...model.GraphOption) (*model.Model, *model.Graph) {
	t.Helper()
	m, err := model.New(In, Classes, 0.01, seed)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := m.NewGraph(batch, train, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gr.Close() })
	return m, gr
}

// Compile compiles gr and returns a CPU executor holding a copy of its
// model's parameters.
func Compile(t testing.TB, gr *model.Graph, opts program.CompileOptions) (*program.Program, *Executor) {
	t.Helper()
	p, err := program.Compile(gr.Nodes(), opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	e, err := NewExecutor(p)
	if err != nil {
		t.Fatalf("NewExecutor: %v", err)
	}
	if err := e.SetParams(gr.Model.W, gr.Model.B); err != nil {
		t.Fatal(err)
	}
	return p, e
}

// RandomDataset returns n images of In random bytes whose labels
// depend on them (the class whose block of pixels is brightest), so that
// training has something to learn.
func RandomDataset(rng *rand.Rand, n int) (pix []byte, labels []uint8) {
	pix = make([]byte, n*In)
	labels = make([]uint8, n)
	block := In / Classes
	for i := range labels {
		c := rng.IntN(Classes)
		labels[i] = uint8(c)
		img := pix[i*In : (i+1)*In]
		for j := range img {
			v := rng.IntN(128)
			if j/block == c {
				v += 100
			}
			img[j] = byte(v)
		}
	}
	return pix, labels
}

// RandomBatch returns a Batch×In batch whose first rows rows hold random
// pixels in [0, 1] and random one-hot labels, and whose other rows are
// zero padding.
func RandomBatch(rng *rand.Rand, batch, rows int) (x, y []float32) {
	x = make([]float32, batch*In)
	y = make([]float32, batch*Classes)
	for r := range rows {
		for j := range In {
			x[r*In+j] = rng.Float32()
		}
		y[r*Classes+rng.IntN(Classes)] = 1
	}
	return x, y
}

// CloseTo reports whether got is within atol + rtol·|want| of want; NaNs
// match only NaNs.
func CloseTo(got, want, atol, rtol float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

// CompareSlices fails t at the first few elements of got that are not close
// to want, and returns the largest absolute difference.
func CompareSlices(t testing.TB, what string, got, want []float32, atol, rtol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	worst, bad := 0.0, 0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if d := math.Abs(g - w); d > worst {
			worst = d
		}
		if !CloseTo(g, w, atol, rtol) {
			if bad < 5 {
				t.Errorf("%s[%d] = %v, want %v", what, i, g, w)
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(got))
	}
	return worst
}

// StepKinds counts a program's steps by kind and function.
func StepKinds(p *program.Program) map[string]int {
	n := map[string]int{}
	for _, s := range p.Steps {
		k := s.Kind.String()
		if s.Fn != 0 {
			k += " " + s.Fn.String()
		}
		n[k]++
	}
	return n
}

// BenchmarkTrainStep times one training step at batch 256 from dataset
// bytes as the training loop runs it: GatherBatch, Run, the Loss and
// Logits reads (one wait for the GPU) and SGD.
func BenchmarkTrainStep(b *testing.B, newExecutor func(testing.TB, *program.Program) program.Executor) {
	const batch, n = 256, 10000
	m, gr := NewGraph(b, batch, true, 1)
	p, err := program.Compile(gr.Nodes(), program.CompileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e := newExecutor(b, p)
	rng := rand.New(rand.NewPCG(1, 1))
	pix, labels := RandomDataset(rng, n)
	if err := e.SetParams(m.W, m.B); err != nil {
		b.Fatal(err)
	}
	if err := e.LoadDataset(pix, labels); err != nil {
		b.Fatal(err)
	}
	order := rng.Perm(n)
	logits := make([]float32, batch*Classes)
	b.ResetTimer()
	for i := range b.N {
		start := (i * batch) % (n - batch)
		if err := e.GatherBatch(order[start : start+batch]); err != nil {
			b.Fatal(err)
		}
		if err := e.Run(); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Loss(); err != nil {
			b.Fatal(err)
		}
		if err := e.Logits(logits); err != nil {
			b.Fatal(err)
		}
		if err := e.SGD(0.01); err != nil {
			b.Fatal(err)
		}
	}
}

// RandomNorm returns a standardisation of In inputs with means and
// standard deviations of the sizes pixels have.
func RandomNorm(rng *rand.Rand) (mean, std []float32) {
	mean, std = make([]float32, In), make([]float32, In)
	for i := range mean {
		mean[i] = 0.6 * rng.Float32()
		std[i] = 0.01 + 0.4*rng.Float32()
	}
	return mean, std
}
