package runtime

import (
	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Backward of Conv. For one image and group the forward is the product
// Y_g [M/G, OH·OW] = W_g [M/G, K] · P [K, OH·OW] with the patch matrix P
// (im2col, K = C/G·KH·KW), so
//
//	dW_g = Σ_images dY_g · Pᵀ,   dP = W_gᵀ · dY_g (scattered back into dX: col2im),   dB = Σ dY.
//
// Layout of the work. The batch is cut into one contiguous range of images
// per worker (a static split, so that the sums, and hence the gradients,
// are the same bit for bit whenever the thread count is), and each worker
// takes its images a few at a time: their patch matrices side by side form
// one wider P [K, b·OH·OW], so that a late layer's small images (7×7 in
// CNN9) still make products of a useful width. dW is accumulated
// transposed, dWᵀ_g [K, M/G] += P · dY_gᵀ, because gemm packs the
// materialised P faster as its left operand than Pᵀ as its right one; each
// worker keeps its own and they are added in worker order at the end. dP
// comes from W_gᵀ packed once per call.
//
// Layers that Winograd's F(2×2, 3×3) computes (3×3, unit stride, one group,
// enough channels) take both gradients from it instead: dX as the forward
// convolution of dY by the rotated, transposed filter (conv.InputGradient),
// dW from conv.WinogradFilterGradient (16 products over the tiles, with the
// same static split of the batch); the chunks then compute dB alone.

func registerConvGrad(r *Registry) {
	r.RegisterGrad("", "Conv", 1, buildConvGrad)
}

// convGradColumns is the width of the patch matrix a worker builds at a
// time (images of the chunk × output pixels), about what keeps the products
// efficient without growing the scratch: 1024 columns of a 3×3×128 layer
// are 4.5 MiB.
const convGradColumns = 1024

type convGrad struct {
	attrs ConvAttrs
	need  []bool
}

func buildConvGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*convKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	if k.fuse.act != gemm.ActNone {
		return nil, g.Errorf("unsupported: the gradient of a Conv with a fused activation")
	}
	return &convGrad{attrs: k.attrs, need: g.Need}, nil
}

func (c *convGrad) Saves() (inputs, outputs []bool) {
	return []bool{needs(c.need, 1), needs(c.need, 0)}, nil
}

func (c *convGrad) Backward(rc *RunContext, a *GradArgs) error {
	xShape, wShape := a.InShapes[0], a.InShapes[1]
	geo, err := c.attrs.Geometry(&Tensor{dtype: Float32, shape: xShape}, &Tensor{dtype: Float32, shape: wShape})
	if err != nil {
		return rc.Errorf("%v", err)
	}
	for i, t := range a.In[:2] {
		if t != nil && t.dtype != Float32 {
			return rc.Errorf("backward: input %d: element type %v is not supported (FLOAT only)", i, t.dtype)
		}
	}
	cb := &convBackward{g: geo, batch: xShape[0], dy: a.DOut[0].Float32s()}
	if needs(c.need, 0) {
		dx := rc.New(Float32, xShape...)
		cb.dx = dx.Float32s()
		cb.w = a.In[1].Float32s()
		a.DIn[0] = dx
	}
	var dw *Tensor
	if needs(c.need, 1) {
		dw = rc.New(Float32, wShape...)
		cb.x = a.In[0].Float32s()
		a.DIn[1] = dw
	}
	var db *Tensor
	if needs(c.need, 2) {
		db = rc.New(Float32, geo.M)
		a.DIn[2] = db
	}
	cb.run(rc, dw, db)
	return nil
}

// convBackward is one Conv backward call: the geometry of one image, the
// batch, the tensors (x for dW, w for dX; nil when not needed) and dy.
type convBackward struct {
	g      conv.Geometry
	batch  int
	x, w   []float32
	dx, dy []float32
	// wT[gi] is W_gᵀ [K, M/G] packed for dP = W_gᵀ·dY_g.
	wT []*gemm.PackedA
}

// convWorker is one worker's scratch: the chunk's patch matrix P and its
// gradient dP [K, cols], the chunk's dY_g [M/G, cols], the transposed dW
// [G, K, M/G] and the bias sums [M].
type convWorker struct {
	p, dp, dyc, dwT []float32
	db              []float64
}

func (cb *convBackward) run(rc *RunContext, dw, db *Tensor) {
	g := cb.g
	workers := min(rc.Threads(), cb.batch)
	inner := max(1, rc.Threads()/max(workers, 1))
	if cb.batch == 0 {
		workers = 0
	}
	chunk := max(1, min(cb.batch, convGradColumns/max(g.OutHW(), 1)))
	cols := chunk * g.OutHW()
	k, mg := g.K(), g.MG()
	if cb.dx != nil {
		cb.inputGradientWinograd(rc)
	}
	if dw != nil && conv.WinogradFilterGradient(g, cb.x, cb.dy, cb.batch, dw.Float32s(), rc.Threads()) {
		cb.x, dw = nil, nil // the chunks only compute what is left
	}
	if cb.dx != nil {
		for gi := range g.Group {
			cb.wT = append(cb.wT, gemm.PackA(k, mg, cb.w[gi*mg*k:], k, true))
		}
	}
	ws := make([]*convWorker, workers)
	for i := range ws {
		w := &convWorker{p: rc.Float32Scratch(k * cols)}
		if cb.dx != nil {
			w.dp = rc.Float32Scratch(k * cols)
		}
		if chunk > 1 {
			w.dyc = rc.Float32Scratch(mg * cols)
		}
		if dw != nil {
			w.dwT = rc.Float32Scratch(g.FilterLen())
			clear(w.dwT)
		}
		if db != nil {
			w.db = make([]float64, g.M)
		}
		ws[i] = w
	}
	staticFor(workers, cb.batch, func(wi, lo, hi int) {
		for n0 := lo; n0 < hi; n0 += chunk {
			cb.chunk(ws[wi], n0, min(hi, n0+chunk), inner)
		}
	})
	if dw != nil {
		cb.reduceFilter(ws, dw.Float32s())
	}
	if db != nil {
		d := db.Float32s()
		for m := range d {
			var s float64
			for _, w := range ws {
				s += w.db[m]
			}
			d[m] = float32(s)
		}
	}
}

