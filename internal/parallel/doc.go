// Package parallel holds the tiny fork-join helpers that the graph-free kernels in internal/ use to
// spread a loop over a few goroutines. It sits at the bottom of the pipeline: it knows nothing about
// tensors, graphs or models, and the runtime decides how many threads a call may use.
//
// Every helper runs on the calling goroutine alone when one worker is enough, so small loops pay no
// goroutine start-up cost, and every helper returns only after all work has finished.
//
// Parallel regions run on a small pool of long-lived workers that spin for a millisecond between
// regions before parking (pool.go; DCNET_SPIN sets the time), so the hundreds of short regions of
// one inference do not each wake a sleeping thread; a region started while another holds the pool
// (nested, or from another goroutine) uses fresh goroutines instead. DCNET_POOL=off disables it.
package parallel
