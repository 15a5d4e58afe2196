//go:build !amd64 || purego

package conv

// archRowKernels is empty where no assembly kernel exists: the portable one is used.
var archRowKernels []*rowKernel

// evens16Asm stands in for the assembly evens16, which no kernel here has (rowKernel.evens16
// is false everywhere).
func evens16Asm(a *evensArgs) { evensGeneric(a) }

// dwAsm stands in for the assembly of the blocked depthwise path, which no kernel here has
// (rowKernel.blocked is false everywhere).
func dwAsm(a *dwArgs) { dwGeneric(a) }

// dwRowsAsm stands in for the assembly register-blocked depthwise kernel.
func dwRowsAsm(a *dwArgs) { dwGeneric(a) }

// dw3s1Kernel, dw3s2Kernel and dw5s2Kernel stand in for the assembly depthwise plane kernels
// (rowKernel.dwPlanes is false everywhere here).
func dw3s1Kernel(a *dwPlaneArgs) { dwPlaneGeneric(a) }
func dw3s2Kernel(a *dwPlaneArgs) { dwPlaneGeneric(a) }
func dw5s2Kernel(a *dwPlaneArgs) { dwPlaneGeneric(a) }

// winoInAsm, winoOutAsm and winoGradAsm stand in for the assembly Winograd transforms (rowKernel.winograd is
// false everywhere here).
func winoInAsm(a *winoInArgs)               { winoInGeneric(a) }
func winoOutAsm(a *winoOutArgs)             { winoOutGeneric(a) }
func winoGradAsm(a *winoGradArgs)           { winoGradGeneric(a) }
func winoNarrowAsm(a *winoNarrowArgs)       { winoNarrowGeneric(a) }
func winoNarrowOutAsm(a *winoNarrowOutArgs) { winoNarrowOutGeneric(a) }

// pool2s2Kernel stands in for the assembly 2×2 pooling plane kernel (rowKernel.pool2s2 is false
// everywhere here).
func pool2s2Kernel(a *pool2s2Args) { pool2s2Generic(a) }

// stemKernel1, stemKernel2 and stemKernel4 stand in for the assembly stem kernels
// (rowKernel.stem is false everywhere here).
func stemKernel1(a *stemArgs) { stemGeneric(a, 1) }
func stemKernel2(a *stemArgs) { stemGeneric(a, 2) }
func stemKernel4(a *stemArgs) { stemGeneric(a, 4) }

// packPhasedAsm stands in for the assembly phased packer (rowKernel.phased is false everywhere
// here).
func packPhasedAsm(a *phasedArgs) { packPhasedGeneric(a) }

// avg3x3Kernel stands in for the assembly 3×3 average-pool kernel (rowKernel.pool3x3 is false
// everywhere here).
func avg3x3Kernel(a *pool3x3Args) { avg3x3Generic(a) }

// pool3s2RectKernel stands in for the assembly rectangle kernel (rowKernel.pool3s2 is false
// everywhere here).
func pool3s2RectKernel(a *pool3s2RectArgs) { pool3s2RectGeneric(a) }

// max3x3Kernel stands in for the assembly 3×3 max-pool kernel (rowKernel.pool3x3 is false
// everywhere here).
func max3x3Kernel(a *pool3x3Args) { max3x3Generic(a) }
