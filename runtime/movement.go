package runtime

import (
	"fmt"
	"unsafe"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Data movement: one gather engine (movePlan) serves Transpose, Slice,
// Split, Expand, Tile, Gather, Pad, DepthToSpace and SpaceToDepth. Each op
// describes, for every output dimension, where index i of that dimension
// reads in the source (an axisMap); the engine folds size-1 dimensions,
// merges dimensions that stay contiguous, and copies the innermost
// dimension as runs (memmove where the source is contiguous).
//
// The engine moves bits, not values, so it works on the element's size
// class: every dtype is viewed as uint8, uint16, uint32 or uint64 words.

// word is an unsigned integer of one element-size class.
type word interface {
	uint8 | uint16 | uint32 | uint64
}

// wordsOf views a tensor's elements as words of the same size. The caller
// picks W from t.DType().Size().
func wordsOf[W word](t *Tensor) []W {
	var p unsafe.Pointer
	n := 0
	switch d := t.data.(type) {
	case []float32:
		p, n = unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []float64:
		p, n = unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []int64:
		p, n = unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []int32:
		p, n = unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []int8:
		p, n = unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []uint8:
		p, n = unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []bool:
		p, n = unsafe.Pointer(unsafe.SliceData(d)), len(d)
	case []uint16:
		p, n = unsafe.Pointer(unsafe.SliceData(d)), len(d)
	}
	if n == 0 {
		return nil
	}
	var w W
	if unsafe.Sizeof(w) != uintptr(t.dtype.Size()) {
		panic(fmt.Sprintf("runtime: %v viewed as %d-byte words", t.dtype, unsafe.Sizeof(w)))
	}
	return unsafe.Slice((*W)(p), n)
}

// firstWord returns a one-element tensor's value as a word (zero for nil).
func firstWord[W word](t *Tensor) W {
	if t == nil {
		return 0
	}
	return wordsOf[W](t)[0]
}

// parallelMinElems is the output size below which copies stay on one
// goroutine: smaller moves finish before a goroutine would start.
const parallelMinElems = 1 << 16

func moveThreads(rc *RunContext, n int) int {
	if n < parallelMinElems {
		return 1
	}
	return rc.Threads()
}

// axisMap describes one output dimension of n indices: index i reads the
// source element at offset start + i·step (affine), or offs[i] when offs is
// set, where a negative offset means "the fill value". The offsets of all
// dimensions add up to the source offset of an element.
type axisMap struct {
	n           int
	start, step int
	offs        []int
}

func affine(n, start, step int) axisMap { return axisMap{n: n, start: start, step: step} }

func (m *axisMap) at(i int) int {
	if m.offs != nil {
		return m.offs[i]
	}
	return m.start + i*m.step
}

// segment is a run of the innermost dimension: n elements read from
// start + i·step (relative to the row's base offset), or the fill value.
type segment struct {
	n, start, step int
	fill           bool
}

// movePlan is a prepared gather: output element (i_0, ..., i_r) is
// src[base + Σ_d off_d(i_d)], or the fill value if any dimension maps to
// fill.
type movePlan struct {
	n       int // output elements
	base    int
	allFill bool
	dims    []axisMap // merged dimensions, outermost first, at least one
	segs    []segment // the innermost dimension as runs
}

// newMovePlan folds size-1 dimensions into the base offset and merges
// neighbouring affine dimensions that read contiguously, so that a Slice of
// whole rows or a Split on axis 1 copies long runs.
func newMovePlan(maps []axisMap) *movePlan {
	p := &movePlan{n: 1}
	for _, m := range maps {
		p.n *= m.n
	}
	if p.n == 0 {
		return p
	}
	for _, m := range maps {
		if m.n == 1 {
			off := m.at(0)
			if off < 0 {
				p.allFill = true
			} else {
				p.base += off
			}
			continue
		}
		if last := len(p.dims) - 1; last >= 0 && p.dims[last].offs == nil && m.offs == nil && p.dims[last].step == m.step*m.n {
			d := &p.dims[last]
			d.n *= m.n
			d.start += m.start
			d.step = m.step
			continue
		}
		p.dims = append(p.dims, m)
	}
	if len(p.dims) == 0 {
		p.dims = []axisMap{affine(1, 0, 0)}
	}
	p.segs = segmentsOf(p.dims[len(p.dims)-1])
	return p
}

// segmentsOf cuts a map into runs of constant step and runs of fill.
func segmentsOf(m axisMap) []segment {
	if m.offs == nil {
		return []segment{{n: m.n, start: m.start, step: m.step}}
	}
	var segs []segment
	offs := m.offs
	for i := 0; i < len(offs); {
		j := i + 1
		if offs[i] < 0 {
			for j < len(offs) && offs[j] < 0 {
				j++
			}
			segs = append(segs, segment{n: j - i, fill: true})
			i = j
			continue
		}
		step := 0
		if j < len(offs) && offs[j] >= 0 {
			step = offs[j] - offs[i]
			for j < len(offs) && offs[j] >= 0 && offs[j]-offs[j-1] == step {
				j++
			}
		}
		segs = append(segs, segment{n: j - i, start: offs[i], step: step})
		i = j
	}
	return segs
}

// move runs the plan from src into dst (both of the same dtype); fill is a
// one-element tensor of that dtype, or nil for zero.
func (p *movePlan) move(rc *RunContext, dst, src, fill *Tensor) {
	threads := moveThreads(rc, p.n)
	switch dst.dtype.Size() {
	case 1:
		moveWords(p, wordsOf[uint8](dst), wordsOf[uint8](src), firstWord[uint8](fill), threads)
	case 2:
		moveWords(p, wordsOf[uint16](dst), wordsOf[uint16](src), firstWord[uint16](fill), threads)
	case 4:
		moveWords(p, wordsOf[uint32](dst), wordsOf[uint32](src), firstWord[uint32](fill), threads)
	case 8:
		moveWords(p, wordsOf[uint64](dst), wordsOf[uint64](src), firstWord[uint64](fill), threads)
	default:
		panic(fmt.Sprintf("runtime: move of %v", dst.dtype))
	}
}

func moveWords[W word](p *movePlan, dst, src []W, fill W, threads int) {
	if p.n == 0 {
		return
	}
	if p.allFill {
		parallel.For(threads, len(dst), func(lo, hi int) { fillWords(dst[lo:hi], fill) })
		return
	}
	if p.transposed() {
		moveBlocked(p, dst, src, fill, threads)
		return
	}
	inner := p.dims[len(p.dims)-1].n
	outer := p.dims[:len(p.dims)-1]
	parallel.For(threads, p.n/inner, func(lo, hi int) {
		walkRows(outer, p.base, lo, hi, func(row, off int, isFill bool) {
			out := dst[row*inner : (row+1)*inner]
			if isFill {
				fillWords(out, fill)
				return
			}
			copySegments(out, src, off, p.segs, fill)
		})
	})
}

func fillWords[W word](dst []W, v W) {
	for i := range dst {
		dst[i] = v
	}
}

// copySegments writes one output row from the source runs.
func copySegments[W word](out, src []W, base int, segs []segment, fill W) {
	o := 0
	for _, s := range segs {
		seg := out[o : o+s.n]
		o += s.n
		switch {
		case s.fill:
			fillWords(seg, fill)
		case s.step == 1:
			copy(seg, src[base+s.start:base+s.start+s.n])
		case s.step == 0:
			fillWords(seg, src[base+s.start])
		default:
			j := base + s.start
			for i := range seg {
				seg[i] = src[j]
				j += s.step
			}
		}
	}
}

// walkRows calls fn for rows [lo, hi) of the outer dimensions with each
// row's source offset (base included) and whether any dimension maps the
// row to fill. It steps an odometer, updating the offset incrementally.
func walkRows(dims []axisMap, base, lo, hi int, fn func(row, off int, fill bool)) {
	if lo >= hi {
		return
	}
	idx := make([]int, len(dims))
	contrib := make([]int, len(dims))
	r := lo
	for d := len(dims) - 1; d >= 0; d-- {
		idx[d] = r % dims[d].n
		r /= dims[d].n
	}
	off, fills := base, 0
	for d := range dims {
		contrib[d] = dims[d].at(idx[d])
		if contrib[d] < 0 {
			fills++
		} else {
			off += contrib[d]
		}
	}
	for row := lo; row < hi; row++ {
		fn(row, off, fills > 0)
		for d := len(dims) - 1; d >= 0; d-- {
			idx[d]++
			wrapped := idx[d] == dims[d].n
			if wrapped {
				idx[d] = 0
			}
			if old := contrib[d]; old < 0 {
				fills--
			} else {
				off -= old
			}
			c := dims[d].at(idx[d])
			if c < 0 {
				fills++
			} else {
				off += c
			}
			contrib[d] = c
			if !wrapped {
				break
			}
		}
	}
}

// rowOffset is walkRows' offset for a single row.
func rowOffset(dims []axisMap, base, row int) (off int, fill bool) {
	off = base
	for d := len(dims) - 1; d >= 0; d-- {
		c := dims[d].at(row % dims[d].n)
		row /= dims[d].n
		if c < 0 {
			fill = true
		} else {
			off += c
		}
	}
	return off, fill
}

// transposeTile is the side of the square tiles a transposition moves at a
// time: a 32×32 tile of 8-byte words is 8 KiB, so a tile's source lines and
// destination lines both stay in L1.
const transposeTile = 32

// transposed reports whether the innermost dimension reads with a large
// stride while the one above it reads contiguously: a (batched) 2-D
// transposition such as NCHW ↔ NHWC. Row-by-row copying would then touch a
// new cache line for every element; moveBlocked works in tiles instead.
func (p *movePlan) transposed() bool {
	r := len(p.dims)
	if r < 2 {
		return false
	}
	a, b := p.dims[r-2], p.dims[r-1]
	return a.offs == nil && b.offs == nil && a.step == 1 && (b.step > 1 || b.step < -1) && b.n >= 4
}

// moveBlocked copies a batched transposition in square tiles. Work units
// are (outer row, tile row of the second-innermost dimension) pairs.
func moveBlocked[W word](p *movePlan, dst, src []W, fill W, threads int) {
	r := len(p.dims)
	a, b := p.dims[r-2], p.dims[r-1]
	outer := p.dims[:r-2]
	tilesA := (a.n + transposeTile - 1) / transposeTile
	units := p.n / (a.n * b.n) * tilesA
	parallel.For(threads, units, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			row, ta := u/tilesA, u%tilesA
			off, isFill := rowOffset(outer, p.base, row)
			a0, a1 := ta*transposeTile, min((ta+1)*transposeTile, a.n)
			out := dst[row*a.n*b.n:]
			if isFill {
				fillWords(out[a0*b.n:a1*b.n], fill)
				continue
			}
			base := off + a.start + b.start
			for b0 := 0; b0 < b.n; b0 += transposeTile {
				transposeTileWords(out, src, base, a0, a1, b0, min(b0+transposeTile, b.n), b.n, b.step)
			}
		}
	})
}

