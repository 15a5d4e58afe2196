package conv

import "github.com/dcnet-go/dcnet/internal/parallel"

// The 3×3, stride-2 depthwise layers of MobileNet, MnasNet and EfficientNet (one row and column
// of padding at the top and left) read four input pixels per output, so the channel-blocked
// path spends most of their time transposing the input in. dw3s2Kernel works on the planes as
// they are instead: per block of 16 outputs of a row, two loads of 32 input columns per kernel
// row, split into the even and odd columns by two-table permutes (the odd columns one lane on,
// 2·ow − 1, shifted in from the previous block), and the nine taps as multiply-adds of those
// registers by the channel's nine weights, held in registers for the plane.

// dw3s2Args is the contract of dw3s2Kernel: planes consecutive planes of a 3×3, stride-2
// depthwise convolution with one row and column of padding at the top and left (and any at
// the bottom and right: outH and outW say how many outputs): for p < planes, oh < outH,
// ow < outW,
//
//	v = bias[p] + Σ_{kh, kw < 3} w[9p + 3kh + kw] · x[p][2oh − 1 + kh][2ow − 1 + kw]
//	y[p][oh][ow] = min(max(v, lo), hi)   (NaN stays NaN)
//
// where x: [planes, inH, inW] is zero outside its planes and y is [planes, outH, outW]. zero
// holds at least inW zeros (the rows above and below a plane).
type dw3s2Args struct {
	y, x, zero, w, bias          []float32
	planes, inH, inW, outH, outW int
	lo, hi                       float32
}

// stride2Depthwise3 reports whether dw3s2Kernel runs the convolution g with epilogue ep.
func stride2Depthwise3(g Geometry, ep *Epilogue) bool {
	return activeRow.Load().dw3s2 && g.Depthwise() && g.MG() == 1 && g.KH == 3 && g.KW == 3 &&
		g.SH == 2 && g.SW == 2 && g.DH == 1 && g.DW == 1 && g.PadTop == 1 && g.PadLeft == 1 &&
		ep.Group == nil && ep.Residual == nil
}

// forwardDepthwiseS2 runs a stride2Depthwise3 convolution: the batch's planes in runs of one
// image's channels, spread over the threads. Epilogue.Tail is left to the caller.
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
	inLen, outLen := g.H*g.W, g.OutHW()
	planes := batch * g.C
	parallel.For(min(threads, planes), planes, func(p0, p1 int) {
		for p := p0; p < p1; {
			c0 := p % g.C
			n := min(p1-p, g.C-c0) // the rest of this image's channels
			a := dw3s2Args{y: y[p*outLen : (p+n)*outLen], x: x[p*inLen : (p+n)*inLen], zero: *zero,
				w: w[c0*9 : (c0+n)*9], bias: bias[c0 : c0+n], planes: n, inH: g.H, inW: g.W,
				outH: g.OutH(), outW: g.OutW(), lo: lo, hi: hi}
			dw3s2Kernel(&a)
			p += n
		}
	})
}

// dw3s2Generic is the portable dw3s2Kernel (see dw3s2Args), for the tests and where there is
// no assembly.
func dw3s2Generic(a *dw3s2Args) {
	for p := range a.planes {
		x := a.x[p*a.inH*a.inW : (p+1)*a.inH*a.inW]
		y := a.y[p*a.outH*a.outW : (p+1)*a.outH*a.outW]
		w := a.w[9*p : 9*p+9]
		for oh := range a.outH {
			for ow := range a.outW {
				v := a.bias[p]
				for kh := range 3 {
					ih := 2*oh - 1 + kh
					if ih < 0 || ih >= a.inH {
						continue
					}
					for kw := range 3 {
						if iw := 2*ow - 1 + kw; iw >= 0 && iw < a.inW {
							v += w[3*kh+kw] * x[ih*a.inW+iw]
						}
					}
				}
				y[oh*a.outW+ow] = min(max(v, a.lo), a.hi) // NaN stays NaN
			}
		}
	}
}
