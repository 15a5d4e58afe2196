package train

import (
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/runtime"
)

// Optimizer updates the trainable parameters it was built over from their
// gradients (Param.Grad, filled by the runtime's backward pass).
type Optimizer interface {
	// Step applies one update with learning rate lr.
	Step(lr float64) error
	// Params are the parameters the optimiser updates, in order.
	Params() []*runtime.Param
	// Momentum is the current momentum (SGD) or β₁ (AdamW).
	Momentum() float64
	// SetMomentum changes the momentum (SGD) or β₁ (AdamW), for schedules
	// that cycle it.
	SetMomentum(m float64)
	// State returns a copy of the optimiser's state, for checkpoints.
	State() *OptimizerState
	// Restore replaces the optimiser's state by s, which State wrote for
	// the same parameters.
	Restore(s *OptimizerState) error
}

// OptimizerState is an optimiser's state: its kind, step count, current
// momentum and per-parameter buffers.
type OptimizerState struct {
	Kind     string  `json:"kind"` // "sgd" or "adamw"
	Steps    int64   `json:"steps"`
	Momentum float64 `json:"momentum"`
	Slots    []Slot  `json:"slots"`
}

// Slot is one buffer of one parameter: "momentum" for SGD, "exp_avg" and
// "exp_avg_sq" for AdamW. Data has the parameter's length; it is nil for
// an SGD momentum buffer that does not exist yet (before the first step).
type Slot struct {
	Param string    `json:"param"`
	Name  string    `json:"name"`
	Data  []float32 `json:"-"`
}

// trainable returns the parameters marked trainable, checking that each is
// a float32 tensor.
func trainable(params []*runtime.Param) ([]*runtime.Param, error) {
	var out []*runtime.Param
	for _, p := range params {
		if p == nil || !p.Trainable {
			continue
		}
		if p.Value == nil || p.Value.DType() != runtime.Float32 {
			return nil, fmt.Errorf("parameter %q: want a float32 value", p.Name)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no trainable parameters")
	}
	return out, nil
}

// gradOf returns p's gradient, checking its length.
func gradOf(p *runtime.Param) ([]float32, error) {
	if p.Grad == nil {
		return nil, fmt.Errorf("parameter %q has no gradient (run Backward first)", p.Name)
	}
	g := p.Grad.Float32s()
	if len(g) != p.Value.Len() {
		return nil, fmt.Errorf("parameter %q: gradient has %d elements for a value of %d", p.Name, len(g), p.Value.Len())
	}
	return g, nil
}

// checkLR rejects a learning rate that is negative or not finite.
func checkLR(lr float64) error {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("learning rate %v: must be finite and ≥ 0", lr)
	}
	return nil
}

// SGDConfig holds the hyperparameters of SGD, named as in torch.optim.SGD.
type SGDConfig struct {
	Momentum    float64 // 0: plain gradient descent
	Dampening   float64
	WeightDecay float64 // L2 penalty: WeightDecay·p is added to the gradient
	Nesterov    bool    // needs Momentum > 0 and Dampening = 0
}

// SGD is stochastic gradient descent with torch.optim.SGD's update. For a
// parameter p with gradient g, learning rate lr, momentum μ, dampening τ
// and weight decay λ:
//
//	d = g + λ·p
//	b = d                       on the first step
//	b = μ·b + (1 − τ)·d         afterwards
//	d = d + μ·b (Nesterov)  or  d = b
//	p = p − lr·d
type SGD struct {
	cfg    SGDConfig
	params []*runtime.Param
	buf    [][]float32 // momentum buffers, nil until the first step
	steps  int64
}

// NewSGD returns SGD over the trainable parameters of params.
func NewSGD(params []*runtime.Param, cfg SGDConfig) (*SGD, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ps, err := trainable(params)
	if err != nil {
		return nil, fmt.Errorf("sgd: %w", err)
	}
	return &SGD{cfg: cfg, params: ps, buf: make([][]float32, len(ps))}, nil
}

func (c SGDConfig) check() error {
	for _, v := range []struct {
		name string
		x    float64
	}{{"momentum", c.Momentum}, {"dampening", c.Dampening}, {"weight decay", c.WeightDecay}} {
		if !(v.x >= 0) || math.IsInf(v.x, 0) {
			return fmt.Errorf("sgd: %s %v: must be finite and ≥ 0", v.name, v.x)
		}
	}
	if c.Nesterov && (c.Momentum <= 0 || c.Dampening != 0) {
		return fmt.Errorf("sgd: Nesterov momentum needs a positive momentum and zero dampening")
	}
	return nil
}

// Params are the parameters SGD updates.
func (o *SGD) Params() []*runtime.Param { return o.params }

// Momentum is the current momentum.
func (o *SGD) Momentum() float64 { return o.cfg.Momentum }

