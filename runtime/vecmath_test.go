package runtime

import (
	"github.com/dcnet-go/dcnet/internal/conv"
	"math"
	"math/rand/v2"
	"testing"
)

// ulpDiff is the distance in float32 units in the last place between a and b (0 for equal
// values, including two NaNs; huge for NaN against a number).
func ulpDiff(a, b float32) float64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.Inf(1)
	}
	ia, ib := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if ia < 0x80000000 != (ib < 0x80000000) {
		return math.Abs(float64(a)) + math.Abs(float64(b)) // signs differ: only ±0 is close
	}
	return math.Abs(float64(ia - ib))
}

// TestVectorSigmoidAccuracy compares the float32 sigmoid loop (the vector kernel where the CPU
// has one) with the float64 function rounded once: within 4 ulp where the result is a normal
// float32, within 1e-38 below that, exact at the ends, NaN for NaN.
func TestVectorSigmoidAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 87, -87, 88.7, -88.7, 89, -89, 100, -100, 104, -104,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32}
	x := make([]float32, 0, 4096+len(special))
	x = append(x, special...)
	for len(x) < cap(x) {
		x = append(x, float32(rng.NormFloat64()*float64([]float32{0.5, 4, 30}[rng.IntN(3)])))
	}
	saved := sigmoid32Vec
	defer func() { sigmoid32Vec = saved }()
	for _, vec := range []func(dst, src []float32, n int){saved, nil} {
		sigmoid32Vec = vec
		checkSigmoid(t, x)
	}
}

// checkSigmoid runs sigmoidLoop (with the kernel sigmoid32Vec holds) over x.
func checkSigmoid(t *testing.T, x []float32) {
	y := make([]float32, len(x))
	sigmoidLoop(y, x)
	worst := 0.0
	for i, v := range x {
		want := float32(sigmoid64(float64(v)))
		if v < -104 && y[i] != 0 || v > 104 && y[i] != 1 {
			t.Fatalf("sigmoid(%v) = %v, want exactly %v", v, y[i], want)
		}
		d := ulpDiff(y[i], want)
		if math.Abs(float64(want)) < 1.2e-38 && math.Abs(float64(y[i]-want)) <= 1e-38 {
			continue
		}
		if d > 4 {
			t.Fatalf("sigmoid(%v) = %v, want %v (%v ulp)", v, y[i], want, d)
		}
		worst = max(worst, d)
	}
	t.Logf("sigmoid: worst %v ulp over %d values (vector kernel: %v)", worst, len(x), sigmoid32Vec != nil)
}

// TestVectorLoopsIgnoreChunks runs the float32 loops built on vectorPrefix (sigmoid, HardSwish,
// erf) over a slice whole and cut into random pieces: the results agree bit for bit, since every
// value goes through the vector kernel wherever it lies (a tail shorter than a vector through a
// padded one), so that neither the thread count nor a convolution's fused tail changes a bit.
func TestVectorLoopsIgnoreChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 1000)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 6)
	}
	loops := map[string]func(d, s []float32){"sigmoid": sigmoidLoop[float32], "hardswish": hardSwishLoop[float32], "erf": erfLoop[float32]}
	for name, loop := range loops {
		whole := make([]float32, len(x))
		loop(whole, x)
		pieces := make([]float32, len(x))
		for lo := 0; lo < len(x); {
			hi := min(len(x), lo+1+rng.IntN(40))
			loop(pieces[lo:hi], x[lo:hi])
			lo = hi
		}
		for i := range x {
			if math.Float32bits(whole[i]) != math.Float32bits(pieces[i]) {
				t.Fatalf("%s(%v): %v whole, %v in pieces", name, x[i], whole[i], pieces[i])
			}
		}
	}
}

