//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// Register use in kern6x16:
//   Y0..Y11  accumulators, row r in Y(2r) (columns 0-7) and Y(2r+1) (columns 8-15)
//   Y12 Y13  the 16 values of B for one step, Y14 Y15 broadcast values of A
//   AX       A (6 floats per step; the panels are contiguous, so AX runs on into the next one)
//   BX       B panel (16 floats per step), CX steps left, DX tiles left
//   DI       *microArgs, R8 flags, R9 C row pointer, R10 ldc in bytes
//   R13      row bias pointer, SI residual row pointer, R12 ldRes in bytes, R11 scratch

// STEP does one rank-1 update with the A values at i*24(AX) and the B values at i*64(BX).
#define STEP(i) \
	VMOVUPS      (i*64)(BX), Y12; \
	VMOVUPS      (i*64+32)(BX), Y13; \
	VBROADCASTSS (i*24)(AX), Y14; \
	VBROADCASTSS (i*24+4)(AX), Y15; \
	VFMADD231PS  Y12, Y14, Y0; \
	VFMADD231PS  Y13, Y14, Y1; \
	VFMADD231PS  Y12, Y15, Y2; \
	VFMADD231PS  Y13, Y15, Y3; \
	VBROADCASTSS (i*24+8)(AX), Y14; \
	VBROADCASTSS (i*24+12)(AX), Y15; \
	VFMADD231PS  Y12, Y14, Y4; \
	VFMADD231PS  Y13, Y14, Y5; \
	VFMADD231PS  Y12, Y15, Y6; \
	VFMADD231PS  Y13, Y15, Y7; \
	VBROADCASTSS (i*24+16)(AX), Y14; \
	VBROADCASTSS (i*24+20)(AX), Y15; \
	VFMADD231PS  Y12, Y14, Y8; \
	VFMADD231PS  Y13, Y14, Y9; \
	VFMADD231PS  Y12, Y15, Y10; \
	VFMADD231PS  Y13, Y15, Y11

// ADDROWS adds the 6x16 matrix at (ptr) with row stride `stride` bytes to the accumulators; ptr
// is advanced.
#define ADDROWS(ptr, stride) \
	VADDPS (ptr), Y0, Y0; \
	VADDPS 32(ptr), Y1, Y1; \
	ADDQ   stride, ptr; \
	VADDPS (ptr), Y2, Y2; \
	VADDPS 32(ptr), Y3, Y3; \
	ADDQ   stride, ptr; \
	VADDPS (ptr), Y4, Y4; \
	VADDPS 32(ptr), Y5, Y5; \
	ADDQ   stride, ptr; \
	VADDPS (ptr), Y6, Y6; \
	VADDPS 32(ptr), Y7, Y7; \
	ADDQ   stride, ptr; \
	VADDPS (ptr), Y8, Y8; \
	VADDPS 32(ptr), Y9, Y9; \
	ADDQ   stride, ptr; \
	VADDPS (ptr), Y10, Y10; \
	VADDPS 32(ptr), Y11, Y11

// ACT12(op, v) computes Yi = op(v, Yi) with Yi as the second source, so a NaN in Yi survives.
#define ACT12(op, v) \
	op Y0, v, Y0; \
	op Y1, v, Y1; \
	op Y2, v, Y2; \
	op Y3, v, Y3; \
	op Y4, v, Y4; \
	op Y5, v, Y5; \
	op Y6, v, Y6; \
	op Y7, v, Y7; \
	op Y8, v, Y8; \
	op Y9, v, Y9; \
	op Y10, v, Y10; \
	op Y11, v, Y11

// func kern6x16(p *microArgs)
TEXT ·kern6x16(SB), NOSPLIT, $384-8
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

tile:
	MOVQ microArgs_b(DI), BX
	MOVQ microArgs_kc(DI), CX

	// Warm the C tile while the products are being computed.
	MOVQ R9, R11
	PREFETCHT0 (R11)
	PREFETCHT0 63(R11)
	ADDQ R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 63(R11)
	ADDQ R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 63(R11)
	ADDQ R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 63(R11)
	ADDQ R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 63(R11)
	ADDQ R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 63(R11)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JLT  tail

loop4:
	STEP(0)
	STEP(1)
	STEP(2)
	STEP(3)
	ADDQ $96, AX
	ADDQ $256, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   epilogue

