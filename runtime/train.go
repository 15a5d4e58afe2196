package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dcnet-go/dcnet/onnx"
	"google.golang.org/protobuf/proto"
)

// Training: a Trainer runs a model forward in training mode, keeping what
// the backward needs, and back-propagates the gradients of its outputs into
// its parameters (every float32 initializer the graph uses).
//
//	reg := decop.NewRegistry() // runtime.Builtins() plus DecoupledConv and its gradient
//	tr, err := runtime.NewTrainer(model, runtime.WithTrainerRegistry(reg), runtime.WithTrainerThreads(2))
//	for each batch {
//		out, err := tr.Forward(ctx, map[string]*runtime.Tensor{"x": x}, true)
//		loss, dLogits := ... // from out["logits"]
//		tr.ZeroGrad()
//		err = tr.Backward(ctx, map[string]*runtime.Tensor{"logits": dLogits})
//		optimiser.Step(tr.Params()) // updates Param.Value in place
//	}
//	trained, err := tr.Model()
//
// The trainer plans an internal copy of the model in which every parameter
// is a run-time input instead of a constant, so that no kernel folds or
// pre-packs it: an optimiser that writes Param.Value in place is seen by
// the next Forward without replanning.

// Param is one parameter of a model: a float32 initializer. Value is the
// live tensor the forward reads (update it in place; do not replace it) and
// Grad, for a trainable parameter, accumulates ∂L/∂Value over Backward calls
// until ZeroGrad (nil for the others). Both have the initializer's shape.
type Param struct {
	Name      string
	Value     *Tensor
	Grad      *Tensor
	Trainable bool
}

// ParamUse is one place a parameter is read: input slot Input of node Node.
type ParamUse struct {
	Node  *onnx.NodeProto
	Input int
}

// TrainerOption configures a Trainer.
type TrainerOption func(*trainerConfig)

type trainerConfig struct {
	registry    *Registry
	threads     int
	trainable   func(name string, uses []ParamUse) bool
	frozenStats bool
	session     []Option
}

// WithTrainerRegistry sets the operator registry, forward and gradient
// kernels (default: Builtins()). Models with DecoupledConv need decop's:
// decop.NewRegistry() returns the built-ins with DecoupledConv and its
// gradient registered (package runtime cannot import decop).
func WithTrainerRegistry(r *Registry) TrainerOption {
	return func(c *trainerConfig) { c.registry = r }
}

// WithTrainerThreads sets how many goroutines Forward and Backward use
// (default: the number of CPUs). Results are bit-identical between runs
// with the same inputs and the same thread count.
func WithTrainerThreads(n int) TrainerOption { return func(c *trainerConfig) { c.threads = n } }

// WithTrainable chooses the trainable parameters: f is called for every
// float32 initializer the graph reads, with the nodes that read it, and
// returns whether it trains. The default trains all of them.
// BatchNormalization's running mean and variance (inputs 3 and 4) are never
// trainable whatever f says: they are statistics, updated by training-mode
// forwards.
func WithTrainable(f func(name string, uses []ParamUse) bool) TrainerOption {
	return func(c *trainerConfig) { c.trainable = f }
}

// WithFrozenBatchNorm makes BatchNormalization use (and not update) its
// running statistics in training mode too, as PyTorch's BatchNorm in eval
// mode; its scale and bias can still train.
func WithFrozenBatchNorm(frozen bool) TrainerOption {
	return func(c *trainerConfig) { c.frozenStats = frozen }
}

// WithSessionOptions passes planning options (WithBaseDir for external
// data, WithMaxElements, ...) to the Trainer's plan. WithThreads and
// WithRegistry are overridden by the trainer's own options.
func WithSessionOptions(opts ...Option) TrainerOption {
	return func(c *trainerConfig) { c.session = append(c.session, opts...) }
}

// Trainer runs a model forward and backward for training. Its methods must
// not be called concurrently.
type Trainer struct {
	original *onnx.ModelProto
	params   []*Param
	opts     Options
	tp       *trainPlan
	ex       *trainExec
	mu       sync.Mutex
}

// NewTrainer plans m for training. It reports, all at once, every node on a
// path from a trainable parameter to an output whose operator has no
// gradient. The trainer keeps m (for Model) but does not modify it.
func NewTrainer(m *onnx.ModelProto, opts ...TrainerOption) (tr *Trainer, err error) {
	cfg := trainerConfig{}
	for _, f := range opts {
		f(&cfg)
	}
	o := Options{foldConstants: true, maxElements: DefaultMaxElements}
	for _, f := range cfg.session {
		f(&o)
	}
	o.numThreads = cfg.threads
	o.registry = cfg.registry
	if o.registry == nil {
		o.registry = Builtins()
	}
	if m.GetGraph() == nil {
		return nil, errors.New("model has no graph")
	}
	defer func() {
		if r := recover(); r != nil {
			tr, err = nil, fmt.Errorf("internal error while planning the model for training: %v", r)
		}
	}()
	clone := proto.Clone(m).(*onnx.ModelProto)
	params, err := liftParams(clone, &o, &cfg)
	if err != nil {
		return nil, err
	}
	p, err := compile(clone, &o)
	if err != nil {
		return nil, err
	}
	tp, err := newTrainPlan(p, params, &o, cfg.frozenStats)
	if err != nil {
		return nil, err
	}
	tr = &Trainer{original: m, params: params, opts: o, tp: tp}
	tr.ex = newTrainExec(tp, &o)
	return tr, nil
}

