// Package gemm is the single-precision matrix multiply under every dense operator of the runtime:
// Conv (packed weights times an implicitly packed im2col matrix), Gemm, MatMul and the fused
// DecoupledConv epilogue. It sits in internal/, below runtime/ and decop/, and knows nothing about
// graphs, tensors or files: matrices are row-major []float32 with explicit leading dimensions.
//
// # Entry points
//
// PackA packs a constant left operand once (weights); PackedA.Mul multiplies it by any BPacker,
// which lets a convolution pack its input patches straight into panels without building the
// im2col matrix. MulUnpacked does the same for an A that changes every call, and Sgemm is the
// BLAS-style call with alpha, beta and transposes. An Epilogue fuses accumulation, row and column
// bias, a residual, ReLU or clipping, and a per-block callback into the stores of C.
//
// # Structure
//
// The driver follows the GotoBLAS/BLIS layering. C (m x n) is cut into tasks that goroutines take
// from a shared counter (driver.go, split). Inside a task, columns are walked in blocks of nc, the
// inner dimension in blocks of kc and rows in blocks of mc; each kc x nc block of B is packed into
// nr-wide panels, each mc x kc block of A into mr-tall panels (or read from a PackedA), and a
// register-blocked micro-kernel multiplies A panels by one B panel into mr x nr tiles of C. The
// epilogue is applied by the micro-kernel while a finished tile is still in registers, so fusing it
// costs almost nothing; tiles cut by the right edge of C are computed into scratch and finished by
// the Go reference of the epilogue, finishTile.
//
// # Kernels and dispatch
//
// The micro-kernel is chosen once, at package initialisation, from a table that starts with the
// portable Go kernel (gemm_generic.go) and is extended by the architecture files
// (kernel_amd64.go: AVX2+FMA 6x16 in kernel_amd64.s, AVX-512 16x16 in kernel_avx512_amd64.s); the
// fastest usable one wins. The environment variable DCNET_GEMM=generic forces the portable kernel
// (DCNET_GEMM="avx2-fma 6x16" the AVX2 one), the purego build tag leaves the assembly out
// altogether, and UseKernel lets tests and benchmarks run on every kernel this machine supports.
// On AVX-512 machines full 16-row A panels are packed by a register transpose (pack_amd64.s).
//
// # Adding a kernel
//
// A new kernel (say a 14x32 tile with 28 zmm accumulators) is one assembly function honouring
// the microArgs contract in kernel.go: compute p.tiles vertically adjacent full tiles over one B
// panel, apply the flags in the order finishTile does, and store only p.lastRows rows of the last
// tile. Its table entry in kernel_amd64.go gives mr, nr, cache blocks (kc x nr of B in half of
// L1, mc x kc of A in half of L2, kc x nc of B in L3) and a usable() test on golang.org/x/sys/cpu.
// The shared test battery then runs it automatically on machines that have the instructions;
// do not ship a kernel that no machine available to the project can test.
package gemm