// TestVectorErfAccuracy compares the float32 error function (the vector kernel where the CPU has
// one, then the portable loop) with float64 math.Erf rounded once: within 4 ulp for |x| < 1,
// within 4e-7 absolute above (the kernel's Abramowitz–Stegun branch, erf there being ≥ 0.84),
// ±1 at ±Inf, NaN for NaN.
func TestVectorErfAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-5, 0.999999, 1, -1, 3.9, 4, 10, -10,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32}
	x := append([]float32{}, special...)
	for len(x) < 4096 {
		x = append(x, float32(rng.NormFloat64()*float64([]float32{0.3, 1.5, 4}[rng.IntN(3)])))
	}
	saved := erf32Vec
	defer func() { erf32Vec = saved }()
	for _, vec := range []func(dst, src []float32, n int){saved, nil} {
		erf32Vec = vec
		y := make([]float32, len(x))
		erfLoop(y, x)
		worstULP, worstAbs := 0.0, 0.0
		for i, v := range x {
			want := float32(math.Erf(float64(v)))
			if math.Abs(float64(v)) < 1 {
				d := ulpDiff(y[i], want)
				if d > 4 {
					t.Fatalf("erf(%v) = %v, want %v (%v ulp)", v, y[i], want, d)
				}
				worstULP = max(worstULP, d)
				continue
			}
			d := math.Abs(float64(y[i]) - float64(want))
			if d > 4e-7 || (v != v) != (y[i] != y[i]) {
				t.Fatalf("erf(%v) = %v, want %v (|diff| %.3g)", v, y[i], want, d)
			}
			if d == d {
				worstAbs = max(worstAbs, d)
			}
		}
		t.Logf("erf (vector kernel: %v): worst %v ulp below |x| = 1, %.2g absolute above", vec != nil, worstULP, worstAbs)
	}
}

// TestVectorHardSwishAccuracy compares the float32 HardSwish loop (the vector kernel where the CPU
// has one, then the portable loop) with the float64 function rounded once: within 4 ulp, zeros
// with the same sign (+0 where the factor clamps to 0, −Inf included), NaN for NaN.
func TestVectorHardSwishAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	special := []float32{0, float32(math.Copysign(0, -1)), -3, 3, -2.9999998, -3.0000002, 2.9999998, 1e-30, -1e-30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32}
	x := append([]float32{}, special...)
	for len(x) < 4096 {
		x = append(x, float32(rng.NormFloat64()*float64([]float32{0.5, 3, 20}[rng.IntN(3)])))
	}
	saved := hardSwish32Vec
	defer func() { hardSwish32Vec = saved }()
	for _, vec := range []func(dst, src []float32, n int){saved, nil} {
		hardSwish32Vec = vec
		y := make([]float32, len(x))
		hardSwishLoop(y, x)
		worst := 0.0
		for i, v := range x {
			want := float32(hardSwish64(float64(v)))
			d := ulpDiff(y[i], want)
			if want == 0 {
				if math.Float32bits(y[i]) != math.Float32bits(want) {
					t.Fatalf("hardswish(%v) = %v, want %v (sign of zero included)", v, y[i], want)
				}
				continue
			}
			if d > 4 {
				t.Fatalf("hardswish(%v) = %v, want %v (%v ulp)", v, y[i], want, d)
			}
			worst = max(worst, d)
		}
		t.Logf("hardswish (vector kernel: %v): worst %v ulp", vec != nil, worst)
	}
}

// TestVectorReluClip checks that Relu and Clip on float32 (the vector kernel where the CPU has
// one) give Go's max and min bit for bit, zero signs and NaN included, for bounds of either
// sign, zero bounds and crossed bounds.
func TestVectorReluClip(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	special := []float32{0, negZero, 1, -1, 5, -5, 6, 7, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40, -1e-40}
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 0, 100)
	for len(x) < cap(x) {
		x = append(x, special[rng.IntN(len(special))])
	}
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b }
	got := make([]float32, len(x))
	reluLoop(got, x)
	for i, v := range x {
		if want := max(v, 0); !same(got[i], want) {
			t.Fatalf("relu(%v) = %v, want %v", v, got[i], want)
		}
	}
	for _, b := range [][2]float32{{0, 6}, {negZero, 6}, {-1, 1}, {-1, 0}, {1, -1}, {0.5, 0.5}, {-2, negZero}} {
		clipLoop(got, x, b[0], b[1])
		for i, v := range x {
			if want := min(max(v, b[0]), b[1]); !same(got[i], want) {
				t.Fatalf("clip(%v, %v, %v) = %v, want %v", v, b[0], b[1], got[i], want)
			}
		}
	}
}

