//go:build amd64 && !purego

package conv

import "golang.org/x/sys/cpu"

// archRowKernels lists the assembly row kernels for amd64, slowest first.
var archRowKernels = []*rowKernel{
	{name: "avx2-fma", taps: tapsAVX2, split2: split2AVX2, squares: squaresAVX2, sums: shiftedSumsAVX2, adds32: adds32AVX2,
		maxes32: maxes32AVX2, divs32: divs32AVX2, usable: func() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }},
	{name: "avx512", taps: tapsAVX512, split2: split2AVX512, squares: squaresAVX2, sums: shiftedSumsAVX2, adds32: adds32AVX2,
		maxes32: maxes32AVX2, divs32: divs32AVX2, packMasked: packMaskedAVX512, phased: true, pool3x3: true, evens16: true, blocked: true, dwPlanes: true, pool3s2: true, pool2s2: true, winograd: true, stem: true,
		usable: func() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasBMI2 }},
}

// tapsAVX2 is the row kernel of tapArgs with AVX2 and FMA. It walks each output row in blocks
// of 32 values (four ymm accumulators), then 8, then one masked block of the last 1 to 7, and
// for each block runs over all taps, so every output is loaded and stored once however many
// taps there are. Even and odd taps accumulate separately (halving the chain of dependent
// multiply-adds) and are added before the activation. It is equivalent, up to that order of
// summation, to
//
//	for r := range p.rows {
//		for i := range p.n {
//			d := r*p.dstStride + i
//			v := p.bias // or p.dst[d] with tapAccumulate
//			for t, o := range p.offs {
//				v = fma(p.w[t], p.src[o+r*p.srcStride+i], v)
//			}
//			p.dst[d] = min(max(v, p.lo), p.hi) // NaN stays NaN
//		}
//	}
//
//go:noescape
func tapsAVX2(p *tapArgs)

// tapsAVX512 is tapsAVX2 with zmm registers: blocks of 64 and 16 values, then one block of the
// last 1 to 15 under a k-mask (masked loads read nothing beyond the row). It is equivalent to
// tapsAVX2 with its summation order per lane.
//
//go:noescape
func tapsAVX512(p *tapArgs)

// packMaskedAVX512 packs 16-lane patch panel rows with masked loads; see maskedPackArgs.
//
//go:noescape
func packMaskedAVX512(p *maskedPackArgs)

// split2AVX2 is split2 (see splitArgs) with AVX2: per 16 values of a row, two shuffles pick the
// even and the odd lanes of each 128-bit half and a permute puts the halves in order; the rest
// of the row moves value by value. It is equivalent to split2Generic.
//
//go:noescape
func split2AVX2(p *splitArgs)

// split2AVX512 is split2 (see splitArgs) with AVX-512: per 32 values of a row, two two-table
// permutes pick the evens and the odds; the row's last 1 to 31 values go the same way under
// masks. It is equivalent to split2Generic.
//
//go:noescape
func split2AVX512(p *splitArgs)

// avg3x3Kernel is the 3×3 average-pool kernel of pool3x3Args with AVX-512: per 16 outputs of a
// row, up to nine zero-masked loads, eight additions and one division.
//
//go:noescape
func avg3x3Kernel(a *pool3x3Args)

// max3x3Kernel is the 3×3, unit-stride max pool over the planes of pool3x3Args with AVX-512:
// per 16 outputs of a row, up to nine loads merged into −Inf, their maxima, and NaN where any
// of them is NaN.
//
//go:noescape
func max3x3Kernel(a *pool3x3Args)

// packPhasedAsm is packPhased (see phasedArgs) with AVX-512: per panel row, one zero-masked
// load per segment, merged by OR, and one store.
//
//go:noescape
func packPhasedAsm(a *phasedArgs)

// evens16Asm is evens16 (see evensArgs) with AVX-512: per row, one load of 16 values and a
// masked load of the next 15, and one two-table permute that picks the even lanes.
//
//go:noescape
func evens16Asm(a *evensArgs)

// dwAsm is the blocked depthwise kernel of dwArgs with AVX-512: eight output pixels at a time
// (eight accumulators, four in rows of fewer than eight), one vector of 16 channels' weights
// per tap.
//
//go:noescape
func dwAsm(a *dwArgs)

