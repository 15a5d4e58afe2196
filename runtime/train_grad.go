package runtime

// Gradient kernels: the backward half of an operator, registered beside its
// forward kernel and found the same way (newest since_version ≤ the model's
// opset). The Trainer plans one for every node on a path from a trainable
// parameter to a requested output.
//
// Anatomy of a backward op. Its GradBuilder runs once, at NewTrainer time,
// after the forward kernel was planned; it type-asserts GradNode.Forward to
// reuse the decoded attributes and returns a GradKernel. Saves tells the
// trainer which forward inputs and outputs to keep alive from the training
// forward until the backward (everything else is recycled as soon as the
// forward is done with it); Backward receives them with the gradients of the
// outputs and returns the gradients of the inputs that need one: the
// vector-Jacobian products dIn = (∂Out/∂In)ᵀ·dOut. An operator whose
// training forward differs from its inference forward (BatchNormalization
// with batch statistics) also implements TrainForwarder.

// GradNode is what a GradBuilder sees of one node: the node itself, its
// planned forward kernel and which inputs need a gradient.
type GradNode struct {
	*Node
	// Forward is the node's forward kernel as its Builder returned it, with
	// the Float16 adapter removed: builders type-assert it to reuse its
	// decoded attributes.
	Forward Kernel
	// Need[i] reports whether input i needs a gradient (a trainable
	// parameter, or computed from one). An input slot that is absent never
	// needs one.
	Need []bool
	// FrozenStats asks normalisation layers to keep using their running
	// statistics in training mode (WithFrozenBatchNorm).
	FrozenStats bool
}

// GradBuilder plans the backward of one node. It returns an error naming
// the node (g.Errorf) when it cannot compute a gradient that g.Need asks
// for.
type GradBuilder func(g *GradNode) (GradKernel, error)

// GradKernel computes the vector-Jacobian products of one node. Like a
// Kernel it is planned once and must not modify its own state in Backward.
type GradKernel interface {
	// Saves reports which forward inputs and outputs Backward reads (one
	// flag per slot). The shapes of every input and output are always
	// available, so shape-only gradients save nothing.
	Saves() (inputs, outputs []bool)
	// Backward sets a.DIn[i] for every input i that needs a gradient
	// (leaving it nil means a zero gradient). Results are allocated with
	// rc.New and handed over to the caller; to pass a gradient through
	// unchanged return rc.View of it. a.In, a.Out and a.DOut are read-only.
	Backward(rc *RunContext, a *GradArgs) error
}

// GradArgs carries one Backward call's tensors.
type GradArgs struct {
	// In and Out are the forward inputs and outputs that Saves asked for
	// (nil elsewhere, and for absent optional slots).
	In, Out []*Tensor
	// InShapes and OutShapes are the shapes of every forward input and
	// output (nil for an absent slot).
	InShapes, OutShapes [][]int
	// State is what TrainForward left in ForwardArgs.State, or nil.
	State any
	// DOut[i] is ∂L/∂Out[i] (float32, the output's shape), or nil where it
	// is zero (some DOut is always non-nil).
	DOut []*Tensor
	// DIn[i] receives ∂L/∂In[i] (float32, the input's shape).
	DIn []*Tensor
}

// TrainForwarder is implemented by gradient kernels whose training-mode
// forward differs from the node's inference forward, such as
// BatchNormalization normalising with the statistics of the batch. The
// Trainer calls TrainForward instead of the forward kernel in every
// training-mode Forward, whether or not the node is differentiated.
type TrainForwarder interface {
	// TrainForward computes a.Out from a.In as Kernel.Run does (same
	// allocation rules), and may leave state for Backward in a.State and
	// new values for inputs in a.Update.
	TrainForward(rc *RunContext, a *ForwardArgs) error
}

// ForwardArgs carries one training-mode forward call.
type ForwardArgs struct {
	In, Out []*Tensor
	// State, if set, is passed to Backward as GradArgs.State.
	State any
	// Update has one slot per input. A kernel sets Update[i] (allocated
	// with rc.New, same shape and type as In[i]) to replace the value of
	// input i from now on: the Trainer copies it into the input's parameter
	// (BatchNormalization's running statistics). Updates of inputs that are
	// not parameters are dropped.
	Update []*Tensor
}

// RegisterGrad adds a gradient builder for op in domain, valid from opset
// version since until the next registered version, like Register.
func (r *Registry) RegisterGrad(domain, opType string, since int, b GradBuilder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.grads.add(domain, opType, since, b)
}

// LookupGrad returns the gradient builder with the newest since_version ≤
// opset.
func (r *Registry) LookupGrad(domain, opType string, opset int) (GradBuilder, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.grads.lookup(domain, opType, opset)
}

// GradOps lists the operators with a gradient, formatted like Ops.
func (r *Registry) GradOps() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.grads.names()
}

// registerGradients registers the backward of every built-in operator that
// has one, one family per file.
func registerGradients(r *Registry) {
	registerConvGrad(r)        // conv_grad.go
	registerPoolGrad(r)        // pool_grad.go
	registerGemmGrad(r)        // gemm_grad.go: Gemm, MatMul
	registerNormGrad(r)        // norm_grad.go: BatchNormalization, Softmax, LogSoftmax
	registerActivationGrad(r)  // activation_grad.go
	registerElementwiseGrad(r) // elementwise_grad.go: Add, Sub, Mul, Div, Neg, Sum
	registerReduceGrad(r)      // reduce_grad.go: ReduceMean, ReduceSum
	registerShapeGrad(r)       // shape_grad.go: movement and view ops, Pad
}

// nonDifferentiable lists the operators whose outputs carry no gradient
// (integer, boolean or index results): the trainer stops there.
var nonDifferentiable = map[string]bool{
	"Shape": true, "Size": true, "Equal": true, "Less": true, "Greater": true, "LessOrEqual": true,
	"GreaterOrEqual": true, "Not": true, "And": true, "Or": true, "Xor": true, "IsNaN": true,
	"IsInf": true, "ArgMax": true, "ArgMin": true, "NonZero": true, "ConstantOfShape": true,
	"Range": true, "Constant": true,
}

// unwrapKernel removes the Float16 adapter around a forward kernel.
func unwrapKernel(k Kernel) Kernel {
	if h, ok := k.(halfAsFloat); ok {
		return h.inner
	}
	return k
}

// saveFlags returns n flags with the listed indices set.
func saveFlags(n int, idx ...int) []bool {
	f := make([]bool, n)
	for _, i := range idx {
		if i >= 0 && i < n {
			f[i] = true
		}
	}
	return f
}

// needAny reports whether any flag is set.
func needAny(need []bool) bool {
	for _, v := range need {
		if v {
			return true
		}
	}
	return false
}

// needs reports need[i], false past the end.
func needs(need []bool, i int) bool { return i < len(need) && need[i] }
