package gemm

import "fmt"

import (
	"sync"
	"unsafe"
)

// aSource is the left operand as the driver sees it: either a PackedA or a plain matrix packed block
// by block on the fly (scaled by alpha for Sgemm).
type aSource struct {
	packed *PackedA
	data   []float32
	ld     int
	trans  bool
	alpha  float32
}

// block returns the packed panels of A[i0:i0+rows, k0:k0+kcb] (i0 a multiple of mr), packing them
// into buf first if A is not pre-packed. The result holds ceil(rows/mr) panels of kcb x mr values.
func (s *aSource) block(mr, i0, rows, k0, kcb int, buf []float32) []float32 {
	n := ceilDiv(rows, mr) * mr * kcb
	if p := s.packed; p != nil {
		off := k0*p.mPad + i0*kcb
		return p.data[off : off+n]
	}
	buf = buf[:n]
	s.pack(buf, mr, i0, rows, k0, kcb)
	return buf
}

// pack writes A[i0:i0+rows, k0:k0+kcb] into dst as mr-tall panels: element (i0+i, k0+kk) goes to
// dst[(i/mr)*kcb*mr + kk*mr + i%mr], and the rows that pad the last panel are zero.
func (s *aSource) pack(dst []float32, mr, i0, rows, k0, kcb int) {
	for p := 0; p*mr < rows; p++ {
		panel := dst[p*kcb*mr : (p+1)*kcb*mr]
		h := min(mr, rows-p*mr)
		if h < mr {
			clear(panel)
		}
		row0 := i0 + p*mr
		if s.trans {
			// A is stored k x m: each kk contributes h contiguous values.
			for kk := range kcb {
				src := s.data[(k0+kk)*s.ld+row0:][:h]
				out := panel[kk*mr : kk*mr+h]
				copyShort(out, src)
				s.scale(out)
			}
			continue
		}
		if h == 6 && mr == 6 {
			s.pack6(panel, row0, k0, kcb)
			continue
		}
		if h == 16 && mr == 16 && s.alpha == 1 && transpose16Vec && kcb >= 16 {
			s.pack16(panel, row0, k0, kcb)
			continue
		}
		for i := range h {
			src := s.data[(row0+i)*s.ld+k0:][:kcb]
			for kk, v := range src {
				panel[kk*mr+i] = v * s.alpha
			}
		}
	}
}

// pack6 packs one full 6-row panel of a row-major A, reading the six rows side by side so that
// the panel is written sequentially.
func (s *aSource) pack6(panel []float32, row0, k0, kcb int) {
	r0 := s.data[row0*s.ld+k0:][:kcb]
	r1 := s.data[(row0+1)*s.ld+k0:][:kcb]
	r2 := s.data[(row0+2)*s.ld+k0:][:kcb]
	r3 := s.data[(row0+3)*s.ld+k0:][:kcb]
	r4 := s.data[(row0+4)*s.ld+k0:][:kcb]
	r5 := s.data[(row0+5)*s.ld+k0:][:kcb]
	alpha := s.alpha
	for kk := range r0 {
		out := (*[6]float32)(panel[kk*6:])
		out[0], out[1], out[2] = r0[kk]*alpha, r1[kk]*alpha, r2[kk]*alpha
		out[3], out[4], out[5] = r3[kk]*alpha, r4[kk]*alpha, r5[kk]*alpha
	}
}

// transposeArgs is the contract of the 16x16 block transposition (Transpose16): for b < blocks,
// i < 16, j < 16,
//
//	dst[b·dstStep + j·ldDst + i] = src[b·srcStep + i·ldSrc + j]
type transposeArgs struct {
	dst, src         []float32
	ldDst, ldSrc     int
	dstStep, srcStep int
	blocks           int
}

// transpose16Vec says whether transpose16AVX512 runs the transpositions (the CPU has AVX-512);
// a flag rather than a function value, so that the arguments stay on the stack.
var transpose16Vec bool

// Transpose16 transposes blocks of 16x16 values: for b < blocks, i < 16, j < 16,
//
//	dst[b·dstStep + j·ldDst + i] = src[b·srcStep + i·ldSrc + j]
//
// with vector shuffles where the CPU has them. The blocks of dst must not overlap each other
// or src. It panics if a slice is too short for what it says.
func Transpose16(dst, src []float32, ldDst, ldSrc, dstStep, srcStep, blocks int) {
	if blocks <= 0 {
		return
	}
	last := func(ld, step int) int { return (blocks-1)*step + 15*ld + 16 }
	if ldDst < 0 || ldSrc < 0 || dstStep < 0 || srcStep < 0 || len(dst) < last(ldDst, dstStep) || len(src) < last(ldSrc, srcStep) {
		panic(fmt.Sprintf("gemm.Transpose16: %d blocks (strides %d, %d; steps %d, %d) outside %d and %d values",
			blocks, ldDst, ldSrc, dstStep, srcStep, len(dst), len(src)))
	}
	a := transposeArgs{dst: dst, src: src, ldDst: ldDst, ldSrc: ldSrc, dstStep: dstStep, srcStep: srcStep, blocks: blocks}
	if transpose16Vec {
		transpose16AVX512(&a)
		return
	}
	transpose16Generic(&a)
}

// transpose16Generic is the portable transposition; see transposeArgs.
func transpose16Generic(a *transposeArgs) {
	for b := range a.blocks {
		for i := range 16 {
			row := a.src[b*a.srcStep+i*a.ldSrc:][:16]
			out := a.dst[b*a.dstStep+i:]
			for j, v := range row {
				out[j*a.ldDst] = v
			}
		}
	}
}

