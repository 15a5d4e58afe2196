//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// Register use in tapsAVX2:
//   R9 dst row, R8 src row (src + r*srcStride), DX rows left, CX values left in the row,
//   SI byte offset of the current block in the dst row and in each tap's source row,
//   R10 offs, R11 number of taps, R12 w, BX tap index, AX and R13 tap sources,
//   Y0..Y3 accumulators of the even taps, Y5..Y8 of the odd taps, Y4 and Y9 broadcast weights,
//   Y10 tail mask, Y11 Y12 masked tap values, Y15 bias, Y14 lower bound, Y13 upper bound.
//
// Two accumulator sets halve the chain of dependent multiply-adds per output (a 3×3 filter
// would otherwise be latency-bound at 9 chained FMAs); they are added before the store.
// The bounds are applied as max(lo, v) then min(hi, v) with v as the second source operand,
// which the instructions return when either operand is NaN, so NaN stays NaN.

// tapMask is eight set lanes followed by eight clear ones: the 8 dwords starting n lanes before
// the middle have exactly n leading lanes set.
DATA tapMask<>+0(SB)/8, $-1
DATA tapMask<>+8(SB)/8, $-1
DATA tapMask<>+16(SB)/8, $-1
DATA tapMask<>+24(SB)/8, $-1
DATA tapMask<>+32(SB)/8, $0
DATA tapMask<>+40(SB)/8, $0
DATA tapMask<>+48(SB)/8, $0
DATA tapMask<>+56(SB)/8, $0
GLOBL tapMask<>(SB), RODATA|NOPTR, $64

// TAPADDR loads the source address of tap i (a register) into dst: src row + offs[i]*4.
#define TAPADDR(i, dst) \
	MOVQ (R10)(i*8), dst; \
	LEAQ (R8)(dst*4), dst

// func tapsAVX2(p *tapArgs)
TEXT ·tapsAVX2(SB), NOSPLIT, $0-8
	MOVQ         p+0(FP), DI
	MOVQ         tapArgs_dst(DI), R9
	MOVQ         tapArgs_src(DI), R8
	MOVQ         tapArgs_offs(DI), R10
	MOVQ         tapArgs_offs+8(DI), R11
	MOVQ         tapArgs_w(DI), R12
	MOVQ         tapArgs_rows(DI), DX
	VBROADCASTSS tapArgs_bias(DI), Y15
	VBROADCASTSS tapArgs_lo(DI), Y14
	VBROADCASTSS tapArgs_hi(DI), Y13

row:
	TESTQ DX, DX
	JZ    done
	MOVQ  tapArgs_n(DI), CX
	XORQ  SI, SI

block32:
	CMPQ    CX, $32
	JL      block8
	VXORPS  Y5, Y5, Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	VXORPS  Y8, Y8, Y8
	TESTQ   $const_tapAccumulate, tapArgs_flags(DI)
	JNZ     load32
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	JMP     taps32

load32:
	VMOVUPS (R9)(SI*1), Y0
	VMOVUPS 32(R9)(SI*1), Y1
	VMOVUPS 64(R9)(SI*1), Y2
	VMOVUPS 96(R9)(SI*1), Y3

taps32:
	XORQ BX, BX

tap32:
	LEAQ         1(BX), AX
	CMPQ         AX, R11
	JGE          tap32last
	TAPADDR(BX, AX)
	MOVQ         8(R10)(BX*8), R13
	LEAQ         (R8)(R13*4), R13
	VBROADCASTSS (R12)(BX*4), Y4
	VBROADCASTSS 4(R12)(BX*4), Y9
	VFMADD231PS  (AX)(SI*1), Y4, Y0
	VFMADD231PS  32(AX)(SI*1), Y4, Y1
	VFMADD231PS  64(AX)(SI*1), Y4, Y2
	VFMADD231PS  96(AX)(SI*1), Y4, Y3
	VFMADD231PS  (R13)(SI*1), Y9, Y5
	VFMADD231PS  32(R13)(SI*1), Y9, Y6
	VFMADD231PS  64(R13)(SI*1), Y9, Y7
	VFMADD231PS  96(R13)(SI*1), Y9, Y8
	ADDQ         $2, BX
	JMP          tap32

tap32last:
	CMPQ         BX, R11
	JGE          store32
	TAPADDR(BX, AX)
	VBROADCASTSS (R12)(BX*4), Y4
	VFMADD231PS  (AX)(SI*1), Y4, Y0
	VFMADD231PS  32(AX)(SI*1), Y4, Y1
	VFMADD231PS  64(AX)(SI*1), Y4, Y2
	VFMADD231PS  96(AX)(SI*1), Y4, Y3

store32:
	VADDPS  Y5, Y0, Y0
	VADDPS  Y6, Y1, Y1
	VADDPS  Y7, Y2, Y2
	VADDPS  Y8, Y3, Y3
	VMAXPS  Y0, Y14, Y0
	VMAXPS  Y1, Y14, Y1
	VMAXPS  Y2, Y14, Y2
	VMAXPS  Y3, Y14, Y3
	VMINPS  Y0, Y13, Y0
	VMINPS  Y1, Y13, Y1
	VMINPS  Y2, Y13, Y2
	VMINPS  Y3, Y13, Y3
	VMOVUPS Y0, (R9)(SI*1)
	VMOVUPS Y1, 32(R9)(SI*1)
	VMOVUPS Y2, 64(R9)(SI*1)
	VMOVUPS Y3, 96(R9)(SI*1)
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     block32

block8:
	CMPQ    CX, $8
	JL      block1
	VXORPS  Y5, Y5, Y5
	TESTQ   $const_tapAccumulate, tapArgs_flags(DI)
	JNZ     load8
	VMOVAPS Y15, Y0
	JMP     taps8

load8:
	VMOVUPS (R9)(SI*1), Y0

taps8:
	XORQ BX, BX

tap8:
	LEAQ         1(BX), AX
	CMPQ         AX, R11
	JGE          tap8last
	TAPADDR(BX, AX)
	MOVQ         8(R10)(BX*8), R13
	LEAQ         (R8)(R13*4), R13
	VBROADCASTSS (R12)(BX*4), Y4
	VBROADCASTSS 4(R12)(BX*4), Y9
	VFMADD231PS  (AX)(SI*1), Y4, Y0
	VFMADD231PS  (R13)(SI*1), Y9, Y5
	ADDQ         $2, BX
	JMP          tap8

tap8last:
	CMPQ         BX, R11
	JGE          store8
	TAPADDR(BX, AX)
	VBROADCASTSS (R12)(BX*4), Y4
	VFMADD231PS  (AX)(SI*1), Y4, Y0

store8:
	VADDPS  Y5, Y0, Y0
	VMAXPS  Y0, Y14, Y0
	VMINPS  Y0, Y13, Y0
	VMOVUPS Y0, (R9)(SI*1)
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     block8

block1:
	// The last 1 to 7 values: a masked block whose mask has CX leading lanes set, so that
	// nothing beyond the row is read or written.
	TESTQ   CX, CX
	JZ      nextrow
	LEAQ    tapMask<>+32(SB), AX
	MOVQ    CX, BX
	SHLQ    $2, BX
	SUBQ    BX, AX
	VMOVUPS (AX), Y10
	VXORPS  Y5, Y5, Y5
	TESTQ   $const_tapAccumulate, tapArgs_flags(DI)
	JNZ     load1
	VMOVAPS Y15, Y0
	JMP     taps1

load1:
	VMASKMOVPS (R9)(SI*1), Y10, Y0

taps1:
	XORQ BX, BX

tap1:
	LEAQ         1(BX), AX
	CMPQ         AX, R11
	JGE          tap1last
	TAPADDR(BX, AX)
	MOVQ         8(R10)(BX*8), R13
	LEAQ         (R8)(R13*4), R13
	VBROADCASTSS (R12)(BX*4), Y4
	VBROADCASTSS 4(R12)(BX*4), Y9
	VMASKMOVPS   (AX)(SI*1), Y10, Y11
	VMASKMOVPS   (R13)(SI*1), Y10, Y12
	VFMADD231PS  Y11, Y4, Y0
	VFMADD231PS  Y12, Y9, Y5
	ADDQ         $2, BX
	JMP          tap1

tap1last:
	CMPQ         BX, R11
	JGE          store1
	TAPADDR(BX, AX)
	VBROADCASTSS (R12)(BX*4), Y4
	VMASKMOVPS   (AX)(SI*1), Y10, Y11
	VFMADD231PS  Y11, Y4, Y0

store1:
	VADDPS     Y5, Y0, Y0
	VMAXPS     Y0, Y14, Y0
	VMINPS     Y0, Y13, Y0
	VMASKMOVPS Y0, Y10, (R9)(SI*1)

