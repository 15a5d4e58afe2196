// Shared by the AVX-512 micro-kernels (kernel_avx512_amd64.s, kernel_wide_amd64.s): their
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
