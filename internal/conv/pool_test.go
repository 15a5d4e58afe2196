package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// poolProblem is one pooling problem over planes of rank 1 to 3.
type poolProblem struct {
	win    []Window
	planes int
	x      []float64
}

func randomWindow(rng *rand.Rand) Window {
	for {
		w := Window{In: 1 + rng.IntN(12), K: 1 + rng.IntN(4), Stride: 1 + rng.IntN(3), Dilation: 1 + rng.IntN(2)}
		w.PadBegin, w.PadEnd = rng.IntN(w.K), rng.IntN(w.K)
		w.Ceil = rng.IntN(2) == 0
		if w.Check() == nil {
			return w
		}
	}
}

// refOut is the number of outputs along one axis, from the definition: floor or ceil of
// (padded length − window span)/stride + 1, where in ceil mode a window must start before the
// end padding.
func refOut(w Window) int {
	span := float64((w.K-1)*w.Dilation + 1)
	q := (float64(w.In+w.PadBegin+w.PadEnd) - span) / float64(w.Stride)
	if !w.Ceil {
		return max(0, int(math.Floor(q))+1)
	}
	n := int(math.Ceil(q)) + 1
	if n > 0 && (n-1)*w.Stride >= w.In+w.PadBegin {
		n--
	}
	return max(0, n)
}

// reference returns max, argmax (row-major and column-major plane-local indices), and the
// averages without and with padding in the divisor, for every output.
func (p *poolProblem) reference() (mx []float64, argRow, argCol []int64, avg, avgPad []float64) {
	ax := NewPoolGeometry(p.win).Axes
	var outs, ins [3]int
	for i, w := range ax {
		outs[i], ins[i] = refOut(w), w.In
	}
	inLen := ins[0] * ins[1] * ins[2]
	for pl := range p.planes {
		for o0 := range outs[0] {
			for o1 := range outs[1] {
				for o2 := range outs[2] {
					o := [3]int{o0, o1, o2}
					best, bestAt, bestCol := math.Inf(-1), int64(-1), int64(-1)
					var sum float64
					var n, nPad int
					for k0 := range ax[0].K {
						for k1 := range ax[1].K {
							for k2 := range ax[2].K {
								k := [3]int{k0, k1, k2}
								var at [3]int
								inside, inPad := true, true
								for a := range 3 {
									at[a] = o[a]*ax[a].Stride - ax[a].PadBegin + k[a]*ax[a].Dilation
									inside = inside && at[a] >= 0 && at[a] < ins[a]
									inPad = inPad && at[a] < ins[a]+ax[a].PadEnd
								}
								if inPad {
									nPad++
								}
								if !inside {
									continue
								}
								n++
								v := p.x[pl*inLen+(at[0]*ins[1]+at[1])*ins[2]+at[2]]
								sum += v
								if v > best || bestAt < 0 {
									best = v
									bestAt = int64(pl*inLen + (at[0]*ins[1]+at[1])*ins[2] + at[2])
									bestCol = int64(pl*inLen + at[0] + at[1]*ins[0] + at[2]*ins[0]*ins[1])
								}
							}
						}
					}
					mx, argRow, argCol = append(mx, best), append(argRow, bestAt), append(argCol, bestCol)
					avg, avgPad = append(avg, sum/float64(n)), append(avgPad, sum/float64(nPad))
				}
			}
		}
	}
	return
}

func TestPoolRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for iter := range 400 {
		rank := 1 + rng.IntN(3)
		p := &poolProblem{planes: 1 + rng.IntN(4)}
		for range rank {
			p.win = append(p.win, randomWindow(rng))
		}
		g := NewPoolGeometry(p.win)
		if err := g.Check(); err != nil {
			t.Fatal(err)
		}
		p.x = make([]float64, p.planes*g.InLen())
		for i := range p.x {
			// Few distinct values, so that ties exercise the first-maximum rule.
			p.x[i] = float64(rng.IntN(7)) - 3
		}
		mx, argRow, argCol, avg, avgPad := p.reference()
		if len(mx) != p.planes*g.OutLen() {
			t.Fatalf("%+v: %d outputs, reference has %d", p.win, p.planes*g.OutLen(), len(mx))
		}
		threads := 1 + iter%3
		desc := fmt.Sprintf("windows %+v planes %d threads %d", p.win, p.planes, threads)
		x32 := make([]float32, len(p.x))
		x8 := make([]int8, len(p.x))
		for i, v := range p.x {
			x32[i], x8[i] = float32(v), int8(v)
		}
		y32 := make([]float32, len(mx))
		idx := make([]int64, len(mx))
		for _, colMajor := range []bool{false, true} {
			MaxPool(g, x32, y32, idx, colMajor, p.planes, threads)
			want := argRow
			if colMajor {
				want = argCol
			}
			for i := range mx {
				if float64(y32[i]) != mx[i] || idx[i] != want[i] {
					t.Fatalf("%s colMajor=%v: max %d = %v at %d, want %v at %d", desc, colMajor, i, y32[i], idx[i], mx[i], want[i])
				}
			}
		}
		y8 := make([]int8, len(mx))
		MaxPool(g, x8, y8, nil, false, p.planes, threads)
		for i := range mx {
			if float64(y8[i]) != max(mx[i], math.MinInt8) {
				t.Fatalf("%s: int8 max %d = %v, want %v", desc, i, y8[i], mx[i])
			}
		}
		y64 := make([]float64, len(mx))
		for _, countPad := range []bool{false, true} {
			AveragePool(g, p.x, y64, countPad, p.planes, threads)
			want := avg
			if countPad {
				want = avgPad
			}
			for i := range want {
				if math.IsNaN(want[i]) != math.IsNaN(y64[i]) || math.Abs(y64[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
					t.Fatalf("%s countPad=%v: average %d = %v, want %v", desc, countPad, i, y64[i], want[i])
				}
			}
		}
	}
}

// TestMaxRows32 checks every row kernel's elementwise maximum against the builtin max, with NaN
// and infinities on either side and row lengths around the vector width.
func TestMaxRows32(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0}
	draw := func() float32 {
		if rng.IntN(5) == 0 {
			return special[rng.IntN(len(special))]
		}
		return float32(rng.NormFloat64())
	}
	for _, name := range RowKernels() {
		restore, ok := UseRowKernel(name)
		if !ok {
			t.Fatalf("row kernel %s not usable", name)
		}
		for n := range 41 {
			dst, src := make([]float32, n), make([]float32, n+3)
			for i := range dst {
				dst[i] = draw()
			}
			for i := range src {
				src[i] = draw()
			}
			want := make([]float32, n)
			for i := range want {
				want[i] = max(dst[i], src[i])
			}
			maxRows32(dst, src)
			for i, w := range want {
				if got := dst[i]; got != w && !(math.IsNaN(float64(got)) && math.IsNaN(float64(w))) {
					t.Fatalf("%s, n=%d: max at %d = %v, want %v", name, n, i, got, w)
				}
			}
		}
		restore()
	}
}

// TestMaxPoolFloat32FastPath compares the float32 max pool (column maxima, then the pairwise
// fold of 3-wide stride-2 windows, the even/odd fold of 2-wide ones) with the generic path of
// float64 on the same values, for the widths, windows, strides, pads and ceil modes of CNN
// stems, SqueezeNet, GoogLeNet and CNN9, on every row kernel.
func TestMaxPoolFloat32FastPath(t *testing.T) {
	for _, name := range RowKernels() {
		restore, _ := UseRowKernel(name)
		t.Run(name, testMaxPoolFloat32FastPath)
		restore()
	}
}

func testMaxPoolFloat32FastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, w := range []int{16, 17, 27, 55, 56, 111, 112} {
		for _, ks := range [][2]int{{3, 2}, {3, 1}, {2, 2}, {5, 1}} {
			for _, pad := range []int{0, 1, 2} {
				for _, ceil := range []bool{false, true} {
					k, stride := ks[0], ks[1]
					win := Window{In: w, K: k, Stride: stride, Dilation: 1, PadBegin: pad, PadEnd: pad, Ceil: ceil}
					p := NewPoolGeometry([]Window{{In: 5, K: k, Stride: stride, Dilation: 1, PadBegin: pad, PadEnd: pad, Ceil: ceil}, win})
					if pad >= k || p.Check() != nil {
						continue
					}
					const planes = 3
					x32 := make([]float32, planes*p.InLen())
					x64 := make([]float64, len(x32))
					for i := range x32 {
						x32[i] = float32(rng.NormFloat64())
						if rng.IntN(50) == 0 {
							x32[i] = float32(math.NaN())
						}
						x64[i] = float64(x32[i])
					}
					y32 := make([]float32, planes*p.OutLen())
					y64 := make([]float64, len(y32))
					MaxPool(p, x32, y32, nil, false, planes, 2)
					MaxPool(p, x64, y64, nil, false, planes, 1)
					for i := range y32 {
						if a, b := float64(y32[i]), y64[i]; a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
							t.Fatalf("width %d window %d stride %d pad %d ceil %v: output %d = %v, want %v", w, k, stride, pad, ceil, i, a, b)
						}
					}
				}
			}
		}
	}
}

