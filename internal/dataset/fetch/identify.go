package fetch

import (
	"math"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

// fingerprint is what identifies a published split without its archive's
// checksum (a re-compressed copy has another): its class counts and its
// mean pixel value.
type fingerprint struct {
	counts [dataset.NumClasses]int
	mean   float64 // mean pixel / 255
}

// fingerprints are the published splits' figures.
var fingerprints = map[string]map[dataset.Split]fingerprint{
	"fashion-mnist": {
		dataset.Train: {counts: [dataset.NumClasses]int{6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000}, mean: 0.2860},
		dataset.Test:  {counts: [dataset.NumClasses]int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, mean: 0.2868},
	},
	"mnist": {
		dataset.Train: {counts: [dataset.NumClasses]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, mean: 0.1307},
		dataset.Test:  {counts: [dataset.NumClasses]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, mean: 0.1325},
	},
}

// meanTolerance is how far a split's mean pixel may be from the published
// one: the known datasets' means differ by 0.1 or more, and exact copies
// match to 1e-4.
const meanTolerance = 0.005

// Identify returns the name of the known dataset whose split s is, judged
// by its class counts and mean pixel value, or "" if it is none of them
// (a dataset of the user's own, say). It lets a command refuse MNIST files
// passed as Fashion-MNIST: their structure is the same.
func Identify(s *dataset.Set, split dataset.Split) string {
	var counts [dataset.NumClasses]int
	for _, l := range s.Labels {
		if int(l) < dataset.NumClasses {
			counts[l]++
		}
	}
	mean := -1.0 // computed only when some count matches
	for name, fp := range fingerprints {
		want, ok := fp[split]
		if !ok || want.counts != counts {
			continue
		}
		if mean < 0 {
			mean = meanPixel(s.Pix)
		}
		if math.Abs(mean-want.mean) <= meanTolerance {
			return name
		}
	}
	return ""
}

// meanPixel is the mean of pix, scaled to [0, 1].
func meanPixel(pix []byte) float64 {
	if len(pix) == 0 {
		return 0
	}
	var sum uint64
	for _, p := range pix {
		sum += uint64(p)
	}
	return float64(sum) / float64(len(pix)) / 255
}
