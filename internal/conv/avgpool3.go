package conv

import (
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// The 3×3 average pool with unit stride and one value of padding on every side keeps the plane's
// size (Inception's pooling branches, after the exporter's Pad). The separable passes of
// avgPoolStride1Plane32 run several short vector passes per plane, whose call overheads cost more
// than the sums on planes of 8×8 to 35×35; avg3x3Kernel instead computes every output of a run of
// planes in one call: per block of 16 outputs of a row, nine (masked) loads, eight additions
// and one division.

// pool3x3Args describes the planes of a 3×3, unit-stride pool with one value of padding on
// every side (pool3x3Same), for avg3x3Kernel and max3x3Kernel: planes h×w in x and in y, and
// masks holding, per block b of 16 columns, the lanes of its left, centre and right loads
// (masks[3b], masks[3b+1], masks[3b+2]). The average divides row i by divEdge in the first and
// last rows and by divMid in the others; for p < planes, i < h, j < w,
//
//	v(i, j) = (x[p][i-1][j] + x[p][i][j]) + x[p][i+1][j]
//	y[p][i][j] = ((v(i, j-1) + v(i, j)) + v(i, j+1)) / div_i[j]
//
// where a value outside the plane is a zero. That is the order in which the separable passes
// sum a plane padded with zeros, so a Pad fused into the pool changes no bit.
type pool3x3Args struct {
	y, x            []float32
	planes, h, w    int
	masks           []uint16
	divEdge, divMid []float32
}

// pool3x3Same reports whether p is a 2-D 3×3 window with unit strides and dilations and one
// value of padding on each side of both axes, on planes of at least 2×2.
func pool3x3Same(p PoolGeometry) bool {
	one := func(a Window) bool {
		return a.K == 3 && a.Stride == 1 && a.Dilation == 1 && a.PadBegin == 1 && a.PadEnd == 1 && a.In >= 2
	}
	d := p.Axes[0]
	return d.In == 1 && d.K == 1 && d.PadBegin == 0 && d.PadEnd == 0 && one(p.Axes[1]) && one(p.Axes[2])
}

// newPool3x3Args prepares the masks of planes h×w.
func newPool3x3Args(h, w int) pool3x3Args {
	a := pool3x3Args{h: h, w: w}
	for j0 := 0; j0 < w; j0 += 16 {
		n := min(16, w-j0)
		centre := uint16(1<<n - 1)
		left := centre
		if j0 == 0 {
			left &^= 1
		}
		right := uint16(1<<min(n, w-j0-1) - 1)
		a.masks = append(a.masks, left, centre, right)
	}
	return a
}

// setDivisors prepares the average's divisors: 9 everywhere with countPad, else the number of
// taps inside the plane (2 or 3 rows times 2 or 3 columns).
func (a *pool3x3Args) setDivisors(countPad bool) {
	row := func(rows int) []float32 {
		d := make([]float32, a.w)
		for j := range d {
			d[j] = 9
			if !countPad {
				d[j] = float32(rows * (min(j+1, a.w-1) - max(j-1, 0) + 1))
			}
		}
		return d
	}
	a.divEdge, a.divMid = row(2), row(3)
}

// runAvg3x3 checks the bounds of a and runs the kernel k has, or the portable one.
func runAvg3x3(k *rowKernel, a *pool3x3Args) {
	if !a.valid("average", true) {
		return
	}
	if k.pool3x3 {
		avg3x3Kernel(a)
		return
	}
	avg3x3Generic(a)
}

// valid reports whether a has planes to pool, and panics if its slices are too short for
// them (the divisors checked only where they are used, for the average).
func (a *pool3x3Args) valid(pool string, divisors bool) bool {
	if a.planes <= 0 {
		return false
	}
	n := a.planes * a.h * a.w
	if a.h < 2 || a.w < 2 || len(a.x) < n || len(a.y) < n || len(a.masks) != 3*((a.w+15)/16) ||
		divisors && (len(a.divEdge) < a.w || len(a.divMid) < a.w) {
		panic(fmt.Sprintf("conv: 3×3 %s pool of %d planes %d×%d over %d values into %d", pool, a.planes, a.h, a.w, len(a.x), len(a.y)))
	}
	return true
}

// pool3x3Planes runs the average (with countPad: padding counted in the divisor) or the max
// pool over the planes of x: [planes, H, W] into y for a pool that pool3x3Same accepts, the
// planes spread over the threads.
func pool3x3Planes(p PoolGeometry, x, y []float32, planes, threads int, average, countPad bool) {
	a := newPool3x3Args(p.Axes[1].In, p.Axes[2].In)
	run := runMax3x3
	if average {
		a.setDivisors(countPad)
		run = runAvg3x3
	}
	k := activeRow.Load()
	plane := a.h * a.w
	parallel.For(threads, planes, func(lo, hi int) {
		b := a
		b.planes, b.x, b.y = hi-lo, x[lo*plane:hi*plane], y[lo*plane:hi*plane]
		run(k, &b)
	})
}

// avg3x3Generic is the portable kernel; see pool3x3Args.
func avg3x3Generic(a *pool3x3Args) {
	w, h := a.w, a.h
	for p := range a.planes {
		plane := a.x[p*h*w : (p+1)*h*w]
		at := func(i, j int) float32 {
			if i < 0 || i >= h || j < 0 || j >= w {
				return 0
			}
			return plane[i*w+j]
		}
		v := func(i, j int) float32 { return (at(i-1, j) + at(i, j)) + at(i+1, j) }
		for i := range h {
			div := a.divMid
			if i == 0 || i == h-1 {
				div = a.divEdge
			}
			y := a.y[(p*h+i)*w : (p*h+i+1)*w]
			for j := range w {
				y[j] = ((v(i, j-1) + v(i, j)) + v(i, j+1)) / div[j]
			}
		}
	}
}

// runMax3x3 is runAvg3x3 for the max pool: y[p][i][j] is the maximum of the values of plane p
// in rows i-1..i+1 and columns j-1..j+1 that lie inside the plane, NaN if any of them is NaN
// (a needs no divisors).
func runMax3x3(k *rowKernel, a *pool3x3Args) {
	if !a.valid("max", false) {
		return
	}
	if k.pool3x3 {
		max3x3Kernel(a)
		return
	}
	max3x3Generic(a)
}

// max3x3Generic is the portable 3×3 max-pool kernel; see runMax3x3.
func max3x3Generic(a *pool3x3Args) {
	w, h := a.w, a.h
	for p := range a.planes {
		plane := a.x[p*h*w : (p+1)*h*w]
		y := a.y[p*h*w : (p+1)*h*w]
		for i := range h {
			for j := range w {
				m := float32(math.Inf(-1))
				for r := max(i-1, 0); r <= min(i+1, h-1); r++ {
					for c := max(j-1, 0); c <= min(j+1, w-1); c++ {
						m = max(m, plane[r*w+c])
					}
				}
				y[i*w+j] = m
			}
		}
	}
}
