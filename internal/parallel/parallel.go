package parallel

import (
	"sync"
	"sync/atomic"
)

// For splits the index range [0, n) into at most threads contiguous chunks of near-equal size and
// calls fn(lo, hi) once per chunk, each on its own goroutine; the calling goroutine runs the first
// chunk itself. If threads <= 1 or n <= 1 it calls fn(0, n) inline (nothing at all when n <= 0).
// Chunks are disjoint, so fn may write to per-index outputs without locking.
func For(threads, n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := min(threads, n)
	if workers <= 1 {
		fn(0, n)
		return
	}
	if getPool().tryRun(workers, func(w int) { fn(chunk(n, workers, w)) }) {
		return
	}
	var g group
	for w := 1; w < workers; w++ {
		lo, hi := chunk(n, workers, w)
		g.goRun(func() { fn(lo, hi) })
	}
	lo, hi := chunk(n, workers, 0)
	g.run(func() { fn(lo, hi) })
	g.wait()
}

// group runs functions on goroutines and re-raises the first panic of any
// of them in the goroutine that waits, so a caller's recover (the runtime
// turns kernel panics into errors) sees panics from worker goroutines too
// instead of the process dying.
type group struct {
	wg       sync.WaitGroup
	mu       sync.Mutex
	panicked bool
	value    any
}

func (g *group) goRun(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.run(fn)
	}()
}

// run calls fn, recording a panic instead of propagating it.
func (g *group) run(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			g.mu.Lock()
			if !g.panicked {
				g.panicked, g.value = true, r
			}
			g.mu.Unlock()
		}
	}()
	fn()
}

// wait waits for every goroutine, then re-panics with the first panic value.
func (g *group) wait() {
	g.wg.Wait()
	if g.panicked {
		panic(g.value)
	}
}

// chunk returns the bounds of chunk w when [0, n) is cut into `parts` pieces whose sizes differ by at
// most one.
func chunk(n, parts, w int) (lo, hi int) {
	return n * w / parts, n * (w + 1) / parts
}

// ForEach calls fn(i) for every i in [0, n) using up to threads goroutines (the calling one
// included). Indices are handed out from a shared counter, in runs of about n/(16·workers), so
// uneven items, or a core that another process slows down, do not leave the other workers idle.
// If threads <= 1 or n <= 1 the loop runs inline, in index order. fn receives the worker number
// in [0, workers) so it can use per-worker scratch space.
func ForEach(threads, n int, fn func(worker, i int)) {
	if n <= 0 {
		return
	}
	workers := min(threads, n)
	if workers <= 1 {
		for i := range n {
			fn(0, i)
		}
		return
	}
	// Claim indices a few at a time: a shared counter bounces between cores on every claim,
	// which costs as much as a small item (a depthwise plane of 7×7 outputs) itself.
	step := max(1, n/(workers*16))
	var next atomic.Int64
	run := func(worker int) {
		for {
			lo := int(next.Add(int64(step))) - step
			if lo >= n {
				return
			}
			for i := lo; i < min(n, lo+step); i++ {
				fn(worker, i)
			}
		}
	}
	if getPool().tryRun(workers, run) {
		return
	}
	var g group
	for w := 1; w < workers; w++ {
		g.goRun(func() { run(w) })
	}
	g.run(func() { run(0) })
	g.wait()
}
