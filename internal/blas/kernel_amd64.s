//go:build amd64 && !purego

#include "textflag.h"

// Lane masks for the k tail of dot2x5: loading 8 dwords from
// maskTail<>+4*(8-t) gives t all-ones lanes followed by zeros.
DATA maskTail<>+0(SB)/4, $0xffffffff
DATA maskTail<>+4(SB)/4, $0xffffffff
DATA maskTail<>+8(SB)/4, $0xffffffff
DATA maskTail<>+12(SB)/4, $0xffffffff
DATA maskTail<>+16(SB)/4, $0xffffffff
DATA maskTail<>+20(SB)/4, $0xffffffff
DATA maskTail<>+24(SB)/4, $0xffffffff
DATA maskTail<>+28(SB)/4, $0xffffffff
DATA maskTail<>+32(SB)/4, $0
DATA maskTail<>+36(SB)/4, $0
DATA maskTail<>+40(SB)/4, $0
DATA maskTail<>+44(SB)/4, $0
DATA maskTail<>+48(SB)/4, $0
DATA maskTail<>+52(SB)/4, $0
DATA maskTail<>+56(SB)/4, $0
DATA maskTail<>+60(SB)/4, $0
GLOBL maskTail<>(SB), RODATA|NOPTR, $64

// One k-step of 8 for the 2×5 dot tile: A rows in Y10 (a0) and Y11 (a1),
// column j of B is loaded once and feeds both rows. Accumulators are
// Y0..Y4 (row a0) and Y5..Y9 (row a1).
#define DOT_STEP \
	VMOVUPS (BX), Y12; \
	VFMADD231PS Y12, Y10, Y0; \
	VFMADD231PS Y12, Y11, Y5; \
	VMOVUPS (BX)(R8*1), Y13; \
	VFMADD231PS Y13, Y10, Y1; \
	VFMADD231PS Y13, Y11, Y6; \
	VMOVUPS (BX)(R8*2), Y14; \
	VFMADD231PS Y14, Y10, Y2; \
	VFMADD231PS Y14, Y11, Y7; \
	VMOVUPS (BX)(R9*1), Y15; \
	VFMADD231PS Y15, Y10, Y3; \
	VFMADD231PS Y15, Y11, Y8; \
	VMOVUPS (BX)(R8*4), Y12; \
	VFMADD231PS Y12, Y10, Y4; \
	VFMADD231PS Y12, Y11, Y9

