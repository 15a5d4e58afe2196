package convert

import (
	"context"
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// The models calibration runs: the converted model cut down to the nodes
// that produce a layer's input (prefixModel), and small probe models over
// that input (the patch norms, the original convolution and the unit
// responses).

// topoOrder numbers the main graph's nodes in a topological order (Kahn's,
// preferring node order), so that layers are calibrated after every layer
// their input depends on.
func topoOrder(g *onnx.GraphProto) (map[*onnx.NodeProto]int, error) {
	nodes := g.GetNode()
	producer := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if o != "" {
				producer[o] = i
			}
		}
	}
	indegree := make([]int, len(nodes))
	readers := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, in := range nodeReads(n) {
			if p, ok := producer[in]; ok && p != i {
				indegree[i]++
				readers[p] = append(readers[p], i)
			}
		}
	}
	var ready []int
	for i, d := range indegree {
		if d == 0 {
			ready = append(ready, i)
		}
	}
	order := map[*onnx.NodeProto]int{}
	for len(ready) > 0 {
		sort.Ints(ready)
		i := ready[0]
		ready = ready[1:]
		order[nodes[i]] = len(order)
		for _, r := range readers[i] {
			if indegree[r]--; indegree[r] == 0 {
				ready = append(ready, r)
			}
		}
	}
	if len(order) != len(nodes) {
		return nil, fmt.Errorf("the graph has a cycle")
	}
	return order, nil
}

// nodeReads lists the values n reads: its inputs and, for nodes with
// subgraphs, every value the subgraphs read (some come from the outer
// graph).
func nodeReads(n *onnx.NodeProto) []string {
	var out []string
	for _, in := range n.GetInput() {
		if in != "" {
			out = append(out, in)
		}
	}
	for _, g := range subgraphs(n) {
		for _, sn := range g.GetNode() {
			out = append(out, nodeReads(sn)...)
		}
		for _, o := range g.GetOutput() {
			out = append(out, o.GetName())
		}
	}
	return out
}

// sortJobs orders the jobs topologically.
func sortJobs(jobs []*layerJob, order map[*onnx.NodeProto]int) {
	sort.SliceStable(jobs, func(i, j int) bool { return order[jobs[i].node] < order[jobs[j].node] })
}

// registry is the operator set calibration runs models with.
func registry() *runtime.Registry {
	r := runtime.Builtins()
	decop.Register(r)
	return r
}

// prefixModel is m reduced to the nodes that compute value x, with x as
// its only output. The walk back from x stops at the values known holds:
// they become graph inputs (untyped), as do m's graph inputs that are
// reached. It shares nodes and initializers with m, and returns the names
// of the graph inputs.
func prefixModel(m *onnx.ModelProto, x string, known map[string]bool) (*onnx.ModelProto, []string) {
	g := m.GetGraph()
	producer := map[string]*onnx.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	needed := map[string]bool{}
	keep := map[*onnx.NodeProto]bool{}
	var inputs []string
	stack := []string{x}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if needed[v] {
			continue
		}
		needed[v] = true
		if known[v] && v != x {
			inputs = append(inputs, v)
			continue
		}
		if n := producer[v]; n != nil && !keep[n] {
			keep[n] = true
			stack = append(stack, nodeReads(n)...)
		}
	}
	out := &onnx.GraphProto{Name: proto.String(g.GetName() + "_prefix")}
	for _, n := range g.GetNode() {
		if keep[n] {
			out.Node = append(out.Node, n)
		}
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		if needed[t.GetName()] {
			out.Initializer = append(out.Initializer, t)
			inits[t.GetName()] = true
		}
	}
	for _, v := range g.GetInput() {
		if needed[v.GetName()] && !known[v.GetName()] {
			out.Input = append(out.Input, v)
			if !inits[v.GetName()] {
				inputs = append(inputs, v.GetName())
			}
		}
	}
	for _, v := range inputs {
		if known[v] {
			out.Input = append(out.Input, &onnx.ValueInfoProto{Name: proto.String(v)})
		}
	}
	out.Output = []*onnx.ValueInfoProto{{Name: proto.String(x)}}
	return &onnx.ModelProto{IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, Functions: m.Functions, Graph: out}, inputs
}

