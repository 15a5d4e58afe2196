//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// PICKCOLUMNS sets a, b, c, e to the four columns of d of one tile row from its raw values:
// a = even and b = odd lanes of Z20:Z21 (the window from the tile's first column), c = even and
// e = odd lanes of Z22:Z23 (the window two columns on); Z30, Z31 hold the even and odd indices.
// (8 instructions: WINOROW's jump counts them.)
#define PICKCOLUMNS(a, b, c, e) \
	VMOVAPS Z30, a; \
	VPERMI2PS Z21, Z20, a; \
	VMOVAPS Z31, b; \
	VPERMI2PS Z21, Z20, b; \
	VMOVAPS Z30, c; \
	VPERMI2PS Z23, Z22, c; \
	VMOVAPS Z31, e; \
	VPERMI2PS Z23, Z22, e

// WINOROW loads input row roff (a byte offset from R12, negative: outside the image, zeros) of a
// 16-tile segment as its four columns of d: a = values 0, 2, ..., 30; b = 1, 3, ..., 31;
// c = 2, 4, ..., 32; e = 3, 5, ..., 33 of the 34 from R12+roff, each load under its column mask
// (K1..K4: zeros outside the image), picked by two-table permutes (even lanes Z30, odd Z31).
#define WINOROW(roff, a, b, c, e) \
	TESTQ roff, roff; \
	JS 15(PC); \
	LEAQ (R12)(roff*1), R14; \
	VMOVUPS.Z (R14), K1, Z20; \
	VMOVUPS.Z 64(R14), K2, Z21; \
	VMOVUPS.Z 8(R14), K3, Z22; \
	VMOVUPS.Z 72(R14), K4, Z23; \
	PICKCOLUMNS(a, b, c, e); \
	JMP 5(PC); \
	VPXORD a, a, a; \
	VPXORD b, b, b; \
	VPXORD c, c, c; \
	VPXORD e, e, e

// WINOCOLUMN applies Bᵀ down column j of d (rows a, b, c, e): a = a − c, e = b − e,
// t = b + c, c = c − b.
#define WINOCOLUMN(a, b, c, e, t) \
	VSUBPS c, a, a; \
	VSUBPS e, b, e; \
	VADDPS c, b, t; \
	VSUBPS b, c, c

// WINOSTORE stores v at R14 and moves R14 to the next ξ.
#define WINOSTORE(v) \
	VMOVUPS v, (R14); \
	ADDQ R9, R14

// WINOROWOUT applies B along one row (p0..p3) of the column-transformed tile and stores its
// four ξ.
#define WINOROWOUT(p0, p1, p2, p3) \
	VSUBPS p2, p0, Z20; \
	WINOSTORE(Z20); \
	VADDPS p2, p1, Z21; \
	WINOSTORE(Z21); \
	VSUBPS p1, p2, Z22; \
	WINOSTORE(Z22); \
	VSUBPS p3, p1, Z23; \
	WINOSTORE(Z23)

// WINOINTILE transforms the loaded d (Z0..Z15) of 16 tiles and stores their 16 ξ from R13
// (ξ stride R9): Bᵀ down the columns, then along the rows.
#define WINOINTILE \
	WINOCOLUMN(Z0, Z4, Z8, Z12, Z16); \
	WINOCOLUMN(Z1, Z5, Z9, Z13, Z17); \
	WINOCOLUMN(Z2, Z6, Z10, Z14, Z18); \
	WINOCOLUMN(Z3, Z7, Z11, Z15, Z19); \
	MOVQ R13, R14; \
	WINOROWOUT(Z0, Z1, Z2, Z3); \
	WINOROWOUT(Z16, Z17, Z18, Z19); \
	WINOROWOUT(Z8, Z9, Z10, Z11); \
	WINOROWOUT(Z12, Z13, Z14, Z15)

