//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"

// The AVX2+FMA kernel of the backward pass's elementwise stage (see coeffArgs in grad_coeff.go
// and coeffBlockGeneric, which evaluates the same formulas with the same coefficients, from
// fastmath.go and grad_coeff.go, one value at a time).

// VEC defines a read-only 32-byte vector of eight copies of the 32-bit pattern val.
#define VEC(name, val) \
	DATA name<>+0(SB)/4, val; \
	DATA name<>+4(SB)/4, val; \
	DATA name<>+8(SB)/4, val; \
	DATA name<>+12(SB)/4, val; \
	DATA name<>+16(SB)/4, val; \
	DATA name<>+20(SB)/4, val; \
	DATA name<>+24(SB)/4, val; \
	DATA name<>+28(SB)/4, val; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

VEC(one, $0x3f800000)
VEC(minusOne, $0xbf800000)
VEC(half, $0x3f000000)
VEC(two, $0x40000000)
VEC(four, $0x40800000)
VEC(minusTwo, $0xc0000000)
VEC(absMask, $0x7fffffff)
VEC(signMask, $0x80000000)
VEC(clampHi, $0x3f7fffef)
VEC(twoOverPi, $0x3f22f983)
VEC(nine, $0x41100000)
VEC(tanhP1, $0x3e090583)
VEC(tanhP2, $0x3b6515db)
VEC(tanhP3, $0x37ace0ab)
VEC(tanhP4, $0x32656af2)
VEC(tanhQ1, $0x3eef2d66)
VEC(tanhQ2, $0x3cd3fbcc)
VEC(tanhQ3, $0x39ac427e)
VEC(tanhQ4, $0x3550be14)
VEC(asinA0, $0x3e2aaae4)
VEC(asinA1, $0x3d9980f2)
VEC(asinA2, $0x3d3a3f25)
VEC(asinA3, $0x3cc61421)
VEC(asinA4, $0x3d2cb694)
VEC(halfPiHi, $0x3fc90fdb)
VEC(halfPiLo, $0xb33bbd2e)
VEC(logOffset, $0x004afb0d)
VEC(exponentBias, $0x0000007f)
VEC(mantissaMask, $0x007fffff)
VEC(sqrtHalfBits, $0x3f3504f3)
VEC(twoThirds, $0x3f2aaaab)
VEC(twoFifths, $0x3ecccccd)
VEC(twoSevenths, $0x3e924925)
VEC(twoNinths, $0x3e638e39)
VEC(ln2Hi, $0x3f317200)
VEC(ln2Lo, $0x35bfbe8e)
VEC(log2e, $0x3fb8aa3b)
VEC(minus87, $0xc2ae0000)
VEC(exp3c, $0x3e2aaaab)
VEC(exp4c, $0x3d2aaaab)
VEC(exp5c, $0x3c088889)
VEC(exp6c, $0x3ab60b61)
VEC(exp7c, $0x39500d01)

// TANH sets X = tanh(X) (tanh32) using the temporaries Z, P and Q.
#define TANH(X, Z, P, Q) \
	VMINPS nine<>(SB), X, X; \
	VMULPS X, X, Z; \
	VMOVUPS tanhP4<>(SB), P; \
	VFMADD213PS tanhP3<>(SB), Z, P; \
	VFMADD213PS tanhP2<>(SB), Z, P; \
	VFMADD213PS tanhP1<>(SB), Z, P; \
	VFMADD213PS one<>(SB), Z, P; \
	VMOVUPS tanhQ4<>(SB), Q; \
	VFMADD213PS tanhQ3<>(SB), Z, Q; \
	VFMADD213PS tanhQ2<>(SB), Z, Q; \
	VFMADD213PS tanhQ1<>(SB), Z, Q; \
	VFMADD213PS one<>(SB), Z, Q; \
	VMULPS P, X, X; \
	VDIVPS Q, X, X

