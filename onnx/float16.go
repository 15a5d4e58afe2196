package onnx

import "math"

// Float16ToFloat32 returns the float32 value of the IEEE 754 half-precision
// number whose bits are h. The conversion is exact: every half is a float32.
// A NaN keeps its sign and payload (shifted into the top of the float32
// significand), as numpy does.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		// Subnormal half: mant·2⁻²⁴. Normalise it, since the value is a normal float32.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// Float32ToFloat16 returns the bits of the half-precision number nearest to f,
// rounding ties to even. Values at or beyond 65520 in magnitude become
// infinities; values below the smallest subnormal half (2⁻²⁴) round to a signed
// zero or to that subnormal. A NaN keeps its sign and the top of its payload;
// if that leaves the payload empty, the lowest payload bit is set so the
// result stays a NaN (numpy's rule).
func Float32ToFloat16(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int32(bits>>23) & 0xff
	mant := bits & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		payload := uint16(mant >> 13)
		if payload == 0 {
			payload = 1
		}
		return sign | 0x7c00 | payload
	}
	e := exp - 127 + 15 // the half's biased exponent
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		return sign | subnormalHalf(exp, mant)
	}
	// Normal half: drop 13 significand bits, rounding to nearest even. A carry
	// out of the significand correctly bumps the exponent (up to infinity).
	h := uint16(e)<<10 | uint16(mant>>13)
	rest := mant & 0x1fff
	if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
		h++
	}
	return sign | h
}

// subnormalHalf rounds the float32 with biased exponent exp and significand
// bits mant, whose magnitude is below the smallest normal half (2⁻¹⁴), to a
// half significand (a subnormal, or 0x400 = the smallest normal after a carry).
func subnormalHalf(exp int32, mant uint32) uint16 {
	// The value is m·2^(exp−150) with the implicit bit made explicit; as a
	// subnormal half it is (m >> shift)·2⁻²⁴ with shift = 126 − exp.
	shift := 126 - exp
	if shift > 24 { // below half the smallest subnormal (2⁻²⁵): rounds to zero
		return 0
	}
	m := mant | 0x800000
	h := m >> shift
	rest := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rest > half || rest == half && h&1 == 1 {
		h++
	}
	return uint16(h)
}
