package runtime

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Gemm and MatMul: dense matrix products on top of internal/gemm for
// float32, with plain loops for the other element types.
//
// A constant right-hand operand (the weights of a fully-connected layer) is
// packed once at plan time, in two layouts, because neither is fastest for
// every batch size M. Medians on this machine (2 cores, shared, noisy) for
// resnet18's fc, K = 512, N = 1000, one thread:
//
//	M                          1        4       16      256
//	weights repacked per call  1006 µs  926 µs  636 µs  8.5 ms
//	column panels (few rows)    205 µs  184 µs  334 µs  7.6 ms
//	Wᵀ packed as left operand   517 µs  219 µs  210 µs  7.9 ms (4.2 vs 5.6 ms on 2 threads)
//
//   - For few rows (M < gemmManyRows) the product is nearly a
//     matrix-vector product bound by streaming the weights. They are kept
//     as the micro-kernel's column panels (gemmPanels), so "packing" B is a
//     contiguous copy instead of a strided transpose.
//   - For more rows (up to gemmPanelRows) the weights are packed as the LEFT operand (gemm.PackedA
//     of Wᵀ) and the product is computed transposed, Yᵀ = Wᵀ·Xᵀ, so the
//     large operand is never copied again; a tile callback transposes each
//     finished block of Yᵀ into Y while it is still in cache. This also wins
//     clearly for narrow layers (N = 10: 44 vs 62 µs at M = 256).
//
// Bias (beta·C) is added by the GEMM epilogue as a row or column bias.

func registerMatMul(r *Registry) {
	for _, v := range []int{7, 9, 11, 13} {
		r.Register("", "Gemm", v, buildGemm)
	}
	for _, v := range []int{1, 9, 13} {
		r.Register("", "MatMul", v, buildMatMul)
	}
	r.Register("", "MatMulInteger", 10, buildMatMulInteger)
}

// gemmManyRows is the row count from which a constant-weight product uses
// the weights packed as the left operand (see the file comment).
const gemmManyRows = 8

// gemmPanelRows is the row count from which a constant-weight product is
// computed directly on the column panels again: with many rows the
// transposed product's B operand (the activations, read transposed) and the
// transposing tile callback cost more than packing A does. convnext_tiny's
// pointwise layers at batch 1, one thread, medians: 3136×96→384 4.9 ms
// transposed vs 2.1 ms on the panels, 3136×384→96 1.84 vs 1.57 ms,
// 196×384→1536 1.87 vs 1.72 ms (two threads: 1.70 vs 1.06 ms); at 49 rows the
// two are within noise.
const gemmPanelRows = 128

// gemmMaxDoublePack bounds (in elements) the constant operands that are
// packed in both layouts; larger ones keep only the panels, which serve
// every M at some cost for large M, so that memory is not doubled.
const gemmMaxDoublePack = 1 << 24

// gemmKernel is a planned Gemm node: Y = alpha·op(A)·op(B) + beta·C with
// A: [M, K] (or [K, M] if transA), B: [K, N] (or [N, K] if transB), and C
// optional, unidirectionally broadcastable to Y: [M, N].
type gemmKernel struct {
	alpha, beta    float32
	transA, transB bool
	// weights is B packed at plan time (constant float32 B), for runs whose
	// B is that constant tensor (wSrc).
	weights *gemmWeights
	wSrc    *Tensor
	// biasData is beta·C precomputed for a constant float32 C (cSrc).
	biasData []float32
	cSrc     *Tensor
}

