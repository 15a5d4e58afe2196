//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"
#include "accumulators_amd64.h"

// kern16x32z computes 16x32 tiles over two adjacent 16-wide B panels, as two passes of 8 rows.
// Register use:
//   Z0..Z7   accumulators of the pass's 8 rows, columns 0..15 (first panel)
//   Z8..Z15  the same rows, columns 16..31 (second panel)
//   Z28 Z29  a broadcast value of A (two, so consecutive rows overlap)
//   Z30 Z31  the step's 16 values of each B panel
//   Z16 Z17  scratch of the epilogue
//   AX       A: the pass's 8 values at the start of each step's 16 (the panel keeps mr = 16)
//   BX       first B panel; SI the distance to the second, in bytes (kc*64, also an A panel's size)
//   CX       steps left, DX tiles left, DI *microArgs, R8 flags, R9 C row pointer, R10 ldc bytes
//   R13      row bias pointer, R14 residual row pointer, R12 ldRes bytes, R11 rows of the pass
// Each group of four steps prefetches the four lines of A that the group 128 steps on will read
// (8 KiB ahead, a whole 128-deep A panel: the weights of a network's layers come from memory,
// not cache; the two lines per group 1 KiB ahead that this had before left resnet50 and
// Inception-v3 2-4 % slower at one and two threads, and 4 KiB resnet18's 512-channel 7×7
// layers 3-5 % slower than 8). Each step loads two B vectors and eight broadcasts for sixteen multiply-adds (a 16x16 tile
// takes seventeen loads for its sixteen), which keeps the FMA units busy rather than the loads.
// Every accumulator sums its products in the same order as kern16x16z's, and the epilogue applies
// the same operations in the same order, so the two kernels give identical bits.

// WSTEP(i) does step i for the 8 rows: B at i*64(BX) and i*64(BX)(SI*1), A at i*64(AX).
#define WSTEP(i) \
	VMOVUPS (i*64)(BX), Z30; \
	VMOVUPS (i*64)(BX)(SI*1), Z31; \
	VBROADCASTSS (i*64+0)(AX), Z28; \
	VFMADD231PS Z28, Z30, Z0; \
	VFMADD231PS Z28, Z31, Z8; \
	VBROADCASTSS (i*64+4)(AX), Z29; \
	VFMADD231PS Z29, Z30, Z1; \
	VFMADD231PS Z29, Z31, Z9; \
	VBROADCASTSS (i*64+8)(AX), Z28; \
	VFMADD231PS Z28, Z30, Z2; \
	VFMADD231PS Z28, Z31, Z10; \
	VBROADCASTSS (i*64+12)(AX), Z29; \
	VFMADD231PS Z29, Z30, Z3; \
	VFMADD231PS Z29, Z31, Z11; \
	VBROADCASTSS (i*64+16)(AX), Z28; \
	VFMADD231PS Z28, Z30, Z4; \
	VFMADD231PS Z28, Z31, Z12; \
	VBROADCASTSS (i*64+20)(AX), Z29; \
	VFMADD231PS Z29, Z30, Z5; \
	VFMADD231PS Z29, Z31, Z13; \
	VBROADCASTSS (i*64+24)(AX), Z28; \
	VFMADD231PS Z28, Z30, Z6; \
	VFMADD231PS Z28, Z31, Z14; \
	VBROADCASTSS (i*64+28)(AX), Z29; \
	VFMADD231PS Z29, Z30, Z7; \
	VFMADD231PS Z29, Z31, Z15

// WROWS(op, ptr, stride) applies op to the pass's 8 rows of both halves from memory at ptr,
// stride bytes apart (columns 16..31 at 64 bytes further); ptr is advanced by 7 strides.
#define WROWS(op, ptr, stride) \
	op (ptr), Z0, Z0; \
	op 64(ptr), Z8, Z8; \
	ADDQ stride, ptr; \
	op (ptr), Z1, Z1; \
	op 64(ptr), Z9, Z9; \
	ADDQ stride, ptr; \
	op (ptr), Z2, Z2; \
	op 64(ptr), Z10, Z10; \
	ADDQ stride, ptr; \
	op (ptr), Z3, Z3; \
	op 64(ptr), Z11, Z11; \
	ADDQ stride, ptr; \
	op (ptr), Z4, Z4; \
	op 64(ptr), Z12, Z12; \
	ADDQ stride, ptr; \
	op (ptr), Z5, Z5; \
	op 64(ptr), Z13, Z13; \
	ADDQ stride, ptr; \
	op (ptr), Z6, Z6; \
	op 64(ptr), Z14, Z14; \
	ADDQ stride, ptr; \
	op (ptr), Z7, Z7; \
	op 64(ptr), Z15, Z15

