//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// The kernels of the channel-blocked depthwise convolution (depthwise.go).

// TRANSCOLS stores the four columns held, lane by lane, in A, B, C, D (the groups of rows
// 0-3, 4-7, 8-11, 12-15 for one k) to R8..R11, and moves R8..R11 one destination row on.
#define TRANSCOLS(A, B, C, D) \
	VSHUFF32X4 $0x44, B, A, Z16; \
	VSHUFF32X4 $0xEE, B, A, Z17; \
	VSHUFF32X4 $0x44, D, C, Z18; \
	VSHUFF32X4 $0xEE, D, C, Z19; \
	VSHUFF32X4 $0x88, Z18, Z16, Z20; \
	VSHUFF32X4 $0xDD, Z18, Z16, Z21; \
	VSHUFF32X4 $0x88, Z19, Z17, Z22; \
	VSHUFF32X4 $0xDD, Z19, Z17, Z23; \
	VMOVUPS Z20, (R8); \
	VMOVUPS Z21, (R9); \
	VMOVUPS Z22, (R10); \
	VMOVUPS Z23, (R11); \
	ADDQ DX, R8; \
	ADDQ DX, R9; \
	ADDQ DX, R10; \
	ADDQ DX, R11

// func transpose16Asm(a *transArgs)
//
// Rows i of src go to Z(i); after the first round Z16..Z31 hold, per 128-bit lane L, pairs of
// rows interleaved; after the second, Z(4g+k) holds in lane L the values 4L+k of rows 4g..4g+3;
// the third round gathers lane L of the four groups into column 4L+k.
TEXT ·transpose16Asm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ transArgs_src(DI), SI
	MOVQ transArgs_ldSrc(DI), AX
	SHLQ $2, AX
	LEAQ (AX)(AX*2), BX // 3 rows
	VMOVUPS (SI), Z0
	VMOVUPS (SI)(AX*1), Z1
	VMOVUPS (SI)(AX*2), Z2
	VMOVUPS (SI)(BX*1), Z3
	LEAQ (SI)(AX*4), SI
	VMOVUPS (SI), Z4
	VMOVUPS (SI)(AX*1), Z5
	VMOVUPS (SI)(AX*2), Z6
	VMOVUPS (SI)(BX*1), Z7
	LEAQ (SI)(AX*4), SI
	VMOVUPS (SI), Z8
	VMOVUPS (SI)(AX*1), Z9
	VMOVUPS (SI)(AX*2), Z10
	VMOVUPS (SI)(BX*1), Z11
	LEAQ (SI)(AX*4), SI
	VMOVUPS (SI), Z12
	VMOVUPS (SI)(AX*1), Z13
	VMOVUPS (SI)(AX*2), Z14
	VMOVUPS (SI)(BX*1), Z15

	// Round 1: rows (2p, 2p+1) interleaved, low and high halves of each lane.
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31

	// Round 2: Z(4g+k) lane L = values 4L+k of rows 4g..4g+3.
	VSHUFPS $0x44, Z18, Z16, Z0
	VSHUFPS $0xEE, Z18, Z16, Z1
	VSHUFPS $0x44, Z19, Z17, Z2
	VSHUFPS $0xEE, Z19, Z17, Z3
	VSHUFPS $0x44, Z22, Z20, Z4
	VSHUFPS $0xEE, Z22, Z20, Z5
	VSHUFPS $0x44, Z23, Z21, Z6
	VSHUFPS $0xEE, Z23, Z21, Z7
	VSHUFPS $0x44, Z26, Z24, Z8
	VSHUFPS $0xEE, Z26, Z24, Z9
	VSHUFPS $0x44, Z27, Z25, Z10
	VSHUFPS $0xEE, Z27, Z25, Z11
	VSHUFPS $0x44, Z30, Z28, Z12
	VSHUFPS $0xEE, Z30, Z28, Z13
	VSHUFPS $0x44, Z31, Z29, Z14
	VSHUFPS $0xEE, Z31, Z29, Z15

	// Round 3, per k: columns k, 4+k, 8+k, 12+k from Z(k), Z(4+k), Z(8+k), Z(12+k). R8..R11
	// point at the destination rows of columns k, 4+k, 8+k, 12+k.
	MOVQ transArgs_ldDst(DI), DX
	SHLQ $2, DX
	MOVQ transArgs_dst(DI), R8
	LEAQ (R8)(DX*4), R9
	LEAQ (R9)(DX*4), R10
	LEAQ (R10)(DX*4), R11
	TRANSCOLS(Z0, Z4, Z8, Z12)
	TRANSCOLS(Z1, Z5, Z9, Z13)
	TRANSCOLS(Z2, Z6, Z10, Z14)
	TRANSCOLS(Z3, Z7, Z11, Z15)
	VZEROUPPER
	RET

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
