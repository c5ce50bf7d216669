package model

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// StopGradient returns a node with x's value through which no gradient
// flows: Gorgonia's symbolic differentiation treats it as a constant. It
// is the one op of this package that Gorgonia lacks (JAX calls it
// lax.stop_gradient).
func StopGradient(x *G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(stopGradientOp{}, x)
	if err != nil {
		return nil, fmt.Errorf("stop gradient: %w", err)
	}
	return n, nil
}

// stopGradientOp is the identity, marked not differentiable.
type stopGradientOp struct{}

func (stopGradientOp) Arity() int { return 1 }

func (stopGradientOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}

func (stopGradientOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("stop gradient: input has no shape (%T)", in[0])
	}
	return s.Clone(), nil
}

// Do copies its input: returning the input itself would let the machine
// reshape or overwrite it in place through this node.
func (stopGradientOp) Do(in ...G.Value) (G.Value, error) {
	t, ok := in[0].(tensor.Tensor)
	if !ok {
		return nil, fmt.Errorf("stop gradient: input is a %T, not a tensor", in[0])
	}
	return t.Clone().(G.Value), nil
}

func (stopGradientOp) ReturnsPtr() bool     { return false }
func (stopGradientOp) CallsExtern() bool    { return false }
func (stopGradientOp) OverwritesInput() int { return -1 }
func (stopGradientOp) String() string       { return "stopGradient" }

func (stopGradientOp) WriteHash(h hash.Hash) { h.Write([]byte("stopGradient")) }

func (op stopGradientOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// DiffWRT says the output does not depend, for differentiation, on the
// input.
func (stopGradientOp) DiffWRT(int) []bool { return []bool{false} }

// SymDiff is never called for a node that is not differentiable.
func (stopGradientOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, errors.New("stop gradient has no derivative")
}
