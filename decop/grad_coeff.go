package decop

import "math"

// The elementwise stage of the backward pass, in float32 with the approximations of
// fastmath.go and tanhSech2 below (a few ulps each). It evaluates h and its four partial
// derivatives with one transcendental call, and g and g' with at most two, where spec.go's H,
// DH, G and DG (the float64 definitions the reference uses) would evaluate each separately.
// Two implementations run the same formulas: the portable passes of coeffBlockGeneric and the
// AVX2+FMA kernel of grad_amd64.s, eight positions at a time, chosen with the forward pass's
// row kernel (UseKernel, DCNET_DECOP=generic). Sums over positions are kept in float64; the
// kernel first sums at most coeffBlock/8 terms per lane in float32.

// chanParams32 are one output channel's α, ρ, β and filter norm Nw in float32.
type chanParams32 struct {
	alpha, rho, beta, invRho float32
	nw, invNw                float32 // Nw, or 0 and 0 for a zero norm
}

// angularConsts are the angular functions' constants for one k.
type angularConsts struct {
	inv2k float32 // 1/(2k): sigmoid's u = asin(ĉ)/(2k)
	invT  float32 // 1/tanh(π/(4k))
	dgSig float32 // 1/(2k·tanh(π/(4k)))
}

func newAngularConsts(k float64) angularConsts {
	t := math.Tanh(math.Pi / (4 * k))
	return angularConsts{inv2k: float32(1 / (2 * k)), invT: float32(1 / t), dgSig: float32(1 / (2 * k * t))}
}

// coeffScratch holds the per-position values of one run of positions between the passes of
// coeffRow: c and r, h and its partial derivatives, g and g'.
type coeffScratch struct {
	c, r                              []float32
	h, hr, hrho, halpha, hbeta, g, gp []float32
	args                              coeffArgs // the AVX2 kernel's arguments
}

func newCoeffScratch(n int) *coeffScratch {
	buf := make([]float32, 9*n)
	next := func() []float32 {
		v := buf[:n:n]
		buf = buf[n:]
		return v
	}
	return &coeffScratch{c: next(), r: next(), h: next(), hr: next(), hrho: next(), halpha: next(),
		hbeta: next(), g: next(), gp: next()}
}

// magnitudes sets sc.h, sc.hr, sc.hrho, sc.halpha and sc.hbeta to h(r) and ∂h/∂r, ∂h/∂ρ,
// ∂h/∂α, ∂h/∂β at each r (as DH; left derivatives at the kinks of ball and seg).
func magnitudes(mag Magnitude, sc *coeffScratch, r []float32, p *chanParams32) {
	n := len(r)
	h, hr, hrho, ha, hb := sc.h[:n], sc.hr[:n], sc.hrho[:n], sc.halpha[:n], sc.hbeta[:n]
	switch mag {
	case Sphere:
		for j := range r {
			h[j], hr[j], hrho[j], ha[j], hb[j] = p.alpha, 0, 0, 1, 0
		}
	case Ball:
		for j, rj := range r {
			if rj < p.rho {
				q := rj * p.invRho
				h[j], hr[j], hrho[j], ha[j], hb[j] = p.alpha*q, p.alpha*p.invRho, -p.alpha*q*p.invRho, q, 0
			} else {
				h[j], hr[j], hrho[j], ha[j], hb[j] = p.alpha, 0, 0, 1, 0
			}
		}
	case Tanh:
		for j, rj := range r {
			x := rj * p.invRho
			t, s2 := tanhSech2(x)
			d := p.alpha * p.invRho * s2
			h[j], hr[j], hrho[j], ha[j], hb[j] = p.alpha*t, d, -d*x, t, 0
		}
	case Linear:
		for j, rj := range r {
			h[j], hr[j], hrho[j], ha[j], hb[j] = p.alpha*rj, p.alpha, 0, rj, 0
		}
	case Seg:
		for j, rj := range r {
			if rj <= p.rho {
				h[j], hr[j], hrho[j], ha[j], hb[j] = p.alpha*rj, p.alpha, 0, rj, 0
			} else {
				h[j], hr[j], hrho[j], ha[j], hb[j] = p.beta*rj+(p.alpha-p.beta)*p.rho, p.beta, p.alpha-p.beta, p.rho, rj-p.rho
			}
		}
	case Log:
		for j, rj := range r {
			l := log1p32(rj)
			h[j], hr[j], hrho[j], ha[j], hb[j] = p.alpha*l, p.alpha/(1+rj), 0, l, 0
		}
	case Mix:
		for j, rj := range r {
			l := log1p32(rj)
			h[j], hr[j], hrho[j], ha[j], hb[j] = p.alpha*rj+p.beta*l, p.alpha+p.beta/(1+rj), 0, rj, l
		}
	}
}

