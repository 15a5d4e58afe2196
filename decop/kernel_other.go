//go:build !amd64 || purego

package decop

// archKernels lists no assembly row kernels on this platform (or with the purego tag).
var archKernels []*rowKernel

// blockAVX2 is never selected here; it exists so that finishBlock compiles everywhere.
func blockAVX2(a *blockArgs) { blockGeneric(a) }

// blockTanhCosAVX512 is never selected here; it exists so that finishBlock compiles everywhere.
func blockTanhCosAVX512(a *blockArgs) { blockGeneric(a) }

// normsAVX2 is never selected here; it exists so that patchNorms compiles everywhere.
func normsAVX2(a *normArgs) { a.n = 0 }
