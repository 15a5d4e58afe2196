package gemm

// The portable micro-kernel. Go keeps at most 15 float values in registers on amd64 and schedules
// all loads of a step before its arithmetic, so the tile must leave room for its operands: 4x2 (8
// accumulators, 6 operands) stays in registers, while 4x4 or wider spills accumulators on every
// step and runs at half the speed. Two steps per iteration halve the loop overhead.
const genericMR, genericNR = 4, 2

// microGeneric computes p.tiles full 4x2 tiles in plain Go; see microArgs.
func microGeneric(p *microArgs) {
	t := *p
	t.tiles = 1
	for i := range p.tiles {
		rows := genericMR
		if i == p.tiles-1 {
			rows = p.lastRows
		}
		tileGeneric(&t, rows)
		if i == p.tiles-1 {
			break
		}
		t.a = t.a[t.kc*genericMR:]
		t.c = t.c[genericMR*t.ldc:]
		if t.flags&flagRowBias != 0 {
			t.rowBias = t.rowBias[genericMR:]
		}
		if t.flags&flagResidual != 0 {
			t.res = t.res[genericMR*t.ldRes:]
		}
	}
}

// tileGeneric computes the first tile of p and stores its first rows rows.
func tileGeneric(p *microArgs, rows int) {
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	a := p.a[:p.kc*genericMR]
	b := p.b[:p.kc*genericNR]
	for len(a) >= 8 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1 := b[0], b[1]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
		a0, a1, a2, a3 = a[4], a[5], a[6], a[7]
		b0, b1 = b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
		a, b = a[8:], b[4:]
	}
	if len(a) >= 4 && len(b) >= 2 { // odd kc
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1 := b[0], b[1]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
	}
	acc := [genericMR * genericNR]float32{c00, c01, c10, c11, c20, c21, c30, c31}
	finishTile(acc[:], genericNR, p, rows, genericNR)
}

// finishTile applies p.flags to the rows x cols top-left part of the product tile acc (row stride
// ldAcc) and stores it to p.c. It is the reference semantics of the assembly kernels' store phase
// and handles every partial tile at the edges of C. Each step is its own loop over the row, working
// in place in C, so the loops stay free of branches; the additions happen in the documented order.
func finishTile(acc []float32, ldAcc int, p *microArgs, rows, cols int) {
	f := p.flags
	for r := range rows {
		src := acc[r*ldAcc : r*ldAcc+cols]
		dst := p.c[r*p.ldc : r*p.ldc+cols]
		if f&flagLoadC != 0 {
			for j, v := range src {
				dst[j] = v + dst[j]
			}
		} else {
			copyShort(dst, src)
		}
		if f&flagRowBias != 0 {
			b := p.rowBias[r]
			for j := range dst {
				dst[j] += b
			}
		}
		if f&flagColBias != 0 {
			for j, b := range p.colBias[:cols] {
				dst[j] += b
			}
		}
		if f&flagResidual != 0 {
			for j, v := range p.res[r*p.ldRes : r*p.ldRes+cols] {
				dst[j] += v
			}
		}
		if f&(flagRelu|flagClip) != 0 {
			for j, v := range dst {
				dst[j] = activate(v, f, p.min, p.max)
			}
		}
	}
}

// activate applies the flagRelu or flagClip part of f. Comparisons are written so that NaN passes
// through unchanged, matching VMAXPS/VMINPS with the value as second operand.
func activate(v float32, f int, lo, hi float32) float32 {
	switch {
	case f&flagRelu != 0:
		if v < 0 {
			v = 0
		}
	case f&flagClip != 0:
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
	}
	return v
}
