//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// func squaresAVX2(p *squareArgs)
//
// Registers: DI plane, SI x (the current block of channel 0), CX values left, R8 stride in
// bytes, R9 channels, R10 accumulate, R11 the current channel's block, R12 channels left;
// Y0..Y3 the sums of values 0-3, 4-7, 8-11, 12-15 of a block, Y4..Y7 converted values.
// Blocks of 16 values come first, then blocks of 4, then single values.
TEXT ·squaresAVX2(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	MOVQ squareArgs_plane(AX), DI
	MOVQ squareArgs_x(AX), SI
	MOVQ squareArgs_n(AX), CX
	MOVQ squareArgs_stride(AX), R8
	SHLQ $2, R8
	MOVQ squareArgs_channels(AX), R9
	MOVQ squareArgs_accumulate(AX), R10

block16:
	CMPQ CX, $16
	JLT block4
	TESTQ R10, R10
	JZ zero16
	VMOVUPD 0(DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	JMP sum16

zero16:
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

sum16:
	MOVQ SI, R11
	MOVQ R9, R12
	TESTQ R12, R12
	JLE store16

channel16:
	VCVTPS2PD 0(R11), Y4
	VCVTPS2PD 16(R11), Y5
	VCVTPS2PD 32(R11), Y6
	VCVTPS2PD 48(R11), Y7
	VFMADD231PD Y4, Y4, Y0
	VFMADD231PD Y5, Y5, Y1
	VFMADD231PD Y6, Y6, Y2
	VFMADD231PD Y7, Y7, Y3
	ADDQ R8, R11
	DECQ R12
	JNZ channel16

store16:
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $64, SI
	SUBQ $16, CX
	JMP block16

block4:
	CMPQ CX, $4
	JLT block1
	VXORPD Y0, Y0, Y0
	TESTQ R10, R10
	JZ sum4
	VMOVUPD 0(DI), Y0

sum4:
	MOVQ SI, R11
	MOVQ R9, R12
	TESTQ R12, R12
	JLE store4

channel4:
	VCVTPS2PD 0(R11), Y4
	VFMADD231PD Y4, Y4, Y0
	ADDQ R8, R11
	DECQ R12
	JNZ channel4

store4:
	VMOVUPD Y0, 0(DI)
	ADDQ $32, DI
	ADDQ $16, SI
	SUBQ $4, CX
	JMP block4

block1:
	TESTQ CX, CX
	JLE done
	VXORPD X0, X0, X0
	TESTQ R10, R10
	JZ sum1
	VMOVSD 0(DI), X0

sum1:
	MOVQ SI, R11
	MOVQ R9, R12
	TESTQ R12, R12
	JLE store1

channel1:
	VCVTSS2SD 0(R11), X4, X4
	VFMADD231SD X4, X4, X0
	ADDQ R8, R11
	DECQ R12
	JNZ channel1

store1:
	VMOVSD X0, 0(DI)
	ADDQ $8, DI
	ADDQ $4, SI
	DECQ CX
	JMP block1

done:
	VZEROUPPER
	RET

// func shiftedSumsAVX2(p *shiftArgs)
//
// Registers: DI dst, SI src at the current position, R8 offs, R9 len(offs), CX values left,
// R10 the current tap's address, R11 the tap index; Y0..Y3 the sums of a block's values 0-3,
// 4-7, 8-11, 12-15. Blocks of 16 values come first, then blocks of 4, then single values; each
// starts from its first tap and adds the others in order. The caller (shiftedSums) checks the
// bounds and that offs is not empty.
TEXT ·shiftedSumsAVX2(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	MOVQ shiftArgs_dst(AX), DI
	MOVQ shiftArgs_src(AX), SI
	MOVQ shiftArgs_offs(AX), R8
	MOVQ shiftArgs_offs+8(AX), R9
	MOVQ shiftArgs_n(AX), CX

sums16:
	CMPQ CX, $16
	JLT sums4
	MOVQ 0(R8), R10
	LEAQ (SI)(R10*8), R10
	VMOVUPD 0(R10), Y0
	VMOVUPD 32(R10), Y1
	VMOVUPD 64(R10), Y2
	VMOVUPD 96(R10), Y3
	MOVQ $1, R11

sums16Tap:
	CMPQ R11, R9
	JGE sums16Store
	MOVQ (R8)(R11*8), R10
	LEAQ (SI)(R10*8), R10
	VADDPD 0(R10), Y0, Y0
	VADDPD 32(R10), Y1, Y1
	VADDPD 64(R10), Y2, Y2
	VADDPD 96(R10), Y3, Y3
	INCQ R11
	JMP sums16Tap

sums16Store:
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $16, CX
	JMP sums16

sums4:
	CMPQ CX, $4
	JLT sums1
	MOVQ 0(R8), R10
	VMOVUPD (SI)(R10*8), Y0
	MOVQ $1, R11

sums4Tap:
	CMPQ R11, R9
	JGE sums4Store
	MOVQ (R8)(R11*8), R10
	VADDPD (SI)(R10*8), Y0, Y0
	INCQ R11
	JMP sums4Tap

sums4Store:
	VMOVUPD Y0, 0(DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $4, CX
	JMP sums4

sums1:
	TESTQ CX, CX
	JLE sumsDone
	MOVQ 0(R8), R10
	VMOVSD (SI)(R10*8), X0
	MOVQ $1, R11

sums1Tap:
	CMPQ R11, R9
	JGE sums1Store
	MOVQ (R8)(R11*8), R10
	VADDSD (SI)(R10*8), X0, X0
	INCQ R11
	JMP sums1Tap

sums1Store:
	VMOVSD X0, 0(DI)
	ADDQ $8, DI
	ADDQ $8, SI
	DECQ CX
	JMP sums1

sumsDone:
	VZEROUPPER
	RET

// func adds32AVX2(dst, src []float32, rows, cols, dstStride, srcStride int)
//
// Registers as in addsAVX2: DI dst row, SI src row, DX rows left, R8 and R9 the strides in
// bytes, R10 and R11 the current positions in the row, CX values left in the row.
TEXT ·adds32AVX2(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ rows+48(FP), DX
	MOVQ dstStride+64(FP), R8
	SHLQ $2, R8
	MOVQ srcStride+72(FP), R9
	SHLQ $2, R9
	TESTQ DX, DX
	JLE adds32Done

adds32Row:
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ cols+56(FP), CX

adds32By32:
	CMPQ CX, $32
	JLT adds32By8
	VMOVUPS 0(R10), Y0
	VMOVUPS 32(R10), Y1
	VMOVUPS 64(R10), Y2
	VMOVUPS 96(R10), Y3
	VADDPS 0(R11), Y0, Y0
	VADDPS 32(R11), Y1, Y1
	VADDPS 64(R11), Y2, Y2
	VADDPS 96(R11), Y3, Y3
	VMOVUPS Y0, 0(R10)
	VMOVUPS Y1, 32(R10)
	VMOVUPS Y2, 64(R10)
	VMOVUPS Y3, 96(R10)
	ADDQ $128, R10
	ADDQ $128, R11
	SUBQ $32, CX
	JMP adds32By32

adds32By8:
	CMPQ CX, $8
	JLT adds32By1
	VMOVUPS 0(R10), Y0
	VADDPS 0(R11), Y0, Y0
	VMOVUPS Y0, 0(R10)
	ADDQ $32, R10
	ADDQ $32, R11
	SUBQ $8, CX
	JMP adds32By8

adds32By1:
	TESTQ CX, CX
	JLE adds32Next
	VMOVSS 0(R10), X0
	VADDSS 0(R11), X0, X0
	VMOVSS X0, 0(R10)
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ CX
	JMP adds32By1

adds32Next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ DX
	JNZ adds32Row

adds32Done:
	VZEROUPPER
	RET

// func maxes32AVX2(dst, src []float32, n int)
//
// dst[i] = max(dst[i], src[i]) for i < n (n a multiple of 8), NaN if either is NaN: VMAXPS
// returns its second source (dst's value) when either is NaN, and a blend then takes src's
// value where that is NaN.
TEXT ·maxes32AVX2(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $3, CX
	JEQ  maxesDone

maxesLoop:
	VMOVUPS   (DI), Y0
	VMOVUPS   (SI), Y1
	VMAXPS    Y0, Y1, Y2
	VCMPPS    $3, Y1, Y1, Y3
	VBLENDVPS Y3, Y1, Y2, Y2
	VMOVUPS   Y2, (DI)
	ADDQ      $32, DI
	ADDQ      $32, SI
	DECQ      CX
	JNE       maxesLoop

maxesDone:
	VZEROUPPER
	RET

// func divs32AVX2(dst []float32, n int, d float32)
//
// dst[i] /= d for i < n (n a multiple of 8), correctly rounded (VDIVPS), as the Go loop.
TEXT ·divs32AVX2(SB), NOSPLIT, $0-36
	MOVQ dst_base+0(FP), DI
	MOVQ n+24(FP), CX
	VBROADCASTSS d+32(FP), Y1
	SHRQ $3, CX
	JEQ  divsDone

divsLoop:
	VMOVUPS (DI), Y0
	VDIVPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	DECQ    CX
	JNE     divsLoop

divsDone:
	VZEROUPPER
	RET
