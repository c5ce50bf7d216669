package model

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"unsafe"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The fused ops of this file are what Fuse (fuse.go) rewrites the model's
// graph of primitives into. Each is a Gorgonia op with its own symbolic
// derivative, so G.Grad differentiates the fused graph as it does the
// primitive one, and the tape machine runs it; internal/device lowers each
// to steps of its own.
//
// Unlike Gorgonia's primitives, which allocate their result on every run
// (the tape machine's Reset drops every register), a fused op owns its
// result: it is allocated on the first run and overwritten on every later
// one. That is safe because the op writes all of it each run, the values a
// graph hands out (Read, Grads) are copied or used before the next run, and
// each node gets an op of its own (Fuse makes a new op for every node it
// builds), so no two nodes share a result.

// float32 only: the model is float32, and Fuse leaves other graphs alone.
var errDtype = errors.New("fused ops take float32 tensors only")

// denseF32 returns the float32 elements of a Gorgonia value holding a dense
// tensor, without allocating: tensor.Dense.Data builds its slice through
// reflection, two allocations per call, and a training step makes dozens
// of such calls.
func denseF32(v G.Value) ([]float32, tensor.Shape, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, nil, fmt.Errorf("%T is not a dense tensor", v)
	}
	if d.Dtype() != tensor.Float32 {
		return nil, nil, errDtype
	}
	if d.IsMaterializable() {
		// A view or a lazy transpose: its storage is not in its own
		// row-major order.
		return nil, nil, fmt.Errorf("tensor of shape %v is a view", d.Shape())
	}
	return f32s(d), d.Shape(), nil
}

// f32s views the storage of a float32 *tensor.Dense as a []float32. Raw is
// the tensor's own []byte view of the slice it was made from.
func f32s(d *tensor.Dense) []float32 {
	raw := d.Raw
	if len(raw) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/4)
}

// scalarF32 returns the value of a float32 scalar.
func scalarF32(v G.Value) (float32, error) {
	switch s := v.(type) {
	case *G.F32:
		return float32(*s), nil
	case *tensor.Dense:
		if d := f32s(s); s.Dtype() == tensor.Float32 && len(d) == 1 {
			return d[0], nil
		}
	}
	return 0, fmt.Errorf("%T is not a float32 scalar", v)
}

// owned is the result buffer an op keeps from run to run.
type owned struct {
	t    *tensor.Dense
	data []float32
}

// get returns the op's result tensor of the given shape and its elements,
// allocating it the first time (or if the shape changed, which a compiled
// graph never does).
func (o *owned) get(shape ...int) (*tensor.Dense, []float32) {
	if o.t == nil || !o.t.Shape().Eq(tensor.Shape(shape)) {
		o.data = make([]float32, tensor.Shape(shape).TotalSize())
		o.t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(o.data))
	}
	return o.t, o.data
}

// fusedOp is what every fused op shares: its name, the BLAS its products
// run on (the graph's, handed down to the ops of its derivative), and the
// tape machine's questions of an op that writes a result of its own and
// calls nothing outside Go.
type fusedOp struct {
	name string
	bl   blas.Float32
}

func (fusedOp) ReturnsPtr() bool        { return false }
func (fusedOp) CallsExtern() bool       { return false }
func (fusedOp) OverwritesInput() int    { return -1 }
func (o fusedOp) String() string        { return o.name }
func (o fusedOp) WriteHash(h hash.Hash) { h.Write([]byte(o.name)) }
func (o fusedOp) Hashcode() uint32      { return hashOf(o) }

func matrixType() (a hm.TypeVariable, m, v G.TensorType) {
	a = hm.TypeVariable('a')
	return a, G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a}
}

func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// shapesOf returns the static shapes of an op's inputs.
func shapesOf(in []G.DimSizer) ([]tensor.Shape, error) {
	s := make([]tensor.Shape, len(in))
	for i, d := range in {
		var ok bool
		if s[i], ok = d.(tensor.Shape); !ok {
			return nil, fmt.Errorf("input %d has no shape (%T)", i, d)
		}
	}
	return s, nil
}

// GemmOp is the matrix product op(A)·op(B), op transposing where TransA
// (TransB) is set, computed by the graph's BLAS into a
// result the op owns: Gorgonia's own product allocates its result and
// transposed views of its operands on every run.
type GemmOp struct {
	fusedOp
	TransA, TransB bool
	out            owned
}

// Gemm returns op(a)·op(b).
func Gemm(bl blas.Float32, a, b *G.Node, transA, transB bool) (*G.Node, error) {
	n, err := G.ApplyOp(&GemmOp{fusedOp: fusedOp{"Gemm", bl}, TransA: transA, TransB: transB}, a, b)
	if err != nil {
		return nil, fmt.Errorf("matrix product: %w", err)
	}
	return n, nil
}

