package runtime

// Backward of the shape and data-movement operators. The views (Reshape,
// Flatten, Squeeze, Unsqueeze, Identity, and Dropout, which the trainer
// runs with inference semantics) pass the gradient through reshaped, as a
// view; Transpose applies the inverse permutation; Concat and Split swap
// roles; Expand sums over the broadcast axes; constant Pad crops (or, for
// negative pads, zero-pads) the gradient.

func registerShapeGrad(r *Registry) {
	view := func(g *GradNode) (GradKernel, error) { return viewGrad{}, nil }
	for _, op := range []struct {
		name     string
		versions []int
	}{
		{"Reshape", []int{1}}, {"Flatten", []int{1}}, {"Squeeze", []int{1}}, {"Unsqueeze", []int{1}},
		{"Identity", []int{1}}, {"Dropout", []int{1}},
	} {
		for _, v := range op.versions {
			r.RegisterGrad("", op.name, v, view)
		}
	}
	r.RegisterGrad("", "Transpose", 1, buildTransposeGrad)
	r.RegisterGrad("", "Concat", 1, buildConcatGrad)
	r.RegisterGrad("", "Split", 1, buildSplitGrad)
	r.RegisterGrad("", "Expand", 8, func(g *GradNode) (GradKernel, error) { return expandGrad{}, nil })
	r.RegisterGrad("", "Pad", 1, buildPadGrad)
}

// viewGrad passes the gradient of output 0 to input 0 with the input's
// shape (extra inputs, such as Reshape's shape, get none).
type viewGrad struct{}

func (viewGrad) Saves() (inputs, outputs []bool) { return nil, nil }

func (viewGrad) Backward(rc *RunContext, g *GradArgs) error {
	if g.DOut[0] != nil {
		g.DIn[0] = rc.View(g.DOut[0], g.InShapes[0])
	}
	return nil
}

// transposeGrad transposes the gradient back.
type transposeGrad struct{ perm []int }

func buildTransposeGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*transposeKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &transposeGrad{perm: k.perm}, nil
}

func (t *transposeGrad) Saves() (inputs, outputs []bool) { return nil, nil }

func (t *transposeGrad) Backward(rc *RunContext, g *GradArgs) error {
	dy := g.DOut[0]
	rank := dy.Rank()
	inv := make([]int, rank)
	for d := range rank {
		p := rank - 1 - d
		if t.perm != nil {
			p = t.perm[d]
		}
		inv[p] = d
	}
	g.DIn[0] = transposeTensor(rc, dy, dy.shape, inv)
	return nil
}

// concatGrad cuts the gradient into the inputs' slabs.
type concatGrad struct {
	axis int
	need []bool
}

func buildConcatGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*concatKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &concatGrad{axis: k.axis, need: g.Need}, nil
}

func (c *concatGrad) Saves() (inputs, outputs []bool) { return nil, nil }

func (c *concatGrad) Backward(rc *RunContext, g *GradArgs) error {
	dy := g.DOut[0]
	axis, _ := normAxis(c.axis, dy.Rank())
	st := stridesOf(dy.shape)
	start := 0
	for i, shape := range g.InShapes {
		size := shape[axis]
		if needs(c.need, i) {
			maps := identityMaps(dy.shape)
			maps[axis] = affine(size, start*st[axis], st[axis])
			d := rc.New(Float32, shape...)
			newMovePlan(maps).move(rc, d, dy, nil)
			g.DIn[i] = d
		}
		start += size
	}
	return nil
}

// splitGrad concatenates the outputs' gradients (zeros where absent).
type splitGrad struct{ axis int }

func buildSplitGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*splitKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &splitGrad{axis: k.axis}, nil
}

func (s *splitGrad) Saves() (inputs, outputs []bool) { return nil, nil }

func (s *splitGrad) Backward(rc *RunContext, g *GradArgs) error {
	shape := g.InShapes[0]
	axis, _ := normAxis(s.axis, len(shape))
	parts := make([]*Tensor, len(g.DOut))
	var zeros []*Tensor
	for i, d := range g.DOut {
		if d == nil {
			d = rc.NewZeroed(Float32, g.OutShapes[i]...)
			zeros = append(zeros, d)
		}
		parts[i] = d
	}
	dx := rc.New(Float32, shape...)
	concatInto(rc, dx, parts, axis)
	for _, z := range zeros {
		rc.release(z)
	}
	g.DIn[0] = dx
	return nil
}

// expandGrad sums the gradient over the axes Expand broadcast.
type expandGrad struct{}

func (expandGrad) Saves() (inputs, outputs []bool) { return nil, nil }

func (expandGrad) Backward(rc *RunContext, g *GradArgs) error {
	g.DIn[0] = sumToShape(rc, g.DOut[0], g.InShapes[0])
	return nil
}

// padGrad is constant Pad's backward: the gradient of the kept input
// elements is the gradient at their place in the output (zero for elements
// a negative pad cropped), and the constant's is the sum over the padding.
type padGrad struct {
	k    *padKernel
	need []bool
}

func buildPadGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*padKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	if k.mode != padConstant && needAny(g.Need) {
		return nil, g.Errorf("unsupported: the gradient of Pad in %s mode (only constant mode)", k.mode)
	}
	return &padGrad{k: k, need: g.Need}, nil
}

func (p *padGrad) Saves() (inputs, outputs []bool) {
	// The pads and axes inputs (small integer tensors).
	return []bool{false, true, false, true}, nil
}

func (p *padGrad) Backward(rc *RunContext, g *GradArgs) error {
	dy := g.DOut[0]
	shape := g.InShapes[0]
	begin, end, err := p.k.padsPerAxis(rc, g.In, len(shape))
	if err != nil {
		return err
	}
	st := stridesOf(dy.shape)
	maps := make([]axisMap, len(shape))
	for d := range shape {
		e, err := newPadExtent(padConstant, dy.shape[d], -begin[d], -end[d])
		if err != nil {
			return rc.Errorf("axis %d: %v", d, err)
		}
		maps[d] = e.axisMap(padConstant, st[d])
	}
	dx := rc.New(Float32, shape...)
	newMovePlan(maps).move(rc, dx, dy, nil)
	if needs(p.need, 2) {
		var total float64
		for _, v := range dy.Float32s() {
			total += float64(v)
		}
		for _, v := range dx.Float32s() {
			total -= float64(v)
		}
		dv := rc.New(Float32, g.InShapes[2]...)
		dv.Float32s()[0] = float32(total)
		g.DIn[2] = dv
	}
	if needs(p.need, 0) {
		g.DIn[0] = dx
	} else {
		rc.release(dx)
	}
	return nil
}
