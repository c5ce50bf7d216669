package cuda

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/devicetest"
	"github.com/softmaxctl/softmaxctl/internal/device/program"
)

// TestOptimStepsOnHost runs the update, standardisation and smoothing
// steps, with every flag and with momentum zero and not, over more than
// one block, on the host-compiled kernels, and compares each output with
// the CPU semantics to the bit: neither side contracts to FMA.
func TestOptimStepsOnHost(t *testing.T) {
	harness := buildKernelHost(t)
	rng := rand.New(rand.NewPCG(11, 11))
	p := &program.Program{}
	var init []any
	buf := func(data any) program.BufferID {
		init = append(init, data)
		b := program.Buffer{Name: fmt.Sprintf("b%d", len(init)-1)}
		switch d := data.(type) {
		case []float32:
			b.Shape = []int{len(d)}
		case []int32:
			b.Dtype, b.Shape = program.Int32, []int{len(d)}
		}
		return p.Add(b)
	}
	random := func(n int, lo, hi float32) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = lo + (hi-lo)*rng.Float32()
		}
		return d
	}
	const n = 300
	for _, h := range [][3]float32{{0.1, 3e-3, 0.9}, {0.05, 0, 0.5}, {0.3, 1e-2, 0}, {0.1, 0, 0}} {
		for _, decay := range []bool{false, true} {
			for _, nesterov := range []bool{false, true} {
				hyper := buf(h[:])
				p.Steps = append(p.Steps, program.Step{Kind: program.StepUpdate, N: n, Decay: decay, Nesterov: nesterov,
					Out: buf(random(n, -1, 1)), In: []program.BufferID{buf(random(n, -1, 1)), buf(random(n, -0.5, 0.5)), hyper}})
			}
		}
	}
	const rows, width, classes = 5, 70, 3
	index := buf([]int32{3, 0, -1, 3, -1})
	xs := random(rows*width, 0, 1)
	for r := range rows {
		if r == 2 || r == 4 {
			clear(xs[r*width : (r+1)*width])
		}
	}
	p.Steps = append(p.Steps,
		program.Step{Kind: program.StepStandardize, Outer: rows, Len: width, Out: buf(xs),
			In: []program.BufferID{index, buf(random(width, 0, 0.6)), buf(random(width, 0.01, 0.5))}},
		program.Step{Kind: program.StepSmooth, Outer: rows, Len: classes, Out: buf([]float32{0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}),
			In: []program.BufferID{index, buf([]float32{1 - 0.1, 0.1 / classes})}})
	plan, err := planLaunches(p)
	if err != nil {
		t.Fatal(err)
	}
	got := runKernelHost(t, harness, init, plan)

	want := make([][]float32, len(init))
	for i, d := range init {
		if f, ok := d.([]float32); ok {
			want[i] = slices.Clone(f)
		}
	}
	idx := init[index].([]int32)
	for i := range p.Steps {
		s := &p.Steps[i]
		switch s.Kind {
		case program.StepStandardize:
			program.StandardizeRows(want[s.Out], idx, want[s.In[1]], want[s.In[2]], s.Len)
		case program.StepSmooth:
			program.SmoothRows(want[s.Out], idx, want[s.In[1]], s.Len)
		default:
			if err := program.ExecFloat(s, want[s.Out], [][]float32{want[s.In[0]], want[s.In[1]], want[s.In[2]]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		what := fmt.Sprintf("step %d (%s)", i, p.Describe(s))
		devicetest.CompareSlices(t, what, got[s.Out].([]float32), want[s.Out], 0, 0)
		if s.Kind == program.StepUpdate {
			devicetest.CompareSlices(t, what+" velocity", got[s.In[1]].([]float32), want[s.In[1]], 0, 0)
			if h := want[s.In[2]]; h[2] == 0 && !slices.Equal(want[s.In[1]], init[s.In[1]].([]float32)) {
				t.Errorf("%s: momentum 0 changed the velocity", what)
			}
		}
	}
}

// TestOptimProgramOnHost runs a whole training step of a program with every
// option (standardised pixels, smoothed labels, Nesterov momentum with
// weight decay from nonzero velocities) through the launch plan on the
// host-compiled kernels and compares every buffer with the CPU executor's.
func TestOptimProgramOnHost(t *testing.T) {
	harness := buildKernelHost(t)
	const batch, n, rows = 64, 300, 45
	rng := rand.New(rand.NewPCG(7, 8))
	mean, std := devicetest.RandomNorm(rng)
	m, gr := devicetest.NewGraph(t, batch, true, 5)
	p, e := devicetest.Compile(t, gr, program.CompileOptions{Update: &program.UpdateRule{Nesterov: true}, Mean: mean, Std: std, LabelSmoothing: 0.1})
	plan, err := planLaunches(p)
	if err != nil {
		t.Fatal(err)
	}
	pix, labels := devicetest.RandomDataset(rng, n)
	idx := rng.Perm(n)[:rows]
	hyper := []float32{0.1, 3e-3, 0.9}
	vw, vb := make([]float32, len(m.W)), make([]float32, len(m.B))
	for i := range vw {
		vw[i] = 0.01 * float32(rng.NormFloat64())
	}
	for i := range vb {
		vb[i] = 0.01 * float32(rng.NormFloat64())
	}

	index := make([]int32, batch)
	if err := p.IndexRows(index, idx, n); err != nil {
		t.Fatal(err)
	}
	buffers := make([]any, len(p.Buffers))
	for id, b := range p.Buffers {
		switch program.BufferID(id) {
		case p.W:
			buffers[id] = slices.Clone(m.W)
		case p.B:
			buffers[id] = slices.Clone(m.B)
		case p.LR:
			buffers[id] = []float32{0}
		case p.Optim.Hyper:
			buffers[id] = hyper
		case p.Optim.VW:
			buffers[id] = slices.Clone(vw)
		case p.Optim.VB:
			buffers[id] = slices.Clone(vb)
		case p.Pixels:
			buffers[id] = pix
		case p.Labels:
			buffers[id] = labels
		case p.Index:
			buffers[id] = index
		default:
			f := nanFloats(b.Len())
			if b.Role == program.RoleConst {
				copy(f, b.Init)
			}
			buffers[id] = f
		}
	}
	got := runKernelHost(t, harness, buffers, plan)

	if err := e.LoadDataset(pix, labels); err != nil {
		t.Fatal(err)
	}
	if err := e.SetVelocity(vw, vb); err != nil {
		t.Fatal(err)
	}
	if err := e.GatherBatch(idx); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	if err := e.Update(hyper[0], hyper[1], hyper[2]); err != nil {
		t.Fatal(err)
	}
	for id, b := range p.Buffers {
		if b.Dtype != program.Float32 {
			continue
		}
		want := e.Buffer(program.BufferID(id))
		if slices.ContainsFunc(want, func(v float32) bool { return v != v }) {
			t.Errorf("CPU executor left NaN in %s", b.Name)
		}
		// Only exp and log may differ (libm against Go's math).
		worst := devicetest.CompareSlices(t, b.Name, got[id].([]float32), want, 1e-6, 1e-5)
		t.Logf("%-6s %-6s max |Δ| %.3g", b.Name, b.Role, worst)
	}
}