func (*GemmOp) Arity() int { return 2 }

func (*GemmOp) Type() hm.Type {
	_, m, _ := matrixType()
	return hm.NewFnType(m, m, m)
}

// dims returns the product's M, N and K for operands of shapes a and b.
func (op *GemmOp) dims(a, b tensor.Shape) (m, n, k int, err error) {
	if len(a) != 2 || len(b) != 2 {
		return 0, 0, 0, fmt.Errorf("%v of shapes %v and %v", op, a, b)
	}
	m, k = a[0], a[1]
	if op.TransA {
		m, k = k, m
	}
	kb, n := b[0], b[1]
	if op.TransB {
		kb, n = n, kb
	}
	if k != kb {
		return 0, 0, 0, fmt.Errorf("%v of shapes %v and %v", op, a, b)
	}
	return m, n, k, nil
}

func (op *GemmOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(in)
	if err != nil {
		return nil, err
	}
	m, n, _, err := op.dims(s[0], s[1])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{m, n}, nil
}

func (op *GemmOp) Do(in ...G.Value) (G.Value, error) {
	a, as, err := denseF32(in[0])
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	b, bs, err := denseF32(in[1])
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	m, n, k, err := op.dims(as, bs)
	if err != nil {
		return nil, err
	}
	t, c := op.out.get(m, n)
	gemm(op.bl, op.TransA, op.TransB, m, n, k, a, as[1], b, bs[1], c)
	return t, nil
}

// gemm is C = op(A)·op(B) through bl, for row-major operands whose rows
// are lda and ldb long as stored.
func gemm(bl blas.Float32, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32) {
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	bl.Sgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, n)
}

func (op *GemmOp) String() string {
	t := func(b bool) string {
		if b {
			return "ᵀ"
		}
		return ""
	}
	return "Gemm(A" + t(op.TransA) + "·B" + t(op.TransB) + ")"
}

func (op *GemmOp) WriteHash(h hash.Hash) { h.Write([]byte(op.String())) }
func (op *GemmOp) Hashcode() uint32      { return hashOf(op) }
func (*GemmOp) DiffWRT(int) []bool       { return []bool{true, true} }

// SymDiff is the matrix product's derivative for the operand layouts the
// model uses (A·B); G.Grad builds both, and compiling only what the
// outputs need drops ∂/∂A when A is the data.
func (op *GemmOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if op.TransA || op.TransB {
		return nil, fmt.Errorf("%v: derivative of a transposed product not implemented", op)
	}
	return gemmGrads(op.bl, in[0], in[1], grad)
}

// gemmGrads returns ∂/∂A = G·Bᵀ and ∂/∂B = Aᵀ·G for the product A·B with
// incoming gradient G.
func gemmGrads(bl blas.Float32, a, b, grad *G.Node) (G.Nodes, error) {
	da, err := Gemm(bl, grad, b, false, true)
	if err != nil {
		return nil, err
	}
	db, err := Gemm(bl, a, grad, true, false)
	if err != nil {
		return nil, err
	}
	return G.Nodes{da, db}, nil
}

// LinearOp is X·W + b, b added to every row: what the model's Forward
// builds from G.Mul and G.BroadcastAdd, as one op that computes the
// product through the installed BLAS and adds b while its rows are in
// cache. Its derivative is X's and W's through the product and b's column
// sums.
type LinearOp struct {
	fusedOp
	out owned
}

// Linear returns x·w + b.
func Linear(bl blas.Float32, x, w, b *G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(&LinearOp{fusedOp: fusedOp{"Linear", bl}}, x, w, b)
	if err != nil {
		return nil, fmt.Errorf("linear: %w", err)
	}
	return n, nil
}

func (*LinearOp) Arity() int { return 3 }

func (*LinearOp) Type() hm.Type {
	_, m, v := matrixType()
	return hm.NewFnType(m, m, v, m)
}

func (*LinearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(in)
	if err != nil {
		return nil, err
	}
	x, w, b := s[0], s[1], s[2]
	if len(x) != 2 || len(w) != 2 || x[1] != w[0] || b.TotalSize() != w[1] {
		return nil, fmt.Errorf("linear of shapes %v, %v and %v", x, w, b)
	}
	return tensor.Shape{x[0], w[1]}, nil
}

