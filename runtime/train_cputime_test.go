//go:build unix

package runtime

import "syscall"

// trainCPUSeconds returns the user+system CPU time of this process, for
// benchmarks on a shared machine (work per CPU-second is steadier than per
// wall-second there).
func trainCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