// transposeTileWords sets out[i·ldo + k] = src[base + i + k·step] for i in
// [a0, a1) and k in [b0, b1). It moves 4×4 blocks (four contiguous source
// runs to four contiguous destination runs) so that each load and store
// stream advances four elements at a time, then finishes the ragged edges
// element by element.
func transposeTileWords[W word](out, src []W, base, a0, a1, b0, b1, ldo, step int) {
	i := a0
	for ; i+4 <= a1; i += 4 {
		k := b0
		for ; k+4 <= b1; k += 4 {
			s := base + i + k*step
			s0 := src[s : s+4 : s+4]
			s1 := src[s+step : s+step+4 : s+step+4]
			s2 := src[s+2*step : s+2*step+4 : s+2*step+4]
			s3 := src[s+3*step : s+3*step+4 : s+3*step+4]
			o := i*ldo + k
			d0 := out[o : o+4 : o+4]
			d1 := out[o+ldo : o+ldo+4 : o+ldo+4]
			d2 := out[o+2*ldo : o+2*ldo+4 : o+2*ldo+4]
			d3 := out[o+3*ldo : o+3*ldo+4 : o+3*ldo+4]
			d0[0], d0[1], d0[2], d0[3] = s0[0], s1[0], s2[0], s3[0]
			d1[0], d1[1], d1[2], d1[3] = s0[1], s1[1], s2[1], s3[1]
			d2[0], d2[1], d2[2], d2[3] = s0[2], s1[2], s2[2], s3[2]
			d3[0], d3[1], d3[2], d3[3] = s0[3], s1[3], s2[3], s3[3]
		}
		for ; k < b1; k++ {
			s := base + i + k*step
			o := i*ldo + k
			out[o], out[o+ldo], out[o+2*ldo], out[o+3*ldo] = src[s], src[s+1], src[s+2], src[s+3]
		}
	}
	for ; i < a1; i++ {
		for k := b0; k < b1; k++ {
			out[i*ldo+k] = src[base+i+k*step]
		}
	}
}

