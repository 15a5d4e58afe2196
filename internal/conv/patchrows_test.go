package conv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIm2colRows checks a channel range of the stored patch matrix, rows ld apart, against
// explicitPatches, and that the gaps between rows and the other channels' rows stay untouched.
func TestIm2colRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for i := range 400 {
		g := randomGeometry(rng)
		if i%4 == 0 {
			g = sameGeometry(rng) // the contiguous-block path
		}
		x := randFloats(rng, g.CG()*g.H*g.W)
		want := explicitPatches(g, x)
		ohw, khw := g.OutHW(), g.KH*g.KW
		ld := ohw + rng.IntN(4)
		c0 := rng.IntN(g.CG())
		c1 := c0 + 1 + rng.IntN(g.CG()-c0)
		dst := make([]float32, g.K()*ld)
		for i := range dst {
			dst[i] = float32(math.NaN())
		}
		g.Im2colRows(dst, ld, x, c0, c1)
		for k := range g.K() {
			for j := range ld {
				got := dst[k*ld+j]
				if c := k / khw; c < c0 || c >= c1 || j >= ohw {
					if !math.IsNaN(float64(got)) {
						t.Fatalf("%+v channels [%d, %d) ld %d: wrote %v at row %d column %d", g, c0, c1, ld, got, k, j)
					}
				} else if got != want[k][j] {
					t.Fatalf("%+v channels [%d, %d) ld %d: P[%d][%d] = %v, want %v", g, c0, c1, ld, k, j, got, want[k][j])
				}
			}
		}
	}
}

// sameGeometry draws a unit-stride convolution whose output is as wide as its input ("same"
// padding, possibly dilated and asymmetric in height).
func sameGeometry(rng *rand.Rand) Geometry {
	k, d := 1+2*rng.IntN(3), 1+rng.IntN(2)
	pad := (k - 1) * d / 2
	return Geometry{C: 1 + rng.IntN(4), H: 1 + rng.IntN(9), W: 1 + rng.IntN(9), M: 1, KH: k, KW: k, SH: 1, SW: 1,
		DH: d, DW: d, PadTop: rng.IntN(pad + 1), PadLeft: pad, PadBottom: rng.IntN(pad + 1), PadRight: pad, Group: 1}
}

// TestCol2imRows checks the adjoint against the definition: every entry of dP added to the
// pixel it was read from, in the order of rows k and then of columns.
func TestCol2imRows(t *testing.T) {
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		t.Run(rk, testCol2imRows)
		restore()
	}
}

func testCol2imRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for range 300 {
		g := randomGeometry(rng)
		oh, ow := g.OutH(), g.OutW()
		ld := oh*ow + rng.IntN(4)
		dp := randFloats(rng, g.K()*ld)
		c0 := rng.IntN(g.CG())
		c1 := c0 + 1 + rng.IntN(g.CG()-c0)
		init := randFloats(rng, g.CG()*g.H*g.W)
		want := append([]float32(nil), init...)
		for k := c0 * g.KH * g.KW; k < c1*g.KH*g.KW; k++ {
			c, kh, kw := k/(g.KH*g.KW), k/g.KW%g.KH, k%g.KW
			for j := range oh * ow {
				iy := j/ow*g.SH - g.PadTop + kh*g.DH
				ix := j%ow*g.SW - g.PadLeft + kw*g.DW
				if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
					want[(c*g.H+iy)*g.W+ix] += dp[k*ld+j]
				}
			}
		}
		got := append([]float32(nil), init...)
		g.Col2imRows(got, dp, ld, c0, c1)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v channels [%d, %d) ld %d: dx[%d] = %v, want %v", g, c0, c1, ld, i, got[i], want[i])
			}
		}
	}
}

// TestValidSpan compares the span with a scan of every index.
func TestValidSpan(t *testing.T) {
	for n := range 6 {
		for i0 := -9; i0 <= 9; i0++ {
			for stride := 1; stride <= 3; stride++ {
				for size := range 7 {
					lo, hi := ValidSpan(n, i0, stride, size)
					for j := range n {
						inside := i0+j*stride >= 0 && i0+j*stride < size
						if inside != (j >= lo && j < hi) {
							t.Fatalf("ValidSpan(%d, %d, %d, %d) = [%d, %d), but index %d is inside: %v", n, i0, stride, size, lo, hi, j, inside)
						}
					}
					if lo > hi {
						t.Fatalf("ValidSpan(%d, %d, %d, %d) = [%d, %d)", n, i0, stride, size, lo, hi)
					}
				}
			}
		}
	}
}

// TestAddRows32 checks every row kernel's adds32 against the plain loop for row lengths that
// cover each block size (32, 8, single values) and strides with gaps, and that the gaps stay
// untouched.
func TestAddRows32(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		for cols := 1; cols <= 75; cols++ {
			rows := 1 + rng.IntN(4)
			dstStride, srcStride := cols+rng.IntN(5), cols+rng.IntN(5)
			dst := randFloats(rng, (rows-1)*dstStride+cols)
			src := randFloats(rng, (rows-1)*srcStride+cols)
			want := append([]float32(nil), dst...)
			for r := range rows {
				for i := range cols {
					want[r*dstStride+i] += src[r*srcStride+i]
				}
			}
			addRows32(dst, src, rows, cols, dstStride, srcStride)
			for i := range dst {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: %d rows of %d (strides %d, %d): dst[%d] = %v, want %v", rk, rows, cols, dstStride, srcStride, i, dst[i], want[i])
				}
			}
		}
		restore()
	}
}
