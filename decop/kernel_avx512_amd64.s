//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// The AVX-512 block kernel for tanh:cos (see blockArgs in kernel.go): per value,
//
//	c = min(max(y·invNw·inv, −1), 1),  h = α·tanh(min(norm·hs, 9)),  y = h·c + bias,
//
// tanh by the rational function of the AVX2 kernel (vecmath_amd64.h), its coefficients held in
// registers. Registers: DI args, R13 the row, R14 the row stride in bytes, DX rows left, BX the
// row's channel constants, R10 norm, R11 inv, CX full vectors left, AX byte offset, K1 the tail's
// lanes; Z28 invNw, Z29 hs, Z30 α, Z27 bias; Z16 9, Z17 1, Z18 −1, Z19..Z22 P1..P4, Z23..Z26
// Q1..Q4; Z0 c, Z1 h, Z2..Z4 temporaries.

#define BCAST(val, Z) \
	MOVL $val, R8; \
	VPBROADCASTD R8, Z

// TANHCOS computes the step's result into Z1 from Z0 = y, Z1 = norm, Z2 = inv.
#define TANHCOS \
	VMULPS Z28, Z0, Z0; \
	VMULPS Z2, Z0, Z0; \
	VMINPS Z17, Z0, Z0; \
	VMAXPS Z18, Z0, Z0; \
	VMULPS Z29, Z1, Z1; \
	VMINPS Z16, Z1, Z1; \
	VMULPS Z1, Z1, Z2; \
	VMOVAPS Z22, Z3; \
	VFMADD213PS Z21, Z2, Z3; \
	VFMADD213PS Z20, Z2, Z3; \
	VFMADD213PS Z19, Z2, Z3; \
	VFMADD213PS Z17, Z2, Z3; \
	VMOVAPS Z26, Z4; \
	VFMADD213PS Z25, Z2, Z4; \
	VFMADD213PS Z24, Z2, Z4; \
	VFMADD213PS Z23, Z2, Z4; \
	VFMADD213PS Z17, Z2, Z4; \
	VMULPS Z3, Z1, Z1; \
	VDIVPS Z4, Z1, Z1; \
	VMULPS Z30, Z1, Z1; \
	VFMADD213PS Z27, Z0, Z1

// func blockTanhCosAVX512(a *blockArgs)
TEXT ·blockTanhCosAVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ blockArgs_c(DI), R13
	MOVQ blockArgs_ldc(DI), R14
	SHLQ $2, R14
	MOVQ blockArgs_rows(DI), DX
	MOVQ blockArgs_chans(DI), BX
	MOVQ blockArgs_norm(DI), R10
	MOVQ blockArgs_inv(DI), R11
	BCAST(0x41100000, Z16)
	BCAST(0x3f800000, Z17)
	BCAST(0xbf800000, Z18)
	BCAST(0x3e090583, Z19)
	BCAST(0x3b6515db, Z20)
	BCAST(0x37ace0ab, Z21)
	BCAST(0x32656af2, Z22)
	BCAST(0x3eef2d66, Z23)
	BCAST(0x3cd3fbcc, Z24)
	BCAST(0x39ac427e, Z25)
	BCAST(0x3550be14, Z26)
	// K1: the lanes of a row's last, partial vector.
	MOVQ blockArgs_cols(DI), CX
	ANDQ $15, CX
	MOVQ $1, R8
	SHLQ CX, R8
	DECQ R8
	KMOVW R8, K1

tcRow:
	TESTQ DX, DX
	JLE tcDone
	VBROADCASTSS chanConst_invNw(BX), Z28
	VBROADCASTSS chanConst_hs(BX), Z29
	VBROADCASTSS chanConst_alpha(BX), Z30
	VBROADCASTSS chanConst_bias(BX), Z27
	MOVQ blockArgs_cols(DI), CX
	SHRQ $4, CX
	XORQ AX, AX
	TESTQ CX, CX
	JZ tcTail

tcStep:
	VMOVUPS (R13)(AX*1), Z0
	VMOVUPS (R10)(AX*1), Z1
	VMOVUPS (R11)(AX*1), Z2
	TANHCOS
	VMOVUPS Z1, (R13)(AX*1)
	ADDQ $64, AX
	DECQ CX
	JNZ tcStep

tcTail:
	KORTESTW K1, K1
	JZ tcNext
	VMOVUPS.Z (R13)(AX*1), K1, Z0
	VMOVUPS.Z (R10)(AX*1), K1, Z1
	VMOVUPS.Z (R11)(AX*1), K1, Z2
	TANHCOS
	VMOVUPS Z1, K1, (R13)(AX*1)

tcNext:
	ADDQ R14, R13
	ADDQ $chanConst__size, BX
	DECQ DX
	JMP tcRow

tcDone:
	VZEROUPPER
	RET
