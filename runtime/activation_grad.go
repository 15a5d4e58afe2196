package runtime

import (
	"math"
)

// Backward of the pointwise activations: dx = dy·f'(x). Relu, Sigmoid and
// Tanh read their output (f' is a function of y, and the output is often
// kept anyway as the next layer's input); the others read their input.
// Derivatives at the kinks follow PyTorch: Relu and LeakyRelu take the
// x ≤ 0 side at 0, Clip passes the gradient where lo ≤ x ≤ hi, HardSigmoid
// and HardSwish take the flat side at their corners.
// The transcendental derivatives are evaluated in float64 and rounded once.

func registerActivationGrad(r *Registry) {
	for _, op := range pointwiseActivations {
		r.RegisterGrad("", op.name, op.since, buildActivationGrad)
	}
	r.RegisterGrad("", "Clip", 6, buildClipGrad)
	r.RegisterGrad("", "PRelu", 7, buildPReluGrad)
}

// activationGrad is the backward of an activationKernel.
type activationGrad struct {
	act     activation
	fromOut bool // f' is computed from the output y
}

func buildActivationGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*activationKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	a := &activationGrad{act: k.act}
	switch k.act.kind {
	case actRelu, actSigmoid, actTanh:
		a.fromOut = true
	}
	return a, nil
}

func (a *activationGrad) Saves() (inputs, outputs []bool) {
	if a.fromOut {
		return nil, []bool{true}
	}
	return []bool{true}, nil
}

func (a *activationGrad) Backward(rc *RunContext, g *GradArgs) error {
	src := g.In[0]
	if a.fromOut {
		src = g.Out[0]
	}
	if src.dtype != Float32 {
		return rc.Errorf("backward: element type %v is not supported (FLOAT only)", src.dtype)
	}
	dy := g.DOut[0]
	dx := rc.New(Float32, src.shape...)
	s, d, o := src.Float32s(), dy.Float32s(), dx.Float32s()
	parallelChunks(rc.threads, len(o), a.act.cost(), func(lo, hi int) {
		activationDerivative(a.act, o[lo:hi], d[lo:hi], s[lo:hi])
	})
	g.DIn[0] = dx
	return nil
}

// reluDerivative sets dx[i] = dy[i] where y[i] > 0 and +0 elsewhere (NaN
// included). It selects with a bit mask instead of a branch (with AVX-512,
// a compare mask and a masked load, 16 at a time): about half of a ReLU's
// outputs are positive in no predictable pattern, and the mispredicted
// branches cost several times the loop itself.
func reluDerivative(dx, dy, y []float32) {
	dy, y = dy[:len(dx)], y[:len(dx)]
	done := 0
	if reluGrad32Vec != nil {
		done = len(dx) &^ 15
		reluGrad32Vec(dx, dy, y, done)
	}
	for i := done; i < len(dx); i++ {
		v := y[i]
		keep := uint32(0)
		if v > 0 {
			keep = ^uint32(0)
		}
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & keep)
	}
}

// reluGrad32Vec, if set, is reluDerivative's loop 16 values at a time (vecmath_amd64.go).
var reluGrad32Vec func(dx, dy, y []float32, n int)

// activationDerivative sets dx[i] = dy[i]·f'(s[i]), where s is the output
// for Relu, Sigmoid and Tanh and the input otherwise.
func activationDerivative(a activation, dx, dy, s []float32) {
	dy, s = dy[:len(dx)], s[:len(dx)]
	switch a.kind {
	case actRelu:
		reluDerivative(dx, dy, s)
	case actSigmoid:
		for i, y := range s {
			dx[i] = dy[i] * y * (1 - y)
		}
	case actTanh:
		for i, y := range s {
			dx[i] = dy[i] * (1 - y*y)
		}
	case actLeakyRelu:
		for i, x := range s {
			f := a.alpha
			if x > 0 {
				f = 1
			}
			dx[i] = dy[i] * f
		}
	case actThresholdedRelu:
		for i, x := range s {
			dx[i] = 0
			if x > a.alpha {
				dx[i] = dy[i]
			}
		}
	default:
		f := derivative64(a)
		for i, x := range s {
			dx[i] = float32(float64(dy[i]) * f(float64(x)))
		}
	}
}

// derivative64 returns f' for the activations computed in float64.
func derivative64(a activation) func(x float64) float64 {
	alpha, beta, gamma := float64(a.alpha), float64(a.beta), float64(a.gamma)
	switch a.kind {
	case actHardSigmoid:
		return func(x float64) float64 {
			if v := alpha*x + beta; v > 0 && v < 1 {
				return alpha
			}
			return 0
		}
	case actHardSwish:
		return func(x float64) float64 {
			switch {
			case x < -3:
				return 0
			case x <= 3:
				return x/3 + 0.5
			}
			return 1
		}
	case actGelu:
		return func(x float64) float64 {
			// Φ(x) + x·φ(x)
			return 0.5*math.Erfc(-x/math.Sqrt2) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
		}
	case actGeluTanh:
		return geluTanhDerivative
	case actSoftplus:
		return sigmoid64
	case actSoftsign:
		return func(x float64) float64 {
			d := 1 + math.Abs(x)
			return 1 / (d * d)
		}
	case actElu:
		return func(x float64) float64 {
			if x < 0 {
				return alpha * math.Exp(x)
			}
			return 1
		}
	case actSelu:
		return func(x float64) float64 {
			if x <= 0 {
				return gamma * alpha * math.Exp(x)
			}
			return gamma
		}
	case actCelu:
		return func(x float64) float64 {
			if x < 0 {
				return math.Exp(x / alpha)
			}
			return 1
		}
	case actMish:
		return func(x float64) float64 {
			// d/dx x·tanh(sp(x)) = tanh(sp) + x·(1 − tanh²(sp))·σ(x)
			t := math.Tanh(softplus64(x))
			return t + x*(1-t*t)*sigmoid64(x)
		}
	}
	return func(float64) float64 { return 1 }
}

