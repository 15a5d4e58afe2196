//go:build amd64 && !purego

package conv

// squaresAVX2 is squaresGeneric (see squareArgs) with AVX2 and FMA: per 16 values of the plane
// (then per 4, then one by one), four ymm accumulators of four float64 each run over the
// channels, converting each channel's four float32 values with VCVTPS2PD and adding their
// squares with a fused multiply-add (the square of a float32 is exact in float64). The caller
// guarantees len(p.plane) >= p.n and len(p.x) >= (p.channels−1)·p.stride + p.n. It is
// equivalent to
//
//	for i := range p.n {
//		var s float64 // or p.plane[i] with p.accumulate
//		for c := range p.channels {
//			v := float64(p.x[c*p.stride+i])
//			s += v * v
//		}
//		p.plane[i] = s
//	}
//
//go:noescape
func squaresAVX2(p *squareArgs)

// shiftedSumsAVX2 is shiftedSumsGeneric (see shiftArgs) with AVX2: per 16 outputs (then 4,
// then one) a register sum starts from the first tap and adds the others in order, the generic
// loop's order, so the results are equal bit for bit. The caller (shiftedSums) guarantees that
// offs is not empty and that every index is inside the slices.
//
//go:noescape
func shiftedSumsAVX2(p *shiftArgs)

// adds32AVX2 is addsGeneric[float32] with AVX2: for r < rows and i < cols,
// dst[r·dstStride + i] += src[r·srcStride + i], 32 values per step, then 8, then one by one;
// every value is added once, so the result is the generic one bit for bit. The caller
// (addRows32) guarantees that every index is inside the slices.
//
//go:noescape
func adds32AVX2(dst, src []float32, rows, cols, dstStride, srcStride int)

// divs32AVX2 sets dst[i] /= d for i < n, n a multiple of 8, correctly rounded (see
// divsGeneric).
//
//go:noescape
func divs32AVX2(dst []float32, n int, d float32)

// maxes32AVX2 sets dst[i] = max(dst[i], src[i]) for i < n, n a multiple of 8, with NaN
// propagating from either side (see maxesGeneric).
//
//go:noescape
func maxes32AVX2(dst, src []float32, n int)
