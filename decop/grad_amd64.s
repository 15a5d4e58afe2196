//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"
#include "vecmath_amd64.h"

// The AVX2+FMA kernel of the backward pass's elementwise stage (see coeffArgs in grad_coeff.go
// and coeffBlockGeneric, which evaluates the same formulas with the same coefficients, from
// fastmath.go and grad_coeff.go, one value at a time).

// Constants of this file only; the shared ones are in vecmath_amd64.h.
VEC(four, $0x40800000)
VEC(minusTwo, $0xc0000000)
VEC(clampHi, $0x3f7fffef)
VEC(twoOverPi, $0x3f22f983)
VEC(log2e, $0x3fb8aa3b)
VEC(minus87, $0xc2ae0000)
VEC(exp3c, $0x3e2aaaab)
VEC(exp4c, $0x3d2aaaab)
VEC(exp5c, $0x3c088889)
VEC(exp6c, $0x3ab60b61)
VEC(exp7c, $0x39500d01)

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
