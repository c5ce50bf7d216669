package model

import (
	"fmt"
	"math"
)

// Standardizer is per-input standardisation, x ← (x − Mean)/Std, applied
// to inputs already scaled to pixel/255. It is preprocessing, not a
// parameter: it is measured once on the training set and stored with the
// model, so that every command feeds the model what it was trained on.
type Standardizer struct {
	Mean []float32 // one value per input
	Std  []float32 // one positive value per input
}

// minStd is the floor of a standard deviation: a pixel that is (nearly)
// constant over the training set, such as a corner that is always black,
// would otherwise be divided by zero.
const minStd = 1e-2

// NewStandardizer measures the mean and standard deviation of each of the
// in inputs over rows images of pix (bytes, scaled by 1/255).
func NewStandardizer(pix []byte, in int) (*Standardizer, error) {
	if in < 1 || len(pix) == 0 || len(pix)%in != 0 {
		return nil, fmt.Errorf("standardisation needs whole images of %d pixels, got %d bytes", in, len(pix))
	}
	rows := len(pix) / in
	sum := make([]float64, in)
	sq := make([]float64, in)
	for r := 0; r < rows; r++ {
		row := pix[r*in : (r+1)*in]
		for i, p := range row {
			v := float64(p) / 255
			sum[i] += v
			sq[i] += v * v
		}
	}
	s := &Standardizer{Mean: make([]float32, in), Std: make([]float32, in)}
	for i := range sum {
		mean := sum[i] / float64(rows)
		v := max(sq[i]/float64(rows)-mean*mean, 0)
		s.Mean[i] = float32(mean)
		s.Std[i] = float32(max(math.Sqrt(v), minStd))
	}
	return s, nil
}

// Check reports whether s fits a model of in inputs and holds usable
// values: a checkpoint is data from anywhere.
func (s *Standardizer) Check(in int) error {
	if len(s.Mean) != in || len(s.Std) != in {
		return fmt.Errorf("standardisation has %d means and %d standard deviations, want %d of each", len(s.Mean), len(s.Std), in)
	}
	for i := range s.Mean {
		m, d := float64(s.Mean[i]), float64(s.Std[i])
		if math.IsNaN(m) || math.IsInf(m, 0) || !(d > 0) || math.IsInf(d, 0) {
			return fmt.Errorf("standardisation of input %d is mean %v, std %v: want a finite mean and a positive finite std", i, m, d)
		}
	}
	return nil
}

// Apply standardises the first rows rows of len(s.Mean) inputs of x, in
// place. The rows after them are left alone: in a batch they are padding,
// zero rows with zero labels that add nothing to the loss, and they must
// stay zero.
func (s *Standardizer) Apply(x []float32, rows int) {
	in := len(s.Mean)
	for r := 0; r < rows; r++ {
		row := x[r*in : (r+1)*in]
		for i, v := range row {
			row[i] = (v - s.Mean[i]) / s.Std[i]
		}
	}
}