nextrow:
	MOVQ tapArgs_dstStride(DI), AX
	LEAQ (R9)(AX*4), R9
	MOVQ tapArgs_srcStride(DI), AX
	LEAQ (R8)(AX*4), R8
	DECQ DX
	JMP  row

done:
	VZEROUPPER
	RET

// func split2AVX2(p *splitArgs)
TEXT ·split2AVX2(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), DI
	MOVQ splitArgs_even(DI), R8
	MOVQ splitArgs_odd(DI), R9
	MOVQ splitArgs_src(DI), SI
	MOVQ splitArgs_rows(DI), DX

splitrow:
	TESTQ DX, DX
	JZ    splitdone
	MOVQ  splitArgs_w(DI), CX
	MOVQ  SI, R10
	MOVQ  R8, R11
	MOVQ  R9, R12

split16:
	CMPQ    CX, $16
	JL      splitpairs
	VMOVUPS (R10), Y0
	VMOVUPS 32(R10), Y1
	VSHUFPS $0x88, Y1, Y0, Y2 // per half: s0 s2 s8 s10 | s4 s6 s12 s14
	VSHUFPS $0xDD, Y1, Y0, Y3 // per half: s1 s3 s9 s11 | s5 s7 s13 s15
	VPERMPD $0xD8, Y2, Y2     // 64-bit pairs in the order 0 2 1 3
	VPERMPD $0xD8, Y3, Y3
	VMOVUPS Y2, (R11)
	VMOVUPS Y3, (R12)
	ADDQ    $64, R10
	ADDQ    $32, R11
	ADDQ    $32, R12
	SUBQ    $16, CX
	JMP     split16

splitpairs:
	CMPQ CX, $2
	JL   splitlast
	MOVL (R10), AX
	MOVL AX, (R11)
	MOVL 4(R10), AX
	MOVL AX, (R12)
	ADDQ $8, R10
	ADDQ $4, R11
	ADDQ $4, R12
	SUBQ $2, CX
	JMP  splitpairs

splitlast:
	TESTQ CX, CX
	JZ    splitnext
	MOVL  (R10), AX
	MOVL  AX, (R11)

splitnext:
	MOVQ splitArgs_w(DI), AX
	LEAQ (SI)(AX*4), SI
	MOVQ splitArgs_dstStride(DI), AX
	LEAQ (R8)(AX*4), R8
	LEAQ (R9)(AX*4), R9
	DECQ DX
	JMP  splitrow

splitdone:
	VZEROUPPER
	RET

// Register use in tapsAVX512 (as in tapsAVX2, with zmm registers and a k-mask for the tail):
//   R9 dst row, R8 src row, DX rows left, CX values left in the row, SI byte offset of the
//   block, R10 offs, R11 number of taps, R12 w, BX tap index, AX and R13 tap sources,
//   Z0..Z3 accumulators of the even taps, Z5..Z8 of the odd taps, Z4 and Z9 broadcast weights,
//   K1 tail mask, Z15 bias, Z14 lower bound, Z13 upper bound.

// func tapsAVX512(p *tapArgs)
TEXT ·tapsAVX512(SB), NOSPLIT, $0-8
	MOVQ         p+0(FP), DI
	MOVQ         tapArgs_dst(DI), R9
	MOVQ         tapArgs_src(DI), R8
	MOVQ         tapArgs_offs(DI), R10
	MOVQ         tapArgs_offs+8(DI), R11
	MOVQ         tapArgs_w(DI), R12
	MOVQ         tapArgs_rows(DI), DX
	VBROADCASTSS tapArgs_bias(DI), Z15
	VBROADCASTSS tapArgs_lo(DI), Z14
	VBROADCASTSS tapArgs_hi(DI), Z13

zrow:
	TESTQ DX, DX
	JZ    zdone
	MOVQ  tapArgs_n(DI), CX
	XORQ  SI, SI

zblock64:
	CMPQ CX, $64
	JL   zblock16
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	TESTQ $const_tapAccumulate, tapArgs_flags(DI)
	JNZ   zload64
	VMOVAPS Z15, Z0
	VMOVAPS Z15, Z1
	VMOVAPS Z15, Z2
	VMOVAPS Z15, Z3
	JMP zt64

zload64:
	VMOVUPS 0(R9)(SI*1), Z0
	VMOVUPS 64(R9)(SI*1), Z1
	VMOVUPS 128(R9)(SI*1), Z2
	VMOVUPS 192(R9)(SI*1), Z3

zt64:
	XORQ BX, BX

ztap64:
	LEAQ         1(BX), AX
	CMPQ         AX, R11
	JGE          ztap64last
	TAPADDR(BX, AX)
	MOVQ         8(R10)(BX*8), R13
	LEAQ         (R8)(R13*4), R13
	VBROADCASTSS (R12)(BX*4), Z4
	VBROADCASTSS 4(R12)(BX*4), Z9
	VFMADD231PS 0(AX)(SI*1), Z4, Z0
	VFMADD231PS 0(R13)(SI*1), Z9, Z5
	VFMADD231PS 64(AX)(SI*1), Z4, Z1
	VFMADD231PS 64(R13)(SI*1), Z9, Z6
	VFMADD231PS 128(AX)(SI*1), Z4, Z2
	VFMADD231PS 128(R13)(SI*1), Z9, Z7
	VFMADD231PS 192(AX)(SI*1), Z4, Z3
	VFMADD231PS 192(R13)(SI*1), Z9, Z8
	ADDQ         $2, BX
	JMP          ztap64

ztap64last:
	CMPQ         BX, R11
	JGE          zstore64
	TAPADDR(BX, AX)
	VBROADCASTSS (R12)(BX*4), Z4
	VFMADD231PS 0(AX)(SI*1), Z4, Z0
	VFMADD231PS 64(AX)(SI*1), Z4, Z1
	VFMADD231PS 128(AX)(SI*1), Z4, Z2
	VFMADD231PS 192(AX)(SI*1), Z4, Z3

zstore64:
	VADDPS Z5, Z0, Z0
	VMAXPS Z0, Z14, Z0
	VMINPS Z0, Z13, Z0
	VMOVUPS Z0, 0(R9)(SI*1)
	VADDPS Z6, Z1, Z1
	VMAXPS Z1, Z14, Z1
	VMINPS Z1, Z13, Z1
	VMOVUPS Z1, 64(R9)(SI*1)
	VADDPS Z7, Z2, Z2
	VMAXPS Z2, Z14, Z2
	VMINPS Z2, Z13, Z2
	VMOVUPS Z2, 128(R9)(SI*1)
	VADDPS Z8, Z3, Z3
	VMAXPS Z3, Z14, Z3
	VMINPS Z3, Z13, Z3
	VMOVUPS Z3, 192(R9)(SI*1)
	ADDQ $256, SI
	SUBQ $64, CX
	JMP zblock64

zblock16:
	CMPQ CX, $16
	JL   zblock1
	VPXORD Z5, Z5, Z5
	TESTQ $const_tapAccumulate, tapArgs_flags(DI)
	JNZ   zload16
	VMOVAPS Z15, Z0
	JMP zt16

zload16:
	VMOVUPS 0(R9)(SI*1), Z0

zt16:
	XORQ BX, BX

ztap16:
	LEAQ         1(BX), AX
	CMPQ         AX, R11
	JGE          ztap16last
	TAPADDR(BX, AX)
	MOVQ         8(R10)(BX*8), R13
	LEAQ         (R8)(R13*4), R13
	VBROADCASTSS (R12)(BX*4), Z4
	VBROADCASTSS 4(R12)(BX*4), Z9
	VFMADD231PS 0(AX)(SI*1), Z4, Z0
	VFMADD231PS 0(R13)(SI*1), Z9, Z5
	ADDQ         $2, BX
	JMP          ztap16

ztap16last:
	CMPQ         BX, R11
	JGE          zstore16
	TAPADDR(BX, AX)
	VBROADCASTSS (R12)(BX*4), Z4
	VFMADD231PS 0(AX)(SI*1), Z4, Z0

zstore16:
	VADDPS Z5, Z0, Z0
	VMAXPS Z0, Z14, Z0
	VMINPS Z0, Z13, Z0
	VMOVUPS Z0, 0(R9)(SI*1)
	ADDQ $64, SI
	SUBQ $16, CX
	JMP zblock16

zblock1:
	// The last 1 to 15 values: a masked block (K1 has CX leading lanes set), so that nothing
	// beyond the row is read or written.
	TESTQ CX, CX
	JZ    znextrow
	MOVQ  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K1
	VPXORD Z5, Z5, Z5
	TESTQ $const_tapAccumulate, tapArgs_flags(DI)
	JNZ   zload1
	VMOVAPS Z15, Z0
	JMP zt1

