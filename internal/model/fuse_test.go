package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphKinds are the two forms NewGraph builds: fused (the default) and
// the primitives as written.
var graphKinds = []struct {
	name string
	opts []GraphOption
}{{"fused", nil}, {"unfused", []GraphOption{Unfused()}}}

// opKinds returns the kinds of the ops that compute the graph's outputs
// (logits, loss and, in a training graph, the gradients).
func opKinds(gr *Graph) map[string]bool {
	n := gr.Nodes()
	roots := []*G.Node{n.Logits, n.Loss}
	if n.WGrad != nil {
		roots = append(roots, n.WGrad, n.BGrad)
	}
	f := &fuser{g: n.Graph}
	kinds := map[string]bool{}
	seen := map[*G.Node]bool{}
	for len(roots) > 0 {
		x := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if seen[x] {
			continue
		}
		seen[x] = true
		if x.Op() != nil {
			kinds[OpKind(x.Op())] = true
		}
		roots = append(roots, f.children(x)...)
	}
	return kinds
}

// TestFuseRecognisesTheModel checks that the pass rewrites the whole
// model: the fused training graph runs the project's ops and no Gorgonia
// op but the gradient's constant seed. It fails when a Gorgonia version
// builds the primitives differently from the v0.9.18 that go.mod pins, as
// the matchers read Gorgonia's unexported op types and printed forms.
func TestFuseRecognisesTheModel(t *testing.T) {
	m, err := New(784, 10, 0.01, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, train := range []bool{false, true} {
		for _, k := range graphKinds {
			gr, err := m.NewGraph(256, train, k.opts...)
			if err != nil {
				t.Fatal(err)
			}
			kinds := opKinds(gr)
			gr.Close()
			want := []string{"LinearOp", "SoftmaxCEOp"}
			if train {
				want = append(want, "SoftmaxCEGradOp", "GemmOp", "ColSumOp", "constantScalar")
			}
			got := slices.Sorted(func(yield func(string) bool) {
				for k := range kinds {
					if !yield(k) {
						return
					}
				}
			})
			if k.name == "fused" {
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("train=%v: the fused graph runs %v, want %v: the Fuse pass no longer recognises the graph Gorgonia builds (go.mod pins gorgonia v0.9.18)", train, got, want)
				}
				continue
			}
			for _, w := range want {
				if w != "constantScalar" && kinds[w] {
					t.Errorf("train=%v: the unfused graph runs %s", train, w)
				}
			}
			if !kinds["repeatOp"] {
				t.Errorf("train=%v: the unfused graph has no broadcast: %v", train, got)
			}
		}
	}
}

// TestFusedMatchesPrimitives runs the fused graph and the graph of
// primitives on the same random batches and compares the loss, the
// logits and the gradients, to float32 rounding: relative to the largest
// magnitude of each output, as sums are ordered differently.
func TestFusedMatchesPrimitives(t *testing.T) {
	// The primitives' products run on the BLAS Gorgonia keeps for the
	// process; give it the one the fused ops use, as the CLI does, so the
	// two graphs differ only in what the fusion changes.
	prev := G.WhichBLAS()
	G.Use(defaultBLAS)
	defer G.Use(prev)
	tests := []struct {
		name              string
		in, out, batch    int
		rows              int     // labelled rows; the rest are padding
		scale             float32 // pixel scale
		hugeLogits        bool    // weights that make logits of about ±1e4
		padX              float32 // pixel value of padding rows
		wantSameLossScale float64
	}{
		{name: "mnist shape", in: 784, out: 10, batch: 256, rows: 256, scale: 1},
		{name: "padding rows", in: 784, out: 10, batch: 256, rows: 97, scale: 1, padX: 0.5},
		{name: "one row", in: 20, out: 3, batch: 1, rows: 1, scale: 1},
		{name: "small", in: 6, out: 4, batch: 5, rows: 4, scale: 2},
		{name: "logits ±1e4", in: 30, out: 10, batch: 16, rows: 13, scale: 1, hugeLogits: true},
		{name: "logits ±1e4, mnist shape", in: 784, out: 10, batch: 256, rows: 200, scale: 1, hugeLogits: true, padX: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, x, y := testModel(t, tt.in, tt.out, tt.batch, tt.rows, tt.scale)
			if tt.hugeLogits {
				// Each input pushes one class up by about 1e4 and another
				// down, so every row's logits span about ±1e4.
				rng := rand.New(rand.NewPCG(3, 3))
				for i := range m.W {
					m.W[i] = float32(rng.NormFloat64()) * 1e4 / float32(tt.in)
				}
			}
			for i := tt.rows * tt.in; i < len(x); i++ {
				x[i] = tt.padX
			}
			compareWithPrimitives(t, m, tt.batch, x, y, 2e-6)
		})
	}
}

