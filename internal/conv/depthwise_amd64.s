//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// The tap kernel of the channel-blocked depthwise convolution (depthwise.go; the transpositions
// are gemm.Transpose16).

// CLAMPSTORE(z, off) stores min(max(z, lo), hi) at off(R8), z second so that a NaN stays NaN;
// lo and hi in Z10 and Z11 (dwAsm) or CLAMPSTOREIN with them in any registers.
#define CLAMPSTOREIN(z, off, lo, hi) \
	VMAXPS z, lo, z \
	VMINPS z, hi, z \
	VMOVUPS z, off(R8)

#define CLAMPSTORE(z, off) CLAMPSTOREIN(z, off, Z10, Z11)

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

// FMA8(w, a, b, c, d, e, f, g, h) adds w times the eight inputs to the accumulators Z0..Z7.
#define FMA8(w, a, b, c, d, e, f, g, h) \
	VFMADD231PS a, w, Z0 \
	VFMADD231PS b, w, Z1 \
	VFMADD231PS c, w, Z2 \
	VFMADD231PS d, w, Z3 \
	VFMADD231PS e, w, Z4 \
	VFMADD231PS f, w, Z5 \
	VFMADD231PS g, w, Z6 \
	VFMADD231PS h, w, Z7

// LOAD10 loads the ten pixel vectors at R11, 64 bytes apart, into Z8..Z17.
#define LOAD10 \
	VMOVUPS (R11), Z8 \
	VMOVUPS 64(R11), Z9 \
	VMOVUPS 128(R11), Z10 \
	VMOVUPS 192(R11), Z11 \
	VMOVUPS 256(R11), Z12 \
	VMOVUPS 320(R11), Z13 \
	VMOVUPS 384(R11), Z14 \
	VMOVUPS 448(R11), Z15 \
	VMOVUPS 512(R11), Z16 \
	VMOVUPS 576(R11), Z17

// GROUPSTART(bias) sets the sums to bias, R11 to the group's first kernel row, DX to the first
// weights and AX to the kernel rows.
#define GROUPSTART(bias) \
	VMOVAPS bias, Z0 \
	VMOVAPS bias, Z1 \
	VMOVAPS bias, Z2 \
	VMOVAPS bias, Z3 \
	VMOVAPS bias, Z4 \
	VMOVAPS bias, Z5 \
	VMOVAPS bias, Z6 \
	VMOVAPS bias, Z7 \
	MOVQ R10, R11 \
	MOVQ dwArgs_w(DI), DX \
	MOVQ dwArgs_kh(DI), AX

// GROUPSTORE(lo, hi) stores the eight clamped sums and moves to the next group (eight column
// strides, R15, on in the input).
#define GROUPSTORE(lo, hi) \
	CLAMPSTOREIN(Z0, 0, lo, hi) \
	CLAMPSTOREIN(Z1, 64, lo, hi) \
	CLAMPSTOREIN(Z2, 128, lo, hi) \
	CLAMPSTOREIN(Z3, 192, lo, hi) \
	CLAMPSTOREIN(Z4, 256, lo, hi) \
	CLAMPSTOREIN(Z5, 320, lo, hi) \
	CLAMPSTOREIN(Z6, 384, lo, hi) \
	CLAMPSTOREIN(Z7, 448, lo, hi) \
	ADDQ $512, R8 \
	LEAQ (R10)(R15*8), R10 \
	SUBQ $8, R13

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

	GROUPSTORE(Z10, Z11)
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

// func dwRowsAsm(a *dwArgs)
//
// dwAsm for kernels 3 or 5 wide at unit column stride, or 3 wide at column stride 2, at unit
// dilation (a.kw, a.colStride; rows of at least eight pixels): each kernel row's kw weights and the 7 + kw input pixels its taps read
// for a group of eight outputs are loaded once into registers, and every tap is a
// multiply-add between registers, 8·kw of them per kernel row for 7 + kw + kw loads where
// dwAsm loads 9·kw. The sums run in dwAsm's order (kernel rows, then columns, for each
// output). Registers: DI args, R8 out, R9 the row's first input pixel, R10 the group's, R11
// its kernel row's, R12 the kernel-row stride in bytes, R13 pixels left, SI rows left, DX the
// kernel row's weights, AX kernel rows left, R15 the column stride (64 or 128 bytes);
// Z0..Z7 sums, Z8..Z19 input pixels, Z20..Z24 weights, Z25 bias, Z26 lo, Z27 hi.
TEXT ·dwRowsAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ dwArgs_out(DI), R8
	MOVQ dwArgs_in(DI), R9
	MOVQ dwArgs_bias(DI), AX
	VMOVUPS (AX), Z25
	VBROADCASTSS dwArgs_lo(DI), Z26
	VBROADCASTSS dwArgs_hi(DI), Z27
	MOVQ $64, R15
	MOVQ dwArgs_khStride(DI), R12
	SHLQ $2, R12
	MOVQ dwArgs_rows(DI), SI
	TESTQ SI, SI
	JLE drDone
	CMPQ dwArgs_colStride(DI), $32
	JEQ drStride2
	CMPQ dwArgs_kw(DI), $5
	JEQ dr5Row

