package parallel

import (
	"os"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool. An inference runs a few hundred short parallel regions one after another
// (each convolution, each large elementwise operation); starting goroutines for each one is
// cheap, but a thread that has gone to sleep between two regions takes several microseconds to
// wake, on a virtual machine tens of them, and the region meanwhile runs on the caller alone.
// So regions run on long-lived workers that, after finishing their part, keep polling for the
// next region for a while (spinTime, by the clock) before they park. Only one region uses the
// pool at a time: a region started while another is running (nested parallelism, or two
// sessions running at once) uses fresh goroutines, as before. DCNET_POOL=off turns the pool
// off; DCNET_SPIN sets the spin time (a Go duration: "0" parks at once).

// region is one parallel region on the pool: parts fn(1) … fn(parts−1) are claimed by
// workers (or by the caller, for those no worker took); fn(0) runs on the caller.
type region struct {
	fn      func(part int)
	parts   int
	next    atomic.Int64 // the next unclaimed part
	pending atomic.Int64 // parts not yet finished
	done    chan struct{}
	// the first panic of any part, re-raised on the caller
	mu       sync.Mutex
	panicked bool
	value    any
}

// pool is the set of workers.
type pool struct {
	size    int
	current atomic.Pointer[region] // the running region, or nil
	busy    atomic.Bool            // a region owns the pool
	mu      sync.Mutex
	wake    *sync.Cond
	seq     uint64 // bumped under mu when a region starts, for sleepers
	asleep  int
}

// defaultSpinTime is how long a worker polls for the next region before it parks: longer than
// the single-threaded stretches between two parallel regions of an inference (a DenseNet
// Concat copies megabytes on one thread). Measured at 2 threads: with the earlier fixed count
// of polls (about 60 µs on Zen 5) the DenseNet-121 worker parked ~30 times per inference and
// missed whole regions, and the inference took 38.9 ms; with ~0.6 ms it parked none and took
// 34.8 ms (resnet50 40.1 → 38.7, squeezenet1_1 5.27 → 4.86 ms).
const defaultSpinTime = time.Millisecond

// spinTime is defaultSpinTime or the DCNET_SPIN setting.
var spinTime = spinSetting(os.Getenv("DCNET_SPIN"))

// spinSetting parses a DCNET_SPIN value: a non-negative Go duration, else defaultSpinTime.
func spinSetting(v string) time.Duration {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d
	}
	return defaultSpinTime
}

// spinUntil polls done until it reports true, for at most spinTime, and reports whether it did.
// The clock is read once per 1024 polls.
func spinUntil(done func() bool) bool {
	var start time.Time
	for i := 0; ; i++ {
		if done() {
			return true
		}
		if i%1024 == 0 {
			if i == 0 {
				start = time.Now()
			} else if time.Since(start) >= spinTime {
				return false
			}
		}
	}
}

var (
	sharedPool     *pool
	sharedPoolOnce sync.Once
)

// getPool returns the shared pool (GOMAXPROCS − 1 workers, started on first use), or nil if
// the pool is disabled or would have no workers.
func getPool() *pool {
	sharedPoolOnce.Do(func() {
		n := goruntime.GOMAXPROCS(0) - 1
		if n < 1 || os.Getenv("DCNET_POOL") == "off" {
			return
		}
		p := &pool{size: n}
		p.wake = sync.NewCond(&p.mu)
		for w := range n {
			go p.worker(w)
		}
		sharedPool = p
	})
	return sharedPool
}

// tryRun runs fn(0) … fn(parts−1) on the caller and the pool's workers and reports true, or
// reports false without running anything if the pool is unavailable (disabled, too small or in
// use), so the caller falls back to goroutines.
func (p *pool) tryRun(parts int, fn func(part int)) bool {
	if p == nil || parts-1 > p.size || !p.busy.CompareAndSwap(false, true) {
		return false
	}
	r := &region{fn: fn, parts: parts, done: make(chan struct{})}
	r.next.Store(1)
	r.pending.Store(int64(parts))
	p.current.Store(r)
	p.mu.Lock()
	p.seq++
	if p.asleep > 0 {
		p.wake.Broadcast()
	}
	p.mu.Unlock()

	r.runPart(0)
	for part := r.claim(); part >= 0; part = r.claim() {
		r.runPart(part)
	}
	p.current.Store(nil)
	if !spinUntil(func() bool { return r.pending.Load() == 0 }) {
		<-r.done
	}
	p.busy.Store(false)
	if r.panicked {
		panic(r.value)
	}
	return true
}

// claim returns an unclaimed part, or −1 when all are taken.
func (r *region) claim() int {
	if part := int(r.next.Add(1)) - 1; part < r.parts {
		return part
	}
	return -1
}

// runPart runs one part, recording a panic instead of propagating it, and signals the caller
// when it was the last one.
func (r *region) runPart(part int) {
	defer func() {
		if v := recover(); v != nil {
			r.mu.Lock()
			if !r.panicked {
				r.panicked, r.value = true, v
			}
			r.mu.Unlock()
		}
		if r.pending.Add(-1) == 0 {
			close(r.done)
		}
	}()
	r.fn(part)
}

// worker takes parts of regions as they come, spinning between them and parking when none
// comes for a while.
func (p *pool) worker(int) {
	var last, r *region
	fresh := func() bool {
		r = p.current.Load()
		return r != nil && r != last
	}
	for {
		if !spinUntil(fresh) {
			p.sleep()
			continue
		}
		last = r
		for part := r.claim(); part >= 0; part = r.claim() {
			r.runPart(part)
		}
	}
}

// sleep parks the worker until the next region starts.
func (p *pool) sleep() {
	p.mu.Lock()
	seq := p.seq
	p.asleep++
	for p.seq == seq {
		p.wake.Wait()
	}
	p.asleep--
	p.mu.Unlock()
}