// TestAveragePoolStride1 compares the float32 whole-plane average pool (unit strides) with
// the float64 row-by-row path on the same values: 3×3 and 5×5 windows with "same", no and
// uneven padding, with and without counting the padding, on planes narrower and wider than a
// vector, within float32 rounding.
func TestAveragePoolStride1(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, hw := range [][2]int{{1, 1}, {3, 5}, {8, 8}, {17, 17}, {35, 35}, {6, 40}} {
		for _, k := range []int{3, 5} {
			for _, countPad := range []bool{false, true} {
				for _, pads := range [][2]int{{k / 2, k / 2}, {0, 0}, {1, 0}} {
					p := NewPoolGeometry([]Window{{In: hw[0], K: k, Stride: 1, Dilation: 1, PadBegin: pads[0], PadEnd: pads[1]},
						{In: hw[1], K: k, Stride: 1, Dilation: 1, PadBegin: pads[0], PadEnd: pads[1]}})
					if p.Check() != nil {
						continue
					}
					checkAveragePool(t, rng, p, countPad, fmt.Sprintf("%dx%d window %d pads %v", hw[0], hw[1], k, pads))
				}
			}
		}
	}
}

// checkAveragePool runs AveragePool over three random planes of p in float32 on two threads
// (the fast paths) and in float64 on one (the general path), and compares them.
func checkAveragePool(t *testing.T, rng *rand.Rand, p PoolGeometry, countPad bool, what string) {
	t.Helper()
	const planes = 3
	x32 := randFloats(rng, planes*p.InLen())
	x64 := make([]float64, len(x32))
	for i, v := range x32 {
		x64[i] = float64(v)
	}
	y32 := make([]float32, planes*p.OutLen())
	y64 := make([]float64, len(y32))
	AveragePool(p, x32, y32, countPad, planes, 2)
	AveragePool(p, x64, y64, countPad, planes, 1)
	for i := range y32 {
		if math.Abs(float64(y32[i])-y64[i]) > 1e-6*(1+math.Abs(y64[i])) {
			t.Fatalf("%s countPad %v: output %d = %v, want %v", what, countPad, i, y32[i], y64[i])
		}
	}
}

// TestAveragePool2x2 runs AveragePool over 2×2, stride-2 windows without padding (DenseNet's
// transitions), odd sizes included (the last row or column is left out), against its float64
// version, which takes the general path.
func TestAveragePool2x2(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, hw := range [][2]int{{2, 2}, {3, 5}, {8, 8}, {28, 28}, {56, 57}, {7, 40}} {
		win := func(n int) Window { return Window{In: n, K: 2, Stride: 2, Dilation: 1} }
		p := NewPoolGeometry([]Window{win(hw[0]), win(hw[1])})
		if activeRow.Load().pool2s2 && !pool2s2(newPoolWalk(p)) {
			t.Fatalf("%v: the 2×2 kernel does not take the pool", hw)
		}
		for _, countPad := range []bool{false, true} {
			checkAveragePool(t, rng, p, countPad, fmt.Sprint(hw))
		}
	}
}