func (op *LinearOp) Do(in ...G.Value) (G.Value, error) {
	var v [3][]float32
	var s [3]tensor.Shape
	for i := range v {
		var err error
		if v[i], s[i], err = denseF32(in[i]); err != nil {
			return nil, fmt.Errorf("linear: %w", err)
		}
	}
	m, k, n := s[0][0], s[0][1], s[1][1]
	t, out := op.out.get(m, n)
	gemm(op.bl, false, false, m, n, k, v[0], k, v[1], n, out)
	BiasAddRows(out, out, v[2])
	return t, nil
}

func (*LinearOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *LinearOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	g, err := gemmGrads(op.bl, in[0], in[1], grad)
	if err != nil {
		return nil, err
	}
	db, err := ColSum(grad)
	if err != nil {
		return nil, err
	}
	return append(g, db), nil
}

// BiasAddOp is X + b with the vector b added to every row of the matrix X:
// what G.BroadcastAdd(X, b, nil, []byte{0}) computes, without
// materialising b repeated Batch times. Its derivative passes the
// gradient through to X and sums its columns for b (ColSumOp).
type BiasAddOp struct {
	fusedOp
	out owned
}

// BiasAdd returns x + b, b added to each row of x.
func BiasAdd(x, b *G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(&BiasAddOp{fusedOp: fusedOp{name: "BiasAdd"}}, x, b)
	if err != nil {
		return nil, fmt.Errorf("bias add: %w", err)
	}
	return n, nil
}

func (*BiasAddOp) Arity() int { return 2 }

func (*BiasAddOp) Type() hm.Type {
	_, m, v := matrixType()
	return hm.NewFnType(m, v, m)
}

func (*BiasAddOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(in)
	if err != nil {
		return nil, err
	}
	x, b := s[0], s[1]
	if len(x) != 2 || b.TotalSize() != x[1] {
		return nil, fmt.Errorf("bias add of shapes %v and %v", x, b)
	}
	return x.Clone(), nil
}

func (op *BiasAddOp) Do(in ...G.Value) (G.Value, error) {
	x, xs, err := denseF32(in[0])
	if err != nil {
		return nil, fmt.Errorf("bias add: %w", err)
	}
	b, _, err := denseF32(in[1])
	if err != nil {
		return nil, fmt.Errorf("bias add: %w", err)
	}
	t, out := op.out.get(xs...)
	BiasAddRows(out, x, b)
	return t, nil
}

// BiasAddRows sets out[i·k+j] = x[i·k+j] + b[j] where k = len(b): the
// semantics of BiasAddOp, shared with internal/device.
func BiasAddRows(out, x, b []float32) {
	k := len(b)
	for i := 0; i+k <= len(x); i += k {
		o, r := out[i:i+k], x[i:i+k]
		for j, bj := range b {
			o[j] = r[j] + bj
		}
	}
}

func (*BiasAddOp) DiffWRT(int) []bool { return []bool{true, true} }

