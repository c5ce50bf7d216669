package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// run builds a graph with f, runs it on the tape machine and returns the
// values read from the nodes f returns.
func run(t *testing.T, f func(g *G.ExprGraph) []*G.Node) []G.Value {
	t.Helper()
	g := G.NewGraph()
	outs := f(g)
	vals := make([]G.Value, len(outs))
	for i, n := range outs {
		G.Read(n, &vals[i])
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("RunAll: %v", err)
	}
	return vals
}

func matrix(g *G.ExprGraph, name string, rows, cols int, data []float32) *G.Node {
	return G.NewMatrix(g, tensor.Float32, G.WithShape(rows, cols), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(data))))
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// The chapter's own softmax and cross-entropy, literally: the references
// that the stable forms the model uses are checked against.

// Softmax returns exp(o) / sum(exp(o)) along each row of the B×K matrix o,
// computed stably (each row shifted by its maximum first).
func Softmax(o *G.Node) (*G.Node, error) {
	z, err := shifted(o)
	if err != nil {
		return nil, err
	}
	e, err := G.Exp(z)
	if err != nil {
		return nil, fmt.Errorf("softmax exp: %w", err)
	}
	s, err := G.Sum(e, 1)
	if err != nil {
		return nil, fmt.Errorf("softmax sum: %w", err)
	}
	p, err := G.BroadcastHadamardDiv(e, s, nil, []byte{1})
	if err != nil {
		return nil, fmt.Errorf("softmax divide: %w", err)
	}
	return p, nil
}

// CrossEntropy is the chapter's cross-entropy of predicted probabilities
// yHat (B×K) against one-hot labels y (B×K): the mean over labelled rows of
// -log yHat[i, y_i]. Rows of y that are all zero are padding: they add
// nothing, and the mean divides by the number of labelled rows, sum(y).
func CrossEntropy(yHat, y *G.Node) (*G.Node, error) {
	l, err := G.Log(yHat)
	if err != nil {
		return nil, fmt.Errorf("cross-entropy log: %w", err)
	}
	return meanPicked(l, y)
}

// isFinite reports whether v is neither NaN nor infinite.
func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func TestSoftmaxRows(t *testing.T) {
	tests := []struct {
		name string
		data []float32
	}{
		{"chapter random", []float32{0.1, -1.2, 0.5, 2.0, 0.3, 0.7, -0.4, 1.1, 0.0, 0.9}},
		{"huge logits", []float32{1e4, -1e4, 0, 5e3, 1e4, -1e4, 1e4, 1e4, 0, -5e3}},
		{"equal", []float32{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := run(t, func(g *G.ExprGraph) []*G.Node {
				return []*G.Node{G.Must(Softmax(matrix(g, "o", 2, 5, tt.data)))}
			})
			p := vals[0].Data().([]float32)
			for r := 0; r < 2; r++ {
				sum := 0.0
				for _, v := range p[r*5 : r*5+5] {
					if !(v >= 0) {
						t.Fatalf("row %d has entry %v < 0 or NaN: %v", r, v, p)
					}
					sum += float64(v)
				}
				if !near(sum, 1, 1e-6) {
					t.Errorf("row %d sums to %v, want 1", r, sum)
				}
			}
		})
	}
}

func onehot(labels []int, k int) []float32 {
	y := make([]float32, len(labels)*k)
	for i, l := range labels {
		y[i*k+l] = 1
	}
	return y
}

// The chapter's cross-entropy example.
func TestCrossEntropyChapter(t *testing.T) {
	vals := run(t, func(g *G.ExprGraph) []*G.Node {
		yHat := matrix(g, "y_hat", 2, 3, []float32{0.1, 0.3, 0.6, 0.3, 0.2, 0.5})
		y := matrix(g, "y", 2, 3, onehot([]int{0, 2}, 3))
		return []*G.Node{G.Must(CrossEntropy(yHat, y))}
	})
	if got := float64(vals[0].Data().(float32)); !near(got, 1.4978662, 1e-6) {
		t.Errorf("cross-entropy = %v, want 1.4978662", got)
	}
}

func TestCrossEntropyFromLogitsMatchesProbabilities(t *testing.T) {
	logits := []float32{0.2, -0.5, 1.5, 0.0, 2.0, -1.0}
	vals := run(t, func(g *G.ExprGraph) []*G.Node {
		o1 := matrix(g, "o1", 2, 3, logits)
		o2 := matrix(g, "o2", 2, 3, logits)
		y1 := matrix(g, "y1", 2, 3, onehot([]int{2, 1}, 3))
		y2 := matrix(g, "y2", 2, 3, onehot([]int{2, 1}, 3))
		return []*G.Node{G.Must(CrossEntropyFromLogits(o1, y1)), G.Must(CrossEntropy(G.Must(Softmax(o2)), y2))}
	})
	a, b := float64(vals[0].Data().(float32)), float64(vals[1].Data().(float32))
	if !near(a, b, 1e-6) {
		t.Errorf("from logits %v, from probabilities %v", a, b)
	}
}

