//go:build !amd64 || purego

package dataset

// Without the amd64 assembly only the table lookup exists.
const (
	haveAVX2   = false
	haveAVX512 = false
)

var scaleBest = scaleGo

func bestScale() scaleKernel { return scaleGo }

// scaleRow sets dst[i] = src[i]/255 for every i; it panics if dst is
// shorter than src. k and pf are unused.
func scaleRow(k scaleKernel, dst []float32, src, pf []byte) { scaleTail(dst[:len(src)], src) }