// geluTanhDerivative is the derivative of x·σ(2u), u = √(2/π)·(x + 0.044715x³).
func geluTanhDerivative(x float64) float64 {
	const k = 0.7978845608028654
	s := sigmoid64(2 * k * (x + 0.044715*x*x*x))
	du := k * (1 + 3*0.044715*x*x)
	return s + x*s*(1-s)*2*du
}

// ---- Clip ----

// clipGrad is Clip's backward: dx = dy where lo ≤ x ≤ hi; from opset 11 the
// bounds are inputs, whose gradients sum dy where x is below (above) them.
type clipGrad struct {
	fromInputs bool
	lo, hi     float32
	need       []bool
}

func buildClipGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*clipKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &clipGrad{fromInputs: k.fromInputs, lo: k.lo, hi: k.hi, need: g.Need}, nil
}

func (c *clipGrad) Saves() (inputs, outputs []bool) { return []bool{true, true, true}, nil }

func (c *clipGrad) Backward(rc *RunContext, g *GradArgs) error {
	x := g.In[0]
	if x.dtype != Float32 {
		return rc.Errorf("backward: element type %v is not supported (FLOAT only)", x.dtype)
	}
	lo, hi := c.lo, c.hi
	if c.fromInputs {
		lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
		if len(g.In) > 1 && g.In[1] != nil {
			lo = g.In[1].Float32s()[0]
		}
		if len(g.In) > 2 && g.In[2] != nil {
			hi = g.In[2].Float32s()[0]
		}
	}
	xs, dy := x.Float32s(), g.DOut[0].Float32s()
	if needs(c.need, 0) {
		dx := rc.New(Float32, x.shape...)
		o := dx.Float32s()
		parallelChunks(rc.threads, len(o), costCheap, func(a, b int) {
			for i := a; i < b; i++ {
				o[i] = 0
				if v := xs[i]; v >= lo && v <= hi {
					o[i] = dy[i]
				}
			}
		})
		g.DIn[0] = dx
	}
	for slot, below := range map[int]bool{1: true, 2: false} {
		if !needs(c.need, slot) {
			continue
		}
		var s float64
		for i, v := range xs {
			if (below && v < lo) || (!below && v > hi) {
				s += float64(dy[i])
			}
		}
		d := rc.New(Float32, g.InShapes[slot]...)
		d.Float32s()[0] = float32(s)
		g.DIn[slot] = d
	}
	return nil
}

// ---- PRelu ----

// preluGrad is PRelu's backward: dx = dy·(x < 0 ? slope : 1) and dslope
// sums dy·x where x < 0 over the axes the slope is broadcast along.
type preluGrad struct{ need []bool }

func buildPReluGrad(g *GradNode) (GradKernel, error) { return &preluGrad{need: g.Need}, nil }

func (p *preluGrad) Saves() (inputs, outputs []bool) { return []bool{true, true}, nil }

func (p *preluGrad) Backward(rc *RunContext, g *GradArgs) error {
	x, slope, dy := g.In[0], g.In[1], g.DOut[0]
	if x.dtype != Float32 || slope.dtype != Float32 {
		return rc.Errorf("backward: element types %v and %v are not supported (FLOAT only)", x.dtype, slope.dtype)
	}
	if needs(p.need, 0) {
		// dx = dy·(x < 0 ? s : 1) = dy·s' with s' broadcast like the forward.
		dx := rc.New(Float32, x.shape...)
		bc, err := NewBroadcaster(x.shape, slope.shape)
		if err != nil {
			return rc.Errorf("%v", err)
		}
		factor := rc.New(Float32, x.shape...)
		runBinary(rc.threads, bc, factor.Float32s(), x.Float32s(), slope.Float32s(), 0, 1, preluSlopeLoop, costCheap)
		mulFloat32s(rc.threads, dx.Float32s(), dy.Float32s(), factor.Float32s())
		rc.release(factor)
		g.DIn[0] = dx
	}
	if needs(p.need, 1) {
		t := rc.New(Float32, x.shape...)
		xs, ds, ts := x.Float32s(), dy.Float32s(), t.Float32s()
		for i, v := range xs {
			ts[i] = 0
			if v < 0 {
				ts[i] = ds[i] * v
			}
		}
		g.DIn[1] = sumToShape(rc, t, slope.shape)
		rc.release(t)
	}
	return nil
}

// preluSlopeLoop sets d = x < 0 ? s : 1.
func preluSlopeLoop(d, x, s []float32, m stepMode) {
	at := func(v []float32, i int, scalar bool) float32 {
		if scalar {
			return v[0]
		}
		return v[i]
	}
	for i := range d {
		d[i] = 1
		if at(x, i, m == stepSV) < 0 {
			d[i] = at(s, i, m == stepVS)
		}
	}
}

// mulFloat32s sets d[i] = a[i]·b[i].
func mulFloat32s(threads int, d, a, b []float32) {
	parallelChunks(threads, len(d), costCheap, func(lo, hi int) {
		dd, aa, bb := d[lo:hi], a[lo:hi], b[lo:hi]
		for i := range dd {
			dd[i] = aa[i] * bb[i]
		}
	})
}
