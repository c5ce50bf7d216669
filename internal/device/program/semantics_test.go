package program

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// The model's graph repeats only axes of length 1 and its max gradient
// contributes almost nothing, so these tests pin the step semantics to
// Gorgonia's own (its repeat, sum and max ops call the tensor package
// used here) for every geometry.

func randomTensor(rng *rand.Rand, shape ...int) (*tensor.Dense, []float32) {
	d := make([]float32, shapeSize(shape))
	for i := range d {
		d[i] = float32(rng.IntN(21)-10) / 4 // small values with ties
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(d))), d
}

// view3 returns the outer×n×inner view of shape around axis.
func view3(shape []int, axis int) (outer, n, inner int) {
	return shapeSize(shape[:axis]), shape[axis], shapeSize(shape[axis+1:])
}

func TestRepeatMatchesGorgonia(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		shape      []int
		axis, reps int
	}{
		{[]int{1, 10}, 0, 4}, // BroadcastAdd's bias
		{[]int{6, 1}, 1, 3},  // a row statistic over the columns
		{[]int{3, 4}, 0, 2},
		{[]int{3, 4}, 1, 3},
		{[]int{2, 3, 4}, 1, 2},
		{[]int{5}, 0, 1},
	}
	for _, tt := range tests {
		in, data := randomTensor(rng, tt.shape...)
		want, err := tensor.Repeat(in, tt.axis, tt.reps)
		if err != nil {
			t.Fatal(err)
		}
		outer, n, inner := view3(tt.shape, tt.axis)
		got := make([]float32, len(data)*tt.reps)
		repeat(got, data, outer, n, tt.reps, inner)
		if !slices.Equal(got, want.Data().([]float32)) {
			t.Errorf("repeat %v along %d ×%d = %v, Gorgonia %v", tt.shape, tt.axis, tt.reps, got, want.Data())
		}
	}
}

func TestReduceMatchesGorgonia(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	tests := []struct {
		shape []int
		axis  int
	}{
		{[]int{256, 10}, 1},
		{[]int{256, 10}, 0},
		{[]int{2, 3, 4}, 1},
		{[]int{7}, 0},
	}
	for _, tt := range tests {
		for _, fn := range []Fn{FnSum, FnMax} {
			in, data := randomTensor(rng, tt.shape...)
			var want tensor.Tensor
			var err error
			if fn == FnSum {
				want, err = tensor.Sum(in, tt.axis)
			} else {
				want, err = in.Max(tt.axis)
			}
			if err != nil {
				t.Fatal(err)
			}
			outer, n, inner := view3(tt.shape, tt.axis)
			got := make([]float32, outer*inner)
			reduce(fn, got, data, outer, n, inner)
			// Quarters sum exactly in float32, so the order of the sum
			// does not matter and the results are equal.
			if w := want.Data(); !slices.Equal(got, asFloats(w)) {
				t.Errorf("%s of %v along %d = %v, Gorgonia %v", fn, tt.shape, tt.axis, got, w)
			}
		}
	}
}

func asFloats(v any) []float32 {
	if f, ok := v.(float32); ok {
		return []float32{f}
	}
	return v.([]float32)
}

func TestElementwiseSemantics(t *testing.T) {
	a, b := []float32{1, -2, 0.5, 3}, []float32{2, -2, 4, 0.5}
	tests := []struct {
		fn     Fn
		a, b   []float32
		scalar [2]bool
		want   []float32
	}{
		{FnAdd, a, b, [2]bool{}, []float32{3, -4, 4.5, 3.5}},
		{FnSub, a, b, [2]bool{}, []float32{-1, 0, -3.5, 2.5}},
		{FnMul, a, b, [2]bool{}, []float32{2, 4, 2, 1.5}},
		{FnDiv, a, b, [2]bool{}, []float32{0.5, 1, 0.125, 6}},
		{FnEq, a, b, [2]bool{}, []float32{0, 1, 0, 0}},
		{FnSub, []float32{10}, b, [2]bool{true, false}, []float32{8, 12, 6, 9.5}},
		{FnDiv, a, []float32{2}, [2]bool{false, true}, []float32{0.5, -1, 0.25, 1.5}},
		{FnEq, []float32{0.5}, a, [2]bool{true, false}, []float32{0, 0, 1, 0}},
	}
	for _, tt := range tests {
		got := make([]float32, len(tt.want))
		applyBinary(tt.fn, got, tt.a, tt.b, tt.scalar)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s(%v, %v, scalar %v) = %v, want %v", tt.fn, tt.a, tt.b, tt.scalar, got, tt.want)
		}
	}
	got := make([]float32, 3)
	for _, u := range []struct {
		fn   Fn
		in   []float32
		want []float32
	}{
		{FnNeg, []float32{1, -2, 0}, []float32{-1, 2, 0}},
		{FnExp, []float32{0, 1, -1e4}, []float32{1, 2.7182817, 0}},
		{FnLn, []float32{1, 2.7182817, 0}, []float32{0, 0.99999994, float32(math.Inf(-1))}},
	} {
		applyUnary(u.fn, got, u.in)
		if !slices.Equal(got, u.want) {
			t.Errorf("%s(%v) = %v, want %v", u.fn, u.in, got, u.want)
		}
	}
	p := []float32{1, 2}
	sgd(p, []float32{0.5, -4}, 0.25)
	if want := []float32{0.875, 3}; !slices.Equal(p, want) {
		t.Errorf("sgd gives %v, want %v", p, want)
	}
}

func TestListingGEMM(t *testing.T) {
	// A program by hand: the listing gives each GEMM's cuBLAS call.
	p := &Program{Batch: 2, In: 3, Classes: 4}
	x := p.Add(Buffer{Name: "X", Role: RoleInput, Shape: []int{2, 3}})
	w := p.Add(Buffer{Name: "W", Role: RoleParam, Shape: []int{3, 4}})
	o := p.Add(Buffer{Name: "o", Role: RoleOutput, Shape: []int{2, 4}})
	p.Steps = []Step{{Kind: StepGEMM, Phase: PhaseForward, In: []BufferID{x, w}, Out: o,
		GEMM: GEMM{M: 2, N: 4, K: 3, LDA: 3, LDB: 4, LDC: 4}}}
	want := "o[2×4] = X · W (k=3)  → cublasSgemm(N, N, 4, 2, 3, 1, W, 4, X, 3, 0, o, 4)"
	if got := p.String(); !strings.Contains(got, want) {
		t.Errorf("listing:\n%s\nlacks %q", got, want)
	}
}
