//go:build !amd64 || purego

package conv

// archRowKernels is empty where no assembly kernel exists: the portable one is used.
var archRowKernels []*rowKernel

// evens16Asm stands in for the assembly evens16, which no kernel here has (rowKernel.evens16
// is false everywhere).
func evens16Asm(a *evensArgs) { evensGeneric(a) }
