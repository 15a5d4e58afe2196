package runtime

import "errors"

// trainPlan is a plan prepared for training: which values carry gradients,
// which steps are differentiated, with their gradient kernels, and when
// each value can be recycled in a training forward and in the backward.
type trainPlan struct {
	p     *plan
	steps []*trainStep
	// paramOf[v] is the parameter behind value v, or nil.
	paramOf []*Param
	// dataInputs are the graph inputs that are not parameters.
	dataInputs []ValueInfo
	// wanted[v]: value v's gradient reaches a trainable parameter.
	wanted []bool
	// saved[v]: some differentiated step keeps value v for its backward.
	saved []bool
}

// trainStep is one step of the plan with its training information.
type trainStep struct {
	s *step
	// grad is the step's gradient kernel: always for an active step, and
	// for inactive ones whose operator has a training forward (tf).
	grad GradKernel
	tf   TrainForwarder
	// active: the step lies on a path from a trainable parameter to an
	// output, so Backward runs it.
	active bool
	// need[i]: input i's gradient is wanted.
	need            []bool
	saveIn, saveOut []bool
	// fwdRelease are the values recycled after this step in a training
	// forward (its dead and unused values that no backward keeps);
	// bwdRelease the kept values recycled after this step's backward;
	// infRelease the values recycled after it in an inference forward.
	fwdRelease, bwdRelease, infRelease []int
}

func newTrainPlan(p *plan, params []*Param, o *Options, frozen bool) (*trainPlan, error) {
	tp := &trainPlan{p: p, paramOf: make([]*Param, len(p.values))}
	byName := map[string]*Param{}
	for _, pr := range params {
		byName[pr.Name] = pr
	}
	for i, info := range p.inputs {
		if pr := byName[info.Name]; pr != nil {
			tp.paramOf[p.inputIDs[i]] = pr
			continue
		}
		tp.dataInputs = append(tp.dataInputs, info)
	}
	for _, s := range p.steps {
		tp.steps = append(tp.steps, &trainStep{s: s})
	}
	requires := tp.requiresGrad()
	tp.markWanted(requires)
	if err := tp.buildGradKernels(o, frozen); err != nil {
		return nil, err
	}
	tp.planReleases()
	return tp, nil
}

// requiresGrad marks the values computed (through differentiable steps)
// from a trainable parameter.
func (tp *trainPlan) requiresGrad() []bool {
	req := make([]bool, len(tp.p.values))
	for v, pr := range tp.paramOf {
		if pr != nil && pr.Trainable {
			req[v] = true
		}
	}
	for _, ts := range tp.steps {
		s := ts.s
		if s.shapeOnly || (canonicalDomain(s.node.Domain) == "" && nonDifferentiable[s.node.OpType]) {
			continue
		}
		any := false
		for _, v := range s.in {
			if v >= 0 && req[v] {
				any = true
			}
		}
		if !any {
			continue
		}
		for _, v := range s.out {
			if v >= 0 {
				req[v] = true
			}
		}
	}
	return req
}

// markWanted walks back from the outputs: a value's gradient is wanted if it
// requires one and an output or an active step reads it; a step is active
// if one of its outputs' gradients is wanted.
func (tp *trainPlan) markWanted(req []bool) {
	tp.wanted = make([]bool, len(tp.p.values))
	for _, v := range tp.p.outputIDs {
		if req[v] {
			tp.wanted[v] = true
		}
	}
	for i := len(tp.steps) - 1; i >= 0; i-- {
		ts := tp.steps[i]
		for _, v := range ts.s.out {
			if v >= 0 && tp.wanted[v] {
				ts.active = true
			}
		}
		ts.need = make([]bool, len(ts.s.in))
		if !ts.active {
			continue
		}
		for j, v := range ts.s.in {
			if v >= 0 && req[v] {
				ts.need[j] = true
				tp.wanted[v] = true
			}
		}
	}
}

// buildGradKernels plans the gradient kernel of every active step (an error
// for each one that has none) and of the inactive steps whose operator has
// a training-mode forward.
func (tp *trainPlan) buildGradKernels(o *Options, frozen bool) error {
	var errs []error
	for _, ts := range tp.steps {
		n := ts.s.node
		d := canonicalDomain(n.Domain)
		build, ok := o.registry.LookupGrad(d, n.OpType, n.Opset)
		if !ok {
			if ts.active {
				errs = append(errs, n.Errorf("unsupported: no gradient for %s at opset %d, and the node lies between trainable parameters and the outputs", opLabel(d, n.OpType), n.Opset))
			}
			continue
		}
		gn := &GradNode{Node: n, Forward: unwrapKernel(ts.s.kernel), Need: ts.need, FrozenStats: frozen}
		gk, err := safeGradBuild(build, gn)
		if err != nil {
			if ts.active {
				errs = append(errs, err)
			}
			continue
		}
		if tf, ok := gk.(TrainForwarder); ok {
			ts.tf = tf
		}
		if ts.active || ts.tf != nil {
			ts.grad = gk
		}
		if ts.active {
			ts.saveIn, ts.saveOut = gk.Saves()
			ts.saveIn = fitFlags(ts.saveIn, len(ts.s.in))
			ts.saveOut = fitFlags(ts.saveOut, len(ts.s.out))
		}
	}
	return errors.Join(errs...)
}

func opLabel(domain, op string) string {
	if domain == "" {
		return "ai.onnx/" + op
	}
	return domain + "/" + op
}

// fitFlags returns f with exactly n entries (missing ones false).
func fitFlags(f []bool, n int) []bool {
	out := make([]bool, n)
	copy(out, f)
	return out
}

func safeGradBuild(build GradBuilder, g *GradNode) (k GradKernel, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = g.Errorf("internal error while planning the gradient: %v", r)
		}
	}()
	k, err = build(g)
	if err == nil && k == nil {
		err = g.Errorf("internal error: the gradient builder returned no kernel")
	}
	return k, err
}

// planReleases decides when each value is recycled in a training forward
// (after its last reader, unless a backward keeps it) and in the backward
// (after the backward of the first step that keeps it, the last to run).
func (tp *trainPlan) planReleases() {
	p := tp.p
	tp.saved = make([]bool, len(p.values))
	firstSaver := make([]int, len(p.values))
	for i := range firstSaver {
		firstSaver[i] = -1
	}
	for i, ts := range tp.steps {
		if !ts.active {
			continue
		}
		mark := func(v int) {
			if v < 0 {
				return
			}
			tp.saved[v] = true
			if firstSaver[v] < 0 {
				firstSaver[v] = i
			}
		}
		for j, v := range ts.s.in {
			if ts.saveIn[j] {
				mark(v)
			}
		}
		for j, v := range ts.s.out {
			if ts.saveOut[j] {
				mark(v)
			}
		}
	}
	for _, ts := range tp.steps {
		ts.infRelease = append(append([]int(nil), ts.s.dead...), ts.s.unused...)
		for _, v := range ts.infRelease {
			if !tp.saved[v] {
				ts.fwdRelease = append(ts.fwdRelease, v)
			}
		}
	}
	for v, i := range firstSaver {
		if i >= 0 {
			tp.steps[i].bwdRelease = append(tp.steps[i].bwdRelease, v)
		}
	}
}

// checkInputs validates the data inputs of a Forward.
func (tp *trainPlan) checkInputs(inputs map[string]*Tensor) error {
	return checkInputs(tp.dataInputs, inputs)
}