// activationCache keeps the calibration batches of layer inputs computed
// on the converted network, so that later layers' prefix models start from
// them instead of from the data. A kept value never goes stale: layers are
// calibrated in topological order, so every layer a value depends on was
// calibrated before the value was computed. The oldest values are dropped
// when the total exceeds the budget.
type activationCache struct {
	budget int64
	bytes  int64
	values map[string][]*runtime.Tensor
	order  []string // oldest first
}

func (c *activationCache) known() map[string]bool {
	k := map[string]bool{}
	for name := range c.values {
		k[name] = true
	}
	return k
}

// add keeps the batches of value name, dropping older values to stay
// within the budget.
func (c *activationCache) add(name string, batches []*runtime.Tensor, bytes int64) {
	if _, ok := c.values[name]; ok || bytes > c.budget {
		return
	}
	for c.bytes+bytes > c.budget && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		for _, t := range c.values[old] {
			c.bytes -= int64(t.Len()) * 4
		}
		delete(c.values, old)
	}
	c.values[name] = batches
	c.order = append(c.order, name)
	c.bytes += bytes
}

// activations yields a layer's input X on the calibration data, one batch
// at a time: from the data themselves when X is the graph input, from the
// cache, or by running the prefix model. The first pass keeps the batches
// (within the cache budget) for the second pass and for later layers.
type activations struct {
	c      *calibrator
	sess   *runtime.Session // nil when X is the data input or cached
	feeds  []string         // the prefix model's inputs
	xName  string
	cached []*runtime.Tensor
}

func (c *calibrator) activations(job *layerJob) (*activations, error) {
	a := &activations{c: c, xName: job.layer.X}
	if job.layer.X == c.input {
		return a, nil
	}
	if batches, ok := c.cache.values[job.layer.X]; ok {
		a.cached = batches
		return a, nil
	}
	model, feeds := prefixModel(c.m, job.layer.X, c.cache.known())
	sess, err := runtime.NewSessionFromModel(model, runtime.WithRegistry(registry()), runtime.WithThreads(c.threads))
	if err != nil {
		return nil, fmt.Errorf("planning the model up to %q: %w", job.layer.X, err)
	}
	a.sess, a.feeds = sess, feeds
	return a, nil
}

