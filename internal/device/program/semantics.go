package program

import (
	"fmt"
	"math"

	"github.com/softmaxctl/softmaxctl/internal/model"
)

// This file defines what each step computes, on float32 slices. The CPU
// executor runs these functions, Compile folds constants with them, and the
// kernels in kernels/kernels.cu compute the same thing element by element
// (the host-compiled kernel test compares the two).

// ExecFloat runs a step whose operands are float32: out is the step's Out
// buffer and in[i] its In[i]. The program has been validated.
func ExecFloat(s *Step, out []float32, in [][]float32) error {
	switch s.Kind {
	case StepGEMM:
		gemm(s.GEMM, out, in[0], in[1])
	case StepUnary:
		applyUnary(s.Fn, out[:s.N], in[0][:s.N])
	case StepBinary, StepCompare:
		applyBinary(s.Fn, out[:s.N], in[0], in[1], s.Scalar)
	case StepRepeat:
		repeat(out, in[0], s.Outer, s.Len, s.Reps, s.Inner)
	case StepReduce:
		reduce(s.Fn, out, in[0], s.Outer, s.Len, s.Inner)
	case StepSGD:
		sgd(out[:s.N], in[0][:s.N], in[1][0])
	case StepUpdate:
		applyUpdate(out[:s.N], in[0][:s.N], in[1][:s.N], in[2], s.Decay, s.Nesterov)
	case StepBiasAdd:
		// The fused ops' own arithmetic, so that the tape machine and
		// the executors compute the same thing.
		model.BiasAddRows(out[:s.N], in[0][:s.N], in[1][:s.Len])
	case StepSoftmaxXent:
		n := s.Outer * s.Len
		out[0] = model.SoftmaxXent(nil, in[0][:n], in[1][:n], s.Len)
	case StepSoftmaxXentGrad:
		n := s.Outer * s.Len
		model.SoftmaxRows(out[:n], in[0][:n], s.Len)
		model.SoftmaxXentGrad(out[:n], out[:n], in[1][:n], s.Len, in[2][0])
	default:
		return fmt.Errorf("step kind %s has non-float operands", s.Kind)
	}
	return nil
}

// gemm computes the row-major C = op(A)·op(B) of g, accumulating each
// element in float32 over k in order.
func gemm(g GEMM, c, a, b []float32) {
	for i := range g.M {
		row := c[i*g.LDC : i*g.LDC+g.N]
		clear(row)
		for l := range g.K {
			var ail float32
			if g.TransA {
				ail = a[l*g.LDA+i]
			} else {
				ail = a[i*g.LDA+l]
			}
			if g.TransB {
				for j := range row {
					row[j] += ail * b[j*g.LDB+l]
				}
			} else {
				bl := b[l*g.LDB : l*g.LDB+g.N]
				for j, blj := range bl {
					row[j] += ail * blj
				}
			}
		}
	}
}

func applyUnary(fn Fn, out, a []float32) {
	switch fn {
	case FnNeg:
		for i, x := range a {
			out[i] = -x
		}
	case FnExp:
		for i, x := range a {
			out[i] = float32(math.Exp(float64(x)))
		}
	case FnLn:
		for i, x := range a {
			out[i] = float32(math.Log(float64(x)))
		}
	}
}

// applyBinary computes out[i] = a[i] fn b[i]; an operand marked scalar is read
// at index 0 for every i.
func applyBinary(fn Fn, out, a, b []float32, scalar [2]bool) {
	sa, sb := 1, 1
	if scalar[0] {
		sa = 0
	}
	if scalar[1] {
		sb = 0
	}
	for i := range out {
		x, y := a[i*sa], b[i*sb]
		var z float32
		switch fn {
		case FnAdd:
			z = x + y
		case FnSub:
			z = x - y
		case FnMul:
			z = x * y
		case FnDiv:
			z = x / y
		case FnEq:
			if x == y {
				z = 1
			}
		}
		out[i] = z
	}
}

// repeat views in as outer×n×inner and writes out, outer×(n·reps)×inner,
// with each element along the middle axis repeated reps times in place
// (NumPy's repeat, which is Gorgonia's).
func repeat(out, in []float32, outer, n, reps, inner int) {
	k := 0
	for o := range outer {
		for a := range n {
			src := in[(o*n+a)*inner : (o*n+a+1)*inner]
			for range reps {
				copy(out[k:k+inner], src)
				k += inner
			}
		}
	}
}

// reduce views in as outer×n×inner and reduces the middle axis into out,
// outer×inner: a float32 sum in index order, or the maximum (the first
// element, then any larger one, as Gorgonia's max).
func reduce(fn Fn, out, in []float32, outer, n, inner int) {
	for o := range outer {
		for i := range inner {
			base := o*n*inner + i
			acc := in[base]
			for a := 1; a < n; a++ {
				x := in[base+a*inner]
				if fn == FnMax {
					if x > acc {
						acc = x
					}
				} else {
					acc += x
				}
			}
			out[o*inner+i] = acc
		}
	}
}

// sgd is p -= lr·g. The conversion rounds lr·g before the subtraction, as
// a fused multiply-add would not, so the result is the same on every
// machine and matches the kernel (built without FMA contraction).
func sgd(p, g []float32, lr float32) {
	for i, gi := range g {
		p[i] -= float32(lr * gi)
	}
}

// GatherPixels writes the rows idx of pix (rows of width bytes) scaled to
// [0, 1] into x, and zero rows where idx is -1: dataset.Set.Gather's
// float32(p)/255.
func GatherPixels(x []float32, pix []byte, idx []int32, width int) {
	for r, i := range idx {
		dst := x[r*width : (r+1)*width]
		if i < 0 {
			clear(dst)
			continue
		}
		for j, v := range pix[int(i)*width : (int(i)+1)*width] {
			dst[j] = float32(v) / 255
		}
	}
}

// GatherLabels writes the one-hot rows of labels[idx] into y, classes wide,
// and zero rows where idx is -1.
func GatherLabels(y []float32, labels []byte, idx []int32, classes int) {
	for r, i := range idx {
		dst := y[r*classes : (r+1)*classes]
		clear(dst)
		if i >= 0 {
			dst[labels[i]] = 1
		}
	}
}
