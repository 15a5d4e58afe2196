package onnx

import (
	"compress/gzip"
	"encoding/binary"
	"io"
	"math"
	"os"
	"sort"
	"testing"
)

// numpyFloat16 holds numpy's conversions from testdata/float16.bin.gz (see
// gen_fixtures.py for the layout).
type numpyFloat16 struct {
	halfToFloat []uint32 // float32 bits of float16 bit pattern i
	inputs      []uint32 // float32 bits
	outputs     []uint16 // float16 bits of inputs[i]
}

func loadNumpyFloat16(t *testing.T) numpyFloat16 {
	t.Helper()
	f, err := os.Open("testdata/float16.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var fx numpyFloat16
	fx.halfToFloat = undelta32(b[:4*65536])
	b = b[4*65536:]
	n := int(le.Uint32(b))
	b = b[4:]
	if len(b) != 6*n {
		t.Fatalf("float16.bin.gz: %d bytes for %d probes", len(b), n)
	}
	fx.inputs = undelta32(b[:4*n])
	prev := uint16(0)
	for i := 0; i < n; i++ {
		prev += le.Uint16(b[4*n+2*i:])
		fx.outputs = append(fx.outputs, prev)
	}
	return fx
}

// undelta32 decodes little-endian uint32 differences into values.
func undelta32(b []byte) []uint32 {
	out := make([]uint32, len(b)/4)
	prev := uint32(0)
	for i := range out {
		prev += binary.LittleEndian.Uint32(b[4*i:])
		out[i] = prev
	}
	return out
}

// halfValue is the exact value of half bits h, from the IEEE 754 definition in
// float64 arithmetic (NaN for NaN patterns).
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, mant := int(h>>10)&0x1f, float64(h&0x3ff)
	switch {
	case exp == 0x1f && mant == 0:
		return math.Inf(int(sign))
	case exp == 0x1f:
		return math.NaN()
	case exp == 0:
		return sign * math.Ldexp(mant, -24)
	}
	return sign * math.Ldexp(1024+mant, exp-25)
}

func TestFloat16ToFloat32AllPatterns(t *testing.T) {
	fx := loadNumpyFloat16(t)
	for i := 0; i < 65536; i++ {
		h := uint16(i)
		got := Float16ToFloat32(h)
		if bits := math.Float32bits(got); bits != fx.halfToFloat[i] {
			t.Errorf("Float16ToFloat32(%#04x) = %#08x, numpy %#08x", h, bits, fx.halfToFloat[i])
		}
		want := halfValue(h)
		if math.IsNaN(want) != math.IsNaN(float64(got)) || !math.IsNaN(want) && float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Errorf("Float16ToFloat32(%#04x) = %v, IEEE value %v", h, got, want)
		}
	}
}

func TestFloat32ToFloat16Numpy(t *testing.T) {
	fx := loadNumpyFloat16(t)
	for i, in := range fx.inputs {
		f := math.Float32frombits(in)
		if got := Float32ToFloat16(f); got != fx.outputs[i] {
			t.Errorf("Float32ToFloat16(%v = %#08x) = %#04x, numpy %#04x", f, in, got, fx.outputs[i])
		}
	}
	t.Logf("%d float32 probes (every half, midpoints, ±1 ulp around them, NaNs) match numpy", len(fx.inputs))
}

// nearestHalf is a reference float32→float16 conversion in float64 arithmetic:
// it searches the sorted finite non-negative halves for the nearest one, ties
// to the even bit pattern, treating 65536 (just past the largest half) as the
// rounding target that means infinity.
func nearestHalf(f float32, halves []float64) uint16 {
	x := float64(f)
	sign := uint16(0)
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	if math.IsNaN(x) {
		panic("nearestHalf: NaN")
	}
	i := sort.SearchFloat64s(halves, x) // halves[i-1] < x <= halves[i]
	if i < len(halves) && halves[i] == x {
		return sign | uint16(i)
	}
	lo, hi := uint16(i-1), uint16(i) // bit patterns; hi == 0x7c00 is infinity
	var loV, hiV float64 = halves[i-1], 65536
	if i < len(halves) {
		hiV = halves[i]
	}
	switch {
	case x-loV < hiV-x:
		return sign | lo
	case x-loV > hiV-x:
		return sign | hi
	case lo%2 == 0:
		return sign | lo
	}
	return sign | hi
}

// TestFloat32ToFloat16Sweep compares with the float64 reference on a strided
// sweep over all float32 bit patterns (about a million values), which visits
// every exponent with varied significands.
func TestFloat32ToFloat16Sweep(t *testing.T) {
	halves := make([]float64, 0x7c00)
	for h := range halves {
		halves[h] = halfValue(uint16(h))
	}
	const stride = 4093 // prime, so low significand bits vary too
	checked := 0
	for b := uint64(0); b < 1<<32; b += stride {
		f := math.Float32frombits(uint32(b))
		if f != f {
			continue // NaNs are covered by the numpy probes
		}
		want := uint16(0x7c00) | uint16(b>>16)&0x8000
		if !math.IsInf(float64(f), 0) {
			want = nearestHalf(f, halves)
		}
		if got := Float32ToFloat16(f); got != want {
			t.Fatalf("Float32ToFloat16(%v = %#08x) = %#04x, want %#04x", f, uint32(b), got, want)
		}
		checked++
	}
	t.Logf("%d float32 values match the float64 reference", checked)
}