// each calls fn with X for every batch of the calibration data, in order.
func (a *activations) each(ctx context.Context, fn func(x *runtime.Tensor) error) error {
	if a.cached != nil {
		for _, x := range a.cached {
			if err := fn(x); err != nil {
				return err
			}
		}
		return nil
	}
	var kept []*runtime.Tensor
	var bytes int64
	for i := range a.c.batches() {
		if err := ctx.Err(); err != nil {
			return err
		}
		x, err := a.batch(ctx, i)
		if err != nil {
			return err
		}
		if a.sess != nil && bytes <= a.c.cache.budget {
			bytes += int64(x.Len()) * 4
			kept = append(kept, x)
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	if a.sess != nil && bytes <= a.c.cache.budget {
		a.c.cache.add(a.xName, kept, bytes)
		a.cached = kept
	}
	return nil
}

// batch computes X for batch i.
func (a *activations) batch(ctx context.Context, i int) (*runtime.Tensor, error) {
	in := a.c.dataBatch(i)
	if a.sess == nil {
		return in, nil
	}
	feeds := map[string]*runtime.Tensor{}
	for _, name := range a.feeds {
		if name == a.c.input {
			feeds[name] = in
		} else {
			feeds[name] = a.c.cache.values[name][i]
		}
	}
	out, err := a.sess.Run(ctx, feeds)
	if err != nil {
		return nil, fmt.Errorf("running the model up to %q: %w", a.xName, err)
	}
	x := out[a.xName]
	if x.DType() != runtime.Float32 || x.Rank() != 4 {
		return nil, fmt.Errorf("the layer's input %q is %v; want float32 [N, C, H, W]", a.xName, x)
	}
	return x, nil
}

// batches is the number of calibration batches.
func (c *calibrator) batches() int { return (c.samples() + c.batch - 1) / c.batch }

// dataBatch returns batch i of the calibration data (a view).
func (c *calibrator) dataBatch(i int) *runtime.Tensor {
	shape := c.data.Shape()
	per := runtime.NumElements(shape[1:])
	lo, hi := i*c.batch, min(shape[0], (i+1)*c.batch)
	return runtime.New(append([]int{hi - lo}, shape[1:]...), c.data.Float32s()[lo*per:hi*per])
}

// probe is a small model over a layer's input X; run returns its outputs
// for one batch.
type probe struct {
	sess    *runtime.Session
	outputs []string
}

func (p *probe) run(ctx context.Context, x *runtime.Tensor) ([]*runtime.Tensor, error) {
	out, err := p.sess.Run(ctx, map[string]*runtime.Tensor{"X": x})
	if err != nil {
		return nil, err
	}
	res := make([]*runtime.Tensor, len(p.outputs))
	for i, name := range p.outputs {
		res[i] = out[name]
	}
	return res, nil
}

// probeBuilder assembles a probe model.
type probeBuilder struct {
	g       *onnx.GraphProto
	opset   int64
	outputs []string
}

func newProbe(opset int64) *probeBuilder {
	return &probeBuilder{g: &onnx.GraphProto{Name: proto.String("calibration_probe"), Input: []*onnx.ValueInfoProto{{Name: proto.String("X")}}}, opset: opset}
}

func (b *probeBuilder) init(name string, dims []int, data []float32) string {
	b.g.Initializer = append(b.g.Initializer, floatTensor(name, dims, data))
	return name
}

func (b *probeBuilder) node(domain, op string, in []string, out string, attrs []*onnx.AttributeProto) {
	b.g.Node = append(b.g.Node, &onnx.NodeProto{Name: proto.String(out), Domain: proto.String(domain), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs})
	b.g.Output = append(b.g.Output, &onnx.ValueInfoProto{Name: proto.String(out)})
	b.outputs = append(b.outputs, out)
}

func (b *probeBuilder) build(threads int) (*probe, error) {
	m := &onnx.ModelProto{
		IrVersion: proto.Int64(7),
		Graph:     b.g,
		OpsetImport: []*onnx.OperatorSetIdProto{
			{Domain: proto.String(""), Version: proto.Int64(b.opset)},
			{Domain: proto.String(decop.Domain), Version: proto.Int64(decop.Version)},
		},
	}
	sess, err := runtime.NewSessionFromModel(m, runtime.WithRegistry(registry()), runtime.WithThreads(threads))
	if err != nil {
		return nil, err
	}
	return &probe{sess: sess, outputs: b.outputs}, nil
}

// normsProbe computes the squared patch norms Σ x_p² per group: a Conv of
// X² with an all-ones kernel [G, C/G, kH, kW] and the layer's geometry,
// giving S: [N, G, OH, OW].
func (c *calibrator) normsProbe(job *layerJob) (*probe, error) {
	b := newProbe(c.opset)
	group := job.cfg.group
	ones := make([]float32, int(group)*job.wDims[1]*job.wDims[2]*job.wDims[3])
	for i := range ones {
		ones[i] = 1
	}
	b.init("ones", []int{int(group), job.wDims[1], job.wDims[2], job.wDims[3]}, ones)
	b.g.Node = append(b.g.Node, &onnx.NodeProto{OpType: proto.String("Mul"), Input: []string{"X", "X"}, Output: []string{"XX"}})
	b.node("", "Conv", []string{"XX", "ones"}, "S", geometryAttrs(job.node))
	return b.build(c.threads)
}

// fitProbe computes, for one batch, the original convolution Y0 = Conv(X,
// W, B) and the unit responses U (α = 1, β = 0, no bias) and, for seg and
// mix, V (α = 0, β = 1), with ρ as given.
func (c *calibrator) fitProbe(job *layerJob, rho []float32) (*probe, error) {
	b := newProbe(c.opset)
	mOut := job.wDims[0]
	b.init("W", job.wDims, job.w)
	b.init("B", []int{mOut}, job.bias)
	zeros, ones := make([]float32, mOut), make([]float32, mOut)
	for i := range ones {
		ones[i] = 1
	}
	b.init("zeros", []int{mOut}, zeros)
	b.init("ones", []int{mOut}, ones)
	b.init("rho", []int{mOut}, rho)
	b.node("", "Conv", []string{"X", "W", "B"}, "Y0", geometryAttrs(job.node))
	attrs := job.node.GetAttribute()
	if usesBeta(job.cfg.op.Magnitude) {
		b.node(decop.Domain, decop.OpType, []string{"X", "W", "zeros", "ones", "rho", "zeros"}, "U", attrs)
		b.node(decop.Domain, decop.OpType, []string{"X", "W", "zeros", "zeros", "rho", "ones"}, "V", attrs)
	} else {
		b.node(decop.Domain, decop.OpType, []string{"X", "W", "zeros", "ones", "rho"}, "U", attrs)
	}
	return b.build(c.threads)
}
