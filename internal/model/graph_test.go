package model

import (
	"math"
	"runtime"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The training step must not compute ∂loss/∂X (Batch×In): it allocates
// nothing of that size.
func TestTrainStepSkipsInputGradient(t *testing.T) {
	for _, k := range graphKinds {
		t.Run(k.name, func(t *testing.T) { testTrainStepSkipsInputGradient(t, k.opts...) })
	}
}

func testTrainStepSkipsInputGradient(t *testing.T, opts ...GraphOption) {
	m, x, y := testModel(t, 784, 10, 256, 256, 1)
	gr, err := m.NewGraph(256, true, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	runGraph(t, gr, x, y)
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := gr.Run(); err != nil {
			t.Fatal(err)
		}
	})
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	for i := 0; i < 10; i++ {
		gr.Run()
	}
	runtime.ReadMemStats(&ms)
	perStep := (ms.TotalAlloc - before) / 10
	t.Logf("%v allocations, %d bytes per step", allocs, perStep)
	if perStep >= 256*784*4 {
		t.Errorf("a step allocates %d bytes, as much as a Batch×In matrix", perStep)
	}
}

// Through StopGradient a value passes unchanged and no gradient flows:
// d/dx sum(x ⊙ stop(x)) is x, not 2x.
func TestStopGradient(t *testing.T) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float32, G.WithShape(3), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{1, 2, 3}))))
	sx, err := StopGradient(x)
	if err != nil {
		t.Fatal(err)
	}
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(x, sx))))
	if _, err := G.Grad(cost, x); err != nil {
		t.Fatal(err)
	}
	var sv G.Value
	G.Read(sx, &sv)
	vm := G.NewTapeMachine(g, G.BindDualValues(x))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if got := sv.Data().([]float32); got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("StopGradient changed the value: %v", got)
	}
	if got := float64(cost.Value().Data().(float32)); got != 14 {
		t.Errorf("cost = %v, want 14", got)
	}
	gx, _ := x.Grad()
	if got := gx.Data().([]float32); got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("gradient = %v, want [1 2 3] (x, with nothing through the stopped branch)", got)
	}
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		v    []float32
		cols int
		want []int
	}{
		{[]float32{1, 3, 2, 5, 4, 0}, 3, []int{1, 0}},
		{[]float32{2, 2, 1}, 3, []int{0}},       // ties: the first
		{[]float32{-1, -3, -0.5}, 3, []int{2}},  // all negative
		{[]float32{nan, 1, 2}, 3, []int{0}},     // a NaN first wins, as before
		{[]float32{1, nan, 2}, 3, []int{2}},     // later NaNs are skipped
		{[]float32{7}, 1, []int{0}},             // one column
		{[]float32{1, 2, 3, 4}, 2, []int{1, 1}}, // rows of two
	}
	for _, tt := range tests {
		got := make([]int, len(tt.want))
		Argmax(tt.v, tt.cols, got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Argmax(%v, %d) = %v, want %v", tt.v, tt.cols, got, tt.want)
		}
	}
}

// BenchmarkRunAll measures what a tape machine's RunAll costs beyond the
// work of its graph: a one-op graph (sum of four floats) run over and
// over. RunAll locks the calling goroutine to its thread and runs the
// program on a new goroutine, so every call hands the processor to another
// OS thread and back (Gorgonia's public API has no other way to run a
// compiled program). Compare a run confined to one CPU (taskset -c 0),
// where the hand-offs are plain context switches, with one free to use
// two, where the kernel may wake the threads on the idle CPU.
func BenchmarkRunAll(b *testing.B) {
	g := G.NewGraph()
	x := G.NewVector(g, tensor.Float32, G.WithShape(4), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(4), tensor.WithBacking([]float32{1, 2, 3, 4}))))
	G.Must(G.Sum(x))
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	b.ReportAllocs()
	for b.Loop() {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			b.Fatal(err)
		}
	}
}