// TANHSECH2 sets T = tanh(X) and S = sech²(X) for X >= 0 (tanhSech2), keeping X, using the
// temporaries E, K, P and I: below 1/2 from t = tanh32(X) and (1 − t)(1 + t), beyond from
// e = e^(−2X) (expNeg32: X clamped to 43.5, k = round(−2X·log2 e), e = 2^k·e^f) as
// (1 − e)/(1 + e) and 4e/(1 + e)².
#define TANHSECH2(X, T, S, E, K, P, I) \
	VMOVAPS X, T; \
	TANH(T, E, K, P); \
	VMOVUPS one<>(SB), S; \
	VSUBPS T, S, S; \
	VADDPS one<>(SB), T, I; \
	VMULPS I, S, S; \
	VMULPS minusTwo<>(SB), X, E; \
	VMAXPS minus87<>(SB), E, E; \
	VMULPS log2e<>(SB), E, K; \
	VROUNDPS $0, K, K; \
	VFNMADD231PS ln2Hi<>(SB), K, E; \
	VFNMADD231PS ln2Lo<>(SB), K, E; \
	VMOVUPS exp7c<>(SB), P; \
	VFMADD213PS exp6c<>(SB), E, P; \
	VFMADD213PS exp5c<>(SB), E, P; \
	VFMADD213PS exp4c<>(SB), E, P; \
	VFMADD213PS exp3c<>(SB), E, P; \
	VFMADD213PS half<>(SB), E, P; \
	VFMADD213PS one<>(SB), E, P; \
	VFMADD213PS one<>(SB), E, P; \
	VCVTPS2DQ K, K; \
	VPADDD exponentBias<>(SB), K, K; \
	VPSLLD $23, K, K; \
	VMULPS K, P, P; \
	VADDPS one<>(SB), P, I; \
	VMOVUPS one<>(SB), E; \
	VDIVPS I, E, I; \
	VMOVUPS one<>(SB), K; \
	VSUBPS P, K, K; \
	VMULPS I, K, K; \
	VMULPS four<>(SB), P, P; \
	VMULPS I, P, P; \
	VMULPS I, P, P; \
	VCMPPS $0x11, half<>(SB), X, E; \
	VBLENDVPS E, T, K, T; \
	VBLENDVPS E, S, P, S

// ASIN sets U = asin(A) for 0 <= A <= 1 (asin32), keeping A, using the temporaries Z, B, V and
// P: beyond 1/2, asin(t) = π/2 − 2·asin(sqrt((1 − t)/2)).
#define ASIN(A, U, Z, B, V, P) \
	VCMPPS $0x1e, half<>(SB), A, B; \
	VMULPS A, A, Z; \
	VMOVUPS one<>(SB), V; \
	VSUBPS A, V, V; \
	VMULPS half<>(SB), V, V; \
	VBLENDVPS B, V, Z, Z; \
	VSQRTPS V, V; \
	VBLENDVPS B, V, A, U; \
	VMOVUPS asinA4<>(SB), P; \
	VFMADD213PS asinA3<>(SB), Z, P; \
	VFMADD213PS asinA2<>(SB), Z, P; \
	VFMADD213PS asinA1<>(SB), Z, P; \
	VFMADD213PS asinA0<>(SB), Z, P; \
	VMULPS Z, P, P; \
	VFMADD213PS U, U, P; \
	VADDPS P, P, V; \
	VSUBPS halfPiLo<>(SB), V, V; \
	VMOVUPS halfPiHi<>(SB), Z; \
	VSUBPS V, Z, V; \
	VBLENDVPS B, V, P, U

// LOG1P sets L = log1p(R) for R >= 0 (log1p32), keeping R, using the temporaries A, B, C and D.
#define LOG1P(R, L, A, B, C, D) \
	VADDPS one<>(SB), R, A; \
	VSUBPS one<>(SB), A, B; \
	VSUBPS B, R, B; \
	VDIVPS A, B, B; \
	VPADDD logOffset<>(SB), A, C; \
	VPSRLD $23, C, D; \
	VPSUBD exponentBias<>(SB), D, D; \
	VCVTDQ2PS D, D; \
	VPAND mantissaMask<>(SB), C, C; \
	VPADDD sqrtHalfBits<>(SB), C, C; \
	VSUBPS one<>(SB), C, C; \
	VADDPS two<>(SB), C, A; \
	VDIVPS A, C, C; \
	VMULPS C, C, A; \
	VMOVUPS twoNinths<>(SB), L; \
	VFMADD213PS twoSevenths<>(SB), A, L; \
	VFMADD213PS twoFifths<>(SB), A, L; \
	VFMADD213PS twoThirds<>(SB), A, L; \
	VFMADD213PS two<>(SB), A, L; \
	VMULPS C, L, L; \
	VFMADD231PS ln2Lo<>(SB), D, B; \
	VADDPS B, L, L; \
	VFMADD231PS ln2Hi<>(SB), D, L