func buildGemm(n *Node) (Kernel, error) {
	k := &gemmKernel{
		alpha:  n.Float("alpha", 1),
		beta:   n.Float("beta", 1),
		transA: n.IntIn("transA", 0, 0, 1) == 1,
		transB: n.IntIn("transB", 0, 0, 1) == 1,
	}
	if err := n.Err(); err != nil {
		return nil, err
	}
	if n.NumInputs() < 2 || !n.HasInput(0) || !n.HasInput(1) {
		return nil, n.Errorf("expected inputs A and B, got %d inputs", n.NumInputs())
	}
	if n.Opset < 11 && !n.HasInput(2) {
		return nil, n.Errorf("input C is required before opset 11")
	}
	if b := n.Const(1); b != nil && b.DType() == Float32 && b.Rank() == 2 {
		kk, nn := b.shape[0], b.shape[1]
		if k.transB {
			kk, nn = nn, kk
		}
		k.weights = newGemmWeights(b.Float32s(), b.shape[1], k.transB, kk, nn, k.alpha)
		k.wSrc = b
	}
	if c := n.Const(2); c != nil && c.DType() == Float32 {
		k.biasData = scaledFloat32s(c.Float32s(), k.beta)
		k.cSrc = c
	}
	return k, nil
}

// scaledFloat32s returns s·x (x itself when s == 1).
func scaledFloat32s(x []float32, s float32) []float32 {
	if s == 1 {
		return x
	}
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v * s
	}
	return out
}

// gemmDims are the sizes of one Gemm call.
type gemmDims struct{ m, n, k int }

func (g *gemmKernel) Run(rc *RunContext, in, out []*Tensor) error {
	a, b := in[0], in[1]
	var c *Tensor
	if len(in) > 2 {
		c = in[2]
	}
	d, err := g.check(rc, a, b, c)
	if err != nil {
		return err
	}
	y := rc.New(a.dtype, d.m, d.n)
	switch a.dtype {
	case Float32:
		g.runFloat32(rc, d, a, b, c, y)
	case Float64:
		g.runFloat64(d, a, b, c, y)
	}
	out[0] = y
	return nil
}

// check validates types and shapes and returns the product's sizes.
func (g *gemmKernel) check(rc *RunContext, a, b, c *Tensor) (gemmDims, error) {
	if a.dtype != Float32 && a.dtype != Float64 {
		return gemmDims{}, rc.Errorf("input A: unsupported element type %v (want FLOAT or DOUBLE)", a.dtype)
	}
	if b.dtype != a.dtype {
		return gemmDims{}, rc.Errorf("inputs must share one element type, got A %v and B %v", a.dtype, b.dtype)
	}
	if c != nil && c.dtype != a.dtype {
		return gemmDims{}, rc.Errorf("inputs must share one element type, got A %v and C %v", a.dtype, c.dtype)
	}
	if a.Rank() != 2 || b.Rank() != 2 {
		return gemmDims{}, rc.Errorf("A and B must be matrices, got A %v and B %v", ShapeString(a.shape), ShapeString(b.shape))
	}
	m, ka := a.shape[0], a.shape[1]
	if g.transA {
		m, ka = ka, m
	}
	kb, n := b.shape[0], b.shape[1]
	if g.transB {
		kb, n = n, kb
	}
	if ka != kb {
		return gemmDims{}, rc.Errorf("inner dimensions differ: op(A) is [%d %d], op(B) is [%d %d] (transA=%v, transB=%v)", m, ka, kb, n, g.transA, g.transB)
	}
	if c != nil {
		if _, _, err := gemmBiasStrides(c.shape, m, n); err != nil {
			return gemmDims{}, rc.Errorf("input C: %v", err)
		}
	}
	return gemmDims{m: m, n: n, k: ka}, nil
}

// gemmBiasStrides returns the row and column strides (0 where C broadcasts)
// of C viewed as an [M, N] matrix, or an error if C does not broadcast
// unidirectionally to [M, N].
func gemmBiasStrides(shape []int, m, n int) (rs, cs int, err error) {
	rows, cols := 1, 1
	switch len(shape) {
	case 0:
	case 1:
		cols = shape[0]
	case 2:
		rows, cols = shape[0], shape[1]
	default:
		return 0, 0, fmt.Errorf("shape %v has rank > 2", ShapeString(shape))
	}
	if (rows != 1 && rows != m) || (cols != 1 && cols != n) {
		return 0, 0, fmt.Errorf("shape %v does not broadcast to [%d %d]", ShapeString(shape), m, n)
	}
	if rows > 1 {
		rs = cols
	}
	if cols > 1 {
		cs = 1
	}
	return rs, cs, nil
}

