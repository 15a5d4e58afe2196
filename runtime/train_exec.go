package runtime

import (
	"context"
	"errors"
	"fmt"
)

// trainExec runs a trainPlan: forward passes (keeping what the backward
// needs) and the backward. Its buffer pool lives as long as the trainer, so
// that after the first iteration every activation and gradient reuses a
// buffer of the previous one.
type trainExec struct {
	tp     *trainPlan
	values []*Tensor
	grads  []*Tensor
	rc     RunContext
	// Per step, for the last training forward: the TrainForward state and
	// the shapes of the inputs and outputs.
	states              []any
	inShapes, outShapes [][][]int
	// outShape is each graph output's shape in the last forward.
	outShape [][]int
	// pending: a training forward's values await a Backward.
	pending bool
}

func newTrainExec(tp *trainPlan, o *Options) *trainExec {
	n := len(tp.steps)
	ex := &trainExec{
		tp:       tp,
		values:   make([]*Tensor, len(tp.p.values)),
		grads:    make([]*Tensor, len(tp.p.values)),
		rc:       RunContext{threads: o.threads(), limit: o.maxElements, alloc: newAllocator()},
		states:   make([]any, n),
		inShapes: make([][][]int, n), outShapes: make([][][]int, n),
		outShape: make([][]int, len(tp.p.outputIDs)),
	}
	return ex
}

// sweep recycles every buffer the executor still holds.
func (ex *trainExec) sweep() {
	for v, t := range ex.values {
		if t != nil {
			ex.rc.release(t)
			ex.values[v] = nil
		}
	}
	for v, t := range ex.grads {
		if t != nil {
			ex.rc.release(t)
			ex.grads[v] = nil
		}
	}
	clear(ex.states)
	ex.pending = false
}

// forward runs every step; see Trainer.Forward.
func (ex *trainExec) forward(ctx context.Context, inputs map[string]*Tensor, training bool) (res map[string]*Tensor, err error) {
	ex.sweep()
	ex.rc.ctx = ctx
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(ex.rc.node, r)
		}
		if err != nil {
			ex.sweep()
		}
		ex.rc.node = nil
	}()
	p := ex.tp.p
	for id, v := range p.values {
		if v.konst != nil {
			ex.values[id] = v.konst
		}
	}
	for i, info := range p.inputs {
		id := p.inputIDs[i]
		if pr := ex.tp.paramOf[id]; pr != nil {
			ex.values[id] = pr.Value
		} else {
			ex.values[id] = inputs[info.Name]
		}
	}
	in := make([]*Tensor, 0, 8)
	out := make([]*Tensor, 0, 8)
	for si, ts := range ex.tp.steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := ts.s
		in, out = ex.gather(s, in[:0], out[:0])
		ex.rc.node = s.node
		if training && ts.tf != nil {
			err = ex.trainForward(si, ts, in, out)
		} else {
			err = runKernelSafely(&ex.rc, s, in, out)
		}
		if err != nil {
			return nil, err
		}
		for i, v := range s.out {
			if v >= 0 {
				ex.values[v] = out[i]
			}
		}
		if training && ts.active {
			ex.inShapes[si] = shapesOf(ex.inShapes[si], in)
			ex.outShapes[si] = shapesOf(ex.outShapes[si], out)
		}
		release := ts.fwdRelease
		if !training {
			release = ts.infRelease
		}
		for _, v := range release {
			ex.rc.release(ex.values[v])
			ex.values[v] = nil
		}
	}
	res = ex.collectOutputs()
	if !training {
		ex.sweep()
		return res, nil
	}
	for _, v := range p.outputIDs {
		if !ex.tp.saved[v] && ex.values[v] != nil {
			ex.rc.release(ex.values[v])
			ex.values[v] = nil
		}
	}
	ex.pending = true
	return res, nil
}

// gather collects a step's inputs and empty output slots.
func (ex *trainExec) gather(s *step, in, out []*Tensor) ([]*Tensor, []*Tensor) {
	for _, v := range s.in {
		if v < 0 {
			in = append(in, nil)
		} else {
			in = append(in, ex.values[v])
		}
	}
	for range s.out {
		out = append(out, nil)
	}
	return in, out
}

