package conv

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// The filter gradient of F(2×2, 3×3). The forward tile Y = Aᵀ[(G w Gᵀ) ⊙ (Bᵀ d B)]A is linear
// in w, so its adjoint gives, summed over tiles t and images,
//
//	dU_ξ [M, C] = Σ_t Ŷ_ξ [M, t] · V_ξ [C, t],   Ŷ = A dY_t Aᵀ,   dW = Gᵀ dU G,
//
// where dY_t is the 2×2 block of the output gradient over tile t (zero past the image) and V the
// forward's transformed input: 16 products of depth T instead of one of depth 9·4·T.
//
// Layout of one block: the padded output gradient [M, 2·rows, wq] holds output-gradient rows
// 2·ty0 ... and columns 0 ... wq−1 = 32·segs − 1, zero past the image; Ŷ is [16, M, tst] like V.

// winoGradArgs is the contract of the output-gradient transform kernel, for one tile row of
// every channel: for m < chans, segment s < segs, lane l < 16 and ξ = 4i + j,
//
//	dst[ξ·xiStride + m·dstRow + 16s + l] = (A e Aᵀ)[i][j],  e[a][b] = src[m·srcPlane + a·ld + 32s + 2l + b]
//
// reading src[m·srcPlane + a·ld : ... + 32·segs] for a < 2.
type winoGradArgs struct {
	src, dst                       []float32
	ld, srcPlane, dstRow, xiStride int
	chans, segs                    int
}

// winoGradIn checks a's bounds and runs the active kernel's output-gradient transform.
func winoGradIn(k *rowKernel, a *winoGradArgs) {
	if a.chans <= 0 || a.segs <= 0 || (a.chans-1)*a.srcPlane+a.ld+32*a.segs > len(a.src) ||
		15*a.xiStride+(a.chans-1)*a.dstRow+16*a.segs > len(a.dst) {
		panic(fmt.Sprintf("conv: Winograd gradient transform of %d channels × %d segments does not fit", a.chans, a.segs))
	}
	if k.winograd {
		winoGradAsm(a)
		return
	}
	winoGradGeneric(a)
}

// winoGradGeneric is the portable output-gradient transform; see winoGradArgs.
func winoGradGeneric(a *winoGradArgs) {
	for c := range a.chans {
		src := a.src[c*a.srcPlane:]
		for t := range 16 * a.segs {
			e := [2][2]float32{{src[2*t], src[2*t+1]}, {src[a.ld+2*t], src[a.ld+2*t+1]}}
			scatterXi(a.dst[c*a.dstRow+t:], winoGradTile(&e), a.xiStride)
		}
	}
}

// winoGradTile is A e Aᵀ for a 2×2 block e of the output gradient, A = (Aᵀ)ᵀ, in the order of
// operations of the vector kernel: columns first, then rows; a negation is 0 − v.
func winoGradTile(e *[2][2]float32) [16]float32 {
	var z [4][2]float32
	for b := range 2 {
		z[0][b] = e[0][b]
		z[1][b] = e[0][b] + e[1][b]
		z[2][b] = e[0][b] - e[1][b]
		z[3][b] = 0 - e[1][b]
	}
	var v [16]float32
	for i := range 4 {
		v[4*i] = z[i][0]
		v[4*i+1] = z[i][0] + z[i][1]
		v[4*i+2] = z[i][0] - z[i][1]
		v[4*i+3] = 0 - z[i][1]
	}
	return v
}

// WinogradFilterGradient sets dw [M, C, 3, 3] to the gradient of the convolution g of batch
// images x [batch, C, H, W] with respect to its filter, given the output gradient dy [batch, M,
// OutH, OutW], with F(2×2, 3×3), and reports whether it did: g must be a geometry Winograd
// computes (see Choose) with a vector kernel active. The batch is cut into one contiguous range
// of images per goroutine and their partial sums are added in range order, so the result is
// the same bit for bit for a given thread count.
func WinogradFilterGradient(g Geometry, x, dy []float32, batch int, dw []float32, threads int) bool {
	if Choose(g) != Winograd || batch <= 0 || len(x) < batch*g.InputLen() || len(dy) < batch*g.OutputLen() || len(dw) < g.FilterLen() {
		return false
	}
	winogradFilterGradient(g, x, dy, batch, dw, threads)
	return true
}

// winogradFilterGradient is WinogradFilterGradient on the active row kernel, whichever it is.
func winogradFilterGradient(g Geometry, x, dy []float32, batch int, dw []float32, threads int) {
	workers := max(1, min(threads, batch))
	du := make([][]float32, workers) // per worker: dU [16, M, C]
	parallel.For(workers, workers, func(w0, w1 int) {
		for w := w0; w < w1; w++ {
			n0, n1 := batch*w/workers, batch*(w+1)/workers
			du[w] = make([]float32, 16*g.M*g.C)
			winoGradRange(g, x[n0*g.InputLen():n1*g.InputLen()], dy[n0*g.OutputLen():n1*g.OutputLen()], n1-n0, du[w])
		}
	})
	total := make([]float64, 16*g.M*g.C)
	for _, d := range du {
		for i, v := range d {
			total[i] += float64(v)
		}
	}
	WinogradTilesToFilter(g, total, dw)
}

