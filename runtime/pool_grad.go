package runtime

import (
	"fmt"
	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Backward of the pooling operators, one plane (image, channel) at a time
// in parallel (planes write disjoint parts of dx, so the result does not
// depend on the thread count). MaxPool routes each output's gradient to the
// position of its window's maximum, the first one in scan order on ties, as
// the forward's Indices output reports it; the maxima are found again from
// the saved input rather than kept from the forward. AveragePool spreads
// dy/divisor over the window's taps inside the input, the divisor counting
// the padding or not (count_include_pad) exactly as the forward does.

func registerPoolGrad(r *Registry) {
	r.RegisterGrad("", "MaxPool", 1, buildPoolGrad)
	r.RegisterGrad("", "AveragePool", 1, buildPoolGrad)
	r.RegisterGrad("", "GlobalAveragePool", 1, func(g *GradNode) (GradKernel, error) { return globalPoolGrad{}, nil })
	r.RegisterGrad("", "GlobalMaxPool", 1, func(g *GradNode) (GradKernel, error) { return globalPoolGrad{max: true}, nil })
}

// poolGrad is the backward of a poolKernel.
type poolGrad struct{ k *poolKernel }

func buildPoolGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*poolKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &poolGrad{k: k}, nil
}

func (p *poolGrad) Saves() (inputs, outputs []bool) {
	if p.k.max {
		return []bool{true}, nil
	}
	return nil, nil
}

func (p *poolGrad) Backward(rc *RunContext, g *GradArgs) error {
	shape := g.InShapes[0]
	geo, err := p.k.geometry(&Tensor{dtype: Float32, shape: shape})
	if err != nil {
		return rc.Errorf("%v", err)
	}
	dy := g.DOut[0]
	if dy == nil {
		return nil
	}
	planes := shape[0] * shape[1]
	w := newPoolSpans(geo)
	dx := rc.NewZeroed(Float32, shape...)
	threads := poolThreads(rc, planes*geo.OutLen()*p.k.windowSize())
	dys, dxs := dy.Float32s(), dx.Float32s()
	if p.k.max {
		x := g.In[0]
		if x.dtype != Float32 {
			rc.release(dx)
			return rc.Errorf("backward: element type %v is not supported (FLOAT only)", x.dtype)
		}
		xs := x.Float32s()
		parallel.For(threads, planes, func(lo, hi int) { w.maxPlanes(xs, dys, dxs, lo, hi) })
	} else {
		parallel.For(threads, planes, func(lo, hi int) {
			for pl := lo; pl < hi; pl++ {
				w.averagePlane(dys[pl*w.outLen:(pl+1)*w.outLen], dxs[pl*w.inLen:(pl+1)*w.inLen], p.k.countPad)
			}
		})
	}
	g.DIn[0] = dx
	return nil
}

// poolSpan is one output position along one axis: taps [lo, hi) lie inside
// the input (tap k reads start + k·dil), padded of them inside the padded
// input.
type poolSpan struct{ lo, hi, start, padded int }

// poolSpans is the window arithmetic of a pooling backward, per axis
// (depth, height, width; unit windows on the leading axes of 1-D and 2-D
// pools).
type poolSpans struct {
	spans         [3][]poolSpan
	dil           [3]int
	h, w          int
	inLen, outLen int
	// pairs says that the windows are 2×2 with stride 2, no padding or dilation, all inside
	// the plane (maxPlane2x2 then walks them directly).
	pairs bool
}

func newPoolSpans(p conv.PoolGeometry) *poolSpans {
	s := &poolSpans{h: p.Axes[1].In, w: p.Axes[2].In, inLen: p.InLen(), outLen: p.OutLen()}
	for a, win := range p.Axes {
		s.dil[a] = win.Dilation
		out := make([]poolSpan, win.Out())
		for o := range out {
			start := o*win.Stride - win.PadBegin
			lo, hi := conv.ValidSpan(win.K, start, win.Dilation, win.In)
			padded := min(win.K, (win.In+win.PadEnd-start+win.Dilation-1)/win.Dilation)
			out[o] = poolSpan{lo: lo, hi: hi, start: start, padded: padded}
		}
		s.spans[a] = out
	}
	pair := func(w conv.Window) bool {
		return w.K == 2 && w.Stride == 2 && w.Dilation == 1 && w.PadBegin == 0 && 2*w.Out() <= w.In
	}
	s.pairs = p.Axes[0].In == 1 && pair(p.Axes[1]) && pair(p.Axes[2])
	return s
}

// maxPlanes adds the output gradients of planes [lo, hi) at their windows' first maxima: 2×2
// windows by the vector kernel where the CPU has one, else plane by plane.
func (s *poolSpans) maxPlanes(x, dy, dx []float32, lo, hi int) {
	if s.pairs && maxPool2x2GradVec != nil {
		maxPool2x2GradPlanes(s, x, dy, dx, lo, hi)
		return
	}
	for pl := lo; pl < hi; pl++ {
		xp, dyp, dxp := x[pl*s.inLen:(pl+1)*s.inLen], dy[pl*s.outLen:(pl+1)*s.outLen], dx[pl*s.inLen:(pl+1)*s.inLen]
		if s.pairs {
			s.maxPlane2x2(xp, dyp, dxp)
		} else {
			s.maxPlane(xp, dyp, dxp)
		}
	}
}

