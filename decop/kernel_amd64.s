//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"
#include "vecmath_amd64.h"

// The AVX2+FMA row kernel of the decoupled epilogue (see rowArgs in kernel.go and the Go loops
// of kernel_generic.go, which evaluate the same formulas with the same coefficients, from
// fastmath.go, one value at a time).

// Constants of this file only; the shared ones are in vecmath_amd64.h.
VEC(minusNine, $0xc1100000)
VEC(asinMax, $0x3fc8e183)

// ASINSIGNED sets Y1 = min(asin(|Y0|), asinMax) and Y6 = the sign bit of Y0 (|Y0| <= 1), using
// Y2 to Y5.
#define ASINSIGNED \
	VANDPS signMask<>(SB), Y0, Y6; \
	VANDPS absMask<>(SB), Y0, Y1; \
	ASIN(Y1, Y1, Y2, Y5, Y3, Y4); \
	VMINPS asinMax<>(SB), Y1, Y1

// iota holds the lane numbers 0 to 7.
DATA iota<>+0(SB)/4, $0
DATA iota<>+4(SB)/4, $1
DATA iota<>+8(SB)/4, $2
DATA iota<>+12(SB)/4, $3
DATA iota<>+16(SB)/4, $4
DATA iota<>+20(SB)/4, $5
DATA iota<>+24(SB)/4, $6
DATA iota<>+28(SB)/4, $7
GLOBL iota<>(SB), RODATA|NOPTR, $32

// TAILMASK sets Y (whose low half is X) to the mask of the lanes below CX.
#define TAILMASK(X, Y) \
	MOVQ CX, X; \
	VPBROADCASTD X, Y; \
	VPCMPGTD iota<>(SB), Y, Y

// TAILCOPY copies the first CX values at (src)(AX*1) into the tail scratch slot k (masked, so
// nothing beyond the row is read) and points src at the slot, minus AX.
#define TAILCOPY(src, k) \
	VMASKMOVPS (src)(AX*1), Y0, Y1; \
	VMOVUPS Y1, (blockArgs_tail+32*k)(DI); \
	LEAQ (blockArgs_tail+32*k)(DI), src; \
	SUBQ AX, src

// The pieces of one step (eight values at byte offset AX of the row): COSINE sets Y0 to the
// cosine, an angular piece turns it into g, a magnitude piece sets Y1 to h, and the step ends
// with Y1 = h·g + bias. Registers as described at blockAVX2Kernel.

// COSINE sets Y0 = clamp(y·invNw·inv, −1, 1).
#define COSINE \
	VMULPS (SI)(AX*1), Y15, Y0; \
	VMULPS (R11)(AX*1), Y0, Y0; \
	VMINPS one<>(SB), Y0, Y0; \
	VMAXPS minusOne<>(SB), Y0, Y0

// ANGSQCOS sets Y0 = c·|c|.
#define ANGSQCOS \
	VANDPS absMask<>(SB), Y0, Y1; \
	VMULPS Y1, Y0, Y0

// ANGLINEAR sets Y0 = sign(c)·s2·a.
#define ANGLINEAR \
	ASINSIGNED; \
	VMULPS Y7, Y1, Y0; \
	VORPS Y6, Y0, Y0

// ANGSIGMOID sets Y0 = sign(c)·s2·tanh(s1·a).
#define ANGSIGMOID \
	ASINSIGNED; \
	VMULPS Y8, Y1, Y1; \
	TANH(Y1, Y2, Y3, Y4); \
	VMULPS Y7, Y1, Y0; \
	VORPS Y6, Y0, Y0

// MAGTANH sets Y1 = α·tanh(norm·hs).
#define MAGTANH \
	VMULPS (R10)(AX*1), Y13, Y1; \
	TANH(Y1, Y2, Y3, Y4); \
	VMULPS Y12, Y1, Y1

// MAGPOSITION sets Y1 = hpos.
#define MAGPOSITION \
	VMOVUPS (R12)(AX*1), Y1

