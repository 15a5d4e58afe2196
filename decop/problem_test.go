package decop

import (
	"math"
	"math/rand/v2"

	"github.com/dcnet-go/dcnet/internal/conv"
)

// problem is one DecoupledConv evaluation: shapes, attributes and data, all as float64 values
// that float32 represents exactly, so that the float32 operator and the float64 reference see
// the same inputs. The same struct drives the reference tests, the fuzz test, the benchmarks
// and (in grad*_test.go) the finite-difference gradient checks.
type problem struct {
	n int           // batch
	g conv.Geometry // one image's geometry, pads resolved (auto_pad applied)
	// autoPad is how the model states the pads: NotSet writes g's pads as the "pads" attribute,
	// the other modes write "auto_pad" (and g's pads are what that mode resolves to).
	autoPad  conv.AutoPad
	mag      Magnitude
	ang      Angular
	weighted bool
	k, eps   float64

	x []float64 // [n, C, H, W]
	w []float64 // [M, C/Group, KH, KW]
	b []float64 // [M], or nil: no bias
	// alpha, rho and beta are nil (input absent: the default), one value (a scalar) or M values
	// (per output channel).
	alpha, rho, beta []float64
	// paramRank1 gives one-value parameters the shape [1] instead of [].
	paramRank1 bool
}

// paramKind says how randomProblem gives α, ρ and β.
type paramKind int

const (
	paramsAbsent     paramKind = iota // inputs absent: defaults 1, 1, 0.5
	paramsScalar                      // shape []
	paramsScalar1                     // shape [1]
	paramsPerChannel                  // shape [M]
)

// shapeKind constrains the geometry randomProblem draws.
type shapeKind int

const (
	shapeAny       shapeKind = iota // any group, window, stride, dilation and padding
	shapeDense                      // group 1
	shapeGrouped                    // 1 < group < C
	shapeDepthwise                  // C/group = 1, possibly with a channel multiplier
	shapePointwise                  // 1×1, unit stride, no padding
)

// problemOpts fixes the operator configuration of a random problem; the geometry and data are
// drawn at random.
type problemOpts struct {
	mag      Magnitude
	ang      Angular
	weighted bool
	params   paramKind
	bias     bool
	shape    shapeKind
	maxBatch int // 0: up to 2
}

// randomProblem draws a small problem with the configuration o: a geometry of the kind o.shape
// (channels, window, strides, dilations, pads, auto_pad, batch at random), inputs and filters
// uniform in [−1, 1), and operator parameters around the data's typical norms, so that ρ falls
// inside the range of r and both branches of ball and seg occur.
func randomProblem(rng *rand.Rand, o problemOpts) *problem {
	p := &problem{mag: o.mag, ang: o.ang, weighted: o.weighted, k: f32(DefaultK), eps: f32(DefaultEps)}
	p.n = 1 + rng.IntN(max(1, o.maxBatch))
	if o.maxBatch == 0 {
		p.n = 1 + rng.IntN(2)
	}
	p.g, p.autoPad = randomGeometry(rng, o.shape)
	switch rng.IntN(4) {
	case 0:
		p.k = f32(0.2 + rng.Float64())
	case 1:
		p.eps = []float64{0, f32(1e-2), f32(1e-6)}[rng.IntN(3)]
	}
	p.x = randomValues(rng, p.n*p.g.InputLen(), 1)
	p.w = randomValues(rng, p.g.FilterLen(), 1)
	if o.bias {
		p.b = randomValues(rng, p.g.M, 1)
	}
	p.setRandomParams(rng, o.params)
	return p
}

// randomGeometry draws a valid geometry of the given kind and an auto_pad mode that yields it.
func randomGeometry(rng *rand.Rand, kind shapeKind) (conv.Geometry, conv.AutoPad) {
	for {
		g := conv.Geometry{
			H: 1 + rng.IntN(9), W: 1 + rng.IntN(9),
			KH: 1 + rng.IntN(3), KW: 1 + rng.IntN(3),
			SH: 1 + rng.IntN(3), SW: 1 + rng.IntN(3),
			DH: 1 + rng.IntN(2), DW: 1 + rng.IntN(2),
			PadTop: rng.IntN(3), PadLeft: rng.IntN(3), PadBottom: rng.IntN(3), PadRight: rng.IntN(3),
		}
		cg, mg := 1+rng.IntN(4), 1+rng.IntN(5)
		g.Group = 1 + rng.IntN(3)
		switch kind {
		case shapeDense:
			g.Group = 1
		case shapeGrouped:
			g.Group, cg = 2+rng.IntN(2), 2+rng.IntN(3)
		case shapeDepthwise:
			g.Group, cg, mg = 1+rng.IntN(4), 1, 1+rng.IntN(3)
		case shapePointwise:
			g.KH, g.KW, g.SH, g.SW = 1, 1, 1, 1
			g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = 0, 0, 0, 0
		}
		g.C, g.M = g.Group*cg, g.Group*mg
		mode := conv.NotSet
		if kind != shapePointwise && rng.IntN(3) == 0 {
			mode = []conv.AutoPad{conv.SameUpper, conv.SameLower, conv.Valid}[rng.IntN(3)]
			g.PadTop, g.PadBottom = mode.Pads(g.H, g.KH, g.SH, g.DH, 0, 0)
			g.PadLeft, g.PadRight = mode.Pads(g.W, g.KW, g.SW, g.DW, 0, 0)
		}
		if g.Validate() == nil {
			return g, mode
		}
	}
}

// setRandomParams draws α, ρ and β. ρ scales the typical r (the norm of a patch of values
// uniform in [−1, 1), times the typical filter norm if weighted) by a factor in [0.3, 3).
func (p *problem) setRandomParams(rng *rand.Rand, kind paramKind) {
	if kind == paramsAbsent {
		return
	}
	count := p.g.M
	if kind != paramsPerChannel {
		count = 1
	}
	p.paramRank1 = kind == paramsScalar1
	typical := math.Sqrt(float64(p.g.K()) / 3)
	if p.weighted {
		typical *= typical
	}
	p.alpha, p.rho, p.beta = make([]float64, count), make([]float64, count), make([]float64, count)
	for i := range count {
		p.alpha[i] = f32(0.25 + 1.75*rng.Float64())
		if rng.IntN(4) == 0 {
			p.alpha[i] = -p.alpha[i]
		}
		p.rho[i] = f32(typical * (0.3 + 2.7*rng.Float64()))
		p.beta[i] = f32(rng.Float64())
	}
}

// randomValues returns n values uniform in [−scale, scale), rounded to float32.
func randomValues(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = f32(scale * (2*rng.Float64() - 1))
	}
	return v
}

// f32 rounds v to the nearest float32.
func f32(v float64) float64 { return float64(float32(v)) }

// params returns output channel m's α, ρ and β (defaults for absent inputs).
func (p *problem) params(m int) Params {
	pick := func(v []float64, def float64) float64 {
		switch len(v) {
		case 0:
			return def
		case 1:
			return v[0]
		}
		return v[m]
	}
	return Params{Alpha: pick(p.alpha, DefaultAlpha), Rho: pick(p.rho, DefaultRho), Beta: pick(p.beta, DefaultBeta)}
}

// outShape is the output's shape [n, M, OutH, OutW].
func (p *problem) outShape() []int { return []int{p.n, p.g.M, p.g.OutH(), p.g.OutW()} }
