package parallel

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestForCoversRangeOnce checks that the chunks of For are contiguous, disjoint, cover [0, n)
// exactly, and that their number never exceeds the thread budget.
func TestForCoversRangeOnce(t *testing.T) {
	for _, threads := range []int{-1, 0, 1, 2, 3, 7, 64} {
		for _, n := range []int{0, 1, 2, 3, 5, 10, 63, 1000} {
			hits := make([]int, n)
			var mu sync.Mutex
			calls := 0
			For(threads, n, func(lo, hi int) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if lo >= hi {
					t.Errorf("threads=%d n=%d: empty chunk [%d,%d)", threads, n, lo, hi)
				}
				for i := lo; i < hi; i++ {
					hits[i]++
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("threads=%d n=%d: index %d visited %d times", threads, n, i, h)
				}
			}
			if limit := max(threads, 1); calls > limit {
				t.Errorf("threads=%d n=%d: %d chunks, want at most %d", threads, n, calls, limit)
			}
		}
	}
}

// TestForInlineWhenSingleThreaded checks that one thread means one call covering everything, which
// callers rely on to avoid goroutine start-up cost.
func TestForInlineWhenSingleThreaded(t *testing.T) {
	var got [][2]int
	For(1, 17, func(lo, hi int) { got = append(got, [2]int{lo, hi}) })
	if len(got) != 1 || got[0] != [2]int{0, 17} {
		t.Fatalf("For(1, 17) chunks = %v, want [[0 17]]", got)
	}
}

// TestForEachVisitsEveryIndexOnce checks the dynamic scheduler: every index exactly once, worker
// numbers within [0, threads).
func TestForEachVisitsEveryIndexOnce(t *testing.T) {
	for _, threads := range []int{0, 1, 2, 3, 8} {
		for _, n := range []int{0, 1, 2, 7, 100} {
			hits := make([]int, n)
			var mu sync.Mutex
			ForEach(threads, n, func(worker, i int) {
				mu.Lock()
				defer mu.Unlock()
				if worker < 0 || worker >= max(threads, 1) {
					t.Errorf("threads=%d: worker %d out of range", threads, worker)
				}
				hits[i]++
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("threads=%d n=%d: index %d visited %d times", threads, n, i, h)
				}
			}
		}
	}
}

// TestForEachInlineOrder checks that a single worker visits indices in order on the caller.
func TestForEachInlineOrder(t *testing.T) {
	var got []int
	ForEach(1, 5, func(worker, i int) { got = append(got, i) })
	for i, v := range got {
		if v != i {
			t.Fatalf("ForEach(1, 5) order = %v", got)
		}
	}
	if len(got) != 5 {
		t.Fatalf("ForEach(1, 5) visited %d indices", len(got))
	}
}

// A panic on a worker goroutine reaches the caller, where it can be
// recovered, instead of killing the process.
func TestPanicReachesCaller(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func()
	}{
		{"For", func() {
			For(4, 100, func(lo, hi int) {
				if lo > 0 {
					panic("boom")
				}
			})
		}},
		{"ForEach", func() {
			ForEach(4, 100, func(_, i int) {
				if i == 57 {
					panic("boom")
				}
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != "boom" {
					t.Fatalf("recovered %v, want boom", r)
				}
			}()
			tc.run()
			t.Fatal("no panic")
		})
	}
}

// TestPoolConcurrentAndNested runs regions from several goroutines at once, each with a nested
// region inside: one owns the pool at a time and the others fall back to goroutines, and every
// index must still be visited exactly once.
func TestPoolConcurrentAndNested(t *testing.T) {
	const callers, rounds, n = 4, 200, 37
	var wg sync.WaitGroup
	errs := make(chan string, callers)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				var hits [n]atomic.Int32
				ForEach(2+r%2, n, func(_, i int) {
					For(2, 3, func(lo, hi int) {
						for range hi - lo {
							hits[i].Add(1)
						}
					})
				})
				for i := range hits {
					if h := hits[i].Load(); h != 3 {
						errs <- fmt.Sprintf("caller %d round %d: index %d counted %d times, want 3", c, r, i, h)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestSpinSetting checks the parsing of DCNET_SPIN: durations as given, anything else (empty,
// negative, malformed) the default.
func TestSpinSetting(t *testing.T) {
	for v, want := range map[string]time.Duration{"": defaultSpinTime, "0": 0, "250us": 250 * time.Microsecond,
		"3ms": 3 * time.Millisecond, "-1ms": defaultSpinTime, "fast": defaultSpinTime} {
		if got := spinSetting(v); got != want {
			t.Errorf("spinSetting(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestSpinUntil checks that spinUntil reports a condition that comes true while it polls, and
// gives up after the spin time when it never does.
func TestSpinUntil(t *testing.T) {
	if spinTime < time.Millisecond {
		t.Skip("DCNET_SPIN is below the millisecond this test polls for")
	}
	n := 0
	if !spinUntil(func() bool { n++; return n == 5000 }) {
		t.Errorf("spinUntil gave up before the condition held after 5000 polls")
	}
	start := time.Now()
	if spinUntil(func() bool { return false }) {
		t.Errorf("spinUntil reported a condition that never held")
	}
	if el := time.Since(start); el < spinTime {
		t.Errorf("spinUntil gave up after %v, before the spin time %v", el, spinTime)
	}
}
