package program_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/device/program"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/softmaxctl/softmaxctl/internal/device/devicetest"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// smallGraph is softmax regression's graph at a small size with the loss
// built by lossOf, and its parameters' values bound, for graphs other than
// the model's own.
type smallGraph struct {
	nodes      model.Nodes
	x, y, w, b []float32
}

func newSmallGraph(t *testing.T, batch, in, classes int, train bool, lossOf func(logits, y *G.Node) (*G.Node, error)) (*smallGraph, error) {
	t.Helper()
	g := G.NewGraph()
	rng := rand.New(rand.NewPCG(11, 12))
	data := func(n int, f func(int) float32) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = f(i)
		}
		return d
	}
	sg := &smallGraph{
		x: data(batch*in, func(int) float32 { return rng.Float32() }),
		y: data(batch*classes, func(i int) float32 {
			if i%classes == (i/classes)%classes {
				return 1
			}
			return 0
		}),
		w: data(in*classes, func(int) float32 { return float32(rng.NormFloat64()) }),
		b: data(classes, func(int) float32 { return float32(rng.NormFloat64()) }),
	}
	mat := func(name string, d []float32, shape ...int) *G.Node {
		v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
		if len(shape) == 1 {
			return G.NewVector(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(v))
		}
		return G.NewMatrix(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(v))
	}
	n := model.Nodes{Graph: g,
		X: mat("X", sg.x, batch, in), Y: mat("Y", sg.y, batch, classes),
		W: mat("W", sg.w, in, classes), B: mat("b", sg.b, classes)}
	var err error
	if n.Logits, err = model.Forward(n.X, n.W, n.B); err != nil {
		return nil, err
	}
	if n.Loss, err = lossOf(n.Logits, n.Y); err != nil {
		return nil, err
	}
	if train {
		grads, err := G.Grad(n.Loss, n.W, n.B)
		if err != nil {
			return nil, err
		}
		n.WGrad, n.BGrad = grads[0], grads[1]
	}
	sg.nodes = n
	return sg, nil
}

