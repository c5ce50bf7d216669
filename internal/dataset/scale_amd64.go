//go:build amd64 && !purego

package dataset

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether scaleBytesAVX2 can run.
var haveAVX2 = cpu.X86.HasAVX2

// scaleBytesAVX2 sets dst[i] = float32(src[i]) / 255 for the first n -
// n%32 bytes and returns how many it did. It divides rather than multiplying
// by 1/255 so that its results are bit for bit those of the scale table.
//
//go:noescape
func scaleBytesAVX2(dst *float32, src *byte, n int) int

// scaleRow sets dst[i] = src[i]/255 for every i; len(dst) >= len(src).
func scaleRow(dst []float32, src []byte) {
	done := 0
	if haveAVX2 && len(src) >= 32 {
		done = scaleBytesAVX2(&dst[0], &src[0], len(src))
	}
	scaleTail(dst[done:], src[done:])
}
