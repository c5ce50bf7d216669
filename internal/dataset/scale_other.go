//go:build !amd64 || purego

package dataset

// scaleRow sets dst[i] = src[i]/255 for every i; len(dst) >= len(src).
func scaleRow(dst []float32, src []byte) { scaleTail(dst, src) }
