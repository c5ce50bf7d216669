// Package metrics computes classification metrics for softmaxctl: a
// confusion matrix with accuracy, per-class precision, recall and F1, macro
// F1, a running mean for losses, and plain-text tables for the terminal.
//
// All ratios are defined as 0 when their denominator is 0 (for example the
// precision of a class that was never predicted), so results never contain
// NaN and can be printed, compared and serialized as JSON directly.
package metrics

import (
	"fmt"
	"strconv"
)

// Confusion is a K×K confusion matrix. Counts[t*K+p] is the number of
// examples whose true class is t and whose predicted class is p.
type Confusion struct {
	K      int
	Counts []int64
}

// NewConfusion returns an empty confusion matrix for k classes.
// It panics if k is not positive, which is a programming error.
func NewConfusion(k int) *Confusion {
	if k <= 0 {
		panic(fmt.Sprintf("metrics: NewConfusion(%d): number of classes must be positive", k))
	}
	return &Confusion{K: k, Counts: make([]int64, k*k)}
}

// Add records one example with true class trueClass predicted as pred.
// It panics if either class is outside [0, K): a label out of range means
// the data and the model disagree on the number of classes, and counting it
// anywhere would silently corrupt every metric.
func (c *Confusion) Add(trueClass, pred int) {
	if trueClass < 0 || trueClass >= c.K || pred < 0 || pred >= c.K {
		panic(fmt.Sprintf("metrics: Confusion.Add(%d, %d): class out of range [0, %d)", trueClass, pred, c.K))
	}
	c.Counts[trueClass*c.K+pred]++
}

// Merge adds the counts of o to c, so that matrices filled by concurrent
// workers can be combined. It panics if the matrices have different K.
func (c *Confusion) Merge(o *Confusion) {
	if o.K != c.K {
		panic(fmt.Sprintf("metrics: Confusion.Merge: K mismatch (%d vs %d)", c.K, o.K))
	}
	for i, n := range o.Counts {
		c.Counts[i] += n
	}
}

// At returns the number of examples of true class t predicted as p.
func (c *Confusion) At(t, p int) int64 {
	return c.Counts[t*c.K+p]
}

// Total returns the number of examples recorded.
func (c *Confusion) Total() int64 {
	var n int64
	for _, v := range c.Counts {
		n += v
	}
	return n
}

// Accuracy returns the fraction of examples on the diagonal, or 0 if the
// matrix is empty.
func (c *Confusion) Accuracy() float64 {
	var correct int64
	for k := 0; k < c.K; k++ {
		correct += c.At(k, k)
	}
	return ratio(correct, c.Total())
}

// ClassStats holds the one-vs-rest metrics of a single class.
type ClassStats struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"` // TP / (TP + FP), 0 if the class was never predicted
	Recall    float64 `json:"recall"`    // TP / (TP + FN), 0 if the class has no examples
	F1        float64 `json:"f1"`        // harmonic mean of Precision and Recall, 0 if both are 0
	Support   int64   `json:"support"`   // number of examples whose true class is this one
}

// PerClass returns the statistics of every class in index order. Class k is
// named names[k]; classes beyond len(names) are named by their index.
func (c *Confusion) PerClass(names []string) []ClassStats {
	stats := make([]ClassStats, c.K)
	for k := 0; k < c.K; k++ {
		var predicted, actual int64
		for j := 0; j < c.K; j++ {
			predicted += c.At(j, k)
			actual += c.At(k, j)
		}
		tp := c.At(k, k)
		s := ClassStats{
			Class:     className(names, k),
			Precision: ratio(tp, predicted),
			Recall:    ratio(tp, actual),
			Support:   actual,
		}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		stats[k] = s
	}
	return stats
}

// MacroF1 returns the unweighted mean of the per-class F1 scores over all K
// classes. A class with no examples and no predictions contributes 0, as in
// scikit-learn's f1_score(average="macro", zero_division=0).
func (c *Confusion) MacroF1() float64 {
	var sum float64
	for _, s := range c.PerClass(nil) {
		sum += s.F1
	}
	return sum / float64(c.K)
}

func ratio(num, den int64) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

func className(names []string, k int) string {
	if k < len(names) {
		return names[k]
	}
	return strconv.Itoa(k)
}
