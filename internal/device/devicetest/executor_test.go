package devicetest

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/program"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// TestCPUExecutorMatchesTapeMachine runs one batch through Gorgonia's tape
// machine (model.Graph) and through the compiled program on the CPU
// executor, and compares loss, logits and gradients.
func TestCPUExecutorMatchesTapeMachine(t *testing.T) {
	tests := []executorCase{
		{name: "full batch", batch: 256, rows: 256},
		{name: "padded batch", batch: 256, rows: 37},
		{name: "one row", batch: 4, rows: 1},
		{name: "huge logits", batch: 256, rows: 200, bias: 1e4},
	}
	for _, k := range GraphKinds() {
		for i, tt := range tests {
			t.Run(k.Name+"/"+tt.name, func(t *testing.T) { testCPUExecutorMatchesTapeMachine(t, i, tt, k.Opts) })
		}
	}
}

// executorCase is one batch of TestCPUExecutorMatchesTapeMachine.
type executorCase struct {
	name  string
	batch int
	rows  int     // labelled rows; the rest are padding
	bias  float32 // ±bias on the first two classes: huge logits
}

func testCPUExecutorMatchesTapeMachine(t *testing.T, i int, tt executorCase, opts []model.GraphOption) {
	m, gr := NewGraph(t, tt.batch, true, int64(i+1), opts...)
	if tt.bias != 0 {
		m.B[0], m.B[1] = tt.bias, -tt.bias
	}
	_, e := Compile(t, gr, program.CompileOptions{})
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	x, y := RandomBatch(rng, tt.batch, tt.rows)
	gx, gy := gr.Inputs()
	copy(gx, x)
	copy(gy, y)
	wantLoss, err := gr.Run()
	if err != nil {
		t.Fatal(err)
	}
	wantDW, wantDB, err := gr.Grads()
	if err != nil {
		t.Fatal(err)
	}

	if err := e.SetBatch(x, y); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	loss, err := e.Loss()
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(wantLoss) || math.IsInf(wantLoss, 0) {
		t.Fatalf("tape machine loss %v: the test case is broken", wantLoss)
	}
	if !CloseTo(float64(loss), wantLoss, 1e-6, 1e-5) {
		t.Errorf("loss = %v, tape machine %v", loss, wantLoss)
	}
	logits := make([]float32, tt.batch*Classes)
	if err := e.Logits(logits); err != nil {
		t.Fatal(err)
	}
	dl := CompareSlices(t, "logits", logits, gr.Logits(), 1e-5, 1e-5)
	dW, dB := make([]float32, In*Classes), make([]float32, Classes)
	if err := e.Grads(dW, dB); err != nil {
		t.Fatal(err)
	}
	dw := CompareSlices(t, "dW", dW, wantDW, 1e-6, 1e-4)
	db := CompareSlices(t, "db", dB, wantDB, 1e-6, 1e-4)
	t.Logf("loss %v (tape %v); max |Δ| logits %.3g, dW %.3g, db %.3g", loss, wantLoss, dl, dw, db)
	if tt.bias != 0 {
		// The logits must really be huge, and the gradient of the
		// saturated class must not vanish into NaN.
		if math.Abs(float64(logits[0])) < 0.9*float64(tt.bias) {
			t.Errorf("logit[0] = %v, want about %v", logits[0], tt.bias)
		}
		if dB[0] == 0 || math.IsNaN(float64(dB[0])) {
			t.Errorf("db[0] = %v, want a finite non-zero gradient", dB[0])
		}
	}
}

// TestCPUTrainingMatchesTapeMachine trains the same model from the same
// seed on the same batches with model.Graph and with the CPU executor fed
// from dataset bytes, and compares the parameters at the end.
func TestCPUTrainingMatchesTapeMachine(t *testing.T) {
	for _, k := range GraphKinds() {
		t.Run(k.Name, func(t *testing.T) { testCPUTrainingMatchesTapeMachine(t, k.Opts) })
	}
}