// stridesOf returns the row-major element strides of a shape.
func stridesOf(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// identityMaps maps every output dimension to the same source dimension.
func identityMaps(shape []int) []axisMap {
	st := stridesOf(shape)
	maps := make([]axisMap, len(shape))
	for d, n := range shape {
		maps[d] = affine(n, 0, st[d])
	}
	return maps
}

// ---- Transpose ----

type transposeKernel struct {
	perm []int // nil: reverse the dimensions
}

func buildTranspose(n *Node) (Kernel, error) {
	k := &transposeKernel{}
	if n.HasAttr("perm") {
		p := n.Ints("perm", nil)
		k.perm = make([]int, len(p))
		seen := make([]bool, len(p))
		for i, v := range p {
			if v < 0 || v >= int64(len(p)) || seen[v] {
				return nil, n.Errorf("attribute \"perm\": %v is not a permutation of 0..%d", p, len(p)-1)
			}
			seen[v] = true
			k.perm[i] = int(v)
		}
	}
	return k, n.Err()
}

func (k *transposeKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	perm := k.perm
	if perm == nil {
		perm = make([]int, x.Rank())
		for i := range perm {
			perm[i] = x.Rank() - 1 - i
		}
	}
	if len(perm) != x.Rank() {
		return rc.Errorf("perm %v has %d entries for input of shape %s", perm, len(perm), ShapeString(x.shape))
	}
	out[0] = transposeTensor(rc, x, x.shape, perm)
	return nil
}

// transposeTensor returns x's elements, read as the given shape, permuted:
// output dimension d is input dimension perm[d].
func transposeTensor(rc *RunContext, x *Tensor, shape, perm []int) *Tensor {
	st := stridesOf(shape)
	maps := make([]axisMap, len(perm))
	outShape := make([]int, len(perm))
	for d, p := range perm {
		outShape[d] = shape[p]
		maps[d] = affine(shape[p], 0, st[p])
	}
	y := rc.New(x.dtype, outShape...)
	newMovePlan(maps).move(rc, y, x, nil)
	return y
}

// ---- Concat ----

type concatKernel struct{ axis int }

func buildConcat(n *Node) (Kernel, error) {
	if n.Opset >= 4 && !n.HasAttr("axis") {
		return nil, n.Errorf("attribute \"axis\": required")
	}
	k := &concatKernel{axis: int(n.Int("axis", 1))}
	if len(n.Inputs) == 0 {
		return nil, n.Errorf("expected at least one input")
	}
	return k, n.Err()
}

func (k *concatKernel) Run(rc *RunContext, in, out []*Tensor) error {
	first := in[0]
	if first == nil {
		return rc.Errorf("input 0 is missing")
	}
	rank := first.Rank()
	axis, ok := normAxis(k.axis, rank)
	if !ok {
		return rc.Errorf("axis %d out of range for rank %d", k.axis, rank)
	}
	shape := append([]int(nil), first.shape...)
	shape[axis] = 0
	for i, x := range in {
		if x == nil {
			return rc.Errorf("input %d is missing", i)
		}
		if x.dtype != first.dtype {
			return rc.Errorf("input %d has type %v, input 0 has %v", i, x.dtype, first.dtype)
		}
		if !sameExcept(x.shape, first.shape, axis) {
			return rc.Errorf("input %d has shape %s, incompatible with input 0's %s on axis %d", i, ShapeString(x.shape), ShapeString(first.shape), axis)
		}
		shape[axis] += x.shape[axis]
	}
	y := rc.New(first.dtype, shape...)
	concatInto(rc, y, in, axis)
	out[0] = y
	return nil
}

func sameExcept(a, b []int, axis int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if i != axis && a[i] != b[i] {
			return false
		}
	}
	return true
}

