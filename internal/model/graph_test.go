package model

import (
	"runtime"
	"testing"
)

// The training step must not compute ∂loss/∂X (Batch×In): it allocates
// nothing of that size.
func TestTrainStepSkipsInputGradient(t *testing.T) {
	m, x, y := testModel(t, 784, 10, 256, 256, 1)
	gr, err := m.NewGraph(256, true)
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
