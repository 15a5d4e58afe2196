//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// The tap kernel of the channel-blocked depthwise convolution (depthwise.go; the transpositions
// are gemm.Transpose16).

// CLAMPSTORE(z, off) stores min(max(z, lo), hi) at off(R8), z second so that a NaN stays NaN.
#define CLAMPSTORE(z, off) \
	VMAXPS z, Z10, z \
	VMINPS z, Z11, z \
	VMOVUPS z, off(R8)

// STEPBACK(n) moves the group's input (R10) and output (R8) back by n − R13 pixels and sets
// R13 to n, for a row's last group of n pixels when only R13 < n are left.
#define STEPBACK(n) \
	MOVQ n, AX \
	SUBQ R13, AX \
	MOVQ AX, BX \
	IMULQ R15, BX \
	SUBQ BX, R10 \
	SHLQ $6, AX \
	SUBQ AX, R8 \
	MOVQ n, R13

// TAPSTART points DX at the first tap's weights, CX at the tap offsets and AX at the tap count.
#define TAPSTART \
	MOVQ dwArgs_w(DI), DX \
	MOVQ dwArgs_offs(DI), CX \
	MOVQ dwArgs_offs+8(DI), AX

// func dwAsm(a *dwArgs)
//
// Output pixels go eight at a time (four when a row has fewer than eight, one by one below
// four): eight independent sums cover the multiply-add's latency on both of its units, where
// four left half of them idle. A row's last group overlaps the one before it instead of
// running short, recomputing a few pixels with the same result.
//
// Registers: DI args, R8 out (64 bytes per pixel), R9 the input of the row's first pixel,
// R10 the input of the group's first pixel, R11 and R12 the inputs of its first and fifth
// pixel at the current tap, R13 pixels left in the row, SI rows left, CX the tap offsets,
// DX the tap weights, AX taps left, BX the tap's offset, R15 the column stride in bytes, R14
// three column strides; Z0..Z7 accumulators, Z8 the tap's weights, Z9 bias, Z10 lo, Z11 hi.
TEXT ·dwAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ dwArgs_out(DI), R8
	MOVQ dwArgs_in(DI), R9
	MOVQ dwArgs_bias(DI), AX
	VMOVUPS (AX), Z9
	VBROADCASTSS dwArgs_lo(DI), Z10
	VBROADCASTSS dwArgs_hi(DI), Z11
	MOVQ dwArgs_colStride(DI), R15
	SHLQ $2, R15
	LEAQ (R15)(R15*2), R14
	MOVQ dwArgs_rows(DI), SI
	TESTQ SI, SI
	JLE dwDone

dwRow:
	MOVQ R9, R10
	MOVQ dwArgs_cols(DI), R13
	CMPQ R13, $8
	JLT dwQuad

dwOct:
	CMPQ R13, $8
	JGE dwOctGroup
	TESTQ R13, R13
	JZ dwNextRow
	// Fewer than eight left: step back so that the group ends at the row's end.
	STEPBACK($8)

dwOctGroup:
	VMOVAPS Z9, Z0
	VMOVAPS Z9, Z1
	VMOVAPS Z9, Z2
	VMOVAPS Z9, Z3
	VMOVAPS Z9, Z4
	VMOVAPS Z9, Z5
	VMOVAPS Z9, Z6
	VMOVAPS Z9, Z7
	TAPSTART

dwOctTap:
	MOVQ (CX), BX
	LEAQ (R10)(BX*4), R11
	LEAQ (R11)(R15*4), R12
	VMOVUPS (DX), Z8
	VFMADD231PS (R11), Z8, Z0
	VFMADD231PS (R11)(R15*1), Z8, Z1
	VFMADD231PS (R11)(R15*2), Z8, Z2
	VFMADD231PS (R11)(R14*1), Z8, Z3
	VFMADD231PS (R12), Z8, Z4
	VFMADD231PS (R12)(R15*1), Z8, Z5
	VFMADD231PS (R12)(R15*2), Z8, Z6
	VFMADD231PS (R12)(R14*1), Z8, Z7
	ADDQ $8, CX
	ADDQ $64, DX
	DECQ AX
	JNZ dwOctTap

	CLAMPSTORE(Z0, 0)
	CLAMPSTORE(Z1, 64)
	CLAMPSTORE(Z2, 128)
	CLAMPSTORE(Z3, 192)
	CLAMPSTORE(Z4, 256)
	CLAMPSTORE(Z5, 320)
	CLAMPSTORE(Z6, 384)
	CLAMPSTORE(Z7, 448)
	ADDQ $512, R8
	LEAQ (R10)(R15*8), R10
	SUBQ $8, R13
	JMP dwOct

dwQuad:
	CMPQ R13, $4
	JLT dwSingle

dwQuadNext:
	CMPQ R13, $4
	JGE dwQuadGroup
	TESTQ R13, R13
	JZ dwNextRow
	STEPBACK($4)

dwQuadGroup:
	VMOVAPS Z9, Z0
	VMOVAPS Z9, Z1
	VMOVAPS Z9, Z2
	VMOVAPS Z9, Z3
	TAPSTART

dwQuadTap:
	MOVQ (CX), BX
	LEAQ (R10)(BX*4), R11
	VMOVUPS (DX), Z8
	VFMADD231PS (R11), Z8, Z0
	VFMADD231PS (R11)(R15*1), Z8, Z1
	VFMADD231PS (R11)(R15*2), Z8, Z2
	VFMADD231PS (R11)(R14*1), Z8, Z3
	ADDQ $8, CX
	ADDQ $64, DX
	DECQ AX
	JNZ dwQuadTap

	CLAMPSTORE(Z0, 0)
	CLAMPSTORE(Z1, 64)
	CLAMPSTORE(Z2, 128)
	CLAMPSTORE(Z3, 192)
	ADDQ $256, R8
	LEAQ (R10)(R15*4), R10
	SUBQ $4, R13
	JMP dwQuadNext

dwSingle:
	TESTQ R13, R13
	JZ dwNextRow
	VMOVAPS Z9, Z0
	TAPSTART

dwSingleTap:
	MOVQ (CX), BX
	VMOVUPS (DX), Z8
	VFMADD231PS (R10)(BX*4), Z8, Z0
	ADDQ $8, CX
	ADDQ $64, DX
	DECQ AX
	JNZ dwSingleTap

	CLAMPSTORE(Z0, 0)
	ADDQ $64, R8
	ADDQ R15, R10
	DECQ R13
	JMP dwSingle

dwNextRow:
	MOVQ dwArgs_rowStride(DI), AX
	SHLQ $2, AX
	ADDQ AX, R9
	DECQ SI
	JNZ dwRow

dwDone:
	VZEROUPPER
	RET