// gemmBias is beta·C as a broadcast [M, N] matrix: element (i, j) is
// data[i·rs + j·cs].
type gemmBias struct {
	data   []float32
	rs, cs int
}

// bias prepares beta·C for one run (nil data if there is no C).
func (g *gemmKernel) bias(rc *RunContext, c *Tensor, d gemmDims) gemmBias {
	if c == nil || c.Len() == 0 {
		return gemmBias{}
	}
	rs, cs, _ := gemmBiasStrides(c.shape, d.m, d.n)
	data := g.biasData
	if c != g.cSrc {
		data = c.Float32s()
		if g.beta != 1 {
			scaled := rc.Float32Scratch(len(data))
			for i, v := range data {
				scaled[i] = v * g.beta
			}
			data = scaled
		}
	}
	return gemmBias{data: data, rs: rs, cs: cs}
}

// epilogue expresses the bias for a row-major Y: [M, N].
func (b gemmBias) epilogue(rc *RunContext, d gemmDims) *gemm.Epilogue {
	switch {
	case b.data == nil:
		return nil
	case b.rs == 0 && b.cs == 0:
		return &gemm.Epilogue{ColBias: filledFloat32s(rc, d.n, b.data[0])}
	case b.rs == 0:
		return &gemm.Epilogue{ColBias: b.data}
	case b.cs == 0:
		return &gemm.Epilogue{RowBias: b.data}
	}
	return &gemm.Epilogue{Residual: b.data, LdRes: b.rs}
}

// transposedEpilogue expresses the bias for Yᵀ: [N, M]; ok is false for a
// full [M, N] bias, which has no such form.
func (b gemmBias) transposedEpilogue(rc *RunContext, d gemmDims) (ep gemm.Epilogue, ok bool) {
	switch {
	case b.data == nil:
		return gemm.Epilogue{}, true
	case b.rs == 0 && b.cs == 0:
		return gemm.Epilogue{RowBias: filledFloat32s(rc, d.n, b.data[0])}, true
	case b.rs == 0:
		return gemm.Epilogue{RowBias: b.data}, true
	case b.cs == 0:
		return gemm.Epilogue{ColBias: b.data}, true
	}
	return gemm.Epilogue{}, false
}

func filledFloat32s(rc *RunContext, n int, v float32) []float32 {
	s := rc.Float32Scratch(n)
	for i := range s {
		s[i] = v
	}
	return s
}

func (g *gemmKernel) runFloat32(rc *RunContext, d gemmDims, a, b, c, y *Tensor) {
	bias := g.bias(rc, c, d)
	lda := a.shape[1]
	if g.weights != nil && b == g.wSrc {
		g.weights.mul(rc, d.m, a.Float32s(), lda, g.transA, y.Float32s(), bias)
		return
	}
	var bp gemm.BPacker = gemm.Dense{Data: b.Float32s(), Ld: b.shape[1], Trans: g.transB}
	if g.alpha != 1 {
		bp = gemmScaledB{bp, g.alpha}
	}
	gemm.MulUnpacked(d.m, d.n, d.k, a.Float32s(), lda, g.transA, bp, y.Float32s(), d.n, bias.epilogue(rc, d), rc.Threads())
}

// gemmScaledB is a right-hand operand multiplied by a scalar while packing.
type gemmScaledB struct {
	b     gemm.BPacker
	alpha float32
}

// PackB implements gemm.BPacker.
func (s gemmScaledB) PackB(dst []float32, k0, kc, j0, nc, nr int) {
	s.b.PackB(dst, k0, kc, j0, nc, nr)
	for i := range dst[:gemmCeilDiv(nc, nr)*nr*kc] {
		dst[i] *= s.alpha
	}
}