// inputGradientWinograd computes dX as the convolution of dY by the transposed, rotated filter
// (conv.InputGradient) when that convolution runs as Winograd's F(2×2, 3×3), 2.25 times fewer
// multiply-adds than dP = Wᵀ·dY and its scatter; it then clears cb.dx, so the chunks only
// compute dW and dB.
func (cb *convBackward) inputGradientWinograd(rc *RunContext) {
	gt, wt, ok := conv.InputGradient(cb.g, cb.w)
	if !ok || conv.Choose(gt) != conv.Winograd {
		return
	}
	conv.NewFilter(gt, wt, conv.Winograd, false).Forward(gt, cb.dy, cb.dx, cb.batch, nil, rc.Threads())
	cb.dx = nil
}

// staticFor cuts [0, n) into workers contiguous ranges of near-equal size
// and calls fn(worker, lo, hi) for each on its own goroutine: a split that
// depends only on n and workers, so per-worker partial sums are always the
// same.
func staticFor(workers, n int, fn func(worker, lo, hi int)) {
	parallel.For(workers, workers, func(w0, w1 int) {
		for w := w0; w < w1; w++ {
			fn(w, n*w/workers, n*(w+1)/workers)
		}
	})
}

// chunk handles images [n0, n1) for every group.
func (cb *convBackward) chunk(w *convWorker, n0, n1, inner int) {
	g := cb.g
	ohw, k, mg := g.OutHW(), g.K(), g.MG()
	cols := (n1 - n0) * ohw
	cgLen := g.CG() * g.H * g.W
	if cb.dx != nil {
		clear(cb.dx[n0*g.InputLen() : n1*g.InputLen()])
	}
	if w.db != nil {
		for n := n0; n < n1; n++ {
			for m := range g.M {
				w.db[m] += sum64(cb.dy[(n*g.M+m)*ohw : (n*g.M+m+1)*ohw])
			}
		}
	}
	for gi := range g.Group {
		// dY_g of the chunk as [M/G, cols]: in place for one image.
		dyc, ldy := cb.dy[n0*g.OutputLen()+gi*mg*ohw:], ohw
		if n1-n0 > 1 {
			for n := n0; n < n1; n++ {
				for m := range mg {
					src := cb.dy[(n*g.M+gi*mg+m)*ohw : (n*g.M+gi*mg+m+1)*ohw]
					copy(w.dyc[m*cols+(n-n0)*ohw:], src)
				}
			}
			dyc, ldy = w.dyc, cols
		}
		if cb.x != nil {
			parallel.For(inner, g.CG(), func(c0, c1 int) {
				for n := n0; n < n1; n++ {
					xg := cb.x[n*g.InputLen()+gi*cgLen:]
					g.Im2colRows(w.p[(n-n0)*ohw:], cols, xg, c0, c1)
				}
			})
			gemm.MulUnpacked(k, mg, cols, w.p, cols, false, gemm.Dense{Data: dyc, Ld: ldy, Trans: true},
				w.dwT[gi*k*mg:(gi+1)*k*mg], mg, &gemm.Epilogue{Accumulate: true}, inner)
		}
		if cb.dx != nil {
			cb.wT[gi].Mul(cols, gemm.Dense{Data: dyc, Ld: ldy}, w.dp, cols, nil, inner)
			parallel.For(inner, g.CG(), func(c0, c1 int) {
				for n := n0; n < n1; n++ {
					dxg := cb.dx[n*g.InputLen()+gi*cgLen:]
					g.Col2imRows(dxg, w.dp[(n-n0)*ohw:], cols, c0, c1)
				}
			})
		}
	}
}

// reduceFilter adds the workers' transposed filter gradients [G, K, M/G]
// into dw: [M, C/G, KH, KW], in worker order.
func (cb *convBackward) reduceFilter(ws []*convWorker, dw []float32) {
	g := cb.g
	k, mg := g.K(), g.MG()
	clear(dw)
	for _, w := range ws {
		for gi := range g.Group {
			src := w.dwT[gi*k*mg : (gi+1)*k*mg]
			dst := dw[gi*mg*k : (gi+1)*mg*k]
			for kk := range k {
				for r, v := range src[kk*mg : (kk+1)*mg] {
					dst[r*k+kk] += v
				}
			}
		}
	}
}
