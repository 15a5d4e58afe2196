//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// STEMSETUP loads the arguments: SI the weights, DI the tile's first input value, R8 the tap
// offsets, CX the taps; Z0..Z15 start at the bias (or zero), Z17 and Z18 hold lo and hi.
#define STEMSETUP \
	MOVQ a+0(FP), DX; \
	MOVQ stemArgs_w(DX), SI; \
	MOVQ stemArgs_x(DX), DI; \
	MOVQ stemArgs_offs(DX), R8; \
	MOVQ stemArgs_k(DX), CX; \
	VBROADCASTSS stemArgs_lo(DX), Z17; \
	VBROADCASTSS stemArgs_hi(DX), Z18; \
	VPXORD Z19, Z19, Z19; \
	MOVQ stemArgs_bias(DX), AX; \
	TESTQ AX, AX; \
	JZ 2(PC); \
	VMOVUPS (AX), Z19; \
	VMOVAPS Z19, Z0; \
	VMOVAPS Z19, Z1; \
	VMOVAPS Z19, Z2; \
	VMOVAPS Z19, Z3; \
	VMOVAPS Z19, Z4; \
	VMOVAPS Z19, Z5; \
	VMOVAPS Z19, Z6; \
	VMOVAPS Z19, Z7; \
	VMOVAPS Z19, Z8; \
	VMOVAPS Z19, Z9; \
	VMOVAPS Z19, Z10; \
	VMOVAPS Z19, Z11; \
	VMOVAPS Z19, Z12; \
	VMOVAPS Z19, Z13; \
	VMOVAPS Z19, Z14; \
	VMOVAPS Z19, Z15

// STEMTAP adds one tap: its 16 weights (Z16) times each pixel's input value, broadcast from
// the tap's position R9 plus the pixel times step bytes.
#define STEMTAP(step) \
	MOVLQSX (R8), AX; \
	LEAQ (DI)(AX*4), R9; \
	VMOVUPS (SI), Z16; \
	VFMADD231PS.BCST (0*step)(R9), Z16, Z0; \
	VFMADD231PS.BCST (1*step)(R9), Z16, Z1; \
	VFMADD231PS.BCST (2*step)(R9), Z16, Z2; \
	VFMADD231PS.BCST (3*step)(R9), Z16, Z3; \
	VFMADD231PS.BCST (4*step)(R9), Z16, Z4; \
	VFMADD231PS.BCST (5*step)(R9), Z16, Z5; \
	VFMADD231PS.BCST (6*step)(R9), Z16, Z6; \
	VFMADD231PS.BCST (7*step)(R9), Z16, Z7; \
	VFMADD231PS.BCST (8*step)(R9), Z16, Z8; \
	VFMADD231PS.BCST (9*step)(R9), Z16, Z9; \
	VFMADD231PS.BCST (10*step)(R9), Z16, Z10; \
	VFMADD231PS.BCST (11*step)(R9), Z16, Z11; \
	VFMADD231PS.BCST (12*step)(R9), Z16, Z12; \
	VFMADD231PS.BCST (13*step)(R9), Z16, Z13; \
	VFMADD231PS.BCST (14*step)(R9), Z16, Z14; \
	VFMADD231PS.BCST (15*step)(R9), Z16, Z15; \
	ADDQ $64, SI; \
	ADDQ $4, R8

// STEMCLAMP clamps v to [Z17, Z18], NaN staying NaN, and stores it as pixel p of the tile.
#define STEMCLAMP(v, p) \
	VMAXPS v, Z17, v; \
	VMINPS v, Z18, v; \
	VMOVUPS v, (p*64)(DI)

// STEMSTORE clamps and stores the 16 pixels at a.out.
#define STEMSTORE \
	MOVQ a+0(FP), DX; \
	MOVQ stemArgs_out(DX), DI; \
	STEMCLAMP(Z0, 0); \
	STEMCLAMP(Z1, 1); \
	STEMCLAMP(Z2, 2); \
	STEMCLAMP(Z3, 3); \
	STEMCLAMP(Z4, 4); \
	STEMCLAMP(Z5, 5); \
	STEMCLAMP(Z6, 6); \
	STEMCLAMP(Z7, 7); \
	STEMCLAMP(Z8, 8); \
	STEMCLAMP(Z9, 9); \
	STEMCLAMP(Z10, 10); \
	STEMCLAMP(Z11, 11); \
	STEMCLAMP(Z12, 12); \
	STEMCLAMP(Z13, 13); \
	STEMCLAMP(Z14, 14); \
	STEMCLAMP(Z15, 15); \
	VZEROUPPER

// func stemKernel1(a *stemArgs): pixel step 1 (4 bytes).
TEXT ·stemKernel1(SB), NOSPLIT, $0-8
	STEMSETUP
stem1Tap:
	STEMTAP(4)
	DECQ CX
	JNZ  stem1Tap
	STEMSTORE
	RET

// func stemKernel2(a *stemArgs): pixel step 2 (8 bytes).
TEXT ·stemKernel2(SB), NOSPLIT, $0-8
	STEMSETUP
stem2Tap:
	STEMTAP(8)
	DECQ CX
	JNZ  stem2Tap
	STEMSTORE
	RET

// func stemKernel4(a *stemArgs): pixel step 4 (16 bytes).
TEXT ·stemKernel4(SB), NOSPLIT, $0-8
	STEMSETUP
stem4Tap:
	STEMTAP(16)
	DECQ CX
	JNZ  stem4Tap
	STEMSTORE
	RET