// TestCompileUnsupportedOp checks that an op program.Compile does not know fails
// it with an error that names the op, instead of anything running it
// somewhere else.
func TestCompileUnsupportedOp(t *testing.T) {
	sumOf := func(f func(*G.Node) (*G.Node, error)) func(o, y *G.Node) (*G.Node, error) {
		return func(o, y *G.Node) (*G.Node, error) {
			h, err := f(o)
			if err != nil {
				return nil, err
			}
			return G.Sum(h)
		}
	}
	tests := []struct {
		name   string
		lossOf func(o, y *G.Node) (*G.Node, error)
		want   string
	}{
		{"tanh", sumOf(G.Tanh), `elemUnaryOp "tanh"`},
		{"sigmoid", sumOf(G.Sigmoid), `elemUnaryOp "sigmoid"`},
		{"pow", sumOf(func(o *G.Node) (*G.Node, error) { return G.Pow(o, o) }), `elemBinOp "^ false"`},
		{"greater", sumOf(func(o *G.Node) (*G.Node, error) { return G.Gt(o, o, true) }), `elemBinOp "> true"`},
		{"softmax op", sumOf(func(o *G.Node) (*G.Node, error) { return G.SoftMax(o) }), "softmaxOp"},
		{"matrix × vector", func(o, y *G.Node) (*G.Node, error) {
			v := o.Graph().Constant(tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, 2})))
			mv, err := G.Mul(o, v)
			if err != nil {
				return nil, err
			}
			return G.Sum(mv)
		}, `linAlgBinOp "A × b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sg, err := newSmallGraph(t, 4, 3, 2, false, tt.lossOf)
			if err != nil {
				t.Fatalf("build graph: %v", err)
			}
			p, err := program.Compile(sg.nodes, program.CompileOptions{})
			if err == nil {
				t.Fatalf("Compile succeeded:\n%v", p)
			}
			if !errors.Is(err, program.ErrUnsupported) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile error %q, want program.ErrUnsupported naming %s", err, tt.want)
			}
		})
	}
}

// TestCompileConstants compiles a loss with constants in it (a scalar
// scale of the logits, a sum of two constants that folds, and G.Grad's
// own seed) and compares the executor with the tape machine.
func TestCompileConstants(t *testing.T) {
	lossOf := func(o, y *G.Node) (*G.Node, error) {
		g := o.Graph()
		scaled, err := G.HadamardProd(g.Constant(G.NewF32(0.5)), o) // scalar ⊙ matrix
		if err != nil {
			return nil, err
		}
		ce, err := model.CrossEntropyFromLogits(scaled, y)
		if err != nil {
			return nil, err
		}
		five, err := G.Add(g.Constant(G.NewF32(2)), g.Constant(G.NewF32(3)))
		if err != nil {
			return nil, err
		}
		return G.Mul(ce, five) // scalar × scalar
	}
	const batch, in, classes = 5, 7, 3
	sg, err := newSmallGraph(t, batch, in, classes, true, lossOf)
	if err != nil {
		t.Fatalf("build graph: %v", err)
	}
	p, err := program.Compile(sg.nodes, program.CompileOptions{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var scalarOperand, folded bool
	for _, s := range p.Steps {
		scalarOperand = scalarOperand || s.Scalar[0] && s.N > 1
	}
	for _, b := range p.Buffers {
		folded = folded || b.Role == program.RoleConst && slices.Equal(b.Init, []float32{5})
	}
	if !scalarOperand || !folded {
		t.Errorf("want a step with a scalar operand (%v) and the folded constant 5 (%v):\n%v", scalarOperand, folded, p)
	}

	e, err := devicetest.NewExecutor(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetParams(sg.w, sg.b); err != nil {
		t.Fatal(err)
	}
	if err := e.SetBatch(sg.x, sg.y); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}

	var lossVal G.Value
	G.Read(sg.nodes.Loss, &lossVal)
	vm := G.NewTapeMachine(sg.nodes.Graph, G.BindDualValues(sg.nodes.W, sg.nodes.B))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	loss, _ := e.Loss()
	if want := lossVal.Data().(float32); !devicetest.CloseTo(float64(loss), float64(want), 1e-6, 1e-5) {
		t.Errorf("loss = %v, tape machine %v", loss, want)
	}
	dW, dB := make([]float32, in*classes), make([]float32, classes)
	if err := e.Grads(dW, dB); err != nil {
		t.Fatal(err)
	}
	gw, _ := sg.nodes.W.Grad()
	gb, _ := sg.nodes.B.Grad()
	devicetest.CompareSlices(t, "dW", dW, gw.Data().([]float32), 1e-6, 1e-4)
	devicetest.CompareSlices(t, "db", dB, gb.Data().([]float32), 1e-6, 1e-4)
}

// TestCompileTrainingProgram checks the shape of the model's training
// program at batch 256, fused and unfused: which steps it has, that the
// gradient with respect to X is left out, and the cuBLAS form of its two
// GEMMs.
func TestCompileTrainingProgram(t *testing.T) {
	tests := []struct {
		graph string
		steps int
		want  map[string]int
	}{
		// The fused graph: X·W and the bias, the loss and its
		// derivative in one step each, Xᵀ·dlogits, db's column sums.
		{"fused", 10, map[string]int{
			"gather": 2, "gemm": 2, "biasadd": 1, "xent": 1, "xentgrad": 1, "reduce sum": 1, "sgd": 2,
			"repeat": 0, "unary exp": 0, "reduce max": 0,
		}},
		// No compare step: the row max goes through model.StopGradient,
		// so G.Grad builds no derivative of the max (an Eq mask) for it.
		{"unfused", 0, map[string]int{
			"gather": 2, "gemm": 2, "sgd": 2, "compare eq": 0, "reduce max": 1, "unary exp": 1, "unary ln": 1,
			"biasadd": 0, "xent": 0,
		}},
	}
	for i, tt := range tests {
		t.Run(tt.graph, func(t *testing.T) {
			_, gr := devicetest.NewGraph(t, 256, true, 1, devicetest.GraphKinds()[i].Opts...)
			p, err := program.Compile(gr.Nodes(), program.CompileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := devicetest.StepKinds(p)
			for k, n := range tt.want {
				if got[k] != n {
					t.Errorf("%d %s steps, want %d\n%v", got[k], k, n, p)
				}
			}
			if tt.steps != 0 && len(p.Steps) != tt.steps {
				t.Errorf("%d steps, want %d\n%v", len(p.Steps), tt.steps, p)
			}
			listing := p.String()
			for _, s := range []string{
				"cublasSgemm(N, N, 10, 256, 784, 1, W, 10, X, 784, 0, ",       // logits = X·W
				"cublasSgemm(N, T, 10, 784, 256, 1, ", ", X, 784, 0, dW, 10)", // dW = Xᵀ·dlogits
				"W -= lr[0] · dW  [7840]", "b -= lr[0] · db  [10]",
			} {
				if !strings.Contains(listing, s) {
					t.Errorf("listing lacks %q:\n%s", s, listing)
				}
			}
			if again, err := program.Compile(gr.Nodes(), program.CompileOptions{}); err != nil || again.String() != listing {
				t.Errorf("a second program.Compile gives another program (%v)", err)
			}
			for i := range p.Steps {
				if s := &p.Steps[i]; s.Phase == program.PhaseInput && s.Kind != program.StepGather || s.Phase == program.PhaseUpdate && s.Kind != program.StepSGD {
					t.Errorf("step %d is a %s step in phase %s", i, s.Kind, s.Phase)
				}
			}
		})
	}
}

// TestCompileRejectsBadGraphs checks the graph checks before lowering.
func TestCompileRejectsBadGraphs(t *testing.T) {
	_, gr := devicetest.NewGraph(t, 8, true, 1)
	good := gr.Nodes()
	tests := []struct {
		name string
		edit func(n *model.Nodes)
		want string
	}{
		{"no graph", func(n *model.Nodes) { n.Graph = nil }, "no graph"},
		{"no loss", func(n *model.Nodes) { n.Loss = nil }, "no loss node"},
		{"one gradient", func(n *model.Nodes) { n.BGrad = nil }, "only one of W and b"},
		{"swapped inputs", func(n *model.Nodes) { n.X, n.Y = n.Y, n.X }, "not those of softmax regression"},
		{"output is an input", func(n *model.Nodes) { n.Logits = n.X }, "not computed by a step"},
	}
	for _, tt := range tests {
		n := good
		tt.edit(&n)
		if _, err := program.Compile(n, program.CompileOptions{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// TestColumnMajorGEMM checks the row-major to column-major mapping every
// program.GEMM goes through on the way to cuBLAS: a reference column-major Sgemm
// given the mapped arguments must give the row-major product.
func TestColumnMajorGEMM(t *testing.T) {
	const m, n, k = 5, 3, 4
	rng := rand.New(rand.NewPCG(2, 3))
	random := func(size int) []float32 {
		d := make([]float32, size)
		for i := range d {
			d[i] = float32(rng.IntN(19) - 9)
		}
		return d
	}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			g := program.GEMM{TransA: ta, TransB: tb, M: m, N: n, K: k, LDA: k, LDB: n, LDC: n}
			if ta {
				g.LDA = m
			}
			if tb {
				g.LDB = k
			}
			a, b := random(m*k), random(k*n)
			// Buffers 0, 1, 2 are A, B and C.
			s := program.Step{Kind: program.StepGEMM, GEMM: g, In: []program.BufferID{0, 1}, Out: 2}
			want := make([]float32, m*n)
			if err := program.ExecFloat(&s, want, [][]float32{a, b}); err != nil {
				t.Fatal(err)
			}
			// The product by definition, for gemm itself.
			for i := range m {
				for j := range n {
					var sum float32
					for l := range k {
						var ail, blj float32
						if ta {
							ail = a[l*g.LDA+i]
						} else {
							ail = a[i*g.LDA+l]
						}
						if tb {
							blj = b[j*g.LDB+l]
						} else {
							blj = b[l*g.LDB+j]
						}
						sum += ail * blj
					}
					if want[i*n+j] != sum {
						t.Fatalf("transA %v transB %v: gemm C[%d][%d] = %v, want %v", ta, tb, i, j, want[i*n+j], sum)
					}
				}
			}
			c := s.ColumnMajor()
			bufs := [][]float32{a, b, make([]float32, m*n)}
			columnMajorSgemm(c, bufs[c.A], bufs[c.B], bufs[c.C])
			if !slices.Equal(bufs[2], want) {
				t.Errorf("transA %v transB %v: column-major call %+v gives %v, want %v", ta, tb, c, bufs[2], want)
			}
		}
	}
}

// columnMajorSgemm is cuBLAS's Sgemm with alpha 1 and beta 0: C (M×N,
// column-major) = op(A)·op(B).
func columnMajorSgemm(g program.ColumnMajorGEMM, a, b, c []float32) {
	for j := range g.N {
		for i := range g.M {
			var sum float32
			for l := range g.K {
				var ail, blj float32
				if g.TransA {
					ail = a[l+i*g.LDA]
				} else {
					ail = a[i+l*g.LDA]
				}
				if g.TransB {
					blj = b[j+l*g.LDB]
				} else {
					blj = b[l+j*g.LDB]
				}
				sum += ail * blj
			}
			c[i+j*g.LDC] = sum
		}
	}
}