// concatInto copies each input's blocks into its slab of y along axis.
func concatInto(rc *RunContext, y *Tensor, in []*Tensor, axis int) {
	switch y.dtype.Size() {
	case 1:
		concatWords[uint8](rc, y, in, axis)
	case 2:
		concatWords[uint16](rc, y, in, axis)
	case 4:
		concatWords[uint32](rc, y, in, axis)
	case 8:
		concatWords[uint64](rc, y, in, axis)
	}
}

func concatWords[W word](rc *RunContext, y *Tensor, in []*Tensor, axis int) {
	inner := NumElements(y.shape[axis+1:])
	outer := NumElements(y.shape[:axis])
	rowLen := y.shape[axis] * inner
	dst := wordsOf[W](y)
	srcs := make([][]W, len(in))
	for i, x := range in {
		srcs[i] = wordsOf[W](x)
	}
	// The output in equal flat ranges, one per worker, each copied piece by piece: with one
	// image (outer = 1) a split by rows would leave all but one worker idle, and at two threads
	// the one copying read half its inputs from the other core's cache (GoogLeNet's concats:
	// 0.18 ms at one thread, 0.45 at two).
	total := outer * rowLen
	if total == 0 {
		return
	}
	threads := moveThreads(rc, total)
	parallel.For(threads, threads, func(w0, w1 int) {
		lo, hi := w0*total/threads, w1*total/threads
		for o := lo / rowLen; o*rowLen < hi; o++ {
			row, at := dst[o*rowLen:(o+1)*rowLen], o*rowLen
			for i, x := range in {
				n := x.shape[axis] * inner
				a, b := max(lo-at, 0), min(hi-at, n)
				if a < b {
					copy(row[a:b], srcs[i][o*n+a:o*n+b])
				}
				row, at = row[n:], at+n
			}
		}
	})
}

