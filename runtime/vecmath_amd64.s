//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// Constants of the float32 exponential, broadcast from memory.
DATA expHi<>+0(SB)/4, $88.7                 // above: e^x overflows float32
GLOBL expHi<>(SB), RODATA|NOPTR, $4
DATA expLo<>+0(SB)/4, $-87.3                // below: e^x is below the smallest normal
GLOBL expLo<>(SB), RODATA|NOPTR, $4
DATA log2e<>+0(SB)/4, $1.44269504088896341
GLOBL log2e<>(SB), RODATA|NOPTR, $4
DATA ln2hi<>+0(SB)/4, $0.693359375          // ln 2 = ln2hi + ln2lo, ln2hi exact in 9 bits
GLOBL ln2hi<>(SB), RODATA|NOPTR, $4
DATA ln2lo<>+0(SB)/4, $-2.12194440e-4
GLOBL ln2lo<>(SB), RODATA|NOPTR, $4
DATA expC6<>+0(SB)/4, $1.38888889e-3        // 1/720 … 1/2: Taylor coefficients of e^r
GLOBL expC6<>(SB), RODATA|NOPTR, $4
DATA expC5<>+0(SB)/4, $8.33333333e-3
GLOBL expC5<>(SB), RODATA|NOPTR, $4
DATA expC4<>+0(SB)/4, $4.16666667e-2
GLOBL expC4<>(SB), RODATA|NOPTR, $4
DATA expC3<>+0(SB)/4, $1.66666667e-1
GLOBL expC3<>(SB), RODATA|NOPTR, $4
DATA expC2<>+0(SB)/4, $0.5
GLOBL expC2<>(SB), RODATA|NOPTR, $4
DATA one32<>+0(SB)/4, $1.0
GLOBL one32<>(SB), RODATA|NOPTR, $4

// EXP(x, t, n) sets x = e^x for the 16 lanes of x (t and n scratch): the argument is clamped to
// [−87.3, 88.7] (x as the second operand of min and max, so NaN stays NaN), split as
// x = n·ln2 + r with |r| ≤ ln2/2 (n rounded to nearest, ln2 in two parts so r is exact), e^r by
// its Taylor polynomial of degree 6 (relative error below 2e-7 on that interval), and the result
// scaled by 2^n with VSCALEFPS.
#define EXP(x, t, n) \
	VBROADCASTSS    expHi<>(SB), t; \
	VMINPS          x, t, x; \
	VBROADCASTSS    expLo<>(SB), t; \
	VMAXPS          x, t, x; \
	VMULPS.BCST     log2e<>(SB), x, n; \
	VRNDSCALEPS     $0, n, n; \
	VFNMADD231PS.BCST ln2hi<>(SB), n, x; \
	VFNMADD231PS.BCST ln2lo<>(SB), n, x; \
	VBROADCASTSS    expC6<>(SB), t; \
	VFMADD213PS.BCST expC5<>(SB), x, t; \
	VFMADD213PS.BCST expC4<>(SB), x, t; \
	VFMADD213PS.BCST expC3<>(SB), x, t; \
	VFMADD213PS.BCST expC2<>(SB), x, t; \
	VFMADD213PS.BCST one32<>(SB), x, t; \
	VFMADD213PS.BCST one32<>(SB), x, t; \
	VSCALEFPS       n, t, x