func testCPUTrainingMatchesTapeMachine(t *testing.T, opts []model.GraphOption) {
	const (
		batch = 64
		steps = 300
		lr    = 0.1
		n     = 1000
	)
	rng := rand.New(rand.NewPCG(3, 4))
	pix, labels := RandomDataset(rng, n)
	set := &dataset.Set{Pix: pix, Labels: labels, N: n, Rows: 28, Cols: 28}

	m, gr := NewGraph(t, batch, true, 42, opts...)
	_, e := Compile(t, gr, program.CompileOptions{})
	if err := e.LoadDataset(pix, labels); err != nil {
		t.Fatal(err)
	}
	w0 := slices.Clone(m.W)

	order := rng.Perm(n)
	var firstLoss, lastLoss float32
	for step := range steps {
		start := (step * batch) % n
		idx := order[start:min(start+batch, n)] // the last batch of an epoch is short: padding
		x, y := gr.Inputs()
		clear(x)
		clear(y)
		set.Gather(idx, x, y)
		if _, err := gr.Run(); err != nil {
			t.Fatal(err)
		}
		if err := gr.SGD(lr); err != nil {
			t.Fatal(err)
		}

		if err := e.GatherBatch(idx); err != nil {
			t.Fatal(err)
		}
		if err := e.Run(); err != nil {
			t.Fatal(err)
		}
		loss, _ := e.Loss()
		if step == 0 {
			firstLoss = loss
		}
		lastLoss = loss
		if err := e.SGD(lr); err != nil {
			t.Fatal(err)
		}
	}
	if !(lastLoss < firstLoss/2) {
		t.Errorf("loss went from %v to %v: training did not learn, so the comparison proves little", firstLoss, lastLoss)
	}
	w, b := make([]float32, len(m.W)), make([]float32, len(m.B))
	if err := e.Params(w, b); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(w, w0) {
		t.Fatal("executor's weights did not change")
	}
	dw := CompareSlices(t, "W", w, m.W, 1e-6, 1e-4)
	db := CompareSlices(t, "b", b, m.B, 1e-6, 1e-4)
	t.Logf("after %d steps: loss %v → %v; max |ΔW| %.3g, max |Δb| %.3g", steps, firstLoss, lastLoss, dw, db)
}

// TestGatherBatchMatchesDatasetGather checks the gather steps against
// dataset.Set.Gather, bit for bit, padding rows included.
func TestGatherBatchMatchesDatasetGather(t *testing.T) {
	const batch, n = 16, 50
	rng := rand.New(rand.NewPCG(5, 6))
	pix, labels := RandomDataset(rng, n)
	pix[0], pix[1] = 0, 255 // the ends of the scale
	set := &dataset.Set{Pix: pix, Labels: labels, N: n, Rows: 28, Cols: 28}
	_, gr := NewGraph(t, batch, false, 1)
	p, e := Compile(t, gr, program.CompileOptions{})
	if err := e.LoadDataset(pix, labels); err != nil {
		t.Fatal(err)
	}
	for _, idx := range [][]int{{0, 49, 7, 7, 3}, rng.Perm(n)[:batch], {}} {
		// Fill X and Y with junk first: padding rows must be zeroed.
		junk := make([]float32, batch*In)
		for i := range junk {
			junk[i] = 9
		}
		if err := e.SetBatch(junk, junk[:batch*Classes]); err != nil {
			t.Fatal(err)
		}
		if err := e.GatherBatch(idx); err != nil {
			t.Fatal(err)
		}
		x, y := make([]float32, batch*In), make([]float32, batch*Classes)
		set.Gather(idx, x, y)
		if !slices.Equal(e.f32[p.X], x) || !slices.Equal(e.f32[p.Y], y) {
			t.Errorf("GatherBatch(%v) differs from dataset.Set.Gather", idx)
		}
	}
}

