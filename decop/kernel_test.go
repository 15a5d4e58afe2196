package decop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// rowCase is one call of a row kernel with its inputs.
type rowCase struct {
	a     rowArgs
	k     float64   // the sigmoid steepness s1, s2 come from
	y0    []float32 // the sums, and the inputs below, as drawn (before dropUnread)
	norm  []float32
	inv   []float32
	hpos  []float32
	guard int // NaN values after y[n] that must survive
}

// randomRow draws a row of n values for the selectors: cosines spread over [−1.1, 1.1] with
// exact ±1 and 0 among them, patch norms over several decades (and 0 with a capped inverse),
// and random channel constants.
func randomRow(rng *rand.Rand, n, mag, ang int, weighted bool) *rowCase {
	rc := &rowCase{k: 0.1 + rng.Float64(), guard: 5}
	a := &rc.a
	a.n, a.mag, a.ang = n, mag, ang
	a.s1, a.s2 = rowAngularConsts(Angular(min(ang, int(SqCos))), rc.k)
	nw := 0.1 + 3*rng.Float64()
	rho := 0.2 + 4*rng.Float64()
	rs := 1.0
	if weighted {
		rs = nw
	}
	a.invNw, a.rs, a.hs = float32(1/nw), float32(rs), float32(rs/rho)
	a.alpha, a.beta, a.rho, a.bias = float32(2*rng.Float64()-1), float32(rng.Float64()), float32(rho), float32(rng.NormFloat64())
	buf := make([]float32, n+rc.guard)
	a.y, a.norm, a.inv, a.hpos = buf[:n], make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range buf[n:] {
		buf[n+i] = float32(math.NaN())
	}
	for j := range n {
		np := math.Exp(6*rng.Float64() - 3)
		c := 2.2*rng.Float64() - 1.1
		switch rng.IntN(8) {
		case 0:
			c = []float64{-1, 0, 1}[rng.IntN(3)]
		case 1:
			c = math.Copysign(1-math.Exp(-20*rng.Float64()), c)
		case 2:
			np = 0
		}
		a.norm[j] = float32(np)
		a.inv[j] = capped(1 / float64(a.norm[j]))
		a.y[j] = float32(c * nw * np)
		a.hpos[j] = float32(rng.NormFloat64())
	}
	rc.y0 = append([]float32(nil), a.y...)
	rc.norm, rc.inv, rc.hpos = a.norm, a.inv, a.hpos
	return rc
}

// dropUnread sets the slices the selectors do not read to nil, so that an assembly kernel that
// touched them would fault.
func (rc *rowCase) dropUnread() {
	a := &rc.a
	if a.ang == angOne {
		a.inv = nil
	}
	if a.mag == int(Sphere) || a.mag == magPosition {
		a.norm = nil
	}
	if a.mag != magPosition {
		a.hpos = nil
	}
}

// want returns the row's expected value j in float64 (see expectedValue).
func (rc *rowCase) want(j int) (y, scale float64) {
	a := &rc.a
	ch := chanConst{invNw: a.invNw, rs: a.rs, hs: a.hs, alpha: a.alpha, beta: a.beta, rho: a.rho, bias: a.bias}
	return expectedValue(rc.y0[j], rc.norm[j], rc.inv[j], rc.hpos[j], &ch, a.mag, a.ang, rc.k)
}

// expectedValue is one output of a block kernel in float64 from the sum v and the column's
// norm, inverse and tabulated magnitude with the row's constants: the cosine as the kernel
// rounds it (two float32 multiplies, then the clamp), then spec.go's G and H. scale is
// |h·g| + |bias|, the size the kernel's error is measured against.
func expectedValue(v, norm, inv, hpos float32, ch *chanConst, mag, ang int, k float64) (y, scale float64) {
	c := float64(min(max(v*ch.invNw*inv, -1), 1))
	g := 1.0
	if ang != angOne {
		g = G(Angular(ang), c, k)
	}
	var h float64
	if mag == magPosition {
		h = float64(hpos)
	} else {
		rho := float64(ch.rs) / float64(ch.hs) // the ρ that hs encodes
		if Magnitude(mag) == Seg {
			rho = float64(ch.rho)
		}
		r := float64(norm) * float64(ch.rs)
		h = H(Magnitude(mag), r, Params{Alpha: float64(ch.alpha), Rho: rho, Beta: float64(ch.beta)})
	}
	return h*g + float64(ch.bias), math.Abs(h*g) + math.Abs(float64(ch.bias))
}

