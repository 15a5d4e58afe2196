package runtime

import (
	"fmt"
	"strings"
	"sync"
)

// execution is the state of one Run: the value table and the run context.
type execution struct {
	s      *Session
	values []*Tensor
	rc     RunContext
	cur    *step
	times  *[]StepTime // non-nil in a profiled run (RunProfiled)
}

func (ex *execution) run(inputs map[string]*Tensor) error {
	p := ex.s.plan
	for id, v := range p.values {
		if v.konst != nil {
			ex.values[id] = v.konst
		}
	}
	for i, info := range p.inputs {
		ex.values[p.inputIDs[i]] = inputs[info.Name]
	}
	cached, key := ex.lookupShapeValues(inputs)
	var fresh map[int]*Tensor
	if p.hasShapeOnly && cached == nil {
		fresh = map[int]*Tensor{}
	}
	out := make([]*Tensor, 0, 8)
	in := make([]*Tensor, 0, 8)
	for _, s := range p.steps {
		if err := ex.rc.ctx.Err(); err != nil {
			return err
		}
		if s.shapeOnly && cached != nil {
			for _, v := range s.out {
				if v >= 0 {
					ex.values[v] = cached[v]
				}
			}
			ex.releaseDead(s)
			continue
		}
		ex.cur = s
		in = in[:0]
		for _, v := range s.in {
			if v < 0 {
				in = append(in, nil)
			} else {
				in = append(in, ex.values[v])
			}
		}
		out = out[:0]
		for range s.out {
			out = append(out, nil)
		}
		ex.rc.node = s.node
		if err := ex.timeStep(s, in, out); err != nil {
			return err
		}
		for i, v := range s.out {
			if v >= 0 {
				ex.values[v] = out[i]
				if fresh != nil && s.shapeOnly {
					fresh[v] = detach(out[i])
					ex.values[v] = fresh[v]
				}
			}
		}
		ex.releaseDead(s)
	}
	ex.cur = nil
	if fresh != nil {
		ex.s.cache.put(key, fresh)
	}
	return nil
}

// runKernel runs one step and checks that it produced its outputs.
func runKernel(rc *RunContext, s *step, in, out []*Tensor) error {
	err := s.kernel.Run(rc, in, out)
	rc.releaseScratch()
	if err != nil {
		var ne *NodeError
		if !asNodeError(err, &ne) {
			err = s.node.Errorf("%v", err)
		}
		return err
	}
	for i, name := range s.node.Outputs {
		if name != "" && (i >= len(out) || out[i] == nil) {
			return s.node.Errorf("internal error: output %d %q not produced", i, name)
		}
		if i < len(out) {
			out[i] = ownOutput(rc, out[i], in, out[:i])
		}
	}
	return nil
}

// ownOutput makes sure an output is a tensor of its own: a kernel that hands
// back one of its inputs (or an earlier output) unchanged gets a view, so
// every value's buffer ownership is counted once.
func ownOutput(rc *RunContext, t *Tensor, in, earlier []*Tensor) *Tensor {
	for _, x := range in {
		if x == t {
			return rc.View(t, t.shape)
		}
	}
	for _, x := range earlier {
		if x == t {
			return rc.View(t, t.shape)
		}
	}
	return t
}

func asNodeError(err error, target **NodeError) bool {
	for err != nil {
		if ne, ok := err.(*NodeError); ok {
			*target = ne
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// releaseDead recycles the buffers of values no later step reads.
func (ex *execution) releaseDead(s *step) {
	for _, v := range s.dead {
		ex.rc.release(ex.values[v])
		ex.values[v] = nil
	}
	for _, v := range s.unused {
		ex.rc.release(ex.values[v])
		ex.values[v] = nil
	}
}

// collectOutputs hands the graph outputs to the caller. A constant or a
// caller's input that is also an output is copied, so the caller never
// aliases the session's constants or its own inputs.
func (ex *execution) collectOutputs() map[string]*Tensor {
	p := ex.s.plan
	res := make(map[string]*Tensor, len(p.outputs))
	given := map[*Tensor]bool{}
	for i, info := range p.outputs {
		t := ex.values[p.outputIDs[i]]
		if t.store == nil || given[t] {
			t = t.Clone()
		} else {
			t = &Tensor{dtype: t.dtype, shape: t.shape, data: t.data}
		}
		given[ex.values[p.outputIDs[i]]] = true
		res[info.Name] = t
	}
	return res
}

func (ex *execution) panicError(r any) error {
	if ex.cur != nil {
		return recoveredError(ex.cur.node, r)
	}
	return recoveredError(nil, r)
}

// lookupShapeValues returns the cached outputs of the shape-only steps for
// this input-shape signature, or nil.
func (ex *execution) lookupShapeValues(inputs map[string]*Tensor) (map[int]*Tensor, string) {
	p := ex.s.plan
	if !p.hasShapeOnly {
		return nil, ""
	}
	var sb strings.Builder
	for _, info := range p.inputs {
		t := inputs[info.Name]
		fmt.Fprintf(&sb, "%d%s;", t.dtype, ShapeString(t.shape))
	}
	key := sb.String()
	return ex.s.cache.get(key), key
}

// shapeCache keeps the shape-only values per input-shape signature.
type shapeCache struct {
	mu      sync.Mutex
	entries map[string]map[int]*Tensor
}

// maxShapeSignatures bounds the cache; it is cleared when full.
const maxShapeSignatures = 64

func (c *shapeCache) get(key string) map[int]*Tensor {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[key]
}

func (c *shapeCache) put(key string, vals map[int]*Tensor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxShapeSignatures {
		c.entries = map[string]map[int]*Tensor{}
	}
	c.entries[key] = vals
}