// func winoInAsm(a *winoInArgs)
//
// Segments outer, channels inner, so that each segment's four column masks (from a.masks) are
// loaded once. Registers: SI the segment's first source value of channel 0 (at column
// col0 + 32s), DI its first destination; R12, R13 those of the channel; R14 the source row,
// then the destination of each ξ; R10, R15, AX, DX the byte offsets of the four input rows
// (negative: outside the image); R8 plane, R9 xiStride, R11 dstRow (bytes); BX segments left,
// CX channels left; the mask pointer and the channel count on the frame. Z0..Z15 hold d[i][j]
// in Z(4i+j), then the column-transformed rows (row 1 in Z16..Z19); Z20..Z23 the raw loads;
// Z30, Z31 the even and odd lane indices.
TEXT ·winoInAsm(SB), NOSPLIT, $16-8
	MOVQ a+0(FP), DX
	MOVQ winoInArgs_masks(DX), R14
	MOVQ R14, masks-8(SP)
	MOVQ winoInArgs_chans(DX), R14
	MOVQ R14, chans-16(SP)
	MOVQ winoInArgs_src(DX), SI
	MOVQ winoInArgs_col0(DX), R12
	LEAQ (SI)(R12*4), SI
	MOVQ winoInArgs_dst(DX), DI
	MOVQ winoInArgs_plane(DX), R8
	SHLQ $2, R8
	MOVQ winoInArgs_xiStride(DX), R9
	SHLQ $2, R9
	MOVQ winoInArgs_dstRow(DX), R11
	SHLQ $2, R11
	MOVQ winoInArgs_segs(DX), BX
	MOVQ winoInArgs_rows+0(DX), R10
	SHLQ $2, R10
	MOVQ winoInArgs_rows+8(DX), R15
	SHLQ $2, R15
	MOVQ winoInArgs_rows+16(DX), AX
	SHLQ $2, AX
	MOVQ winoInArgs_rows+24(DX), DX
	SHLQ $2, DX
	VMOVDQU32 ·winoLanes+0(SB), Z30
	VMOVDQU32 ·winoLanes+64(SB), Z31

winoInSegment:
	MOVQ masks-8(SP), R14
	KMOVW 0(R14), K1
	KMOVW 2(R14), K2
	KMOVW 4(R14), K3
	KMOVW 6(R14), K4
	ADDQ $8, R14
	MOVQ R14, masks-8(SP)
	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ chans-16(SP), CX

winoInChannel:
	WINOROW(R10, Z0, Z1, Z2, Z3)
	WINOROW(R15, Z4, Z5, Z6, Z7)
	WINOROW(AX, Z8, Z9, Z10, Z11)
	WINOROW(DX, Z12, Z13, Z14, Z15)
	WINOINTILE
	ADDQ R8, R12
	ADDQ R11, R13
	DECQ CX
	JNZ  winoInChannel

	ADDQ $128, SI
	ADDQ $64, DI
	DECQ BX
	JNZ  winoInSegment
	VZEROUPPER
	RET

// WINOLOAD loads the next ξ of the segment (at AX) into v.
#define WINOLOAD(v) \
	VMOVUPS (AX), v; \
	ADDQ R8, AX

// WINOFINISH adds the residual (if R15 is not nil) to the 16 values v at offset off of the
// channel's output row, clamps them to [Z28, Z31] and stores the lanes of mask k.
#define WINOFINISH(v, off, k) \
	TESTQ R15, R15; \
	JZ 3(PC); \
	VMOVUPS.Z off(R15)(DX*1), k, Z4; \
	VADDPS Z4, v, v; \
	VMAXPS v, Z28, v; \
	VMINPS v, Z31, v; \
	VMOVUPS v, k, off(DI)(DX*1)

