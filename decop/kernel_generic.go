package decop

// rowChunk is how many pixels the portable row kernel processes per pass: each pass computes
// the cosines, then g, then h, then the outputs of one chunk, with the selectors' switches
// outside the loops and the chunk's intermediates in two small arrays on the stack.
const rowChunk = 128

// blockGeneric is the portable block kernel (see blockArgs): one row at a time, in chunks.
func blockGeneric(b *blockArgs) {
	for i := range b.rows {
		ch := &b.chans[i]
		a := rowArgs{y: b.c[i*b.ldc : i*b.ldc+b.cols], norm: b.norm, inv: b.inv, hpos: b.hpos, n: b.cols,
			mag: b.mag, ang: b.ang, invNw: ch.invNw, rs: ch.rs, hs: ch.hs, alpha: ch.alpha, beta: ch.beta, rho: ch.rho,
			bias: ch.bias, s1: b.s1, s2: b.s2}
		rowGeneric(&a)
	}
}

// rowGeneric is the portable kernel of one row (see blockArgs and rowArgs).
func rowGeneric(a *rowArgs) {
	var cb, hb [rowChunk]float32
	for j0 := 0; j0 < a.n; j0 += rowChunk {
		n := min(rowChunk, a.n-j0)
		c, h := cb[:n], hb[:n]
		y := a.y[j0 : j0+n]
		if a.ang == angOne {
			for j := range c {
				c[j] = 1
			}
		} else {
			cosines(c, y, a.inv[j0:j0+n], a.invNw)
			angular(c, a)
		}
		magnitude(h, a, j0)
		for j := range y {
			y[j] = h[j]*c[j] + a.bias
		}
	}
}

// cosines sets c[j] = clamp(y[j]·invNw·inv[j], −1, 1).
func cosines(c, y, inv []float32, invNw float32) {
	inv = inv[:len(c)]
	y = y[:len(c)]
	for j := range c {
		c[j] = min(max(y[j]*invNw*inv[j], -1), 1)
	}
}

// angular replaces each cosine c[j] by g(c[j]).
func angular(c []float32, a *rowArgs) {
	switch a.ang {
	case int(SqCos):
		for j, v := range c {
			c[j] = v * absf32(v)
		}
	case int(LinearAng):
		for j, v := range c {
			c[j] = copySign32(a.s2*min(asin32(absf32(v)), asinMax), v)
		}
	case int(Sigmoid):
		for j, v := range c {
			c[j] = copySign32(a.s2*tanh32(a.s1*min(asin32(absf32(v)), asinMax)), v)
		}
	}
}

// magnitude sets h[j] = h(r) for the pixels j0, j0+1, ... of the row.
func magnitude(h []float32, a *rowArgs, j0 int) {
	n := len(h)
	if a.mag == magPosition {
		copy(h, a.hpos[j0:j0+n])
		return
	}
	if a.mag == int(Sphere) {
		for j := range h {
			h[j] = a.alpha
		}
		return
	}
	norm := a.norm[j0 : j0+n]
	switch Magnitude(a.mag) {
	case Ball:
		for j, v := range norm {
			h[j] = a.alpha * min(v*a.hs, 1)
		}
	case Tanh:
		for j, v := range norm {
			h[j] = a.alpha * tanh32(v*a.hs)
		}
	case Linear:
		for j, v := range norm {
			h[j] = a.alpha * (v * a.rs)
		}
	case Seg:
		for j, v := range norm {
			r := v * a.rs
			h[j] = a.alpha*min(r, a.rho) + a.beta*max(r-a.rho, 0)
		}
	case Log:
		for j, v := range norm {
			h[j] = a.alpha * log1p32(v*a.rs)
		}
	case Mix:
		for j, v := range norm {
			r := v * a.rs
			h[j] = a.alpha*r + a.beta*log1p32(r)
		}
	}
}

func absf32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// copySign32 returns |v| with the sign of s (s = −0 counts as negative, like math.Copysign).
func copySign32(v, s float32) float32 {
	v = absf32(v)
	if s < 0 || s == 0 && 1/s < 0 {
		return -v
	}
	return v
}
