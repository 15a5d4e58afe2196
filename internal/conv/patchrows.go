package conv

// The patch matrix P (see PatchPacker) stored row by row, and its adjoint, for the backward
// passes of Conv (runtime) and DecoupledConv (decop), which keep P or its gradient whole.

// Im2colRows writes the patch-matrix rows of input channels [c0, c1) of one image's group
// xg: [C/Group, H, W] into dst: row k = (c·KH + kh)·KW + kw, of OutH·OutW values, at
// dst[k·ld:], with P[k][oh·OutW + ow] = xg[c][oh·SH − PadTop + kh·DH][ow·SW − PadLeft + kw·DW],
// zero in the padding.
func (g Geometry) Im2colRows(dst []float32, ld int, xg []float32, c0, c1 int) {
	ohw, plane := g.OutHW(), g.H*g.W
	for c := c0; c < c1; c++ {
		img := xg[c*plane : (c+1)*plane]
		for kh := range g.KH {
			for kw := range g.KW {
				k := (c*g.KH+kh)*g.KW + kw
				g.gatherTap(dst[k*ld:k*ld+ohw], img, kh, kw)
			}
		}
	}
}

// Col2imRows is the adjoint of Im2colRows: it adds the patch-matrix gradient rows of input
// channels [c0, c1) (row k at dp[k·ld:], OutH·OutW values) into the input gradient dxg:
// [C/Group, H, W] at the pixels each entry was read from, row by row in order of k.
func (g Geometry) Col2imRows(dxg, dp []float32, ld, c0, c1 int) {
	ohw, plane := g.OutHW(), g.H*g.W
	for c := c0; c < c1; c++ {
		img := dxg[c*plane : (c+1)*plane]
		for kh := range g.KH {
			for kw := range g.KW {
				k := (c*g.KH+kh)*g.KW + kw
				g.ScatterTap(img, dp[k*ld:k*ld+ohw], kh, kw)
			}
		}
	}
}

// gatherTap writes into dst: [OutH·OutW] the patch-matrix row of tap (kh, kw) for one input
// channel plane img: [H, W]: dst[oh·OutW + ow] = img[oh·SH − PadTop + kh·DH][ow·SW − PadLeft +
// kw·DW], zero in the padding.
func (g Geometry) gatherTap(dst, img []float32, kh, kw int) {
	oh, ow := g.OutH(), g.OutW()
	iw0 := kw*g.DW - g.PadLeft
	lo, hi := ValidSpan(ow, iw0, g.SW, g.W)
	if g.SW == 1 && g.SH == 1 && ow == g.W && lo < hi {
		g.gatherTapBlock(dst, img, kh, iw0, lo, hi)
		return
	}
	for y := range oh {
		out := dst[y*ow : (y+1)*ow]
		ih := y*g.SH + kh*g.DH - g.PadTop
		if ih < 0 || ih >= g.H {
			clear(out)
			continue
		}
		gatherSpan(out, img[ih*g.W:(ih+1)*g.W], iw0, g.SW, lo, hi)
	}
}

// gatherTapBlock is gatherTap for unit strides with output rows as wide as the input's ("same"
// padding): the tap's valid values are then one contiguous run of the input, shifted by a
// constant, so they move in one copy; the columns that came from neighbouring rows and the rows
// that fall into the padding are zeroed afterwards.
func (g Geometry) gatherTapBlock(dst, img []float32, kh, iw0, lo, hi int) {
	oh, ow := g.OutH(), g.OutW()
	ih0 := kh*g.DH - g.PadTop
	y0, y1 := ValidSpan(oh, ih0, 1, g.H)
	clear(dst[:y0*ow])
	clear(dst[y1*ow : oh*ow])
	if y0 >= y1 {
		return
	}
	start, end := y0*ow+lo, (y1-1)*ow+hi
	src := (ih0+y0)*g.W + iw0 + lo
	copy(dst[start:end], img[src:src+end-start])
	for y := y0; y < y1; y++ {
		zeroShort(dst[y*ow : y*ow+lo])
		zeroShort(dst[y*ow+hi : (y+1)*ow])
	}
}

// ScatterTap adds the patch-matrix row src: [OutH·OutW] of tap (kh, kw), for one channel, into
// the input plane dst: [H, W] at the pixels the tap reads, output row by output row.
func (g Geometry) ScatterTap(dst, src []float32, kh, kw int) {
	oh, ow := g.OutH(), g.OutW()
	iw0 := kw*g.DW - g.PadLeft
	lo, hi := ValidSpan(ow, iw0, g.SW, g.W)
	if lo == hi {
		return
	}
	if g.SW == 1 {
		// Contiguous runs: output rows y0 … y1−1 read input rows ih0 + y·SH.
		ih0 := kh*g.DH - g.PadTop
		y0, y1 := ValidSpan(oh, ih0, g.SH, g.H)
		if y0 < y1 {
			addRows32(dst[(ih0+y0*g.SH)*g.W+iw0+lo:], src[y0*ow+lo:], y1-y0, hi-lo, g.SH*g.W, ow)
		}
		return
	}
	for y := range oh {
		ih := y*g.SH + kh*g.DH - g.PadTop
		if ih < 0 || ih >= g.H {
			continue
		}
		row, in := dst[ih*g.W:(ih+1)*g.W], src[y*ow+lo:y*ow+hi]
		for j, v := range in {
			row[iw0+(lo+j)*g.SW] += v
		}
	}
}

// addRows32 adds a block of float32 rows (see addsGeneric) with the active row kernel, after
// checking that it lies inside both slices.
func addRows32(dst, src []float32, rows, cols, dstStride, srcStride int) {
	if !checkRowBlock(dst, src, rows, cols, dstStride, srcStride) {
		return
	}
	k := activeRow.Load()
	if k.adds32 == nil {
		k = genericRowKernel
	}
	k.adds32(dst, src, rows, cols, dstStride, srcStride)
}

// ValidSpan returns the range [lo, hi) of t in [0, n) for which i0 + t·stride lies in [0, size):
// the outputs of a row (or the taps of a window) that read inside an input of that size.
func ValidSpan(n, i0, stride, size int) (lo, hi int) {
	if i0 < 0 {
		lo = min(n, (-i0+stride-1)/stride)
	}
	hi = n
	if last := i0 + (n-1)*stride; last >= size {
		hi = 0
		if size > i0 {
			hi = (size - i0 + stride - 1) / stride
		}
	}
	return lo, max(lo, hi)
}