// TestPool2s2Kernel compares the 2×2, stride-2 pooling plane kernel (max and average) with the
// portable one bit for bit for every output count up to three blocks per row, on inputs exactly
// as long as the contract allows, with NaNs, and checks that it writes nothing past its
// outputs; the averages also against the float64 mean.
func TestPool2s2Kernel(t *testing.T) {
	if !activeRow.Load().pool2s2 {
		t.Skip("the active row kernel has no 2×2 pooling kernel")
	}
	rng := rand.New(rand.NewPCG(93, 94))
	for _, average := range []bool{false, true} {
		for ow := 1; ow <= 49; ow++ {
			rows, w := 1+rng.IntN(3), 2*ow+rng.IntN(3)
			x := randFloats(rng, (2*rows-1)*w+2*ow)
			for i := range x {
				if rng.IntN(40) == 0 {
					x[i] = float32(math.NaN())
				}
			}
			want := make([]float32, rows*ow+1)
			got := make([]float32, rows*ow+1)
			want[rows*ow], got[rows*ow] = 7, 7
			pool2s2Generic(&pool2s2Args{y: want, x: x, w: w, ow: ow, rows: rows, average: average})
			pool2s2Asm(&pool2s2Args{y: got, x: x, w: w, ow: ow, rows: rows, average: average})
			for i := range want {
				if a, b := got[i], want[i]; math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
					t.Fatalf("average %v ow = %d, w = %d, rows = %d: y[%d] = %v, want %v", average, ow, w, rows, i, a, b)
				}
			}
			if !average {
				continue
			}
			for r := range rows {
				for o := range ow {
					var sum float64
					for _, i := range []int{2*r*w + 2*o, 2*r*w + 2*o + 1, (2*r+1)*w + 2*o, (2*r+1)*w + 2*o + 1} {
						sum += float64(x[i])
					}
					g := float64(got[r*ow+o])
					if sum != sum && g == g || sum == sum && math.Abs(g-sum/4) > 1e-6*(1+math.Abs(sum)) {
						t.Fatalf("ow = %d rows = %d: average (%d, %d) = %v, want %v", ow, rows, r, o, g, sum/4)
					}
				}
			}
		}
	}
}

// guardedOutput returns n outputs followed by 16 guard values (7) that a kernel must not write.
func guardedOutput(n int) []float32 {
	y := make([]float32, n+16)
	for i := range y {
		y[i] = 7
	}
	return y
}

// checkGuard fails the test if a guard value after the first n of y was overwritten.
func checkGuard(t *testing.T, y []float32, n int, what string) {
	t.Helper()
	for i, v := range y[n:] {
		if v != 7 {
			t.Fatalf("%s: wrote past the outputs at %d", what, i)
		}
	}
}

// TestAvg3x3Kernel checks the 3×3 average-pool kernel of every row kernel against the float64
// definition (both divisors) on planes from 2×2 to 20×40, bit for bit against the portable
// kernel, and that nothing past the outputs is written.
func TestAvg3x3Kernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for h := 2; h <= 20; h += 1 + rng.IntN(3) {
		for w := 2; w <= 40; w += 1 + rng.IntN(4) {
			planes := 1 + rng.IntN(3)
			win := []Window{{In: h, K: 3, Stride: 1, Dilation: 1, PadBegin: 1, PadEnd: 1}, {In: w, K: 3, Stride: 1, Dilation: 1, PadBegin: 1, PadEnd: 1}}
			if !pool3x3Same(NewPoolGeometry(win)) {
				t.Fatalf("%d×%d: the 3×3 path does not apply", h, w)
			}
			x32 := randFloats(rng, planes*h*w)
			pp := &poolProblem{win: win, planes: planes, x: make([]float64, len(x32))}
			for i, v := range x32 {
				pp.x[i] = float64(v)
			}
			_, _, _, avg, avgPad := pp.reference()
			for _, countPad := range []bool{false, true} {
				want := avg
				if countPad {
					want = avgPad
				}
				var portable []float32
				for _, name := range RowKernels() {
					a := newPool3x3Args(h, w)
					a.setDivisors(countPad)
					y := guardedOutput(planes * h * w)
					a.planes, a.x, a.y = planes, x32, y[:planes*h*w]
					runAvg3x3(findRowKernel(name), &a)
					checkGuard(t, y, planes*h*w, fmt.Sprintf("%s %d×%d", name, h, w))
					for i, v := range y[:planes*h*w] {
						if math.Abs(float64(v)-want[i]) > 1e-6*(1+math.Abs(want[i])) {
							t.Fatalf("%s %d×%d countPad %v: output %d = %v, want %v", name, h, w, countPad, i, v, want[i])
						}
						if portable != nil && math.Float32bits(v) != math.Float32bits(portable[i]) {
							t.Fatalf("%s %d×%d countPad %v: output %d = %v, portable kernel %v", name, h, w, countPad, i, v, portable[i])
						}
					}
					if portable == nil {
						portable = y
					}
				}
			}
		}
	}
}

