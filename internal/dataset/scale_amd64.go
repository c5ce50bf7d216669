//go:build amd64 && !purego

package dataset

import "golang.org/x/sys/cpu"

// The byte-scaling kernels this CPU can run. x/sys/cpu reports AVX2 and
// AVX-512 only when the OS saves their registers; GODEBUG=cpu.avx2=off
// and cpu.avx512f=off turn them off.
var (
	haveAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	haveAVX512 = haveAVX2 && cpu.X86.HasAVX512F
)

// scaleBytesAVX2 sets dst[i] = float32(src[i]) / 255 for the first n −
// n%32 bytes and returns how many it did, prefetching pf meanwhile (the
// row the caller scales next). Its results are bit for bit those of the
// scale table.
//
//go:noescape
func scaleBytesAVX2(dst *float32, src *byte, n int, pf *byte) int

// scaleBytesAVX512 is scaleBytesAVX2 with 16-lane vectors, for the first
// n − n%16 bytes.
//
//go:noescape
func scaleBytesAVX512(dst *float32, src *byte, n int, pf *byte) int

// scaleBest is the kernel Gather uses: the best the CPU supports
// (GODEBUG=cpu.avx512f=off or cpu.avx2=off caps it).
var scaleBest = bestScale()

func bestScale() scaleKernel {
	switch {
	case haveAVX512:
		return scaleAVX512
	case haveAVX2:
		return scaleAVX2
	}
	return scaleGo
}

// scaleRow sets dst[i] = src[i]/255 for every i with kernel k, prefetching
// pf (the row the caller scales next; src itself if there is none). It
// panics if dst is shorter than src: the kernels write len(src) floats.
func scaleRow(k scaleKernel, dst []float32, src, pf []byte) {
	dst = dst[:len(src)]
	done := 0
	switch {
	case len(src) == 0 || len(pf) == 0:
	case k == scaleAVX512 && len(src) >= 16:
		done = scaleBytesAVX512(&dst[0], &src[0], len(src), &pf[0])
	case k >= scaleAVX2 && len(src) >= 32:
		done = scaleBytesAVX2(&dst[0], &src[0], len(src), &pf[0])
	}
	scaleTail(dst[done:], src[done:])
}
