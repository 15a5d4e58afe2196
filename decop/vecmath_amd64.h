// Shared by the decoupled kernels' assembly (kernel_amd64.s, grad_amd64.s): the VEC macro and
// the constants both use, each a file-local (<>) symbol of the including file. The polynomial
// coefficients are those of fastmath.go.

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
VEC(absMask, $0x7fffffff)
VEC(signMask, $0x80000000)
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

// TANH sets X = tanh(X) for X >= 0 (the rational function of tanh32, in float32 with fused
// multiply-adds) using the temporaries Z, P and Q. An exhaustive scan of [0, 12] finds 5.35
// ulps at worst, near 7, where tanh is within 2e-6 of 1. (A reciprocal estimate refined by a
// Newton step instead of VDIVPS is both slower here, the multiply-add units being the
// bottleneck, and less accurate: 6.35 ulps.)
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
