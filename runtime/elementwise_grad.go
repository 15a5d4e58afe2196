package runtime

// Backward of the broadcasting arithmetic: Add, Sub, Mul, Div, Sum, Mean
// and Neg. An input broadcast along some axes receives the sum of the
// gradient over those axes (sumToShape), so a bias [1, C, 1, 1] added to
// [N, C, H, W] gets Σ over N, H, W.

func registerElementwiseGrad(r *Registry) {
	r.RegisterGrad("", "Add", 7, arithGradBuilder(opAdd))
	r.RegisterGrad("", "Sub", 7, arithGradBuilder(opSub))
	r.RegisterGrad("", "Mul", 7, arithGradBuilder(opMul))
	r.RegisterGrad("", "Div", 7, arithGradBuilder(opDiv))
	r.RegisterGrad("", "Sum", 6, arithGradBuilder(opAdd))
	r.RegisterGrad("", "Mean", 6, arithGradBuilder(opMean))
	r.RegisterGrad("", "Neg", 6, func(g *GradNode) (GradKernel, error) { return negGrad{}, nil })
}

// arithGrad is the backward of Add, Sub, Mul, Div (two inputs) and Sum,
// Mean (any number).
type arithGrad struct {
	op   arithOp
	need []bool
}

func arithGradBuilder(op arithOp) GradBuilder {
	return func(g *GradNode) (GradKernel, error) {
		return &arithGrad{op: op, need: g.Need}, nil
	}
}

func (a *arithGrad) Saves() (inputs, outputs []bool) {
	switch a.op {
	case opMul:
		// dA reads B and dB reads A.
		return []bool{needs(a.need, 1), needs(a.need, 0)}, nil
	case opDiv:
		return []bool{needs(a.need, 1), true}, nil
	}
	return nil, nil
}

func (a *arithGrad) Backward(rc *RunContext, g *GradArgs) error {
	dy := g.DOut[0]
	for i := range g.InShapes {
		if !needs(a.need, i) {
			continue
		}
		d, err := a.inputGrad(rc, g, i, dy)
		if err != nil {
			return err
		}
		g.DIn[i] = d
	}
	return nil
}

// inputGrad returns ∂L/∂In[i].
func (a *arithGrad) inputGrad(rc *RunContext, g *GradArgs, i int, dy *Tensor) (*Tensor, error) {
	shape := g.InShapes[i]
	for _, t := range g.In {
		if t != nil && t.dtype != Float32 {
			return nil, rc.Errorf("backward: element type %v is not supported (FLOAT only)", t.dtype)
		}
	}
	switch {
	case a.op == opAdd, a.op == opSub && i == 0:
		return sumToShape(rc, dy, shape), nil
	case a.op == opSub:
		return negated(rc, sumToShape(rc, dy, shape)), nil
	case a.op == opMean:
		return scaled(rc, sumToShape(rc, dy, shape), 1/float32(len(g.InShapes))), nil
	case a.op == opMul:
		return broadcastProductSum(rc, dy, g.In[1-i], shape, opMul), nil
	case i == 0: // Div: dA = dy / B
		return broadcastProductSum(rc, dy, g.In[1], shape, opDiv), nil
	}
	// Div: dB = −Σ dy·A/B² over the broadcast axes.
	b := g.In[1]
	t := binaryFloat32(rc, opMul, dy, g.In[0])
	u := binaryFloat32(rc, opDiv, t, b)
	rc.release(t)
	v := binaryFloat32(rc, opDiv, u, b)
	rc.release(u)
	d := sumToShape(rc, v, shape)
	rc.release(v)
	return negated(rc, d), nil
}

// broadcastProductSum returns sumToShape(dy op other, shape).
func broadcastProductSum(rc *RunContext, dy, other *Tensor, shape []int, op arithOp) *Tensor {
	t := binaryFloat32(rc, op, dy, other)
	d := sumToShape(rc, t, shape)
	rc.release(t)
	return d
}

// binaryFloat32 returns a op b for float32 tensors, broadcast.
func binaryFloat32(rc *RunContext, op arithOp, a, b *Tensor) *Tensor {
	shape, err := BroadcastShapes(a.shape, b.shape)
	if err != nil {
		panic(err) // the forward checked the shapes
	}
	o := rc.New(Float32, shape...)
	arithRun[float32](rc, op, []*Tensor{a, b}, o)
	return o
}

// sumToShape sums the float32 gradient g (of a broadcast result) over the
// axes along which a tensor of the given shape was broadcast, returning a
// tensor of that shape: a view of g when nothing was broadcast.
func sumToShape(rc *RunContext, g *Tensor, shape []int) *Tensor {
	if SameShape(g.shape, shape) {
		return rc.View(g, shape)
	}
	rank := len(g.shape)
	lead := rank - len(shape)
	mask := make([]bool, rank)
	for d := range rank {
		mask[d] = d < lead || (shape[d-lead] == 1 && g.shape[d] != 1)
	}
	lay := newReduceLayout(g.shape, mask)
	out := rc.New(Float32, shape...)
	reduceFloat(rc, reduceSum, lay, g.Float32s(), out.Float32s())
	return out
}

// negated negates t in place if it owns its buffer, else into a new tensor.
func negated(rc *RunContext, t *Tensor) *Tensor { return scaled(rc, t, -1) }

// scaled multiplies t by s, in place if t owns its buffer alone.
func scaled(rc *RunContext, t *Tensor, s float32) *Tensor {
	out := t
	if !exclusive(t) {
		out = rc.New(Float32, t.shape...)
	}
	src, dst := t.Float32s(), out.Float32s()
	parallelChunks(rc.threads, len(dst), costCheap, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = src[i] * s
		}
	})
	if out != t {
		rc.release(t)
	}
	return out
}

// negGrad is Neg's backward: dx = −dy.
type negGrad struct{}

func (negGrad) Saves() (inputs, outputs []bool) { return nil, nil }

func (negGrad) Backward(rc *RunContext, g *GradArgs) error {
	g.DIn[0] = negated(rc, rc.View(g.DOut[0], g.DOut[0].shape))
	return nil
}