func gemmCeilDiv(a, b int) int { return (a + b - 1) / b }

// runFloat64 is the plain-loop Gemm for DOUBLE, accumulating each dot
// product before scaling.
func (g *gemmKernel) runFloat64(d gemmDims, a, b, c, y *Tensor) {
	av, bv, yv := a.Float64s(), b.Float64s(), y.Float64s()
	lda, ldb := a.shape[1], b.shape[1]
	var cv []float64
	rs, cs := 0, 0
	if c != nil && c.Len() > 0 {
		cv = c.Float64s()
		rs, cs, _ = gemmBiasStrides(c.shape, d.m, d.n)
	}
	alpha, beta := float64(g.alpha), float64(g.beta)
	for i := range d.m {
		for j := range d.n {
			var sum float64
			for kk := range d.k {
				ai, bi := i*lda+kk, kk*ldb+j
				if g.transA {
					ai = kk*lda + i
				}
				if g.transB {
					bi = j*ldb + kk
				}
				sum += av[ai] * bv[bi]
			}
			v := alpha * sum
			if cv != nil {
				v += beta * cv[i*rs+j*cs]
			}
			yv[i*d.n+j] = v
		}
	}
}

// gemmWeights is a constant right-hand operand B: [K, N], already
// multiplied by alpha, packed at plan time (see the file comment for the
// two layouts).
type gemmWeights struct {
	k, n   int
	panels *gemmPanels
	// left is Bᵀ: [N, K] packed as a left operand; nil when B is too large
	// to keep twice.
	left *gemm.PackedA
}

// newGemmWeights packs B: [K, N] stored in b with row stride ldb, or
// stored as Bᵀ: [N, K] if trans, scaled by alpha.
func newGemmWeights(b []float32, ldb int, trans bool, k, n int, alpha float32) *gemmWeights {
	if alpha != 1 {
		b = scaledFloat32s(b, alpha)
	}
	at := func(kk, j int) float32 {
		if trans {
			return b[j*ldb+kk]
		}
		return b[kk*ldb+j]
	}
	w := &gemmWeights{k: k, n: n, panels: newGemmPanels(k, n, gemmProbeNR(), at)}
	if k > 0 && n > 0 && k*n <= gemmMaxDoublePack {
		// Bᵀ[j][kk] = B[kk][j]: stored plainly when B is stored transposed.
		w.left = gemm.PackA(n, k, b, ldb, !trans)
	}
	return w
}

// mul computes Y: [M, N] (row stride N) = op(A)·B + bias, where op(A) is
// A: [M, K] stored in a with row stride lda, or its transpose if transA.
func (w *gemmWeights) mul(rc *RunContext, m int, a []float32, lda int, transA bool, y []float32, bias gemmBias) {
	d := gemmDims{m: m, n: w.n, k: w.k}
	if m >= gemmManyRows && m < gemmPanelRows && w.left != nil {
		if ep, ok := bias.transposedEpilogue(rc, d); ok {
			w.mulTransposed(rc, d, a, lda, transA, y, ep)
			return
		}
	}
	if m <= gemmVectorRows {
		w.mulVectors(rc, m, a, lda, transA, y, bias)
		return
	}
	gemm.MulUnpacked(m, w.n, w.k, a, lda, transA, w.panels, y, w.n, bias.epilogue(rc, d), rc.Threads())
}

// gemmVectorRows is the number of rows up to which a product with packed
// weights runs as matrix-vector products straight on the panels, one per
// row (each reads all the weights once; the tiled product would copy them
// into its packing buffer and fill mr-row tiles with padding).
const gemmVectorRows = 2