// tanhSech2 returns tanh(x) and sech²(x) = 1 − tanh²(x) to a few float32 ulps. For |x| < 1/2
// they come from t = tanh32(x) and (1 − t)(1 + t); beyond, where 1 − t² would lose to
// cancellation the digits that the rounding of t lost near ±1, from e = e^(−2|x|):
// sech² = 4e/(1 + e)² and tanh = ±(1 − e)/(1 + e).
func tanhSech2(x float32) (t, s2 float32) {
	ax := abs32(x)
	if ax < 0.5 {
		t = tanh32(x)
		return t, (1 - t) * (1 + t)
	}
	e := expNeg32(-2 * ax)
	inv := 1 / (1 + e)
	t = (1 - e) * inv
	if x < 0 {
		t = -t
	}
	return t, 4 * e * inv * inv
}

// Taylor coefficients 1/i! of e^f for |f| <= ln2/2 (truncation error below 5e-9).
const (
	exp2c = 1.0 / 2
	exp3c = 1.0 / 6
	exp4c = 1.0 / 24
	exp5c = 1.0 / 120
	exp6c = 1.0 / 720
	exp7c = 1.0 / 5040
)

// expNeg32 returns e^x for −87 <= x <= 0 in float32, and e^−87 below, where float32 would
// turn subnormal: x = k·ln2 + f with k = round(x·log2 e) (to even, as VROUNDPS), |f| <= ln2/2,
// e^x = 2^k·e^f.
func expNeg32(x float32) float32 {
	x = max(x, -87)
	k := float32(math.RoundToEven(float64(x * math.Log2E)))
	f := (x - k*ln2Hi) - k*ln2Lo
	p := 1 + f*(1+f*(exp2c+f*(exp3c+f*(exp4c+f*(exp5c+f*(exp6c+f*exp7c))))))
	return p * math.Float32frombits(uint32(int32(k)+127)<<23)
}

// clampLo and clampHi are ĉ's bounds, −1 + 1e-6 and 1 − 1e-6, in float32.
const (
	clampLo = float32(-1 + clampMargin)
	clampHi = float32(1 - clampMargin)
)

// angulars sets sc.g and sc.gp to g(c) and g'(c) at each c (g' = 0 where a clamp is active, as
// DG).
func angulars(ang Angular, sc *coeffScratch, c []float32, k *angularConsts) {
	g, gp := sc.g[:len(c)], sc.gp[:len(c)]
	switch ang {
	case Cos:
		for j, cj := range c {
			g[j], gp[j] = cj, 1
			if cj > 1 || cj < -1 {
				g[j], gp[j] = min(max(cj, -1), 1), 0
			}
		}
	case SqCos:
		for j, cj := range c {
			a := abs32(cj)
			g[j], gp[j] = cj*a, 2*a
			if a > 1 {
				g[j], gp[j] = min(max(cj, -1), 1), 0
			}
		}
	case LinearAng:
		for j, cj := range c {
			a, inv := asinClamped(cj)
			// 1 − (2/π)·acos(ĉ) = (2/π)·asin(ĉ)
			g[j], gp[j] = 2/math.Pi*a, 2/math.Pi*inv
		}
	case Sigmoid:
		for j, cj := range c {
			a, inv := asinClamped(cj)
			// (π/2 − θ)/(2k) = asin(ĉ)/(2k)
			t, s2 := tanhSech2(a * k.inv2k)
			g[j], gp[j] = t*k.invT, s2*k.dgSig*inv
		}
	}
}