loop1:
	STEP(0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JNE  loop1

epilogue:
	CMPQ DX, $1
	JNE  full
	CMPQ microArgs_lastRows(DI), $6
	JLT  partial

full:
	TESTQ $const_flagLoadC, R8
	JEQ   rowbias
	MOVQ  R9, R11
	ADDROWS(R11, R10)

rowbias:
	TESTQ $const_flagRowBias, R8
	JEQ   colbias
	VBROADCASTSS (R13), Y12
	VADDPS       Y12, Y0, Y0
	VADDPS       Y12, Y1, Y1
	VBROADCASTSS 4(R13), Y12
	VADDPS       Y12, Y2, Y2
	VADDPS       Y12, Y3, Y3
	VBROADCASTSS 8(R13), Y12
	VADDPS       Y12, Y4, Y4
	VADDPS       Y12, Y5, Y5
	VBROADCASTSS 12(R13), Y12
	VADDPS       Y12, Y6, Y6
	VADDPS       Y12, Y7, Y7
	VBROADCASTSS 16(R13), Y12
	VADDPS       Y12, Y8, Y8
	VADDPS       Y12, Y9, Y9
	VBROADCASTSS 20(R13), Y12
	VADDPS       Y12, Y10, Y10
	VADDPS       Y12, Y11, Y11
	ADDQ         $24, R13

colbias:
	TESTQ $const_flagColBias, R8
	JEQ   residual
	MOVQ    microArgs_colBias(DI), R11
	VMOVUPS (R11), Y12
	VMOVUPS 32(R11), Y13
	VADDPS  Y12, Y0, Y0
	VADDPS  Y13, Y1, Y1
	VADDPS  Y12, Y2, Y2
	VADDPS  Y13, Y3, Y3
	VADDPS  Y12, Y4, Y4
	VADDPS  Y13, Y5, Y5
	VADDPS  Y12, Y6, Y6
	VADDPS  Y13, Y7, Y7
	VADDPS  Y12, Y8, Y8
	VADDPS  Y13, Y9, Y9
	VADDPS  Y12, Y10, Y10
	VADDPS  Y13, Y11, Y11

residual:
	TESTQ $const_flagResidual, R8
	JEQ   relu
	ADDROWS(SI, R12)
	ADDQ  R12, SI

relu:
	TESTQ $const_flagRelu, R8
	JEQ   clip
	VXORPS Y12, Y12, Y12
	ACT12(VMAXPS, Y12)

clip:
	TESTQ $const_flagClip, R8
	JEQ   store
	VBROADCASTSS microArgs_min(DI), Y12
	VBROADCASTSS microArgs_max(DI), Y13
	ACT12(VMAXPS, Y12)
	ACT12(VMINPS, Y13)

store:
	VMOVUPS Y0, (R9)
	VMOVUPS Y1, 32(R9)
	ADDQ    R10, R9
	VMOVUPS Y2, (R9)
	VMOVUPS Y3, 32(R9)
	ADDQ    R10, R9
	VMOVUPS Y4, (R9)
	VMOVUPS Y5, 32(R9)
	ADDQ    R10, R9
	VMOVUPS Y6, (R9)
	VMOVUPS Y7, 32(R9)
	ADDQ    R10, R9
	VMOVUPS Y8, (R9)
	VMOVUPS Y9, 32(R9)
	ADDQ    R10, R9
	VMOVUPS Y10, (R9)
	VMOVUPS Y11, 32(R9)
	ADDQ    R10, R9

	DECQ DX
	JNE  tile
	VZEROUPPER
	RET

	// The last tile has fewer than 6 valid rows: park the accumulators on the stack and finish
	// the valid rows one at a time, with the same steps as above.
partial:
	VMOVUPS Y0, 0(SP)
	VMOVUPS Y1, 32(SP)
	VMOVUPS Y2, 64(SP)
	VMOVUPS Y3, 96(SP)
	VMOVUPS Y4, 128(SP)
	VMOVUPS Y5, 160(SP)
	VMOVUPS Y6, 192(SP)
	VMOVUPS Y7, 224(SP)
	VMOVUPS Y8, 256(SP)
	VMOVUPS Y9, 288(SP)
	VMOVUPS Y10, 320(SP)
	VMOVUPS Y11, 352(SP)
	MOVQ microArgs_lastRows(DI), DX
	LEAQ 0(SP), BX

prow:
	VMOVUPS (BX), Y0
	VMOVUPS 32(BX), Y1
	TESTQ   $const_flagLoadC, R8
	JEQ     prowbias
	VADDPS  (R9), Y0, Y0
	VADDPS  32(R9), Y1, Y1

prowbias:
	TESTQ        $const_flagRowBias, R8
	JEQ          pcolbias
	VBROADCASTSS (R13), Y2
	VADDPS       Y2, Y0, Y0
	VADDPS       Y2, Y1, Y1
	ADDQ         $4, R13

pcolbias:
	TESTQ  $const_flagColBias, R8
	JEQ    presidual
	MOVQ   microArgs_colBias(DI), R11
	VADDPS (R11), Y0, Y0
	VADDPS 32(R11), Y1, Y1

presidual:
	TESTQ  $const_flagResidual, R8
	JEQ    prelu
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	ADDQ   R12, SI

prelu:
	TESTQ  $const_flagRelu, R8
	JEQ    pclip
	VXORPS Y2, Y2, Y2
	VMAXPS Y0, Y2, Y0
	VMAXPS Y1, Y2, Y1

pclip:
	TESTQ        $const_flagClip, R8
	JEQ          pstore
	VBROADCASTSS microArgs_min(DI), Y2
	VBROADCASTSS microArgs_max(DI), Y3
	VMAXPS       Y0, Y2, Y0
	VMAXPS       Y1, Y2, Y1
	VMINPS       Y0, Y3, Y0
	VMINPS       Y1, Y3, Y1

pstore:
	VMOVUPS Y0, (R9)
	VMOVUPS Y1, 32(R9)
	ADDQ    R10, R9
	ADDQ    $64, BX
	DECQ    DX
	JNE     prow
	VZEROUPPER
	RET

// Register use in kern6x8 (the same as kern6x16 otherwise):
//   Y0..Y5   accumulators of even steps, row r in Y(r); Y6..Y11 the same for odd steps, so that
//            twelve independent sums cover the four-cycle latency of the multiply-adds
//   Y12 Y13  B values of the even and odd step, Y14 Y15 broadcast values of A

// HSTEP does one rank-1 update of the 6x8 tile into accumulators Y(acc)..Y(acc+5) with the A values
// at aoff(AX) and the 8 B values at boff(BX).
#define HSTEP(aoff, boff, breg, y0, y1, y2, y3, y4, y5) \
	VMOVUPS      boff(BX), breg; \
	VBROADCASTSS (aoff)(AX), Y14; \
	VBROADCASTSS (aoff+4)(AX), Y15; \
	VFMADD231PS  breg, Y14, y0; \
	VFMADD231PS  breg, Y15, y1; \
	VBROADCASTSS (aoff+8)(AX), Y14; \
	VBROADCASTSS (aoff+12)(AX), Y15; \
	VFMADD231PS  breg, Y14, y2; \
	VFMADD231PS  breg, Y15, y3; \
	VBROADCASTSS (aoff+16)(AX), Y14; \
	VBROADCASTSS (aoff+20)(AX), Y15; \
	VFMADD231PS  breg, Y14, y4; \
	VFMADD231PS  breg, Y15, y5

// func kern6x8(p *microArgs)
TEXT ·kern6x8(SB), NOSPLIT, $192-8
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

htile:
	MOVQ microArgs_b(DI), BX
	MOVQ microArgs_kc(DI), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JLT  htail

hloop4:
	HSTEP(0, 0, Y12, Y0, Y1, Y2, Y3, Y4, Y5)
	HSTEP(24, 64, Y13, Y6, Y7, Y8, Y9, Y10, Y11)
	HSTEP(48, 128, Y12, Y0, Y1, Y2, Y3, Y4, Y5)
	HSTEP(72, 192, Y13, Y6, Y7, Y8, Y9, Y10, Y11)
	ADDQ $96, AX
	ADDQ $256, BX
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  hloop4

htail:
	TESTQ CX, CX
	JEQ   hsum

hloop1:
	HSTEP(0, 0, Y12, Y0, Y1, Y2, Y3, Y4, Y5)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JNE  hloop1

hsum:
	VADDPS Y6, Y0, Y0
	VADDPS Y7, Y1, Y1
	VADDPS Y8, Y2, Y2
	VADDPS Y9, Y3, Y3
	VADDPS Y10, Y4, Y4
	VADDPS Y11, Y5, Y5

	// Epilogue, one row at a time from the stack (the last tile may have fewer than 6 valid
	// rows): the flagged additions with C (R9), row bias (R13), column bias (R11) and residual
	// (SI), then ReLU (Y12 = 0) or clip (Y13 = min, Y14 = max), and the store.
	VMOVUPS      Y0, 0(SP)
	VMOVUPS      Y1, 32(SP)
	VMOVUPS      Y2, 64(SP)
	VMOVUPS      Y3, 96(SP)
	VMOVUPS      Y4, 128(SP)
	VMOVUPS      Y5, 160(SP)
	MOVQ         microArgs_colBias(DI), R11
	VXORPS       Y12, Y12, Y12
	VBROADCASTSS microArgs_min(DI), Y13
	VBROADCASTSS microArgs_max(DI), Y14
	MOVQ         $6, CX
	CMPQ         DX, $1
	JNE          hrows
	MOVQ         microArgs_lastRows(DI), CX

hrows:
	LEAQ 0(SP), BX

hrow:
	VMOVUPS (BX), Y0
	TESTQ   $const_flagLoadC, R8
	JEQ     hrowbias
	VADDPS  (R9), Y0, Y0

hrowbias:
	TESTQ        $const_flagRowBias, R8
	JEQ          hcolbias
	VBROADCASTSS (R13), Y15
	VADDPS       Y15, Y0, Y0
	ADDQ         $4, R13

hcolbias:
	TESTQ  $const_flagColBias, R8
	JEQ    hresidual
	VADDPS (R11), Y0, Y0

hresidual:
	TESTQ  $const_flagResidual, R8
	JEQ    hrelu
	VADDPS (SI), Y0, Y0
	ADDQ   R12, SI

hrelu:
	TESTQ  $const_flagRelu, R8
	JEQ    hclip
	VMAXPS Y0, Y12, Y0

hclip:
	TESTQ  $const_flagClip, R8
	JEQ    hstore
	VMAXPS Y0, Y13, Y0
	VMINPS Y0, Y14, Y0

hstore:
	VMOVUPS Y0, (R9)
	ADDQ    R10, R9
	ADDQ    $32, BX
	DECQ    CX
	JNE     hrow

hnext:
	DECQ DX
	JNE  htile
	VZEROUPPER
	RET

// COPY64 copies 64 bytes from (src) to off(dst) through X0-X3.
#define COPY64(src, off, dst) \
	MOVUPS (src), X0; \
	MOVUPS 16(src), X1; \
	MOVUPS 32(src), X2; \
	MOVUPS 48(src), X3; \
	MOVUPS X0, (off)(dst); \
	MOVUPS X1, (off+16)(dst); \
	MOVUPS X2, (off+32)(dst); \
	MOVUPS X3, (off+48)(dst)

// func packRows16(dst, src []float32, ld, kc, panels int)
//
// Rows are taken eight at a time: for each panel the eight source pieces (eight lines of one
// column stripe) go to 512 contiguous bytes of the panel. Walking whole rows instead would write
// 64 bytes to each panel in turn, and panels lie kc*64 bytes apart, usually a multiple of 4 KiB,
// so every write would land in the same L1 set.
TEXT ·packRows16(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ ld+48(FP), R8
	SHLQ $2, R8
	MOVQ kc+56(FP), CX
	MOVQ panels+64(FP), DX
	MOVQ CX, R9
	SHLQ $6, R9 // bytes from one panel to the next: kc * 16 * 4
	TESTQ DX, DX
	JEQ   done

block8:
	CMPQ CX, $8
	JLT  rest
	MOVQ SI, R10 // source of the current panel, first row of the block
	MOVQ DI, R11 // destination of the current panel, first row of the block
	MOVQ DX, R12

panel8:
	MOVQ R10, R13
	COPY64(R13, 0, R11)
	ADDQ R8, R13
	COPY64(R13, 64, R11)
	ADDQ R8, R13
	COPY64(R13, 128, R11)
	ADDQ R8, R13
	COPY64(R13, 192, R11)
	ADDQ R8, R13
	COPY64(R13, 256, R11)
	ADDQ R8, R13
	COPY64(R13, 320, R11)
	ADDQ R8, R13
	COPY64(R13, 384, R11)
	ADDQ R8, R13
	COPY64(R13, 448, R11)
	ADDQ $64, R10
	ADDQ R9, R11
	DECQ R12
	JNE  panel8

	LEAQ (SI)(R8*8), SI
	ADDQ $512, DI
	SUBQ $8, CX
	JMP  block8

rest:
	// Fewer than eight rows left: one row at a time across all panels.
	TESTQ CX, CX
	JEQ   done
	MOVQ  SI, R10
	MOVQ  DI, R11
	MOVQ  DX, R12

panel1:
	COPY64(R10, 0, R11)
	ADDQ $64, R10
	ADDQ R9, R11
	DECQ R12
	JNE  panel1

	ADDQ R8, SI
	ADDQ $64, DI
	DECQ CX
	JMP  rest

done:
	RET
