// Shared by the AVX-512 micro-kernels (kernel_avx512_amd64.s, kernel_wide_amd64.s), whose
// sixteen accumulators are Z0..Z15.

// ZALL(op, v) computes Zr = op(v, Zr) for each of the sixteen accumulators Z0..Z15, Zr as the
// second source so a NaN survives.
#define ZALL(op, v) \
	op Z0, v, Z0; \
	op Z1, v, Z1; \
	op Z2, v, Z2; \
	op Z3, v, Z3; \
	op Z4, v, Z4; \
	op Z5, v, Z5; \
	op Z6, v, Z6; \
	op Z7, v, Z7; \
	op Z8, v, Z8; \
	op Z9, v, Z9; \
	op Z10, v, Z10; \
	op Z11, v, Z11; \
	op Z12, v, Z12; \
	op Z13, v, Z13; \
	op Z14, v, Z14; \
	op Z15, v, Z15

// ZZERO clears the sixteen accumulators Z0..Z15.
#define ZZERO \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15