// func dot2x5(a0, a1, bt *float32, ldbt uintptr, k8, tail int, out *[10]float32, pf uintptr)
//
// The tile is two rows by five columns so that each 8-wide load of A or B
// feeds two or five FMAs: 7 loads per 10 FMAs keeps both FMA pipes busy
// without saturating the load ports, and 10 independent accumulators cover
// the FMA latency.
TEXT ·dot2x5(SB), NOSPLIT, $0-64
	MOVQ a0+0(FP), SI
	MOVQ a1+8(FP), DI
	MOVQ bt+16(FP), BX
	MOVQ ldbt+24(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ k8+32(FP), CX
	MOVQ pf+56(FP), R12

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9

	TESTQ CX, CX
	JZ    dottail

dotloop:
	PREFETCHT0 (SI)(R12*1)
	PREFETCHT0 (DI)(R12*1)
	VMOVUPS (SI), Y10
	VMOVUPS (DI), Y11
	DOT_STEP
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, BX
	DECQ CX
	JNZ  dotloop

dottail:
	// The last k%8 elements of A are read with a mask so that nothing past
	// the row (possibly past the slice) is touched; B is zero-padded.
	MOVQ  tail+40(FP), AX
	TESTQ AX, AX
	JZ    dotreduce
	LEAQ  maskTail<>(SB), R10
	MOVQ  $8, R11
	SUBQ  AX, R11
	VMOVDQU (R10)(R11*4), Y13
	VMASKMOVPS (SI), Y13, Y10
	VMASKMOVPS (DI), Y13, Y11
	DOT_STEP

dotreduce:
	// Horizontal sums: two rounds of VHADDPS fold four accumulators into
	// one vector holding their partial sums per 128-bit half, then the
	// halves are added.
	MOVQ out+48(FP), DX
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS  X1, X0, X0
	VMOVUPS X0, (DX)
	VEXTRACTF128 $1, Y4, X1
	VADDPS  X1, X4, X4
	VHADDPS X4, X4, X4
	VHADDPS X4, X4, X4
	VMOVSS  X4, 16(DX)

	VHADDPS Y6, Y5, Y5
	VHADDPS Y8, Y7, Y7
	VHADDPS Y7, Y5, Y5
	VEXTRACTF128 $1, Y5, X6
	VADDPS  X6, X5, X5
	VMOVUPS X5, 20(DX)
	VEXTRACTF128 $1, Y9, X6
	VADDPS  X6, X9, X9
	VHADDPS X9, X9, X9
	VHADDPS X9, X9, X9
	VMOVSS  X9, 36(DX)

	VZEROUPPER
	RET

// One row of the 6×16 outer-product tile: broadcast A'(r, p) and multiply
// it into the two B' vectors Y12, Y13, accumulating into acc0, acc1.
#define OUTER_ROW(addr, tmp, acc0, acc1) \
	VBROADCASTSS addr, tmp; \
	VFMADD231PS Y12, tmp, acc0; \
	VFMADD231PS Y13, tmp, acc1

// Store one row of the tile: acc = alpha*acc (+ beta*C), then to C.
#define STORE_ROW_BETA(acc0, acc1) \
	VMULPS Y14, acc0, acc0; \
	VMULPS Y14, acc1, acc1; \
	VFMADD231PS (DI), Y15, acc0; \
	VFMADD231PS 32(DI), Y15, acc1; \
	VMOVUPS acc0, (DI); \
	VMOVUPS acc1, 32(DI); \
	ADDQ DX, DI

#define STORE_ROW(acc0, acc1) \
	VMULPS Y14, acc0, acc0; \
	VMULPS Y14, acc1, acc1; \
	VMOVUPS acc0, (DI); \
	VMOVUPS acc1, 32(DI); \
	ADDQ DX, DI

// func gemm6x16(k int, a *float32, rsA, csA uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, betaZero int, pfB uintptr)
//
// A classic register-blocked GEMM micro-kernel: 12 accumulators hold the
// 6×16 tile, each k-step loads one 16-wide row of B' and broadcasts six
// elements of A', i.e. 8 loads per 12 FMAs. A' is addressed with a row
// and a column stride, so that Aᵀ·B is computed as (Bᵀ·A)ᵀ with A' the
// packed B, walked along its columns.
TEXT ·gemm6x16(SB), NOSPLIT, $0-88
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	LEAQ (R8)(R8*2), R9
	LEAQ (R8)(R8*4), R10
	MOVQ csA+24(FP), R11
	MOVQ b+32(FP), BX
	MOVQ ldb+40(FP), R12
	MOVQ pfB+80(FP), R13

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	TESTQ CX, CX
	JZ    gemmstore

gemmloop:
	PREFETCHT0 (BX)(R13*1)
	VMOVUPS (BX), Y12
	VMOVUPS 32(BX), Y13
	OUTER_ROW((SI), Y14, Y0, Y1)
	OUTER_ROW((SI)(R8*1), Y15, Y2, Y3)
	OUTER_ROW((SI)(R8*2), Y14, Y4, Y5)
	OUTER_ROW((SI)(R9*1), Y15, Y6, Y7)
	OUTER_ROW((SI)(R8*4), Y14, Y8, Y9)
	OUTER_ROW((SI)(R10*1), Y15, Y10, Y11)
	ADDQ R11, SI
	ADDQ R12, BX
	DECQ CX
	JNZ  gemmloop

gemmstore:
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), DX
	VBROADCASTSS alpha+64(FP), Y14
	VBROADCASTSS beta+68(FP), Y15
	MOVQ betaZero+72(FP), AX
	TESTQ AX, AX
	JNZ  gemmstorezero

	STORE_ROW_BETA(Y0, Y1)
	STORE_ROW_BETA(Y2, Y3)
	STORE_ROW_BETA(Y4, Y5)
	STORE_ROW_BETA(Y6, Y7)
	STORE_ROW_BETA(Y8, Y9)
	STORE_ROW_BETA(Y10, Y11)
	VZEROUPPER
	RET

gemmstorezero:
	STORE_ROW(Y0, Y1)
	STORE_ROW(Y2, Y3)
	STORE_ROW(Y4, Y5)
	STORE_ROW(Y6, Y7)
	STORE_ROW(Y8, Y9)
	STORE_ROW(Y10, Y11)
	VZEROUPPER
	RET
