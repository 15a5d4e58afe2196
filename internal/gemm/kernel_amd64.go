//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// archKernels lists the assembly kernels for amd64, slowest first; the dispatcher takes the last
// usable one.
var archKernels = []*kernel{
	{
		name: "avx2-fma 6x16", mr: 6, nr: 16,
		// kc: a 256 x 16 B panel is 16 KiB, half of L1d. mc: the 144 x 256 A block is 144 KiB of the
		// 512 KiB L2. nc: the 256 x 2048 B block is 2 MiB of L3.
		mc: 144, kc: 256, nc: 2048,
		micro:  kern6x16,
		half:   kern6x8,
		gemv:   gemvAVX2,
		usable: func() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA },
	},
	{
		// The B panels keep the AVX2 kernel's width, so the convolution packers serve both; the
		// tile grows in height instead: sixteen zmm accumulators, one per row.
		name: "avx512 16x16", mr: 16, nr: 16,
		// kc: a 256 x 16 B panel is 16 KiB of L1d. mc: the 192 x 256 A block is 192 KiB of L2.
		// nc: the 256 x 2048 B block is 2 MiB of L3.
		mc: 192, kc: 256, nc: 2048,
		micro:  kern16x16z,
		gemv:   gemvAVX512,
		usable: func() bool { return cpu.X86.HasAVX512F },
	},
	{
		// The same tiles and panels, with pairs of panels computed as 16x32 tiles in two passes
		// of 8 rows: sixteen accumulators per pass, each broadcast of A feeding two multiply-adds
		// (measured in L1 on Zen 5: 224 vs 205 GFLOP/s for the 16x16 tile, against a 226 peak).
		name: "avx512 16x32", mr: 16, nr: 16,
		mc: 384, kc: 128, nc: 2048,
		micro:  kern16x16z,
		wide:   kern16x32z,
		narrow: kern16x4z,
		gemv:   gemvAVX512,
		usable: func() bool { return cpu.X86.HasAVX512F },
	},
}

// kern6x16 computes p.tiles full 6x16 tiles with AVX2 and FMA: twelve ymm accumulators hold a
// tile, and each step of the inner loop loads two vectors of B, broadcasts six values of A and
// issues twelve fused multiply-adds. It is equivalent to
//
//	for t := 0; t < p.tiles; t++ {
//		var acc [6 * 16]float32
//		for kk := 0; kk < p.kc; kk++ {
//			for r := 0; r < 6; r++ {
//				for j := 0; j < 16; j++ {
//					acc[r*16+j] += p.a[(t*p.kc+kk)*6+r] * p.b[kk*16+j] // fused: one rounding
//				}
//			}
//		}
//		q := *p // the tile's view: rows t*6 to t*6+5
//		q.c = p.c[t*6*p.ldc:]
//		if p.flags&flagRowBias != 0 { q.rowBias = p.rowBias[t*6:] }
//		if p.flags&flagResidual != 0 { q.res = p.res[t*6*p.ldRes:] }
//		rows := 6
//		if t == p.tiles-1 { rows = p.lastRows }
//		finishTile(acc[:], 16, &q, rows, 16) // same flags, applied in the same order
//	}
//
//go:noescape
func kern6x16(p *microArgs)

// kern16x16z computes p.tiles full 16x16 tiles with AVX-512F: sixteen zmm accumulators hold a
// tile, one row each, and each step of the inner loop loads one vector of B and issues sixteen
// fused multiply-adds whose A operand is broadcast from memory. It is equivalent to kern6x16's
// loop with 16 rows in place of 6. Columns beyond a partial last B panel are handled by the
// driver (no half kernel: an 8-wide zmm tile would idle half of each multiply-add).
//
//go:noescape
func kern16x16z(p *microArgs)

// kern16x32z computes p.tiles full 16x32 tiles with AVX-512F from the two 16-wide B panels at
// p.b[0:kc*16] and p.b[kc*16:kc*32]: for each tile, rows 0..7 then rows 8..15, each pass with
// sixteen zmm accumulators (eight rows by two panels) fed by one broadcast of A per row and two B
// loads per step. Its results are bit-identical to kern16x16z on each panel in turn (with
// p.colBias[16:] as the second panel's column bias); a last tile of at most 8 valid rows skips
// its second pass.
//
//go:noescape
func kern16x32z(p *microArgs)

// kern16x4z computes the first four columns of p.tiles 16-row tiles with AVX-512F, rows in the
// lanes: per step one A load and four multiply-adds per tile (two tiles at a time), a quarter
// of a 16x16 tile's work. See narrowArgs; the sums are bit-identical to kern16x16z's.
//
//go:noescape
func kern16x4z(p *narrowArgs)

// packRows16 packs full 16-wide panels of a row-major matrix, walking the source row by row. It
// uses SSE moves only, which every amd64 CPU has. It is equivalent to
//
//	for kk := 0; kk < kc; kk++ {
//		for p := 0; p < panels; p++ {
//			copy(dst[p*kc*16+kk*16:][:16], src[kk*ld+p*16:][:16])
//		}
//	}
//
// The caller guarantees len(dst) >= panels*kc*16 and len(src) >= (kc-1)*ld + panels*16.
//
//go:noescape
func packRows16(dst, src []float32, ld, kc, panels int)

// kern6x8 is kern6x16 restricted to columns 0-7 of the 16-wide B panels and of C; it serves the
// last panel when at most 8 columns remain. Even and odd steps accumulate separately (twelve
// independent sums, enough to hide the latency of the multiply-adds) and are added at the end.
// It is equivalent to kern6x16's loop with 8 in place of 16 as the column count, p.b still read
// with a stride of 16.
//
//go:noescape
func kern6x8(p *microArgs)

// transpose16AVX512 is the 16x16 block transposition of transposeArgs with AVX-512 register
// shuffles. The caller (Transpose16) has checked the bounds.
//
//go:noescape
func transpose16AVX512(a *transposeArgs)

func init() {
	if cpu.X86.HasAVX512F {
		transpose16Vec = true
	}
}

// gemvAVX2 is the panel matrix-vector kernel of gemvArgs with AVX2 and FMA: four panels at a
// time, two ymm accumulators each, one broadcast of x per step.
//
//go:noescape
func gemvAVX2(a *gemvArgs)

// gemvAVX512 is the panel matrix-vector kernel of gemvArgs with AVX-512F: four panels at a
// time, one zmm accumulator each, x broadcast from memory by the multiply-adds.
//
//go:noescape
func gemvAVX512(a *gemvArgs)