// compareWithPrimitives runs the fused graph and the graph of primitives,
// training and evaluation, on the batch x, y and compares the loss (to
// lossTol, relative), the logits and the gradients, to float32 rounding:
// relative to the largest magnitude of each output, as sums are ordered
// differently. The fused losses must also be those of float64 arithmetic
// on the graph's logits, to 1e-6. The caller gives Gorgonia the fused
// ops' BLAS.
func compareWithPrimitives(t *testing.T, m *Model, batch int, x, y []float32, lossTol float64) {
	t.Helper()
	type result struct {
		loss       float64
		logits     []float32
		dW, dB     []float32
		evalLoss   float64
		evalLogits []float32
	}
	var res [2]result
	for i, k := range graphKinds {
		gr, err := m.NewGraph(batch, true, k.opts...)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := m.NewGraph(batch, false, k.opts...)
		if err != nil {
			t.Fatal(err)
		}
		// Run twice: the second run must give the first's results
		// (fused ops reuse their buffers).
		runGraph(t, gr, x, y)
		r := &res[i]
		r.loss = runGraph(t, gr, x, y)
		r.logits = slices.Clone(gr.Logits())
		dW, dB, err := gr.Grads()
		if err != nil {
			t.Fatal(err)
		}
		r.dW, r.dB = slices.Clone(dW), slices.Clone(dB)
		r.evalLoss = runGraph(t, ev, x, y)
		r.evalLogits = slices.Clone(ev.Logits())
		gr.Close()
		ev.Close()
	}
	f, p := res[0], res[1]
	if math.IsNaN(f.loss) || math.IsInf(f.loss, 0) {
		t.Fatalf("fused loss %v", f.loss)
	}
	closeRel(t, "loss", []float32{float32(f.loss)}, []float32{float32(p.loss)}, lossTol)
	closeRel(t, "eval loss", []float32{float32(f.evalLoss)}, []float32{float32(p.evalLoss)}, lossTol)
	if ref := float64Loss(f.logits, y, m.Out); math.Abs(f.loss-ref) > 1e-6*math.Abs(ref) {
		t.Fatalf("fused loss %v, float64 arithmetic on its logits gives %v", f.loss, ref)
	}
	if ref := float64Loss(f.evalLogits, y, m.Out); math.Abs(f.evalLoss-ref) > 1e-6*math.Abs(ref) {
		t.Fatalf("fused eval loss %v, float64 arithmetic on its logits gives %v", f.evalLoss, ref)
	}
	closeRel(t, "logits", f.logits, p.logits, 1e-6)
	closeRel(t, "eval logits", f.evalLogits, p.evalLogits, 1e-6)
	closeRel(t, "dW", f.dW, p.dW, 1e-5)
	closeRel(t, "db", f.dB, p.dB, 1e-5)
}