// WINOOUTTILE transforms the 16 ξ of 16 tiles at AX (ξ stride R8) into their outputs, adds the
// bias at R13 (unless nil) and interleaves them into the two output rows' 32 columns: Z0, Z1 row
// 0, Z2, Z3 row 1. X[i][j] goes into Z(4i+j); columns: s0j = x0j + x1j + x2j (Z16+j),
// s1j = x1j − x2j − x3j (Z20+j); rows: o[r][0] = sr0 + sr1 + sr2, o[r][1] = sr1 − sr2 − sr3
// (Z24..Z27).
#define WINOOUTTILE \
	WINOLOAD(Z0); \
	WINOLOAD(Z1); \
	WINOLOAD(Z2); \
	WINOLOAD(Z3); \
	WINOLOAD(Z4); \
	WINOLOAD(Z5); \
	WINOLOAD(Z6); \
	WINOLOAD(Z7); \
	WINOLOAD(Z8); \
	WINOLOAD(Z9); \
	WINOLOAD(Z10); \
	WINOLOAD(Z11); \
	WINOLOAD(Z12); \
	WINOLOAD(Z13); \
	WINOLOAD(Z14); \
	WINOLOAD(Z15); \
	VADDPS Z4, Z0, Z16; \
	VADDPS Z8, Z16, Z16; \
	VADDPS Z5, Z1, Z17; \
	VADDPS Z9, Z17, Z17; \
	VADDPS Z6, Z2, Z18; \
	VADDPS Z10, Z18, Z18; \
	VADDPS Z7, Z3, Z19; \
	VADDPS Z11, Z19, Z19; \
	VSUBPS Z8, Z4, Z20; \
	VSUBPS Z12, Z20, Z20; \
	VSUBPS Z9, Z5, Z21; \
	VSUBPS Z13, Z21, Z21; \
	VSUBPS Z10, Z6, Z22; \
	VSUBPS Z14, Z22, Z22; \
	VSUBPS Z11, Z7, Z23; \
	VSUBPS Z15, Z23, Z23; \
	VADDPS Z17, Z16, Z24; \
	VADDPS Z18, Z24, Z24; \
	VSUBPS Z18, Z17, Z25; \
	VSUBPS Z19, Z25, Z25; \
	VADDPS Z21, Z20, Z26; \
	VADDPS Z22, Z26, Z26; \
	VSUBPS Z22, Z21, Z27; \
	VSUBPS Z23, Z27, Z27; \
	TESTQ R13, R13; \
	JZ 6(PC); \
	VBROADCASTSS (R13), Z16; \
	VADDPS Z16, Z24, Z24; \
	VADDPS Z16, Z25, Z25; \
	VADDPS Z16, Z26, Z26; \
	VADDPS Z16, Z27, Z27; \
	VMOVAPS Z24, Z0; \
	VPERMT2PS Z25, Z29, Z0; \
	VMOVAPS Z24, Z1; \
	VPERMT2PS Z25, Z30, Z1; \
	VMOVAPS Z26, Z2; \
	VPERMT2PS Z27, Z29, Z2; \
	VMOVAPS Z26, Z3; \
	VPERMT2PS Z27, Z30, Z3

// WINOOUTNEXT moves the output transforms to the next channel: its M row (SI, by R11), output
// and residual (DI and R15 unless nil, by R10) and bias (R13 unless nil).
#define WINOOUTNEXT \
	ADDQ R11, SI; \
	ADDQ R10, DI; \
	TESTQ R15, R15; \
	JZ 2(PC); \
	ADDQ R10, R15; \
	TESTQ R13, R13; \
	JZ 2(PC); \
	ADDQ $4, R13

