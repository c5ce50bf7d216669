//go:build amd64 && !purego

#include "textflag.h"

// 255.0 as float32.
DATA ·f255+0(SB)/4, $0x437f0000
GLOBL ·f255(SB), RODATA|NOPTR, $4

// func scaleBytesAVX2(dst *float32, src *byte, n int) int
TEXT ·scaleBytesAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	ANDQ $-32, CX
	MOVQ CX, ret+24(FP)
	VBROADCASTSS ·f255(SB), Y0

loop:
	CMPQ CX, $0
	JLE  done
	VPMOVZXBD (SI), Y1
	VPMOVZXBD 8(SI), Y2
	VPMOVZXBD 16(SI), Y3
	VPMOVZXBD 24(SI), Y4
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VCVTDQ2PS Y4, Y4
	VDIVPS    Y0, Y1, Y1
	VDIVPS    Y0, Y2, Y2
	VDIVPS    Y0, Y3, Y3
	VDIVPS    Y0, Y4, Y4
	VMOVUPS   Y1, (DI)
	VMOVUPS   Y2, 32(DI)
	VMOVUPS   Y3, 64(DI)
	VMOVUPS   Y4, 96(DI)
	ADDQ      $32, SI
	ADDQ      $128, DI
	SUBQ      $32, CX
	JMP       loop

done:
	VZEROUPPER
	RET
