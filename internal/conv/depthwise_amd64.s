//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// The tap kernel of the channel-blocked depthwise convolution (depthwise.go; the transpositions
// are gemm.Transpose16).

// func dwAsm(a *dwArgs)
//
// Registers: DI args, R8 out (64 bytes per pixel), R9 the input of the row's first pixel,
// R10..R13 the inputs of the four pixels of a step, R14 pixels left in the row, SI rows left,
// CX the tap offsets, DX the tap weights, AX taps left, BX the tap's offset in bytes;
// Z0..Z3 accumulators, Z4 the tap's weights, Z5 bias, Z6 lo, Z7 hi.
TEXT ·dwAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ dwArgs_out(DI), R8
	MOVQ dwArgs_in(DI), R9
	MOVQ dwArgs_bias(DI), AX
	VMOVUPS (AX), Z5
	VBROADCASTSS dwArgs_lo(DI), Z6
	VBROADCASTSS dwArgs_hi(DI), Z7
	MOVQ dwArgs_rows(DI), SI
	TESTQ SI, SI
	JLE dwDone

dwRow:
	MOVQ R9, R10
	MOVQ dwArgs_cols(DI), R14

dwQuad:
	CMPQ R14, $4
	JLT dwSingle
	MOVQ dwArgs_colStride(DI), AX
	SHLQ $2, AX
	LEAQ (R10)(AX*1), R11
	LEAQ (R11)(AX*1), R12
	LEAQ (R12)(AX*1), R13
	VMOVAPS Z5, Z0
	VMOVAPS Z5, Z1
	VMOVAPS Z5, Z2
	VMOVAPS Z5, Z3
	MOVQ dwArgs_w(DI), DX
	MOVQ dwArgs_offs(DI), CX
	MOVQ dwArgs_offs+8(DI), AX

dwQuadTap:
	MOVQ (CX), BX
	SHLQ $2, BX
	VMOVUPS (DX), Z4
	VFMADD231PS (R10)(BX*1), Z4, Z0
	VFMADD231PS (R11)(BX*1), Z4, Z1
	VFMADD231PS (R12)(BX*1), Z4, Z2
	VFMADD231PS (R13)(BX*1), Z4, Z3
	ADDQ $8, CX
	ADDQ $64, DX
	DECQ AX
	JNZ dwQuadTap

	// min(max(v, lo), hi) with v second, so that a NaN stays NaN.
	VMAXPS Z0, Z6, Z0
	VMINPS Z0, Z7, Z0
	VMAXPS Z1, Z6, Z1
	VMINPS Z1, Z7, Z1
	VMAXPS Z2, Z6, Z2
	VMINPS Z2, Z7, Z2
	VMAXPS Z3, Z6, Z3
	VMINPS Z3, Z7, Z3
	VMOVUPS Z0, (R8)
	VMOVUPS Z1, 64(R8)
	VMOVUPS Z2, 128(R8)
	VMOVUPS Z3, 192(R8)
	ADDQ $256, R8
	MOVQ dwArgs_colStride(DI), AX
	SHLQ $4, AX
	ADDQ AX, R10
	SUBQ $4, R14
	JMP dwQuad

dwSingle:
	TESTQ R14, R14
	JZ dwNextRow
	VMOVAPS Z5, Z0
	MOVQ dwArgs_w(DI), DX
	MOVQ dwArgs_offs(DI), CX
	MOVQ dwArgs_offs+8(DI), AX

dwSingleTap:
	MOVQ (CX), BX
	SHLQ $2, BX
	VMOVUPS (DX), Z4
	VFMADD231PS (R10)(BX*1), Z4, Z0
	ADDQ $8, CX
	ADDQ $64, DX
	DECQ AX
	JNZ dwSingleTap

	VMAXPS Z0, Z6, Z0
	VMINPS Z0, Z7, Z0
	VMOVUPS Z0, (R8)
	ADDQ $64, R8
	MOVQ dwArgs_colStride(DI), AX
	SHLQ $2, AX
	ADDQ AX, R10
	DECQ R14
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
