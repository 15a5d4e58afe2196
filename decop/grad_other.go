//go:build !amd64 || purego

package decop

// coeffBlocksAVX2 is never selected here (the AVX2 kernel is not among Kernels); it exists so
// that coeffRow compiles everywhere.
func coeffBlocksAVX2(a *coeffArgs) { panic("decop: coeffBlocksAVX2 without amd64") }