// TestPool3s2RectKernel checks the 3×3, stride-2 max-pool rectangle kernel of every row kernel
// against the definition on planes from 3×3 to 40×40 without padding (all windows inside, as
// MaxPool hands them over), with NaNs, and that nothing past the outputs is written.
func TestPool3s2RectKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for h := 3; h <= 40; h += 1 + rng.IntN(4) {
		for w := 3; w <= 90; w += 1 + rng.IntN(6) {
			planes := 1 + rng.IntN(3)
			win := []Window{{In: h, K: 3, Stride: 2, Dilation: 1}, {In: w, K: 3, Stride: 2, Dilation: 1}}
			pw := newPoolWalk(NewPoolGeometry(win))
			restore, ok := UseRowKernel("avx512")
			if ok && !pool3s2Whole(pw) {
				t.Fatalf("%d×%d: the rectangle kernel does not take the pool", h, w)
			}
			if ok {
				restore()
			}
			oh, ow := win[0].Out(), win[1].Out()
			x := randFloats(rng, planes*h*w)
			for range 3 {
				x[rng.IntN(len(x))] = float32(math.NaN())
			}
			for _, name := range RowKernels() {
				y := guardedOutput(planes * oh * ow)
				runPool3s2Rect(findRowKernel(name), &pool3s2RectArgs{y: y[:planes*oh*ow], x: x, n: ow, rows: oh, planes: planes,
					xRow: w, yRow: ow, xPlane: h * w, yPlane: oh * ow})
				for p := range planes {
					for r := range oh {
						for o := range ow {
							want, nan := float32(math.Inf(-1)), false
							for i := range 3 {
								for k := range 3 {
									v := x[p*h*w+(2*r+i)*w+2*o+k]
									nan = nan || v != v
									want = max(want, v)
								}
							}
							got := y[(p*oh+r)*ow+o]
							if nan != (got != got) || !nan && got != want {
								t.Fatalf("%s %d×%d plane %d output (%d, %d) = %v, want %v", name, h, w, p, r, o, got, want)
							}
						}
					}
				}
				checkGuard(t, y, planes*oh*ow, fmt.Sprintf("%s %d×%d", name, h, w))
			}
		}
	}
}

// TestMax3x3Kernel checks the 3×3, unit-stride max-pool kernel of every row kernel against the
// definition (maxima of the taps inside the plane, NaN if any is NaN) on planes from 2×2 to
// 20×40, and that nothing past the outputs is written; MaxPool must take the kernel for them.
func TestMax3x3Kernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for h := 2; h <= 20; h += 1 + rng.IntN(3) {
		for w := 2; w <= 40; w += 1 + rng.IntN(4) {
			planes := 1 + rng.IntN(3)
			win := Window{In: h, K: 3, Stride: 1, Dilation: 1, PadBegin: 1, PadEnd: 1, Ceil: rng.IntN(2) == 0}
			win2 := win
			win2.In = w
			if !pool3x3Same(NewPoolGeometry([]Window{win, win2})) {
				t.Fatalf("%d×%d: the 3×3 kernel does not take the pool", h, w)
			}
			x := randFloats(rng, planes*h*w)
			for range 2 {
				x[rng.IntN(len(x))] = float32(math.NaN())
			}
			for _, name := range RowKernels() {
				a := newPool3x3Args(h, w)
				y := guardedOutput(planes * h * w)
				a.planes, a.x, a.y = planes, x, y[:planes*h*w]
				runMax3x3(findRowKernel(name), &a)
				for p := range planes {
					for i := range h {
						for j := range w {
							want, nan := float32(math.Inf(-1)), false
							for r := i - 1; r <= i+1; r++ {
								for c := j - 1; c <= j+1; c++ {
									if r >= 0 && r < h && c >= 0 && c < w {
										v := x[(p*h+r)*w+c]
										nan = nan || v != v
										if v > want {
											want = v
										}
									}
								}
							}
							got := y[(p*h+i)*w+j]
							if nan != (got != got) || !nan && got != want {
								t.Fatalf("%s %d×%d plane %d output (%d, %d) = %v, want %v", name, h, w, p, i, j, got, want)
							}
						}
					}
				}
				checkGuard(t, y, planes*h*w, fmt.Sprintf("%s %d×%d", name, h, w))
			}
		}
	}
}