// func coeffBlocksAVX2(a *coeffArgs)
//
// Registers: DI args, SI s, DX dy, R10 nrm, R11 invN, R12 an, AX byte offset, CX values left,
// R8 angular, R9 magnitude. Y11 to Y15 accumulate the lane sums of dB, dα, dρ, dβ and Σ A_N.
// Each step: the cosine (Y0), g and g' (Y0, Y1, spilled to the args), r (Y0), h and its
// partial derivatives (Y1 h, Y2 ∂h/∂r, Y3 ∂h/∂ρ, Y4 ∂h/∂α, Y5 ∂h/∂β), then the combination.
// Y6 to Y10 are temporaries.
TEXT ·coeffBlocksAVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	MOVQ coeffArgs_s(DI), SI
	MOVQ coeffArgs_dy(DI), DX
	MOVQ coeffArgs_nrm(DI), R10
	MOVQ coeffArgs_invN(DI), R11
	MOVQ coeffArgs_an(DI), R12
	MOVQ coeffArgs_n(DI), CX
	MOVQ coeffArgs_ang(DI), R8
	MOVQ coeffArgs_mag(DI), R9
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	XORQ AX, AX
	TESTQ CX, CX
	JLE done

loop:
	// c = s·(1/n_p)·(1/Nw)
	VMOVUPS (SI)(AX*1), Y0
	VMULPS (R11)(AX*1), Y0, Y0
	VMULPS coeffArgs_invNw(DI), Y0, Y0
	VMOVUPS Y0, coeffArgs_tmpC(DI)

	// g (Y0) and g' (Y1)
	CMPQ R8, $0
	JEQ angCos
	CMPQ R8, $3
	JEQ angSqcos
	// linear and sigmoid: ĉ = clamp(c, −1 + 1e-6, 1 − 1e-6); Y9 the sign of c, Y2 |ĉ|,
	// Y10 1/sqrt(1 − ĉ²) where the clamp is inactive, else 0.
	VANDPS signMask<>(SB), Y0, Y9
	VANDPS absMask<>(SB), Y0, Y2
	VCMPPS $0x12, clampHi<>(SB), Y2, Y10
	VMINPS clampHi<>(SB), Y2, Y2
	VMOVUPS one<>(SB), Y3
	VSUBPS Y2, Y3, Y3
	VADDPS one<>(SB), Y2, Y4
	VMULPS Y4, Y3, Y3
	VSQRTPS Y3, Y3
	VMOVUPS one<>(SB), Y4
	VDIVPS Y3, Y4, Y4
	VANDPS Y4, Y10, Y10
	ASIN(Y2, Y1, Y3, Y4, Y5, Y6)
	CMPQ R8, $1
	JEQ angLinear
	// sigmoid: t = tanh(asin(|ĉ|)/(2k)), g = ±t/tanh(π/(4k)), g' = sech²·inv/(2k·tanh(π/(4k)))
	VMULPS coeffArgs_inv2k(DI), Y1, Y1
	TANHSECH2(Y1, Y2, Y3, Y4, Y5, Y6, Y7)
	VMULPS coeffArgs_invT(DI), Y2, Y0
	VORPS Y9, Y0, Y0
	VMULPS coeffArgs_dgSig(DI), Y3, Y1
	VMULPS Y10, Y1, Y1
	JMP angDone

angLinear:
	// g = ±(2/π)·asin(|ĉ|), g' = (2/π)·inv
	VMULPS twoOverPi<>(SB), Y1, Y0
	VORPS Y9, Y0, Y0
	VMULPS twoOverPi<>(SB), Y10, Y1
	JMP angDone

