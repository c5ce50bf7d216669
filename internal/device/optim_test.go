package device

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// testNorm returns a standardisation of testIn inputs with means and
// standard deviations of the sizes pixels have.
func testNorm(rng *rand.Rand) (mean, std []float32) {
	mean, std = make([]float32, testIn), make([]float32, testIn)
	for i := range mean {
		mean[i] = 0.6 * rng.Float32()
		std[i] = 0.01 + 0.4*rng.Float32()
	}
	return mean, std
}

// TestCompileOptions checks what each option adds to a program: its steps,
// its buffers, and that a program with update steps refuses SGD while one
// without refuses Update.
func TestCompileOptions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mean, std := testNorm(rng)
	for _, tc := range []struct {
		name   string
		train  bool
		opts   CompileOptions
		kinds  map[string]int // counts of the option's step kinds
		listed []string       // in Program.String
	}{
		{"chapter", true, CompileOptions{}, map[string]int{"sgd": 2}, []string{"sgd"}},
		{"momentum", true, CompileOptions{Update: &UpdateRule{}}, map[string]int{"update": 2}, []string{"vW", "vb", "hyper", "momentum(dW + decay·W"}},
		{"nesterov", true, CompileOptions{Update: &UpdateRule{Nesterov: true}}, map[string]int{"update": 2}, []string{"nesterov(db, vb"}},
		{"standardize", true, CompileOptions{Mean: mean, Std: std}, map[string]int{"standardize": 1, "sgd": 2}, []string{"mean", "std"}},
		{"standardize eval", false, CompileOptions{Mean: mean, Std: std}, map[string]int{"standardize": 1}, []string{"X = (X − mean)/std"}},
		{"smoothing", true, CompileOptions{LabelSmoothing: 0.1}, map[string]int{"smooth": 1, "sgd": 2}, []string{"Y = smooth[0]·Y + smooth[1]"}},
		{"all", true, CompileOptions{Update: &UpdateRule{}, Mean: mean, Std: std, LabelSmoothing: 0.1, NoBufferReuse: true},
			map[string]int{"update": 2, "standardize": 1, "smooth": 1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, gr := newGraph(t, 8, tc.train, 3)
			p, e := compileGraph(t, gr, tc.opts)
			got := stepKinds(p)
			for _, k := range []string{"sgd", "update", "standardize", "smooth"} {
				if got[k] != tc.kinds[k] {
					t.Errorf("%d %s steps, want %d", got[k], k, tc.kinds[k])
				}
			}
			// The input steps come first, each option's after its gather.
			for i, s := range p.Steps {
				if (s.Kind == StepStandardize || s.Kind == StepSmooth) && (i == 0 || p.Steps[i-1].Kind != StepGather) {
					t.Errorf("step %d (%s) does not follow a gather", i, s.Kind)
				}
			}
			listing := p.String()
			for _, want := range tc.listed {
				if !strings.Contains(listing, want) {
					t.Errorf("listing lacks %q:\n%s", want, listing)
				}
			}
			if (p.Optim != nil) != (tc.opts.Update != nil) {
				t.Fatalf("Optim %v with Update %v", p.Optim, tc.opts.Update)
			}
			w, b := make([]float32, testIn*testClasses), make([]float32, testClasses)
			switch {
			case !tc.train:
				if err := e.Update(0.1, 0, 0.9); !errors.Is(err, errNoOptim) {
					t.Errorf("Update on a forward-only program: %v", err)
				}
			case p.Optim != nil:
				if err := e.SGD(0.1); !errors.Is(err, errOptimSGD) {
					t.Errorf("SGD on a program with update steps: %v", err)
				}
				// Velocities round-trip, and start at zero.
				if err := e.Velocity(w, b); err != nil || slices.ContainsFunc(w, func(v float32) bool { return v != 0 }) {
					t.Errorf("initial velocity: %v, nonzero %v", err, w[:3])
				}
				for i := range w {
					w[i] = float32(i)
				}
				if err := e.SetVelocity(w, b); err != nil {
					t.Fatal(err)
				}
				w2, b2 := make([]float32, len(w)), make([]float32, len(b))
				if err := e.Velocity(w2, b2); err != nil || !slices.Equal(w, w2) {
					t.Errorf("velocity did not round-trip: %v", err)
				}
				if err := e.SetVelocity(w[:3], b); err == nil {
					t.Error("SetVelocity took 3 weights")
				}
			default:
				if err := e.Update(0.1, 0, 0.9); !errors.Is(err, errNoOptim) {
					t.Errorf("Update on a program without update steps: %v", err)
				}
				if err := e.Velocity(w, b); !errors.Is(err, errNoOptim) {
					t.Errorf("Velocity on a program without update steps: %v", err)
				}
			}
		})
	}
}