// Params returns every float32 initializer the graph reads, in the order of
// the model's initializers. The slice and the Params are the trainer's own:
// optimisers update Value in place and read Grad.
func (t *Trainer) Params() []*Param { return t.params }

// Inputs describes the data inputs Forward expects (parameters excluded).
func (t *Trainer) Inputs() []ValueInfo { return t.tp.dataInputs }

// Outputs describes the outputs Forward returns.
func (t *Trainer) Outputs() []ValueInfo { return t.tp.p.outputs }

// Threads is the number of goroutines Forward and Backward use.
func (t *Trainer) Threads() int { return t.opts.threads() }

// Forward runs the model. With training true, BatchNormalization nodes use
// the statistics of the batch and update their running statistics (unless
// WithFrozenBatchNorm), and the values the backward needs are kept until
// Backward (the input tensors included: do not modify them before). With
// training false the forward has inference semantics and keeps nothing.
// The outputs belong to the caller.
func (t *Trainer) Forward(ctx context.Context, inputs map[string]*Tensor, training bool) (map[string]*Tensor, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := t.tp.checkInputs(inputs); err != nil {
		return nil, err
	}
	return t.ex.forward(ctx, inputs, training)
}

// Backward back-propagates dOutputs (∂L/∂output for some of the graph
// outputs, float32, each of its output's shape; a missing output has a
// zero gradient) through the last training-mode Forward and adds the
// gradients of the trainable parameters into their Param.Grad. It consumes
// what that Forward kept: a second Backward needs another Forward.
func (t *Trainer) Backward(ctx context.Context, dOutputs map[string]*Tensor) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	return t.ex.backward(ctx, dOutputs)
}

// ZeroGrad sets every trainable parameter's Grad to zero.
func (t *Trainer) ZeroGrad() {
	for _, p := range t.params {
		if p.Grad != nil {
			clear(p.Grad.Float32s())
		}
	}
}

// Model returns a copy of the model the trainer was built from with every
// parameter's initializer replaced by its current value (same graph, names,
// opsets and metadata).
func (t *Trainer) Model() (*onnx.ModelProto, error) {
	out := proto.Clone(t.original).(*onnx.ModelProto)
	byName := make(map[string]*Param, len(t.params))
	for _, p := range t.params {
		byName[p.Name] = p
	}
	inits := out.GetGraph().GetInitializer()
	for i, tp := range inits {
		p, ok := byName[tp.GetName()]
		if !ok {
			continue
		}
		enc, err := p.Value.ToProto(p.Name)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", p.Name, err)
		}
		enc.DocString = tp.DocString
		inits[i] = enc
	}
	return out, nil
}

// liftParams turns every float32 initializer that a node reads into a
// parameter and, in the model m (the trainer's private copy), into a graph
// input, so that planning treats it as a run-time value.
func liftParams(m *onnx.ModelProto, o *Options, cfg *trainerConfig) ([]*Param, error) {
	g := m.GetGraph()
	uses := map[string][]ParamUse{}
	for _, n := range g.GetNode() {
		for i, in := range n.GetInput() {
			if in != "" {
				uses[in] = append(uses[in], ParamUse{Node: n, Input: i})
			}
		}
	}
	var params []*Param
	var keep []*onnx.TensorProto
	lifted := map[string]bool{}
	var errs []error
	for _, tp := range g.GetInitializer() {
		u := uses[tp.GetName()]
		if tp.GetDataType() != int32(onnx.TensorProto_FLOAT) || len(u) == 0 || lifted[tp.GetName()] {
			keep = append(keep, tp)
			continue
		}
		t, err := TensorFromProto(tp, o.baseDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("initializer %q: %w", tp.GetName(), err))
			continue
		}
		p := &Param{Name: tp.GetName(), Value: t, Trainable: !isRunningStat(u)}
		if p.Trainable && cfg.trainable != nil {
			p.Trainable = cfg.trainable(p.Name, u)
		}
		if p.Trainable {
			p.Grad = Zeros(Float32, t.Shape()...)
		}
		params = append(params, p)
		lifted[p.Name] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	g.Initializer = keep
	var inputs []*onnx.ValueInfoProto
	for _, vi := range g.GetInput() {
		if !lifted[vi.GetName()] {
			inputs = append(inputs, vi)
		}
	}
	for _, p := range params {
		dims := make([]any, len(p.Value.Shape()))
		for i, d := range p.Value.Shape() {
			dims[i] = d
		}
		inputs = append(inputs, onnx.ValueInfo(p.Name, onnx.TensorProto_FLOAT, dims...))
	}
	g.Input = inputs
	return params, nil
}

// isRunningStat reports whether a parameter is read as BatchNormalization's
// running mean or variance.
func isRunningStat(uses []ParamUse) bool {
	for _, u := range uses {
		if u.Node.GetOpType() == "BatchNormalization" && canonicalDomain(u.Node.GetDomain()) == "" && (u.Input == 3 || u.Input == 4) {
			return true
		}
	}
	return false
}
