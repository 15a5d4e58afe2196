//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// kern16x4z computes the first four columns of 16-row tiles, for the last B panel of a C whose
// width leaves at most four columns there (n = 49 = 3*16 + 1, n = 196 = 12*16 + 4): rows in
// the lanes, one accumulator per (tile, column), so a step is one load of the A panel's 16
// values and four multiply-adds with the step's B values broadcast, where a full 16x16 tile
// spends sixteen. Two tiles run together, eight accumulators, enough independent sums to keep
// both FMA units busy. Every line of both A panels is prefetched 4 KiB ahead, as in the other
// AVX-512 kernels: with one column (a 1×1 convolution of a 1×1 image, as in squeeze-and-excite
// blocks) the kernel streams weights from memory at one multiply-add per value. Each accumulator sums its products in the order kern16x16z does, so
// the values are the same bits.
// Register use:
//   Z0..Z3   tile t, columns 0..3; Z4..Z7 tile t+1
//   Z16 Z17  the step's A values of tiles t and t+1; Z20..Z23 the step's four B values
//   AX, R8   A panels of tiles t and t+1; BX B panel; CX steps left; DX tiles left
//   SI       bytes of one A panel (kc*64); R9 output; DI *narrowArgs

// NSTEP(i) does step i of a tile pair.
#define NSTEP(i) \
	VMOVUPS      (i*64)(AX), Z16; \
	VMOVUPS      (i*64)(R8), Z17; \
	VBROADCASTSS (i*64+0)(BX), Z20; \
	VBROADCASTSS (i*64+4)(BX), Z21; \
	VBROADCASTSS (i*64+8)(BX), Z22; \
	VBROADCASTSS (i*64+12)(BX), Z23; \
	VFMADD231PS  Z20, Z16, Z0; \
	VFMADD231PS  Z21, Z16, Z1; \
	VFMADD231PS  Z22, Z16, Z2; \
	VFMADD231PS  Z23, Z16, Z3; \
	VFMADD231PS  Z20, Z17, Z4; \
	VFMADD231PS  Z21, Z17, Z5; \
	VFMADD231PS  Z22, Z17, Z6; \
	VFMADD231PS  Z23, Z17, Z7

// func kern16x4z(p *narrowArgs)
TEXT ·kern16x4z(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), DI
	MOVQ narrowArgs_a(DI), AX
	MOVQ narrowArgs_out(DI), R9
	MOVQ narrowArgs_tiles(DI), DX
	MOVQ narrowArgs_kc(DI), SI
	SHLQ $6, SI

npair:
	// A lone last tile runs as a pair with itself; only its first half is stored.
	LEAQ (AX)(SI*1), R8
	CMPQ DX, $1
	JNE  nstart
	MOVQ AX, R8

nstart:
	MOVQ narrowArgs_b(DI), BX
	MOVQ narrowArgs_kc(DI), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	CMPQ CX, $2
	JLT  ntail

nloop2:
	PREFETCHT0 4096(AX)
	PREFETCHT0 4096(R8)
	NSTEP(0)
	PREFETCHT0 4160(AX)
	PREFETCHT0 4160(R8)
	NSTEP(1)
	ADDQ $128, AX
	ADDQ $128, R8
	ADDQ $128, BX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  nloop2

ntail:
	TESTQ CX, CX
	JEQ   nstore
	NSTEP(0)
	ADDQ  $64, AX
	ADDQ  $64, R8

nstore:
	// out holds, per tile, four columns of 16 rows: column j of tile t at out[(4t+j)*16].
	VMOVUPS Z0, 0(R9)
	VMOVUPS Z1, 64(R9)
	VMOVUPS Z2, 128(R9)
	VMOVUPS Z3, 192(R9)
	CMPQ    DX, $1
	JEQ     ndone
	VMOVUPS Z4, 256(R9)
	VMOVUPS Z5, 320(R9)
	VMOVUPS Z6, 384(R9)
	VMOVUPS Z7, 448(R9)
	ADDQ    $512, R9
	MOVQ    R8, AX // past tile t+1's panel
	SUBQ    $2, DX
	JNE     npair

ndone:
	VZEROUPPER
	RET