// ---- Split ----

type splitKernel struct {
	axis       int
	split      intsInput // sizes, if given (attribute or input 1)
	numOutputs int       // opset 18 num_outputs, 0 if unset
}

func buildSplit(n *Node) (Kernel, error) {
	k := &splitKernel{axis: int(n.Int("axis", 0))}
	var err error
	switch {
	case n.Opset >= 13:
		k.split, err = planIntsInput(n, 1, "split")
	case n.HasAttr("split"):
		k.split = attrIntsInput(n.Ints("split", nil))
	default: // Split-1 also accepts the sizes as input 1.
		k.split, err = planIntsInput(n, 1, "split")
	}
	if err != nil {
		return nil, err
	}
	if n.Opset >= 18 && n.HasAttr("num_outputs") {
		k.numOutputs = int(n.IntIn("num_outputs", 1, 1, 1<<31))
		if k.split.present {
			return nil, n.Errorf("attribute \"num_outputs\" and input \"split\" are both given")
		}
		if k.numOutputs != len(n.Outputs) {
			return nil, n.Errorf("attribute \"num_outputs\" is %d but the node has %d outputs", k.numOutputs, len(n.Outputs))
		}
	}
	if k.split.known {
		if len(k.split.vals) != len(n.Outputs) {
			return nil, n.Errorf("split %v has %d entries for %d outputs", k.split.vals, len(k.split.vals), len(n.Outputs))
		}
		for _, v := range k.split.vals {
			if v < 0 {
				return nil, n.Errorf("split %v: negative size", k.split.vals)
			}
		}
	}
	return k, n.Err()
}

func (k *splitKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	axis, ok := normAxis(k.axis, x.Rank())
	if !ok {
		return rc.Errorf("axis %d out of range for rank %d", k.axis, x.Rank())
	}
	sizes, err := k.sizes(rc, in, x.shape[axis], len(out))
	if err != nil {
		return err
	}
	st := stridesOf(x.shape)
	start := 0
	for i, size := range sizes {
		shape := append([]int(nil), x.shape...)
		shape[axis] = size
		maps := identityMaps(x.shape)
		maps[axis] = affine(size, start*st[axis], st[axis])
		start += size
		y := rc.New(x.dtype, shape...)
		newMovePlan(maps).move(rc, y, x, nil)
		out[i] = y
	}
	return nil
}

// sizes returns the length along axis of each of the outputs.
func (k *splitKernel) sizes(rc *RunContext, in []*Tensor, dim, outputs int) ([]int, error) {
	vals, present, err := k.split.get(rc, in)
	if err != nil {
		return nil, err
	}
	sizes := make([]int, outputs)
	switch {
	case present:
		if len(vals) != outputs {
			return nil, rc.Errorf("split %v has %d entries for %d outputs", vals, len(vals), outputs)
		}
		total := int64(0)
		for i, v := range vals {
			if v < 0 || v > int64(dim) {
				return nil, rc.Errorf("split %v: size %d out of range for a dimension of %d", vals, v, dim)
			}
			sizes[i] = int(v)
			total += v
		}
		if total != int64(dim) {
			return nil, rc.Errorf("split %v sums to %d, the dimension is %d", vals, total, dim)
		}
	case k.numOutputs > 0:
		// Opset 18: chunks of ceil(dim/n), the last one holding the rest,
		// which must not be empty (ONNX Runtime's rule too).
		chunk := (dim + outputs - 1) / outputs
		last := dim - (outputs-1)*chunk
		if last <= 0 {
			return nil, rc.Errorf("num_outputs %d: a dimension of %d does not split into chunks of %d with a non-empty last one", outputs, dim, chunk)
		}
		for i := range sizes {
			sizes[i] = chunk
		}
		sizes[outputs-1] = last
	default:
		if dim%outputs != 0 {
			return nil, rc.Errorf("dimension %d does not split evenly into %d outputs", dim, outputs)
		}
		for i := range sizes {
			sizes[i] = dim / outputs
		}
	}
	return sizes, nil
}

// ---- Slice ----

type sliceKernel struct {
	starts, ends, axes, steps intsInput
}

func buildSliceV1(n *Node) (Kernel, error) {
	if !n.HasAttr("starts") || !n.HasAttr("ends") {
		return nil, n.Errorf("attributes \"starts\" and \"ends\" are required")
	}
	k := &sliceKernel{
		starts: attrIntsInput(n.Ints("starts", nil)),
		ends:   attrIntsInput(n.Ints("ends", nil)),
	}
	if n.HasAttr("axes") {
		k.axes = attrIntsInput(n.Ints("axes", nil))
	}
	if err := n.Err(); err != nil {
		return nil, err
	}
	return k, k.check(n)
}

