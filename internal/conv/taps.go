package conv

import (
	"fmt"
	"os"
	"sync/atomic"
)

// The direct kernel spends its time computing output row pieces as weighted sums of input row
// pieces (taps). That loop is a row kernel, chosen once from a table that starts with the
// portable Go loop (taps_generic.go) and is extended by the architecture files (taps_amd64.go:
// AVX2+FMA).

// tapArgs is the whole contract between the direct kernel and a row kernel, passed by pointer
// so the assembly kernels take a single argument; its field offsets reach the assembly via
// go_asm.h. The kernel computes rows of n outputs each: for r < rows and i < n,
//
//	v = bias (or the old value with tapAccumulate) + Σ_t w[t]·src[offs[t] + r·srcStride + i]
//	dst[r·dstStride + i] = min(max(v, lo), hi)   (NaN stays NaN)
//
// The bounds express the activation: ±Inf for none, [0, +Inf] for ReLU, [Min, Max] for clip.
// len(w) >= len(offs); runTaps checks that every index is inside dst and src.
type tapArgs struct {
	dst, src             []float32
	offs                 []int
	w                    []float32
	n, rows              int
	dstStride, srcStride int
	bias                 float32
	flags                int
	lo, hi               float32
}

// tapAccumulate makes the row kernel start from dst instead of bias.
const tapAccumulate = 1

// splitArgs describes the stride-2 phase split of rows consecutive input rows of w values each:
// for r < rows and i < w,
//
//	even[r·dstStride + i/2] = src[r·w + i]   (i even)
//	odd[r·dstStride + i/2]  = src[r·w + i]   (i odd)
//
// runSplit2 checks that every index is inside the slices.
type splitArgs struct {
	even, odd, src     []float32
	w, rows, dstStride int
}

// runSplit2 checks the preconditions of splitArgs, then runs the kernel's split2.
func runSplit2(k *rowKernel, p *splitArgs) {
	if p.rows <= 0 || p.w <= 0 {
		return
	}
	last := (p.rows - 1) * p.dstStride
	if p.dstStride < (p.w+1)/2 || last+(p.w+1)/2 > len(p.even) || last+p.w/2 > len(p.odd) || p.rows*p.w > len(p.src) {
		panic(fmt.Sprintf("conv: splitting %d rows of %d values does not fit", p.rows, p.w))
	}
	k.split2(p)
}

// rowKernel is one entry of the dispatch table.
type rowKernel struct {
	name string
	taps func(p *tapArgs)
	// split2 splits rows for stride-2 phases; see splitArgs.
	split2 func(p *splitArgs)
	// squares sums squares over channels and sums adds shifted runs of a row, for the patch
	// norms (norms.go).
	squares func(p *squareArgs)
	sums    func(p *shiftArgs)
	// adds32 is adds for float32 values, for scattering patch-matrix gradients (patchrows.go).
	adds32 func(dst, src []float32, rows, cols, dstStride, srcStride int)
	// maxes32 folds src into dst by elementwise maximum over the first n values, n a multiple
	// of 8 (max pooling, pool.go).
	maxes32 func(dst, src []float32, n int)
	// divs32 divides the first n values of dst by d, n a multiple of 8 (average pooling).
	divs32 func(dst []float32, n int, d float32)
	// packMasked, if not nil, packs unit-stride patch panels with masked vector loads
	// (packer.go).
	packMasked func(p *maskedPackArgs)
	// phased says whether packPhasedAsm packs patch panels from a padded copy (see
	// phasedArgs, phased.go).
	phased bool
	// pool3x3 says whether avg3x3Kernel and max3x3Kernel run 3×3, unit-stride average and max
	// pooling over runs of planes (avgpool3.go).
	pool3x3 bool
	// evens16 says whether evens16Asm packs stride-2 patch rows of 16 lanes (see evensArgs,
	// packer.go); a flag rather than a function value, so that the arguments, passed by
	// pointer to a direct call, stay on the stack.
	evens16 bool
	// blocked says whether dwAsm runs the channel-blocked depthwise convolution
	// (depthwise.go).
	blocked bool
	// dwPlanes says whether the plane kernels run 3×3 and 5×5 depthwise convolutions of
	// stride 1 and 2 on their planes (depthwise_planes.go).
	dwPlanes bool
	// pool3s2 says whether pool3s2RectKernel runs 3×3, stride-2 max pooling (pool.go).
	pool3s2 bool
	// pool2s2 says whether pool2s2Kernel runs 2×2, stride-2 max and average pooling planes
	// (pool.go).
	pool2s2 bool
	// stem says whether the stemKernel functions run the stem algorithm's tiles (stem.go); it
	// also makes Choose pick it.
	stem bool
	// winograd says whether winoInAsm and winoOutAsm run the Winograd transforms
	// (winograd.go); it also makes Choose pick Winograd where it applies.
	winograd bool
	usable   func() bool
}

var genericRowKernel = &rowKernel{name: "generic", taps: tapsGeneric, split2: split2Generic, squares: squaresGeneric,
	sums: shiftedSumsGeneric, adds32: addsGeneric,
	maxes32: maxesGeneric, divs32: divsGeneric, usable: func() bool { return true }}

var activeRow atomic.Pointer[rowKernel]

func init() { activeRow.Store(defaultRowKernel(os.Getenv("DCNET_CONV"))) }

// defaultRowKernel picks the fastest usable kernel unless setting is "generic".
func defaultRowKernel(setting string) *rowKernel {
	best := genericRowKernel
	if setting == "generic" {
		return best
	}
	for _, k := range archRowKernels {
		if k.usable() {
			best = k
		}
	}
	return best
}

// runTaps checks the preconditions of tapArgs that an assembly kernel cannot, then runs it.
func runTaps(k *rowKernel, p *tapArgs) {
	if p.n <= 0 || p.rows <= 0 {
		return
	}
	if p.n > p.dstStride && p.rows > 1 || (p.rows-1)*p.dstStride+p.n > len(p.dst) {
		panic(fmt.Sprintf("conv: %d rows of %d outputs %d apart do not fit %d values", p.rows, p.n, p.dstStride, len(p.dst)))
	}
	if len(p.w) < len(p.offs) {
		panic(fmt.Sprintf("conv: %d tap weights for %d taps", len(p.w), len(p.offs)))
	}
	span := (p.rows-1)*p.srcStride + p.n
	for _, o := range p.offs {
		if o < 0 || p.srcStride < 0 || o+span > len(p.src) {
			panic(fmt.Sprintf("conv: tap at %d+%d outside a source of %d values", o, span, len(p.src)))
		}
	}
	k.taps(p)
}

// RowKernels lists the row kernels of the direct convolution this machine can run, the portable
// one first.
func RowKernels() []string {
	names := []string{genericRowKernel.name}
	for _, k := range archRowKernels {
		if k.usable() {
			names = append(names, k.name)
		}
	}
	return names
}

// UseRowKernel makes the named row kernel (one of RowKernels) the active one for the direct
// convolution and returns a function that restores the previous choice. It lets tests run every
// kernel on one machine; the environment variable DCNET_CONV=generic forces the portable one.
func UseRowKernel(name string) (restore func(), ok bool) {
	var found *rowKernel
	if name == genericRowKernel.name {
		found = genericRowKernel
	}
	for _, k := range archRowKernels {
		if k.name == name && k.usable() {
			found = k
		}
	}
	if found == nil {
		return nil, false
	}
	prev := activeRow.Swap(found)
	return func() { activeRow.Store(prev) }, true
}

// RowKernelName reports the active row kernel.
func RowKernelName() string { return activeRow.Load().name }
