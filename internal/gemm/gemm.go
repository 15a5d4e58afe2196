package gemm

import "fmt"

// Activation selects the elementwise function that the epilogue applies last.
type Activation int

const (
	// ActNone leaves values unchanged.
	ActNone Activation = iota
	// ActRelu replaces negative values by zero (NaN stays NaN).
	ActRelu
	// ActClip clamps values to [Epilogue.Min, Epilogue.Max] (NaN stays NaN).
	ActClip
)

// Epilogue describes work fused into storing each finished block of C. For element (i, j) with
// product p = (A·B)[i][j]:
//
//	v = p (+ C_old[i][j] if Accumulate) (+ RowBias[i]) (+ ColBias[j]) (+ Residual[i*LdRes+j])
//	v = act(v)
//
// Then, if Tile != nil, Tile is called on the finished block. A nil *Epilogue means plain C = A·B.
type Epilogue struct {
	// Accumulate adds the product to the existing contents of C instead of overwriting them.
	Accumulate bool
	// RowBias, if not nil, has at least m values; RowBias[i] is added to row i (per output channel
	// when C is [Cout, H*W]).
	RowBias []float32
	// ColBias, if not nil, has at least n values; ColBias[j] is added to column j.
	ColBias []float32
	// Residual, if not nil, is an m x n row-major matrix with row stride LdRes added to C (for
	// Conv+Add fusion). It must not overlap C: C holds partial sums before the epilogue runs (to add
	// C to itself, use Accumulate).
	Residual []float32
	LdRes    int
	// Act is applied after all additions; ActClip uses [Min, Max].
	Act      Activation
	Min, Max float32
	// Tile is called once per finished block of C, after all of K was accumulated and the steps
	// above applied: rows [i0, i0+rows), columns [j0, j0+cols); c[0] is C[i0][j0], row stride ldc.
	// The blocks partition C, so every element is passed exactly once: the column panels of each
	// macro block (one or two micro-kernel widths, all the block's rows) as soon as they are
	// stored. Calls may come concurrently from several goroutines on disjoint blocks.
	Tile func(c []float32, ldc, i0, j0, rows, cols int)
}

// BPacker supplies the K x N right-hand operand B in packed panels, so callers (e.g. convolution)
// can pack straight from their own layout without materialising B.
type BPacker interface {
	// PackB writes B[k0:k0+kc, j0:j0+nc] into dst as ceil(nc/nr) consecutive panels; panel p holds,
	// for kk = 0..kc-1, the nr values B[k0+kk][j0+p*nr : j0+p*nr+nr], zero beyond column j0+nc.
	// So element (kk, p*nr+jj) goes to dst[p*kc*nr + kk*nr + jj]. len(dst) >= ceil(nc/nr)*nr*kc.
	// It must be safe for concurrent calls on disjoint dst.
	PackB(dst []float32, k0, kc, j0, nc, nr int)
}

// TaskPacker is a BPacker that prepares something per task, such as a private copy of its
// source: the driver calls ForTask on the goroutine that runs a task, with the task's columns
// [j0, j1), packs that task's panels with the BPacker it returns, and calls release when the
// task is done. Data a task prepares this way stays in the cache of the core that uses it.
type TaskPacker interface {
	BPacker
	ForTask(j0, j1 int) (b BPacker, release func())
}

// PackCoster is implemented by a BPacker whose packing costs more than copying a dense matrix.
// PackCost is the price of packing one element in multiply-adds of the micro-kernel (a dense
// copy costs about 8); the driver weighs it against computing when it splits a product among
// threads, since every band of rows packs its columns of B again.
type PackCoster interface {
	PackCost() float64
}

// Dense is a BPacker over an ordinary row-major matrix: B is k x n with row stride Ld, so
// B[kk][j] = Data[kk*Ld+j], or, if Trans, B is stored as n x k (row stride Ld) and used
// transposed, so B[kk][j] = Data[j*Ld+kk].
type Dense struct {
	Data  []float32
	Ld    int
	Trans bool
}

// PackedA is the left operand A (m x k) packed once for the micro-kernel that was active when
// PackA ran. It is read-only afterwards, so one PackedA may be used by many calls and goroutines at
// once (convolution weights, Gemm constants).
type PackedA struct {
	kern *kernel
	m, k int
	// kc is the depth of the blocks of A, blockDepth(k, kern.kc). mPad is m rounded up to a
	// multiple of kern.mr. data holds the blocks one after the other; block pc (a multiple of kc,
	// depth kcb = min(kc, k-pc)) starts at pc*mPad and holds mPad/mr panels of kcb x mr values:
	// element (i, pc+kk) is at pc*mPad + (i/mr)*kcb*mr + kk*mr + i%mr. Rows beyond m are zero.
	kc, mPad int
	data     []float32
}

// PackA packs the m x k matrix A for the active micro-kernel. A[i][kk] = a[i*lda+kk], or, if trans,
// a holds A transposed (k x m, row stride lda) and A[i][kk] = a[kk*lda+i].
func PackA(m, k int, a []float32, lda int, trans bool) *PackedA {
	checkA(m, k, a, lda, trans)
	kern := activeKernel()
	mPad := ceilDiv(m, kern.mr) * kern.mr
	kc := blockDepth(k, kern.kc)
	p := &PackedA{kern: kern, m: m, k: k, kc: kc, mPad: mPad, data: make([]float32, mPad*k)}
	src := aSource{data: a, ld: lda, trans: trans, alpha: 1}
	for pc := 0; pc < k; pc += kc {
		kcb := min(kc, k-pc)
		src.pack(p.data[pc*mPad:pc*mPad+mPad*kcb], kern.mr, 0, m, pc, kcb)
	}
	return p
}