// pack16 packs one full 16-row panel of a row-major A (alpha 1): whole 16x16 blocks with
// Transpose16, the last kcb mod 16 columns value by value.
func (s *aSource) pack16(panel []float32, row0, k0, kcb int) {
	blocks := kcb / 16
	src := s.data[row0*s.ld+k0:]
	Transpose16(panel, src, 16, s.ld, 256, 16, blocks)
	for i := range 16 {
		row := src[i*s.ld : i*s.ld+kcb]
		for kk := 16 * blocks; kk < kcb; kk++ {
			panel[kk*16+i] = row[kk]
		}
	}
}

func (s *aSource) scale(x []float32) {
	if s.alpha == 1 {
		return
	}
	for i := range x {
		x[i] *= s.alpha
	}
}

// check panics unless d can hold the k x n operand B.
func (d Dense) check(k, n int) {
	if d.Trans {
		checkMatrix("B", n, k, d.Data, d.Ld)
	} else {
		checkMatrix("B", k, n, d.Data, d.Ld)
	}
}

// PackB implements BPacker.
func (d Dense) PackB(dst []float32, k0, kc, j0, nc, nr int) {
	if d.Trans {
		for p := 0; p*nr < nc; p++ {
			jb := j0 + p*nr
			d.packTransPanel(dst[p*kc*nr:(p+1)*kc*nr], k0, kc, jb, min(nr, j0+nc-jb), nr)
		}
		return
	}
	full := nc / nr
	for p0 := 0; p0 < full; p0 += packGroup {
		d.packRowsGroup(dst, k0, kc, j0, nr, p0, min(full, p0+packGroup))
	}
	if w := nc - full*nr; w > 0 {
		panel := dst[full*kc*nr : (full+1)*kc*nr]
		for kk := range kc {
			out := panel[kk*nr : kk*nr+nr]
			copy(out, d.Data[(k0+kk)*d.Ld+j0+full*nr:][:w])
			clear(out[w:])
		}
	}
}

// packGroup is how many full panels packRowsGroup fills together. Walking B row by row across
// several panels reads long contiguous stretches, which the hardware prefetchers follow, instead
// of one 64-byte piece per row; 16 panels keep the written part (16 x kc x nr values) within L2.
const packGroup = 16

// packRowsGroup packs the full panels p0..p1-1 of a row-major B.
func (d Dense) packRowsGroup(dst []float32, k0, kc, j0, nr, p0, p1 int) {
	if nr == 16 {
		src := d.Data[k0*d.Ld+j0+p0*16:]
		out := dst[p0*kc*16 : p1*kc*16]
		if len(src) < (kc-1)*d.Ld+(p1-p0)*16 {
			panic("gemm: Dense.PackB: source too short") // ruled out by Dense.check
		}
		packRows16(out, src, d.Ld, kc, p1-p0)
		return
	}
	for kk := range kc {
		src := d.Data[(k0+kk)*d.Ld+j0:]
		for p := p0; p < p1; p++ {
			copyShort(dst[p*kc*nr+kk*nr:][:nr], src[p*nr:])
		}
	}
}

// copyShort copies a few values element by element, which beats a memmove call.
func copyShort(dst, src []float32) {
	for i := range dst {
		dst[i] = src[i]
	}
}

// packTransPanel packs one panel from B stored n x k: column jb+jj of B is row jb+jj of Data, so
// each source row is scattered down one column of the panel.
func (d Dense) packTransPanel(panel []float32, k0, kc, jb, w, nr int) {
	if w < nr {
		clear(panel)
	}
	done := 0
	if nr == 16 && w == 16 {
		// Whole 16x16 blocks: the panel is their transposition.
		done = kc / 16 * 16
		Transpose16(panel, d.Data[jb*d.Ld+k0:], 16, d.Ld, 256, 16, kc/16)
	}
	if done == kc {
		return
	}
	for jj := range w {
		src := d.Data[(jb+jj)*d.Ld+k0:][:kc]
		for kk := done; kk < kc; kk++ {
			panel[kk*nr+jj] = src[kk]
		}
	}
}

// workspace is one task's packing scratch, recycled through a pool so that steady-state calls do
// not allocate. Buffers are 64-byte aligned so that panels start on cache lines.
type workspace struct {
	a, b     []float32
	args     microArgs // the arguments of the current full tile
	edgeArgs microArgs // the arguments of a partial tile computed into edge
	edge     [maxTile]float32
	narrow   narrowArgs // the arguments of a narrow kernel
	columns  []float32  // a narrow kernel's output: narrowCols columns per tile
	gemv     gemvArgs   // the arguments of a one-column product's matrix-vector kernel
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// release returns w to the pool, first dropping the references into the caller's matrices so that
// a pooled workspace does not keep them alive.
func (w *workspace) release() {
	w.args, w.edgeArgs, w.narrow, w.gemv = microArgs{}, microArgs{}, narrowArgs{}, gemvArgs{}
	workspaces.Put(w)
}

// buffers returns the A and B scratch slices with at least na and nb values.
func (w *workspace) buffers(na, nb int) (a, b []float32) {
	if cap(w.a) < na {
		w.a = alignedFloats(na)
	}
	if cap(w.b) < nb {
		w.b = alignedFloats(nb)
	}
	return w.a[:na], w.b[:nb]
}

// alignedFloats returns a zeroed slice of n float32 whose first element is 64-byte aligned.
func alignedFloats(n int) []float32 {
	const align = 64 / 4
	raw := make([]float32, n+align)
	off := 0
	if rem := uintptr(unsafe.Pointer(&raw[0])) % 64; rem != 0 {
		off = int(64-rem) / 4
	}
	return raw[off : off+n : off+n]
}
