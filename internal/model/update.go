package model

// Update is one optimiser step on the parameters p with gradient g and
// velocity v (unused when mu is 0): weight decay wd, momentum mu (PyTorch's
// convention, v ← μv + g + wd·p), Nesterov momentum when nesterov, learning
// rate lr. It is the one rule that the host optimiser (train.Optimizer) and
// the device program's update step (internal/device, its CPU executor and
// the CUDA kernel) all compute. Every product is rounded to float32 on its
// own (the conversions forbid FMA contraction), so that the update is the
// same on every machine and the kernel, compiled without contraction,
// reproduces it to the bit.
func Update(p, g, v []float32, lr, wd, mu float32, nesterov bool) {
	if mu == 0 {
		for i, gi := range g {
			p[i] -= float32(lr * (gi + float32(wd*p[i])))
		}
		return
	}
	for i, gi := range g {
		gi += float32(wd * p[i])
		v[i] = float32(mu*v[i]) + gi
		if nesterov {
			p[i] -= float32(lr * (gi + float32(mu*v[i])))
		} else {
			p[i] -= float32(lr * v[i])
		}
	}
}
