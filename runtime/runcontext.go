package runtime

import (
	"context"
	"fmt"
)

// RunContext is a kernel's handle on the run it belongs to: output and
// scratch allocation from the run's buffer pool, the thread budget, and
// error wrapping with the node's name.
type RunContext struct {
	ctx     context.Context
	threads int
	limit   int // maximum elements of one tensor
	alloc   *allocator
	node    *Node
	scratch []scratchBuf
}

type scratchBuf struct {
	dt  DType
	buf any
}

// Context returns the run's context; long kernels may poll ctx.Err().
func (rc *RunContext) Context() context.Context { return rc.ctx }

// Threads is the number of goroutines a kernel may use.
func (rc *RunContext) Threads() int { return rc.threads }

// Node returns the node being run.
func (rc *RunContext) Node() *Node { return rc.node }

// New returns an output tensor of the given type and shape. Its contents are
// unspecified (possibly a dead intermediate's): the kernel must write every
// element.
func (rc *RunContext) New(dt DType, shape ...int) *Tensor {
	n := NumElements(shape)
	if n < 0 || n > rc.limit {
		panic(&sizeLimitError{shape: append([]int(nil), shape...), limit: rc.limit})
	}
	buf := rc.alloc.get(dt, n)
	return &Tensor{dtype: dt, shape: append([]int(nil), shape...), data: buf, store: &storage{refs: 1, buf: buf}}
}

// NewZeroed is New with every element zero.
func (rc *RunContext) NewZeroed(dt DType, shape ...int) *Tensor {
	t := rc.New(dt, shape...)
	clearSlice(t.data)
	return t
}

// NewShaped is New with the shape given as a slice.
func (rc *RunContext) NewShaped(dt DType, shape []int) *Tensor { return rc.New(dt, shape...) }

// View returns a tensor with a new shape sharing t's data (same number of
// elements); the buffer stays alive while either tensor does.
func (rc *RunContext) View(t *Tensor, shape []int) *Tensor {
	if NumElements(shape) != t.Len() {
		panic(fmt.Sprintf("runtime: view of %v as %v", t.shape, shape))
	}
	if t.store != nil {
		t.store.refs++
	}
	return &Tensor{dtype: t.dtype, shape: append([]int(nil), shape...), data: t.data, store: t.store}
}

// Float32Scratch returns a temporary buffer of n float32s with unspecified
// contents, valid until the kernel's Run returns.
func (rc *RunContext) Float32Scratch(n int) []float32 {
	if n < 0 || n > rc.limit {
		panic(&sizeLimitError{shape: []int{n}, limit: rc.limit})
	}
	buf := rc.alloc.get(Float32, n)
	rc.scratch = append(rc.scratch, scratchBuf{Float32, buf})
	return buf.([]float32)
}

// releaseScratch returns the node's scratch buffers to the pool.
func (rc *RunContext) releaseScratch() {
	for _, s := range rc.scratch {
		rc.alloc.put(s.dt, s.buf)
	}
	rc.scratch = rc.scratch[:0]
}

// Errorf returns an error naming the current node.
func (rc *RunContext) Errorf(format string, args ...any) error {
	if rc.node == nil {
		return fmt.Errorf(format, args...)
	}
	return rc.node.Errorf(format, args...)
}

// release drops one owner of t's buffer and recycles the buffer when none
// is left. Constants and caller-owned tensors have no storage and are never
// recycled.
func (rc *RunContext) release(t *Tensor) {
	if t == nil || t.store == nil {
		return
	}
	t.store.refs--
	if t.store.refs == 0 {
		rc.alloc.put(t.dtype, t.store.buf)
		t.store.buf = nil
	}
}

// sizeLimitError is raised (as a panic, recovered into an error naming the
// node) when a kernel asks for a tensor beyond the session's size limit, so a
// hostile model cannot make the runtime allocate without bound.
type sizeLimitError struct {
	shape []int
	limit int
}

func (e *sizeLimitError) Error() string {
	return fmt.Sprintf("tensor of shape %s exceeds the limit of %d elements", ShapeString(e.shape), e.limit)
}

// recoveredError turns a value recovered from a kernel panic into an error
// naming the node.
func recoveredError(n *Node, r any) error {
	if e, ok := r.(*sizeLimitError); ok {
		if n == nil {
			return e
		}
		return n.Errorf("%v", e)
	}
	if n == nil {
		return fmt.Errorf("internal error: %v", r)
	}
	return n.Errorf("internal error: %v", r)
}