// mulVectors computes Y row by row with gemm.MulVecPanels, then adds the
// bias.
func (w *gemmWeights) mulVectors(rc *RunContext, m int, a []float32, lda int, transA bool, y []float32, bias gemmBias) {
	x := rc.Float32Scratch(w.k)
	for i := range m {
		row := a[i*lda:]
		if transA {
			for kk := range x {
				x[kk] = a[kk*lda+i]
			}
			row = x
		}
		out := y[i*w.n : (i+1)*w.n]
		gemm.MulVecPanels(out, row, w.panels.data, w.k, w.n, w.panels.nr, rc.Threads())
		if bias.data != nil {
			for j := range out {
				out[j] += bias.data[i*bias.rs+j*bias.cs]
			}
		}
	}
}

// mulTransposed computes Yᵀ = Bᵀ·op(A)ᵀ into scratch and transposes each
// finished block into Y.
func (w *gemmWeights) mulTransposed(rc *RunContext, d gemmDims, a []float32, lda int, transA bool, y []float32, ep gemm.Epilogue) {
	yt := rc.Float32Scratch(d.n * d.m)
	ep.Tile = func(c []float32, ldc, i0, j0, rows, cols int) {
		// Block rows are output columns i0.., block columns output rows j0..
		for j := range cols {
			dst := y[(j0+j)*d.n+i0:][:rows]
			for i := range dst {
				dst[i] = c[i*ldc+j]
			}
		}
	}
	// op(A)ᵀ is [K, M]: A stored [M, K] is that matrix stored transposed.
	xt := gemm.Dense{Data: a, Ld: lda, Trans: !transA}
	w.left.Mul(d.m, xt, yt, d.m, &ep, rc.Threads())
}

// gemmPanels holds B: [K, N] in the layout gemm's PackB produces for
// column panels of width nr over the whole K: panel p holds, for every kk,
// the nr values B[kk][p·nr : p·nr+nr] (zero past N). Serving the driver is
// then a contiguous copy per panel.
type gemmPanels struct {
	k, n, nr int
	data     []float32
}

func newGemmPanels(k, n, nr int, at func(kk, j int) float32) *gemmPanels {
	p := &gemmPanels{k: k, n: n, nr: nr, data: make([]float32, gemmCeilDiv(n, nr)*nr*k)}
	for j := range n {
		panel := p.data[(j/nr)*k*nr:]
		for kk := range k {
			panel[kk*nr+j%nr] = at(kk, j)
		}
	}
	return p
}

// at returns B[kk][j].
func (p *gemmPanels) at(kk, j int) float32 {
	return p.data[(j/p.nr)*p.k*p.nr+kk*p.nr+j%p.nr]
}

// PackB implements gemm.BPacker.
func (p *gemmPanels) PackB(dst []float32, k0, kc, j0, nc, nr int) {
	if nr != p.nr || j0%nr != 0 {
		p.packAny(dst, k0, kc, j0, nc, nr)
		return
	}
	for q := 0; q*nr < nc; q++ {
		out := dst[q*kc*nr : (q+1)*kc*nr]
		copy(out, p.data[(j0/nr+q)*p.k*nr+k0*nr:][:kc*nr])
		if w := nc - q*nr; w < nr && j0+nc < p.n {
			// The panel runs past the requested columns into real data.
			for kk := range kc {
				clear(out[kk*nr+w : kk*nr+nr])
			}
		}
	}
}

// packAny packs for a kernel other than the one the panels were laid out
// for (the active kernel changed after planning).
func (p *gemmPanels) packAny(dst []float32, k0, kc, j0, nc, nr int) {
	for q := 0; q*nr < nc; q++ {
		out := dst[q*kc*nr : (q+1)*kc*nr]
		for kk := range kc {
			for jj := range nr {
				j := j0 + q*nr + jj
				v := float32(0)
				if j < j0+nc {
					v = p.at(k0+kk, j)
				}
				out[kk*nr+jj] = v
			}
		}
	}
}

