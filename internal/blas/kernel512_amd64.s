//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 (F) kernels. They use the 32 ZMM registers and mask registers,
// so edges are masked loads instead of copies. The horizontal sums at the
// end of dot2x10 use VEX VHADDPS on the low 16 registers only, as that
// instruction has no EVEX form.

// Fold the upper 256 bits of an accumulator onto its lower 256: afterwards
// the low YMM half holds 8 partial sums. Uses Z31 as scratch; needs only
// AVX512F.
#define FOLD(z, y) \
	VEXTRACTF64X4 $1, z, Y31; \
	VADDPS        Z31, z, z

// Horizontal sums of ten folded accumulators Y0..Y9 into ten floats at
// off(DX): two VHADDPS rounds give four row sums per 128-bit lane.
#define HSUM10(off) \
	VHADDPS      Y1, Y0, Y0; \
	VHADDPS      Y3, Y2, Y2; \
	VHADDPS      Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVUPS      X0, off(DX); \
	VHADDPS      Y5, Y4, Y4; \
	VHADDPS      Y7, Y6, Y6; \
	VHADDPS      Y6, Y4, Y4; \
	VEXTRACTF128 $1, Y4, X5; \
	VADDPS       X5, X4, X4; \
	VMOVUPS      X4, off+16(DX); \
	VHADDPS      Y9, Y8, Y8; \
	VHADDPS      Y8, Y8, Y8; \
	VEXTRACTF128 $1, Y8, X9; \
	VADDPS       X9, X8, X8; \
	VMOVLPS      X8, off+32(DX)

// One 16-wide k-step of the 2×10 dot tile: rows of A in Z20, Z21; column j
// of the packed Bᵀ is at BX + j·ldbt and feeds both rows.
#define DOT10_STEP \
	VMOVUPS     (BX), Z22; \
	VFMADD231PS Z22, Z20, Z0; \
	VFMADD231PS Z22, Z21, Z10; \
	VMOVUPS     (BX)(R8*1), Z23; \
	VFMADD231PS Z23, Z20, Z1; \
	VFMADD231PS Z23, Z21, Z11; \
	VMOVUPS     (BX)(R8*2), Z24; \
	VFMADD231PS Z24, Z20, Z2; \
	VFMADD231PS Z24, Z21, Z12; \
	VMOVUPS     (BX)(R9*1), Z25; \
	VFMADD231PS Z25, Z20, Z3; \
	VFMADD231PS Z25, Z21, Z13; \
	VMOVUPS     (BX)(R8*4), Z26; \
	VFMADD231PS Z26, Z20, Z4; \
	VFMADD231PS Z26, Z21, Z14; \
	VMOVUPS     (BX)(R10*1), Z27; \
	VFMADD231PS Z27, Z20, Z5; \
	VFMADD231PS Z27, Z21, Z15; \
	VMOVUPS     (BX)(R9*2), Z22; \
	VFMADD231PS Z22, Z20, Z6; \
	VFMADD231PS Z22, Z21, Z16; \
	VMOVUPS     (BX)(R11*1), Z23; \
	VFMADD231PS Z23, Z20, Z7; \
	VFMADD231PS Z23, Z21, Z17; \
	VMOVUPS     (BX)(R8*8), Z24; \
	VFMADD231PS Z24, Z20, Z8; \
	VFMADD231PS Z24, Z21, Z18; \
	VMOVUPS     (BX)(R13*1), Z25; \
	VFMADD231PS Z25, Z20, Z9; \
	VFMADD231PS Z25, Z21, Z19

// func dot2x10(a0, a1, bt *float32, ldbt uintptr, k16, tail int, out *[20]float32, pf uintptr)
//
// The twenty dot products of two rows of A with ten packed columns of B
// (ldbt bytes apart, zero-padded to a multiple of 16 elements), over k16
// blocks of 16 elements and a masked tail of tail < 16 elements of A.
// out[0:10] gets row a0, out[10:20] row a1. Each 16-wide load of A feeds
// ten FMAs and each load of B two: 12 loads per 20 FMAs keeps both FMA
// pipes busy, and 20 accumulators cover their latency. It prefetches
// a0+pf and a1+pf, the rows the caller takes next.
TEXT ·dot2x10(SB), NOSPLIT, $0-64
	MOVQ a0+0(FP), SI
	MOVQ a1+8(FP), DI
	MOVQ bt+16(FP), BX
	MOVQ ldbt+24(FP), R8
	LEAQ (R8)(R8*2), R9  // 3·ldbt
	LEAQ (R8)(R8*4), R10 // 5·ldbt
	LEAQ (R9)(R8*4), R11 // 7·ldbt
	LEAQ (R8)(R8*8), R13 // 9·ldbt
	MOVQ k16+32(FP), CX
	MOVQ pf+56(FP), R12

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19

	TESTQ CX, CX
	JZ    d10tail

d10loop:
	PREFETCHT0 (SI)(R12*1)
	PREFETCHT0 (DI)(R12*1)
	VMOVUPS    (SI), Z20
	VMOVUPS    (DI), Z21
	DOT10_STEP
	ADDQ       $64, SI
	ADDQ       $64, DI
	ADDQ       $64, BX
	DECQ       CX
	JNZ        d10loop

d10tail:
	// The last k%16 elements of A are read under a mask, so nothing past
	// the row (possibly past the slice) is touched; B is zero-padded.
	MOVQ  tail+40(FP), CX
	TESTQ CX, CX
	JZ    d10reduce
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z20
	VMOVUPS.Z (DI), K1, Z21
	DOT10_STEP