// shapesOf records the shapes of ts (nil for absent slots) in dst.
func shapesOf(dst [][]int, ts []*Tensor) [][]int {
	dst = dst[:0]
	for _, t := range ts {
		if t == nil {
			dst = append(dst, nil)
		} else {
			dst = append(dst, t.shape)
		}
	}
	return dst
}

// collectOutputs copies the graph outputs for the caller (the executor's
// buffers are recycled by later passes).
func (ex *trainExec) collectOutputs() map[string]*Tensor {
	p := ex.tp.p
	res := make(map[string]*Tensor, len(p.outputs))
	for i, info := range p.outputs {
		t := ex.values[p.outputIDs[i]]
		ex.outShape[i] = append(ex.outShape[i][:0], t.shape...)
		res[info.Name] = t.Clone()
	}
	return res
}

// trainForward runs a step's training-mode forward and applies its
// parameter updates.
func (ex *trainExec) trainForward(si int, ts *trainStep, in, out []*Tensor) (err error) {
	s := ts.s
	rc := &ex.rc
	a := &ForwardArgs{In: in, Out: out, Update: make([]*Tensor, len(in))}
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = recoveredError(s.node, r)
			}
		}()
		err = ts.tf.TrainForward(rc, a)
	}()
	rc.releaseScratch()
	if err != nil {
		return wrapNodeError(s.node, err)
	}
	for i, name := range s.node.Outputs {
		if name != "" && (i >= len(out) || out[i] == nil) {
			return s.node.Errorf("internal error: output %d %q not produced", i, name)
		}
		if i < len(out) {
			out[i] = ownOutput(rc, out[i], in, out[:i])
		}
	}
	ex.states[si] = a.State
	for i, u := range a.Update {
		if u == nil {
			continue
		}
		if v := s.in[i]; v >= 0 && ex.tp.paramOf[v] != nil {
			pv := ex.tp.paramOf[v].Value
			if u.dtype != Float32 || !SameShape(u.shape, pv.shape) {
				rc.release(u)
				return s.node.Errorf("internal error: update of input %d is %v, the parameter is %v", i, u, pv)
			}
			copy(pv.Float32s(), u.Float32s())
		}
		rc.release(u)
	}
	return nil
}

func wrapNodeError(n *Node, err error) error {
	var ne *NodeError
	if asNodeError(err, &ne) {
		return err
	}
	return n.Errorf("%v", err)
}

// backward runs the backward of the last training forward; see
// Trainer.Backward.
func (ex *trainExec) backward(ctx context.Context, dOutputs map[string]*Tensor) (err error) {
	if !ex.pending {
		return errors.New("Backward needs a training-mode Forward first (each Forward(…, true) allows one Backward)")
	}
	ex.rc.ctx = ctx
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(ex.rc.node, r)
		}
		ex.sweep()
		ex.rc.node = nil
	}()
	if err := ex.seedOutputs(dOutputs); err != nil {
		return err
	}
	for si := len(ex.tp.steps) - 1; si >= 0; si-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		ts := ex.tp.steps[si]
		if ts.active {
			if err := ex.stepBackward(si, ts); err != nil {
				return err
			}
		}
		for _, v := range ts.bwdRelease {
			ex.rc.release(ex.values[v])
			ex.values[v] = nil
		}
	}
	ex.addParamGrads()
	return nil
}

// seedOutputs checks the caller's output gradients and makes them the
// gradients of the output values.
func (ex *trainExec) seedOutputs(dOutputs map[string]*Tensor) error {
	p := ex.tp.p
	var errs []error
	known := map[string]bool{}
	for i, info := range p.outputs {
		known[info.Name] = true
		d, ok := dOutputs[info.Name]
		if !ok || d == nil {
			continue
		}
		switch {
		case d.dtype != Float32 || sliceLen(d.data) != d.Len():
			errs = append(errs, fmt.Errorf("gradient of output %q: expected a FLOAT tensor, got %v", info.Name, d))
			continue
		case !SameShape(d.shape, ex.outShape[i]):
			errs = append(errs, fmt.Errorf("gradient of output %q: shape %s differs from the output's %s", info.Name, ShapeString(d.shape), ShapeString(ex.outShape[i])))
			continue
		}
		v := p.outputIDs[i]
		if !ex.tp.wanted[v] {
			continue // no trainable parameter influences this output
		}
		// A tensor without storage is never written to nor recycled.
		ex.accumulate(v, &Tensor{dtype: d.dtype, shape: d.shape, data: d.data})
	}
	for name := range dOutputs {
		if !known[name] {
			errs = append(errs, fmt.Errorf("gradient of output %q: the model has no such output (it has %s)", name, inputNames(p.outputs)))
		}
	}
	return errors.Join(errs...)
}

