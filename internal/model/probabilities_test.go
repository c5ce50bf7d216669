package model

import (
	"math"
	"testing"
)

// Probabilities stay finite and sum to one whatever the logits.
func TestProbabilitiesStable(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	tests := []struct {
		logits []float32
		want   []float64
	}{
		{[]float32{0, 0}, []float64{0.5, 0.5}},
		{[]float32{1e4, -1e4}, []float64{1, 0}},
		{[]float32{inf, 1, inf}, []float64{0.5, 0, 0.5}},
		{[]float32{-inf, 0}, []float64{0, 1}},
		{[]float32{nan, 0}, []float64{0, 1}},
		{[]float32{nan, nan}, []float64{0.5, 0.5}},
	}
	for _, tt := range tests {
		got := Probabilities(tt.logits)
		for i := range got {
			if math.IsNaN(got[i]) || math.Abs(got[i]-tt.want[i]) > 1e-12 {
				t.Errorf("Probabilities(%v) = %v, want %v", tt.logits, got, tt.want)
				break
			}
		}
	}
}