// func winoOutAsm(a *winoOutArgs)
//
// Registers: SI the channel's M row (ξ = 0), DI its output row 2ty, R15 its residual row (or
// nil), R13 its bias (or nil), R14 the segment's first M value, AX the ξ being loaded, R12 the
// segment's byte offset in the output row, DX that of the row being stored; R8 xiStride,
// R9 ld, R10 dstPlane, R11 srcRow (bytes); CX channels left, BX segments left (segs on the
// frame). Z0..Z15 hold X[i][j] in Z(4i+j), Z16..Z23 the column-transformed rows, Z24..Z27 the
// outputs o[a][b] of 16 tiles; Z29, Z30 the interleaving indices, Z28 and Z31 the bounds. K1,
// K2 mask the two halves of the last segment's columns, K5 is all lanes, K3, K4 those of the
// segment being stored, K7 all lanes or none (the second output row).
TEXT ·winoOutAsm(SB), NOSPLIT, $8-8
	MOVQ a+0(FP), DX
	MOVQ winoOutArgs_src(DX), SI
	MOVQ winoOutArgs_dst(DX), DI
	MOVQ winoOutArgs_res(DX), R15
	MOVQ winoOutArgs_bias(DX), R13
	MOVQ winoOutArgs_xiStride(DX), R8
	SHLQ $2, R8
	MOVQ winoOutArgs_ld(DX), R9
	SHLQ $2, R9
	MOVQ winoOutArgs_dstPlane(DX), R10
	SHLQ $2, R10
	MOVQ winoOutArgs_srcRow(DX), R11
	SHLQ $2, R11
	VBROADCASTSS winoOutArgs_lo(DX), Z28
	VBROADCASTSS winoOutArgs_hi(DX), Z31
	VMOVDQU32 ·winoLanes+128(SB), Z29
	VMOVDQU32 ·winoLanes+192(SB), Z30

	// Masks: the last segment holds cols − 32·(segs−1) columns, 1 to 32.
	MOVQ winoOutArgs_segs(DX), AX
	MOVQ AX, segs-8(SP)
	SHLQ $5, AX
	MOVQ winoOutArgs_cols(DX), BX
	SUBQ AX, BX
	ADDQ $32, BX
	MOVQ $16, AX
	CMPQ BX, AX
	CMOVQLT BX, AX
	MOVQ $-1, R12
	BZHIQ AX, R12, R14
	KMOVW R14, K1
	SUBQ AX, BX
	BZHIQ BX, R12, R14
	KMOVW R14, K2
	MOVL $0xffff, AX
	KMOVW AX, K5
	XORQ AX, AX
	CMPQ winoOutArgs_rows(DX), $2
	JNE  winoOutRows
	MOVL $0xffff, AX

winoOutRows:
	KMOVW AX, K7
	MOVQ winoOutArgs_chans(DX), CX

winoOutChannel:
	MOVQ SI, R14
	XORQ R12, R12
	MOVQ segs-8(SP), BX

winoOutSegment:
	MOVQ R14, AX
	WINOOUTTILE

	KMOVW K5, K3
	KMOVW K5, K4
	CMPQ BX, $1
	JNE  winoOutFull
	KMOVW K1, K3
	KMOVW K2, K4

winoOutFull:
	MOVQ R12, DX
	WINOFINISH(Z0, 0, K3)
	WINOFINISH(Z1, 64, K4)
	KANDW K7, K3, K3
	KANDW K7, K4, K4
	ADDQ R9, DX
	WINOFINISH(Z2, 0, K3)
	WINOFINISH(Z3, 64, K4)

	ADDQ $64, R14
	ADDQ $128, R12
	DECQ BX
	JNZ  winoOutSegment

	WINOOUTNEXT
	DECQ CX
	JNZ  winoOutChannel
	VZEROUPPER
	RET

// WINOGRADROW applies Aᵀ along one row (p0, p1) of the column-transformed output-gradient
// block and stores its four ξ: p0, p0 + p1, p0 − p1, 0 − p1.
#define WINOGRADROW(p0, p1) \
	WINOSTORE(p0); \
	VADDPS p1, p0, Z20; \
	WINOSTORE(Z20); \
	VSUBPS p1, p0, Z21; \
	WINOSTORE(Z21); \
	VSUBPS p1, Z29, Z22; \
	WINOSTORE(Z22)