// func kern16x32z(p *microArgs)
TEXT ·kern16x32z(SB), 0, $1040-8
	MOVQ p+0(FP), DI
	MOVQ microArgs_a(DI), AX
	MOVQ microArgs_tiles(DI), DX
	MOVQ microArgs_flags(DI), R8
	MOVQ microArgs_c(DI), R9
	MOVQ microArgs_ldc(DI), R10
	SHLQ $2, R10
	MOVQ microArgs_rowBias(DI), R13
	MOVQ microArgs_res(DI), R14
	MOVQ microArgs_ldRes(DI), R12
	SHLQ $2, R12
	MOVQ microArgs_kc(DI), SI
	SHLQ $6, SI

wtile:
	MOVQ $0, 1024(SP) // the pass: 0 for rows 0..7, 1 for rows 8..15

wpass:
	// R11 = valid rows of the pass: 8, except in the last tile (lastRows - 8*pass, at most 8).
	MOVQ $8, R11
	CMPQ DX, $1
	JNE  wstart
	MOVQ microArgs_lastRows(DI), R11
	MOVQ 1024(SP), CX
	SHLQ $3, CX
	SUBQ CX, R11
	JLE  wdone
	CMPQ R11, $8
	JLE  wstart
	MOVQ $8, R11

wstart:
	MOVQ microArgs_b(DI), BX
	MOVQ microArgs_kc(DI), CX
	ZZERO

	CMPQ CX, $4
	JLT  wtail

wloop4:
	PREFETCHT0 8192(AX)
	WSTEP(0)
	PREFETCHT0 8256(AX)
	WSTEP(1)
	PREFETCHT0 8320(AX)
	WSTEP(2)
	PREFETCHT0 8384(AX)
	WSTEP(3)
	ADDQ $256, AX
	ADDQ $256, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  wloop4

wtail:
	TESTQ CX, CX
	JEQ   wepilogue

wloop1:
	WSTEP(0)
	ADDQ $64, AX
	ADDQ $64, BX
	DECQ CX
	JNE  wloop1

wepilogue:
	CMPQ R11, $8
	JLT  wpartial

	TESTQ $const_flagLoadC, R8
	JEQ   wrowbias
	MOVQ  R9, CX
	WROWS(VADDPS, CX, R10)

wrowbias:
	TESTQ $const_flagRowBias, R8
	JEQ   wcolbias
	VBROADCASTSS 0(R13), Z16
	VADDPS Z16, Z0, Z0
	VADDPS Z16, Z8, Z8
	VBROADCASTSS 4(R13), Z16
	VADDPS Z16, Z1, Z1
	VADDPS Z16, Z9, Z9
	VBROADCASTSS 8(R13), Z16
	VADDPS Z16, Z2, Z2
	VADDPS Z16, Z10, Z10
	VBROADCASTSS 12(R13), Z16
	VADDPS Z16, Z3, Z3
	VADDPS Z16, Z11, Z11
	VBROADCASTSS 16(R13), Z16
	VADDPS Z16, Z4, Z4
	VADDPS Z16, Z12, Z12
	VBROADCASTSS 20(R13), Z16
	VADDPS Z16, Z5, Z5
	VADDPS Z16, Z13, Z13
	VBROADCASTSS 24(R13), Z16
	VADDPS Z16, Z6, Z6
	VADDPS Z16, Z14, Z14
	VBROADCASTSS 28(R13), Z16
	VADDPS Z16, Z7, Z7
	VADDPS Z16, Z15, Z15

wcolbias:
	TESTQ $const_flagColBias, R8
	JEQ   wresidual
	MOVQ    microArgs_colBias(DI), CX
	VMOVUPS (CX), Z16
	VMOVUPS 64(CX), Z17
	VADDPS Z16, Z0, Z0
	VADDPS Z16, Z1, Z1
	VADDPS Z16, Z2, Z2
	VADDPS Z16, Z3, Z3
	VADDPS Z16, Z4, Z4
	VADDPS Z16, Z5, Z5
	VADDPS Z16, Z6, Z6
	VADDPS Z16, Z7, Z7
	VADDPS Z17, Z8, Z8
	VADDPS Z17, Z9, Z9
	VADDPS Z17, Z10, Z10
	VADDPS Z17, Z11, Z11
	VADDPS Z17, Z12, Z12
	VADDPS Z17, Z13, Z13
	VADDPS Z17, Z14, Z14
	VADDPS Z17, Z15, Z15

wresidual:
	TESTQ $const_flagResidual, R8
	JEQ   wrelu
	MOVQ  R14, CX
	WROWS(VADDPS, CX, R12)

wrelu:
	TESTQ $const_flagRelu, R8
	JEQ   wclip
	VPXORD Z16, Z16, Z16
	ZALL(VMAXPS, Z16)