// maxPlane adds each output gradient of one plane at the position of its
// window's first maximum in x.
func (s *poolSpans) maxPlane(x, dy, dx []float32) {
	o := 0
	for _, a := range s.spans[0] {
		for _, b := range s.spans[1] {
			for _, c := range s.spans[2] {
				best, at := float32(0), -1
				for kd := a.lo; kd < a.hi; kd++ {
					for kh := b.lo; kh < b.hi; kh++ {
						row := ((a.start+kd*s.dil[0])*s.h + b.start + kh*s.dil[1]) * s.w
						for kw := c.lo; kw < c.hi; kw++ {
							pos := row + c.start + kw*s.dil[2]
							if v := x[pos]; at < 0 || v > best || (v != v && best == best) {
								best, at = v, pos
							}
						}
					}
				}
				if at >= 0 {
					dx[at] += dy[o]
				}
				o++
			}
		}
	}
}

// maxPool2x2GradArgs is the contract of the vector 2×2 max-pool gradient kernel: for planes
// p < planes, output rows r < oh and columns o < ow, dy[(p·oh + r)·ow + o] is added to dx at
// the first maximum of x over the window's positions (2r, 2o), (2r, 2o+1), (2r+1, 2o),
// (2r+1, 2o+1) of plane p (rows of w values, inLen values per plane), NaN above everything:
// what maxPlane2x2 does plane by plane.
type maxPool2x2GradArgs struct {
	x, dy, dx                []float32
	planes, w, oh, ow, inLen int
}

// maxPool2x2GradVec, if set, runs maxPool2x2GradArgs 16 windows at a time (vecmath_amd64.go):
// the scalar loop's data-dependent branches made it a twentieth of a CNN9 training step.
var maxPool2x2GradVec func(a *maxPool2x2GradArgs)

// maxPool2x2GradPlanes runs the vector kernel over planes [lo, hi) of a 2×2 max pool's
// gradient (s.pairs), after checking that every index lies inside the slices.
func maxPool2x2GradPlanes(s *poolSpans, x, dy, dx []float32, lo, hi int) {
	oh, ow := len(s.spans[1]), len(s.spans[2])
	if hi <= lo || oh == 0 || ow == 0 {
		return
	}
	if 2*oh > s.h || 2*ow > s.w || hi*s.inLen > len(x) || hi*s.inLen > len(dx) || hi*oh*ow > len(dy) {
		panic(fmt.Sprintf("runtime: 2×2 max-pool gradient of planes %d..%d (%d×%d of %d×%d) outside the slices", lo, hi, oh, ow, s.h, s.w))
	}
	maxPool2x2GradVec(&maxPool2x2GradArgs{x: x[lo*s.inLen:], dy: dy[lo*oh*ow:], dx: dx[lo*s.inLen:],
		planes: hi - lo, w: s.w, oh: oh, ow: ow, inLen: s.inLen})
}

// maxPlane2x2 is maxPlane for 2×2 windows with stride 2 wholly inside the plane (s.pairs): the
// same first maximum of each window (row by row, NaN above everything), without the span walk.
func (s *poolSpans) maxPlane2x2(x, dy, dx []float32) {
	oh, ow := len(s.spans[1]), len(s.spans[2])
	for r := range oh {
		i0, i1 := 2*r*s.w, (2*r+1)*s.w
		for o, g := range dy[r*ow : (r+1)*ow] {
			at, best := i0+2*o, x[i0+2*o]
			for _, pos := range [3]int{i0 + 2*o + 1, i1 + 2*o, i1 + 2*o + 1} {
				if v := x[pos]; v > best || (v != v && best == best) {
					best, at = v, pos
				}
			}
			dx[at] += g
		}
	}
}

// averagePlane spreads each output gradient of one plane over its window.
func (s *poolSpans) averagePlane(dy, dx []float32, countPad bool) {
	o := 0
	for _, a := range s.spans[0] {
		for _, b := range s.spans[1] {
			rows := (a.hi - a.lo) * (b.hi - b.lo)
			if countPad {
				rows = a.padded * b.padded
			}
			for _, c := range s.spans[2] {
				n := c.hi - c.lo
				if countPad {
					n = c.padded
				}
				if rows*n == 0 {
					o++
					continue
				}
				v := dy[o] / float32(rows*n)
				for kd := a.lo; kd < a.hi; kd++ {
					for kh := b.lo; kh < b.hi; kh++ {
						row := ((a.start+kd*s.dil[0])*s.h + b.start + kh*s.dil[1]) * s.w
						for kw := c.lo; kw < c.hi; kw++ {
							dx[row+c.start+kw*s.dil[2]] += v
						}
					}
				}
				o++
			}
		}
	}
}

// globalPoolGrad is the backward of GlobalAveragePool (dy/size over the
// plane) and GlobalMaxPool (dy at the plane's first maximum).
type globalPoolGrad struct{ max bool }

func (p globalPoolGrad) Saves() (inputs, outputs []bool) {
	if p.max {
		return []bool{true}, nil
	}
	return nil, nil
}

func (p globalPoolGrad) Backward(rc *RunContext, g *GradArgs) error {
	shape := g.InShapes[0]
	size := NumElements(shape[2:])
	dy := g.DOut[0].Float32s()
	dx := rc.New(Float32, shape...)
	d := dx.Float32s()
	var x []float32
	if p.max {
		if g.In[0].dtype != Float32 {
			rc.release(dx)
			return rc.Errorf("backward: element type %v is not supported (FLOAT only)", g.In[0].dtype)
		}
		x = g.In[0].Float32s()
	}
	parallelChunks(rc.threads, len(dy), size, func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			plane := d[pl*size : (pl+1)*size]
			if !p.max {
				v := dy[pl] / float32(size)
				for i := range plane {
					plane[i] = v
				}
				continue
			}
			clear(plane)
			xp := x[pl*size : (pl+1)*size]
			at := 0
			for i, v := range xp {
				if v > xp[at] || (v != v && xp[at] == xp[at]) {
					at = i
				}
			}
			plane[at] = dy[pl]
		}
	})
	g.DIn[0] = dx
	return nil
}
