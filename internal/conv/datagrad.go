package conv

// The input gradient of a unit-stride convolution as a convolution. For stride 1,
//
//	dx[c, ih, iw] = Σ_m Σ_kh Σ_kw dy[m, ih + PadTop − kh·DH, iw + PadLeft − kw·DW] · w[m, c, kh, kw]
//
// (terms outside dy are zero), which is the forward convolution of dy with the filter
// transposed in its channels and flipped in its window, padded by the window's extent minus
// the forward padding. Computing it that way runs the forward path (patch panels packed on
// the fly into the gemm, or the direct kernel) instead of materialising W_gᵀ·dY as patch rows
// and scattering them back (col2im).

// DataGradGeometry returns the geometry of that convolution for g: input dy [M, OutH, OutW],
// output dx [C, H, W], the same groups, window and dilations. ok is false when the rewriting
// does not apply: a stride above 1, or a padding beyond the window's extent.
func (g Geometry) DataGradGeometry() (t Geometry, ok bool) {
	if g.SH != 1 || g.SW != 1 {
		return Geometry{}, false
	}
	extH, extW := (g.KH-1)*g.DH, (g.KW-1)*g.DW
	t = Geometry{C: g.M, H: g.OutH(), W: g.OutW(), M: g.C, KH: g.KH, KW: g.KW, SH: 1, SW: 1, DH: g.DH, DW: g.DW,
		PadTop: extH - g.PadTop, PadBottom: extH - g.PadBottom, PadLeft: extW - g.PadLeft, PadRight: extW - g.PadRight,
		Group: g.Group}
	if t.PadTop < 0 || t.PadBottom < 0 || t.PadLeft < 0 || t.PadRight < 0 || t.OutH() != g.H || t.OutW() != g.W {
		return Geometry{}, false
	}
	return t, true
}

// DataGradFilter writes into dst (at least g.FilterLen() values) the filter of the
// DataGradGeometry convolution: [C, M/Group, KH, KW] with
//
//	dst[gi·C/G + c, m, kh, kw] = w[gi·M/G + m, c, KH−1−kh, KW−1−kw]
//
// for w: [M, C/Group, KH, KW].
func (g Geometry) DataGradFilter(dst, w []float32) {
	cg, mg, taps := g.CG(), g.MG(), g.KH*g.KW
	dst, w = dst[:g.FilterLen()], w[:g.FilterLen()]
	for gi := range g.Group {
		for m := range mg {
			for c := range cg {
				src := w[((gi*mg+m)*cg+c)*taps:][:taps]
				out := dst[((gi*cg+c)*mg+m)*taps:][:taps]
				for t, v := range src {
					out[taps-1-t] = v // (kh, kw) → (KH−1−kh, KW−1−kw) reverses the row-major taps
				}
			}
		}
	}
}
