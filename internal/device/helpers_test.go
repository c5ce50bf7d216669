package device

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/model"
)

// The model's sizes: Fashion-MNIST images and classes.
const (
	testIn      = 784
	testClasses = 10
)

// graphKinds are the two graphs model.NewGraph builds: the fused one (the
// default) and the primitives as written (model.Unfused). Compile must
// lower both, and the executors must match the tape machine on both.
var graphKinds = []struct {
	name string
	opts []model.GraphOption
}{{"fused", nil}, {"unfused", []model.GraphOption{model.Unfused()}}}

// newGraph returns a model drawn from seed and its graph for batches of
// batch rows.
func newGraph(t testing.TB, batch int, train bool, seed int64, opts ...model.GraphOption) (*model.Model, *model.Graph) {
	t.Helper()
	m, err := model.New(testIn, testClasses, 0.01, seed)
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

// compileGraph compiles gr and returns a CPU executor holding a copy of its
// model's parameters.
func compileGraph(t testing.TB, gr *model.Graph, opts CompileOptions) (*Program, *CPUExecutor) {
	t.Helper()
	p, err := Compile(gr.Nodes(), opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	e, err := NewCPUExecutor(p)
	if err != nil {
		t.Fatalf("NewCPUExecutor: %v", err)
	}
	if err := e.SetParams(gr.Model.W, gr.Model.B); err != nil {
		t.Fatal(err)
	}
	return p, e
}

// randomDataset returns n images of testIn random bytes whose labels
// depend on them (the class whose block of pixels is brightest), so that
// training has something to learn.
func randomDataset(rng *rand.Rand, n int) (pix []byte, labels []uint8) {
	pix = make([]byte, n*testIn)
	labels = make([]uint8, n)
	block := testIn / testClasses
	for i := range labels {
		c := rng.IntN(testClasses)
		labels[i] = uint8(c)
		img := pix[i*testIn : (i+1)*testIn]
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

// randomBatch returns a Batch×In batch whose first rows rows hold random
// pixels in [0, 1] and random one-hot labels, and whose other rows are
// zero padding.
func randomBatch(rng *rand.Rand, batch, rows int) (x, y []float32) {
	x = make([]float32, batch*testIn)
	y = make([]float32, batch*testClasses)
	for r := range rows {
		for j := range testIn {
			x[r*testIn+j] = rng.Float32()
		}
		y[r*testClasses+rng.IntN(testClasses)] = 1
	}
	return x, y
}

// closeTo reports whether got is within atol + rtol·|want| of want; NaNs
// match only NaNs.
func closeTo(got, want, atol, rtol float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

// compareSlices fails t at the first few elements of got that are not close
// to want, and returns the largest absolute difference.
func compareSlices(t testing.TB, what string, got, want []float32, atol, rtol float64) float64 {
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
		if !closeTo(g, w, atol, rtol) {
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

// stepKinds counts a program's steps by kind and function.
func stepKinds(p *Program) map[string]int {
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

func (l launch) String() string {
	if l.kernel == "" {
		return fmt.Sprintf("step %d gemm %+v", l.step, l.gemm)
	}
	return fmt.Sprintf("step %d %s<<<%d, %d>>>%v", l.step, l.kernel, l.grid, l.block, l.args)
}