zload1:
	VMOVUPS.Z 0(R9)(SI*1), K1, Z0

zt1:
	XORQ BX, BX

ztap1:
	LEAQ         1(BX), AX
	CMPQ         AX, R11
	JGE          ztap1last
	TAPADDR(BX, AX)
	MOVQ         8(R10)(BX*8), R13
	LEAQ         (R8)(R13*4), R13
	VBROADCASTSS (R12)(BX*4), Z4
	VBROADCASTSS 4(R12)(BX*4), Z9
	VMOVUPS.Z 0(AX)(SI*1), K1, Z10
	VFMADD231PS Z10, Z4, Z0
	VMOVUPS.Z 0(R13)(SI*1), K1, Z11
	VFMADD231PS Z11, Z9, Z5
	ADDQ         $2, BX
	JMP          ztap1

ztap1last:
	CMPQ         BX, R11
	JGE          zstore1
	TAPADDR(BX, AX)
	VBROADCASTSS (R12)(BX*4), Z4
	VMOVUPS.Z 0(AX)(SI*1), K1, Z10
	VFMADD231PS Z10, Z4, Z0

zstore1:
	VADDPS Z5, Z0, Z0
	VMAXPS Z0, Z14, Z0
	VMINPS Z0, Z13, Z0
	VMOVUPS Z0, K1, 0(R9)(SI*1)

znextrow:
	MOVQ tapArgs_dstStride(DI), AX
	LEAQ (R9)(AX*4), R9
	MOVQ tapArgs_srcStride(DI), AX
	LEAQ (R8)(AX*4), R8
	DECQ DX
	JMP  zrow

zdone:
	VZEROUPPER
	RET

// gatherStride2 is the lane index vector 0, 2, 4, ..., 30 of stride-2 gathers.
DATA gatherStride2<>+0(SB)/8, $0x0000000200000000
DATA gatherStride2<>+8(SB)/8, $0x0000000600000004
DATA gatherStride2<>+16(SB)/8, $0x0000000a00000008
DATA gatherStride2<>+24(SB)/8, $0x0000000e0000000c
DATA gatherStride2<>+32(SB)/8, $0x0000001200000010
DATA gatherStride2<>+40(SB)/8, $0x0000001600000014
DATA gatherStride2<>+48(SB)/8, $0x0000001a00000018
DATA gatherStride2<>+56(SB)/8, $0x0000001e0000001c
GLOBL gatherStride2<>(SB), RODATA|NOPTR, $64

// func packMaskedAVX512(p *maskedPackArgs)
//
// For each of p.kc panel rows: start from zero, merge in one masked 16-lane load per segment
// (table entry r·nseg + s: the offset of lane 0 relative to the channel base, and the lanes that
// segment fills with input values), store the row; then step the tap r, and the channel base
// after the last tap. Masked-off lanes are neither read nor faulted on.
//   DI args, R8 dst, R9 x, R10 byte offset of the channel base, R11 plane in bytes, CX rows left,
//   DX tap r, R12 taps, R13 segments, R14 offs, R15 masks, BX entry index, SI segment counter
TEXT ·packMaskedAVX512(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), DI
	VMOVDQU32 gatherStride2<>(SB), Z20
	MOVQ maskedPackArgs_dst(DI), R8
	MOVQ maskedPackArgs_x(DI), R9
	MOVQ maskedPackArgs_base(DI), R10
	SHLQ $2, R10
	MOVQ maskedPackArgs_plane(DI), R11
	SHLQ $2, R11
	MOVQ maskedPackArgs_kc(DI), CX
	MOVQ maskedPackArgs_r(DI), DX
	MOVQ maskedPackArgs_khw(DI), R12
	MOVQ maskedPackArgs_nseg(DI), R13
	MOVQ maskedPackArgs_offs(DI), R14
	MOVQ maskedPackArgs_masks(DI), R15
	TESTQ CX, CX
	JLE   pmdone

pmrow:
	VPXORD Z0, Z0, Z0
	MOVQ   DX, BX
	IMULQ  R13, BX
	MOVQ   R13, SI

pmseg:
	MOVWLZX (R15)(BX*2), AX
	CMPQ    maskedPackArgs_stride(DI), $2
	JEQ     pmgather
	CMPQ    AX, $0xffff
	JEQ     pmfull
	KMOVW   AX, K1
	MOVLQSX (R14)(BX*4), AX
	SHLQ    $2, AX
	ADDQ    R10, AX
	ADDQ    R9, AX
	VMOVUPS (AX), K1, Z0
	JMP     pmsegnext

pmgather:
	// Stride 2: lane l reads 2l values on; masked-off lanes are neither read nor written.
	KMOVW      AX, K1
	MOVLQSX    (R14)(BX*4), AX
	SHLQ       $2, AX
	ADDQ       R10, AX
	ADDQ       R9, AX
	VGATHERDPS (AX)(Z20*4), K1, Z0

pmsegnext:
	INCQ    BX
	DECQ    SI
	JNE     pmseg
	JMP     pmstore

pmfull:
	// A segment filling all 16 lanes is the row's only one: a plain load.
	MOVLQSX (R14)(BX*4), AX
	SHLQ    $2, AX
	ADDQ    R10, AX
	VMOVUPS (R9)(AX*1), Z0

pmstore:
	VMOVUPS Z0, (R8)
	ADDQ    $64, R8
	INCQ    DX
	CMPQ    DX, R12
	JLT     pmnext
	XORQ    DX, DX
	ADDQ    R11, R10

pmnext:
	DECQ CX
	JNE  pmrow

pmdone:
	VZEROUPPER
	RET

// evensIdx holds the lane numbers 0, 2, ..., 30: the even lanes of two zmm tables.
DATA evensIdx<>+0(SB)/4, $0
DATA evensIdx<>+4(SB)/4, $2
DATA evensIdx<>+8(SB)/4, $4
DATA evensIdx<>+12(SB)/4, $6
DATA evensIdx<>+16(SB)/4, $8
DATA evensIdx<>+20(SB)/4, $10
DATA evensIdx<>+24(SB)/4, $12
DATA evensIdx<>+28(SB)/4, $14
DATA evensIdx<>+32(SB)/4, $16
DATA evensIdx<>+36(SB)/4, $18
DATA evensIdx<>+40(SB)/4, $20
DATA evensIdx<>+44(SB)/4, $22
DATA evensIdx<>+48(SB)/4, $24
DATA evensIdx<>+52(SB)/4, $26
DATA evensIdx<>+56(SB)/4, $28
DATA evensIdx<>+60(SB)/4, $30
GLOBL evensIdx<>(SB), RODATA|NOPTR, $64

// func evens16Asm(a *evensArgs)
//
// Registers: DI dst (advancing 64 bytes per row), SI x, BX offs, CX rows left, AX the row's
// offset; Z2 the permute indices, Z3 zero, K1 the low 15 lanes.
TEXT ·evens16Asm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DX
	MOVQ evensArgs_dst(DX), DI
	MOVQ evensArgs_x(DX), SI
	MOVQ evensArgs_offs(DX), BX
	MOVQ evensArgs_offs+8(DX), CX
	VMOVUPS evensIdx<>(SB), Z2
	VPXORD Z3, Z3, Z3
	MOVL $0x7fff, AX
	KMOVW AX, K1
	TESTQ CX, CX
	JZ evensDone
evensRow:
	MOVQ (BX), AX
	CMPQ AX, $-1
	JEQ evensZeroRow
	JLT evensNext // evensSkip: filled by the caller
	VMOVUPS (SI)(AX*4), Z0
	VMOVUPS.Z 64(SI)(AX*4), K1, Z1
	VPERMT2PS Z1, Z2, Z0
	VMOVUPS Z0, (DI)
	JMP evensNext
evensZeroRow:
	VMOVUPS Z3, (DI)
evensNext:
	ADDQ $64, DI
	ADDQ $8, BX
	DECQ CX
	JNZ evensRow
evensDone:
	VZEROUPPER
	RET

// oddsIdx holds the lane numbers 1, 3, ..., 31: the odd lanes of two zmm tables.
DATA oddsIdx<>+0(SB)/4, $1
DATA oddsIdx<>+4(SB)/4, $3
DATA oddsIdx<>+8(SB)/4, $5
DATA oddsIdx<>+12(SB)/4, $7
DATA oddsIdx<>+16(SB)/4, $9
DATA oddsIdx<>+20(SB)/4, $11
DATA oddsIdx<>+24(SB)/4, $13
DATA oddsIdx<>+28(SB)/4, $15
DATA oddsIdx<>+32(SB)/4, $17
DATA oddsIdx<>+36(SB)/4, $19
DATA oddsIdx<>+40(SB)/4, $21
DATA oddsIdx<>+44(SB)/4, $23
DATA oddsIdx<>+48(SB)/4, $25
DATA oddsIdx<>+52(SB)/4, $27
DATA oddsIdx<>+56(SB)/4, $29
DATA oddsIdx<>+60(SB)/4, $31
GLOBL oddsIdx<>(SB), RODATA|NOPTR, $64