angCos:
	// g = clamp(c, −1, 1), g' = 1 where |c| <= 1, else 0
	VANDPS absMask<>(SB), Y0, Y2
	VCMPPS $0x12, one<>(SB), Y2, Y3
	VANDPS one<>(SB), Y3, Y1
	VMINPS one<>(SB), Y0, Y0
	VMAXPS minusOne<>(SB), Y0, Y0
	JMP angDone

angSqcos:
	// g = ĉ·|ĉ| with ĉ = clamp(c, −1, 1), g' = 2|c| where |c| <= 1, else 0
	VANDPS absMask<>(SB), Y0, Y2
	VCMPPS $0x12, one<>(SB), Y2, Y3
	VADDPS Y2, Y2, Y1
	VANDPS Y3, Y1, Y1
	VMINPS one<>(SB), Y0, Y0
	VMAXPS minusOne<>(SB), Y0, Y0
	VANDPS absMask<>(SB), Y0, Y2
	VMULPS Y2, Y0, Y0

angDone:
	VMOVUPS Y0, coeffArgs_tmpG(DI)
	VMOVUPS Y1, coeffArgs_tmpGp(DI)

	// r = n_p·(Nw or 1), then h (Y1), ∂h/∂r (Y2), ∂h/∂ρ (Y3), ∂h/∂α (Y4), ∂h/∂β (Y5)
	VMOVUPS (R10)(AX*1), Y0
	VMULPS coeffArgs_rs(DI), Y0, Y0
	CMPQ R9, $2
	JEQ magTanh
	CMPQ R9, $0
	JEQ magSphere
	CMPQ R9, $1
	JEQ magBall
	CMPQ R9, $3
	JEQ magLinear
	CMPQ R9, $4
	JEQ magSeg
	LOG1P(Y0, Y6, Y7, Y8, Y9, Y10)
	VXORPS Y3, Y3, Y3
	// 1 + r, for ∂h/∂r
	VADDPS one<>(SB), Y0, Y7
	CMPQ R9, $5
	JEQ magLog
	// mix: h = α·r + β·l, ∂h/∂r = α + β/(1 + r), ∂h/∂α = r, ∂h/∂β = l
	VMULPS coeffArgs_alpha(DI), Y0, Y1
	VFMADD231PS coeffArgs_beta(DI), Y6, Y1
	VMOVUPS coeffArgs_beta(DI), Y2
	VDIVPS Y7, Y2, Y2
	VADDPS coeffArgs_alpha(DI), Y2, Y2
	VMOVAPS Y0, Y4
	VMOVAPS Y6, Y5
	JMP magDone

magLog:
	// h = α·l, ∂h/∂r = α/(1 + r), ∂h/∂α = l
	VMULPS coeffArgs_alpha(DI), Y6, Y1
	VMOVUPS coeffArgs_alpha(DI), Y2
	VDIVPS Y7, Y2, Y2
	VMOVAPS Y6, Y4
	VXORPS Y5, Y5, Y5
	JMP magDone

magTanh:
	// x = r/ρ: h = α·t, ∂h/∂r = (α/ρ)·sech², ∂h/∂ρ = −∂h/∂r·x, ∂h/∂α = t
	VMULPS coeffArgs_invRho(DI), Y0, Y6
	TANHSECH2(Y6, Y4, Y7, Y8, Y9, Y10, Y5)
	VMULPS coeffArgs_alpha(DI), Y4, Y1
	VMULPS coeffArgs_alphaInvRho(DI), Y7, Y2
	VMULPS Y6, Y2, Y3
	VXORPS signMask<>(SB), Y3, Y3
	VXORPS Y5, Y5, Y5
	JMP magDone

magSphere:
	VMOVUPS coeffArgs_alpha(DI), Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VMOVUPS one<>(SB), Y4
	VXORPS Y5, Y5, Y5
	JMP magDone

