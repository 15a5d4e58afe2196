package gemm

// forEachKernel runs f once per kernel this machine supports, with that kernel active.
func forEachKernel(f func(k *kernel)) {
	for _, k := range usableKernels() {
		prev := active.Swap(k)
		f(k)
		active.Store(prev)
	}
}

// withMinTaskWork sets the split threshold (1: split even tiny products) until restore is called.
func withMinTaskWork(w int) (restore func()) {
	prev := minTaskWork
	minTaskWork = w
	return func() { minTaskWork = prev }
}