d10reduce:
	MOVQ out+48(FP), DX
	FOLD(Z0, Y0)
	FOLD(Z1, Y1)
	FOLD(Z2, Y2)
	FOLD(Z3, Y3)
	FOLD(Z4, Y4)
	FOLD(Z5, Y5)
	FOLD(Z6, Y6)
	FOLD(Z7, Y7)
	FOLD(Z8, Y8)
	FOLD(Z9, Y9)
	HSUM10(0)
	// Row a1's accumulators move to the registers VHADDPS can reach.
	FOLD(Z10, Y10)
	FOLD(Z11, Y11)
	FOLD(Z12, Y12)
	FOLD(Z13, Y13)
	FOLD(Z14, Y14)
	FOLD(Z15, Y15)
	FOLD(Z16, Y16)
	FOLD(Z17, Y17)
	FOLD(Z18, Y18)
	FOLD(Z19, Y19)
	VMOVAPS Z10, Z0
	VMOVAPS Z11, Z1
	VMOVAPS Z12, Z2
	VMOVAPS Z13, Z3
	VMOVAPS Z14, Z4
	VMOVAPS Z15, Z5
	VMOVAPS Z16, Z6
	VMOVAPS Z17, Z7
	VMOVAPS Z18, Z8
	VMOVAPS Z19, Z9
	HSUM10(40)
	VZEROUPPER
	RET

// One k-step of the 10×32 outer-product tile for class j: broadcast b[j]
// and multiply it into the two A vectors Z20, Z21.
#define OUTER10(off, t, acc0, acc1) \
	VBROADCASTSS off(BX), t; \
	VFMADD231PS  Z20, t, acc0; \
	VFMADD231PS  Z21, t, acc1

// Store one row of the Cᵀ tile, adding what is there when accumulating.
#define STORE32(acc0, acc1) \
	VMOVUPS acc0, (DI); \
	VMOVUPS acc1, 64(DI); \
	ADDQ    DX, DI

#define STORE32ADD(acc0, acc1) \
	VADDPS  (DI), acc0, acc0; \
	VADDPS  64(DI), acc1, acc1; \
	VMOVUPS acc0, (DI); \
	VMOVUPS acc1, 64(DI); \
	ADDQ    DX, DI

// func tn10x32(k int, b *float32, ldb uintptr, a *float32, lda uintptr, c *float32, ldc uintptr, masks uint32, accumulate int, pf uintptr)
//
// The 10×32 tile Cᵀ[j][i] = Σ_p b[p][j]·A[p][i] over k steps, for Aᵀ·B
// computed as (Bᵀ·A)ᵀ: b is packed B, row p at b + p·ldb (bytes); row p of
// A is the 32 floats at a + p·lda (bytes), read under the two 16-lane
// masks in masks (low and high halves: lanes past the end of A are not
// read); row j of the tile goes to c + j·ldc, added to what is there when
// accumulate != 0. Each step loads two vectors of A and broadcasts ten
// elements of b for 20 FMAs, and prefetches the row pf bytes ahead.
TEXT ·tn10x32(SB), NOSPLIT, $0-80
	MOVQ k+0(FP), CX
	MOVQ b+8(FP), BX
	MOVQ ldb+16(FP), R9
	MOVQ a+24(FP), SI
	MOVQ lda+32(FP), R8
	MOVL masks+56(FP), AX
	KMOVW AX, K1
	SHRL  $16, AX
	KMOVW AX, K2
	MOVQ pf+72(FP), R12

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19

	TESTQ CX, CX
	JZ    tnstore

tnloop:
	PREFETCHT0 (SI)(R12*1)
	PREFETCHT0 64(SI)(R12*1)
	VMOVUPS.Z (SI), K1, Z20
	VMOVUPS.Z 64(SI), K2, Z21
	OUTER10(0, Z22, Z0, Z1)
	OUTER10(4, Z23, Z2, Z3)
	OUTER10(8, Z24, Z4, Z5)
	OUTER10(12, Z25, Z6, Z7)
	OUTER10(16, Z26, Z8, Z9)
	OUTER10(20, Z27, Z10, Z11)
	OUTER10(24, Z28, Z12, Z13)
	OUTER10(28, Z29, Z14, Z15)
	OUTER10(32, Z30, Z16, Z17)
	OUTER10(36, Z31, Z18, Z19)
	ADDQ R8, SI
	ADDQ R9, BX
	DECQ CX
	JNZ  tnloop

tnstore:
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), DX
	MOVQ accumulate+64(FP), AX
	TESTQ AX, AX
	JNZ  tnstoreadd
	STORE32(Z0, Z1)
	STORE32(Z2, Z3)
	STORE32(Z4, Z5)
	STORE32(Z6, Z7)
	STORE32(Z8, Z9)
	STORE32(Z10, Z11)
	STORE32(Z12, Z13)
	STORE32(Z14, Z15)
	STORE32(Z16, Z17)
	STORE32(Z18, Z19)
	VZEROUPPER
	RET

tnstoreadd:
	STORE32ADD(Z0, Z1)
	STORE32ADD(Z2, Z3)
	STORE32ADD(Z4, Z5)
	STORE32ADD(Z6, Z7)
	STORE32ADD(Z8, Z9)
	STORE32ADD(Z10, Z11)
	STORE32ADD(Z12, Z13)
	STORE32ADD(Z14, Z15)
	STORE32ADD(Z16, Z17)
	STORE32ADD(Z18, Z19)
	VZEROUPPER
	RET