// float64Loss is −Σ y⊙logsoftmax(o) / Σ y for logits o and labels y (rows
// of k), in float64.
func float64Loss(o, y []float32, k int) float64 {
	var total, count float64
	for i := 0; i+k <= len(o); i += k {
		mx := math.Inf(-1)
		for _, v := range o[i : i+k] {
			mx = math.Max(mx, float64(v))
		}
		s := 0.0
		for _, v := range o[i : i+k] {
			s += math.Exp(float64(v) - mx)
		}
		for j, v := range o[i : i+k] {
			total -= float64(y[i+j]) * (float64(v) - mx - math.Log(s))
			count += float64(y[i+j])
		}
	}
	return total / count
}

// TestFusedMatchesPrimitivesSoftLabels is TestFusedMatchesPrimitives on
// labels that are not one-hot, as label smoothing makes them: the fused
// loss takes a row's label sum into account (a row summing to exactly 1
// takes its fast path, any other its general one), and its derivative
// p·rowsum(y) − y; the primitives compute −Σ y⊙logsoftmax(o) / Σ y as
// written. Padding rows stay all zero. The primitives' loss sums the
// batch's B·K products y⊙logsoftmax in float32 one after another
// (Gorgonia's Sum), all of them non-zero here where one-hot labels leave
// one a row: it is within B·K·2⁻²⁴ of the exact sum, relative, not 2e-6
// (1.1e-5 off with ±1e4 logits, where the fused loss, summed in float64
// by rows, is 1e-7 off); the fused loss must match float64 arithmetic to
// 1e-6.
func TestFusedMatchesPrimitivesSoftLabels(t *testing.T) {
	prev := G.WhichBLAS()
	G.Use(defaultBLAS)
	defer G.Use(prev)
	const k = 10
	smoothed := func(eps float32) func(rng *rand.Rand, row []float32) {
		// train's loadSmoothed: (1−ε)·one-hot + ε/K.
		return func(rng *rand.Rand, row []float32) {
			row[rng.IntN(k)] = 1
			for j := range row {
				row[j] = (1-eps)*row[j] + eps/k
			}
		}
	}
	tests := []struct {
		name       string
		in, batch  int
		rows       int // labelled rows; the rest are padding
		hugeLogits bool
		label      func(rng *rand.Rand, row []float32)
		// sumOne: every labelled row sums to exactly 1 in float32 (the
		// fast path); else at least one does not (the general one).
		sumOne bool
	}{
		{name: "smoothed ε=0.1, padding rows", in: 784, batch: 256, rows: 97, label: smoothed(0.1)},
		{name: "smoothed ε=0.3, small", in: 6, batch: 5, rows: 4, label: smoothed(0.3)},
		{name: "halves and quarters", in: 784, batch: 64, rows: 50, sumOne: true,
			label: func(rng *rand.Rand, row []float32) {
				p := rng.Perm(k)
				row[p[0]], row[p[1]], row[p[2]] = 0.5, 0.25, 0.25
			}},
		{name: "random distributions", in: 30, batch: 16, rows: 13,
			label: func(rng *rand.Rand, row []float32) {
				var s float32
				for j := range row {
					row[j] = rng.Float32()
					s += row[j]
				}
				for j := range row {
					row[j] /= s
				}
			}},
		{name: "smoothed ε=0.1, logits ±1e4", in: 784, batch: 256, rows: 200, hugeLogits: true, label: smoothed(0.1)},
		// Rows that weigh 0.5 to 2 (the loss's Σ y): the derivative's
		// p·rowsum(y) is not p.
		{name: "weighted rows", in: 30, batch: 16, rows: 13,
			label: func(rng *rand.Rand, row []float32) {
				for j := range row {
					row[j] = 0.05 + 0.15*rng.Float32()
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, x, _ := testModel(t, tt.in, k, tt.batch, tt.rows, 1)
			if tt.hugeLogits {
				rng := rand.New(rand.NewPCG(3, 3))
				for i := range m.W {
					m.W[i] = float32(rng.NormFloat64()) * 1e4 / float32(tt.in)
				}
			}
			for i := tt.rows * tt.in; i < len(x); i++ {
				x[i] = 0.5
			}
			rng := rand.New(rand.NewPCG(4, 4))
			y := make([]float32, tt.batch*k)
			sumOne := 0
			for r := 0; r < tt.rows; r++ {
				row := y[r*k : (r+1)*k]
				tt.label(rng, row)
				var s float32
				for _, v := range row {
					s += v
				}
				if s == 1 {
					sumOne++
				}
				if n := slices.IndexFunc(row, func(v float32) bool { return v == 0 }); !tt.sumOne && n >= 0 {
					t.Fatalf("row %d %v has a zero: not smoothed", r, row)
				}
			}
			if tt.sumOne && sumOne != tt.rows || !tt.sumOne && sumOne == tt.rows {
				t.Fatalf("%d of %d labelled rows sum to exactly 1: the case no longer tests the path it is for", sumOne, tt.rows)
			}
			compareWithPrimitives(t, m, tt.batch, x, y, float64(tt.batch*k)*0x1p-24)
		})
	}
}

// closeRel compares got with want element by element, relative to the
// largest magnitude in want.
func closeRel(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", name, len(got), len(want))
	}
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*scale) {
			t.Fatalf("%s[%d] = %v, primitives give %v (|Δ| %g > %g)", name, i, got[i], want[i], d, tol*scale)
		}
	}
}