// dwRowsAsm is dwAsm for kernels 3 or 5 wide at unit column stride, or 3 wide at stride 2
// (see dwArgs), on rows of at least eight pixels, with each kernel row's inputs and weights in
// registers.
//
//go:noescape
func dwRowsAsm(a *dwArgs)

// dw3s1Kernel is the 3×3, unit-stride depthwise plane kernel of dwPlaneArgs with AVX-512: per
// 16 outputs of a row, nine multiply-adds of input rows read at the taps' offsets under column
// masks (merge-masked: a tap over padding adds nothing), the weights in registers.
//
//go:noescape
func dw3s1Kernel(a *dwPlaneArgs)

// dw3s2Kernel is the 3×3, stride-2 depthwise plane kernel of dwPlaneArgs with AVX-512: per 16
// outputs of a row, each kernel row's 32 input columns split into even and odd ones by
// two-table permutes, the odd ones shifted a lane for the left taps, nine multiply-adds by
// weights held in registers; the last outputs of a row under masks.
//
//go:noescape
func dw3s2Kernel(a *dwPlaneArgs)

// dw5s2Kernel is dw3s2Kernel for 5×5 windows: per kernel row also the even columns shifted a
// lane either way (the right one from a third load), five multiply-adds by broadcast weights.
//
//go:noescape
func dw5s2Kernel(a *dwPlaneArgs)

// pool2s2Kernel is the 2×2, stride-2 pooling plane kernel of pool2s2Args with AVX-512: per 16
// outputs, the maxima (or sums) of the two rows' 32 columns, then of their even and odd columns
// (two-table permutes); the last outputs of a row under masks.
//
//go:noescape
func pool2s2Kernel(a *pool2s2Args)

// pool3s2RectKernel is the 3×3, stride-2 max-pool kernel of pool3s2RectArgs with AVX-512: per
// 16 outputs, the column maxima of the three rows over 34 columns, then the even, odd and
// next-even columns picked by two-table permutes and folded; the last outputs of a row under
// masks.
//
//go:noescape
func pool3s2RectKernel(a *pool3s2RectArgs)

// winoInAsm is the Winograd input transform of winoInArgs with AVX-512: per row of a segment,
// four two-table permutes pick the tiles' four columns, then 32 additions and subtractions
// transform 16 tiles at once. Its operations are winoInputTile's, in the same order.
//
//go:noescape
func winoInAsm(a *winoInArgs)

// winoOutAsm is the Winograd output transform of winoOutArgs with AVX-512: 16 tiles at once,
// their outputs interleaved into two rows of 32 columns by permutes and stored under masks
// (the last segment's columns, the second row). Its operations are winoOutputTile's and the
// epilogue's, in the same order.
//
//go:noescape
func winoOutAsm(a *winoOutArgs)

// winoGradAsm is the Winograd output-gradient transform of winoGradArgs with AVX-512, 16 tiles
// at once; its operations are winoGradTile's, in the same order.
//
//go:noescape
func winoGradAsm(a *winoGradArgs)

// stemKernel1, stemKernel2 and stemKernel4 are the stem tile kernel of stemArgs with AVX-512 for
// pixel steps 1, 2 and 4: sixteen accumulators (one per pixel, lanes the output channels), one
// weight vector per tap and each pixel's input value broadcast from memory by the multiply-add.
// Their result is stemGeneric's up to the fused multiply-adds' rounding.
//
//go:noescape
func stemKernel1(a *stemArgs)

//go:noescape
func stemKernel2(a *stemArgs)

//go:noescape
func stemKernel4(a *stemArgs)

// winoNarrowAsm is the narrow input transform of winoNarrowArgs with AVX-512: per row of the
// tiles, four half vectors each merged from two masked loads, then winoInAsm's permutes and
// transform. Its operations are winoInputTile's, in the same order.
//
//go:noescape
func winoNarrowAsm(a *winoNarrowArgs)

// winoNarrowOutAsm is the narrow output transform of winoNarrowOutArgs with AVX-512: winoOutAsm's
// transform, then per half of the interleaved outputs two masked stores (and residual loads)
// through the group's pieces. Its operations are winoOutputTile's and the epilogue's, in the
// same order.
//
//go:noescape
func winoNarrowOutAsm(a *winoNarrowOutArgs)