// SymDiff: ∂/∂X is the incoming gradient itself, ∂/∂b its column sums.
func (*BiasAddOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	db, err := ColSum(grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{grad, db}, nil
}

// ColSumOp sums a matrix's rows into a vector (its column sums), in row
// order: the gradient of the bias.
type ColSumOp struct {
	fusedOp
	out owned
}

// ColSum returns the column sums of the matrix x.
func ColSum(x *G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(&ColSumOp{fusedOp: fusedOp{name: "ColSum"}}, x)
	if err != nil {
		return nil, fmt.Errorf("column sum: %w", err)
	}
	return n, nil
}

func (*ColSumOp) Arity() int { return 1 }

func (*ColSumOp) Type() hm.Type {
	_, m, v := matrixType()
	return hm.NewFnType(m, v)
}

func (*ColSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(in)
	if err != nil {
		return nil, err
	}
	x := s[0]
	if len(x) != 2 {
		return nil, fmt.Errorf("column sum of shape %v", x)
	}
	return tensor.Shape{x[1]}, nil
}

func (op *ColSumOp) Do(in ...G.Value) (G.Value, error) {
	x, xs, err := denseF32(in[0])
	if err != nil {
		return nil, fmt.Errorf("column sum: %w", err)
	}
	t, out := op.out.get(xs[1])
	ColSums(out, x)
	return t, nil
}

// ColSums sets out[j] to the sum over rows of x[i·k+j], k = len(out), in
// row order.
func ColSums(out, x []float32) {
	clear(out)
	k := len(out)
	for i := 0; i+k <= len(x); i += k {
		for j, v := range x[i : i+k] {
			out[j] += v
		}
	}
}

// SoftmaxCEOp is the stable softmax cross-entropy of CrossEntropyFromLogits
// in one op: from logits O and labels Y (both B×K) it computes the scalar
// loss -Σ Y⊙logsoftmax(O) / ΣY and keeps the probabilities softmax(O) for
// its derivative, SoftmaxCEGradOp, which is (P·rowsum(Y) − Y)/ΣY times the
// incoming gradient: P − Y over the labelled rows, zero on padding rows.
type SoftmaxCEOp struct {
	fusedOp
	loss G.F32
	p    owned
	// valid says p holds the probabilities of the logits at src, computed
	// by the last Do; the derivative recomputes them otherwise.
	valid bool
	src   *float32
}

// SoftmaxCrossEntropy returns the fused form of CrossEntropyFromLogits(o, y).
func SoftmaxCrossEntropy(o, y *G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(&SoftmaxCEOp{fusedOp: fusedOp{name: "SoftmaxCE"}}, o, y)
	if err != nil {
		return nil, fmt.Errorf("softmax cross-entropy: %w", err)
	}
	return n, nil
}

func (*SoftmaxCEOp) Arity() int { return 2 }

func (*SoftmaxCEOp) Type() hm.Type {
	a, m, _ := matrixType()
	return hm.NewFnType(m, m, a)
}

func (*SoftmaxCEOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(in)
	if err != nil {
		return nil, err
	}
	o, y := s[0], s[1]
	if len(o) != 2 || !o.Eq(y) {
		return nil, fmt.Errorf("softmax cross-entropy of shapes %v and %v", o, y)
	}
	return tensor.ScalarShape(), nil
}

func (op *SoftmaxCEOp) Do(in ...G.Value) (G.Value, error) {
	o, os, err := denseF32(in[0])
	if err != nil {
		return nil, fmt.Errorf("softmax cross-entropy: %w", err)
	}
	y, _, err := denseF32(in[1])
	if err != nil {
		return nil, fmt.Errorf("softmax cross-entropy: %w", err)
	}
	_, p := op.p.get(os...)
	op.loss = G.F32(SoftmaxXent(p, o, y, os[1]))
	op.valid, op.src = len(o) > 0, nil
	if len(o) > 0 {
		op.src = &o[0]
	}
	return &op.loss, nil
}

// DiffWRT: the labels are data.
func (*SoftmaxCEOp) DiffWRT(int) []bool { return []bool{true, false} }

// SymDiff builds the one-op derivative with respect to the logits. It
// takes the loss node as an operand although it does not read its value,
// so that the machine runs it after the forward op whose probabilities it
// reuses.
func (op *SoftmaxCEOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&SoftmaxCEGradOp{fusedOp: fusedOp{name: "SoftmaxCEGrad"}, fwd: op}, in[0], in[1], out, grad)
	if err != nil {
		return nil, fmt.Errorf("softmax cross-entropy derivative: %w", err)
	}
	return G.Nodes{d, nil}, nil
}

// SoftmaxCEGradOp is the derivative of SoftmaxCEOp with respect to the
// logits: from O, Y, the loss (unused: it orders the op after the
// forward pass) and the incoming scalar gradient g it computes
// g·(P·rowsum(Y) − Y)/ΣY, P = softmax(O) by rows, taking P from its
// forward op when that op ran on the same logits.
type SoftmaxCEGradOp struct {
	fusedOp
	fwd *SoftmaxCEOp
	out owned
}

func (*SoftmaxCEGradOp) Arity() int { return 4 }

func (*SoftmaxCEGradOp) Type() hm.Type {
	a, m, _ := matrixType()
	return hm.NewFnType(m, m, a, a, m)
}

func (*SoftmaxCEGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(in)
	if err != nil {
		return nil, err
	}
	return s[0].Clone(), nil
}

func (op *SoftmaxCEGradOp) Do(in ...G.Value) (G.Value, error) {
	o, os, err := denseF32(in[0])
	if err != nil {
		return nil, fmt.Errorf("softmax cross-entropy derivative: %w", err)
	}
	y, _, err := denseF32(in[1])
	if err != nil {
		return nil, fmt.Errorf("softmax cross-entropy derivative: %w", err)
	}
	g, err := scalarF32(in[3])
	if err != nil {
		return nil, fmt.Errorf("softmax cross-entropy derivative: %w", err)
	}
	t, d := op.out.get(os...)
	f := op.fwd
	if f == nil || !f.valid || len(o) == 0 || f.src != &o[0] || len(f.p.data) != len(o) {
		// Not the logits the forward op last saw: compute the
		// probabilities here (into the result, which the step overwrites
		// element by element).
		SoftmaxRows(d, o, os[1])
		SoftmaxXentGrad(d, d, y, os[1], g)
		return t, nil
	}
	f.valid = false
	SoftmaxXentGrad(d, f.p.data, y, os[1], g)
	return t, nil
}
