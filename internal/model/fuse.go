package model

import (
	"fmt"
	"reflect"
	"slices"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Fuse is a rewriting pass over a graph of Gorgonia primitives, run before
// the graph is differentiated and compiled. It finds the subgraphs it
// knows and replaces each with one fused op of this package:
//
//   - the broadcast bias add A + b, which G.BroadcastAdd builds as
//     b reshaped to 1×K, repeated Batch times (a Batch×K copy) and added,
//     becomes BiasAddOp, or, when A is the matrix product X·W, LinearOp:
//     the product and the bias add in one op, whose derivative computes
//     ∂/∂W and ∂/∂b with ops of this package too;
//   - the stable softmax cross-entropy of CrossEntropyFromLogits (row max
//     through StopGradient, shift, exp, row sum, log, subtract, pick with
//     the labels, sum, divide by the label count, negate: thirteen nodes,
//     three of them materialised broadcasts) becomes SoftmaxCEOp, whose
//     derivative is one op as well.
//
// The model stays defined as the chapter writes it (Forward and
// CrossEntropyFromLogits build primitives); Fuse changes only what runs.
// It returns the nodes that now compute roots, in order. The primitives it
// replaced stay in g, unreachable from the new roots, so that G.Grad,
// G.CompileFunction and internal/device, which all work from the outputs
// they are given, never see them. (Gorgonia's ExprGraph.RemoveNode leaves
// its node index stale, so the pass does not delete them.) Nodes it does
// not recognise are kept as they are, with their operands rewritten; a
// graph with nothing to fuse comes back unchanged.
func Fuse(bl blas.Float32, g *G.ExprGraph, roots ...*G.Node) ([]*G.Node, error) {
	f := &fuser{bl: bl, g: g, done: map[*G.Node]*G.Node{}}
	out := make([]*G.Node, len(roots))
	for i, r := range roots {
		n, err := f.rewrite(r)
		if err != nil {
			return nil, fmt.Errorf("fuse: %w", err)
		}
		out[i] = n
	}
	return out, nil
}

type fuser struct {
	bl   blas.Float32 // the products' BLAS
	g    *G.ExprGraph
	done map[*G.Node]*G.Node
}

func (f *fuser) rewrite(n *G.Node) (*G.Node, error) {
	if r, ok := f.done[n]; ok {
		return r, nil
	}
	r, err := f.rewrite1(n)
	if err != nil {
		return nil, err
	}
	f.done[n] = r
	return r, nil
}

func (f *fuser) rewrite1(n *G.Node) (*G.Node, error) {
	if n.Op() == nil {
		return n, nil
	}
	if o, y, ok := f.softmaxCE(n); ok {
		o2, err := f.rewrite(o)
		if err != nil {
			return nil, err
		}
		y2, err := f.rewrite(y)
		if err != nil {
			return nil, err
		}
		return SoftmaxCrossEntropy(o2, y2)
	}
	if x, b, ok := f.biasAdd(n); ok {
		b2, err := f.rewrite(b)
		if err != nil {
			return nil, err
		}
		if p, ok := f.is(x, "linAlgBinOp", "A × B"); ok && len(p) == 2 && p[0].Shape().Dims() == 2 && p[1].Shape().Dims() == 2 {
			xs, err := f.rewrite(p[0])
			if err != nil {
				return nil, err
			}
			w, err := f.rewrite(p[1])
			if err != nil {
				return nil, err
			}
			return Linear(f.bl, xs, w, b2)
		}
		x2, err := f.rewrite(x)
		if err != nil {
			return nil, err
		}
		return BiasAdd(x2, b2)
	}
	kids := f.children(n)
	changed := false
	for i, k := range kids {
		k2, err := f.rewrite(k)
		if err != nil {
			return nil, err
		}
		changed = changed || k2 != k
		kids[i] = k2
	}
	if !changed {
		return n, nil
	}
	r, err := G.ApplyOp(n.Op(), kids...)
	if err != nil {
		return nil, fmt.Errorf("rebuild %v: %w", n.Op(), err)
	}
	return r, nil
}

// children returns a node's operands, in order.
func (f *fuser) children(n *G.Node) []*G.Node {
	var kids []*G.Node
	it := f.g.From(n.ID())
	for it != nil && it.Next() {
		kids = append(kids, it.Node().(*G.Node))
	}
	return kids
}

// The matchers read Gorgonia's unexported op types by name and their
// printed forms ("Σ[1]", "- false"), for the Gorgonia version go.mod pins;
// TestFuseRecognisesTheModel fails if a new version changes them.

// OpKind returns the name of an op's type: "elemBinOp", "sumOp", and so
// on. Gorgonia's op types are unexported; their names (and, for
// internal/device/program, their fields) are what Fuse and the device
// compiler read, for the Gorgonia version go.mod pins.
func OpKind(op G.Op) string {
	t := reflect.TypeOf(op)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// is reports whether n is computed by an op of the given kind printing as
// str, and if so returns its operands.
func (f *fuser) is(n *G.Node, kind, str string) ([]*G.Node, bool) {
	if n == nil || n.Op() == nil || OpKind(n.Op()) != kind || n.Op().String() != str || n.Dtype() != tensor.Float32 {
		return nil, false
	}
	return f.children(n), true
}

// broadcastOf matches the right operand of a G.Broadcast* op: a vector v
// reshaped to have a 1 on axis and repeated along it to the size of the
// other operand, sized by a SizeOf node of that operand. It returns v.
func (f *fuser) broadcastOf(n, other *G.Node, axis int) (*G.Node, bool) {
	k, ok := f.is(n, "repeatOp", fmt.Sprintf("Repeat%d", axis))
	if !ok || len(k) != 2 {
		return nil, false
	}
	size, ok := f.is(k[1], "sizeOp", fmt.Sprintf("SizeOf=%d", other.Shape()[axis]))
	if !ok || len(size) != 1 || size[0] != other {
		return nil, false
	}
	if k[0].Op() == nil || OpKind(k[0].Op()) != "reshapeOp" {
		return nil, false
	}
	v := f.children(k[0])
	if len(v) != 1 || v[0].Shape().Dims() != 1 || !slices.Equal(k[0].Shape(), broadcastShape(v[0].Shape()[0], axis)) {
		return nil, false
	}
	return v[0], true
}

func broadcastShape(n, axis int) []int {
	if axis == 0 {
		return []int{1, n}
	}
	return []int{n, 1}
}

// biasAdd matches G.BroadcastAdd(x, b, nil, []byte{0}) for a matrix x and
// a vector b.
func (f *fuser) biasAdd(n *G.Node) (x, b *G.Node, ok bool) {
	k, ok := f.is(n, "elemBinOp", "+ false")
	if !ok || len(k) != 2 || k[0].Shape().Dims() != 2 {
		return nil, nil, false
	}
	b, ok = f.broadcastOf(k[1], k[0], 0)
	if !ok || b.Shape()[0] != k[0].Shape()[1] {
		return nil, nil, false
	}
	return k[0], b, true
}

// softmaxCE matches CrossEntropyFromLogits(o, y):
//
//	z    = o - repeat(StopGradient(max(o, 1)))
//	lp   = z - repeat(log(sum(exp(z), 1)))
//	loss = -(sum(y ⊙ lp) / sum(y))
func (f *fuser) softmaxCE(n *G.Node) (o, y *G.Node, ok bool) {
	neg, ok := f.is(n, "elemUnaryOp", "neg")
	if !ok {
		return nil, nil, false
	}
	div, ok := f.is(neg[0], "elemBinOp", "÷ false")
	if !ok {
		return nil, nil, false
	}
	total, ok1 := f.is(div[0], "sumOp", "Σ[0 1]")
	count, ok2 := f.is(div[1], "sumOp", "Σ[0 1]")
	if !ok1 || !ok2 {
		return nil, nil, false
	}
	picked, ok := f.is(total[0], "elemBinOp", "⊙ false")
	if !ok || picked[0] != count[0] {
		return nil, nil, false
	}
	y = picked[0]
	lp, ok := f.is(picked[1], "elemBinOp", "- false")
	if !ok {
		return nil, nil, false
	}
	z := lp[0]
	ls, ok := f.broadcastOf(lp[1], z, 1)
	if !ok {
		return nil, nil, false
	}
	s, ok := f.is(ls, "elemUnaryOp", "ln")
	if !ok {
		return nil, nil, false
	}
	e, ok := f.is(s[0], "sumOp", "Σ[1]")
	if !ok {
		return nil, nil, false
	}
	if ez, ok := f.is(e[0], "elemUnaryOp", "exp"); !ok || ez[0] != z {
		return nil, nil, false
	}
	sh, ok := f.is(z, "elemBinOp", "- false")
	if !ok {
		return nil, nil, false
	}
	o = sh[0]
	stop, ok := f.broadcastOf(sh[1], o, 1)
	if !ok {
		return nil, nil, false
	}
	mx, ok := f.is(stop, "stopGradientOp", "stopGradient")
	if !ok {
		return nil, nil, false
	}
	if m, ok := f.is(mx[0], "maxOp", "MaxAlong[1]"); !ok || m[0] != o {
		return nil, nil, false
	}
	if o.Shape().Dims() != 2 || !o.Shape().Eq(y.Shape()) || y.Dtype() != tensor.Float32 {
		return nil, nil, false
	}
	return o, y, true
}