// TestVectorArithmeticAndSum checks the float32 add, subtract, multiply and divide loops
// (vector kernels where the CPU has them) against Go's arithmetic bit for bit in every step
// mode, zero signs, infinities and NaN included, and the float64 sum of float32 values against
// an in-order sum, for every length up to three vectors and a long one.
func TestVectorArithmeticAndSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	negZero := float32(math.Copysign(0, -1))
	special := []float32{0, negZero, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30, 3e38, 1e-45}
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b }
	ops := []struct {
		name string
		loop binLoop[float32, float32, float32]
		f    func(x, y float32) float32
	}{
		{"add", addLoop[float32], func(x, y float32) float32 { return x + y }},
		{"sub", subLoop[float32], func(x, y float32) float32 { return x - y }},
		{"mul", mulLoop[float32], func(x, y float32) float32 { return x * y }},
		{"div", divLoop[float32], func(x, y float32) float32 { return x / y }},
	}
	lengths := []int{1000}
	for i := range 49 {
		lengths = append(lengths, i)
	}
	for _, n := range lengths {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			if rng.IntN(6) == 0 {
				a[i] = special[rng.IntN(len(special))]
			}
			if rng.IntN(6) == 0 {
				b[i] = special[rng.IntN(len(special))]
			}
		}
		d := make([]float32, n)
		for _, op := range ops {
			for _, m := range []stepMode{stepVV, stepVS, stepSV} {
				if n == 0 && m != stepVV {
					continue
				}
				op.loop(d, a, b, m)
				for i := range d {
					x, y := a[i], b[i]
					switch m {
					case stepVS:
						y = b[0]
					case stepSV:
						x = a[0]
					}
					if want := op.f(x, y); !same(d[i], want) {
						t.Fatalf("%s n %d mode %d: d[%d] = %v, want %v (%v, %v)", op.name, n, m, i, d[i], want, x, y)
					}
				}
			}
		}
		var want, scale float64
		for _, v := range b {
			if v == v && !math.IsInf(float64(v), 0) {
				want += float64(v)
				scale += math.Abs(float64(v))
			}
		}
		clean := make([]float32, 0, n)
		for _, v := range b {
			if v == v && !math.IsInf(float64(v), 0) {
				clean = append(clean, v)
			}
		}
		if got := sumFloat64(clean); math.Abs(got-want) > 1e-14*scale {
			t.Fatalf("n %d: sum %v, want %v", n, got, want)
		}
	}
}

// TestVectorHardSigmoidAccuracy compares float32 HardSigmoid (the vector kernel where the CPU
// has one) with the float64 formula rounded once: within 1 ulp, exactly 0 and 1 where the
// formula clamps, NaN for NaN.
func TestVectorHardSigmoidAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	x := []float32{0, float32(math.Copysign(0, -1)), -3, 3, -2.5, 2.5, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for len(x) < 4096 {
		x = append(x, float32(rng.NormFloat64()*4))
	}
	for _, ab := range [][2]float64{{0.2, 0.5}, {1.0 / 6, 0.5}, {float64(float32(1.0 / 6)), 0.5}} {
		got := make([]float32, len(x))
		// The kernel receives the float32 attributes widened, as the activation passes them.
		hardSigmoidLoop(got, x, float64(float32(ab[0])), float64(float32(ab[1])))
		for i, v := range x {
			want := float32(min(max(float64(float32(ab[0]))*float64(v)+float64(float32(ab[1])), 0), 1))
			if d := ulpDiff(got[i], want); d > 1 || (want == 0 || want == 1) && got[i] != want {
				t.Fatalf("alpha %v beta %v: hardsigmoid(%v) = %v, want %v (%v ulp)", ab[0], ab[1], v, got[i], want, d)
			}
		}
	}
}

// TestVectorReluDerivative checks reluDerivative (the vector kernel where the CPU has one, then
// the loop for the tail) bit for bit against the definition: dy where y > 0, +0 elsewhere, NaN
// and both zeros of y included, for every length up to four blocks and a few more.
func TestVectorReluDerivative(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)),
		float32(math.Inf(-1)), 1e-45, -1e-45, 1, -1}
	for n := range 70 {
		y, dy := make([]float32, n), make([]float32, n)
		for i := range y {
			y[i] = float32(rng.NormFloat64())
			if rng.IntN(4) == 0 {
				y[i] = special[rng.IntN(len(special))]
			}
			dy[i] = float32(rng.NormFloat64())
			if rng.IntN(6) == 0 {
				dy[i] = special[rng.IntN(len(special))]
			}
		}
		dx := make([]float32, n+1)
		dx[n] = 7
		reluDerivative(dx[:n], dy, y)
		for i := range n {
			want := float32(0)
			if y[i] > 0 {
				want = dy[i]
			}
			if math.Float32bits(dx[i]) != math.Float32bits(want) {
				t.Fatalf("n = %d: dx[%d] = %v (y %v, dy %v), want %v", n, i, dx[i], y[i], dy[i], want)
			}
		}
		if dx[n] != 7 {
			t.Fatalf("n = %d: wrote past dx", n)
		}
	}
}

