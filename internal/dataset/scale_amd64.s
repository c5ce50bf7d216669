//go:build amd64 && !purego

#include "textflag.h"

// 255.0 and 1/255 (rounded to float32) as float32.
DATA ·f255+0(SB)/4, $0x437f0000
GLOBL ·f255(SB), RODATA|NOPTR, $4
DATA ·r255+0(SB)/4, $0x3b808081
GLOBL ·r255(SB), RODATA|NOPTR, $4

// x/255, correctly rounded, without a division: q = x·r is within an ulp
// of it; the residual e = x − q·255 is exact in one FMA, and q + e·r
// rounds to the correctly rounded quotient. (For the 256 byte values this
// gives exactly float32(x)/255; the tests check every one.) x is replaced
// by the residual; q holds the result. c255 and r hold the constants.
#define DIV255(x, q, c255, r) \
	VMULPS       r, x, q; \
	VFNMADD231PS c255, q, x; \
	VFMADD231PS  r, x, q

// func scaleBytesAVX2(dst *float32, src *byte, n int, pf *byte) int
//
// dst[i] = float32(src[i]) / 255 for the first n − n%32 bytes; returns
// how many it did. Every 32 bytes it prefetches the next 32 bytes of pf
// (the caller passes the row it will scale later).
TEXT ·scaleBytesAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ pf+24(FP), R8
	ANDQ $-32, CX
	MOVQ CX, ret+32(FP)
	VBROADCASTSS ·f255(SB), Y14
	VBROADCASTSS ·r255(SB), Y15

loop2:
	CMPQ CX, $0
	JLE  done2
	PREFETCHT0 (R8)
	VPMOVZXBD (SI), Y0
	VPMOVZXBD 8(SI), Y1
	VPMOVZXBD 16(SI), Y2
	VPMOVZXBD 24(SI), Y3
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	DIV255(Y0, Y4, Y14, Y15)
	DIV255(Y1, Y5, Y14, Y15)
	DIV255(Y2, Y6, Y14, Y15)
	DIV255(Y3, Y7, Y14, Y15)
	VMOVUPS   Y4, (DI)
	VMOVUPS   Y5, 32(DI)
	VMOVUPS   Y6, 64(DI)
	VMOVUPS   Y7, 96(DI)
	ADDQ      $32, SI
	ADDQ      $32, R8
	ADDQ      $128, DI
	SUBQ      $32, CX
	JMP       loop2

done2:
	VZEROUPPER
	RET

// func scaleBytesAVX512(dst *float32, src *byte, n int, pf *byte) int
//
// The same with 16-lane vectors: n − n%16 bytes, 64 per iteration while
// there are, one prefetch of pf per 64 bytes.
TEXT ·scaleBytesAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ pf+24(FP), R8
	ANDQ $-16, CX
	MOVQ CX, ret+32(FP)
	VBROADCASTSS ·f255(SB), Z30
	VBROADCASTSS ·r255(SB), Z31

loop64:
	CMPQ CX, $64
	JLT  loop16
	PREFETCHT0 (R8)
	VPMOVZXBD (SI), Z0
	VPMOVZXBD 16(SI), Z1
	VPMOVZXBD 32(SI), Z2
	VPMOVZXBD 48(SI), Z3
	VCVTDQ2PS Z0, Z0
	VCVTDQ2PS Z1, Z1
	VCVTDQ2PS Z2, Z2
	VCVTDQ2PS Z3, Z3
	DIV255(Z0, Z4, Z30, Z31)
	DIV255(Z1, Z5, Z30, Z31)
	DIV255(Z2, Z6, Z30, Z31)
	DIV255(Z3, Z7, Z30, Z31)
	VMOVUPS   Z4, (DI)
	VMOVUPS   Z5, 64(DI)
	VMOVUPS   Z6, 128(DI)
	VMOVUPS   Z7, 192(DI)
	ADDQ      $64, SI
	ADDQ      $64, R8
	ADDQ      $256, DI
	SUBQ      $64, CX
	JMP       loop64

loop16:
	CMPQ CX, $0
	JLE  done512
	VPMOVZXBD (SI), Z0
	VCVTDQ2PS Z0, Z0
	DIV255(Z0, Z4, Z30, Z31)
	VMOVUPS   Z4, (DI)
	ADDQ      $16, SI
	ADDQ      $64, DI
	SUBQ      $16, CX
	JMP       loop16

done512:
	VZEROUPPER
	RET
