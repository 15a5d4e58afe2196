package conv

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// The stem algorithm: convolutions of a few input channels (a network's first layer, 3 colour
// channels) with the output channels in the vector lanes. im2col would pack K = C·KH·KW rows
// for every output pixel and use each packed value for only M/16 tiles; here a tile is 16
// output pixels of one row by 16 output channels, and every tap adds the tap's 16 weights times
// each pixel's input value, broadcast straight from a zero-padded copy of the image. Only the
// filter is packed ([M/16][K][16]), once.
//
// Layouts: the padded image is [C, hp, wp], row r being input row r − PadTop and column q input
// column q − PadLeft; pixel p of the tile at output (oh, ow0) reads tap (c, kh, kw) at
// c·hp·wp + (oh·SH + kh·DH)·wp + (ow0 + p)·SW + kw·DW. A tile is computed as [16 pixels][16
// channels] and transposed into the output rows (gemm.Transpose16).

// stemMaxChannels is the most input channels per group the stem algorithm is chosen for: with
// more, K is deep enough for im2col's packing to pay.
const stemMaxChannels = 4

// stemShape reports whether the stem algorithm computes g: one group of at most
// stemMaxChannels input channels, a horizontal stride of 1, 2 or 4 (the vector kernels' pixel
// steps).
func stemShape(g Geometry) bool {
	return g.Group == 1 && g.C <= stemMaxChannels && (g.SW == 1 || g.SW == 2 || g.SW == 4)
}

// stemFilter is a filter [M, C, KH, KW] packed for the stem kernels: per block of 16 output
// channels, [K][16] with zeros past M.
type stemFilter struct {
	blocks int
	w      []float32
}

func newStemFilter(g Geometry, w []float32) *stemFilter {
	k := g.K()
	f := &stemFilter{blocks: (g.M + 15) / 16}
	f.w = make([]float32, f.blocks*k*16)
	for m := range g.M {
		for kk := range k {
			f.w[(m/16)*k*16+kk*16+m%16] = w[m*k+kk]
		}
	}
	return f
}

// stemArgs is the contract of the stem tile kernel: for pixel p < 16 and lane (channel) l < 16,
//
//	v = bias[l] (0 if bias is nil) + Σ_{t < k} w[16t + l]·x[offs[t] + p·step]
//	out[16p + l] = min(max(v, lo), hi)   (NaN stays NaN)
//
// where step is the kernel's pixel step (1, 2 or 4: one kernel per horizontal stride). Every
// offset is in [0, maxOff].
type stemArgs struct {
	w, x      []float32
	offs      []int32
	out       *[256]float32
	bias      *[16]float32
	k, maxOff int
	lo, hi    float32
}

// stemGeneric is the portable tile kernel; see stemArgs.
func stemGeneric(a *stemArgs, step int) {
	for p := range 16 {
		var v [16]float32
		if a.bias != nil {
			v = *a.bias
		}
		for t := range a.k {
			x := a.x[int(a.offs[t])+p*step]
			for l := range 16 {
				v[l] += a.w[16*t+l] * x
			}
		}
		for l := range 16 {
			a.out[16*p+l] = min(max(v[l], a.lo), a.hi)
		}
	}
}

// stemTile checks a's bounds and runs the active kernel for the pixel step.
func stemTile(k *rowKernel, a *stemArgs, step int) {
	if a.k <= 0 || len(a.w) < 16*a.k || len(a.offs) < a.k || a.maxOff+15*step >= len(a.x) {
		panic(fmt.Sprintf("conv: stem tile of %d taps (%d weights, %d offsets up to %d, step %d) over %d values",
			a.k, len(a.w), len(a.offs), a.maxOff, step, len(a.x)))
	}
	if !k.stem {
		stemGeneric(a, step)
		return
	}
	switch step {
	case 1:
		stemKernel1(a)
	case 2:
		stemKernel2(a)
	case 4:
		stemKernel4(a)
	default:
		stemGeneric(a, step)
	}
}

// stemPlan is the padded image's geometry and the taps' offsets for one input size.
type stemPlan struct {
	g        Geometry
	oh, ow   int
	hp, wp   int
	offs     []int32 // per tap (c, kh, kw): c·hp·wp + kh·DH·wp + kw·DW
	maxOff   int     // the largest of offs
	colTiles int     // 16-pixel tiles per output row
}