// gemmProbeNR returns the panel width of the active micro-kernel, learned
// from the width the driver asks a packer for.
func gemmProbeNR() int {
	probe := &gemmNRProbe{}
	c := []float32{0}
	gemm.MulUnpacked(1, 1, 1, []float32{0}, 1, false, probe, c, 1, nil, 1)
	if probe.nr <= 0 {
		return 16
	}
	return probe.nr
}

type gemmNRProbe struct{ nr int }

func (p *gemmNRProbe) PackB(dst []float32, k0, kc, j0, nc, nr int) {
	p.nr = nr
	clear(dst[:gemmCeilDiv(nc, nr)*nr*kc])
}

// matMulKernel is a planned MatMul node: numpy matmul of A: [..., M, K] and
// B: [..., K, N] with broadcast batch dimensions; a 1-D A is [1, K] and a
// 1-D B is [K, 1], the added dimension removed from the result.
type matMulKernel struct {
	weights *gemmWeights // B packed when it is a constant float32 matrix or vector
	wSrc    *Tensor
}

func buildMatMul(n *Node) (Kernel, error) {
	if n.NumInputs() != 2 || !n.HasInput(0) || !n.HasInput(1) {
		return nil, n.Errorf("expected inputs A and B, got %d inputs", n.NumInputs())
	}
	k := &matMulKernel{}
	if b := n.Const(1); b != nil && b.DType() == Float32 && (b.Rank() == 1 || b.Rank() == 2) && b.Len() > 0 {
		kk, nn := b.shape[0], 1
		if b.Rank() == 2 {
			nn = b.shape[1]
		}
		k.weights = newGemmWeights(b.Float32s(), nn, false, kk, nn, 1)
		k.wSrc = b
	}
	return k, nil
}

// matMulShape is a MatMul's geometry: the broadcast batch shape, the matrix
// sizes, and for every output batch index the batch index of A and of B.
type matMulShape struct {
	out        []int
	m, n, k    int
	batch      int
	aIdx, bIdx []int
	// aFold is set when B has a single matrix and A's batches are the
	// output's: they fold into the rows of one product (aIdx, bIdx unset).
	aFold        bool
	aBatchLength int
}

func (k *matMulKernel) Run(rc *RunContext, in, out []*Tensor) error {
	a, b := in[0], in[1]
	if a.dtype != b.dtype {
		return rc.Errorf("inputs must share one element type, got A %v and B %v", a.dtype, b.dtype)
	}
	switch a.dtype {
	case Float32, Float64, Int32, Int64:
	default:
		return rc.Errorf("unsupported element type %v", a.dtype)
	}
	s, err := matMulGeometry(a.shape, b.shape)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	y := rc.NewShaped(a.dtype, s.out)
	switch a.dtype {
	case Float32:
		k.runFloat32(rc, s, a, b, y)
	case Float64:
		matMulLoops(s, a.Float64s(), b.Float64s(), y.Float64s())
	case Int32:
		matMulLoops(s, Values[int32](a), Values[int32](b), Values[int32](y))
	case Int64:
		matMulLoops(s, a.Int64s(), b.Int64s(), y.Int64s())
	}
	out[0] = y
	return nil
}