magBall:
	// below ρ (Y7): q = r/ρ, h = α·q, ∂h/∂r = α/ρ, ∂h/∂ρ = −α·q/ρ, ∂h/∂α = q; above: α, 0, 0, 1
	VMULPS coeffArgs_invRho(DI), Y0, Y6
	VCMPPS $0x11, coeffArgs_rho(DI), Y0, Y7
	VMOVUPS one<>(SB), Y4
	VBLENDVPS Y7, Y6, Y4, Y4
	VMULPS coeffArgs_alpha(DI), Y4, Y1
	VMOVUPS coeffArgs_alphaInvRho(DI), Y2
	VANDPS Y7, Y2, Y2
	VMULPS coeffArgs_alpha(DI), Y6, Y3
	VMULPS coeffArgs_invRho(DI), Y3, Y3
	VXORPS signMask<>(SB), Y3, Y3
	VANDPS Y7, Y3, Y3
	VXORPS Y5, Y5, Y5
	JMP magDone

magLinear:
	VMULPS coeffArgs_alpha(DI), Y0, Y1
	VMOVUPS coeffArgs_alpha(DI), Y2
	VXORPS Y3, Y3, Y3
	VMOVAPS Y0, Y4
	VXORPS Y5, Y5, Y5
	JMP magDone

magSeg:
	// r <= ρ (Y7): α·r, α, 0, r, 0; above: β·r + (α − β)·ρ, β, α − β, ρ, r − ρ
	VCMPPS $0x12, coeffArgs_rho(DI), Y0, Y7
	VMULPS coeffArgs_alpha(DI), Y0, Y6
	VMULPS coeffArgs_beta(DI), Y0, Y1
	VADDPS coeffArgs_segC(DI), Y1, Y1
	VBLENDVPS Y7, Y6, Y1, Y1
	VMOVUPS coeffArgs_beta(DI), Y2
	VBLENDVPS Y7, coeffArgs_alpha(DI), Y2, Y2
	VMOVUPS coeffArgs_alphaMinusBeta(DI), Y3
	VANDNPS Y3, Y7, Y3
	VMOVUPS coeffArgs_rho(DI), Y4
	VBLENDVPS Y7, Y0, Y4, Y4
	VSUBPS coeffArgs_rho(DI), Y0, Y5
	VANDNPS Y5, Y7, Y5

magDone:
	// gy (Y6), gg = gy·g (Y7); the channel sums; gc = gy·h·g' (Y1), gr = gg·∂h/∂r (Y2)
	VMOVUPS (DX)(AX*1), Y6
	VADDPS Y6, Y11, Y11
	VMULPS coeffArgs_tmpG(DI), Y6, Y7
	VFMADD231PS Y7, Y4, Y12
	VFMADD231PS Y7, Y3, Y13
	VFMADD231PS Y7, Y5, Y14
	VMULPS Y7, Y2, Y2
	VMULPS Y6, Y1, Y1
	VMULPS coeffArgs_tmpGp(DI), Y1, Y1
	// A_s = gc·(1/n_p)·(1/Nw)
	VMOVUPS (R11)(AX*1), Y8
	VMULPS Y8, Y1, Y3
	VMULPS coeffArgs_invNw(DI), Y3, Y3
	VMOVUPS Y3, (SI)(AX*1)
	// gcc = gc·c; ∂L/∂n = gr·(Nw or 1) − gcc/n_p, accumulated into an
	VMULPS coeffArgs_tmpC(DI), Y1, Y1
	VMULPS coeffArgs_rs(DI), Y2, Y4
	VFNMADD231PS Y1, Y8, Y4
	VADDPS (R12)(AX*1), Y4, Y4
	VMOVUPS Y4, (R12)(AX*1)
	// ∂L/∂Nw = (gr·n_p if weighted) − gcc/Nw
	VMULPS (R10)(AX*1), Y2, Y5
	VMULPS coeffArgs_wflag(DI), Y5, Y5
	VFNMADD231PS coeffArgs_invNw(DI), Y1, Y5
	VADDPS Y5, Y15, Y15

	ADDQ $32, AX
	SUBQ $8, CX
	JG loop

done:
	VMOVUPS Y11, coeffArgs_sums+0(DI)
	VMOVUPS Y12, coeffArgs_sums+32(DI)
	VMOVUPS Y13, coeffArgs_sums+64(DI)
	VMOVUPS Y14, coeffArgs_sums+96(DI)
	VMOVUPS Y15, coeffArgs_sums+128(DI)
	VZEROUPPER
	RET
