package decop

import (
	"github.com/dcnet-go/dcnet/internal/parallel"
	"github.com/dcnet-go/dcnet/runtime"
)

// NewRegistry returns runtime.Builtins() with DecoupledConv and its gradient
// registered: the registry to plan, run and train models that use the
// operator (runtime.WithRegistry, runtime.WithTrainerRegistry).
func NewRegistry() *runtime.Registry {
	r := runtime.Builtins()
	Register(r)
	RegisterGrad(r)
	return r
}

// RegisterGrad adds the gradient of ai.dcnet/DecoupledConv to r (Register
// adds the operator itself), so that runtime.Trainer can differentiate it.
func RegisterGrad(r *runtime.Registry) { r.RegisterGrad(Domain, OpType, Version, buildGrad) }

// gradKernel is the backward of a planned DecoupledConv, computed by
// Backward.
type gradKernel struct {
	k    *opKernel
	need []bool
}

func buildGrad(g *runtime.GradNode) (runtime.GradKernel, error) {
	k, ok := g.Forward.(*opKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &gradKernel{k: k, need: g.Need}, nil
}

// Saves keeps X, W, α, ρ and β: every gradient depends on all of them.
func (gk *gradKernel) Saves() (inputs, outputs []bool) {
	return []bool{true, true, false, true, true, true}, nil
}

// Backward implements runtime.GradKernel. The batch is split into one
// contiguous range of images per thread, each differentiated by its own
// single-threaded Backward call, and the filter and parameter gradients of
// the ranges are added in order: the result depends on the thread count
// only, never on scheduling.
func (gk *gradKernel) Backward(rc *runtime.RunContext, a *runtime.GradArgs) error {
	x, w := a.In[inX], a.In[inW]
	if x.DType() != runtime.Float32 || w.DType() != runtime.Float32 {
		return rc.Errorf("backward: inputs X %v and W %v: only FLOAT is supported", x, w)
	}
	geo, err := gk.k.attrs.Geometry(x, w)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	cfg := gk.k.cfg
	cfg.Geom = geo
	in := Inputs{X: x.Float32s(), W: w.Float32s()}
	params := []*[]float32{inAlpha: &in.Alpha, inRho: &in.Rho, inBeta: &in.Beta}
	for i := inAlpha; i < numInputs; i++ {
		t := gk.k.consts[i]
		if t == nil && i < len(a.In) {
			t = a.In[i]
		}
		if t != nil {
			*params[i] = t.Float32s()
		}
	}
	if err := cfg.Validate(); err != nil {
		return rc.Errorf("%v", err)
	}
	if err := checkInputs(cfg, in, a.DOut[0].Float32s(), x.Shape()[0]); err != nil {
		return rc.Errorf("%v", err)
	}
	// Backward always computes dX: into the output if it is wanted, else
	// into scratch.
	var dx []float32
	if gk.needs(inX) {
		t := rc.New(runtime.Float32, x.Shape()...)
		a.DIn[inX] = t
		dx = t.Float32s()
	} else {
		dx = rc.Float32Scratch(len(in.X))
	}
	grads, err := chunkedBackward(cfg, in, a.DOut[0].Float32s(), x.Shape()[0], dx, rc.Threads())
	if err != nil {
		return rc.Errorf("%v", err)
	}
	outs := [numInputs][]float32{inW: grads.DW, inB: grads.DB, inAlpha: grads.DAlpha, inRho: grads.DRho, inBeta: grads.DBeta}
	for i := inW; i < numInputs; i++ {
		if !gk.needs(i) || len(outs[i]) == 0 {
			continue
		}
		t := rc.New(runtime.Float32, a.InShapes[i]...)
		copy(t.Float32s(), outs[i])
		a.DIn[i] = t
	}
	return nil
}

func (gk *gradKernel) needs(i int) bool { return i < len(gk.need) && gk.need[i] }

// chunkedBackward runs Backward over the images in one contiguous range per
// thread (writing each range's part of dx directly) and sums the ranges'
// other gradients in range order.
func chunkedBackward(cfg Config, in Inputs, dy []float32, batch int, dx []float32, threads int) (*Grads, error) {
	g := cfg.Geom
	workers := max(1, min(threads, batch))
	if workers == 1 {
		// A single Backward call may use several threads only where its own
		// split keeps the (image, group) items on one worker.
		if outer, _ := splitThreads(batch*g.Group, threads); outer > 1 {
			threads = 1
		}
		out := &Grads{DX: dx}
		return out, Backward(cfg, in, dy, batch, out, threads)
	}
	parts := make([]*Grads, workers)
	errs := make([]error, workers)
	inLen, outLen := g.InputLen(), g.OutputLen()
	parallel.For(workers, workers, func(w0, w1 int) {
		for wi := w0; wi < w1; wi++ {
			lo, hi := batch*wi/workers, batch*(wi+1)/workers
			sub := in
			sub.X = in.X[lo*inLen : hi*inLen]
			parts[wi] = &Grads{DX: dx[lo*inLen : hi*inLen]}
			errs[wi] = Backward(cfg, sub, dy[lo*outLen:hi*outLen], hi-lo, parts[wi], 1)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	total := parts[0]
	for _, p := range parts[1:] {
		for _, pair := range [][2][]float32{{total.DW, p.DW}, {total.DB, p.DB}, {total.DAlpha, p.DAlpha}, {total.DRho, p.DRho}, {total.DBeta, p.DBeta}} {
			for i, v := range pair[1] {
				pair[0][i] += v
			}
		}
	}
	return total, nil
}