// rowTolerance bounds each output's error relative to |h·g| + |bias|: a few float32 ulps for
// each approximation (tanh up to 6, asin 3, log1p 3.5) and rounding.
const rowTolerance = 2e-6

// TestRowKernels is the battery every row kernel runs: every magnitude (and the per-position
// table) with every angular (and g = 1), row lengths around the vector width, against the
// spec's float64 H and G, with NaN guards after the row and unread inputs absent.
func TestRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	lengths := []int{1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 64, 100}
	forEachKernel(t, func(kernel string) {
		for mag := 0; mag <= magPosition; mag++ {
			for ang := 0; ang <= angOne; ang++ {
				var worst float64
				for _, n := range lengths {
					rc := randomRow(rng, n, mag, ang, rng.IntN(2) == 0)
					if n%2 == 0 {
						rc.dropUnread()
					}
					finishRow(&rc.a)
					what := fmt.Sprintf("kernel %s mag %d ang %d n %d", kernel, mag, ang, n)
					for i, v := range rc.a.y[:cap(rc.a.y)][n:] {
						if !math.IsNaN(float64(v)) {
							t.Fatalf("%s: wrote y[%d] beyond the row", what, n+i)
						}
					}
					for j, got := range rc.a.y {
						want, scale := rc.want(j)
						d := math.Abs(float64(got) - want)
						if !(d <= rowTolerance*scale+1e-37) {
							t.Fatalf("%s: y[%d] = %v, want %v (error %.3g of scale %.3g)", what, j, got, want, d, scale)
						}
						if scale > 0 {
							worst = max(worst, d/scale)
						}
					}
				}
				t.Logf("kernel %s mag %d ang %d: largest error %.2e of |h·g| + |bias|", kernel, mag, ang, worst)
			}
		}
	})
}

// TestRowKernelsExtremes feeds norms and sums at the ends of the float32 range: the outputs
// stay finite.
func TestRowKernelsExtremes(t *testing.T) {
	values := []float32{0, 1e-38, 1e-30, 1, 1e30, math.MaxFloat32}
	forEachKernel(t, func(kernel string) {
		for mag := 0; mag < magPosition; mag++ {
			for ang := 0; ang <= int(SqCos); ang++ {
				n := len(values) * len(values)
				a := rowArgs{y: make([]float32, n), norm: make([]float32, n), inv: make([]float32, n), n: n, mag: mag, ang: ang,
					invNw: 1, rs: 1, hs: 1, alpha: 1, beta: 0.5, rho: 1, bias: 0.25}
				a.s1, a.s2 = rowAngularConsts(Angular(ang), DefaultK)
				for i, s := range values {
					for j, np := range values {
						a.y[i*len(values)+j] = -s
						a.norm[i*len(values)+j] = np
						a.inv[i*len(values)+j] = capped(1 / float64(np))
					}
				}
				finishRow(&a)
				for i, v := range a.y {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("kernel %s mag %d ang %d: sum %v, norm %v gives %v", kernel, mag, ang,
							values[i/len(values)], values[i%len(values)], v)
					}
				}
			}
		}
	})
}

// TestPatchNorms checks the patch-norm kernels against the float64 definition on sums of
// squares from zero to beyond the float32 range, for lengths around the vector width: both
// round the float64 results once, so they must agree exactly.
func TestPatchNorms(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	forEachKernel(t, func(kernel string) {
		for _, n := range []int{1, 3, 4, 5, 8, 13, 64} {
			for _, eps := range []float64{0, 1e-4} {
				sq := make([]float64, n)
				for i := range sq {
					sq[i] = []float64{0, 1e-80, 1e-30, rng.Float64(), 1e30, 1e80}[rng.IntN(6)]
				}
				norm, inv := make([]float32, n), make([]float32, n)
				patchNorms(norm, inv, sq, eps)
				for i, s := range sq {
					r := math.Sqrt(s + eps)
					wantN, wantI := float32(math.Min(r, math.MaxFloat32)), float32(math.Min(1/r, math.MaxFloat32))
					if norm[i] != wantN || inv[i] != wantI {
						t.Fatalf("kernel %s n %d eps %v: squares %v give norm %v and inverse %v, want %v and %v",
							kernel, n, eps, s, norm[i], inv[i], wantN, wantI)
					}
				}
			}
		}
	})
}

