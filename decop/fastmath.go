package decop

import "math"

// Float32 approximations of the transcendental functions the epilogue needs, accurate to a few
// float32 ulps and built from multiplies, adds, one division and (asin) one square root, with
// no data-dependent branches, so that the assembly kernels evaluate the same formulas on eight
// lanes at once. The coefficients are this package's own fits (a Lawson-reweighted least-squares
// approximation of the minimax error, in float64, rounded to float32); fastmath_test.go measures
// the errors against package math.

// tanhClamp is where float32 tanh reaches 1: tanh(9) = 1 − 3.0e-8 rounds to 1.
const tanhClamp = 9

// tanh(x) ≈ x·P(x²)/Q(x²) on [0, 9], relative error 2e-8 in exact arithmetic. (The
// coefficients are float32 values, so the assembly's float32 constants are the same numbers.)
const (
	tanhP1 = 0.13381008803844452
	tanhP2 = 0.0034955653827637434
	tanhP3 = 2.0608616978279315e-05
	tanhP4 = 1.3353870897958586e-08
	tanhQ1 = 0.4671432375907898
	tanhQ2 = 0.025876902043819427
	tanhQ3 = 0.0003285593702457845
	tanhQ4 = 7.77626382841845e-07
)

// tanh32 returns tanh(x) in float32, within 1.3 ulps (an exhaustive scan of [0, 12]). The
// rational function is evaluated in float64 here, unlike in the assembly kernels (float32
// with fused multiply-adds, 5.4 ulps at worst): a scalar float64 operation costs the same as
// a float32 one, and the float32 evaluation without fused multiply-adds would reach 6.1 ulps.
func tanh32(x float32) float32 {
	x = min(max(x, -tanhClamp), tanhClamp)
	xx := float64(x)
	z := xx * xx
	p := (((tanhP4*z+tanhP3)*z+tanhP2)*z+tanhP1)*z + 1
	q := (((tanhQ4*z+tanhQ3)*z+tanhQ2)*z+tanhQ1)*z + 1
	return float32(xx * p / q)
}

// asin(t) ≈ t + t·z·A(z), z = t², on [0, 1/2], relative error 5e-9 in exact arithmetic. Beyond
// 1/2 the identity asin(t) = π/2 − 2·asin(sqrt((1 − t)/2)) brings the argument back.
const (
	asinA0 = 0.16666752099990845
	asinA1 = 0.07495297491550446
	asinA2 = 0.04547037556767464
	asinA3 = 0.024179520085453987
	asinA4 = 0.04216630756855011
)

// π/2 as a float32 plus the remainder, so that π/2 − v keeps float32 accuracy.
const (
	halfPiHi = 1.5707963705062866
	halfPiLo = -4.371139006309477e-08
)

// asin32 returns asin(t) for t in [0, 1] in float32.
func asin32(t float32) float32 {
	big := t > 0.5
	z := t * t
	if big {
		z = (1 - t) * 0.5
		t = float32(math.Sqrt(float64(z)))
	}
	u := t + t*z*((((asinA4*z+asinA3)*z+asinA2)*z+asinA1)*z+asinA0)
	if big {
		return halfPiHi - (2*u - halfPiLo)
	}
	return u
}

// ln 2 split so that k·ln2Hi is exact for the exponents of float32 (ln2Hi has 16 significant
// bits).
const (
	ln2Hi = 0.693145751953125
	ln2Lo = 1.428606765330187e-06
)

// log1p32 returns ln(1 + r) for finite r >= 0 in float32. u = 1 + r is split as
// 2^k·m with m in [√2/2, √2); ln m = 2·atanh(s) with s = (m − 1)/(m + 1), |s| <= 0.172, is the
// odd series 2s + 2s³/3 + ... (truncated after s⁹: relative error 2e-9); the rounding of
// 1 + r is corrected to first order by (r − (u − 1))/u.
func log1p32(r float32) float32 {
	u := 1 + r
	bits := math.Float32bits(u) + (0x3f800000 - 0x3f3504f3)
	k := float32(int32(bits>>23) - 127)
	m := math.Float32frombits(bits&0x007fffff + 0x3f3504f3)
	corr := (r - (u - 1)) / u
	f := m - 1
	s := f / (2 + f)
	w := s * s
	lnm := s * (2 + w*(2.0/3+w*(2.0/5+w*(2.0/7+w*(2.0/9)))))
	return k*ln2Hi + (lnm + (corr + k*ln2Lo))
}