// stepBackward runs one step's gradient kernel and accumulates the input
// gradients.
func (ex *trainExec) stepBackward(si int, ts *trainStep) error {
	s := ts.s
	a := &GradArgs{
		In: make([]*Tensor, len(s.in)), Out: make([]*Tensor, len(s.out)),
		InShapes: ex.inShapes[si], OutShapes: ex.outShapes[si], State: ex.states[si],
		DOut: make([]*Tensor, len(s.out)), DIn: make([]*Tensor, len(s.in)),
	}
	anyGrad := false
	for j, v := range s.out {
		if v >= 0 && ex.grads[v] != nil {
			a.DOut[j] = ex.grads[v]
			anyGrad = true
		}
	}
	if !anyGrad {
		return nil
	}
	for j, v := range s.in {
		if v >= 0 && ts.saveIn[j] {
			a.In[j] = ex.values[v]
		}
	}
	for j, v := range s.out {
		if v >= 0 && ts.saveOut[j] {
			a.Out[j] = ex.values[v]
		}
	}
	rc := &ex.rc
	rc.node = s.node
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = recoveredError(s.node, r)
			}
		}()
		err = ts.grad.Backward(rc, a)
	}()
	rc.releaseScratch()
	if err != nil {
		for _, d := range a.DIn {
			rc.release(d)
		}
		return wrapNodeError(s.node, err)
	}
	for j, d := range a.DIn {
		if d == nil {
			continue
		}
		if !ts.need[j] {
			rc.release(d)
			continue
		}
		if d.dtype != Float32 || !SameShape(d.shape, a.InShapes[j]) {
			return s.node.Errorf("internal error: gradient of input %d is %v, the input is %s", j, d, ShapeString(a.InShapes[j]))
		}
		ex.accumulate(s.in[j], ownOutput(rc, d, a.DOut, a.DIn[:j]))
	}
	for _, v := range s.out {
		if v >= 0 && ex.grads[v] != nil {
			rc.release(ex.grads[v])
			ex.grads[v] = nil
		}
	}
	return nil
}

// accumulate adds d to value v's gradient, taking over d. A gradient
// tensor is written in place only when it owns its buffer alone: views
// (a Reshape's gradient shares its output's) and caller tensors are not.
func (ex *trainExec) accumulate(v int, d *Tensor) {
	cur := ex.grads[v]
	switch {
	case cur == nil:
		ex.grads[v] = d
	case exclusive(cur):
		addFloat32s(cur.Float32s(), d.Float32s(), ex.rc.threads)
		ex.rc.release(d)
	case exclusive(d):
		addFloat32s(d.Float32s(), cur.Float32s(), ex.rc.threads)
		ex.rc.release(cur)
		ex.grads[v] = d
	default:
		sum := ex.rc.New(Float32, cur.shape...)
		sd := sum.Float32s()
		copy(sd, cur.Float32s())
		addFloat32s(sd, d.Float32s(), ex.rc.threads)
		ex.rc.release(cur)
		ex.rc.release(d)
		ex.grads[v] = sum
	}
}

// exclusive reports whether t is the only owner of a pooled buffer.
func exclusive(t *Tensor) bool { return t.store != nil && t.store.refs == 1 }

// addFloat32s sets dst[i] += src[i].
func addFloat32s(dst, src []float32, threads int) {
	parallelChunks(threads, len(dst), costCheap, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i, v := range s {
			d[i] += v
		}
	})
}

// addParamGrads adds the gradients of the trainable parameters into their
// Grad.
func (ex *trainExec) addParamGrads() {
	for v, pr := range ex.tp.paramOf {
		if pr == nil || !pr.Trainable || ex.grads[v] == nil {
			continue
		}
		addFloat32s(pr.Grad.Float32s(), ex.grads[v].Float32s(), ex.rc.threads)
	}
}