// func winoGradAsm(a *winoGradArgs)
//
// Registers as in winoInAsm: SI the channel's rows, DI its Ŷ row (ξ = 0), AX the segment's
// first source value, R12 its first destination, DX the source row, R14 the destination of
// each ξ; R8 ld, R9 xiStride, R10 srcPlane, R11 dstRow (bytes); CX channels left, BX segments
// left, R13 segments per row. Z0, Z1 hold e[0][0], e[0][1] of 16 tiles, Z2, Z3 e[1][0],
// e[1][1]; Z4..Z9 the column-transformed rows; Z29 zero, Z30, Z31 the even and odd lane indices.
TEXT ·winoGradAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DX
	MOVQ winoGradArgs_src(DX), SI
	MOVQ winoGradArgs_dst(DX), DI
	MOVQ winoGradArgs_ld(DX), R8
	SHLQ $2, R8
	MOVQ winoGradArgs_xiStride(DX), R9
	SHLQ $2, R9
	MOVQ winoGradArgs_srcPlane(DX), R10
	SHLQ $2, R10
	MOVQ winoGradArgs_dstRow(DX), R11
	SHLQ $2, R11
	MOVQ winoGradArgs_chans(DX), CX
	MOVQ winoGradArgs_segs(DX), R13
	VMOVDQU32 ·winoLanes+0(SB), Z30
	VMOVDQU32 ·winoLanes+64(SB), Z31
	VPXORD Z29, Z29, Z29

winoGradChannel:
	MOVQ SI, AX
	MOVQ DI, R12
	MOVQ R13, BX

winoGradSegment:
	MOVQ AX, DX
	VMOVUPS (DX), Z0
	VPERMT2PS 64(DX), Z30, Z0
	VMOVUPS (DX), Z1
	VPERMT2PS 64(DX), Z31, Z1
	ADDQ R8, DX
	VMOVUPS (DX), Z2
	VPERMT2PS 64(DX), Z30, Z2
	VMOVUPS (DX), Z3
	VPERMT2PS 64(DX), Z31, Z3

	// Columns: z1b = e0b + e1b, z2b = e0b − e1b, z3b = 0 − e1b (z0b = e0b stays).
	VADDPS Z2, Z0, Z4
	VSUBPS Z2, Z0, Z5
	VSUBPS Z2, Z29, Z6
	VADDPS Z3, Z1, Z7
	VSUBPS Z3, Z1, Z8
	VSUBPS Z3, Z29, Z9
	MOVQ R12, R14
	WINOGRADROW(Z0, Z1)
	WINOGRADROW(Z4, Z7)
	WINOGRADROW(Z5, Z8)
	WINOGRADROW(Z6, Z9)
	ADDQ $128, AX
	ADDQ $64, R12
	DECQ BX
	JNZ  winoGradSegment

	ADDQ R10, SI
	ADDQ R11, DI
	DECQ CX
	JNZ  winoGradChannel
	VZEROUPPER
	RET

// NARROWHALF loads 16 raw values into reg from the two pieces at byte offset doff of the
// descriptors (BX): the first zeroing the lanes outside its mask, the second merged.
#define NARROWHALF(doff, reg) \
	MOVQ (doff)(BX), AX; \
	KMOVW (doff+8)(BX), K1; \
	VMOVUPS.Z (R12)(AX*1), K1, reg; \
	MOVQ (doff+16)(BX), AX; \
	KMOVW (doff+24)(BX), K1; \
	VMOVUPS (R12)(AX*1), K1, reg

// NARROWROW loads tile row r's raw values (descriptors from byte roff = 128r) and picks its four
// columns of d as WINOROW does.
#define NARROWROW(roff, a, b, c, e) \
	NARROWHALF(roff+0, Z20); \
	NARROWHALF(roff+32, Z21); \
	NARROWHALF(roff+64, Z22); \
	NARROWHALF(roff+96, Z23); \
	PICKCOLUMNS(a, b, c, e)

// func winoNarrowAsm(a *winoNarrowArgs)
//
// Registers: R12 the channel's first input value, R13 its V row (ξ = 0), R14 the destination of
// each ξ, BX the load descriptors (winoNarrowArgs.pieces), AX a piece's offset; R8 plane,
// R9 xiStride, R11 dstRow (bytes); CX channels left. Z0..Z23 and Z30, Z31 as in winoInAsm.
TEXT ·winoNarrowAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DX
	MOVQ winoNarrowArgs_pieces(DX), BX
	MOVQ winoNarrowArgs_src(DX), R12
	MOVQ winoNarrowArgs_dst(DX), R13
	MOVQ winoNarrowArgs_plane(DX), R8
	SHLQ $2, R8
	MOVQ winoNarrowArgs_xiStride(DX), R9
	SHLQ $2, R9
	MOVQ winoNarrowArgs_dstRow(DX), R11
	SHLQ $2, R11
	MOVQ winoNarrowArgs_chans(DX), CX
	VMOVDQU32 ·winoLanes+0(SB), Z30
	VMOVDQU32 ·winoLanes+64(SB), Z31