func newStemPlan(g Geometry) *stemPlan {
	p := &stemPlan{g: g, oh: g.OutH(), ow: g.OutW()}
	p.colTiles = (p.ow + 15) / 16
	p.hp = max(g.H+g.PadTop, (p.oh-1)*g.SH+(g.KH-1)*g.DH+1)
	p.wp = max(g.W+g.PadLeft, (16*p.colTiles-1)*g.SW+(g.KW-1)*g.DW+1)
	for c := range g.C {
		for kh := range g.KH {
			for kw := range g.KW {
				off := c*p.hp*p.wp + kh*g.DH*p.wp + kw*g.DW
				p.offs = append(p.offs, int32(off))
				p.maxOff = max(p.maxOff, off)
			}
		}
	}
	return p
}

// pad copies rows [r0, r1) of every channel of image x [C, H, W] into pad [C, hp, wp], with
// zeros around the image.
func (p *stemPlan) pad(pad, x []float32, r0, r1 int) {
	g := p.g
	for c := range g.C {
		padRows(pad[c*p.hp*p.wp:(c+1)*p.hp*p.wp], x[c*g.H*g.W:(c+1)*g.H*g.W], g.H, g.W, g.PadTop, g.PadLeft, p.wp, r0, r1, 0)
	}
}

// forwardStem computes the convolution with the stem kernels: images side by side on the
// threads, or the output rows of each image when there are fewer images than threads. The
// epilogue's bias and activation are applied in the kernel; a group epilogue finishes each
// image; a residual is not supported (Forward takes im2col then).
func (f *Filter) forwardStem(g Geometry, x, y []float32, batch int, ep *Epilogue, threads int) {
	p := newStemPlan(g)
	outer, inner := splitThreads(batch, threads)
	lo, hi := bounds(ep)
	var bias []float32
	if ep.Group == nil {
		bias = ep.Bias
	}
	parallel.ForEach(outer, batch, func(_, n int) {
		buf := getFloats(g.C * p.hp * p.wp)
		defer floatBuffers.Put(buf)
		pad := *buf
		parallel.For(inner, p.hp, func(r0, r1 int) { p.pad(pad, x[n*g.InputLen():(n+1)*g.InputLen()], r0, r1) })
		yn := y[n*g.OutputLen() : (n+1)*g.OutputLen()]
		var fin GroupFinisher
		if ep.Group != nil {
			fin = ep.Group.Begin(n, 0, x[n*g.InputLen():(n+1)*g.InputLen()], inner)
		}
		parallel.For(inner, p.oh, func(r0, r1 int) {
			f.stemRows(p, pad, yn, bias, lo, hi, r0, r1)
		})
		if fin != nil {
			ohw := p.oh * p.ow
			parallel.For(inner, g.M, func(m0, m1 int) { fin.Finish(yn[m0*ohw:], ohw, m0, 0, m1-m0, ohw) })
			fin.End()
		}
	})
}

// stemRows computes output rows [r0, r1) of one image from its padded copy.
func (f *Filter) stemRows(p *stemPlan, pad, y, bias []float32, lo, hi float32, r0, r1 int) {
	g := p.g
	k := activeRow.Load()
	ohw, taps := p.oh*p.ow, g.K()
	var out [256]float32
	var b16 [16]float32
	for mb := range f.stem.blocks {
		m0 := 16 * mb
		rows := min(16, g.M-m0)
		a := &stemArgs{w: f.stem.w[mb*taps*16 : (mb+1)*taps*16], offs: p.offs, out: &out, k: taps, maxOff: p.maxOff, lo: lo, hi: hi}
		if bias != nil {
			b16 = [16]float32{}
			copy(b16[:rows], bias[m0:m0+rows])
			a.bias = &b16
		}
		for oh := r0; oh < r1; oh++ {
			for ct := range p.colTiles {
				ow0 := 16 * ct
				if ow0+16 > p.ow && p.ow >= 16 {
					// The row's last tile ends at the row's end, overlapping the one before
					// (its first columns computed twice) so that it stores full vectors.
					ow0 = p.ow - 16
				}
				a.x = pad[oh*g.SH*p.wp+ow0*g.SW:]
				stemTile(k, a, g.SW)
				dst := y[m0*ohw+oh*p.ow+ow0:]
				if cols := min(16, p.ow-ow0); cols == 16 && rows == 16 {
					gemm.Transpose16(dst, out[:], ohw, 16, 0, 0, 1)
				} else {
					for m := range rows {
						for px := range cols {
							dst[m*ohw+px] = out[16*px+m]
						}
					}
				}
			}
		}
	}
}
