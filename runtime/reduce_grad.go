package runtime

// Backward of ReduceSum and ReduceMean (the dynamo exporter writes global
// average pooling as ReduceMean over the spatial axes): the output
// gradient broadcast back over the reduced axes, divided by the number of
// reduced values for the mean.

func registerReduceGrad(r *Registry) {
	r.RegisterGrad("", "ReduceSum", 1, buildReduceGrad)
	r.RegisterGrad("", "ReduceMean", 1, buildReduceGrad)
}

type reduceGrad struct{ k *reduceKernel }

func buildReduceGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*reduceKernel)
	if !ok || (k.kind != reduceSum && k.kind != reduceMean) {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &reduceGrad{k: k}, nil
}

// Saves keeps the axes input when it arrives at run time.
func (r *reduceGrad) Saves() (inputs, outputs []bool) { return []bool{false, r.k.fromInput}, nil }

func (r *reduceGrad) Backward(rc *RunContext, g *GradArgs) error {
	shape := g.InShapes[0]
	axes := r.k.axes
	if r.k.fromInput && len(g.In) > 1 && g.In[1] != nil {
		var err error
		if axes, err = reduceAxesValues(g.In[1]); err != nil {
			return rc.Errorf("input axes: %v", err)
		}
	}
	mask, err := reduceAxesMask(axes, len(shape), r.k.noopEmpty)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	dy := g.DOut[0]
	kept := reducedShape(shape, mask, true)
	st := stridesOf(kept)
	maps := make([]axisMap, len(shape))
	count := 1
	for d, n := range shape {
		if mask[d] {
			maps[d] = affine(n, 0, 0)
			count *= n
		} else {
			maps[d] = affine(n, 0, st[d])
		}
	}
	dx := rc.New(Float32, shape...)
	newMovePlan(maps).move(rc, dx, dy, nil)
	if r.k.kind == reduceMean && count > 1 {
		dx = scaled(rc, dx, 1/float32(count))
	}
	g.DIn[0] = dx
	return nil
}
