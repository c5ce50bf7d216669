package metrics

import (
	"math"
	"testing"
)

// fromRows builds a confusion matrix from rows of counts (rows: true class,
// columns: predicted class).
func fromRows(rows [][]int64) *Confusion {
	c := NewConfusion(len(rows))
	for t, row := range rows {
		for p, n := range row {
			c.Counts[t*c.K+p] = n
		}
	}
	return c
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestConfusionMetrics(t *testing.T) {
	tests := []struct {
		name     string
		rows     [][]int64
		total    int64
		accuracy float64
		stats    []ClassStats // Class names are "a", "b", ... in order
		macroF1  float64
	}{
		{
			name:     "binary",
			rows:     [][]int64{{3, 1}, {2, 4}},
			total:    10,
			accuracy: 0.7,
			stats: []ClassStats{
				// P = 3/(3+2), R = 3/(3+1), F1 = 2·3/(2·3+2+1)
				{Class: "a", Precision: 3.0 / 5, Recall: 3.0 / 4, F1: 2.0 / 3, Support: 4},
				// P = 4/(4+1), R = 4/(4+2), F1 = 2·4/(2·4+1+2)
				{Class: "b", Precision: 4.0 / 5, Recall: 4.0 / 6, F1: 8.0 / 11, Support: 6},
			},
			macroF1: (2.0/3 + 8.0/11) / 2,
		},
		{
			// Class c has no examples but is predicted once: precision 0/1,
			// recall 0/0, both defined as 0, and F1 0 rather than NaN.
			name:     "class without support",
			rows:     [][]int64{{5, 2, 0}, {1, 3, 1}, {0, 0, 0}},
			total:    12,
			accuracy: 8.0 / 12,
			stats: []ClassStats{
				{Class: "a", Precision: 5.0 / 6, Recall: 5.0 / 7, F1: 10.0 / 13, Support: 7},
				{Class: "b", Precision: 3.0 / 5, Recall: 3.0 / 5, F1: 3.0 / 5, Support: 5},
				{Class: "c", Precision: 0, Recall: 0, F1: 0, Support: 0},
			},
			macroF1: (10.0/13 + 3.0/5 + 0) / 3,
		},
		{
			name:     "perfect",
			rows:     [][]int64{{2, 0, 0}, {0, 5, 0}, {0, 0, 1}},
			total:    8,
			accuracy: 1,
			stats: []ClassStats{
				{Class: "a", Precision: 1, Recall: 1, F1: 1, Support: 2},
				{Class: "b", Precision: 1, Recall: 1, F1: 1, Support: 5},
				{Class: "c", Precision: 1, Recall: 1, F1: 1, Support: 1},
			},
			macroF1: 1,
		},
		{
			name:     "always wrong",
			rows:     [][]int64{{0, 4}, {6, 0}},
			total:    10,
			accuracy: 0,
			stats: []ClassStats{
				{Class: "a", Support: 4},
				{Class: "b", Support: 6},
			},
			macroF1: 0,
		},
		{
			name:     "empty",
			rows:     [][]int64{{0, 0}, {0, 0}},
			total:    0,
			accuracy: 0,
			stats:    []ClassStats{{Class: "a"}, {Class: "b"}},
			macroF1:  0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fromRows(tt.rows)
			if got := c.Total(); got != tt.total {
				t.Errorf("Total() = %d, want %d", got, tt.total)
			}
			if got := c.Accuracy(); !near(got, tt.accuracy) {
				t.Errorf("Accuracy() = %v, want %v", got, tt.accuracy)
			}
			if got := c.MacroF1(); !near(got, tt.macroF1) {
				t.Errorf("MacroF1() = %v, want %v", got, tt.macroF1)
			}
			got := c.PerClass([]string{"a", "b", "c"})
			if len(got) != len(tt.stats) {
				t.Fatalf("PerClass() returned %d classes, want %d", len(got), len(tt.stats))
			}
			for k, want := range tt.stats {
				g := got[k]
				if g.Class != want.Class || g.Support != want.Support ||
					!near(g.Precision, want.Precision) || !near(g.Recall, want.Recall) || !near(g.F1, want.F1) {
					t.Errorf("PerClass()[%d] = %+v, want %+v", k, g, want)
				}
				for _, v := range []float64{g.Precision, g.Recall, g.F1} {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Errorf("PerClass()[%d] = %+v holds a non-finite value", k, g)
					}
				}
			}
		})
	}
}

func TestConfusionAddAndMerge(t *testing.T) {
	a := NewConfusion(3)
	b := NewConfusion(3)
	for _, e := range []struct{ t, p int }{{0, 0}, {0, 1}, {2, 2}, {2, 2}} {
		a.Add(e.t, e.p)
	}
	b.Add(1, 0)
	b.Add(2, 2)
	a.Merge(b)

	want := [][]int64{{1, 1, 0}, {1, 0, 0}, {0, 0, 3}}
	for ti, row := range want {
		for p, n := range row {
			if got := a.At(ti, p); got != n {
				t.Errorf("At(%d, %d) = %d, want %d", ti, p, got, n)
			}
		}
	}
	if got := a.Total(); got != 6 {
		t.Errorf("Total() = %d, want 6", got)
	}
	if got := b.Total(); got != 2 {
		t.Errorf("Merge modified its argument: Total() = %d, want 2", got)
	}
}

func TestPerClassNames(t *testing.T) {
	c := NewConfusion(3)
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{"nil names use indices", nil, []string{"0", "1", "2"}},
		{"short names fall back to indices", []string{"cat"}, []string{"cat", "1", "2"}},
		{"full names", []string{"x", "y", "z"}, []string{"x", "y", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, s := range c.PerClass(tt.names) {
				if s.Class != tt.want[k] {
					t.Errorf("PerClass()[%d].Class = %q, want %q", k, s.Class, tt.want[k])
				}
			}
		})
	}
}

func TestPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"NewConfusion(0)", func() { NewConfusion(0) }},
		{"Add true out of range", func() { NewConfusion(2).Add(2, 0) }},
		{"Add pred negative", func() { NewConfusion(2).Add(0, -1) }},
		{"Merge K mismatch", func() { NewConfusion(2).Merge(NewConfusion(3)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", tt.name)
				}
			}()
			tt.f()
		})
	}
}
