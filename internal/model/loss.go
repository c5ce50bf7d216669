package model

import "math"

// This file is the loss's arithmetic, defined once: the fused ops of
// fused.go call it on the tape machine, internal/device/program's step
// semantics call it for device programs, and the CUDA kernels
// (internal/device/cuda/kernels/kernels.cu) are tested against it. The
// chapter's loss as a graph of Gorgonia's primitives, which Fuse rewrites
// into these ops, is ops.go: the same function, written out.

// SoftmaxXent writes softmax(o) by rows into p (which may be nil) and
// returns the mean cross-entropy -Σ y⊙logsoftmax(o) / Σ y. Each row is
// shifted by its maximum, so logits of ±1e4 give finite results; rows of y
// that are all zero (padding) add nothing.
func SoftmaxXent(p, o, y []float32, k int) float32 {
	var total, count, logs float64
	prod := 1.0
	var buf [16]float32
	for i := 0; i+k <= len(o); i += k {
		row, yr := o[i:i+k], y[i:i+k]
		m := rowMaxF32(row)
		var e []float32
		if p != nil {
			e = p[i : i+k]
		} else if k <= len(buf) {
			e = buf[:k]
		} else {
			e = make([]float32, k)
		}
		s := expShift(e, row, m)
		var picked, labels float32
		for j, v := range row {
			picked += yr[j] * (v - m)
			labels += yr[j]
		}
		if p != nil {
			inv := 1 / s
			for j := range e {
				e[j] *= inv
			}
		}
		total += float64(picked)
		count += float64(labels)
		// Σ labels·log(s): for one-hot rows, the logarithm of a product of
		// the sums (each in [1, k]), taken once it grows large, as a
		// logarithm costs more than the rest of a row.
		switch labels {
		case 0:
		case 1:
			if prod *= float64(s); prod > 1e200 {
				logs += math.Log(prod)
				prod = 1
			}
		default:
			logs += float64(labels) * math.Log(float64(s))
		}
	}
	return float32(-(total - logs - math.Log(prod)) / count)
}

// rowMaxF32 returns the largest element of a non-empty row (the first of
// equal ones; NaNs are skipped unless first, as in Gorgonia's max).
func rowMaxF32(row []float32) float32 {
	m := row[0]
	for _, v := range row[1:] {
		if v > m {
			m = v
		}
	}
	return m
}

// SoftmaxRows writes softmax(o) by rows of k into p.
func SoftmaxRows(p, o []float32, k int) {
	for i := 0; i+k <= len(o); i += k {
		row, pr := o[i:i+k], p[i:i+k]
		s := expShift(pr, row, rowMaxF32(row))
		inv := 1 / s
		for j := range pr {
			pr[j] *= inv
		}
	}
}

// SoftmaxXentGrad writes g·(p·rowsum(y) − y)/Σy into d, the derivative of
// SoftmaxXent's loss with respect to the logits given the probabilities p.
// d may be p.
func SoftmaxXentGrad(d, p, y []float32, k int, g float32) {
	var count float32
	for _, v := range y[:len(p)] {
		count += v
	}
	scale := g / count
	for i := 0; i+k <= len(p); i += k {
		pr, yr, dr := p[i:i+k], y[i:i+k], d[i:i+k]
		var labels float32
		for _, v := range yr {
			labels += v
		}
		for j := range dr {
			dr[j] = (pr[j]*labels - yr[j]) * scale
		}
	}
}

// expShift sets dst[j] = expf(src[j] - m) and returns their sum, in
// order. It is expf's arithmetic in a loop of its own, one call per row
// rather than per element: the call costs as much as the rest.
func expShift(dst, src []float32, m float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
		magic = 12582912 // 1.5·2^23: adding it rounds to an integer
	)
	dst = dst[:len(src)]
	var sum float32
	for j, v := range src {
		x := v - m
		var e float32
		switch {
		case !(x >= -87.33654) || x > 88.72283:
			e = expf(x) // zero, infinity or NaN
		default:
			t := x*log2e + magic
			n := t - magic
			r := x - n*c1 - n*c2
			p := float32(1.9875691500e-4)
			p = p*r + 1.3981999507e-3
			p = p*r + 8.3334519073e-3
			p = p*r + 4.1665795894e-2
			p = p*r + 1.6666665459e-1
			p = p*r + 5.0000001201e-1
			e = p*r*r + r + 1
			if k := int32(math.Float32bits(t)) - 0x4b400000; k <= 127 {
				e *= math.Float32frombits(uint32(k+127) << 23)
			} else {
				e = e * 2 * math.Float32frombits(uint32(k-1+127)<<23)
			}
		}
		dst[j] = e
		sum += e
	}
	return sum
}

// expf is exp for float32 arguments, to within 2 ulp: e^x = 2^n · e^r
// with n = round(x·log2 e), |r| ≤ ln2/2, r computed in two parts (Cody and
// Waite) and e^r from Cephes' degree-6 polynomial. Rounding to an integer
// by adding 1.5·2^23 avoids math.Floor's float64 round trip: a training
// step takes 2560 exponentials, and this is 2–3 times faster. Results
// below float32's normal range flush to zero, which changes nothing here:
// they are added to a sum of at least 1.
func expf(x float32) float32 {
	if !(x >= -87.33654) {
		if x != x {
			return x
		}
		return 0
	}
	if x > 88.72283 {
		return float32(math.Inf(1))
	}
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
		magic = 12582912 // 1.5·2^23: adding it rounds to an integer
	)
	t := x*log2e + magic
	n := t - magic
	r := x - n*c1 - n*c2
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	e := p*r*r + r + 1
	// The low bits of t hold n (in [-126, 128]) as an integer. n = 128
	// happens only near the top of the range, where e < 1 keeps the
	// product finite: scale by 2^127 and then by 2.
	k := int32(math.Float32bits(t)) - 0x4b400000
	if k > 127 {
		return e * 2 * math.Float32frombits(uint32(k-1+127)<<23)
	}
	return e * math.Float32frombits(uint32(k+127)<<23)
}

// Probabilities is softmax of one row of logits in float64, for reporting:
// small probabilities print correctly, and it stays finite for any logits.
// An infinite maximum shares the probability among the classes that reach
// it, and a NaN (which only an overflowing model can produce) counts as
// the lowest logit.
func Probabilities(logits []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		if !math.IsNaN(float64(v)) {
			mx = math.Max(mx, float64(v))
		}
	}
	p := make([]float64, len(logits))
	sum := 0.0
	for i, v := range logits {
		switch x := float64(v); {
		case math.IsNaN(x):
		case math.IsInf(mx, 0):
			if x == mx {
				p[i] = 1
			}
		default:
			p[i] = math.Exp(x - mx)
		}
		sum += p[i]
	}
	if sum == 0 { // every logit NaN
		for i := range p {
			p[i] = 1 / float64(len(p))
		}
		return p
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}