// MAGSPHERE sets Y1 = α.
#define MAGSPHERE \
	VMOVAPS Y12, Y1

// MAGBALL sets Y1 = α·min(norm·hs, 1).
#define MAGBALL \
	VMULPS (R10)(AX*1), Y13, Y1; \
	VMINPS one<>(SB), Y1, Y1; \
	VMULPS Y12, Y1, Y1

// MAGLINEAR sets Y1 = α·(norm·rs).
#define MAGLINEAR \
	VMULPS (R10)(AX*1), Y14, Y1; \
	VMULPS Y12, Y1, Y1

// MAGSEG sets Y1 = α·min(r, ρ) + β·max(r − ρ, 0) with r = norm·rs.
#define MAGSEG \
	VMULPS (R10)(AX*1), Y14, Y1; \
	VSUBPS Y10, Y1, Y2; \
	VXORPS Y3, Y3, Y3; \
	VMAXPS Y3, Y2, Y2; \
	VMINPS Y10, Y1, Y1; \
	VMULPS Y12, Y1, Y1; \
	VFMADD231PS Y11, Y2, Y1

// MAGLOG sets Y1 = α·log1p(norm·rs).
#define MAGLOG \
	VMULPS (R10)(AX*1), Y14, Y1; \
	LOG1P(Y1, Y6, Y2, Y3, Y4, Y5); \
	VMULPS Y12, Y6, Y1

// MAGMIX sets Y1 = α·r + β·log1p(r) with r = norm·rs.
#define MAGMIX \
	VMULPS (R10)(AX*1), Y14, Y1; \
	LOG1P(Y1, Y6, Y2, Y3, Y4, Y5); \
	VMULPS Y12, Y1, Y1; \
	VFMADD231PS Y11, Y6, Y1

// STEP stores h·g + bias and moves to the next eight values.
#define STEP \
	VFMADD213PS Y9, Y0, Y1; \
	VMOVUPS Y1, (SI)(AX*1); \
	ADDQ $32, AX; \
	SUBQ $8, CX