func buildSlice(n *Node) (Kernel, error) {
	k := &sliceKernel{}
	var errs [4]error
	k.starts, errs[0] = planIntsInput(n, 1, "starts")
	k.ends, errs[1] = planIntsInput(n, 2, "ends")
	k.axes, errs[2] = planIntsInput(n, 3, "axes")
	k.steps, errs[3] = planIntsInput(n, 4, "steps")
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if !k.starts.present || !k.ends.present {
		return nil, n.Errorf("inputs \"starts\" and \"ends\" are required")
	}
	return k, k.check(n)
}

// check validates the constant parameters at plan time.
func (k *sliceKernel) check(n *Node) error {
	if !k.starts.known || !k.ends.known {
		return nil
	}
	var axes, steps []int64
	if k.axes.known {
		axes = k.axes.vals
	}
	if k.steps.known {
		steps = k.steps.vals
	}
	if err := checkSliceParams(k.starts.vals, k.ends.vals, axes, steps, k.axes.known, k.steps.known); err != nil {
		return n.Errorf("%v", err)
	}
	return nil
}

func checkSliceParams(starts, ends, axes, steps []int64, haveAxes, haveSteps bool) error {
	if len(starts) != len(ends) {
		return fmt.Errorf("starts %v and ends %v differ in length", starts, ends)
	}
	if haveAxes && len(axes) != len(starts) {
		return fmt.Errorf("axes %v and starts %v differ in length", axes, starts)
	}
	if haveSteps && len(steps) != len(starts) {
		return fmt.Errorf("steps %v and starts %v differ in length", steps, starts)
	}
	for _, s := range steps {
		if s == 0 {
			return fmt.Errorf("steps %v: a step is 0", steps)
		}
	}
	return nil
}

func (k *sliceKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	var vals [4][]int64
	var present [4]bool
	for i, a := range []*intsInput{&k.starts, &k.ends, &k.axes, &k.steps} {
		var err error
		if vals[i], present[i], err = a.get(rc, in); err != nil {
			return err
		}
	}
	starts, ends, axes, steps := vals[0], vals[1], vals[2], vals[3]
	if err := checkSliceParams(starts, ends, axes, steps, present[2], present[3]); err != nil {
		return rc.Errorf("%v", err)
	}
	maps := identityMaps(x.shape)
	st := stridesOf(x.shape)
	seen := make([]bool, x.Rank())
	for i := range starts {
		axis := i
		if present[2] {
			a, ok := normAxis(int(axes[i]), x.Rank())
			if !ok {
				return rc.Errorf("axes %v: axis %d out of range for rank %d", axes, axes[i], x.Rank())
			}
			axis = a
		} else if i >= x.Rank() {
			return rc.Errorf("starts %v has more entries than the input's rank %d", starts, x.Rank())
		}
		if seen[axis] {
			return rc.Errorf("axes %v: axis %d repeated", axes, axis)
		}
		seen[axis] = true
		step := int64(1)
		if present[3] {
			step = steps[i]
		}
		first, count := sliceRange(starts[i], ends[i], step, x.shape[axis])
		if count <= 1 {
			step = 1 // any step reads one element; avoid overflowing step·stride
		}
		maps[axis] = affine(count, first*st[axis], int(step)*st[axis])
	}
	shape := make([]int, len(maps))
	for d := range maps {
		shape[d] = maps[d].n
	}
	y := rc.New(x.dtype, shape...)
	newMovePlan(maps).move(rc, y, x, nil)
	out[0] = y
	return nil
}

// sliceRange resolves one axis of a Slice (numpy semantics, ONNX clamping):
// negative start/end count from the end, then are clamped to [0, dim] for
// positive steps and [-1, dim-1] for negative ones. It returns the first
// index and the number of elements. INT64_MIN/MAX ends never overflow.
func sliceRange(start, end, step int64, dim int) (first, count int) {
	d := int64(dim)
	if d == 0 {
		return 0, 0
	}
	if start < 0 {
		start += d
	}
	if end < 0 {
		end += d
	}
	if step > 0 {
		start, end = clamp64(start, 0, d), clamp64(end, 0, d)
		if end <= start {
			return 0, 0
		}
		return int(start), int(uint64(end-start-1)/uint64(step)) + 1
	}
	start, end = clamp64(start, 0, d-1), clamp64(end, -1, d-1)
	if start <= end {
		return 0, 0
	}
	// uint64(-step) is right even for step = INT64_MIN.
	return int(start), int(uint64(start-end-1)/uint64(-step)) + 1
}

