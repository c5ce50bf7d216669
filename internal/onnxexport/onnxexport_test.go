package onnxexport

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/model"
)

// Folding the standardisation into W and b gives the logits of the
// standardised model on pixels/255, to float32 rounding; a model whose
// folded logits could overflow is refused.
func TestFoldNorm(t *testing.T) {
	const in, out = 784, 10
	rng := rand.New(rand.NewPCG(7, 7))
	m, err := model.New(in, out, 0.05, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Norm = &model.Standardizer{Mean: make([]float32, in), Std: make([]float32, in)}
	for i := range in {
		m.Norm.Mean[i] = float32(rng.Float64() * 0.5)
		m.Norm.Std[i] = float32(0.02 + rng.Float64()*0.4)
	}
	w, b, err := foldNorm(m)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		x := make([]float32, in)
		for i := range x {
			x[i] = float32(rng.IntN(256)) / 255
		}
		for j := range out {
			want, got := float64(m.B[j]), float64(b[j])
			for i := range in {
				want += (float64(x[i]) - float64(m.Norm.Mean[i])) / float64(m.Norm.Std[i]) * float64(m.W[i*out+j])
				got += float64(x[i]) * float64(w[i*out+j])
			}
			if math.Abs(got-want) > 1e-4*max(1, math.Abs(want)) {
				t.Fatalf("logit %d: folded %v, standardised %v", j, got, want)
			}
		}
	}

	m.Norm.Std[0] = 1e-38 // folded weights beyond float32's range
	if _, _, err := foldNorm(m); err == nil {
		t.Error("a standardisation that overflows float32 when folded was accepted")
	}
}