// testModel returns a small model with random parameters and a batch.
func testModel(t *testing.T, in, out, batch, rows int, scale float32) (*Model, []float32, []float32) {
	t.Helper()
	m, err := New(in, out, 0.5, 7)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range m.B {
		m.B[i] = float32(rng.NormFloat64())
	}
	x := make([]float32, batch*in)
	y := make([]float32, batch*out)
	for r := 0; r < rows; r++ {
		for j := 0; j < in; j++ {
			x[r*in+j] = scale * rng.Float32()
		}
		y[r*out+rng.IntN(out)] = 1
	}
	return m, x, y
}

func runGraph(t *testing.T, gr *Graph, x, y []float32) float64 {
	t.Helper()
	gx, gy := gr.Inputs()
	copy(gx, x)
	copy(gy, y)
	loss, err := gr.Run()
	if err != nil {
		t.Fatal(err)
	}
	return loss
}

// hostLoss computes the loss in float64 on the host, for finite differences.
func hostLoss(m *Model, x, y []float32, batch int) float64 {
	total, count := 0.0, 0.0
	for r := 0; r < batch; r++ {
		o := make([]float64, m.Out)
		mx := math.Inf(-1)
		for k := 0; k < m.Out; k++ {
			o[k] = float64(m.B[k])
			for j := 0; j < m.In; j++ {
				o[k] += float64(x[r*m.In+j]) * float64(m.W[j*m.Out+k])
			}
			mx = math.Max(mx, o[k])
		}
		s := 0.0
		for k := range o {
			s += math.Exp(o[k] - mx)
		}
		for k := range o {
			yk := float64(y[r*m.Out+k])
			total -= yk * (o[k] - mx - math.Log(s))
			count += yk
		}
	}
	return total / count
}

// TestGradientFiniteDifference checks Gorgonia's symbolic gradients of the
// whole loss against central differences of a float64 host computation.
func TestGradientFiniteDifference(t *testing.T) {
	for _, k := range graphKinds {
		t.Run(k.name, func(t *testing.T) { testGradientFiniteDifference(t, k.opts...) })
	}
}