// asinClamped returns asin(ĉ) and 1/sqrt(1 − ĉ²) for ĉ = clamp(c, −1 + 1e-6, 1 − 1e-6), the
// latter 0 where the clamp is active.
func asinClamped(c float32) (a, inv float32) {
	ch := min(max(c, clampLo), clampHi)
	a = asin32(abs32(ch))
	if ch < 0 {
		a = -a
	}
	if ch == c {
		inv = 1 / float32(math.Sqrt(float64((1-ch)*(1+ch))))
	}
	return a, inv
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// coeffBlock is the number of positions coeffRow handles per pass (generic) or per kernel call
// (AVX2): the generic pass arrays (9 of them) stay in the L1 cache between passes, and the
// kernel's float32 lane sums add at most coeffBlock/8 terms before they go into float64.
const coeffBlock = 256

// coeffArgs is the whole contract between coeffRow and the assembly kernel, passed by pointer;
// its field offsets reach the assembly through go_asm.h. For j < n (a multiple of 8) it does
// what coeffBlockGeneric does for one channel: it overwrites s[j] with A_s, adds ∂L/∂n_p to
// an[j], and leaves in sums[i][lane] the lane sums (over j ≡ lane mod 8) of gy, gy·g·∂h/∂α,
// gy·g·∂h/∂ρ, gy·g·∂h/∂β and ∂L/∂Nw. The [8]float32 fields hold eight copies of one channel's
// constants; tmpC, tmpG and tmpGp are the kernel's spill space.
type coeffArgs struct {
	s, dy, nrm, invN, an []float32
	n                    int
	mag, ang             int
	invNw, rs, wflag     [8]float32
	alpha, beta, rho     [8]float32
	invRho, alphaInvRho  [8]float32
	alphaMinusBeta, segC [8]float32
	inv2k, invT, dgSig   [8]float32
	tmpC, tmpG, tmpGp    [8]float32
	sums                 [5][8]float32
}

// setChannel fills the channel constants of a for channel parameters p.
func (a *coeffArgs) setChannel(cfg *Config, p *chanParams32, k *angularConsts) {
	a.mag, a.ang = int(cfg.Magnitude), int(cfg.Angular)
	rs, wflag := float32(1), float32(0)
	if cfg.Weighted {
		rs, wflag = p.nw, 1
	}
	for i := range 8 {
		a.invNw[i], a.rs[i], a.wflag[i] = p.invNw, rs, wflag
		a.alpha[i], a.beta[i], a.rho[i] = p.alpha, p.beta, p.rho
		a.invRho[i], a.alphaInvRho[i] = p.invRho, p.alpha*p.invRho
		a.alphaMinusBeta[i], a.segC[i] = p.alpha-p.beta, (p.alpha-p.beta)*p.rho
		a.inv2k[i], a.invT[i], a.dgSig[i] = k.inv2k, k.invT, k.dgSig
	}
}

// coeffRow is the elementwise stage for output channel m over a run of positions: s holds the
// dot products S = <w_m, x_p> on entry and A_s on return; dy is ∂L/∂Y, nrm the patch norms n_p
// and invN their inverses (0 for a zero norm); Σ_m A_n is accumulated into an, and the channel
// sums into acc. The AVX2 kernel takes whole blocks of eight positions when it is the active
// kernel (see UseKernel); coeffBlockGeneric takes the rest.
//
// Where a norm is zero (eps = 0 with an all-zero patch or filter) the cosine is taken as 0, as
// in the forward pass; the terms divided by that norm, whose limits do not exist, are dropped
// (invN or invNw is 0 there).
func (pl *backwardPlan) coeffRow(m int, s, dy, nrm, invN, an []float32, acc *chanSums, sc *coeffScratch) {
	var sums [5]float64
	b0 := 0
	if activeKernel.Load().id >= kernelAVX2 && len(s) >= 8 {
		a := &sc.args
		a.setChannel(&pl.cfg, &pl.prm32[m], &pl.angK)
		for ; b0+8 <= len(s); b0 += a.n {
			b1 := min(b0+coeffBlock, len(s)&^7)
			a.s, a.dy, a.nrm, a.invN, a.an, a.n = s[b0:b1], dy[b0:b1], nrm[b0:b1], invN[b0:b1], an[b0:b1], b1-b0
			coeffBlocksAVX2(a)
			for i := range sums {
				for _, v := range a.sums[i] {
					sums[i] += float64(v)
				}
			}
		}
	}
	for ; b0 < len(s); b0 += coeffBlock {
		b1 := min(b0+coeffBlock, len(s))
		pl.coeffBlockGeneric(m, s[b0:b1], dy[b0:b1], nrm[b0:b1], invN[b0:b1], an[b0:b1], &sums, sc)
	}
	acc.b[m] += sums[0]
	acc.alpha[m] += sums[1]
	acc.rho[m] += sums[2]
	acc.beta[m] += sums[3]
	acc.normW[m] += sums[4]
}

// coeffBlockGeneric is coeffRow on at most coeffBlock positions in portable Go, in passes (c and
// r; the magnitude; the angular; the combination), each a loop specialised to one function; it
// adds the channel sums dB, dα, dρ, dβ and Σ A_N into sums.
func (pl *backwardPlan) coeffBlockGeneric(m int, s, dy, nrm, invN, an []float32, sums *[5]float64, sc *coeffScratch) {
	weighted := pl.cfg.Weighted
	p := &pl.prm32[m]
	nw, invNw := p.nw, p.invNw
	n := len(s)
	c, r := sc.c[:n], nrm[:n]
	for j, v := range s {
		c[j] = v * invN[j] * invNw
	}
	if weighted {
		r = sc.r[:n]
		for j, v := range nrm[:n] {
			r[j] = nw * v
		}
	}
	magnitudes(pl.cfg.Magnitude, sc, r, p)
	angulars(pl.cfg.Angular, sc, c, &pl.angK)

	h, hr, hrho, ha, hb, g, gp := sc.h[:n], sc.hr[:n], sc.hrho[:n], sc.halpha[:n], sc.hbeta[:n], sc.g[:n], sc.gp[:n]
	dy, invN, an = dy[:n], invN[:n], an[:n]
	var sumB, sumAlpha, sumRho, sumBeta, sumNw float64
	for j := range s {
		gy := dy[j]
		gg := gy * g[j]
		sumB += float64(gy)
		sumAlpha += float64(gg * ha[j])
		sumRho += float64(gg * hrho[j])
		sumBeta += float64(gg * hb[j])

		gc, gr := gy*h[j]*gp[j], gg*hr[j] // ∂L/∂c and ∂L/∂r
		s[j] = gc * invN[j] * invNw
		gcc := gc * c[j]
		dn, dnw := -gcc*invN[j], -gcc*invNw // ∂L/∂n and ∂L/∂Nw through c
		if weighted {
			dn += gr * nw
			dnw += gr * nrm[j]
		} else {
			dn += gr
		}
		an[j] += dn
		sumNw += float64(dnw)
	}
	sums[0] += sumB
	sums[1] += sumAlpha
	sums[2] += sumRho
	sums[3] += sumBeta
	sums[4] += sumNw
}