// TestCompileOptionsRejects checks the options Compile refuses.
func TestCompileOptionsRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		train bool
		opts  CompileOptions
		want  string
	}{
		{"short mean", true, CompileOptions{Mean: make([]float32, 3), Std: make([]float32, testIn)}, "3 means"},
		{"smoothing without training", false, CompileOptions{LabelSmoothing: 0.1}, "forward-only"},
		{"smoothing 1", true, CompileOptions{LabelSmoothing: 1}, "not in (0, 1)"},
		{"update without training", false, CompileOptions{Update: &UpdateRule{}}, "forward-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, gr := newGraph(t, 4, tc.train, 1)
			_, err := Compile(gr.Nodes(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestGatherOptionsMatchHost checks the standardisation and smoothing
// steps against the host's: dataset.Set.Gather, model.Standardizer.Apply
// on the labelled rows and (1−ε)·y + ε/K, bit for bit, padding rows zero.
func TestGatherOptionsMatchHost(t *testing.T) {
	const batch, n = 16, 50
	const eps = float32(0.1)
	rng := rand.New(rand.NewPCG(5, 6))
	pix, labels := randomDataset(rng, n)
	set := &dataset.Set{Pix: pix, Labels: labels, N: n, Rows: 28, Cols: 28}
	mean, std := testNorm(rng)
	norm := &model.Standardizer{Mean: mean, Std: std}
	_, gr := newGraph(t, batch, true, 1)
	p, e := compileGraph(t, gr, CompileOptions{Mean: mean, Std: std, LabelSmoothing: eps})
	if err := e.LoadDataset(pix, labels); err != nil {
		t.Fatal(err)
	}
	for _, idx := range [][]int{{0, 49, 7, 7, 3}, rng.Perm(n)[:batch], {}} {
		if err := e.GatherBatch(idx); err != nil {
			t.Fatal(err)
		}
		x, y := make([]float32, batch*testIn), make([]float32, batch*testClasses)
		set.Gather(idx, x, y)
		norm.Apply(x, len(idx))
		for i := range y[:len(idx)*testClasses] {
			y[i] = (1-eps)*y[i] + eps/float32(testClasses)
		}
		if !slices.Equal(e.f32[p.X], x) {
			t.Errorf("standardised X of %v differs from the host's", idx)
		}
		if !slices.Equal(e.f32[p.Y], y) {
			t.Errorf("smoothed Y of %v differs from the host's", idx)
		}
	}
}

// TestOptimStepsOnHost runs the update, standardisation and smoothing
// steps, with every flag and with momentum zero and not, over more than
// one block, on the host-compiled kernels, and compares each output with
// the CPU semantics to the bit: neither side contracts to FMA.
func TestOptimStepsOnHost(t *testing.T) {
	harness := buildKernelHost(t)
	rng := rand.New(rand.NewPCG(11, 11))
	p := &Program{}
	var init []any
	buf := func(data any) BufferID {
		init = append(init, data)
		b := Buffer{Name: fmt.Sprintf("b%d", len(init)-1)}
		switch d := data.(type) {
		case []float32:
			b.Shape = []int{len(d)}
		case []int32:
			b.Dtype, b.Shape = Int32, []int{len(d)}
		}
		return p.add(b)
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
				p.Steps = append(p.Steps, Step{Kind: StepUpdate, N: n, Decay: decay, Nesterov: nesterov,
					Out: buf(random(n, -1, 1)), In: []BufferID{buf(random(n, -1, 1)), buf(random(n, -0.5, 0.5)), hyper}})
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
		Step{Kind: StepStandardize, Outer: rows, Len: width, Out: buf(xs),
			In: []BufferID{index, buf(random(width, 0, 0.6)), buf(random(width, 0.01, 0.5))}},
		Step{Kind: StepSmooth, Outer: rows, Len: classes, Out: buf([]float32{0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}),
			In: []BufferID{index, buf([]float32{1 - 0.1, 0.1 / classes})}})
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
		case StepStandardize:
			standardizeRows(want[s.Out], idx, want[s.In[1]], want[s.In[2]], s.Len)
		case StepSmooth:
			smoothRows(want[s.Out], idx, want[s.In[1]], s.Len)
		default:
			if err := execFloat(s, want[s.Out], [][]float32{want[s.In[0]], want[s.In[1]], want[s.In[2]]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		what := fmt.Sprintf("step %d (%s)", i, p.describe(s))
		compareSlices(t, what, got[s.Out].([]float32), want[s.Out], 0, 0)
		if s.Kind == StepUpdate {
			compareSlices(t, what+" velocity", got[s.In[1]].([]float32), want[s.In[1]], 0, 0)
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
	mean, std := testNorm(rng)
	m, gr := newGraph(t, batch, true, 5)
	p, e := compileGraph(t, gr, CompileOptions{Update: &UpdateRule{Nesterov: true}, Mean: mean, Std: std, LabelSmoothing: 0.1})
	plan, err := planLaunches(p)
	if err != nil {
		t.Fatal(err)
	}
	pix, labels := randomDataset(rng, n)
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
	if err := p.indexRows(index, idx, n); err != nil {
		t.Fatal(err)
	}
	buffers := make([]any, len(p.Buffers))
	for id, b := range p.Buffers {
		switch BufferID(id) {
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
			if b.Role == RoleConst {
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
		if b.Dtype != Float32 {
			continue
		}
		want := e.f32[id]
		if slices.ContainsFunc(want, func(v float32) bool { return v != v }) {
			t.Errorf("CPU executor left NaN in %s", b.Name)
		}
		// Only exp and log may differ (libm against Go's math).
		worst := compareSlices(t, b.Name, got[id].([]float32), want, 1e-6, 1e-5)
		t.Logf("%-6s %-6s max |Δ| %.3g", b.Name, b.Role, worst)
	}
}
