//go:build amd64 && !purego

package runtime

import (
	"os"

	"golang.org/x/sys/cpu"
)

// sigmoid32AVX512 sets dst[i] = 1/(1 + e^−src[i]) for i < n (n a multiple of 16) in float32
// vector arithmetic: within 2 ulp of the float64 value rounded (checked by
// TestVectorSigmoidAccuracy), NaN for NaN, 0 and 1 at the ends.
//
//go:noescape
func sigmoid32AVX512(dst, src []float32, n int)

// erf32AVX512 sets dst[i] = erf(src[i]) for i < n (n a multiple of 16) in float32 vector
// arithmetic: a polynomial in x² below |x| = 1, Abramowitz and Stegun's 7.1.26 above (checked
// by TestVectorErfAccuracy), NaN for NaN, ±1 at ±Inf.
//
//go:noescape
func erf32AVX512(dst, src []float32, n int)

// hardSwish32AVX512 sets dst[i] = x·clamp((x+3)/6, 0, 1), x = src[i], for i < n (n a multiple
// of 16) in float32 arithmetic (checked by TestVectorHardSwishAccuracy).
//
//go:noescape
func hardSwish32AVX512(dst, src []float32, n int)

// affine32AVX512 sets dst[i] = min(max(a·src[i] + b, lo), hi) for i < n (n a multiple of 16),
// bit for bit as Go's float32 arithmetic and min/max give it (with fused, a·x + b rounded
// once), for any hi but −0.
//
//go:noescape
func affine32AVX512(dst, src []float32, n int, a, b, lo, hi float32, fused bool)

// add32AVX512, sub32AVX512, mul32AVX512 and div32AVX512 set dst[i] = a[i] op b[i] for i < n
// (n a multiple of 16), correctly rounded as Go's float32 arithmetic.
//
//go:noescape
func add32AVX512(dst, a, b []float32, n int)

//go:noescape
func sub32AVX512(dst, a, b []float32, n int)

//go:noescape
func mul32AVX512(dst, a, b []float32, n int)

//go:noescape
func div32AVX512(dst, a, b []float32, n int)

// divBy32AVX512 sets dst[i] = a[i]/y, and divInto32AVX512 dst[i] = x/b[i], for i < n (n a
// multiple of 16), correctly rounded.
//
//go:noescape
func divBy32AVX512(dst, a []float32, y float32, n int)

//go:noescape
func divInto32AVX512(dst, b []float32, x float32, n int)

// sum32AVX512 returns the sum of x[i] for i < n (n a multiple of 16), in float64 with four
// vector accumulators (a different order of summation than a loop, within float64 rounding).
//
//go:noescape
func sum32AVX512(x []float32, n int) float64

// sqDev32AVX512 returns Σ (x[i] − m)² for i < n (n a multiple of 16) in float64, with two
// vector accumulators (within float64 rounding of squaredDeviations64's loop).
//
//go:noescape
func sqDev32AVX512(x []float32, n int, m float64) float64

// dotCentered32AVX512 returns Σ dy[i] and Σ dy[i]·(x[i] − m) for i < n (n a multiple of 16) in
// float64, with two vector accumulators each (within float64 rounding of dotCentered64's loop).
//
//go:noescape
func dotCentered32AVX512(dy, x []float32, n int, m float64) (sdy, sdyx float64)

// maxPool2x2GradAVX512 is maxPool2x2Grad (see maxPool2x2GradArgs) with AVX-512: per 16
// windows, the four positions as the even and odd lanes of the two rows, the first maximum's
// position by compares, and the gradient added back in row order.
//
//go:noescape
func maxPool2x2GradAVX512(a *maxPool2x2GradArgs)

// reluGrad32AVX512 sets dx[i] = dy[i] where y[i] > 0 and +0 elsewhere (NaN included) for i < n
// (n a multiple of 16): the same bits as reluDerivative's loop.
//
//go:noescape
func reluGrad32AVX512(dx, dy, y []float32, n int)

func init() {
	if cpu.X86.HasAVX512F && os.Getenv("DCNET_VECMATH") != "generic" {
		reluGrad32Vec = reluGrad32AVX512
		affine32Vec = affine32AVX512
		binary32Vec = [numBinary32]func(dst, a, b []float32, n int){add32AVX512, sub32AVX512, mul32AVX512, div32AVX512}
		divBy32Vec, divInto32Vec = divBy32AVX512, divInto32AVX512
		sum32Vec = sum32AVX512
		sqDev32Vec, dotCentered32Vec = sqDev32AVX512, dotCentered32AVX512
		maxPool2x2GradVec = maxPool2x2GradAVX512
		sigmoid32Vec = sigmoid32AVX512
		erf32Vec = erf32AVX512
		hardSwish32Vec = hardSwish32AVX512
	}
}
