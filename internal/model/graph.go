package model

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	softblas "github.com/softmaxctl/softmaxctl/internal/blas"
)

// Graph is the expression graph of softmax regression for batches of up to
// Batch rows, compiled once for the tape machine:
//
//	logits = X·W + b          (X is the batch flattened to Batch×In)
//	loss   = CrossEntropyFromLogits(logits, Y)
//
// and, for training, the gradients of loss with respect to W and b.
// Batches smaller than Batch are padded with all-zero label rows, which
// CrossEntropy ignores, so one graph serves every batch of an epoch.
type Graph struct {
	Model *Model
	Batch int

	g                  *G.ExprGraph
	x, y, w, b         *G.Node
	logits, loss       *G.Node
	xT, yT             *tensor.Dense
	vm                 G.VM
	lossVal, logitsVal G.Value
	train              bool
	wGrad, bGrad       *G.Node

	// Fused says the graph runs the fused ops of Fuse rather than the
	// primitives it was written with.
	Fused bool
}

// GraphOption changes how NewGraph builds a graph.
type GraphOption func(*graphOptions)

type graphOptions struct {
	unfused bool
	bl      blas.Float32
}

// Unfused makes NewGraph run the graph of primitives as Forward and
// CrossEntropyFromLogits build it, without the Fuse pass: slower, for
// checking the fused ops against the ops they replace.
func Unfused() GraphOption { return func(o *graphOptions) { o.unfused = true } }

// WithBLAS makes the fused ops' matrix products run on bl rather than the
// default, internal/blas's New. (The primitives of an Unfused graph use
// the BLAS gorgonia.Use installs, which Gorgonia keeps for the process.)
func WithBLAS(bl blas.Float32) GraphOption { return func(o *graphOptions) { o.bl = bl } }

// defaultBLAS is what the fused ops' products run on without WithBLAS:
// the kernels for softmax regression's narrow products, the best the CPU
// supports. It holds no mutable state.
var defaultBLAS = softblas.New()

// NewGraph builds the graph for batches of up to batch rows. With train set
// it also builds the gradient nodes and Run computes them.
//
// The graph is written with Gorgonia's primitives (Forward,
// CrossEntropyFromLogits); unless the Unfused option says otherwise, the
// Fuse pass then rewrites the bias add and the softmax
// cross-entropy into fused ops before the graph is differentiated and
// compiled, so that both the tape machine and internal/device run the
// fused form.
func (m *Model) NewGraph(batch int, train bool, opts ...GraphOption) (*Graph, error) {
	if batch < 1 {
		return nil, fmt.Errorf("batch size must be at least 1, got %d", batch)
	}
	o := graphOptions{bl: defaultBLAS}
	for _, opt := range opts {
		opt(&o)
	}
	gr := &Graph{Model: m, Batch: batch, train: train, g: G.NewGraph(), Fused: !o.unfused}
	gr.xT = tensor.New(tensor.WithShape(batch, m.In), tensor.Of(tensor.Float32))
	gr.yT = tensor.New(tensor.WithShape(batch, m.Out), tensor.Of(tensor.Float32))
	wT := tensor.New(tensor.WithShape(m.In, m.Out), tensor.WithBacking(m.W))
	bT := tensor.New(tensor.WithShape(m.Out), tensor.WithBacking(m.B))

	gr.x = G.NewMatrix(gr.g, tensor.Float32, G.WithShape(batch, m.In), G.WithName("X"), G.WithValue(gr.xT))
	gr.y = G.NewMatrix(gr.g, tensor.Float32, G.WithShape(batch, m.Out), G.WithName("Y"), G.WithValue(gr.yT))
	gr.w = G.NewMatrix(gr.g, tensor.Float32, G.WithShape(m.In, m.Out), G.WithName("W"), G.WithValue(wT))
	gr.b = G.NewVector(gr.g, tensor.Float32, G.WithShape(m.Out), G.WithName("b"), G.WithValue(bT))

	var err error
	if gr.logits, err = Forward(gr.x, gr.w, gr.b); err != nil {
		return nil, err
	}
	if gr.loss, err = CrossEntropyFromLogits(gr.logits, gr.y); err != nil {
		return nil, err
	}
	if gr.Fused {
		fused, err := Fuse(o.bl, gr.g, gr.logits, gr.loss)
		if err != nil {
			return nil, err
		}
		gr.logits, gr.loss = fused[0], fused[1]
	}
	// The tape machine reuses node memory: Read copies what we need out
	// of the program at the point it is computed.
	readLoss := G.Read(gr.loss, &gr.lossVal)
	readLogits := G.Read(gr.logits, &gr.logitsVal)

	outputs := G.Nodes{readLoss, readLogits}
	if train {
		grads, err := G.Grad(gr.loss, gr.w, gr.b)
		if err != nil {
			return nil, fmt.Errorf("differentiate loss: %w", err)
		}
		gr.wGrad, gr.bGrad = grads[0], grads[1]
		outputs = append(outputs, gr.wGrad, gr.bGrad)
	}
	// Only what the outputs depend on is compiled. That leaves out the
	// primitives Fuse replaced, which stay in the graph, and ∂loss/∂X, a
	// Batch×In product that the matrix product's derivative builds and
	// nothing needs (a third of a step's arithmetic). The gradients are
	// read from their nodes (Grads) rather than accumulated into W's and
	// b's dual values, which would cost an addition, a clearing and
	// allocations every step.
	prog, locMap, err := G.CompileFunction(gr.g, G.Nodes{gr.x, gr.y, gr.w, gr.b}, outputs)
	if err != nil {
		return nil, fmt.Errorf("compile graph: %w", err)
	}
	gr.vm = G.NewTapeMachine(gr.g, G.WithPrecompiled(prog, locMap))
	return gr, nil
}