// TestBiasAddOp: a bias added to something other than a matrix product
// fuses to BiasAddOp, whose values and gradients are G.BroadcastAdd's.
func TestBiasAddOp(t *testing.T) {
	const rows, cols = 7, 5
	rng := rand.New(rand.NewPCG(5, 5))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	xv, bv, cv := rnd(rows*cols), rnd(cols), rnd(rows*cols)
	type result struct{ out, dx, db []float32 }
	var res [2]result
	for i, fuse := range []bool{true, false} {
		g := G.NewGraph()
		x := matrix(g, "x", rows, cols, slices.Clone(xv))
		b := G.NewVector(g, tensor.Float32, G.WithShape(cols), G.WithName("b"),
			G.WithValue(tensor.New(tensor.WithShape(cols), tensor.WithBacking(slices.Clone(bv)))))
		c := matrix(g, "c", rows, cols, slices.Clone(cv))
		o := G.Must(G.BroadcastAdd(G.Must(G.Exp(x)), b, nil, []byte{0}))
		if fuse {
			f, err := Fuse(defaultBLAS, g, o)
			if err != nil {
				t.Fatal(err)
			}
			if o = f[0]; OpKind(o.Op()) != "BiasAddOp" {
				t.Fatalf("fused to %s, want BiasAddOp", OpKind(o.Op()))
			}
		}
		cost := G.Must(G.Sum(G.Must(G.HadamardProd(o, c))))
		grads, err := G.Grad(cost, x, b)
		if err != nil {
			t.Fatal(err)
		}
		var ov, dxv, dbv G.Value
		G.Read(o, &ov)
		G.Read(grads[0], &dxv)
		G.Read(grads[1], &dbv)
		vm := G.NewTapeMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		res[i] = result{ov.Data().([]float32), dxv.Data().([]float32), dbv.Data().([]float32)}
	}
	closeRel(t, "x+b", res[0].out, res[1].out, 0)
	closeRel(t, "d/dx", res[0].dx, res[1].dx, 1e-6)
	closeRel(t, "d/db", res[0].db, res[1].db, 1e-6)
}