// SetMomentum changes the momentum used from the next step on.
func (o *SGD) SetMomentum(m float64) { o.cfg.Momentum = m }

// Step applies one update with learning rate lr.
func (o *SGD) Step(lr float64) error {
	if err := checkLR(lr); err != nil {
		return fmt.Errorf("sgd: %w", err)
	}
	grads := make([][]float32, len(o.params))
	for i, p := range o.params {
		g, err := gradOf(p)
		if err != nil {
			return fmt.Errorf("sgd: %w", err)
		}
		grads[i] = g
	}
	for i, p := range o.params {
		o.update(i, p.Value.Float32s(), grads[i], float32(lr))
	}
	o.steps++
	return nil
}

// update applies the step to one parameter in float32, in torch's order of
// operations.
func (o *SGD) update(i int, p, g []float32, lr float32) {
	wd, mu, keep := float32(o.cfg.WeightDecay), float32(o.cfg.Momentum), float32(1-o.cfg.Dampening)
	useMomentum := o.cfg.Momentum != 0
	first := o.buf[i] == nil
	if useMomentum && first {
		o.buf[i] = make([]float32, len(p))
	}
	b := o.buf[i]
	for j := range p {
		d := g[j]
		if wd != 0 {
			d = fma32(wd, p[j], d)
		}
		if useMomentum {
			if first {
				b[j] = d
			} else {
				b[j] = fma32(keep, d, b[j]*mu)
			}
			if o.cfg.Nesterov {
				d = fma32(mu, b[j], d)
			} else {
				d = b[j]
			}
		}
		p[j] = fma32(-lr, d, p[j])
	}
}

// State returns a copy of SGD's state.
func (o *SGD) State() *OptimizerState {
	s := &OptimizerState{Kind: "sgd", Steps: o.steps, Momentum: o.cfg.Momentum}
	for i, p := range o.params {
		var data []float32
		if o.buf[i] != nil {
			data = append([]float32(nil), o.buf[i]...)
		}
		s.Slots = append(s.Slots, Slot{Param: p.Name, Name: "momentum", Data: data})
	}
	return s
}

// Restore loads a state written by State for the same parameters.
func (o *SGD) Restore(s *OptimizerState) error {
	if err := checkSlots(s, "sgd", o.params, []string{"momentum"}); err != nil {
		return err
	}
	for i := range o.params {
		o.buf[i] = nil
		if d := s.Slots[i].Data; d != nil {
			o.buf[i] = append([]float32(nil), d...)
		}
	}
	o.steps, o.cfg.Momentum = s.Steps, s.Momentum
	return nil
}

// checkSlots checks that s is a state of kind for params, with the named
// slots per parameter in order, each nil or of the parameter's length.
func checkSlots(s *OptimizerState, kind string, params []*runtime.Param, names []string) error {
	if s == nil || s.Kind != kind {
		got := "none"
		if s != nil {
			got = s.Kind
		}
		return fmt.Errorf("%s: cannot restore optimiser state of kind %q", kind, got)
	}
	if len(s.Slots) != len(params)*len(names) {
		return fmt.Errorf("%s: state has %d buffers, want %d for %d parameters", kind, len(s.Slots), len(params)*len(names), len(params))
	}
	for i, p := range params {
		for j, name := range names {
			sl := s.Slots[i*len(names)+j]
			if sl.Param != p.Name || sl.Name != name {
				return fmt.Errorf("%s: state buffer %d is %s of %q, want %s of %q", kind, i*len(names)+j, sl.Name, sl.Param, name, p.Name)
			}
			if sl.Data != nil && len(sl.Data) != p.Value.Len() {
				return fmt.Errorf("%s: state buffer %s of %q has %d elements, want %d", kind, name, p.Name, len(sl.Data), p.Value.Len())
			}
		}
	}
	return nil
}

// AdamWConfig holds the hyperparameters of AdamW, named as in
// torch.optim.AdamW. DefaultAdamW gives PyTorch's defaults.
type AdamWConfig struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64 // decoupled: p ← p·(1 − lr·WeightDecay) before the Adam step
}

// DefaultAdamW returns PyTorch's defaults: β = (0.9, 0.999), eps 1e-8,
// weight decay 0.01.
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

func (c AdamWConfig) check() error {
	if !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1) {
		return fmt.Errorf("adamw: betas (%v, %v): each must be in [0, 1)", c.Beta1, c.Beta2)
	}
	if !(c.Eps > 0) || math.IsInf(c.Eps, 0) {
		return fmt.Errorf("adamw: eps %v: must be finite and > 0", c.Eps)
	}
	if !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0) {
		return fmt.Errorf("adamw: weight decay %v: must be finite and ≥ 0", c.WeightDecay)
	}
	return nil
}