func clamp64(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

// ---- Gather ----

type gatherKernel struct{ axis int }

func buildGather(n *Node) (Kernel, error) {
	k := &gatherKernel{axis: int(n.Int("axis", 0))}
	return k, n.Err()
}

func (k *gatherKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x, indices := in[0], in[1]
	axis, ok := normAxis(k.axis, x.Rank())
	if !ok {
		return rc.Errorf("axis %d out of range for rank %d", k.axis, x.Rank())
	}
	idx, err := indexValues(indices, x.shape[axis])
	if err != nil {
		return rc.Errorf("input 1 (indices): %v", err)
	}
	st := stridesOf(x.shape)
	offs := make([]int, len(idx))
	for i, v := range idx {
		offs[i] = v * st[axis]
	}
	maps := []axisMap{
		affine(NumElements(x.shape[:axis]), 0, x.shape[axis]*st[axis]),
		{n: len(offs), offs: offs},
		affine(st[axis], 0, 1),
	}
	shape := append(append(append([]int(nil), x.shape[:axis]...), indices.shape...), x.shape[axis+1:]...)
	y := rc.New(x.dtype, shape...)
	newMovePlan(maps).move(rc, y, x, nil)
	out[0] = y
	return nil
}

// indexValues reads an int32/int64 index tensor, resolving negative indices
// against dim and rejecting any outside [-dim, dim).
func indexValues(t *Tensor, dim int) ([]int, error) {
	v, ok := t.AsInts()
	if !ok || (t.dtype != Int64 && t.dtype != Int32) {
		return nil, fmt.Errorf("expected int32 or int64 indices, got %v", t.dtype)
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < -int64(dim) || x >= int64(dim) {
			return nil, fmt.Errorf("index %d out of range [%d, %d)", x, -dim, dim)
		}
		if x < 0 {
			x += int64(dim)
		}
		out[i] = int(x)
	}
	return out, nil
}

// ---- GatherElements ----

type gatherElementsKernel struct{ axis int }

func buildGatherElements(n *Node) (Kernel, error) {
	k := &gatherElementsKernel{axis: int(n.Int("axis", 0))}
	return k, n.Err()
}

func (k *gatherElementsKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x, indices := in[0], in[1]
	axis, ok := normAxis(k.axis, x.Rank())
	if !ok {
		return rc.Errorf("axis %d out of range for rank %d", k.axis, x.Rank())
	}
	if indices.Rank() != x.Rank() {
		return rc.Errorf("indices of shape %s and data of shape %s differ in rank", ShapeString(indices.shape), ShapeString(x.shape))
	}
	for d := range x.shape {
		if d != axis && indices.shape[d] > x.shape[d] {
			return rc.Errorf("indices of shape %s exceed data of shape %s on axis %d", ShapeString(indices.shape), ShapeString(x.shape), d)
		}
	}
	idx, err := indexValues(indices, x.shape[axis])
	if err != nil {
		return rc.Errorf("input 1 (indices): %v", err)
	}
	// Source offset of each output element: its own coordinates on every
	// axis but `axis`, where the index takes over.
	src := make([]int, len(idx))
	st := stridesOf(x.shape)
	coords := make([]int, indices.Rank())
	for i := range src {
		off := idx[i] * st[axis]
		for d, c := range coords {
			if d != axis {
				off += c * st[d]
			}
		}
		src[i] = off
		for d := len(coords) - 1; d >= 0; d-- {
			if coords[d]++; coords[d] < indices.shape[d] {
				break
			}
			coords[d] = 0
		}
	}
	y := rc.New(x.dtype, indices.shape...)
	newMovePlan([]axisMap{{n: len(src), offs: src}}).move(rc, y, x, nil)
	out[0] = y
	return nil
}

// ---- Expand ----

type expandKernel struct{ shape intsInput }

func buildExpand(n *Node) (Kernel, error) {
	s, err := planIntsInput(n, 1, "shape")
	if err != nil {
		return nil, err
	}
	if s.known {
		if _, err := dimsOf(s.vals); err != nil {
			return nil, n.Errorf("input 1 (shape): %v", err)
		}
	}
	return &expandKernel{shape: s}, nil
}

func (k *expandKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	spec, _, err := k.shape.get(rc, in)
	if err != nil {
		return err
	}
	want, err := dimsOf(spec)
	if err != nil {
		return rc.Errorf("input 1 (shape): %v", err)
	}
	shape, err := BroadcastShapes(x.shape, want)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	if SameShape(shape, x.shape) {
		out[0] = rc.View(x, shape)
		return nil
	}
	st := stridesOf(x.shape)
	lead := len(shape) - x.Rank()
	maps := make([]axisMap, len(shape))
	for d, n := range shape {
		step := 0
		if d >= lead && x.shape[d-lead] != 1 {
			step = st[d-lead]
		}
		maps[d] = affine(n, 0, step)
	}
	y := rc.New(x.dtype, shape...)
	newMovePlan(maps).move(rc, y, x, nil)
	out[0] = y
	return nil
}

// ---- Tile ----

type tileKernel struct{ repeats intsInput }

func buildTile(n *Node) (Kernel, error) {
	r, err := planIntsInput(n, 1, "repeats")
	if err != nil {
		return nil, err
	}
	if r.known {
		if _, err := dimsOf(r.vals); err != nil {
			return nil, n.Errorf("input 1 (repeats): %v", err)
		}
	}
	return &tileKernel{repeats: r}, nil
}

func (k *tileKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	vals, _, err := k.repeats.get(rc, in)
	if err != nil {
		return err
	}
	reps, err := dimsOf(vals)
	if err != nil {
		return rc.Errorf("input 1 (repeats): %v", err)
	}
	if len(reps) != x.Rank() {
		return rc.Errorf("repeats %v has %d entries for input of shape %s", vals, len(reps), ShapeString(x.shape))
	}
	// Output dimension d of size r·n is read as two dimensions [r, n]:
	// the repetition (step 0) and the input dimension itself.
	st := stridesOf(x.shape)
	maps := make([]axisMap, 0, 2*len(reps))
	shape := make([]int, len(reps))
	for d, r := range reps {
		maps = append(maps, affine(r, 0, 0), affine(x.shape[d], 0, st[d]))
		shape[d] = r * x.shape[d]
	}
	if NumElements(shape) < 0 {
		return rc.Errorf("output shape %s is too large", ShapeString(shape))
	}
	y := rc.New(x.dtype, shape...)
	newMovePlan(maps).move(rc, y, x, nil)
	out[0] = y
	return nil
}

// ---- DepthToSpace, SpaceToDepth ----

type depthToSpaceKernel struct {
	block int
	crd   bool // mode CRD (column, row, depth) instead of DCR
}

func buildDepthToSpace(n *Node) (Kernel, error) {
	k := &depthToSpaceKernel{block: int(n.IntIn("blocksize", 0, 1, 1<<20))}
	if !n.HasAttr("blocksize") {
		return nil, n.Errorf("attribute \"blocksize\": required")
	}
	switch mode := n.String("mode", "DCR"); mode {
	case "DCR":
	case "CRD":
		k.crd = true
	default:
		return nil, n.Errorf("attribute \"mode\": expected DCR or CRD, got %q", mode)
	}
	return k, n.Err()
}

// Run rearranges x: [N, C, H, W] into [N, C/b², H·b, W·b].
func (k *depthToSpaceKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x, b := in[0], k.block
	if x.Rank() != 4 || x.shape[1]%(b*b) != 0 {
		return rc.Errorf("input shape %s: expected [N, C, H, W] with C divisible by blocksize² = %d", ShapeString(x.shape), b*b)
	}
	nb, c, h, w := x.shape[0], x.shape[1]/(b*b), x.shape[2], x.shape[3]
	var y *Tensor
	if k.crd {
		y = transposeTensor(rc, x, []int{nb, c, b, b, h, w}, []int{0, 1, 4, 2, 5, 3})
	} else {
		y = transposeTensor(rc, x, []int{nb, b, b, c, h, w}, []int{0, 3, 4, 1, 5, 2})
	}
	y.shape = []int{nb, c, h * b, w * b}
	out[0] = y
	return nil
}

type spaceToDepthKernel struct{ block int }

func buildSpaceToDepth(n *Node) (Kernel, error) {
	if !n.HasAttr("blocksize") {
		return nil, n.Errorf("attribute \"blocksize\": required")
	}
	k := &spaceToDepthKernel{block: int(n.IntIn("blocksize", 1, 1, 1<<20))}
	return k, n.Err()
}

// Run rearranges x: [N, C, H, W] into [N, C·b², H/b, W/b].
func (k *spaceToDepthKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x, b := in[0], k.block
	if x.Rank() != 4 || x.shape[2]%b != 0 || x.shape[3]%b != 0 {
		return rc.Errorf("input shape %s: expected [N, C, H, W] with H and W divisible by blocksize %d", ShapeString(x.shape), b)
	}
	nb, c, h, w := x.shape[0], x.shape[1], x.shape[2]/b, x.shape[3]/b
	y := transposeTensor(rc, x, []int{nb, c, h, b, w, b}, []int{0, 3, 5, 1, 2, 4})
	y.shape = []int{nb, c * b * b, h, w}
	out[0] = y
	return nil
}