// TestVectorBatchNormSums checks the float64 sums of batch normalisation's statistics (sum64,
// squaredDeviations64, dotCentered64, vectorised where the CPU allows) against plain float64
// loops, for lengths around the 16-value blocks.
func TestVectorBatchNormSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	close := func(got, want float64) bool { return math.Abs(got-want) <= 1e-12*(1+math.Abs(want)) }
	for n := 0; n < 100; n++ {
		x, dy := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], dy[i] = float32(rng.NormFloat64()*3+1), float32(rng.NormFloat64())
		}
		m := rng.NormFloat64()
		var s, sq, sdy, sdyx float64
		for i := range x {
			s += float64(x[i])
			sq += (float64(x[i]) - m) * (float64(x[i]) - m)
			sdy += float64(dy[i])
			sdyx += float64(dy[i]) * (float64(x[i]) - m)
		}
		gotDy, gotDyx := dotCentered64(dy, x, m)
		if got := sum64(x); !close(got, s) {
			t.Fatalf("n=%d: sum64 = %v, want %v", n, got, s)
		}
		if got := squaredDeviations64(x, m); !close(got, sq) {
			t.Fatalf("n=%d: squaredDeviations64 = %v, want %v", n, got, sq)
		}
		if !close(gotDy, sdy) || !close(gotDyx, sdyx) {
			t.Fatalf("n=%d: dotCentered64 = %v, %v, want %v, %v", n, gotDy, gotDyx, sdy, sdyx)
		}
	}
}

// TestVectorMaxPool2x2Grad checks the vector 2×2 max-pool gradient against the scalar
// maxPlane2x2 bit for bit, on planes from 2×2 to 40×40 (odd sizes leave a row and a column out
// of every window), with ties (values drawn from a few levels) and NaNs.
func TestVectorMaxPool2x2Grad(t *testing.T) {
	if maxPool2x2GradVec == nil {
		t.Skip("no vector kernel on this CPU")
	}
	rng := rand.New(rand.NewPCG(63, 64))
	for h := 2; h <= 40; h += 1 + rng.IntN(5) {
		for w := 2; w <= 40; w += 1 + rng.IntN(5) {
			planes := 1 + rng.IntN(3)
			win := []conv.Window{{In: h, K: 2, Stride: 2, Dilation: 1}, {In: w, K: 2, Stride: 2, Dilation: 1}}
			s := newPoolSpans(conv.NewPoolGeometry(win))
			if !s.pairs {
				t.Fatalf("%d×%d: not a pairs geometry", h, w)
			}
			oh, ow := len(s.spans[1]), len(s.spans[2])
			x := make([]float32, planes*h*w)
			for i := range x {
				x[i] = float32(rng.IntN(4)) - 1.5
				if rng.IntN(50) == 0 {
					x[i] = float32(math.NaN())
				}
			}
			dy := make([]float32, planes*oh*ow)
			for i := range dy {
				dy[i] = float32(rng.NormFloat64())
			}
			got, want := make([]float32, len(x)+16), make([]float32, len(x))
			for p := range planes {
				s.maxPlane2x2(x[p*h*w:(p+1)*h*w], dy[p*oh*ow:(p+1)*oh*ow], want[p*h*w:(p+1)*h*w])
			}
			maxPool2x2GradPlanes(s, x, dy, got[:len(x)], 0, planes)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%d×%d, %d planes: dx[%d] = %v, want %v", h, w, planes, i, got[i], want[i])
				}
			}
			for i, v := range got[len(x):] {
				if v != 0 {
					t.Fatalf("%d×%d: wrote past dx at %d", h, w, i)
				}
			}
		}
	}
}
