//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"
#include "accumulators_amd64.h"

// Register use in kern16x16z (AVX-512F):
//   Z0..Z15  accumulators, row r of the 16x16 tile in Zr
//   Z16 Z17  the 16 values of B for a step (two, so consecutive steps overlap)
//   Z18 Z19  scratch of the epilogue
//   AX       A (16 floats per step; panels are contiguous, so AX runs on into the next one)
//   BX       B panel (16 floats per step), CX steps left, DX tiles left
//   DI       *microArgs, R8 flags, R9 C row pointer, R10 ldc in bytes
//   R13      row bias pointer, SI residual row pointer, R12 ldRes in bytes, R11 scratch
// Each step multiplies one B vector by the sixteen A values of the step, each broadcast straight
// from memory by the multiply-add (embedded broadcast), so a step is one load and 16 FMAs.

// ZSTEP(i, b) does the rank-1 update of step i: A at i*64(AX), B at i*64(BX) loaded into b.
#define ZSTEP(i, b) \
	VMOVUPS (i*64)(BX), b; \
	VFMADD231PS.BCST (i*64+0)(AX), b, Z0; \
	VFMADD231PS.BCST (i*64+4)(AX), b, Z1; \
	VFMADD231PS.BCST (i*64+8)(AX), b, Z2; \
	VFMADD231PS.BCST (i*64+12)(AX), b, Z3; \
	VFMADD231PS.BCST (i*64+16)(AX), b, Z4; \
	VFMADD231PS.BCST (i*64+20)(AX), b, Z5; \
	VFMADD231PS.BCST (i*64+24)(AX), b, Z6; \
	VFMADD231PS.BCST (i*64+28)(AX), b, Z7; \
	VFMADD231PS.BCST (i*64+32)(AX), b, Z8; \
	VFMADD231PS.BCST (i*64+36)(AX), b, Z9; \
	VFMADD231PS.BCST (i*64+40)(AX), b, Z10; \
	VFMADD231PS.BCST (i*64+44)(AX), b, Z11; \
	VFMADD231PS.BCST (i*64+48)(AX), b, Z12; \
	VFMADD231PS.BCST (i*64+52)(AX), b, Z13; \
	VFMADD231PS.BCST (i*64+56)(AX), b, Z14; \
	VFMADD231PS.BCST (i*64+60)(AX), b, Z15

// ZROWS(op, ptr, stride) applies op (ptr), Zr, Zr to the 16 rows at ptr, stride bytes apart; ptr
// is advanced by 15 strides.
#define ZROWS(op, ptr, stride) \
	op (ptr), Z0, Z0; \
	ADDQ stride, ptr; \
	op (ptr), Z1, Z1; \
	ADDQ stride, ptr; \
	op (ptr), Z2, Z2; \
	ADDQ stride, ptr; \
	op (ptr), Z3, Z3; \
	ADDQ stride, ptr; \
	op (ptr), Z4, Z4; \
	ADDQ stride, ptr; \
	op (ptr), Z5, Z5; \
	ADDQ stride, ptr; \
	op (ptr), Z6, Z6; \
	ADDQ stride, ptr; \
	op (ptr), Z7, Z7; \
	ADDQ stride, ptr; \
	op (ptr), Z8, Z8; \
	ADDQ stride, ptr; \
	op (ptr), Z9, Z9; \
	ADDQ stride, ptr; \
	op (ptr), Z10, Z10; \
	ADDQ stride, ptr; \
	op (ptr), Z11, Z11; \
	ADDQ stride, ptr; \
	op (ptr), Z12, Z12; \
	ADDQ stride, ptr; \
	op (ptr), Z13, Z13; \
	ADDQ stride, ptr; \
	op (ptr), Z14, Z14; \
	ADDQ stride, ptr; \
	op (ptr), Z15, Z15

// func kern16x16z(p *microArgs)
TEXT ·kern16x16z(SB), 0, $1024-8
	MOVQ p+0(FP), DI
	MOVQ microArgs_a(DI), AX
	MOVQ microArgs_tiles(DI), DX
	MOVQ microArgs_flags(DI), R8
	MOVQ microArgs_c(DI), R9
	MOVQ microArgs_ldc(DI), R10
	SHLQ $2, R10
	MOVQ microArgs_rowBias(DI), R13
	MOVQ microArgs_res(DI), SI
	MOVQ microArgs_ldRes(DI), R12
	SHLQ $2, R12

ztile:
	MOVQ microArgs_b(DI), BX
	MOVQ microArgs_kc(DI), CX

	ZZERO

	CMPQ CX, $4
	JLT  ztail

zloop4:
	PREFETCHT0 8192(AX)
	ZSTEP(0, Z16)
	PREFETCHT0 8256(AX)
	ZSTEP(1, Z17)
	PREFETCHT0 8320(AX)
	ZSTEP(2, Z16)
	PREFETCHT0 8384(AX)
	ZSTEP(3, Z17)
	ADDQ $256, AX
	ADDQ $256, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  zloop4

ztail:
	TESTQ CX, CX
	JEQ   zepilogue

zloop1:
	ZSTEP(0, Z16)
	ADDQ $64, AX
	ADDQ $64, BX
	DECQ CX
	JNE  zloop1

zepilogue:
	CMPQ DX, $1
	JNE  zfull
	CMPQ microArgs_lastRows(DI), $16
	JLT  zpartial

zfull:
	TESTQ $const_flagLoadC, R8
	JEQ   zrowbias
	MOVQ  R9, R11
	ZROWS(VADDPS, R11, R10)

