package decop

import (
	"math"
	"testing"
)

// ulpDiff is |got − want| in units of the float32 spacing at want (want in float64).
func ulpDiff(got float32, want float64) float64 {
	w := float32(want)
	ulp := float64(math.Nextafter32(float32(math.Abs(float64(w))), float32(math.Inf(1))) - float32(math.Abs(float64(w))))
	if want == 0 {
		ulp = float64(math.SmallestNonzeroFloat32)
	}
	return math.Abs(float64(got)-want) / ulp
}

// sweep calls f on n points spread over [lo, hi] (linearly) and on the float32 values near
// the ends, and returns the largest error in ulps and where it occurred.
func sweep(lo, hi float64, n int, f func(x float32) (got float32, want float64)) (worst, at float64) {
	try := func(x float32) {
		got, want := f(x)
		if d := ulpDiff(got, want); d > worst || math.IsNaN(d) {
			worst, at = d, float64(x)
		}
	}
	for i := range n + 1 {
		try(float32(lo + (hi-lo)*float64(i)/float64(n)))
	}
	return worst, at
}

// logSweep is sweep over a logarithmic grid on [lo, hi], lo > 0.
func logSweep(lo, hi float64, n int, f func(x float32) (got float32, want float64)) (worst, at float64) {
	return sweep(math.Log(lo), math.Log(hi), n, func(x float32) (float32, float64) {
		return f(float32(math.Exp(float64(x))))
	})
}

func TestTanh32(t *testing.T) {
	f := func(x float32) (float32, float64) { return tanh32(x), math.Tanh(float64(x)) }
	for _, r := range [][2]float64{{-12, 12}, {-0.01, 0.01}} {
		if worst, at := sweep(r[0], r[1], 400000, f); worst > 6 {
			t.Errorf("tanh32 on [%v, %v]: %.2f ulps at %v", r[0], r[1], worst, at)
		}
	}
	if worst, at := logSweep(1e-38, 20, 200000, f); worst > 6 {
		t.Errorf("tanh32 on tiny to large: %.2f ulps at %v", worst, at)
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1))} {
		if got, want := tanh32(x), math.Tanh(float64(x)); ulpDiff(got, want) > 1 {
			t.Errorf("tanh32(%v) = %v, want %v", x, got, want)
		}
	}
}

func TestAsin32(t *testing.T) {
	f := func(x float32) (float32, float64) { return asin32(x), math.Asin(float64(x)) }
	if worst, at := sweep(0, 1, 1000000, f); worst > 3 {
		t.Errorf("asin32 on [0, 1]: %.2f ulps at %v", worst, at)
	}
	if worst, at := logSweep(1e-38, 1, 200000, f); worst > 3 {
		t.Errorf("asin32 on tiny to 1: %.2f ulps at %v", worst, at)
	}
	// Near 1 the float32 arguments are 6e-8 apart: check every one of the last few thousand.
	for x := float32(1); x > 0.9998; x = math.Nextafter32(x, 0) {
		if got, want := asin32(x), math.Asin(float64(x)); ulpDiff(got, want) > 3 {
			t.Fatalf("asin32(%v) = %v, want %v", x, got, want)
		}
	}
}

func TestLog1p32(t *testing.T) {
	f := func(x float32) (float32, float64) { return log1p32(x), math.Log1p(float64(x)) }
	if worst, at := sweep(0, 4, 400000, f); worst > 3.5 {
		t.Errorf("log1p32 on [0, 4]: %.2f ulps at %v", worst, at)
	}
	if worst, at := logSweep(1e-38, math.MaxFloat32, 400000, f); worst > 3.5 {
		t.Errorf("log1p32 on tiny to huge: %.2f ulps at %v", worst, at)
	}
	for _, x := range []float32{0, math.SmallestNonzeroFloat32, 1, math.MaxFloat32} {
		if got, want := log1p32(x), math.Log1p(float64(x)); ulpDiff(got, want) > 2 {
			t.Errorf("log1p32(%v) = %v, want %v", x, got, want)
		}
	}
}

// TestRowKernelFunctions measures the approximations as every row kernel evaluates them, in
// ulps, by choosing the row's constants so that y is the function itself: tanh(norm) (tanh, g
// = 1), log1p(norm) (log, g = 1) and asin(c) (sphere with the linear angular, s2 = 1).
func TestRowKernelFunctions(t *testing.T) {
	const n = 1 << 16
	grid := func(lo, hi float64, logScale bool) []float32 {
		v := make([]float32, n)
		for i := range v {
			f := float64(i) / (n - 1)
			if logScale {
				v[i] = float32(math.Exp(math.Log(lo) + f*(math.Log(hi)-math.Log(lo))))
			} else {
				v[i] = float32(lo + f*(hi-lo))
			}
		}
		return v
	}
	cases := []struct {
		name  string
		mag   Magnitude
		ang   int
		input []float32
		f     func(float64) float64
		ulps  float64
	}{
		{"tanh", Tanh, angOne, grid(0, 12, false), math.Tanh, 6},
		{"tanh tiny", Tanh, angOne, grid(1e-38, 1, true), math.Tanh, 6},
		{"log1p", Log, angOne, grid(0, 4, false), math.Log1p, 3.5},
		{"log1p wide", Log, angOne, grid(1e-38, 1e38, true), math.Log1p, 3.5},
		{"asin", Sphere, int(LinearAng), grid(0, 1, false), math.Asin, 3},
		{"asin tiny", Sphere, int(LinearAng), grid(1e-38, 1, true), math.Asin, 3},
	}
	forEachKernel(t, func(kernel string) {
		for _, c := range cases {
			a := rowArgs{y: make([]float32, n), n: n, mag: int(c.mag), ang: c.ang, invNw: 1, rs: 1, hs: 1, alpha: 1, s2: 1}
			if c.ang == angOne {
				a.norm = c.input
			} else {
				copy(a.y, c.input)
				a.inv = make([]float32, n)
				for i := range a.inv {
					a.inv[i] = 1
				}
			}
			finishRow(&a)
			var worst, at float64
			for i, x := range c.input {
				want := c.f(float64(x))
				if c.ang != angOne {
					want = math.Min(want, float64(asinMax))
				}
				if d := ulpDiff(a.y[i], want); d > worst || math.IsNaN(d) {
					worst, at = d, float64(x)
				}
			}
			if worst > c.ulps {
				t.Errorf("kernel %s %s: %.2f ulps at %v (bound %v)", kernel, c.name, worst, at, c.ulps)
			}
			t.Logf("kernel %s %s: largest error %.2f ulps", kernel, c.name, worst)
		}
	})
}