// TestSoftmaxCEGradWithoutForward: the derivative op computes the
// probabilities itself when its forward op did not just run on the same
// logits, and gets the same result as from the forward op's.
func TestSoftmaxCEGradWithoutForward(t *testing.T) {
	const rows, k = 9, 4
	rng := rand.New(rand.NewPCG(6, 6))
	o := make([]float32, rows*k)
	for i := range o {
		o[i] = float32(rng.NormFloat64() * 3)
	}
	y := make([]float32, rows*k)
	for r := 0; r < rows-2; r++ { // two padding rows
		y[r*k+rng.IntN(k)] = 1
	}
	ot := tensor.New(tensor.WithShape(rows, k), tensor.WithBacking(o))
	yt := tensor.New(tensor.WithShape(rows, k), tensor.WithBacking(y))
	fwd := &SoftmaxCEOp{}
	loss, err := fwd.Do(ot, yt)
	if err != nil {
		t.Fatal(err)
	}
	g := G.NewF32(0.5)
	cached, err := (&SoftmaxCEGradOp{fwd: fwd}).Do(ot, yt, loss, g)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := (&SoftmaxCEGradOp{}).Do(ot, yt, loss, g)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cached.Data().([]float32), alone.Data().([]float32)
	if !slices.Equal(a, b) {
		t.Errorf("from the forward op's probabilities %v, computed alone %v", a, b)
	}
	for r := rows - 2; r < rows; r++ {
		if slices.ContainsFunc(b[r*k:(r+1)*k], func(v float32) bool { return v != 0 }) {
			t.Errorf("padding row %d has gradient %v", r, b[r*k:(r+1)*k])
		}
	}
}

// TestExpf checks the fused ops' exp against math.Exp to 2 ulp over the
// range softmax uses (arguments ≤ 0), and its edges.
func TestExpf(t *testing.T) {
	ulp := func(v float32) float64 {
		return float64(math.Nextafter32(v, float32(math.Inf(1))) - v)
	}
	for x := float32(-87.3); x <= 88.7; x += 0.0137 {
		want := float32(math.Exp(float64(x)))
		if d := math.Abs(float64(expf(x)) - float64(want)); d > 2*ulp(want) {
			t.Fatalf("expf(%v) = %v, want %v (%g ulp)", x, expf(x), want, d/ulp(want))
		}
	}
	edges := []struct{ x, want float32 }{
		{0, 1}, {float32(math.Inf(-1)), 0}, {-200, 0}, {float32(math.Inf(1)), float32(math.Inf(1))}, {100, float32(math.Inf(1))},
	}
	for _, e := range edges {
		if got := expf(e.x); got != e.want {
			t.Errorf("expf(%v) = %v, want %v", e.x, got, e.want)
		}
	}
	if got := expf(float32(math.NaN())); got == got {
		t.Errorf("expf(NaN) = %v", got)
	}
}

// loggingBLAS records the shapes of the Sgemm calls Gorgonia and the fused
// ops make.
type loggingBLAS struct {
	gonum.Implementation
	calls []string
}

func (l *loggingBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	t := func(x blas.Transpose) string {
		if x == blas.NoTrans {
			return "N"
		}
		return "T"
	}
	l.calls = append(l.calls, fmt.Sprintf("%s%s m=%d n=%d k=%d", t(tA), t(tB), m, n, k))
	l.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// TestStepBLASCalls: a training step makes exactly two matrix products,
// X·W and Xᵀ·dlogits, on both graphs; the product dlogits·Wᵀ (∂loss/∂X,
// which G.Grad builds) never runs, so internal/blas need not specialise
// it. A forward-only step makes one, X·W: the primitives the fused ops
// replaced are not run as well.
func TestStepBLASCalls(t *testing.T) {
	m, x, y := testModel(t, 784, 10, 256, 256, 1)
	for _, train := range []bool{true, false} {
		for _, k := range graphKinds {
			lb := &loggingBLAS{}
			gr, err := m.NewGraph(256, train, append(k.opts, WithBLAS(lb))...)
			if err != nil {
				t.Fatal(err)
			}
			prev := G.WhichBLAS()
			G.Use(lb)
			runGraph(t, gr, x, y)
			G.Use(prev)
			gr.Close()
			got := slices.Sorted(slices.Values(lb.calls))
			want := []string{"NN m=256 n=10 k=784"}
			if train {
				want = append(want, "TN m=784 n=10 k=256")
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, train=%v: Sgemm calls %q, want %q", k.name, train, got, want)
			}
		}
	}
}