// Forward is the model's forward pass up to the logits: X·W + b, with b
// broadcast over the rows of the batch.
func Forward(x, w, b *G.Node) (*G.Node, error) {
	xw, err := G.Mul(x, w)
	if err != nil {
		return nil, fmt.Errorf("X·W: %w", err)
	}
	o, err := G.BroadcastAdd(xw, b, nil, []byte{0})
	if err != nil {
		return nil, fmt.Errorf("X·W + b: %w", err)
	}
	return o, nil
}

// Inputs returns the storage of the batch: x is Batch×In pixels scaled to
// [0, 1], y is Batch×Out one-hot labels. Fill them, zeroing unused rows of
// y (and x), then call Run.
func (gr *Graph) Inputs() (x, y []float32) {
	return gr.xT.Data().([]float32), gr.yT.Data().([]float32)
}

// Run executes the graph on the current inputs and returns the mean loss
// over the labelled rows. In a training graph it also computes the
// gradients, which Grads returns until the next Run.
//
// Beyond the graph's work, each Run costs the tape machine's RunAll
// hand-off: it locks the calling goroutine's thread and runs the program on
// a goroutine of its own, so the processor passes to another OS thread and
// back. Measured with BenchmarkRunAll on a 2-vCPU virtual machine that is
// 30–60 µs per call when the kernel wakes the threads on the idle CPU,
// 5 µs when the process is confined to one CPU. Gorgonia's public API has
// no other way to run a compiled program, so the cost stays.
func (gr *Graph) Run() (float64, error) {
	gr.vm.Reset()
	if err := gr.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("run graph: %w", err)
	}
	loss, err := scalarF32(gr.lossVal)
	if err != nil {
		return 0, fmt.Errorf("read loss: %w", err)
	}
	return float64(loss), nil
}

// Logits returns the Batch×Out logits of the last Run.
func (gr *Graph) Logits() []float32 {
	if d, ok := gr.logitsVal.(*tensor.Dense); ok && d.Dtype() == tensor.Float32 {
		return f32s(d)
	}
	return gr.logitsVal.Data().([]float32)
}

// Grads returns the gradients of the last Run with respect to W and b.
func (gr *Graph) Grads() (dW, dB []float32, err error) {
	if !gr.train {
		return nil, nil, fmt.Errorf("graph was built without gradients")
	}
	gw, gb := gr.wGrad.Value(), gr.bGrad.Value()
	if gw == nil || gb == nil {
		return nil, nil, fmt.Errorf("graph has not run")
	}
	dw, ok1 := gw.(*tensor.Dense)
	db, ok2 := gb.(*tensor.Dense)
	if !ok1 || !ok2 || dw.Dtype() != tensor.Float32 || db.Dtype() != tensor.Float32 || dw.IsMaterializable() || db.IsMaterializable() {
		return nil, nil, fmt.Errorf("gradients are %v and %v, not dense float32 tensors", gw, gb)
	}
	return f32s(dw), f32s(db), nil
}

// SGD applies one step of stochastic gradient descent to the model's
// parameters with the gradients of the last Run: p -= lr · ∂loss/∂p, by
// Update, the one update rule. The
// graph reads W and b from the Model's slices, so every graph built from
// the Model sees the update.
func (gr *Graph) SGD(lr float32) error {
	dW, dB, err := gr.Grads()
	if err != nil {
		return err
	}
	Update(gr.Model.W, dW, nil, lr, 0, 0, false)
	Update(gr.Model.B, dB, nil, lr, 0, 0, false)
	return nil
}

// Close releases the machine.
func (gr *Graph) Close() error { return gr.vm.Close() }

// Nodes names the graph's parts, for code that compiles the graph for
// another machine (internal/device) rather than running it here.
type Nodes struct {
	Graph        *G.ExprGraph
	X, Y, W, B   *G.Node
	Logits, Loss *G.Node
	// WGrad and BGrad are the gradient nodes G.Grad added; nil in a
	// forward-only graph.
	WGrad, BGrad *G.Node
}

// Nodes returns the graph's parts.
func (gr *Graph) Nodes() Nodes {
	return Nodes{Graph: gr.g, X: gr.x, Y: gr.y, W: gr.w, B: gr.b, Logits: gr.logits, Loss: gr.loss, WGrad: gr.wGrad, BGrad: gr.bGrad}
}