// TestBufferReuse checks that sharing buffers between temporaries saves
// memory and changes no result: every step computes the same thing in the
// same order, so the results are equal to the bit.
func TestBufferReuse(t *testing.T) {
	_, gr := NewGraph(t, 128, true, 9)
	shared, es := Compile(t, gr, program.CompileOptions{})
	own, eo := Compile(t, gr, program.CompileOptions{NoBufferReuse: true})
	if shared.Floats() >= own.Floats() {
		t.Errorf("shared buffers hold %d floats, own buffers %d: nothing was shared", shared.Floats(), own.Floats())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3 {
		x, y := RandomBatch(rng, 128, 100)
		var res [2][]float32
		for i, e := range []*Executor{es, eo} {
			if err := e.SetBatch(x, y); err != nil {
				t.Fatal(err)
			}
			if err := e.Run(); err != nil {
				t.Fatal(err)
			}
			loss, _ := e.Loss()
			logits := make([]float32, 128*Classes)
			dW, dB := make([]float32, In*Classes), make([]float32, Classes)
			if err := e.Logits(logits); err != nil {
				t.Fatal(err)
			}
			if err := e.Grads(dW, dB); err != nil {
				t.Fatal(err)
			}
			if err := e.SGD(0.5); err != nil {
				t.Fatal(err)
			}
			res[i] = slices.Concat([]float32{loss}, logits, dW, dB)
		}
		if !slices.Equal(res[0], res[1]) {
			t.Fatal("results with shared buffers differ from results with a buffer per value")
		}
	}
}

// TestForwardOnly compiles a graph without gradients: no backward or
// update steps, the same logits and loss as the tape machine, and Grads
// and SGD refuse.
func TestForwardOnly(t *testing.T) {
	_, gr := NewGraph(t, 32, false, 2)
	p, e := Compile(t, gr, program.CompileOptions{})
	for _, s := range p.Steps {
		if s.Phase == program.PhaseBackward || s.Phase == program.PhaseUpdate {
			t.Errorf("forward-only program has a %s step: %s", s.Phase, p.Describe(&s))
		}
	}
	rng := rand.New(rand.NewPCG(8, 8))
	x, y := RandomBatch(rng, 32, 20)
	gx, gy := gr.Inputs()
	copy(gx, x)
	copy(gy, y)
	want, err := gr.Run()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetBatch(x, y); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	if loss, _ := e.Loss(); !CloseTo(float64(loss), want, 1e-6, 1e-5) {
		t.Errorf("loss = %v, tape machine %v", loss, want)
	}
	logits := make([]float32, 32*Classes)
	if err := e.Logits(logits); err != nil {
		t.Fatal(err)
	}
	CompareSlices(t, "logits", logits, gr.Logits(), 1e-5, 1e-5)
	if err := e.Grads(make([]float32, In*Classes), make([]float32, Classes)); !errors.Is(err, program.ErrForwardOnly) {
		t.Errorf("Grads on a forward-only program: %v", err)
	}
	if err := e.SGD(0.1); !errors.Is(err, program.ErrForwardOnly) {
		t.Errorf("SGD on a forward-only program: %v", err)
	}
}

// TestExecutorRejects checks the host-side argument checks every executor
// shares.
func TestExecutorRejects(t *testing.T) {
	_, gr := NewGraph(t, 8, true, 1)
	_, e := Compile(t, gr, program.CompileOptions{})
	pix, labels := RandomDataset(rand.New(rand.NewPCG(1, 1)), 10)
	badLabels := slices.Clone(labels)
	badLabels[3] = Classes
	w, b := make([]float32, In*Classes), make([]float32, Classes)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"gather before load", e.GatherBatch([]int{0}), "no dataset"},
		{"short params", e.SetParams(w[1:], b), "7839 weights"},
		{"short batch", e.SetBatch(make([]float32, 8*In), make([]float32, 7)), "7 label values"},
		{"pixels for labels", e.LoadDataset(pix[1:], labels), "7839 pixel bytes"},
		{"label out of range", e.LoadDataset(pix, badLabels), "label 10 of image 3"},
		{"empty dataset", e.LoadDataset(nil, nil), "no labelled images"},
		{"short logits", e.Logits(make([]float32, 3)), "3 elements"},
		{"short grads", e.Grads(w, b[1:]), "9 biases"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, tt.err, tt.want)
		}
	}
	if err := e.LoadDataset(pix, labels); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		idx  []int
		want string
	}{
		{[]int{0, 10}, "index 10 outside"},
		{[]int{-1}, "index -1 outside"},
		{make([]int, 9), "batch of 9 rows"},
	} {
		if err := e.GatherBatch(tt.idx); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("GatherBatch(%v): error %v, want one containing %q", tt.idx, err, tt.want)
		}
	}
}

func BenchmarkCPUTrainStep(b *testing.B) {
	BenchmarkTrainStep(b, func(tb testing.TB, p *program.Program) program.Executor {
		e, err := NewExecutor(p)
		if err != nil {
			tb.Fatal(err)
		}
		return e
	})
}

// BenchmarkTapeMachineTrainStep is the same step on Gorgonia's tape
// machine, for comparison.
func BenchmarkTapeMachineTrainStep(b *testing.B) {
	const batch, n = 256, 10000
	_, gr := NewGraph(b, batch, true, 1)
	rng := rand.New(rand.NewPCG(1, 1))
	pix, labels := RandomDataset(rng, n)
	set := &dataset.Set{Pix: pix, Labels: labels, N: n, Rows: 28, Cols: 28}
	order := rng.Perm(n)
	b.ResetTimer()
	for i := range b.N {
		start := (i * batch) % (n - batch)
		x, y := gr.Inputs()
		set.Gather(order[start:start+batch], x, y)
		if _, err := gr.Run(); err != nil {
			b.Fatal(err)
		}
		if err := gr.SGD(0.01); err != nil {
			b.Fatal(err)
		}
	}
}