// TestBlockKernels runs blocks of several rows, each with its own channel constants, whose row
// stride leaves a gap of NaN guards after every row, on every kernel and selector pair.
func TestBlockKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	forEachKernel(t, func(kernel string) {
		for mag := 0; mag <= magPosition; mag++ {
			for iter := range 4 * (angOne + 1) {
				ang := iter % (angOne + 1)
				rows, cols, gap := 1+rng.IntN(6), 1+rng.IntN(40), rng.IntN(5)
				ldc := cols + gap
				k := 0.1 + rng.Float64()
				// Columns and per-row constants from random rows of the same length.
				col := randomRow(rng, cols, mag, ang, false)
				a := blockArgs{ldc: ldc, rows: rows, cols: cols, c: make([]float32, rows*ldc), chans: make([]chanConst, rows),
					norm: col.norm, inv: col.inv, hpos: col.hpos, mag: mag, ang: ang}
				a.s1, a.s2 = rowAngularConsts(Angular(min(ang, int(SqCos))), k)
				for i := range a.c {
					a.c[i] = float32(math.NaN())
				}
				sums := make([][]float32, rows)
				for i := range rows {
					r := randomRow(rng, cols, mag, ang, rng.IntN(2) == 0)
					ra := &r.a
					a.chans[i] = chanConst{invNw: ra.invNw, rs: ra.rs, hs: ra.hs, alpha: ra.alpha, beta: ra.beta, rho: ra.rho, bias: ra.bias}
					sums[i] = r.y0
					copy(a.c[i*ldc:], r.y0)
				}
				finishBlock(&a)
				for i := range rows {
					for j := range ldc {
						got := a.c[i*ldc+j]
						if j >= cols {
							if !math.IsNaN(float64(got)) {
								t.Fatalf("kernel %s mag %d ang %d: wrote the gap after row %d", kernel, mag, ang, i)
							}
							continue
						}
						want, scale := expectedValue(sums[i][j], col.norm[j], col.inv[j], col.hpos[j], &a.chans[i], mag, ang, k)
						if d := math.Abs(float64(got) - want); !(d <= rowTolerance*scale+1e-37) {
							t.Fatalf("kernel %s mag %d ang %d %d×%d: (%d, %d) = %v, want %v", kernel, mag, ang, rows, cols, i, j, got, want)
						}
					}
				}
			}
		}
	})
}

// TestKernelChoice checks the dispatch: the environment setting "generic" forces the portable
// kernel, no setting picks the last usable one, and UseKernel switches and restores.
func TestKernelChoice(t *testing.T) {
	names := Kernels()
	if names[0] != "generic" {
		t.Fatalf("Kernels() = %v: the portable kernel must come first", names)
	}
	if k := defaultKernel("generic"); k != genericKernel {
		t.Errorf("DCNET_DECOP=generic chose %q", k.name)
	}
	if k := defaultKernel(""); k.name != names[len(names)-1] {
		t.Errorf("the default kernel is %q, want the last usable one of %v", k.name, names)
	}
	if _, ok := UseKernel("no-such-kernel"); ok {
		t.Error("UseKernel accepted an unknown kernel")
	}
	before := KernelName()
	for _, name := range names {
		restore, ok := UseKernel(name)
		if !ok || KernelName() != name {
			t.Fatalf("UseKernel(%q): ok %v, active %q", name, ok, KernelName())
		}
		restore()
		if KernelName() != before {
			t.Fatalf("restoring after %q left %q active, want %q", name, KernelName(), before)
		}
	}
}
