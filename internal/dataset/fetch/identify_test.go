package fetch

import (
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// synthSet makes a split with the given class counts whose pixels average
// mean (in [0, 1]).
func synthSet(counts [dataset.NumClasses]int, mean float64) *dataset.Set {
	n := 0
	for _, c := range counts {
		n += c
	}
	s := &dataset.Set{N: n, Rows: 2, Cols: 2, Pix: make([]byte, n*4)}
	for k, c := range counts {
		for i := 0; i < c; i++ {
			s.Labels = append(s.Labels, uint8(k))
		}
	}
	v := byte(mean*255 + 0.5)
	for i := range s.Pix {
		s.Pix[i] = v
	}
	return s
}

func TestIdentify(t *testing.T) {
	balanced := [dataset.NumClasses]int{6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000}
	mnist := fingerprints["mnist"][dataset.Train].counts
	tests := []struct {
		name  string
		set   *dataset.Set
		split dataset.Split
		want  string
	}{
		{"fashion by counts and mean", synthSet(balanced, 0.286), dataset.Train, "fashion-mnist"},
		{"balanced but darker: not fashion", synthSet(balanced, 0.19), dataset.Train, ""},
		{"mnist counts and mean", synthSet(mnist, 0.1307), dataset.Train, "mnist"},
		{"mnist counts, wrong mean", synthSet(mnist, 0.3), dataset.Train, ""},
		{"train counts as test split", synthSet(balanced, 0.286), dataset.Test, ""},
		{"small own data", synthSet([dataset.NumClasses]int{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, 0.286), dataset.Train, ""},
	}
	for _, tt := range tests {
		if got := Identify(tt.set, tt.split); got != tt.want {
			t.Errorf("%s: Identify = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The real Fashion-MNIST, when a copy is at hand, is recognised.
func TestIdentifyRealData(t *testing.T) {
	dir := testenv.Data(t)
	spec, _ := dataset.Lookup("fashion-mnist")
	for _, sp := range []dataset.Split{dataset.Train, dataset.Test} {
		s, err := dataset.Load(dir, spec, sp)
		if err != nil {
			t.Fatal(err)
		}
		if got := Identify(s, sp); got != "fashion-mnist" {
			t.Errorf("%s split identified as %q", sp, got)
		}
	}
}
