//go:build amd64 && !purego

package decop

import "golang.org/x/sys/cpu"

// archKernels lists the assembly row kernels for amd64, slowest first.
var archKernels = []*rowKernel{
	{name: "avx2-fma", id: kernelAVX2, usable: func() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }},
	{name: "avx512", id: kernelAVX512, usable: func() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA }},
}

// blockAVX2 runs the AVX2 kernel on a block. In a row's last partial vector the kernel loads
// every column slice (masked), so the slices the selectors do not read are pointed at the
// block itself, which has enough values.
func blockAVX2(a *blockArgs) {
	if a.norm == nil {
		a.norm = a.c
	}
	if a.inv == nil {
		a.inv = a.c
	}
	if a.hpos == nil {
		a.hpos = a.c
	}
	blockAVX2Kernel(a)
}

// blockAVX2Kernel is the block kernel of blockArgs with AVX2 and FMA, eight values per step,
// every slice non-nil. Its Go equivalent is blockGeneric.
//
//go:noescape
func blockAVX2Kernel(a *blockArgs)

// normsAVX2 is the patch-norm kernel of normArgs for a.n a multiple of 4, four values per step
// with VSQRTPD and VDIVPD. It is equivalent to the loop in patchNorms.
//
//go:noescape
func normsAVX2(a *normArgs)

// blockTanhCosAVX512 is the block kernel of blockArgs for the tanh magnitude and the cosine
// angular with AVX-512: sixteen values per step, the last 1 to 15 of a row under a k-mask, with
// the formulas and coefficients of the AVX2 kernel (and of blockGeneric).
//
//go:noescape
func blockTanhCosAVX512(a *blockArgs)
