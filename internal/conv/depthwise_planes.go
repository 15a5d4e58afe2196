package conv

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Depthwise convolutions with 3×3 and 5×5 windows of stride 2, and 3×3 windows of stride 1 on
// wide planes, padded by half the window at the top and left (MobileNet, MnasNet,
// EfficientNet), run on their planes as they are, 16 outputs of a row at a time, with the
// channel's weights in registers (dw3s2Kernel, dw5s2Kernel, dw3s1Kernel): no transposition
// into and out of the channel-blocked form, which costs the blocked path as much as its
// multiply-adds at stride 2 (four input pixels per output). At stride 2 each kernel row's 32
// input columns (48 for 5×5) are split into even and odd columns by two-table permutes, and the
// taps left of the block's first column (right of its last) come from the previous block's
// registers (a third load). At stride 1 each tap is one multiply-add of the input row read at
// the tap's offset under a mask that keeps the columns inside the row (merge-masked, so a tap
// over padding adds nothing); on planes narrower than planeMinWidth outputs the blocked path is
// faster (vectors of 16 channels waste no lanes on a 28- or 7-wide row, and it computes no
// masks): one thread, blocked against planes, 144×56² 161 against 194 µs, 192×28² 61 against
// 133, 32×112² 137 against 128.

// dwPlaneArgs is the contract of the plane kernels, k the window (3 or 5) and stride 1 or 2
// (the kernels take k = 3 at stride 1):
// output rows [row0, row0+outH) of planes consecutive planes of a k×k depthwise convolution
// padded by r = (k−1)/2 at the top and left (and by anything at the bottom and right: outW says
// how many outputs a row has): for p < planes, row0 ≤ oh < row0+outH, ow < outW,
//
//	v = bias[p] + Σ_{kh, kw < k} w[k²p + k·kh + kw] · x[p][stride·oh − r + kh][stride·ow − r + kw]
//	y[p·yPlane + (oh−row0)·outW + ow] = min(max(v, lo), hi)   (NaN stays NaN)
//
// where x: [planes, inH, inW] is zero outside its planes (taps over padding add nothing) and
// yPlane ≥ outH·outW is the distance between planes in y. zero holds at least inW zeros (the
// rows above and below a plane).
type dwPlaneArgs struct {
	y, x, zero, w, bias                                   []float32
	k, stride, planes, inH, inW, row0, outH, outW, yPlane int
	lo, hi                                                float32
}

// planeDepthwise reports whether a plane kernel runs the convolution g with epilogue ep.
func planeDepthwise(g Geometry, ep *Epilogue) bool {
	if !activeRow.Load().dwPlanes || !g.Depthwise() || g.MG() != 1 || ep.Group != nil || ep.Residual != nil ||
		g.DH != 1 || g.DW != 1 || g.KW != g.KH || g.SW != g.SH || g.PadTop != g.KH/2 || g.PadLeft != g.KW/2 {
		return false
	}
	return g.SH == 2 && (g.KH == 3 || g.KH == 5) || g.SH == 1 && g.KH == 3 && g.OutW() >= planeMinWidth
}

// planeMinWidth is the least output width for which a unit-stride convolution takes the plane
// kernel (see above).
const planeMinWidth = 64

// forwardDepthwisePlanes runs a planeDepthwise convolution, spread over the threads by bands of
// output rows across all planes when the planes are tall enough, so that each thread reads
// the input rows that a product split by pixels on the same threads wrote in its own cache
// (the layer before is usually a 1×1 convolution), else by runs of whole planes. It applies
// Epilogue.Tail to each run's outputs while they are in cache.
func forwardDepthwisePlanes(g Geometry, w, x, y []float32, batch int, ep *Epilogue, threads int) {
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
			a := dwPlaneArgs{y: y[p*outLen+r0*g.OutW() : (p+n)*outLen], x: x[p*inLen : (p+n)*inLen], zero: *zero,
				w: w[c0*taps : (c0+n)*taps], bias: bias[c0 : c0+n], k: g.KH, stride: g.SH, planes: n, inH: g.H, inW: g.W,
				row0: r0, outH: r1 - r0, outW: g.OutW(), yPlane: outLen, lo: lo, hi: hi}
			runDwPlane(&a)
			if ep.Tail != nil {
				for q := range n {
					ep.Tail(a.y[q*outLen : q*outLen+a.outH*a.outW])
				}
			}
			i += n
		}
	})
}

// minBandRows is the least number of output rows per thread for which forwardDepthwisePlanes
// splits planes into bands of rows.
const minBandRows = 8

// runDwPlane runs the kernel for a.k and a.stride after checking the slices against the sizes.
func runDwPlane(a *dwPlaneArgs) {
	if a.planes <= 0 || a.outH <= 0 || a.outW <= 0 {
		return
	}
	if len(a.x) < a.planes*a.inH*a.inW || len(a.y) < (a.planes-1)*a.yPlane+a.outH*a.outW || a.yPlane < a.outH*a.outW ||
		len(a.w) < a.planes*a.k*a.k || len(a.bias) < a.planes || len(a.zero) < a.inW || a.row0 < 0 ||
		a.k != 3 && a.k != 5 || a.stride != 1 && a.stride != 2 || a.stride == 1 && a.k != 3 {
		panic(fmt.Sprintf("conv: depthwise planes: %d planes %d×%d → rows %d+%d×%d, k=%d, stride %d: bad sizes", a.planes, a.inH, a.inW, a.row0, a.outH, a.outW, a.k, a.stride))
	}
	switch {
	case a.stride == 1:
		dw3s1Kernel(a)
	case a.k == 3:
		dw3s2Kernel(a)
	default:
		dw5s2Kernel(a)
	}
}

// dwPlaneGeneric is the portable plane kernel (see dwPlaneArgs), for the tests and where there
// is no assembly.
func dwPlaneGeneric(a *dwPlaneArgs) {
	k, r := a.k, a.k/2
	for p := range a.planes {
		x := a.x[p*a.inH*a.inW : (p+1)*a.inH*a.inW]
		y := a.y[p*a.yPlane : p*a.yPlane+a.outH*a.outW]
		w := a.w[k*k*p : k*k*(p+1)]
		for oh := a.row0; oh < a.row0+a.outH; oh++ {
			for ow := range a.outW {
				v := a.bias[p]
				for kh := range k {
					ih := a.stride*oh - r + kh
					if ih < 0 || ih >= a.inH {
						continue
					}
					for kw := range k {
						if iw := a.stride*ow - r + kw; iw >= 0 && iw < a.inW {
							v += w[k*kh+kw] * x[ih*a.inW+iw]
						}
					}
				}
				y[(oh-a.row0)*a.outW+ow] = min(max(v, a.lo), a.hi) // NaN stays NaN
			}
		}
	}
}
