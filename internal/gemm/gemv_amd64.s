//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// The panel matrix-vector kernels (see gemvArgs in gemv.go). Panels are k×16 floats, one after
// another; both kernels take four panels at a time (four independent streams of weights, four
// accumulator chains), then the rest one at a time.
//
// Registers: DI args, SI x, R8 the first panel of the group, R9 panel stride (k·64 bytes),
// R10 y, CX panels left, DX steps left, AX byte offset into the panels (kk·64), BX kk·4.

// func gemvAVX512(a *gemvArgs)
TEXT ·gemvAVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ gemvArgs_x(DI), SI
	MOVQ gemvArgs_p(DI), R8
	MOVQ gemvArgs_y(DI), R10
	MOVQ gemvArgs_k(DI), R9
	SHLQ $6, R9
	MOVQ gemvArgs_panels(DI), CX
	LEAQ (R8)(R9*2), R11 // panel 2 of the group
	MOVQ R9, R12
	SHLQ $2, R12         // four panels' stride

z4:
	CMPQ CX, $4
	JLT z1
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	XORQ AX, AX
	XORQ BX, BX
	MOVQ gemvArgs_k(DI), DX
	TESTQ DX, DX
	JZ z4store
z4loop:
	VBROADCASTSS (SI)(BX*1), Z4
	VFMADD231PS (R8)(AX*1), Z4, Z0
	LEAQ (R8)(R9*1), R13
	VFMADD231PS (R13)(AX*1), Z4, Z1
	VFMADD231PS (R11)(AX*1), Z4, Z2
	LEAQ (R11)(R9*1), R13
	VFMADD231PS (R13)(AX*1), Z4, Z3
	ADDQ $64, AX
	ADDQ $4, BX
	DECQ DX
	JNZ z4loop
z4store:
	VMOVUPS Z0, 0(R10)
	VMOVUPS Z1, 64(R10)
	VMOVUPS Z2, 128(R10)
	VMOVUPS Z3, 192(R10)
	ADDQ $256, R10
	ADDQ R12, R8
	ADDQ R12, R11
	SUBQ $4, CX
	JMP z4

z1:
	TESTQ CX, CX
	JZ zdone
	VXORPS Z0, Z0, Z0
	XORQ AX, AX
	XORQ BX, BX
	MOVQ gemvArgs_k(DI), DX
	TESTQ DX, DX
	JZ z1store
z1loop:
	VBROADCASTSS (SI)(BX*1), Z4
	VFMADD231PS (R8)(AX*1), Z4, Z0
	ADDQ $64, AX
	ADDQ $4, BX
	DECQ DX
	JNZ z1loop
z1store:
	VMOVUPS Z0, 0(R10)
	ADDQ $64, R10
	ADDQ R9, R8
	DECQ CX
	JMP z1

zdone:
	VZEROUPPER
	RET

// func gemvAVX2(a *gemvArgs)
TEXT ·gemvAVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ gemvArgs_x(DI), SI
	MOVQ gemvArgs_p(DI), R8
	MOVQ gemvArgs_y(DI), R10
	MOVQ gemvArgs_k(DI), R9
	SHLQ $6, R9
	MOVQ gemvArgs_panels(DI), CX
	LEAQ (R8)(R9*2), R11
	MOVQ R9, R12
	SHLQ $2, R12

y4:
	CMPQ CX, $4
	JLT y1
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
	XORQ BX, BX
	MOVQ gemvArgs_k(DI), DX
	TESTQ DX, DX
	JZ y4store
y4loop:
	VBROADCASTSS (SI)(BX*1), Y8
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS 32(R8)(AX*1), Y8, Y1
	LEAQ (R8)(R9*1), R13
	VFMADD231PS (R13)(AX*1), Y8, Y2
	VFMADD231PS 32(R13)(AX*1), Y8, Y3
	VFMADD231PS (R11)(AX*1), Y8, Y4
	VFMADD231PS 32(R11)(AX*1), Y8, Y5
	LEAQ (R11)(R9*1), R13
	VFMADD231PS (R13)(AX*1), Y8, Y6
	VFMADD231PS 32(R13)(AX*1), Y8, Y7
	ADDQ $64, AX
	ADDQ $4, BX
	DECQ DX
	JNZ y4loop
y4store:
	VMOVUPS Y0, 0(R10)
	VMOVUPS Y1, 32(R10)
	VMOVUPS Y2, 64(R10)
	VMOVUPS Y3, 96(R10)
	VMOVUPS Y4, 128(R10)
	VMOVUPS Y5, 160(R10)
	VMOVUPS Y6, 192(R10)
	VMOVUPS Y7, 224(R10)
	ADDQ $256, R10
	ADDQ R12, R8
	ADDQ R12, R11
	SUBQ $4, CX
	JMP y4

y1:
	TESTQ CX, CX
	JZ ydone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ AX, AX
	XORQ BX, BX
	MOVQ gemvArgs_k(DI), DX
	TESTQ DX, DX
	JZ y1store
y1loop:
	VBROADCASTSS (SI)(BX*1), Y8
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS 32(R8)(AX*1), Y8, Y1
	ADDQ $64, AX
	ADDQ $4, BX
	DECQ DX
	JNZ y1loop
y1store:
	VMOVUPS Y0, 0(R10)
	VMOVUPS Y1, 32(R10)
	ADDQ $64, R10
	ADDQ R9, R8
	DECQ CX
	JMP y1

ydone:
	VZEROUPPER
	RET