func testGradientFiniteDifference(t *testing.T, opts ...GraphOption) {
	const in, out, batch, rows = 6, 4, 5, 4 // one padded row
	m, x, y := testModel(t, in, out, batch, rows, 1)
	gr, err := m.NewGraph(batch, true, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	loss := runGraph(t, gr, x, y)
	if want := hostLoss(m, x, y, batch); !near(loss, want, 1e-5) {
		t.Fatalf("graph loss %v, host loss %v", loss, want)
	}
	dW, dB, err := gr.Grads()
	if err != nil {
		t.Fatal(err)
	}
	const h = 1e-3
	check := func(name string, p []float32, grad []float32) {
		for i := range p {
			orig := p[i]
			p[i] = orig + h
			lp := hostLoss(m, x, y, batch)
			p[i] = orig - h
			lm := hostLoss(m, x, y, batch)
			p[i] = orig
			fd := (lp - lm) / (2 * h)
			if math.Abs(fd-float64(grad[i])) > 1e-4+1e-3*math.Abs(fd) {
				t.Errorf("d loss/d %s[%d]: graph %v, finite difference %v", name, i, grad[i], fd)
			}
		}
	}
	check("W", m.W, dW)
	check("b", m.B, dB)

	// A second Run must give the same gradients, not their sum.
	w1 := append([]float32{}, dW...)
	runGraph(t, gr, x, y)
	dW2, _, _ := gr.Grads()
	for i := range w1 {
		if !near(float64(dW2[i]), float64(w1[i]), 1e-6) {
			t.Fatalf("second run: dW[%d] = %v, first run %v: gradients accumulate across runs", i, dW2[i], w1[i])
		}
	}
}

func TestHugeLogitsStayFinite(t *testing.T) {
	for _, k := range graphKinds {
		t.Run(k.name, func(t *testing.T) { testHugeLogitsStayFinite(t, k.opts...) })
	}
}

func testHugeLogitsStayFinite(t *testing.T, opts ...GraphOption) {
	const in, out, batch = 3, 4, 2
	m, _, _ := testModel(t, in, out, batch, batch, 1)
	x := []float32{1, 0, 0, 0, 1, 0}
	y := onehot([]int{1, 3}, out)
	for i := range m.W {
		m.W[i] = 0
	}
	// Logits of +1e4 and -1e4 in each row; the labelled class is the low one.
	m.W[0*out+0], m.W[0*out+1] = 1e4, -1e4
	m.W[1*out+2], m.W[1*out+3] = 1e4, -1e4
	gr, err := m.NewGraph(batch, true, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	loss := runGraph(t, gr, x, y)
	if !isFinite(loss) || !near(loss, 2e4, 1e-4) {
		t.Fatalf("loss = %v, want about 2e4 and finite", loss)
	}
	dW, dB, err := gr.Grads()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range append(append([]float32{}, dW...), dB...) {
		if !isFinite(float64(g)) {
			t.Fatalf("gradient not finite: dW=%v dB=%v", dW, dB)
		}
	}
}

// Padding rows (all-zero labels) must not change the loss or gradients.
func TestPaddingIsIgnored(t *testing.T) {
	for _, k := range graphKinds {
		t.Run(k.name, func(t *testing.T) { testPaddingIsIgnored(t, k.opts...) })
	}
}

func testPaddingIsIgnored(t *testing.T, opts ...GraphOption) {
	const in, out, rows = 5, 3, 3
	m, x, y := testModel(t, in, out, rows, rows, 1)
	exact, err := m.NewGraph(rows, true, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer exact.Close()
	padded, err := m.NewGraph(rows+4, true, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer padded.Close()
	l1 := runGraph(t, exact, x, y)
	px := make([]float32, (rows+4)*in)
	py := make([]float32, (rows+4)*out)
	copy(px, x)
	copy(py, y)
	for i := rows * in; i < len(px); i++ {
		px[i] = 0.5 // padding pixels need not be zero
	}
	l2 := runGraph(t, padded, px, py)
	if !near(l1, l2, 1e-6) {
		t.Errorf("loss exact %v, padded %v", l1, l2)
	}
	w1, b1, _ := exact.Grads()
	w2, b2, _ := padded.Grads()
	for i := range w1 {
		if !near(float64(w1[i]), float64(w2[i]), 1e-5) {
			t.Fatalf("dW[%d]: exact %v, padded %v", i, w1[i], w2[i])
		}
	}
	for i := range b1 {
		if !near(float64(b1[i]), float64(b2[i]), 1e-5) {
			t.Fatalf("dB[%d]: exact %v, padded %v", i, b1[i], b2[i])
		}
	}
}

// SGD must update the model's own slices, which every graph shares.
func TestSGDUpdatesSharedParameters(t *testing.T) {
	for _, k := range graphKinds {
		t.Run(k.name, func(t *testing.T) { testSGDUpdatesSharedParameters(t, k.opts...) })
	}
}

func testSGDUpdatesSharedParameters(t *testing.T, opts ...GraphOption) {
	const in, out, batch = 4, 3, 2
	m, x, y := testModel(t, in, out, batch, batch, 1)
	train, err := m.NewGraph(batch, true, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer train.Close()
	eval, err := m.NewGraph(batch, false, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer eval.Close()
	before := runGraph(t, eval, x, y)
	w0 := append([]float32{}, m.W...)
	for i := 0; i < 20; i++ {
		runGraph(t, train, x, y)
		if err := train.SGD(0.5); err != nil {
			t.Fatal(err)
		}
	}
	changed := false
	for i := range w0 {
		changed = changed || w0[i] != m.W[i]
	}
	if !changed {
		t.Fatal("SGD did not change Model.W")
	}
	after := runGraph(t, eval, x, y)
	if !(after < before) {
		t.Errorf("eval loss before %v, after 20 SGD steps %v: want it lower", before, after)
	}
	if want := hostLoss(m, x, y, batch); !near(after, want, 1e-5) {
		t.Errorf("eval graph loss %v, host loss with Model.W %v", after, want)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		in, out int
		sigma   float64
	}{{0, 10, 0.01}, {784, 1, 0.01}, {784, 10, -1}, {784, 10, math.NaN()}, {784, 10, math.Inf(1)}}
	for _, tt := range tests {
		if _, err := New(tt.in, tt.out, tt.sigma, 1); err == nil {
			t.Errorf("New(%d, %d, %v) succeeded, want error", tt.in, tt.out, tt.sigma)
		}
	}
	a, _ := New(784, 10, 0.01, 42)
	b, _ := New(784, 10, 0.01, 42)
	for i := range a.W {
		if a.W[i] != b.W[i] {
			t.Fatal("same seed gave different weights")
		}
	}
}

// FromParams refuses parameters a model cannot use: NaN or infinite
// values, and finite weights so large that logits would overflow float32.
func TestFromParamsRange(t *testing.T) {
	big := float32(1e37)
	tests := []struct {
		name string
		w, b []float32
		ok   bool
	}{
		{"ordinary", []float32{0.1, -0.2, 0.3, 0.4}, []float32{1, -1}, true},
		{"large but safe", []float32{1e20, -1e20, 1e20, 1e20}, []float32{1e20, 0}, true},
		{"NaN", []float32{float32(math.NaN()), 0, 0, 0}, []float32{0, 0}, false},
		{"Inf bias", []float32{0, 0, 0, 0}, []float32{0, float32(math.Inf(-1))}, false},
		{"sum overflows", []float32{big, 0, big, 0}, []float32{0, 0}, false},
	}
	for _, tt := range tests {
		_, err := FromParams(2, 2, tt.w, tt.b)
		if (err == nil) != tt.ok {
			t.Errorf("%s: FromParams error %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