// M returns the number of rows of A.
func (p *PackedA) M() int { return p.m }

// K returns the number of columns of A (the inner dimension).
func (p *PackedA) K() int { return p.k }

// Mul computes C[m x n] = A·B with the epilogue ep (nil: plain overwrite), where B is k x n and C is
// row-major with row stride ldc (c[i*ldc+j]), using up to threads goroutines (<= 1: the calling
// goroutine only). C must not overlap the operands.
func (p *PackedA) Mul(n int, b BPacker, c []float32, ldc int, ep *Epilogue, threads int) {
	pr := problem{kern: p.kern, m: p.m, n: n, k: p.k, a: aSource{packed: p}, b: b, c: c, ldc: ldc}
	pr.run(ep, threads)
}

// MulUnpacked is Mul for an A that is not pre-packed: A[i][kk] = a[i*lda+kk], or a[kk*lda+i] if
// transA. Blocks of A are packed on the fly into pooled buffers; A is never copied whole.
func MulUnpacked(m, n, k int, a []float32, lda int, transA bool, b BPacker, c []float32, ldc int, ep *Epilogue, threads int) {
	checkA(m, k, a, lda, transA)
	pr := problem{kern: activeKernel(), m: m, n: n, k: k,
		a: aSource{data: a, ld: lda, trans: transA, alpha: 1}, b: b, c: c, ldc: ldc}
	pr.run(ep, threads)
}

// Sgemm is the BLAS-style call C = alpha·op(A)·op(B) + beta·C on row-major matrices, where op(X) is
// X transposed if the matching flag is set: op(A) is m x k (a is m x k with stride lda, or k x m if
// transA), op(B) is k x n (b is k x n with stride ldb, or n x k if transB), C is m x n with stride
// ldc. With beta == 0 the old contents of C are ignored (NaN included), as in BLAS.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, threads int) {
	if m <= 0 || n <= 0 {
		return
	}
	checkC(m, n, c, ldc)
	if k <= 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	checkA(m, k, a, lda, transA)
	bd := Dense{Data: b, Ld: ldb, Trans: transB}
	bd.check(k, n)
	var ep *Epilogue
	switch beta {
	case 0:
	case 1:
		ep = &Epilogue{Accumulate: true}
	default:
		scaleC(m, n, beta, c, ldc)
		ep = &Epilogue{Accumulate: true}
	}
	pr := problem{kern: activeKernel(), m: m, n: n, k: k,
		a: aSource{data: a, ld: lda, trans: transA, alpha: alpha}, b: bd, c: c, ldc: ldc}
	pr.run(ep, threads)
}

// scaleC sets C = beta·C, writing exact zeros when beta == 0 so that NaNs in C do not survive.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 1:
		case 0:
			clear(row)
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// KernelName reports the micro-kernel in use, e.g. "avx2-fma 6x16" or "generic 4x2".
func KernelName() string { return activeKernel().name }

// Kernels lists the names of the micro-kernels this machine can run, portable one first.
func Kernels() []string {
	var names []string
	for _, k := range usableKernels() {
		names = append(names, k.name)
	}
	return names
}

// UseKernel makes the named micro-kernel (one of Kernels, or "generic" for the portable one)
// the active one for PackA, MulUnpacked and Sgemm, and returns a function that restores the
// previous choice. It exists so that tests and benchmarks of this and other packages can run on
// every kernel of one machine; existing PackedA values keep the kernel they were packed for.
func UseKernel(name string) (restore func(), err error) {
	k := findKernel(name)
	if k == nil {
		return nil, fmt.Errorf("gemm: kernel %q not available here (have %v)", name, Kernels())
	}
	prev := active.Swap(k)
	return func() { active.Store(prev) }, nil
}

// checkA panics unless a can hold an m x k matrix (or k x m if trans) with stride lda. These are
// preconditions that callers establish when they plan, so a violation is a programming error.
func checkA(m, k int, a []float32, lda int, trans bool) {
	if m < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d k=%d", m, k))
	}
	rows, cols := m, k
	if trans {
		rows, cols = k, m
	}
	checkMatrix("A", rows, cols, a, lda)
}

// checkC panics unless c can hold an m x n matrix with stride ldc.
func checkC(m, n int, c []float32, ldc int) { checkMatrix("C", m, n, c, ldc) }

func checkMatrix(name string, rows, cols int, x []float32, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("gemm: %s: leading dimension %d < %d columns", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("gemm: %s: %d x %d with stride %d needs %d values, have %d", name, rows, cols, ld, need, len(x)))
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// blockDepth returns the depth of the kc-blocks for an inner dimension k: as few blocks as kc
// allows, of equal depth, so that k = 300 gives two blocks of 150 rather than 256 + 44 (a thin
// last block pays the full cost of loading and storing C for little arithmetic).
func blockDepth(k, kc int) int {
	if k <= 0 {
		return kc
	}
	return ceilDiv(k, ceilDiv(k, kc))
}

// blockRows returns the height of the mc-blocks for a band of rows, balanced like blockDepth and
// rounded up to a multiple of mr.
func blockRows(rows, mc, mr int) int {
	if rows <= 0 {
		return mc
	}
	h := ceilDiv(rows, ceilDiv(rows, mc))
	return ceilDiv(h, mr) * mr
}