// MAX3NAN sets D = max(A, B, C), NaN where any of them is NaN (VMAXPS alone would return its
// second source), using K1 and K2; Z31 holds NaNs.
#define MAX3NAN(A, B, C, D) \
	VMAXPS B, A, D; \
	VMAXPS C, D, D; \
	VCMPPS $3, B, A, K1; \
	VCMPPS $3, C, C, K2; \
	KORW K2, K1, K1; \
	VMOVAPS Z31, K1, D

// COLMAX sets D to the maxima of the three rows' 16 values at byte offset off.
#define COLMAX(off, D) \
	VMOVUPS off(SI), Z0; \
	VMOVUPS off(R8), Z1; \
	VMOVUPS off(R9), Z2; \
	MAX3NAN(Z0, Z1, Z2, D)

// COLMAXMASKED is COLMAX loading only the lanes of K3 (the others are zero).
#define COLMAXMASKED(off, D) \
	VMOVUPS.Z off(SI), K3, Z0; \
	VMOVUPS.Z off(R8), K3, Z1; \
	VMOVUPS.Z off(R9), K3, Z2; \
	MAX3NAN(Z0, Z1, Z2, D)

// POOLSLIDE sets Z17 to the 16 outputs of a block from the column maxima Z10, Z11 of its
// columns 0-31 and Z12 of columns 32-47: the even columns 0, 2, ..., 30 (Z14), the odd ones
// (Z15), and the even ones one on, 2, ..., 32 (Z16, Z14 shifted by a lane with column 32 in).
#define POOLSLIDE \
	VMOVAPS Z10, Z14; \
	VPERMT2PS Z11, Z28, Z14; \
	VMOVAPS Z10, Z15; \
	VPERMT2PS Z11, Z29, Z15; \
	VALIGND $1, Z14, Z12, Z16; \
	MAX3NAN(Z14, Z15, Z16, Z17)

// LANEMASK sets K3 to the lowest min(max(BX, 0), 16) lanes, using AX.
#define LANEMASK \
	XORQ AX, AX; \
	TESTQ BX, BX; \
	JLE 4(PC); \
	CMPQ BX, $16; \
	CMOVQGT R10, BX; \
	BZHIQ BX, R11, AX; \
	KMOVW AX, K3


// MAX2NAN sets D = max(A, B), NaN where either is NaN (VMAXPS alone would return its second
// source), using K1; Z31 holds NaNs.
#define MAX2NAN(A, B, D) \
	VMAXPS B, A, D; \
	VCMPPS $3, B, A, K1; \
	VMOVAPS Z31, K1, D

// POOL2 sets Z8 to the 16 outputs of the block at SI (row 2r) and R8 (row 2r+1) from the four
// loads Z0, Z1 (row 2r, columns 0-15, 16-31) and Z2, Z3 (row 2r+1).
#define POOL2 \
	MAX2NAN(Z0, Z2, Z4); \
	MAX2NAN(Z1, Z3, Z5); \
	VMOVAPS Z4, Z6; \
	VPERMT2PS Z5, Z28, Z6; \
	VMOVAPS Z4, Z7; \
	VPERMT2PS Z5, Z29, Z7; \
	MAX2NAN(Z6, Z7, Z8)

// AVG2 sets Z8 to the 16 averages of the block from the same loads: the two rows' sums, then
// the sums of their even and odd columns, times 0.25 (Z30).
#define AVG2 \
	VADDPS Z2, Z0, Z4; \
	VADDPS Z3, Z1, Z5; \
	VMOVAPS Z4, Z6; \
	VPERMT2PS Z5, Z28, Z6; \
	VMOVAPS Z4, Z7; \
	VPERMT2PS Z5, Z29, Z7; \
	VADDPS Z7, Z6, Z8; \
	VMULPS Z30, Z8, Z8

