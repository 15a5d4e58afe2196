package runtime

import (
	"fmt"
	"sort"
	"sync"
)

// Kernel is a planned operator: attributes decoded and validated, constant
// inputs prepared. Run may be called concurrently from several goroutines
// (one per Session.Run), so a Kernel must not modify its own state in Run.
type Kernel interface {
	// Run computes the node's outputs from its inputs. in[i] is nil for an
	// absent optional input. Run sets out[i] for every output slot (an
	// output whose name is empty may be left nil), allocating through rc.
	Run(rc *RunContext, in, out []*Tensor) error
}

// KernelFunc adapts a function to the Kernel interface.
type KernelFunc func(rc *RunContext, in, out []*Tensor) error

// Run calls f.
func (f KernelFunc) Run(rc *RunContext, in, out []*Tensor) error { return f(rc, in, out) }

// Builder plans one node: it decodes and checks the attributes and returns
// the kernel, or an error naming the node (use n.Errorf).
type Builder func(n *Node) (Kernel, error)

// Requiring wraps a builder so that planning fails, naming the node, when
// one of the first k inputs (the operator's required ones) is absent.
func Requiring(k int, b Builder) Builder {
	return func(n *Node) (Kernel, error) {
		for i := 0; i < k; i++ {
			if !n.HasInput(i) {
				return nil, n.Errorf("input %d is required but absent", i)
			}
		}
		return b(n)
	}
}

// Registry maps (domain, op_type, since_version) to builders. The default
// ONNX domain is "" ("ai.onnx" is accepted as the same domain).
type Registry struct {
	mu  sync.RWMutex
	ops versionTable[Builder]
	// grads holds the gradient builders (train_grad.go), keyed like ops.
	grads versionTable[GradBuilder]
}

type opKey struct{ domain, op string }

// versioned is one registered version of an operator's builder B (Builder
// or GradBuilder), valid from opset version since.
type versioned[B any] struct {
	since int
	build B
}

// versionTable holds the versions of the builders of each (domain,
// op_type), sorted by since_version. The nil table is empty.
type versionTable[B any] map[opKey][]versioned[B]

// add registers b for op in domain from opset version since, making the
// table first if it is nil.
func (t *versionTable[B]) add(domain, opType string, since int, b B) {
	if *t == nil {
		*t = versionTable[B]{}
	}
	k := opKey{canonicalDomain(domain), opType}
	vs := append((*t)[k], versioned[B]{since, b})
	sort.Slice(vs, func(i, j int) bool { return vs[i].since < vs[j].since })
	(*t)[k] = vs
}

// lookup returns the builder of op in domain with the newest
// since_version ≤ opset.
func (t versionTable[B]) lookup(domain, opType string, opset int) (B, bool) {
	vs := t[opKey{canonicalDomain(domain), opType}]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].since <= opset {
			return vs[i].build, true
		}
	}
	var none B
	return none, false
}

// names lists the (domain, op_type) pairs of the table as "domain/op" (or
// just "op" for the default domain), sorted.
func (t versionTable[B]) names() []string {
	var out []string
	for k := range t {
		if k.domain == "" {
			out = append(out, k.op)
		} else {
			out = append(out, k.domain+"/"+k.op)
		}
	}
	sort.Strings(out)
	return out
}

// clone returns a copy of the table that shares no slice with it (nil for
// the nil table).
func (t versionTable[B]) clone() versionTable[B] {
	if t == nil {
		return nil
	}
	c := make(versionTable[B], len(t))
	for k, vs := range t {
		c[k] = append([]versioned[B](nil), vs...)
	}
	return c
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{ops: versionTable[Builder]{}} }

// Register adds a builder for op in domain, valid from opset version since
// until the next registered version.
func (r *Registry) Register(domain, opType string, since int, b Builder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops.add(domain, opType, since, b)
}

// Lookup returns the builder with the newest since_version ≤ opset.
func (r *Registry) Lookup(domain, opType string, opset int) (Builder, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.ops.lookup(domain, opType, opset)
}

// Has reports whether any version of the op is registered.
func (r *Registry) Has(domain, opType string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.ops[opKey{canonicalDomain(domain), opType}]) > 0
}

// Ops lists the registered (domain, op_type) pairs as "domain/op" (or just
// "op" for the default domain), sorted.
func (r *Registry) Ops() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.ops.names()
}

// Clone returns an independent copy, so callers can add ops without
// touching the original.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return &Registry{ops: r.ops.clone(), grads: r.grads.clone()}
}

func canonicalDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

var (
	builtinOnce sync.Once
	builtins    *Registry
)

// Builtins returns a new registry holding every standard ONNX operator the
// runtime implements. Extensions (such as decop's DecoupledConv) register
// into a registry returned by this function.
func Builtins() *Registry {
	builtinOnce.Do(func() {
		builtins = NewRegistry()
		registerBuiltins(builtins)
	})
	return builtins.Clone()
}

// UnsupportedError reports an operator the registry lacks.
type UnsupportedError struct {
	Node, Domain, OpType string
	Opset                int
}

func (e *UnsupportedError) Error() string {
	d := e.Domain
	if d == "" {
		d = "ai.onnx"
	}
	return fmt.Sprintf("node %q (%s): unsupported operator %s/%s at opset %d", e.Node, e.OpType, d, e.OpType, e.Opset)
}