// matMulGeometry applies numpy's matmul shape rules.
func matMulGeometry(as, bs []int) (*matMulShape, error) {
	if len(as) == 0 || len(bs) == 0 {
		return nil, fmt.Errorf("operands must have rank >= 1, got A %v and B %v", ShapeString(as), ShapeString(bs))
	}
	a2, b2 := as, bs
	if len(as) == 1 {
		a2 = []int{1, as[0]}
	}
	if len(bs) == 1 {
		b2 = []int{bs[0], 1}
	}
	s := &matMulShape{m: a2[len(a2)-2], k: a2[len(a2)-1], n: b2[len(b2)-1]}
	if kb := b2[len(b2)-2]; kb != s.k {
		return nil, fmt.Errorf("inner dimensions differ: A %v, B %v", ShapeString(as), ShapeString(bs))
	}
	aBatch, bBatch := a2[:len(a2)-2], b2[:len(b2)-2]
	batch, err := BroadcastShapes(aBatch, bBatch)
	if err != nil {
		return nil, fmt.Errorf("batch dimensions: %v", err)
	}
	s.out = append([]int(nil), batch...)
	if len(as) > 1 {
		s.out = append(s.out, s.m)
	}
	if len(bs) > 1 {
		s.out = append(s.out, s.n)
	}
	if NumElements(s.out) < 0 {
		return nil, fmt.Errorf("output shape %v is too large", ShapeString(s.out))
	}
	s.batch = NumElements(batch)
	s.aBatchLength = NumElements(aBatch)
	s.aFold = NumElements(bBatch) == 1 && s.aBatchLength == s.batch
	if !s.aFold {
		s.aIdx = matMulBatchIndex(batch, aBatch)
		s.bIdx = matMulBatchIndex(batch, bBatch)
	}
	return s, nil
}

// offsets returns where output matrix t and its operands start in A, B
// and Y.
func (s *matMulShape) offsets(t int) (a, b, y int) {
	if s.aFold {
		return t * s.m * s.k, 0, t * s.m * s.n
	}
	return s.aIdx[t] * s.m * s.k, s.bIdx[t] * s.k * s.n, t * s.m * s.n
}

// matMulBatchIndex maps every index of the broadcast batch shape out to
// the flat batch index of an operand with batch shape in.
func matMulBatchIndex(out, in []int) []int {
	n := NumElements(out)
	idx := make([]int, n)
	strides := make([]int, len(out))
	stride := 1
	for i := len(in) - 1; i >= 0; i-- {
		if in[i] != 1 {
			strides[len(out)-len(in)+i] = stride
		}
		stride *= in[i]
	}
	coord := make([]int, len(out))
	for t := range n {
		off := 0
		for d, c := range coord {
			off += c * strides[d]
		}
		idx[t] = off
		for d := len(out) - 1; d >= 0; d-- {
			coord[d]++
			if coord[d] < out[d] {
				break
			}
			coord[d] = 0
		}
	}
	return idx
}

// matMulSmallWork is the per-matrix multiply-add count below which batches
// run in parallel, one goroutine per matrix, instead of splitting each
// product.
const matMulSmallWork = 1 << 20

func (k *matMulKernel) runFloat32(rc *RunContext, s *matMulShape, a, b, y *Tensor) {
	av, bv, yv := a.Float32s(), b.Float32s(), y.Float32s()
	if s.batch == 0 || s.m == 0 || s.n == 0 {
		return
	}
	if s.aFold {
		// One B: all of A's rows form one product.
		rows := s.batch * s.m
		if k.weights != nil && b == k.wSrc {
			k.weights.mul(rc, rows, av, s.k, false, yv, gemmBias{})
			return
		}
		gemm.MulUnpacked(rows, s.n, s.k, av, s.k, false, gemm.Dense{Data: bv, Ld: s.n}, yv, s.n, nil, rc.Threads())
		return
	}
	one := func(t, threads int) {
		ao, bo, yo := s.offsets(t)
		gemm.MulUnpacked(s.m, s.n, s.k, av[ao:ao+s.m*s.k], s.k, false, gemm.Dense{Data: bv[bo : bo+s.k*s.n], Ld: s.n}, yv[yo:yo+s.m*s.n], s.n, nil, threads)
	}
	if s.m*s.n*s.k < matMulSmallWork && rc.Threads() > 1 {
		parallel.ForEach(rc.Threads(), s.batch, func(_, t int) { one(t, 1) })
		return
	}
	for t := range s.batch {
		one(t, rc.Threads())
	}
}