wclip:
	TESTQ $const_flagClip, R8
	JEQ   wstore
	VBROADCASTSS microArgs_min(DI), Z16
	VBROADCASTSS microArgs_max(DI), Z17
	ZALL(VMAXPS, Z16)
	ZALL(VMINPS, Z17)

wstore:
	VMOVUPS Z0, (R9)
	VMOVUPS Z8, 64(R9)
	ADDQ    R10, R9
	VMOVUPS Z1, (R9)
	VMOVUPS Z9, 64(R9)
	ADDQ    R10, R9
	VMOVUPS Z2, (R9)
	VMOVUPS Z10, 64(R9)
	ADDQ    R10, R9
	VMOVUPS Z3, (R9)
	VMOVUPS Z11, 64(R9)
	ADDQ    R10, R9
	VMOVUPS Z4, (R9)
	VMOVUPS Z12, 64(R9)
	ADDQ    R10, R9
	VMOVUPS Z5, (R9)
	VMOVUPS Z13, 64(R9)
	ADDQ    R10, R9
	VMOVUPS Z6, (R9)
	VMOVUPS Z14, 64(R9)
	ADDQ    R10, R9
	VMOVUPS Z7, (R9)
	VMOVUPS Z15, 64(R9)
	ADDQ    R10, R9

	// Next pass or tile: the row bias and residual move on by 8 rows; A back to the panel's
	// start plus 8 values (after pass 0) or on to the next panel (after pass 1).
	ADDQ $32, R13
	MOVQ R12, CX
	SHLQ $3, CX
	ADDQ CX, R14
	CMPQ 1024(SP), $0
	JNE  wnexttile
	SUBQ SI, AX
	ADDQ $32, AX
	MOVQ $1, 1024(SP)
	JMP  wpass

wnexttile:
	SUBQ $32, AX
	DECQ DX
	JNE  wtile

wdone:
	VZEROUPPER
	RET

	// The pass has fewer than 8 valid rows (only in the last tile): park the accumulators on
	// the stack and finish the valid rows one at a time, with the same steps as above.
wpartial:
	VMOVUPS Z0, 0(SP)
	VMOVUPS Z8, 64(SP)
	VMOVUPS Z1, 128(SP)
	VMOVUPS Z9, 192(SP)
	VMOVUPS Z2, 256(SP)
	VMOVUPS Z10, 320(SP)
	VMOVUPS Z3, 384(SP)
	VMOVUPS Z11, 448(SP)
	VMOVUPS Z4, 512(SP)
	VMOVUPS Z12, 576(SP)
	VMOVUPS Z5, 640(SP)
	VMOVUPS Z13, 704(SP)
	VMOVUPS Z6, 768(SP)
	VMOVUPS Z14, 832(SP)
	VMOVUPS Z7, 896(SP)
	VMOVUPS Z15, 960(SP)
	LEAQ 0(SP), BX

wprow:
	VMOVUPS (BX), Z0
	VMOVUPS 64(BX), Z8
	TESTQ   $const_flagLoadC, R8
	JEQ     wprowbias
	VADDPS  (R9), Z0, Z0
	VADDPS  64(R9), Z8, Z8

wprowbias:
	TESTQ        $const_flagRowBias, R8
	JEQ          wpcolbias
	VBROADCASTSS (R13), Z16
	VADDPS       Z16, Z0, Z0
	VADDPS       Z16, Z8, Z8

wpcolbias:
	TESTQ  $const_flagColBias, R8
	JEQ    wpresidual
	MOVQ   microArgs_colBias(DI), CX
	VADDPS (CX), Z0, Z0
	VADDPS 64(CX), Z8, Z8

wpresidual:
	TESTQ  $const_flagResidual, R8
	JEQ    wprelu
	VADDPS (R14), Z0, Z0
	VADDPS 64(R14), Z8, Z8

wprelu:
	TESTQ  $const_flagRelu, R8
	JEQ    wpclip
	VPXORD Z16, Z16, Z16
	VMAXPS Z0, Z16, Z0
	VMAXPS Z8, Z16, Z8

wpclip:
	TESTQ        $const_flagClip, R8
	JEQ          wpstore
	VBROADCASTSS microArgs_min(DI), Z16
	VBROADCASTSS microArgs_max(DI), Z17
	VMAXPS       Z0, Z16, Z0
	VMAXPS       Z8, Z16, Z8
	VMINPS       Z0, Z17, Z0
	VMINPS       Z8, Z17, Z8

wpstore:
	VMOVUPS Z0, (R9)
	VMOVUPS Z8, 64(R9)
	ADDQ    R10, R9
	ADDQ    $4, R13
	ADDQ    R12, R14
	ADDQ    $128, BX
	DECQ    R11
	JNE     wprow
	VZEROUPPER
	RET