winoNarrowChannel:
	NARROWROW(0, Z0, Z1, Z2, Z3)
	NARROWROW(128, Z4, Z5, Z6, Z7)
	NARROWROW(256, Z8, Z9, Z10, Z11)
	NARROWROW(384, Z12, Z13, Z14, Z15)
	WINOINTILE
	ADDQ R8, R12
	ADDQ R11, R13
	DECQ CX
	JNZ  winoNarrowChannel
	VZEROUPPER
	RET

// NARROWOUT adds the residual to v (if R15 is not nil), clamps it to [Z28, Z31] and stores it
// through the two pieces at byte offset doff of the descriptors (BX), each under its mask; the
// residual is gathered through the same pieces.
#define NARROWOUT(v, doff) \
	TESTQ R15, R15; \
	JZ 8(PC); \
	MOVQ (doff)(BX), AX; \
	KMOVW (doff+8)(BX), K1; \
	VMOVUPS.Z (R15)(AX*1), K1, Z4; \
	MOVQ (doff+16)(BX), AX; \
	KMOVW (doff+24)(BX), K1; \
	VMOVUPS (R15)(AX*1), K1, Z4; \
	VADDPS Z4, v, v; \
	VMAXPS v, Z28, v; \
	VMINPS v, Z31, v; \
	MOVQ (doff)(BX), AX; \
	KMOVW (doff+8)(BX), K1; \
	VMOVUPS v, K1, (DI)(AX*1); \
	MOVQ (doff+16)(BX), AX; \
	KMOVW (doff+24)(BX), K1; \
	VMOVUPS v, K1, (DI)(AX*1)

// func winoNarrowOutAsm(a *winoNarrowOutArgs)
//
// Registers: SI the channel's M row (ξ = 0), DI its output at the group's first row, R15 its
// residual (or nil), R13 its bias (or nil), AX the ξ being loaded, then a piece's offset, BX the
// store descriptors (winoNarrowOutArgs.pieces); R8 xiStride, R10 dstPlane, R11 srcRow (bytes);
// CX channels left. Z0..Z27 as in winoOutAsm; Z29, Z30 the interleaving indices, Z28 and Z31
// the bounds.
TEXT ·winoNarrowOutAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DX
	MOVQ winoNarrowOutArgs_src(DX), SI
	MOVQ winoNarrowOutArgs_dst(DX), DI
	MOVQ winoNarrowOutArgs_res(DX), R15
	MOVQ winoNarrowOutArgs_bias(DX), R13
	MOVQ winoNarrowOutArgs_pieces(DX), BX
	MOVQ winoNarrowOutArgs_xiStride(DX), R8
	SHLQ $2, R8
	MOVQ winoNarrowOutArgs_dstPlane(DX), R10
	SHLQ $2, R10
	MOVQ winoNarrowOutArgs_srcRow(DX), R11
	SHLQ $2, R11
	VBROADCASTSS winoNarrowOutArgs_lo(DX), Z28
	VBROADCASTSS winoNarrowOutArgs_hi(DX), Z31
	VMOVDQU32 ·winoLanes+128(SB), Z29
	VMOVDQU32 ·winoLanes+192(SB), Z30
	MOVQ winoNarrowOutArgs_chans(DX), CX

winoNarrowOutChannel:
	MOVQ SI, AX
	WINOOUTTILE
	NARROWOUT(Z0, 0)
	NARROWOUT(Z1, 32)
	NARROWOUT(Z2, 64)
	NARROWOUT(Z3, 96)

	WINOOUTNEXT
	DECQ CX
	JNZ  winoNarrowOutChannel
	VZEROUPPER
	RET