// matMulLoops is the plain-loop batched product for non-float32 types.
func matMulLoops[T float64 | int32 | int64](s *matMulShape, a, b, y []T) {
	for t := range s.batch {
		ao, bo, yo := s.offsets(t)
		for i := range s.m {
			row := y[yo+i*s.n : yo+(i+1)*s.n]
			clear(row)
			for kk := range s.k {
				av := a[ao+i*s.k+kk]
				brow := b[bo+kk*s.n : bo+(kk+1)*s.n]
				for j, bvv := range brow {
					row[j] += av * bvv
				}
			}
		}
	}
}

// matMulIntegerKernel is a planned MatMulInteger: MatMul of 8-bit integer
// A and B (INT8 or UINT8) after subtracting their zero points, with an
// INT32 result. a_zero_point is a scalar or one value per row of A ([M]),
// b_zero_point a scalar or one value per column of B ([N]).
type matMulIntegerKernel struct{}

func buildMatMulInteger(n *Node) (Kernel, error) {
	if n.NumInputs() < 2 || n.NumInputs() > 4 || !n.HasInput(0) || !n.HasInput(1) {
		return nil, n.Errorf("expected inputs A, B and optional zero points, got %d inputs", n.NumInputs())
	}
	return matMulIntegerKernel{}, nil
}

func (matMulIntegerKernel) Run(rc *RunContext, in, out []*Tensor) error {
	a, b := in[0], in[1]
	s, err := matMulGeometry(a.shape, b.shape)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	av, err := int8Operand(a, "A")
	if err != nil {
		return rc.Errorf("%v", err)
	}
	bv, err := int8Operand(b, "B")
	if err != nil {
		return rc.Errorf("%v", err)
	}
	var za, zb []int32
	if len(in) > 2 && in[2] != nil {
		if za, err = zeroPoints(in[2], a.dtype, s.m, "a_zero_point"); err != nil {
			return rc.Errorf("%v", err)
		}
	}
	if len(in) > 3 && in[3] != nil {
		if zb, err = zeroPoints(in[3], b.dtype, s.n, "b_zero_point"); err != nil {
			return rc.Errorf("%v", err)
		}
	}
	y := rc.NewShaped(Int32, s.out)
	yv := Values[int32](y)
	for t := range s.batch {
		ao, bo, yo := s.offsets(t)
		for i := range s.m {
			row := yv[yo+i*s.n : yo+(i+1)*s.n]
			clear(row)
			zi := pickZero(za, i)
			for kk := range s.k {
				x := av[ao+i*s.k+kk] - zi
				for j := range row {
					row[j] += x * (bv[bo+kk*s.n+j] - pickZero(zb, j))
				}
			}
		}
	}
	out[0] = y
	return nil
}

// int8Operand widens an INT8 or UINT8 tensor to int32.
func int8Operand(t *Tensor, name string) ([]int32, error) {
	switch d := t.data.(type) {
	case []int8:
		return widenInt32(d), nil
	case []uint8:
		return widenInt32(d), nil
	}
	return nil, fmt.Errorf("input %s: unsupported element type %v (want INT8 or UINT8)", name, t.dtype)
}

func widenInt32[T int8 | uint8](d []T) []int32 {
	out := make([]int32, len(d))
	for i, v := range d {
		out[i] = int32(v)
	}
	return out
}

// zeroPoints reads a zero-point input: a scalar (or one value) or n values.
func zeroPoints(t *Tensor, want DType, n int, name string) ([]int32, error) {
	if t.dtype != want {
		return nil, fmt.Errorf("input %s: element type %v differs from its operand's %v", name, t.dtype, want)
	}
	if t.Rank() > 1 || (t.Len() != 1 && t.Len() != n) {
		return nil, fmt.Errorf("input %s: expected a scalar or [%d], got %v", name, n, ShapeString(t.shape))
	}
	return int8Operand(t, name)
}

func pickZero(z []int32, i int) int32 {
	switch len(z) {
	case 0:
		return 0
	case 1:
		return z[0]
	}
	return z[i]
}