// func sigmoid32AVX512(dst, src []float32, n int)
//
// dst[i] = 1/(1 + e^−src[i]) for i < n, n a multiple of 16. Below −104 the result is 0 (the
// true one is under half the smallest subnormal; EXP's clamp would leave ~3e-39 there, also
// for −Inf).
TEXT ·sigmoid32AVX512(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $4, CX
	JEQ  sigdone
	VBROADCASTSS one32<>(SB), Z31
	VPXORD       Z30, Z30, Z30
	MOVL         $0xc2d00000, AX   // −104
	VPBROADCASTD AX, Z29

sigloop:
	VMOVUPS (SI), Z3
	VSUBPS  Z3, Z30, Z0        // −x
	EXP(Z0, Z1, Z2)
	VADDPS  Z31, Z0, Z0        // 1 + e^−x
	VDIVPS  Z0, Z31, Z0        // 1 / (1 + e^−x)
	VCMPPS  $1, Z29, Z3, K1    // x < −104
	VMOVAPS Z30, K1, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNE     sigloop

sigdone:
	VZEROUPPER
	RET

// Constants of the float32 error function.
DATA absMask<>+0(SB)/4, $0x7fffffff
GLOBL absMask<>(SB), RODATA|NOPTR, $4
DATA signMask<>+0(SB)/4, $0x80000000
GLOBL signMask<>(SB), RODATA|NOPTR, $4
// |x| < 1: erf(x) = x·T(x²), T of degree 6 (Cephes erff, relative error ~1e-7).
DATA erfT0<>+0(SB)/4, $7.853861353153693e-5
GLOBL erfT0<>(SB), RODATA|NOPTR, $4
DATA erfT1<>+0(SB)/4, $-8.010193625184903e-4
GLOBL erfT1<>(SB), RODATA|NOPTR, $4
DATA erfT2<>+0(SB)/4, $5.188327685732524e-3
GLOBL erfT2<>(SB), RODATA|NOPTR, $4
DATA erfT3<>+0(SB)/4, $-2.685381193529856e-2
GLOBL erfT3<>(SB), RODATA|NOPTR, $4
DATA erfT4<>+0(SB)/4, $1.128358514861418e-1
GLOBL erfT4<>(SB), RODATA|NOPTR, $4
DATA erfT5<>+0(SB)/4, $-3.761262582423300e-1
GLOBL erfT5<>(SB), RODATA|NOPTR, $4
DATA erfT6<>+0(SB)/4, $1.128379165726710
GLOBL erfT6<>(SB), RODATA|NOPTR, $4
// |x| ≥ 1: erf(x) = 1 − t·A(t)·e^{−x²}, t = 1/(1 + p·|x|) (Abramowitz and Stegun 7.1.26,
// absolute error below 1.5e-7).
DATA erfP<>+0(SB)/4, $0.3275911
GLOBL erfP<>(SB), RODATA|NOPTR, $4
DATA erfA1<>+0(SB)/4, $0.254829592
GLOBL erfA1<>(SB), RODATA|NOPTR, $4
DATA erfA2<>+0(SB)/4, $-0.284496736
GLOBL erfA2<>(SB), RODATA|NOPTR, $4
DATA erfA3<>+0(SB)/4, $1.421413741
GLOBL erfA3<>(SB), RODATA|NOPTR, $4
DATA erfA4<>+0(SB)/4, $-1.453152027
GLOBL erfA4<>(SB), RODATA|NOPTR, $4
DATA erfA5<>+0(SB)/4, $1.061405429
GLOBL erfA5<>(SB), RODATA|NOPTR, $4

// func erf32AVX512(dst, src []float32, n int)
//
// dst[i] = erf(src[i]) for i < n, n a multiple of 16. Both branches are computed for all lanes
// and blended by |x| < 1; the sign is copied from x (erf is odd).
TEXT ·erf32AVX512(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $4, CX
	JEQ  erfdone
	VBROADCASTSS one32<>(SB), Z31
	VPXORD       Z30, Z30, Z30

erfloop:
	VMOVUPS          (SI), Z0
	VANDPS.BCST      absMask<>(SB), Z0, Z1   // a = |x|
	VANDPS.BCST      signMask<>(SB), Z0, Z2  // the sign of x
	VMULPS           Z1, Z1, Z3              // a²
	VBROADCASTSS     erfT0<>(SB), Z4
	VFMADD213PS.BCST erfT1<>(SB), Z3, Z4
	VFMADD213PS.BCST erfT2<>(SB), Z3, Z4
	VFMADD213PS.BCST erfT3<>(SB), Z3, Z4
	VFMADD213PS.BCST erfT4<>(SB), Z3, Z4
	VFMADD213PS.BCST erfT5<>(SB), Z3, Z4
	VFMADD213PS.BCST erfT6<>(SB), Z3, Z4
	VMULPS           Z1, Z4, Z4              // small |x|: a·T(a²)
	VMOVAPS          Z31, Z5
	VFMADD231PS.BCST erfP<>(SB), Z1, Z5      // 1 + p·a
	VDIVPS           Z5, Z31, Z5             // t
	VBROADCASTSS     erfA5<>(SB), Z6
	VFMADD213PS.BCST erfA4<>(SB), Z5, Z6
	VFMADD213PS.BCST erfA3<>(SB), Z5, Z6
	VFMADD213PS.BCST erfA2<>(SB), Z5, Z6
	VFMADD213PS.BCST erfA1<>(SB), Z5, Z6
	VMULPS           Z5, Z6, Z6              // t·A(t)
	VSUBPS           Z3, Z30, Z7             // −a²
	EXP(Z7, Z8, Z9)
	VMULPS           Z7, Z6, Z6
	VSUBPS           Z6, Z31, Z6             // large |x|: 1 − t·A(t)·e^{−a²}
	VCMPPS           $1, Z31, Z1, K1         // a < 1 (false for NaN)
	VMOVAPS          Z4, K1, Z6
	VORPS            Z2, Z6, Z6
	VMOVUPS          Z6, (DI)
	ADDQ             $64, SI
	ADDQ             $64, DI
	DECQ             CX
	JNE              erfloop

erfdone:
	VZEROUPPER
	RET

DATA three32<>+0(SB)/4, $3.0
GLOBL three32<>(SB), RODATA|NOPTR, $4
DATA sixth32<>+0(SB)/4, $0.16666667
GLOBL sixth32<>(SB), RODATA|NOPTR, $4

// func hardSwish32AVX512(dst, src []float32, n int)
//
// dst[i] = x·clamp((x + 3)/6, 0, 1) for x = src[i], i < n (n a multiple of 16), and +0 wherever
// the clamp gives 0 (so −Inf gives 0, not NaN). Forming x + 3 first (exact for x in [−6, −1.5])
// keeps the relative error of the factor small where it nearly cancels.
TEXT ·hardSwish32AVX512(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $4, CX
	JEQ  hsdone
	VBROADCASTSS one32<>(SB), Z31
	VPXORD       Z30, Z30, Z30

hsloop:
	VMOVUPS     (SI), Z0
	VADDPS.BCST three32<>(SB), Z0, Z1
	VMULPS.BCST sixth32<>(SB), Z1, Z1
	VMAXPS      Z1, Z30, Z1          // max(0, t), NaN stays
	VMINPS      Z1, Z31, Z1          // min(1, t), NaN stays
	VCMPPS      $6, Z30, Z1, K1      // t > 0, or NaN
	VMULPS.Z    Z1, Z0, K1, Z2
	VMOVUPS     Z2, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNE         hsloop

hsdone:
	VZEROUPPER
	RET

// func affine32AVX512(dst, src []float32, n int, a, b, lo, hi float32, fused bool)
//
// dst[i] = min(max(a·src[i] + b, lo), hi) for i < n (n a multiple of 16), as Go computes it: a
// multiply and an add, each rounded (or, with fused, one multiply-add rounded once); the
// clamp's operands ordered so that a NaN stays NaN; and, where VMAXPS returns −0 for
// max(+0, −0), an added zero (+0 when lo is +0, else −0, which changes nothing) that gives Go's
// +0. (hi = −0 is left to the caller: min(−0, +0) would need the same repair.)
TEXT ·affine32AVX512(SB), NOSPLIT, $0-73
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $4, CX
	JEQ  afdone
	VBROADCASTSS a+56(FP), Z27
	VBROADCASTSS b+60(FP), Z28
	VBROADCASTSS lo+64(FP), Z29
	VBROADCASTSS hi+68(FP), Z30
	MOVL lo+64(FP), AX
	MOVL $0x80000000, DX
	TESTL AX, AX
	CMOVLEQ AX, DX          // the zero to add: +0 (lo's bits) if lo is +0, else −0
	VPBROADCASTD DX, Z31
	CMPB fused+72(FP), $0
	JNE  affloop

afloop:
	VMOVUPS     (SI), Z0
	VMULPS      Z27, Z0, Z0      // a·x
	VADDPS      Z28, Z0, Z0      // + b
	VMAXPS      Z0, Z29, Z0      // max(lo, v), NaN stays
	VADDPS      Z31, Z0, Z0      // Go's max(−0, +0) = +0
	VMINPS      Z0, Z30, Z0      // min(hi, v), NaN stays
	VMOVUPS     Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNE         afloop
	JMP         afdone

affloop:
	VMOVUPS     (SI), Z0
	VFMADD213PS Z28, Z27, Z0     // a·x + b, rounded once
	VMAXPS      Z0, Z29, Z0
	VADDPS      Z31, Z0, Z0
	VMINPS      Z0, Z30, Z0
	VMOVUPS     Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	DECQ        CX
	JNE         affloop

afdone:
	VZEROUPPER
	RET

// BINARY32 defines func name(dst, a, b []float32, n int): dst[i] = a[i] op b[i] for i < n (n
// a multiple of 16), with the vector instruction op (correctly rounded, as Go's float32
// arithmetic).
#define BINARY32(name, op) \
TEXT name(SB), NOSPLIT, $0-80; \
	MOVQ dst_base+0(FP), DI; \
	MOVQ a_base+24(FP), SI; \
	MOVQ b_base+48(FP), DX; \
	MOVQ n+72(FP), CX; \
	SHRQ $4, CX; \
	JEQ  2(PC); \
	JMP  3(PC); \
	VZEROUPPER; \
	RET; \
	VMOVUPS (SI), Z0; \
	op      (DX), Z0, Z0; \
	VMOVUPS Z0, (DI); \
	ADDQ    $64, SI; \
	ADDQ    $64, DX; \
	ADDQ    $64, DI; \
	DECQ    CX; \
	JNE     -7(PC); \
	VZEROUPPER; \
	RET

BINARY32(·add32AVX512, VADDPS)
BINARY32(·sub32AVX512, VSUBPS)
BINARY32(·mul32AVX512, VMULPS)
BINARY32(·div32AVX512, VDIVPS)

// func divBy32AVX512(dst, a []float32, y float32, n int)
//
// dst[i] = a[i]/y for i < n (n a multiple of 16), correctly rounded.
TEXT ·divBy32AVX512(SB), NOSPLIT, $0-64
	MOVQ dst_base+0(FP), DI
	MOVQ a_base+24(FP), SI
	VBROADCASTSS y+48(FP), Z1
	MOVQ n+56(FP), CX
	SHRQ $4, CX
	JEQ  divbydone

divbyloop:
	VMOVUPS (SI), Z0
	VDIVPS  Z1, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNE     divbyloop

divbydone:
	VZEROUPPER
	RET

// func divInto32AVX512(dst, b []float32, x float32, n int)
//
// dst[i] = x/b[i] for i < n (n a multiple of 16), correctly rounded.
TEXT ·divInto32AVX512(SB), NOSPLIT, $0-64
	MOVQ dst_base+0(FP), DI
	MOVQ b_base+24(FP), SI
	VBROADCASTSS x+48(FP), Z1
	MOVQ n+56(FP), CX
	SHRQ $4, CX
	JEQ  divintodone

divintoloop:
	VDIVPS  (SI), Z1, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNE     divintoloop

divintodone:
	VZEROUPPER
	RET

// func sum32AVX512(x []float32, n int) float64
//
// The sum of x[i] for i < n (n a multiple of 16) in float64: eight-value halves widened with
// VCVTPS2PD into four accumulators, added together at the end.
TEXT ·sum32AVX512(SB), NOSPLIT, $0-40
	MOVQ x_base+0(FP), SI
	MOVQ n+24(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	SHRQ $4, CX
	JEQ  sumreduce
	TESTQ $1, CX
	JZ   sumpairs
	VCVTPS2PD (SI), Z4
	VCVTPS2PD 32(SI), Z5
	VADDPD Z4, Z0, Z0
	VADDPD Z5, Z1, Z1
	ADDQ $64, SI
	DECQ CX
	JZ   sumreduce

sumpairs:
	VCVTPS2PD (SI), Z4
	VCVTPS2PD 32(SI), Z5
	VCVTPS2PD 64(SI), Z6
	VCVTPS2PD 96(SI), Z7
	VADDPD Z4, Z0, Z0
	VADDPD Z5, Z1, Z1
	VADDPD Z6, Z2, Z2
	VADDPD Z7, Z3, Z3
	ADDQ $128, SI
	SUBQ $2, CX
	JNE  sumpairs

sumreduce:
	VADDPD Z1, Z0, Z0
	VADDPD Z3, Z2, Z2
	VADDPD Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	VZEROUPPER
	MOVSD X0, ret+32(FP)
	RET

// func reluGrad32AVX512(dx, dy, y []float32, n int)
//
// dx[i] = dy[i] where y[i] > 0 (ordered, so NaN is not), +0 elsewhere, for i < n (n a multiple
// of 16): a compare into K1 and a zero-masked load.
TEXT ·reluGrad32AVX512(SB), NOSPLIT, $0-80
	MOVQ dx_base+0(FP), DI
	MOVQ dy_base+24(FP), SI
	MOVQ y_base+48(FP), DX
	MOVQ n+72(FP), CX
	VPXORD Z31, Z31, Z31
	SHRQ $4, CX
	JEQ  relugraddone

relugradloop:
	VMOVUPS (DX), Z0
	VCMPPS $0x1e, Z31, Z0, K1
	VMOVUPS.Z (SI), K1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, DX
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNE  relugradloop

relugraddone:
	VZEROUPPER
	RET

// HSUMPD sets X0's low lane to the sum of Z0's eight float64 lanes (clobbering Z1).
#define HSUMPD \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPD Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPD X1, X0, X0; \
	VPERMILPD $1, X0, X1; \
	VADDSD X1, X0, X0

// func sqDev32AVX512(x []float32, n int, m float64) float64
//
// Σ (x[i] − m)² for i < n (n a multiple of 16) in float64: eight-value halves widened with
// VCVTPS2PD, centred, squared into two accumulators.
TEXT ·sqDev32AVX512(SB), NOSPLIT, $0-48
	MOVQ x_base+0(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSD m+32(FP), Z8
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	SHRQ $4, CX
	JEQ  sqdevreduce

sqdevloop:
	VCVTPS2PD (SI), Z4
	VCVTPS2PD 32(SI), Z5
	VSUBPD Z8, Z4, Z4
	VSUBPD Z8, Z5, Z5
	VFMADD231PD Z4, Z4, Z0
	VFMADD231PD Z5, Z5, Z1
	ADDQ $64, SI
	DECQ CX
	JNE  sqdevloop

sqdevreduce:
	VADDPD Z1, Z0, Z0
	HSUMPD
	VZEROUPPER
	MOVSD X0, ret+40(FP)
	RET

// func dotCentered32AVX512(dy, x []float32, n int, m float64) (sdy, sdyx float64)
//
// Σ dy[i] and Σ dy[i]·(x[i] − m) for i < n (n a multiple of 16) in float64, as sqDev32AVX512.
TEXT ·dotCentered32AVX512(SB), NOSPLIT, $0-80
	MOVQ dy_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ n+48(FP), CX
	VBROADCASTSD m+56(FP), Z8
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	SHRQ $4, CX
	JEQ  dotcreduce

dotcloop:
	VCVTPS2PD (DI), Z4
	VCVTPS2PD 32(DI), Z5
	VCVTPS2PD (SI), Z6
	VCVTPS2PD 32(SI), Z7
	VSUBPD Z8, Z6, Z6
	VSUBPD Z8, Z7, Z7
	VADDPD Z4, Z0, Z0
	VADDPD Z5, Z1, Z1
	VFMADD231PD Z6, Z4, Z2
	VFMADD231PD Z7, Z5, Z3
	ADDQ $64, DI
	ADDQ $64, SI
	DECQ CX
	JNE  dotcloop

dotcreduce:
	VADDPD Z1, Z0, Z0
	VADDPD Z3, Z2, Z2
	HSUMPD
	MOVSD X0, sdy+64(FP)
	VMOVAPD Z2, Z0
	HSUMPD
	MOVSD X0, sdyx+72(FP)
	VZEROUPPER
	RET

// Lane tables of maxPool2x2GradAVX512: the even and odd lanes of two zmm tables, and the
// interleaving of two (lanes 0..7 of each, then 8..15).
DATA mpEvens<>+0(SB)/4, $0
DATA mpEvens<>+4(SB)/4, $2
DATA mpEvens<>+8(SB)/4, $4
DATA mpEvens<>+12(SB)/4, $6
DATA mpEvens<>+16(SB)/4, $8
DATA mpEvens<>+20(SB)/4, $10
DATA mpEvens<>+24(SB)/4, $12
DATA mpEvens<>+28(SB)/4, $14
DATA mpEvens<>+32(SB)/4, $16
DATA mpEvens<>+36(SB)/4, $18
DATA mpEvens<>+40(SB)/4, $20
DATA mpEvens<>+44(SB)/4, $22
DATA mpEvens<>+48(SB)/4, $24
DATA mpEvens<>+52(SB)/4, $26
DATA mpEvens<>+56(SB)/4, $28
DATA mpEvens<>+60(SB)/4, $30
GLOBL mpEvens<>(SB), RODATA|NOPTR, $64
DATA mpOdds<>+0(SB)/4, $1
DATA mpOdds<>+4(SB)/4, $3
DATA mpOdds<>+8(SB)/4, $5
DATA mpOdds<>+12(SB)/4, $7
DATA mpOdds<>+16(SB)/4, $9
DATA mpOdds<>+20(SB)/4, $11
DATA mpOdds<>+24(SB)/4, $13
DATA mpOdds<>+28(SB)/4, $15
DATA mpOdds<>+32(SB)/4, $17
DATA mpOdds<>+36(SB)/4, $19
DATA mpOdds<>+40(SB)/4, $21
DATA mpOdds<>+44(SB)/4, $23
DATA mpOdds<>+48(SB)/4, $25
DATA mpOdds<>+52(SB)/4, $27
DATA mpOdds<>+56(SB)/4, $29
DATA mpOdds<>+60(SB)/4, $31
GLOBL mpOdds<>(SB), RODATA|NOPTR, $64
DATA mpZipLo<>+0(SB)/4, $0
DATA mpZipLo<>+4(SB)/4, $16
DATA mpZipLo<>+8(SB)/4, $1
DATA mpZipLo<>+12(SB)/4, $17
DATA mpZipLo<>+16(SB)/4, $2
DATA mpZipLo<>+20(SB)/4, $18
DATA mpZipLo<>+24(SB)/4, $3
DATA mpZipLo<>+28(SB)/4, $19
DATA mpZipLo<>+32(SB)/4, $4
DATA mpZipLo<>+36(SB)/4, $20
DATA mpZipLo<>+40(SB)/4, $5
DATA mpZipLo<>+44(SB)/4, $21
DATA mpZipLo<>+48(SB)/4, $6
DATA mpZipLo<>+52(SB)/4, $22
DATA mpZipLo<>+56(SB)/4, $7
DATA mpZipLo<>+60(SB)/4, $23
GLOBL mpZipLo<>(SB), RODATA|NOPTR, $64
DATA mpZipHi<>+0(SB)/4, $8
DATA mpZipHi<>+4(SB)/4, $24
DATA mpZipHi<>+8(SB)/4, $9
DATA mpZipHi<>+12(SB)/4, $25
DATA mpZipHi<>+16(SB)/4, $10
DATA mpZipHi<>+20(SB)/4, $26
DATA mpZipHi<>+24(SB)/4, $11
DATA mpZipHi<>+28(SB)/4, $27
DATA mpZipHi<>+32(SB)/4, $12
DATA mpZipHi<>+36(SB)/4, $28
DATA mpZipHi<>+40(SB)/4, $13
DATA mpZipHi<>+44(SB)/4, $29
DATA mpZipHi<>+48(SB)/4, $14
DATA mpZipHi<>+52(SB)/4, $30
DATA mpZipHi<>+56(SB)/4, $15
DATA mpZipHi<>+60(SB)/4, $31
GLOBL mpZipHi<>(SB), RODATA|NOPTR, $64

// MPSELECT(v, k) makes window position k (its lane index in Z-register k) the maximum where v
// beats the maximum so far Z8: v > Z8, or v NaN and Z8 not (the first maximum wins ties).
#define MPSELECT(v, k) \
	VCMPPS    $0x1E, Z8, v, K4; \
	VCMPPS    $3, v, v, K5; \
	VCMPPS    $3, Z8, Z8, K6; \
	KANDNW    K5, K6, K5; \
	KORW      K5, K4, K4; \
	VMOVAPS   v, K4, Z8; \
	VMOVDQA32 k, K4, Z9

// MPADD(off, ptr, mask, v) adds v to the 16 values at off(ptr) under mask.
#define MPADD(off, ptr, mask, v) \
	VMOVUPS.Z off(ptr), mask, Z17; \
	VADDPS    v, Z17, Z17; \
	VMOVUPS   Z17, mask, off(ptr)

// func maxPool2x2GradAVX512(a *maxPool2x2GradArgs)
//
// Per plane, output row and block of 16 outputs: the two input rows' 32 values (masked to the
// block's 2n), their even and odd lanes (the four window positions), the first maximum's
// position per lane, the gradient split by position, interleaved back into row order and added
// to dx. Registers: R15 args, R14 plane, R11 output row, SI/R8 the input rows, R9/R10 the dx
// rows, DI dy, CX outputs left in the row; K1/K2 the input lanes of the block's two halves, K3
// its outputs; Z8 the maxima, Z9 their positions (0..3), Z22..Z25 the positions 0..3.
TEXT ·maxPool2x2GradAVX512(SB), NOSPLIT, $0-8
	MOVQ      a+0(FP), R15
	VMOVDQU32 mpEvens<>(SB), Z28
	VMOVDQU32 mpOdds<>(SB), Z29
	VMOVDQU32 mpZipLo<>(SB), Z26
	VMOVDQU32 mpZipHi<>(SB), Z27
	VPXORD    Z22, Z22, Z22
	MOVL      $1, AX
	VPBROADCASTD AX, Z23
	MOVL      $2, AX
	VPBROADCASTD AX, Z24
	MOVL      $3, AX
	VPBROADCASTD AX, Z25
	XORQ      R14, R14

mpplane:
	CMPQ R14, maxPool2x2GradArgs_planes(R15)
	JGE  mpdone
	XORQ R11, R11

mprow:
	CMPQ R11, maxPool2x2GradArgs_oh(R15)
	JGE  mpnextplane
	// AX = plane·inLen + 2r·w: the window rows' start in x and dx.
	MOVQ  maxPool2x2GradArgs_inLen(R15), AX
	IMULQ R14, AX
	MOVQ  maxPool2x2GradArgs_w(R15), BX
	IMULQ R11, BX
	LEAQ  (AX)(BX*2), AX
	MOVQ  maxPool2x2GradArgs_w(R15), BX
	MOVQ  maxPool2x2GradArgs_x(R15), SI
	LEAQ  (SI)(AX*4), SI
	LEAQ  (SI)(BX*4), R8
	MOVQ  maxPool2x2GradArgs_dx(R15), R9
	LEAQ  (R9)(AX*4), R9
	LEAQ  (R9)(BX*4), R10
	// DI = dy + 4·(plane·oh + r)·ow.
	MOVQ  maxPool2x2GradArgs_oh(R15), AX
	IMULQ R14, AX
	ADDQ  R11, AX
	IMULQ maxPool2x2GradArgs_ow(R15), AX
	MOVQ  maxPool2x2GradArgs_dy(R15), DI
	LEAQ  (DI)(AX*4), DI
	MOVQ  maxPool2x2GradArgs_ow(R15), CX

mpblk:
	MOVQ  CX, AX
	CMPQ  AX, $16
	JLE   mpn
	MOVQ  $16, AX

mpn:
	MOVL  $-1, BX
	BZHIL AX, BX, DX
	KMOVW DX, K3
	LEAQ  (AX)(AX*1), DX
	BZHIL DX, BX, DX
	KMOVW DX, K1
	SHRL  $16, DX
	KMOVW DX, K2
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS.Z (R8), K1, Z2
	VMOVUPS.Z 64(R8), K2, Z3
	VMOVAPS   Z0, Z4
	VPERMT2PS Z1, Z28, Z4
	VMOVAPS   Z0, Z5
	VPERMT2PS Z1, Z29, Z5
	VMOVAPS   Z2, Z6
	VPERMT2PS Z3, Z28, Z6
	VMOVAPS   Z2, Z7
	VPERMT2PS Z3, Z29, Z7
	VMOVAPS   Z4, Z8
	VPXORD    Z9, Z9, Z9
	MPSELECT(Z5, Z23)
	MPSELECT(Z6, Z24)
	MPSELECT(Z7, Z25)
	VMOVUPS.Z (DI), K3, Z10
	VPCMPEQD  Z22, Z9, K4
	VMOVAPS.Z Z10, K4, Z11
	VPCMPEQD  Z23, Z9, K4
	VMOVAPS.Z Z10, K4, Z12
	VPCMPEQD  Z24, Z9, K4
	VMOVAPS.Z Z10, K4, Z13
	VPCMPEQD  Z25, Z9, K4
	VMOVAPS.Z Z10, K4, Z14
	VMOVAPS   Z11, Z15
	VPERMT2PS Z12, Z26, Z15
	VMOVAPS   Z11, Z16
	VPERMT2PS Z12, Z27, Z16
	MPADD(0, R9, K1, Z15)
	MPADD(64, R9, K2, Z16)
	VMOVAPS   Z13, Z15
	VPERMT2PS Z14, Z26, Z15
	VMOVAPS   Z13, Z16
	VPERMT2PS Z14, Z27, Z16
	MPADD(0, R10, K1, Z15)
	MPADD(64, R10, K2, Z16)
	ADDQ $128, SI
	ADDQ $128, R8
	ADDQ $128, R9
	ADDQ $128, R10
	ADDQ $64, DI
	SUBQ $16, CX
	JG   mpblk
	INCQ R11
	JMP  mprow

mpnextplane:
	INCQ R14
	JMP  mpplane

mpdone:
	VZEROUPPER
	RET