// func blockAVX2Kernel(a *blockArgs)
//
// Registers: DI args, BX the row's channel constants, DX rows left, R13 the row in c, R14 the
// row stride in bytes, SI the values being finished (the row, or the tail scratch), R10 norm,
// R11 inv, R12 hpos, AX byte offset in the row, CX values left in the row, R8 angular, R9
// magnitude; Y15 invNw, Y14 rs, Y13 hs, Y12 α, Y11 β, Y10 ρ, Y9 bias, Y8 s1, Y7 s2; Y0 the
// cosine, then g; Y1 h, then the result; Y2 to Y6 temporaries.
//
// Each row goes in steps of eight values. With the cosine angular (every configuration the
// spec's examples use but three) a loop per magnitude runs the steps without dispatching;
// the other angulars dispatch on the selectors in every step, which costs a few predictable
// branches next to their asin. A row whose length is not a multiple of eight finishes its
// last eight values first (by the dispatching code, into the scratch in the arguments) and
// stores them after the others. Only a row of fewer than eight values is copied (masked
// loads) into the scratch, finished there with the pointers moved to the scratch, and copied
// back value by value: masked stores (VMASKMOVPS) are microcoded and slow on some CPUs, such
// as AMD's.
TEXT ·blockAVX2Kernel(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ blockArgs_c(DI), R13
	MOVQ blockArgs_ldc(DI), R14
	SHLQ $2, R14
	MOVQ blockArgs_rows(DI), DX
	MOVQ blockArgs_chans(DI), BX
	MOVQ blockArgs_ang(DI), R8
	MOVQ blockArgs_mag(DI), R9
	VBROADCASTSS blockArgs_s1(DI), Y8
	VBROADCASTSS blockArgs_s2(DI), Y7

rows:
	TESTQ DX, DX
	JLE done
	VBROADCASTSS chanConst_invNw(BX), Y15
	VBROADCASTSS chanConst_rs(BX), Y14
	VBROADCASTSS chanConst_hs(BX), Y13
	VBROADCASTSS chanConst_alpha(BX), Y12
	VBROADCASTSS chanConst_beta(BX), Y11
	VBROADCASTSS chanConst_rho(BX), Y10
	VBROADCASTSS chanConst_bias(BX), Y9
	MOVQ R13, SI
	MOVQ blockArgs_norm(DI), R10
	MOVQ blockArgs_inv(DI), R11
	MOVQ blockArgs_hpos(DI), R12
	MOVQ blockArgs_cols(DI), CX
	XORQ AX, AX
	CMPQ CX, $8
	JLT dispatch
	TESTQ $7, CX
	JZ dispatch
	// A row of 8 or more values whose last vector is partial: finish its last eight values
	// first (they overlap the row's last full vector), keep them in the scratch, and store
	// them after the rest, over the identical values computed again there.
	MOVQ CX, AX
	SUBQ $8, AX
	SHLQ $2, AX
	MOVQ $1, blockArgs_mode(DI)
	JMP body

lastSaved:
	VFMADD213PS Y9, Y0, Y1
	VMOVUPS Y1, blockArgs_tail(DI)
	MOVQ $2, blockArgs_mode(DI)
	XORQ AX, AX

dispatch:
	CMPQ R8, $0
	JNE blocks
	CMPQ R9, $2
	JEQ cosTanh
	CMPQ R9, $7
	JEQ cosPosition
	CMPQ R9, $0
	JEQ cosSphere
	CMPQ R9, $1
	JEQ cosBall
	CMPQ R9, $3
	JEQ cosLinear
	CMPQ R9, $4
	JEQ cosSeg
	CMPQ R9, $5
	JEQ cosLog
	JMP cosMix

cosTanh:
	CMPQ CX, $8
	JLT tail
	COSINE
	MAGTANH
	STEP
	JMP cosTanh

cosPosition:
	CMPQ CX, $8
	JLT tail
	COSINE
	MAGPOSITION
	STEP
	JMP cosPosition

cosSphere:
	CMPQ CX, $8
	JLT tail
	COSINE
	MAGSPHERE
	STEP
	JMP cosSphere

cosBall:
	CMPQ CX, $8
	JLT tail
	COSINE
	MAGBALL
	STEP
	JMP cosBall

cosLinear:
	CMPQ CX, $8
	JLT tail
	COSINE
	MAGLINEAR
	STEP
	JMP cosLinear

cosSeg:
	CMPQ CX, $8
	JLT tail
	COSINE
	MAGSEG
	STEP
	JMP cosSeg

cosLog:
	CMPQ CX, $8
	JLT tail
	COSINE
	MAGLOG
	STEP
	JMP cosLog

cosMix:
	CMPQ CX, $8
	JLT tail
	COSINE
	MAGMIX
	STEP
	JMP cosMix

blocks:
	CMPQ CX, $8
	JLT tail

body:
	// g(c) (or 1 when only h is wanted), the common cases first.
	CMPQ R8, $4
	JEQ angOne
	COSINE
	CMPQ R8, $0
	JEQ angDone
	CMPQ R8, $3
	JEQ angSqcos
	CMPQ R8, $1
	JEQ angLinear
	ANGSIGMOID
	JMP angDone

angLinear:
	ANGLINEAR
	JMP angDone

angSqcos:
	ANGSQCOS
	JMP angDone

angOne:
	VMOVUPS one<>(SB), Y0

angDone:
	// h(r), the common cases first.
	CMPQ R9, $2
	JEQ magTanh
	CMPQ R9, $7
	JEQ magPosition
	CMPQ R9, $0
	JEQ magSphere
	CMPQ R9, $1
	JEQ magBall
	CMPQ R9, $3
	JEQ magLinear
	CMPQ R9, $4
	JEQ magSeg
	CMPQ R9, $5
	JEQ magLog
	MAGMIX
	JMP magDone

magLog:
	MAGLOG
	JMP magDone

magTanh:
	MAGTANH
	JMP magDone

magPosition:
	MAGPOSITION
	JMP magDone

magSphere:
	MAGSPHERE
	JMP magDone

magBall:
	MAGBALL
	JMP magDone

magLinear:
	MAGLINEAR
	JMP magDone

magSeg:
	MAGSEG

magDone:
	CMPQ blockArgs_mode(DI), $1
	JEQ lastSaved
	CMPQ CX, $8
	JLT tailStore
	STEP
	JMP blocks

tail:
	CMPQ blockArgs_mode(DI), $2
	JEQ lastStore
	TESTQ CX, CX
	JLE nextRow
	TAILMASK(X0, Y0)
	TAILCOPY(SI, 0)
	TAILCOPY(R10, 1)
	TAILCOPY(R11, 2)
	TAILCOPY(R12, 3)
	JMP body

tailStore:
	// y = h·g + bias, stored to the scratch and copied value by value into the row.
	VFMADD213PS Y9, Y0, Y1
	VMOVUPS Y1, blockArgs_tail(DI)
	LEAQ (R13)(AX*1), SI
	XORQ R10, R10

tailValue:
	MOVL blockArgs_tail(DI)(R10*4), R11
	MOVL R11, (SI)(R10*4)
	INCQ R10
	CMPQ R10, CX
	JLT tailValue

	JMP nextRow

lastStore:
	MOVQ $0, blockArgs_mode(DI)
	VMOVUPS blockArgs_tail(DI), Y1
	MOVQ blockArgs_cols(DI), R10
	VMOVUPS Y1, -32(R13)(R10*4)

nextRow:
	ADDQ R14, R13
	ADDQ $chanConst__size, BX
	DECQ DX
	JMP rows

done:
	VZEROUPPER
	RET

DATA oneF64<>+0(SB)/8, $0x3ff0000000000000
DATA oneF64<>+8(SB)/8, $0x3ff0000000000000
DATA oneF64<>+16(SB)/8, $0x3ff0000000000000
DATA oneF64<>+24(SB)/8, $0x3ff0000000000000
GLOBL oneF64<>(SB), RODATA|NOPTR, $32

// maxF32 is the largest float32 as a float64.
DATA maxF32<>+0(SB)/8, $0x47efffffe0000000
DATA maxF32<>+8(SB)/8, $0x47efffffe0000000
DATA maxF32<>+16(SB)/8, $0x47efffffe0000000
DATA maxF32<>+24(SB)/8, $0x47efffffe0000000
GLOBL maxF32<>(SB), RODATA|NOPTR, $32

// func normsAVX2(a *normArgs)
//
// Registers: DI args, SI squares, R8 norm, R9 inv, CX values left; Y15 eps, Y14 1, Y13 the
// cap; Y0 the norm, Y1 its inverse.
TEXT ·normsAVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ normArgs_squares(DI), SI
	MOVQ normArgs_norm(DI), R8
	MOVQ normArgs_inv(DI), R9
	MOVQ normArgs_n(DI), CX
	VBROADCASTSD normArgs_eps(DI), Y15
	VMOVUPD oneF64<>(SB), Y14
	VMOVUPD maxF32<>(SB), Y13
	TESTQ CX, CX
	JLE normsDone

normsLoop:
	VADDPD (SI), Y15, Y0
	VSQRTPD Y0, Y0
	VDIVPD Y0, Y14, Y1
	VMINPD Y13, Y0, Y0
	VMINPD Y13, Y1, Y1
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VMOVUPS X0, (R8)
	VMOVUPS X1, (R9)
	ADDQ $32, SI
	ADDQ $16, R8
	ADDQ $16, R9
	SUBQ $4, CX
	JG normsLoop

normsDone:
	VZEROUPPER
	RET