// AdamW is Adam with decoupled weight decay (Loshchilov and Hutter), with
// torch.optim.AdamW's update (amsgrad off). At step t (from 1), for a
// parameter p with gradient g:
//
//	p = p·(1 − lr·λ)
//	m = β₁·m + (1 − β₁)·g
//	v = β₂·v + (1 − β₂)·g²
//	p = p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)
type AdamW struct {
	cfg    AdamWConfig
	params []*runtime.Param
	m, v   [][]float32
	steps  int64
}

// NewAdamW returns AdamW over the trainable parameters of params.
func NewAdamW(params []*runtime.Param, cfg AdamWConfig) (*AdamW, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ps, err := trainable(params)
	if err != nil {
		return nil, fmt.Errorf("adamw: %w", err)
	}
	o := &AdamW{cfg: cfg, params: ps, m: make([][]float32, len(ps)), v: make([][]float32, len(ps))}
	for i, p := range ps {
		o.m[i] = make([]float32, p.Value.Len())
		o.v[i] = make([]float32, p.Value.Len())
	}
	return o, nil
}

// Params are the parameters AdamW updates.
func (o *AdamW) Params() []*runtime.Param { return o.params }

// Momentum is the current β₁.
func (o *AdamW) Momentum() float64 { return o.cfg.Beta1 }

// SetMomentum changes β₁ from the next step on (as torch's OneCycleLR
// does for Adam-type optimisers).
func (o *AdamW) SetMomentum(m float64) { o.cfg.Beta1 = m }

// Step applies one update with learning rate lr.
func (o *AdamW) Step(lr float64) error {
	if err := checkLR(lr); err != nil {
		return fmt.Errorf("adamw: %w", err)
	}
	grads := make([][]float32, len(o.params))
	for i, p := range o.params {
		g, err := gradOf(p)
		if err != nil {
			return fmt.Errorf("adamw: %w", err)
		}
		grads[i] = g
	}
	o.steps++
	// Scalars follow torch: computed in float64, rounded to float32 where
	// they meet a tensor.
	t := float64(o.steps)
	bc1 := 1 - math.Pow(o.cfg.Beta1, t)
	bc2 := 1 - math.Pow(o.cfg.Beta2, t)
	k := adamCoeffs{
		decay:   float32(1 - lr*o.cfg.WeightDecay),
		b1:      float32(o.cfg.Beta1),
		b2:      float32(o.cfg.Beta2),
		c1:      float32(1 - o.cfg.Beta1),
		c2:      float32(1 - o.cfg.Beta2),
		sqrtBC2: float32(math.Sqrt(bc2)),
		eps:     float32(o.cfg.Eps),
		negStep: float32(-(lr / bc1)),
		noDecay: o.cfg.WeightDecay == 0 || lr == 0,
	}
	for i, p := range o.params {
		k.update(p.Value.Float32s(), grads[i], o.m[i], o.v[i])
	}
	return nil
}

// adamCoeffs are one AdamW step's float32 coefficients.
type adamCoeffs struct {
	decay, b1, b2, c1, c2, sqrtBC2, eps, negStep float32
	noDecay                                      bool
}

func (k adamCoeffs) update(p, g, m, v []float32) {
	for j := range p {
		if !k.noDecay {
			p[j] *= k.decay
		}
		m[j] = fma32(k.c1, g[j], m[j]*k.b1)
		v[j] = fma32(k.c2*g[j], g[j], v[j]*k.b2) // addcmul: self + (value·t1)·t2
		denom := float32(math.Sqrt(float64(v[j])))/k.sqrtBC2 + k.eps
		p[j] += k.negStep * m[j] / denom // addcdiv: self + value·t1/t2, left to right
	}
}

// State returns a copy of AdamW's state.
func (o *AdamW) State() *OptimizerState {
	s := &OptimizerState{Kind: "adamw", Steps: o.steps, Momentum: o.cfg.Beta1}
	for i, p := range o.params {
		s.Slots = append(s.Slots,
			Slot{Param: p.Name, Name: "exp_avg", Data: append([]float32(nil), o.m[i]...)},
			Slot{Param: p.Name, Name: "exp_avg_sq", Data: append([]float32(nil), o.v[i]...)})
	}
	return s
}

// Restore loads a state written by State for the same parameters.
func (o *AdamW) Restore(s *OptimizerState) error {
	if err := checkSlots(s, "adamw", o.params, []string{"exp_avg", "exp_avg_sq"}); err != nil {
		return err
	}
	for i := range o.params {
		m, v := s.Slots[2*i].Data, s.Slots[2*i+1].Data
		if m == nil || v == nil {
			return fmt.Errorf("adamw: state of %q lacks its buffers", o.params[i].Name)
		}
		copy(o.m[i], m)
		copy(o.v[i], v)
	}
	o.steps, o.cfg.Beta1 = s.Steps, s.Momentum
	return nil
}

// fma32 is x·y + z rounded once, as the fused multiply-adds of PyTorch's
// vectorised CPU kernels (add with alpha) compute it.
func fma32(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}