// func pool2s2Kernel(a *pool2s2Args)
//
// Registers: SI, R8 the block's two input rows, DI its outputs, CX outputs left in the row, BX
// rows left, R12 the input row stride in bytes, R13 the next pair of input rows, R14 the next
// output row, R15 the average flag (AVG2 instead of POOL2); Z28, Z29 the even and odd lane
// indices, Z30 0.25, Z31 NaN; K3 the valid input lanes of a tail half, K4 its outputs.
TEXT ·pool2s2Kernel(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DX
	MOVQ pool2s2Args_x(DX), R13
	MOVQ pool2s2Args_y(DX), R14
	MOVQ pool2s2Args_w(DX), R12
	SHLQ $2, R12
	MOVQ pool2s2Args_rows(DX), BX
	MOVQ pool2s2Args_ow(DX), R9
	VMOVUPS evensIdx<>(SB), Z28
	VMOVUPS oddsIdx<>(SB), Z29
	MOVL $0x7fc00000, AX
	VPBROADCASTD AX, Z31
	MOVL $0x3e800000, AX
	VPBROADCASTD AX, Z30
	MOVBQZX pool2s2Args_average(DX), R15
	MOVQ $-1, R11

pool2Row:
	MOVQ R13, SI
	LEAQ (R13)(R12*1), R8
	MOVQ R14, DI
	MOVQ R9, CX

pool2Block:
	CMPQ CX, $16
	JLT  pool2Tail
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS (R8), Z2
	VMOVUPS 64(R8), Z3
	TESTQ R15, R15
	JNZ pool2BlockAvg
	POOL2
	JMP pool2BlockStore

pool2BlockAvg:
	AVG2

pool2BlockStore:
	VMOVUPS Z8, (DI)
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  pool2Block

pool2Tail:
	TESTQ CX, CX
	JLE   pool2Next
	// 2·CX input columns: the first half takes min(2·CX, 16), the second the rest.
	LEAQ (CX)(CX*1), DX
	MOVQ $16, AX
	CMPQ DX, AX
	CMOVQLT DX, AX
	BZHIQ AX, R11, R10
	KMOVW R10, K3
	VMOVUPS.Z (SI), K3, Z0
	VMOVUPS.Z (R8), K3, Z2
	SUBQ AX, DX
	BZHIQ DX, R11, R10
	KMOVW R10, K3
	VMOVUPS.Z 64(SI), K3, Z1
	VMOVUPS.Z 64(R8), K3, Z3
	TESTQ R15, R15
	JNZ pool2TailAvg
	POOL2
	JMP pool2TailStore

pool2TailAvg:
	AVG2

pool2TailStore:
	BZHIQ CX, R11, R10
	KMOVW R10, K4
	VMOVUPS Z8, K4, (DI)

pool2Next:
	LEAQ (R13)(R12*2), R13
	LEAQ (R14)(R9*4), R14
	DECQ BX
	JNZ  pool2Row
	VZEROUPPER
	RET

// func packPhasedAsm(a *phasedArgs)
//
// Per row kk: Z0 = the zero-masked load of 16 values at x + 4·(offs[kk] + seg[s]) under mask s,
// ORed (VPORD: AVX512F) over the segments, stored to dst. One loop per segment count, so the segment bases
// and masks stay in registers.
//   R8 dst (advancing 64 bytes per row), SI offs (advancing 8), CX rows left,
//   R10..R13 x + 4·seg[s], K1..K4 masks[s], AX the row's offset
TEXT ·packPhasedAsm(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ phasedArgs_dst(DI), R8
	MOVQ phasedArgs_x(DI), R9
	MOVQ phasedArgs_offs(DI), SI
	MOVQ phasedArgs_offs+8(DI), CX
	MOVQ phasedArgs_seg+0(DI), R10
	LEAQ (R9)(R10*4), R10
	MOVQ phasedArgs_seg+8(DI), R11
	LEAQ (R9)(R11*4), R11
	MOVQ phasedArgs_seg+16(DI), R12
	LEAQ (R9)(R12*4), R12
	MOVQ phasedArgs_seg+24(DI), R13
	LEAQ (R9)(R13*4), R13
	MOVWLZX phasedArgs_masks+0(DI), AX
	KMOVW   AX, K1
	MOVWLZX phasedArgs_masks+2(DI), AX
	KMOVW   AX, K2
	MOVWLZX phasedArgs_masks+4(DI), AX
	KMOVW   AX, K3
	MOVWLZX phasedArgs_masks+6(DI), AX
	KMOVW   AX, K4
	MOVQ    phasedArgs_nseg(DI), DX
	TESTQ   CX, CX
	JLE     ppdone
	CMPQ    DX, $2
	JLT     pp1
	JEQ     pp2
	CMPQ    DX, $3
	JEQ     pp3

pp4:
	MOVQ      (SI), AX
	VMOVUPS.Z (R10)(AX*4), K1, Z0
	VMOVUPS.Z (R11)(AX*4), K2, Z1
	VMOVUPS.Z (R12)(AX*4), K3, Z2
	VMOVUPS.Z (R13)(AX*4), K4, Z3
	VPORD     Z1, Z0, Z0
	VPORD     Z3, Z2, Z2
	VPORD     Z2, Z0, Z0
	VMOVUPS   Z0, (R8)
	ADDQ      $8, SI
	ADDQ      $64, R8
	DECQ      CX
	JNE       pp4
	JMP       ppdone

pp3:
	MOVQ      (SI), AX
	VMOVUPS.Z (R10)(AX*4), K1, Z0
	VMOVUPS.Z (R11)(AX*4), K2, Z1
	VMOVUPS.Z (R12)(AX*4), K3, Z2
	VPORD     Z1, Z0, Z0
	VPORD     Z2, Z0, Z0
	VMOVUPS   Z0, (R8)
	ADDQ      $8, SI
	ADDQ      $64, R8
	DECQ      CX
	JNE       pp3
	JMP       ppdone

pp2:
	MOVQ      (SI), AX
	VMOVUPS.Z (R10)(AX*4), K1, Z0
	VMOVUPS.Z (R11)(AX*4), K2, Z1
	VPORD     Z1, Z0, Z0
	VMOVUPS   Z0, (R8)
	ADDQ      $8, SI
	ADDQ      $64, R8
	DECQ      CX
	JNE       pp2
	JMP       ppdone

pp1:
	MOVQ      (SI), AX
	VMOVUPS.Z (R10)(AX*4), K1, Z0
	VMOVUPS   Z0, (R8)
	ADDQ      $8, SI
	ADDQ      $64, R8
	DECQ      CX
	JNE       pp1

ppdone:
	VZEROUPPER
	RET


// func split2AVX512(p *splitArgs)
//
// Per row, blocks of 32 values: two loads, one two-table permute for the evens and one for the
// odds, two stores; the last 1 to 31 values the same under masks worked out once (every row
// has the same width). Registers: SI src row, R8 even row, R9 odd row, DX rows left, R13 w,
// R14 dstStride, R10/R11/BX the block pointers, CX values left; Z2/Z3 the even/odd indices,
// K1/K2 the tail's load masks, K3/K4 its even/odd store masks.
TEXT ·split2AVX512(SB), NOSPLIT, $0-8
	MOVQ      p+0(FP), DI
	MOVQ      splitArgs_even(DI), R8
	MOVQ      splitArgs_odd(DI), R9
	MOVQ      splitArgs_src(DI), SI
	MOVQ      splitArgs_rows(DI), DX
	MOVQ      splitArgs_w(DI), R13
	MOVQ      splitArgs_dstStride(DI), R14
	VMOVDQU32 evensIdx<>(SB), Z2
	VMOVDQU32 oddsIdx<>(SB), Z3
	MOVQ      R13, AX
	ANDQ      $31, AX        // tail length n
	MOVL      $-1, BX
	BZHIL     AX, BX, CX     // low min(n, 16) lanes of the first vector
	KMOVW     CX, K1
	MOVQ      AX, R15
	SUBQ      $16, R15
	XORQ      R12, R12
	CMPQ      R15, $0
	CMOVQLT   R12, R15       // max(n-16, 0) lanes of the second
	BZHIL     R15, BX, CX
	KMOVW     CX, K2
	LEAQ      1(AX), R15
	SHRQ      $1, R15        // (n+1)/2 evens
	BZHIL     R15, BX, CX
	KMOVW     CX, K3
	MOVQ      AX, R15
	SHRQ      $1, R15        // n/2 odds
	BZHIL     R15, BX, CX
	KMOVW     CX, K4

s5row:
	TESTQ DX, DX
	JZ    s5done
	MOVQ  R13, CX
	MOVQ  SI, R10
	MOVQ  R8, R11
	MOVQ  R9, BX

s5blk:
	CMPQ      CX, $32
	JLT       s5tail
	VMOVUPS   (R10), Z0
	VMOVUPS   64(R10), Z1
	VMOVAPS   Z0, Z4
	VPERMT2PS Z1, Z2, Z4
	VPERMT2PS Z1, Z3, Z0
	VMOVUPS   Z4, (R11)
	VMOVUPS   Z0, (BX)
	ADDQ      $128, R10
	ADDQ      $64, R11
	ADDQ      $64, BX
	SUBQ      $32, CX
	JMP       s5blk

s5tail:
	TESTQ     CX, CX
	JZ        s5next
	VMOVUPS.Z (R10), K1, Z0
	VMOVUPS.Z 64(R10), K2, Z1
	VMOVAPS   Z0, Z4
	VPERMT2PS Z1, Z2, Z4
	VPERMT2PS Z1, Z3, Z0
	VMOVUPS   Z4, K3, (R11)
	VMOVUPS   Z0, K4, (BX)

s5next:
	LEAQ (SI)(R13*4), SI
	LEAQ (R8)(R14*4), R8
	LEAQ (R9)(R14*4), R9
	DECQ DX
	JMP  s5row

s5done:
	VZEROUPPER
	RET

// A3LOAD(r) loads the left, centre and right values of the row at r under the block's masks
// K1..K3 into Z3..Z5 (zeros elsewhere), and A3ZERO stands in for a row outside the plane
// (avg3x3Kernel).
#define A3LOAD(r) \
	VMOVUPS.Z -4(r)(BX*1), K1, Z3; \
	VMOVUPS.Z (r)(BX*1), K2, Z4; \
	VMOVUPS.Z 4(r)(BX*1), K3, Z5

// A3ARGS loads the pool3x3Args at R13 into the registers of avg3x3Kernel and max3x3Kernel.
#define A3ARGS \
	MOVQ pool3x3Args_y(R13), DI; \
	MOVQ pool3x3Args_x(R13), SI; \
	MOVQ pool3x3Args_planes(R13), CX; \
	MOVQ pool3x3Args_h(R13), R8; \
	MOVQ pool3x3Args_w(R13), R11; \
	SHLQ $2, R11; \
	MOVQ pool3x3Args_masks(R13), R9; \
	MOVQ pool3x3Args_masks+8(R13), R10

#define A3ZERO \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5

// func avg3x3Kernel(a *pool3x3Args)
//
// Per plane, per row i, per block of 16 columns: for each of the left, centre and right
// shifts, the column sums (above + centre) + below under the block's masks (zeros for a row
// outside the plane: R14, R15 nil), then (left + centre) + right and one division by the
// row's divisors. Registers: R13 args, SI centre row, DI output row, R14/R15 rows above/below,
// R12 divisors, R8 h, R11 row bytes, R9 masks, R10 3·blocks, AX mask index, BX byte offset of
// the block, DX row i, CX planes left.
TEXT ·avg3x3Kernel(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R13
	A3ARGS
	TESTQ CX, CX
	JLE  a3done

a3plane:
	XORQ DX, DX

a3row:
	XORQ R14, R14
	TESTQ DX, DX
	JZ   a3up
	MOVQ SI, R14
	SUBQ R11, R14

a3up:
	XORQ R15, R15
	LEAQ 1(DX), AX
	CMPQ AX, R8
	JGE  a3down
	LEAQ (SI)(R11*1), R15

a3down:
	// The first and last rows (no row above or below) divide by divEdge, the others by divMid.
	MOVQ  pool3x3Args_divMid(R13), R12
	TESTQ R14, R14
	JZ    a3edge
	TESTQ R15, R15
	JNZ   a3divided

a3edge:
	MOVQ pool3x3Args_divEdge(R13), R12

a3divided:
	XORQ AX, AX
	XORQ BX, BX

a3blk:
	KMOVW     (R9)(AX*2), K1
	KMOVW     2(R9)(AX*2), K2
	KMOVW     4(R9)(AX*2), K3
	VMOVUPS.Z -4(SI)(BX*1), K1, Z0
	VMOVUPS.Z (SI)(BX*1), K2, Z1
	VMOVUPS.Z 4(SI)(BX*1), K3, Z2
	TESTQ     R14, R14
	JZ        a3noup
	A3LOAD(R14)
	JMP       a3sumup

a3noup:
	A3ZERO

a3sumup:
	VADDPS    Z0, Z3, Z0
	VADDPS    Z1, Z4, Z1
	VADDPS    Z2, Z5, Z2
	TESTQ     R15, R15
	JZ        a3nodown
	A3LOAD(R15)
	JMP       a3sumdown

a3nodown:
	A3ZERO

a3sumdown:
	VADDPS    Z3, Z0, Z0
	VADDPS    Z4, Z1, Z1
	VADDPS    Z5, Z2, Z2
	VADDPS    Z1, Z0, Z0
	VADDPS    Z2, Z0, Z0
	VMOVUPS.Z (R12)(BX*1), K2, Z1
	VDIVPS.Z  Z1, Z0, K2, Z0
	VMOVUPS   Z0, K2, (DI)(BX*1)
	ADDQ      $64, BX
	ADDQ      $3, AX
	CMPQ      AX, R10
	JLT       a3blk
	ADDQ      R11, SI
	ADDQ      R11, DI
	INCQ      DX
	CMPQ      DX, R8
	JLT       a3row
	DECQ      CX
	JNZ       a3plane

a3done:
	VZEROUPPER
	RET

// func pool3s2RectKernel(a *pool3s2RectArgs)
//
// Per output row of a rectangle of rows in a run of planes: the three input rows start at
// x + 4·xoff (xoff advancing 2·xRow per row, and to the next plane's first row after the last),
// the outputs at y + 4·yoff; R15 args, R12 xoff, R13 yoff (bytes), R14 rows left in the plane,
// X7 planes left. Within a row, SI, R8, R9 are the three rows (32 values per block), DI y (16
// per block), CX outputs left; Z10, Z11, Z12 the column maxima of the block's columns 0-15,
// 16-31 and 32-47, the last carried over as the next block's Z10, so that each input column is
// loaded once; Z14, Z15, Z16 the columns 0, 2, ..., 30, then 1, 3, ..., 31, then 2, 4, ..., 32
// (POOLSLIDE); Z28 and Z29 the even and odd lane indices, Z31 NaN. Column loads take only the
// columns up to 2n (LANEMASK into K3, the others zero), so nothing past a row's last window is
// read; the last n mod 16 outputs are stored under K4.
TEXT ·pool3s2RectKernel(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R15
	VMOVUPS evensIdx<>(SB), Z28
	VMOVUPS oddsIdx<>(SB), Z29
	MOVL $0x7fc00000, AX
	VPBROADCASTD AX, Z31
	MOVQ $16, R10
	MOVQ $-1, R11
	MOVQ pool3s2RectArgs_planes(R15), AX
	TESTQ AX, AX
	JLE  prDone
	MOVQ AX, X7
	MOVQ pool3s2RectArgs_rows(R15), R14
	TESTQ R14, R14
	JLE  prDone
	XORQ R12, R12
	XORQ R13, R13

prRow:
	MOVQ pool3s2RectArgs_x(R15), SI
	ADDQ R12, SI
	MOVQ pool3s2RectArgs_xRow(R15), AX
	LEAQ (SI)(AX*4), R8
	LEAQ (R8)(AX*4), R9
	MOVQ pool3s2RectArgs_y(R15), DI
	ADDQ R13, DI
	MOVQ pool3s2RectArgs_n(R15), CX

	// Z10: the column maxima of columns 0-15 (those up to 2n).
	LEAQ 1(CX)(CX*1), BX
	LANEMASK
	COLMAXMASKED(0, Z10)

prBlock:
	CMPQ CX, $16
	JLT prTail
	// Z12: columns 32-47, those up to 2n of what the next block reads (its Z10).
	LEAQ -31(CX)(CX*1), BX
	LANEMASK
	COLMAXMASKED(128, Z12)
	COLMAX(64, Z11)
	POOLSLIDE
	VMOVUPS Z17, (DI)
	VMOVAPS Z12, Z10
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, R9
	ADDQ $64, DI
	SUBQ $16, CX
	JMP prBlock

prTail:
	TESTQ CX, CX
	JLE prNext
	// Columns 16 to 2n; the last output lane, which would read column 32, is not stored.
	LEAQ -15(CX)(CX*1), BX
	LANEMASK
	COLMAXMASKED(64, Z11)
	VXORPS Z12, Z12, Z12
	POOLSLIDE
	BZHIQ CX, R11, AX
	KMOVW AX, K4
	VMOVUPS Z17, K4, (DI)

prNext:
	// Next row: 2·xRow input values on, yRow outputs on.
	MOVQ pool3s2RectArgs_xRow(R15), AX
	LEAQ (R12)(AX*8), R12
	MOVQ pool3s2RectArgs_yRow(R15), AX
	LEAQ (R13)(AX*4), R13
	DECQ R14
	JNZ  prRow
	// Next plane: from the first row of this one, xPlane and yPlane on.
	MOVQ pool3s2RectArgs_rows(R15), R14
	MOVQ pool3s2RectArgs_xRow(R15), AX
	IMULQ R14, AX
	SHLQ $3, AX
	SUBQ AX, R12
	MOVQ pool3s2RectArgs_xPlane(R15), AX
	LEAQ (R12)(AX*4), R12
	MOVQ pool3s2RectArgs_yRow(R15), AX
	IMULQ R14, AX
	SHLQ $2, AX
	SUBQ AX, R13
	MOVQ pool3s2RectArgs_yPlane(R15), AX
	LEAQ (R13)(AX*4), R13
	MOVQ X7, AX
	DECQ AX
	MOVQ AX, X7
	JNZ  prRow

prDone:
	VZEROUPPER
	RET

// M3ROW folds the row at r (left, centre and right loads under K1..K3, merged into −Inf) into
// the maxima Z8 and the NaN lanes K4 of max3x3Kernel.
#define M3ROW(r) \
	VMOVAPS Z30, Z0; \
	VMOVUPS -4(r)(BX*1), K1, Z0; \
	VMOVAPS Z30, Z1; \
	VMOVUPS (r)(BX*1), K2, Z1; \
	VMOVAPS Z30, Z2; \
	VMOVUPS 4(r)(BX*1), K3, Z2; \
	VMAXPS  Z0, Z8, Z8; \
	VMAXPS  Z1, Z8, Z8; \
	VMAXPS  Z2, Z8, Z8; \
	VCMPPS  $3, Z0, Z0, K5; \
	KORW    K5, K4, K4; \
	VCMPPS  $3, Z1, Z1, K5; \
	KORW    K5, K4, K4; \
	VCMPPS  $3, Z2, Z2, K5; \
	KORW    K5, K4, K4

// func max3x3Kernel(a *pool3x3Args)
//
// The 3×3, unit-stride max pool over the planes of pool3x3Args (no divisors): per block
// of 16 outputs, the left, centre and right loads of each row inside the plane merged into
// −Inf under the block's masks, their maxima, and NaN wherever any loaded value is NaN.
// Registers as in avg3x3Kernel; Z8 the maxima, K4 the lanes that saw a NaN, K5 scratch,
// Z30 −Inf, Z31 NaN.
TEXT ·max3x3Kernel(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R13
	A3ARGS
	MOVL $0xff800000, AX
	VPBROADCASTD AX, Z30
	MOVL $0x7fc00000, AX
	VPBROADCASTD AX, Z31
	TESTQ CX, CX
	JLE  m3done

m3plane:
	XORQ DX, DX

m3row:
	XORQ R14, R14
	TESTQ DX, DX
	JZ   m3up
	MOVQ SI, R14
	SUBQ R11, R14

m3up:
	XORQ R15, R15
	LEAQ 1(DX), AX
	CMPQ AX, R8
	JGE  m3down
	LEAQ (SI)(R11*1), R15

m3down:
	XORQ AX, AX
	XORQ BX, BX

m3blk:
	KMOVW   (R9)(AX*2), K1
	KMOVW   2(R9)(AX*2), K2
	KMOVW   4(R9)(AX*2), K3
	VMOVAPS Z30, Z0
	VMOVUPS -4(SI)(BX*1), K1, Z0
	VMOVAPS Z30, Z1
	VMOVUPS (SI)(BX*1), K2, Z1
	VMOVAPS Z30, Z2
	VMOVUPS 4(SI)(BX*1), K3, Z2
	VMAXPS  Z1, Z0, Z8
	VMAXPS  Z2, Z8, Z8
	VCMPPS  $3, Z0, Z0, K4
	VCMPPS  $3, Z1, Z1, K5
	KORW    K5, K4, K4
	VCMPPS  $3, Z2, Z2, K5
	KORW    K5, K4, K4
	TESTQ   R14, R14
	JZ      m3noup
	M3ROW(R14)

m3noup:
	TESTQ   R15, R15
	JZ      m3nodown
	M3ROW(R15)

m3nodown:
	VMOVAPS Z31, K4, Z8
	VMOVUPS Z8, K2, (DI)(BX*1)
	ADDQ    $64, BX
	ADDQ    $3, AX
	CMPQ    AX, R10
	JLT     m3blk
	ADDQ    R11, SI
	ADDQ    R11, DI
	INCQ    DX
	CMPQ    DX, R8
	JLT     m3row
	DECQ    CX
	JNZ     m3plane

m3done:
	VZEROUPPER
	RET

// DWMASKS sets K1 and K2 to the input columns of the block left in its row, 2·ow0 to 2·ow0+15
// and 2·ow0+16 to 2·ow0+31 of the inW (those at or past inW load as zeros), from CX outputs
// left and X5 = inW − 2·outW; uses AX and BX (LANEMASK, with R10 = 16, R11 = −1).
#define DWMASKS \
	MOVQ X5, BX; \
	LEAQ (BX)(CX*2), BX; \
	LANEMASK; \
	KMOVW K3, K1; \
	MOVQ X5, BX; \
	LEAQ -16(BX)(CX*2), BX; \
	LANEMASK; \
	KMOVW K3, K2

// DWSPLIT loads the block's input columns 2·ow0 to 2·ow0+31 of the row at r under K1 and K2
// (zeros past the row) and splits them into the even columns Z2 and the odd ones Z3 (Z18 and
// Z19 the permutations), using Z0 and Z1.
#define DWSPLIT(r) \
	VMOVUPS.Z (r), K1, Z0; \
	VMOVUPS.Z 64(r), K2, Z1; \
	VMOVAPS Z0, Z2; \
	VPERMT2PS Z1, Z18, Z2; \
	VMOVAPS Z0, Z3; \
	VPERMT2PS Z1, Z19, Z3

// DWROW loads the block's columns of the input row at r, splits them into the even columns E
// (2·ow) and the odd ones O (2·ow + 1), the odd ones a lane on (2·ow − 1, lane 0 from the carry
// P, the previous block's O), keeps O in P, and adds their products by the row's weights
// wl, wc, wr to the accumulator A (first = VMULPS: A starts from the first product).
#define DWROW(r, P, wl, wc, wr, A) \
	DWSPLIT(r); \
	VALIGND $15, P, Z3, Z4; \
	VMOVAPS Z3, P; \
	VFMADD231PS wl, Z4, A; \
	VFMADD231PS wc, Z2, A; \
	VFMADD231PS wr, Z3, A

// DWROWAT sets r to input row AX of the plane at R12, or to the zero row when that row lies
// outside the plane; uses BX.
#define DWROWAT(r) \
	MOVQ dwPlaneArgs_zero(R15), r; \
	MOVQ AX, BX; \
	IMULQ dwPlaneArgs_inW(R15), BX; \
	LEAQ (R12)(BX*4), BX; \
	CMPQ AX, dwPlaneArgs_inH(R15); \
	CMOVQCS BX, r

// DWROWPTR sets r to input row 2·oh + d of the plane (oh in X6; see DWROWAT); uses AX and BX.
#define DWROWPTR(d, r) \
	MOVQ X6, AX; \
	LEAQ d(AX)(AX*1), AX; \
	DWROWAT(r)

// DWSTART begins a plane kernel: R15 the arguments, Z30 lo, Z31 hi, R11 −1, X7 the planes, R12
// the input, DI the output, R14 the weights, DX the biases; it jumps to done when there is
// nothing to compute. Uses AX.
#define DWSTART(done) \
	MOVQ a+0(FP), R15; \
	VBROADCASTSS dwPlaneArgs_lo(R15), Z30; \
	VBROADCASTSS dwPlaneArgs_hi(R15), Z31; \
	MOVQ $-1, R11; \
	MOVQ dwPlaneArgs_planes(R15), AX; \
	TESTQ AX, AX; \
	JLE done; \
	MOVQ AX, X7; \
	MOVQ dwPlaneArgs_outH(R15), AX; \
	TESTQ AX, AX; \
	JLE done; \
	MOVQ dwPlaneArgs_outW(R15), AX; \
	TESTQ AX, AX; \
	JLE done; \
	MOVQ dwPlaneArgs_x(R15), R12; \
	MOVQ dwPlaneArgs_y(R15), DI; \
	MOVQ dwPlaneArgs_w(R15), R14; \
	MOVQ dwPlaneArgs_bias(R15), DX

// DWFIRSTROW sets X6, the output row, to row0; uses AX.
#define DWFIRSTROW \
	MOVQ dwPlaneArgs_row0(R15), AX; \
	MOVQ AX, X6

// DWTAIL stores the lanes of Z that are left in the row (CX of them) under the mask K and
// moves DI past them; uses AX.
#define DWTAIL(Z, K) \
	BZHIQ CX, R11, AX; \
	KMOVW AX, K; \
	VMOVUPS Z, K, (DI); \
	LEAQ (DI)(CX*4), DI

// DWNEXT goes on to the next output row (jumping to row) or, after the last, to the next plane
// (jumping to plane): DI from the end of the plane's rows to the next plane's first (yPlane on
// from the first), R12 a plane on, R14 past wbytes of weights, DX past one bias. Uses AX.
#define DWNEXT(row, plane, wbytes) \
	MOVQ X6, AX; \
	INCQ AX; \
	MOVQ AX, X6; \
	SUBQ dwPlaneArgs_row0(R15), AX; \
	CMPQ AX, dwPlaneArgs_outH(R15); \
	JLT row; \
	MOVQ dwPlaneArgs_outH(R15), AX; \
	IMULQ dwPlaneArgs_outW(R15), AX; \
	NEGQ AX; \
	ADDQ dwPlaneArgs_yPlane(R15), AX; \
	LEAQ (DI)(AX*4), DI; \
	MOVQ dwPlaneArgs_inH(R15), AX; \
	IMULQ dwPlaneArgs_inW(R15), AX; \
	LEAQ (R12)(AX*4), R12; \
	ADDQ $wbytes, R14; \
	ADDQ $4, DX; \
	MOVQ X7, AX; \
	DECQ AX; \
	MOVQ AX, X7; \
	JNZ plane

// DW3PLANE begins a plane of a 3×3 kernel: its nine weights into Z20..Z28, its bias into Z29,
// X6 to the first output row.
#define DW3PLANE \
	VBROADCASTSS 0(R14), Z20; \
	VBROADCASTSS 4(R14), Z21; \
	VBROADCASTSS 8(R14), Z22; \
	VBROADCASTSS 12(R14), Z23; \
	VBROADCASTSS 16(R14), Z24; \
	VBROADCASTSS 20(R14), Z25; \
	VBROADCASTSS 24(R14), Z26; \
	VBROADCASTSS 28(R14), Z27; \
	VBROADCASTSS 32(R14), Z28; \
	VBROADCASTSS (DX), Z29; \
	DWFIRSTROW

// func dw3s2Kernel(a *dwPlaneArgs)
//
// Registers: R15 the arguments, R12 the current input plane, R14 its nine weights, DX its bias;
// X7 planes left, X6 the output row (from row0), X5 inW − 2·outW; SI, R8, R9 the block's three
// input rows, DI its outputs, CX outputs left in the row; Z20..Z28 the weights,
// Z29 the bias, Z30 lo, Z31 hi, Z18 and Z19 the even and odd permutations, Z13..Z15 the rows'
// carried odd columns, Z8..Z10 the rows' sums.
TEXT ·dw3s2Kernel(SB), NOSPLIT, $0-8
	DWSTART(dsDone)
	VMOVUPS evensIdx<>(SB), Z18
	VMOVUPS oddsIdx<>(SB), Z19
	MOVQ $16, R10
	MOVQ dwPlaneArgs_inW(R15), AX
	MOVQ dwPlaneArgs_outW(R15), BX
	SHLQ $1, BX
	SUBQ BX, AX
	MOVQ AX, X5

dsPlane:
	DW3PLANE

dsRow:
	DWROWPTR(-1, SI)
	DWROWPTR(0, R8)
	DWROWPTR(1, R9)
	MOVQ dwPlaneArgs_outW(R15), CX
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15

dsBlock:
	DWMASKS
	VMOVAPS Z29, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	DWROW(SI, Z13, Z20, Z21, Z22, Z8)
	DWROW(R8, Z14, Z23, Z24, Z25, Z9)
	DWROW(R9, Z15, Z26, Z27, Z28, Z10)
	VADDPS Z9, Z8, Z8
	VADDPS Z10, Z8, Z8
	VMAXPS Z8, Z30, Z8
	VMINPS Z8, Z31, Z8
	CMPQ CX, $16
	JLT dsTail
	VMOVUPS Z8, (DI)
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, R9
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ dsBlock
	JMP dsNextRow

dsTail:
	DWTAIL(Z8, K4)

dsNextRow:
	DWNEXT(dsRow, dsPlane, 36)

dsDone:
	VZEROUPPER
	RET

// LANESK sets the mask k to the lowest min(max(BX, 0), 16) lanes, using AX (R11 = −1).
#define LANESK(k) \
	XORQ AX, AX; \
	TESTQ BX, BX; \
	JLE 5(PC); \
	CMPQ BX, $16; \
	JLE 2(PC); \
	MOVQ $16, BX; \
	BZHIQ BX, R11, AX; \
	KMOVW AX, k

// DW5MASKS sets K1, K2 and K5 to the input columns left of the block's 2·ow0 to 2·ow0+15,
// 2·ow0+16 to 2·ow0+31 and 2·ow0+32 to 2·ow0+47 (from CX outputs left and X5 = inW − 2·outW).
#define DW5MASKS \
	MOVQ X5, BX; \
	LEAQ (BX)(CX*2), BX; \
	LANESK(K1); \
	MOVQ X5, BX; \
	LEAQ -16(BX)(CX*2), BX; \
	LANESK(K2); \
	MOVQ X5, BX; \
	LEAQ -32(BX)(CX*2), BX; \
	LANESK(K5)

// DW5ROW adds the five taps of the input row at r to the accumulator A, with the row's weights
// at off(R14): the block's even columns E (2·ow) and odd ones O (2·ow + 1), both a lane back
// (2·ow − 2 and 2·ow − 1, lane 0 from the previous block's E and O carried in PE and PO) and
// E a lane on (2·ow + 2, lane 15 from the third load's first column). Temporaries Z0..Z4 and
// Z10..Z12 (X5..X7 hold the kernel's counters).
#define DW5ROW(r, PO, PE, off, A) \
	DWSPLIT(r); \
	VMOVUPS.Z 128(r), K5, Z10; \
	VALIGND $15, PO, Z3, Z4; \
	VALIGND $15, PE, Z2, Z11; \
	VALIGND $1, Z2, Z10, Z12; \
	VMOVAPS Z3, PO; \
	VMOVAPS Z2, PE; \
	VFMADD231PS.BCST off(R14), Z11, A; \
	VFMADD231PS.BCST off+4(R14), Z4, A; \
	VFMADD231PS.BCST off+8(R14), Z2, A; \
	VFMADD231PS.BCST off+12(R14), Z3, A; \
	VFMADD231PS.BCST off+16(R14), Z12, A

// func dw5s2Kernel(a *dwPlaneArgs)
//
// Registers as in dw3s2Kernel, except: SI, R8, R9, R10, R13 the block's five input rows, the
// weights read from R14 by the multiply-adds, Z17 the bias,
// Z20..Z24 and Z25..Z29 the rows' carried odd and even columns, Z8 and Z9 two sums.
TEXT ·dw5s2Kernel(SB), NOSPLIT, $0-8
	DWSTART(d5Done)
	VMOVUPS evensIdx<>(SB), Z18
	VMOVUPS oddsIdx<>(SB), Z19
	MOVQ dwPlaneArgs_inW(R15), AX
	MOVQ dwPlaneArgs_outW(R15), BX
	SHLQ $1, BX
	SUBQ BX, AX
	MOVQ AX, X5

d5Plane:
	VBROADCASTSS (DX), Z17
	DWFIRSTROW

d5Row:
	DWROWPTR(-2, SI)
	DWROWPTR(-1, R8)
	DWROWPTR(0, R9)
	DWROWPTR(1, R10)
	DWROWPTR(2, R13)
	MOVQ dwPlaneArgs_outW(R15), CX
	VXORPS Z20, Z20, Z20
	VXORPS Z21, Z21, Z21
	VXORPS Z22, Z22, Z22
	VXORPS Z23, Z23, Z23
	VXORPS Z24, Z24, Z24
	VXORPS Z25, Z25, Z25
	VXORPS Z26, Z26, Z26
	VXORPS Z27, Z27, Z27
	VXORPS Z28, Z28, Z28
	VXORPS Z29, Z29, Z29

d5Block:
	DW5MASKS
	VMOVAPS Z17, Z8
	VXORPS Z9, Z9, Z9
	DW5ROW(SI, Z20, Z25, 0, Z8)
	DW5ROW(R8, Z21, Z26, 20, Z9)
	DW5ROW(R9, Z22, Z27, 40, Z8)
	DW5ROW(R10, Z23, Z28, 60, Z9)
	DW5ROW(R13, Z24, Z29, 80, Z8)
	VADDPS Z9, Z8, Z8
	VMAXPS Z8, Z30, Z8
	VMINPS Z8, Z31, Z8
	CMPQ CX, $16
	JLT d5Tail
	VMOVUPS Z8, (DI)
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, R9
	ADDQ $128, R10
	ADDQ $128, R13
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ d5Block
	JMP d5NextRow

d5Tail:
	DWTAIL(Z8, K4)

d5NextRow:
	DWNEXT(d5Row, d5Plane, 100)

d5Done:
	VZEROUPPER
	RET

// DWROWPTR1 sets r to input row oh + d of the plane (oh in X6; see DWROWAT); uses AX and BX.
#define DWROWPTR1(d, r) \
	MOVQ X6, AX; \
	LEAQ d(AX), AX; \
	DWROWAT(r)

// COLMASK sets k to the lanes t of the block (first output ow0 = outW − CX) whose input column
// ow0 + o + t lies inside the row, [max(−s, 0), inW − s) with s = ow0 + o; uses AX and BX
// (R11 = −1).
#define COLMASK(o, k) \
	MOVQ dwPlaneArgs_outW(R15), AX; \
	SUBQ CX, AX; \
	ADDQ $o, AX; \
	MOVQ dwPlaneArgs_inW(R15), BX; \
	SUBQ AX, BX; \
	TESTQ BX, BX; \
	JGE 2(PC); \
	XORQ BX, BX; \
	BZHIQ BX, R11, BX; \
	NEGQ AX; \
	TESTQ AX, AX; \
	JGE 2(PC); \
	XORQ AX, AX; \
	BZHIQ AX, R11, AX; \
	ANDNQ BX, AX, AX; \
	KMOVW AX, k

// INTERIOR jumps to label when every tap column of the block, ow0 − pad to ow0 + pad + 15,
// lies inside the row; uses AX.
#define INTERIOR(pad, label) \
	MOVQ dwPlaneArgs_outW(R15), AX; \
	SUBQ CX, AX; \
	CMPQ AX, $pad; \
	JLT 4(PC); \
	ADDQ $(16+pad), AX; \
	CMPQ AX, dwPlaneArgs_inW(R15); \
	JLE label

// DW3S1ROW adds the three taps of the input row at r to A: the row read at columns −1, 0, +1
// of the block under K1, K2, K3, times the weights wl, wc, wr.
#define DW3S1ROW(r, wl, wc, wr, A) \
	VFMADD231PS -4(r), wl, K1, A; \
	VFMADD231PS (r), wc, K2, A; \
	VFMADD231PS 4(r), wr, K3, A

// func dw3s1Kernel(a *dwPlaneArgs)
//
// Registers: R15 the arguments, R12 the input plane, R14 its nine weights, DX its bias, R11 −1;
// X7 planes left, X6 the output row; SI, R8, R9 the block's three input rows, DI its outputs,
// CX outputs left in the row; K1..K3 the taps' column masks, K4 the stored lanes; Z20..Z28 the
// weights, Z29 the bias, Z30 lo, Z31 hi, Z8..Z10 the rows' sums.
TEXT ·dw3s1Kernel(SB), NOSPLIT, $0-8
	DWSTART(d31Done)

d31Plane:
	DW3PLANE

d31Row:
	DWROWPTR1(-1, SI)
	DWROWPTR1(0, R8)
	DWROWPTR1(1, R9)
	MOVQ dwPlaneArgs_outW(R15), CX

d31Block:
	INTERIOR(1, d31Full)
	COLMASK(-1, K1)
	COLMASK(0, K2)
	COLMASK(1, K3)
	JMP d31Sum

d31Full:
	KXNORW K1, K1, K1
	KXNORW K2, K2, K2
	KXNORW K3, K3, K3

d31Sum:
	VMOVAPS Z29, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	DW3S1ROW(SI, Z20, Z21, Z22, Z8)
	DW3S1ROW(R8, Z23, Z24, Z25, Z9)
	DW3S1ROW(R9, Z26, Z27, Z28, Z10)
	VADDPS Z9, Z8, Z8
	VADDPS Z10, Z8, Z8
	VMAXPS Z8, Z30, Z8
	VMINPS Z8, Z31, Z8
	CMPQ CX, $16
	JLT d31Tail
	VMOVUPS Z8, (DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ d31Block
	JMP d31NextRow

d31Tail:
	DWTAIL(Z8, K4)

d31NextRow:
	DWNEXT(d31Row, d31Plane, 36)

d31Done:
	VZEROUPPER
	RET