zrowbias:
	TESTQ $const_flagRowBias, R8
	JEQ   zcolbias
	VADDPS.BCST 0(R13), Z0, Z0
	VADDPS.BCST 4(R13), Z1, Z1
	VADDPS.BCST 8(R13), Z2, Z2
	VADDPS.BCST 12(R13), Z3, Z3
	VADDPS.BCST 16(R13), Z4, Z4
	VADDPS.BCST 20(R13), Z5, Z5
	VADDPS.BCST 24(R13), Z6, Z6
	VADDPS.BCST 28(R13), Z7, Z7
	VADDPS.BCST 32(R13), Z8, Z8
	VADDPS.BCST 36(R13), Z9, Z9
	VADDPS.BCST 40(R13), Z10, Z10
	VADDPS.BCST 44(R13), Z11, Z11
	VADDPS.BCST 48(R13), Z12, Z12
	VADDPS.BCST 52(R13), Z13, Z13
	VADDPS.BCST 56(R13), Z14, Z14
	VADDPS.BCST 60(R13), Z15, Z15
	ADDQ $64, R13

zcolbias:
	TESTQ $const_flagColBias, R8
	JEQ   zresidual
	MOVQ    microArgs_colBias(DI), R11
	VMOVUPS (R11), Z18
	ZALL(VADDPS, Z18)

zresidual:
	TESTQ $const_flagResidual, R8
	JEQ   zrelu
	ZROWS(VADDPS, SI, R12)
	ADDQ  R12, SI

zrelu:
	TESTQ $const_flagRelu, R8
	JEQ   zclip
	VPXORD Z18, Z18, Z18
	ZALL(VMAXPS, Z18)

zclip:
	TESTQ $const_flagClip, R8
	JEQ   zstore
	VBROADCASTSS microArgs_min(DI), Z18
	VBROADCASTSS microArgs_max(DI), Z19
	ZALL(VMAXPS, Z18)
	ZALL(VMINPS, Z19)

zstore:
	VMOVUPS Z0, (R9)
	ADDQ    R10, R9
	VMOVUPS Z1, (R9)
	ADDQ    R10, R9
	VMOVUPS Z2, (R9)
	ADDQ    R10, R9
	VMOVUPS Z3, (R9)
	ADDQ    R10, R9
	VMOVUPS Z4, (R9)
	ADDQ    R10, R9
	VMOVUPS Z5, (R9)
	ADDQ    R10, R9
	VMOVUPS Z6, (R9)
	ADDQ    R10, R9
	VMOVUPS Z7, (R9)
	ADDQ    R10, R9
	VMOVUPS Z8, (R9)
	ADDQ    R10, R9
	VMOVUPS Z9, (R9)
	ADDQ    R10, R9
	VMOVUPS Z10, (R9)
	ADDQ    R10, R9
	VMOVUPS Z11, (R9)
	ADDQ    R10, R9
	VMOVUPS Z12, (R9)
	ADDQ    R10, R9
	VMOVUPS Z13, (R9)
	ADDQ    R10, R9
	VMOVUPS Z14, (R9)
	ADDQ    R10, R9
	VMOVUPS Z15, (R9)
	ADDQ    R10, R9

	DECQ DX
	JNE  ztile
	VZEROUPPER
	RET

	// The last tile has fewer than 16 valid rows: park the accumulators on the stack and finish
	// the valid rows one at a time, with the same steps as above.
zpartial:
	VMOVUPS Z0, 0(SP)
	VMOVUPS Z1, 64(SP)
	VMOVUPS Z2, 128(SP)
	VMOVUPS Z3, 192(SP)
	VMOVUPS Z4, 256(SP)
	VMOVUPS Z5, 320(SP)
	VMOVUPS Z6, 384(SP)
	VMOVUPS Z7, 448(SP)
	VMOVUPS Z8, 512(SP)
	VMOVUPS Z9, 576(SP)
	VMOVUPS Z10, 640(SP)
	VMOVUPS Z11, 704(SP)
	VMOVUPS Z12, 768(SP)
	VMOVUPS Z13, 832(SP)
	VMOVUPS Z14, 896(SP)
	VMOVUPS Z15, 960(SP)
	MOVQ microArgs_lastRows(DI), DX
	LEAQ 0(SP), BX

zprow:
	VMOVUPS (BX), Z0
	TESTQ   $const_flagLoadC, R8
	JEQ     zprowbias
	VADDPS  (R9), Z0, Z0

zprowbias:
	TESTQ            $const_flagRowBias, R8
	JEQ              zpcolbias
	VADDPS.BCST      (R13), Z0, Z0
	ADDQ             $4, R13

zpcolbias:
	TESTQ  $const_flagColBias, R8
	JEQ    zpresidual
	MOVQ   microArgs_colBias(DI), R11
	VADDPS (R11), Z0, Z0

zpresidual:
	TESTQ  $const_flagResidual, R8
	JEQ    zprelu
	VADDPS (SI), Z0, Z0
	ADDQ   R12, SI

zprelu:
	TESTQ  $const_flagRelu, R8
	JEQ    zpclip
	VPXORD Z18, Z18, Z18
	VMAXPS Z0, Z18, Z0

zpclip:
	TESTQ        $const_flagClip, R8
	JEQ          zpstore
	VBROADCASTSS microArgs_min(DI), Z18
	VBROADCASTSS microArgs_max(DI), Z19
	VMAXPS       Z0, Z18, Z0
	VMINPS       Z0, Z19, Z0

zpstore:
	VMOVUPS Z0, (R9)
	ADDQ    R10, R9
	ADDQ    $64, BX
	DECQ    DX
	JNE     zprow
	VZEROUPPER
	RET
