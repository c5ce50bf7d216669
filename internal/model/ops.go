package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// The functions in this file are the chapter's softmax and cross-entropy,
// composed from Gorgonia's primitive ops (max, exp, sum along an axis,
// division, log) rather than taken from a library helper. Each takes and
// returns graph nodes, so Gorgonia differentiates through them.

// rowMax returns the maximum of each row of a B×K matrix, as a B vector.
func rowMax(o *G.Node) (*G.Node, error) {
	m, err := G.Max(o, 1)
	if err != nil {
		return nil, fmt.Errorf("row max: %w", err)
	}
	return m, nil
}

// shifted returns o minus each row's maximum. Subtracting the maximum leaves
// softmax unchanged but keeps exp from overflowing: the largest entry of
// each row becomes exp(0) = 1. As the result does not depend on the
// shift, its derivative with respect to the maximum is zero; the shift is
// taken through StopGradient, as JAX's logsumexp does with
// lax.stop_gradient, so that backpropagation does not build the max's
// derivative only to add zeros.
func shifted(o *G.Node) (*G.Node, error) {
	m, err := rowMax(o)
	if err != nil {
		return nil, err
	}
	if m, err = StopGradient(m); err != nil {
		return nil, err
	}
	z, err := G.BroadcastSub(o, m, nil, []byte{1})
	if err != nil {
		return nil, fmt.Errorf("subtract row max: %w", err)
	}
	return z, nil
}

// LogSoftmax returns log(softmax(o)) row by row as z - log(sum(exp(z))) with
// z = o - rowmax(o): finite for any finite logits, where log(Softmax(o))
// would give log(0) = -Inf once a probability underflows.
func LogSoftmax(o *G.Node) (*G.Node, error) {
	z, err := shifted(o)
	if err != nil {
		return nil, err
	}
	e, err := G.Exp(z)
	if err != nil {
		return nil, fmt.Errorf("log-softmax exp: %w", err)
	}
	s, err := G.Sum(e, 1)
	if err != nil {
		return nil, fmt.Errorf("log-softmax sum: %w", err)
	}
	ls, err := G.Log(s)
	if err != nil {
		return nil, fmt.Errorf("log-softmax log: %w", err)
	}
	lp, err := G.BroadcastSub(z, ls, nil, []byte{1})
	if err != nil {
		return nil, fmt.Errorf("log-softmax subtract: %w", err)
	}
	return lp, nil
}

// CrossEntropyFromLogits is the chapter's cross-entropy of softmax(o)
// against one-hot labels y (B×K) — the mean over labelled rows of
// -log softmax(o)[i, y_i] — computed through LogSoftmax, so logits of ±1e4
// still give a finite loss and gradients. Rows of y that are all zero are
// padding: they add nothing, and the mean divides by the number of
// labelled rows, sum(y).
func CrossEntropyFromLogits(o, y *G.Node) (*G.Node, error) {
	lp, err := LogSoftmax(o)
	if err != nil {
		return nil, err
	}
	return meanPicked(lp, y)
}

// meanPicked returns -sum(y ⊙ logp) / sum(y): the mean of -logp at each
// row's labelled class.
func meanPicked(logp, y *G.Node) (*G.Node, error) {
	picked, err := G.HadamardProd(y, logp)
	if err != nil {
		return nil, fmt.Errorf("cross-entropy pick: %w", err)
	}
	total, err := G.Sum(picked)
	if err != nil {
		return nil, fmt.Errorf("cross-entropy sum: %w", err)
	}
	count, err := G.Sum(y)
	if err != nil {
		return nil, fmt.Errorf("cross-entropy count: %w", err)
	}
	mean, err := G.Div(total, count)
	if err != nil {
		return nil, fmt.Errorf("cross-entropy mean: %w", err)
	}
	neg, err := G.Neg(mean)
	if err != nil {
		return nil, fmt.Errorf("cross-entropy negate: %w", err)
	}
	return neg, nil
}