// WinogradGradientTiles adds to du [16, M, C] the transformed filter gradient Σ Ŷ_ξ·V_ξᵀ of
// batch images x with output gradient dy (see WinogradFilterGradient), on the calling
// goroutine, for callers that sum over items of their own; WinogradTilesToFilter turns the
// total into the filter gradient. g must be a geometry Winograd computes (Choose).
func WinogradGradientTiles(g Geometry, x, dy []float32, batch int, du []float32) {
	if Choose(g) != Winograd || len(x) < batch*g.InputLen() || len(dy) < batch*g.OutputLen() || len(du) < 16*g.M*g.C {
		panic(fmt.Sprintf("conv.WinogradGradientTiles: %d images of %+v (%d, %d, %d values)", batch, g, len(x), len(dy), len(du)))
	}
	if batch > 0 {
		winoGradRange(g, x, dy, batch, du)
	}
}

// WinogradTilesToFilter sets dw [M, C, 3, 3] to Gᵀ·du·G for the summed transformed gradients du
// [16, M, C], in float64, rounded once.
func WinogradTilesToFilter(g Geometry, du []float64, dw []float32) {
	for mc := range g.M * g.C {
		var u [16]float64
		for xi := range 16 {
			u[xi] = du[xi*g.M*g.C+mc]
		}
		t := winoFilterGradientTile(&u)
		for i, v := range t {
			dw[mc*9+i] = float32(v)
		}
	}
}

// winoFilterGradientTile is Gᵀ u G for one 4×4 tile u (ξ = 4r + s): the 3×3 filter gradient.
func winoFilterGradientTile(u *[16]float64) [9]float64 {
	var t [3][4]float64 // Gᵀ·u
	for s := range 4 {
		a, b, c, d := u[s], u[4+s], u[8+s], u[12+s]
		t[0][s], t[1][s], t[2][s] = a+(b+c)/2, (b-c)/2, (b+c)/2+d
	}
	var out [9]float64
	for r := range 3 {
		a, b, c, d := t[r][0], t[r][1], t[r][2], t[r][3]
		out[3*r], out[3*r+1], out[3*r+2] = a+(b+c)/2, (b-c)/2, (b+c)/2+d
	}
	return out
}

// winoGradRange accumulates dU [16, M, C] over batch images on the calling goroutine, in blocks
// of the forward's tiling.
func winoGradRange(g Geometry, x, dy []float32, batch int, du []float32) {
	p := newWinoPlan(g, batch, 1)
	s := winoScratches.Get().(*winoScratch)
	defer winoScratches.Put(s)
	s.grow(p)
	wq := 32 * p.segs
	dyRows := 2 * p.blockRows
	need := g.M * dyRows * wq * p.images
	if cap(s.dy) < need {
		s.dy = make([]float32, need)
	}
	k := activeRow.Load()
	ep := &gemm.Epilogue{Accumulate: true}
	for n0 := 0; n0 < batch; n0 += p.images {
		n1 := min(batch, n0+p.images)
		for ty0 := 0; ty0 < p.th; ty0 += p.blockRows {
			ty1 := min(p.th, ty0+p.blockRows)
			rows := ty1 - ty0
			for n := n0; n < n1; n++ {
				gy := s.dy[(n-n0)*g.M*dyRows*wq : (n-n0+1)*g.M*dyRows*wq]
				p.fillGradient(gy, dy[n*g.OutputLen():(n+1)*g.OutputLen()], ty0, dyRows, wq)
				p.transformRows(k, x[n*g.InputLen():(n+1)*g.InputLen()], s.v[(n-n0)*rows*p.tw:], ty0, ty1, g.C)
				for ty := ty0; ty < ty1; ty++ {
					t := ((n-n0)*rows + ty - ty0) * p.tw
					winoGradIn(k, &winoGradArgs{
						src: gy[2*(ty-ty0)*wq:], dst: s.m[t:],
						ld: wq, srcPlane: dyRows * wq, dstRow: p.tileStride, xiStride: g.M * p.tileStride,
						chans: g.M, segs: p.segs,
					})
				}
			}
			tiles := (n1 - n0) * rows * p.tw
			for xi := range 16 {
				yh := s.m[xi*g.M*p.tileStride : (xi+1)*g.M*p.tileStride]
				v := gemm.Dense{Data: s.v[xi*g.C*p.tileStride : (xi+1)*g.C*p.tileStride], Ld: p.tileStride, Trans: true}
				gemm.MulUnpacked(g.M, g.C, tiles, yh, p.tileStride, false, v, du[xi*g.M*g.C:(xi+1)*g.M*g.C], g.C, ep, 1)
			}
		}
	}
}

// fillGradient copies rows [2·ty0, 2·ty0+rows) of the output gradient dy [M, OutH, OutW] into
// gy [M, rows, wq], zero past the image.
func (p *winoPlan) fillGradient(gy, dy []float32, ty0, rows, wq int) {
	for m := range p.g.M {
		plane := dy[m*p.oh*p.ow : (m+1)*p.oh*p.ow]
		for r := range rows {
			dst := gy[(m*rows+r)*wq : (m*rows+r+1)*wq]
			oy := 2*ty0 + r
			if oy >= p.oh {
				clear(dst)
				continue
			}
			copy(dst, plane[oy*p.ow:(oy+1)*p.ow])
			clear(dst[p.ow:])
		}
	}
}
