//go:build !amd64 || purego

package conv

// archRowKernels is empty where no assembly kernel exists: the portable one is used.
var archRowKernels []*rowKernel
