package conv

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// The 3×3 and 5×5, stride-2 depthwise layers of MobileNet, MnasNet and EfficientNet (padded by
// half the kernel at the top and left) read four input pixels per output, so the
// channel-blocked path spends most of their time transposing the input in. dw3s2Kernel and
// dw5s2Kernel work on the planes as they are instead: per block of 16 outputs of a row, loads
// of 32 input columns per kernel row (48 for 5×5), split into the even and odd columns by
// two-table permutes, the taps left of the block's first column shifted in from the previous
// block's registers (and for 5×5 the one right of its last from the third load), and the taps
// as multiply-adds of those registers by the channel's weights.

// dwS2Args is the contract of dw3s2Kernel (k = 3) and dw5s2Kernel (k = 5): output rows
// [row0, row0+outH) of planes consecutive planes of a k×k, stride-2 depthwise convolution
// padded by r = (k−1)/2 at the top and left (and by anything at the bottom and right: outW
// says how many outputs a row has): for p < planes, row0 ≤ oh < row0+outH, ow < outW,
//
//	v = bias[p] + Σ_{kh, kw < k} w[k²p + k·kh + kw] · x[p][2oh − r + kh][2ow − r + kw]
//	y[p·yPlane + (oh−row0)·outW + ow] = min(max(v, lo), hi)   (NaN stays NaN)
//
// where x: [planes, inH, inW] is zero outside its planes and yPlane ≥ outH·outW is the distance
// between planes in y. zero holds at least inW zeros (the rows above and below a plane).
type dwS2Args struct {
	y, x, zero, w, bias                           []float32
	k, planes, inH, inW, row0, outH, outW, yPlane int
	lo, hi                                        float32
}

// stride2Depthwise reports whether dw3s2Kernel or dw5s2Kernel runs the convolution g with
// epilogue ep.
func stride2Depthwise(g Geometry, ep *Epilogue) bool {
	return activeRow.Load().dwS2 && g.Depthwise() && g.MG() == 1 && (g.KH == 3 || g.KH == 5) && g.KW == g.KH &&
		g.SH == 2 && g.SW == 2 && g.DH == 1 && g.DW == 1 && g.PadTop == g.KH/2 && g.PadLeft == g.KW/2 &&
		ep.Group == nil && ep.Residual == nil
}

// forwardDepthwiseS2 runs a stride2Depthwise convolution, spread over the threads by bands of
// output rows across all planes when the planes are tall enough, so that each thread reads
// the input rows that a product split by pixels on the same threads wrote in its own cache
// (the layer before is usually a 1×1 convolution), else by runs of whole planes. Epilogue.Tail
// is left to the caller.
func forwardDepthwiseS2(g Geometry, w, x, y []float32, batch int, ep *Epilogue, threads int) {
	lo, hi := bounds(ep)
	zero := getFloats(g.W)
	defer floatBuffers.Put(zero)
	clear(*zero)
	bias := ep.Bias
	if bias == nil {
		b := getFloats(g.C)
		defer floatBuffers.Put(b)
		clear(*b)
		bias = *b
	}
	oh, inLen, outLen, taps := g.OutH(), g.H*g.W, g.OutHW(), g.KH*g.KW
	planes := batch * g.C
	bands := 1
	if threads > 1 && oh >= minBandRows*threads {
		bands = threads
	}
	items := bands * planes // band-major: a thread's range covers whole bands of all planes
	parallel.For(min(threads, items), items, func(i0, i1 int) {
		for i := i0; i < i1; {
			b, p := i/planes, i%planes
			c0 := p % g.C
			n := min(i1-i, g.C-c0, planes-p) // the rest of this image's channels in this band
			r0, r1 := b*oh/bands, (b+1)*oh/bands
			a := dwS2Args{y: y[p*outLen+r0*g.OutW() : (p+n)*outLen], x: x[p*inLen : (p+n)*inLen], zero: *zero,
				w: w[c0*taps : (c0+n)*taps], bias: bias[c0 : c0+n], k: g.KH, planes: n, inH: g.H, inW: g.W,
				row0: r0, outH: r1 - r0, outW: g.OutW(), yPlane: outLen, lo: lo, hi: hi}
			runDwS2(&a)
			i += n
		}
	})
}

// minBandRows is the least number of output rows per thread for which forwardDepthwiseS2
// splits planes into bands of rows.
const minBandRows = 8

// runDwS2 runs the kernel for a.k after checking the slices against the sizes.
func runDwS2(a *dwS2Args) {
	if a.planes <= 0 || a.outH <= 0 || a.outW <= 0 {
		return
	}
	if len(a.x) < a.planes*a.inH*a.inW || len(a.y) < (a.planes-1)*a.yPlane+a.outH*a.outW || a.yPlane < a.outH*a.outW ||
		len(a.w) < a.planes*a.k*a.k || len(a.bias) < a.planes || len(a.zero) < a.inW || a.row0 < 0 || a.k != 3 && a.k != 5 {
		panic(fmt.Sprintf("conv: stride-2 depthwise of %d planes %d×%d → rows %d+%d×%d, k=%d: slices too short", a.planes, a.inH, a.inW, a.row0, a.outH, a.outW, a.k))
	}
	if a.k == 3 {
		dw3s2Kernel(a)
	} else {
		dw5s2Kernel(a)
	}
}

// dwS2Generic is the portable dw3s2Kernel and dw5s2Kernel (see dwS2Args), for the tests and
// where there is no assembly.
func dwS2Generic(a *dwS2Args) {
	k, r := a.k, a.k/2
	for p := range a.planes {
		x := a.x[p*a.inH*a.inW : (p+1)*a.inH*a.inW]
		y := a.y[p*a.yPlane : p*a.yPlane+a.outH*a.outW]
		w := a.w[k*k*p : k*k*(p+1)]
		for oh := a.row0; oh < a.row0+a.outH; oh++ {
			for ow := range a.outW {
				v := a.bias[p]
				for kh := range k {
					ih := 2*oh - r + kh
					if ih < 0 || ih >= a.inH {
						continue
					}
					for kw := range k {
						if iw := 2*ow - r + kw; iw >= 0 && iw < a.inW {
							v += w[k*kh+kw] * x[ih*a.inW+iw]
						}
					}
				}
				y[(oh-a.row0)*a.outW+ow] = min(max(v, a.lo), a.hi) // NaN stays NaN
			}
		}
	}
}