dr3Row:
	MOVQ R9, R10
	MOVQ dwArgs_cols(DI), R13

dr3Group:
	CMPQ R13, $8
	JGE dr3Go
	TESTQ R13, R13
	JZ dr3Next
	STEPBACK($8)

dr3Go:
	GROUPSTART(Z25)

dr3Tap:
	VMOVUPS (DX), Z20
	VMOVUPS 64(DX), Z21
	VMOVUPS 128(DX), Z22
	LOAD10
	FMA8(Z20, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	FMA8(Z21, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16)
	FMA8(Z22, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17)
	ADDQ $192, DX
	ADDQ R12, R11
	DECQ AX
	JNZ dr3Tap
	GROUPSTORE(Z26, Z27)
	JMP dr3Group

dr3Next:
	MOVQ dwArgs_rowStride(DI), AX
	SHLQ $2, AX
	ADDQ AX, R9
	DECQ SI
	JNZ dr3Row
	JMP drDone

dr5Row:
	MOVQ R9, R10
	MOVQ dwArgs_cols(DI), R13

dr5Group:
	CMPQ R13, $8
	JGE dr5Go
	TESTQ R13, R13
	JZ dr5Next
	STEPBACK($8)

dr5Go:
	GROUPSTART(Z25)

dr5Tap:
	VMOVUPS (DX), Z20
	VMOVUPS 64(DX), Z21
	VMOVUPS 128(DX), Z22
	VMOVUPS 192(DX), Z23
	VMOVUPS 256(DX), Z24
	LOAD10
	VMOVUPS 640(R11), Z18
	VMOVUPS 704(R11), Z19
	FMA8(Z20, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	FMA8(Z21, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16)
	FMA8(Z22, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17)
	FMA8(Z23, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18)
	FMA8(Z24, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19)
	ADDQ $320, DX
	ADDQ R12, R11
	DECQ AX
	JNZ dr5Tap
	GROUPSTORE(Z26, Z27)
	JMP dr5Group

dr5Next:
	MOVQ dwArgs_rowStride(DI), AX
	SHLQ $2, AX
	ADDQ AX, R9
	DECQ SI
	JNZ dr5Row
	JMP drDone

	// Column stride 2, kernels 3 wide: output p reads pixels 2p, 2p + 1 and 2p + 2, so a group
	// of eight reads the 17 pixels Z8..Z24; weights in Z25..Z27, bias Z28, lo Z29, hi Z30.
drStride2:
	VMOVAPS Z25, Z28
	VMOVAPS Z26, Z29
	VMOVAPS Z27, Z30
	MOVQ $128, R15

ds2Row:
	MOVQ R9, R10
	MOVQ dwArgs_cols(DI), R13

ds2Group:
	CMPQ R13, $8
	JGE ds2Go
	TESTQ R13, R13
	JZ ds2Next
	STEPBACK($8)

ds2Go:
	GROUPSTART(Z28)

ds2Tap:
	VMOVUPS (DX), Z25
	VMOVUPS 64(DX), Z26
	VMOVUPS 128(DX), Z27
	LOAD10
	VMOVUPS 640(R11), Z18
	VMOVUPS 704(R11), Z19
	VMOVUPS 768(R11), Z20
	VMOVUPS 832(R11), Z21
	VMOVUPS 896(R11), Z22
	VMOVUPS 960(R11), Z23
	VMOVUPS 1024(R11), Z24
	FMA8(Z25, Z8, Z10, Z12, Z14, Z16, Z18, Z20, Z22)
	FMA8(Z26, Z9, Z11, Z13, Z15, Z17, Z19, Z21, Z23)
	FMA8(Z27, Z10, Z12, Z14, Z16, Z18, Z20, Z22, Z24)
	ADDQ $192, DX
	ADDQ R12, R11
	DECQ AX
	JNZ ds2Tap
	GROUPSTORE(Z29, Z30)
	JMP ds2Group

ds2Next:
	MOVQ dwArgs_rowStride(DI), AX
	SHLQ $2, AX
	ADDQ AX, R9
	DECQ SI
	JNZ ds2Row

drDone:
	VZEROUPPER
	RET
