package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/dcnet-go/dcnet/onnx"
)

// plan is a graph compiled for execution: values numbered, nodes in
// topological order with their kernels, constants decoded and folded.
type plan struct {
	values    []valueSlot // by value id
	inputs    []ValueInfo // runtime inputs, in graph order
	inputIDs  []int
	outputs   []ValueInfo
	outputIDs []int
	steps     []*step
	// consumers[v] is how many steps read value v; graph outputs get one
	// extra so they are never recycled.
	consumers []int
	// shapeOnly marks steps whose outputs depend only on the input shapes
	// (Shape, Size and what is computed from them and constants); their
	// results are cached per input-shape signature.
	hasShapeOnly bool
}

type valueSlot struct {
	name  string
	konst *Tensor // non-nil for initializers and folded values
}

type step struct {
	node      *Node
	kernel    Kernel
	in, out   []int // value ids; -1 for an absent optional slot
	shapeOnly bool
	// dead lists the input values whose last reader is this step, and
	// unused the outputs nobody reads: both are recycled after the step.
	dead, unused []int
	// fused names the nodes absorbed into this step at plan time (fuse.go).
	fused []string
}

// graphBuilder carries the state of compiling one graph.
type graphBuilder struct {
	opts    *Options
	opsets  map[string]int
	ids     map[string]int
	p       *plan
	errs    []error
	funcs   map[string]*onnx.FunctionProto
	nodeSeq int
	calls   int
	// readers counts the readers of each value name when fusion is on
	// (fuse.go), else nil.
	readers map[string]int
	// producer maps a value id to the index of the step computing it.
	producer map[int]int
}

func compile(m *onnx.ModelProto, opts *Options) (*plan, error) {
	g := m.GetGraph()
	if g == nil {
		return nil, errors.New("model has no graph")
	}
	b := &graphBuilder{opts: opts, opsets: modelOpsets(m), ids: map[string]int{}, p: &plan{}, funcs: map[string]*onnx.FunctionProto{}}
	for _, f := range m.GetFunctions() {
		b.funcs[functionKey(f.GetDomain(), f.GetName(), f.GetOverload())] = f
	}
	if _, ok := b.opsets[""]; !ok {
		return nil, errors.New("model has no opset_import for the default ONNX domain")
	}
	if err := b.addInitializers(g); err != nil {
		return nil, err
	}
	if err := b.addInputs(g); err != nil {
		return nil, err
	}
	nodes, err := b.expandFunctions(g.GetNode())
	if err != nil {
		return nil, err
	}
	order, err := b.topoSort(nodes)
	if err != nil {
		return nil, err
	}
	if err := b.checkSupported(order); err != nil {
		return nil, err
	}
	if opts.fuse {
		b.readers, b.producer = fusionReaders(g, order), map[int]int{}
	}
	for _, np := range order {
		b.addNode(np)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	b.fuseGatesIntoConvs()
	if err := b.addOutputs(g); err != nil {
		return nil, err
	}
	b.markShapeOnly()
	b.computeLiveness()
	return b.p, nil
}

func modelOpsets(m *onnx.ModelProto) map[string]int {
	out := map[string]int{}
	for _, o := range m.GetOpsetImport() {
		out[canonicalDomain(o.GetDomain())] = int(o.GetVersion())
	}
	return out
}

func (b *graphBuilder) newValue(name string, konst *Tensor) int {
	id := len(b.p.values)
	b.p.values = append(b.p.values, valueSlot{name: name, konst: konst})
	b.ids[name] = id
	return id
}

func (b *graphBuilder) addInitializers(g *onnx.GraphProto) error {
	var errs []error
	for _, tp := range g.GetInitializer() {
		name := tp.GetName()
		if name == "" {
			errs = append(errs, errors.New("initializer with empty name"))
			continue
		}
		if _, dup := b.ids[name]; dup {
			errs = append(errs, fmt.Errorf("initializer %q: defined twice", name))
			continue
		}
		t, err := TensorFromProto(tp, b.opts.baseDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("initializer %q: %w", name, err))
			continue
		}
		b.newValue(name, t)
	}
	if len(g.GetSparseInitializer()) > 0 {
		errs = append(errs, errors.New("sparse initializers are not supported"))
	}
	return errors.Join(errs...)
}

// addInputs registers the graph inputs that are not initializers; an input
// that also has an initializer keeps the initializer as a constant.
func (b *graphBuilder) addInputs(g *onnx.GraphProto) error {
	var errs []error
	for _, vi := range g.GetInput() {
		name := vi.GetName()
		if _, isInit := b.ids[name]; isInit {
			continue
		}
		info, err := valueInfoFromProto(vi)
		if err != nil {
			errs = append(errs, fmt.Errorf("graph input %q: %w", name, err))
			continue
		}
		id := b.newValue(name, nil)
		b.p.inputs = append(b.p.inputs, info)
		b.p.inputIDs = append(b.p.inputIDs, id)
	}
	return errors.Join(errs...)
}

func (b *graphBuilder) addOutputs(g *onnx.GraphProto) error {
	var errs []error
	for _, vi := range g.GetOutput() {
		name := vi.GetName()
		id, ok := b.ids[name]
		if !ok {
			errs = append(errs, fmt.Errorf("graph output %q: no node, input or initializer produces it", name))
			continue
		}
		info, err := valueInfoFromProto(vi)
		if err != nil {
			errs = append(errs, fmt.Errorf("graph output %q: %w", name, err))
			continue
		}
		b.p.outputs = append(b.p.outputs, info)
		b.p.outputIDs = append(b.p.outputIDs, id)
	}
	return errors.Join(errs...)
}

// topoSort orders nodes so that every input is produced before it is read,
// reporting dangling inputs, duplicate outputs and cycles by node name.
func (b *graphBuilder) topoSort(nodes []*onnx.NodeProto) ([]*onnx.NodeProto, error) {
	producer := map[string]int{}
	var errs []error
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if _, ok := b.ids[o]; ok {
				errs = append(errs, fmt.Errorf("node %q (%s): output %q redefines a graph input or initializer", nodeName(n, i), n.GetOpType(), o))
			} else if j, ok := producer[o]; ok {
				errs = append(errs, fmt.Errorf("node %q (%s): output %q is also produced by node %q", nodeName(n, i), n.GetOpType(), o, nodeName(nodes[j], j)))
			}
			producer[o] = i
		}
	}
	indeg := make([]int, len(nodes))
	readers := make([][]int, len(nodes))
	for i, n := range nodes {
		for k, in := range n.GetInput() {
			if in == "" {
				continue
			}
			if _, ok := b.ids[in]; ok {
				continue
			}
			j, ok := producer[in]
			if !ok {
				errs = append(errs, fmt.Errorf("node %q (%s): input %d %q is not a graph input, initializer or node output", nodeName(n, i), n.GetOpType(), k, in))
				continue
			}
			indeg[i]++
			readers[j] = append(readers[j], i)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var queue, order []int
	for i := range nodes {
		if indeg[i] == 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		order = append(order, i)
		for _, r := range readers[i] {
			if indeg[r]--; indeg[r] == 0 {
				queue = append(queue, r)
			}
		}
	}
	if len(order) < len(nodes) {
		for i := range nodes {
			if indeg[i] > 0 {
				return nil, fmt.Errorf("node %q (%s): part of a cycle", nodeName(nodes[i], i), nodes[i].GetOpType())
			}
		}
	}
	out := make([]*onnx.NodeProto, len(order))
	for k, i := range order {
		out[k] = nodes[i]
	}
	return out, nil
}

func nodeName(n *onnx.NodeProto, i int) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	return fmt.Sprintf("#%d", i)
}

// checkSupported reports every node whose operator the registry lacks, all
// at once.
func (b *graphBuilder) checkSupported(nodes []*onnx.NodeProto) error {
	var errs []error
	for i, n := range nodes {
		d := canonicalDomain(n.GetDomain())
		opset, ok := b.opsets[d]
		if !ok {
			errs = append(errs, fmt.Errorf("node %q (%s): no opset_import for domain %q", nodeName(n, i), n.GetOpType(), n.GetDomain()))
			continue
		}
		if _, ok := b.opts.registry.Lookup(d, n.GetOpType(), opset); !ok {
			errs = append(errs, &UnsupportedError{Node: nodeName(n, i), Domain: d, OpType: n.GetOpType(), Opset: opset})
		}
	}
	return errors.Join(errs...)
}

// addNode builds the node's kernel; a node whose inputs are all constant is
// run now and its outputs become constants.
func (b *graphBuilder) addNode(np *onnx.NodeProto) {
	idx := b.nodeSeq
	b.nodeSeq++
	d := canonicalDomain(np.GetDomain())
	opset := b.opsets[d]
	ins := make([]int, len(np.GetInput()))
	consts := make([]*Tensor, len(ins))
	allConst := true
	for i, name := range np.GetInput() {
		if name == "" {
			ins[i] = -1
			continue
		}
		ins[i] = b.ids[name]
		consts[i] = b.p.values[ins[i]].konst
		if consts[i] == nil {
			allConst = false
		}
	}
	n := newNode(np, idx, opset, consts, b.opts)
	if !allConst && b.fuseIntoConv(n, ins) {
		return
	}
	build, _ := b.opts.registry.Lookup(d, np.GetOpType(), opset)
	k, err := safeBuild(build, n)
	if err == nil {
		err = n.Err()
	}
	if err != nil {
		b.errs = append(b.errs, err)
		// Register outputs anyway so later nodes report their own errors.
		for _, o := range np.GetOutput() {
			if o != "" {
				b.newValue(o, nil)
			}
		}
		return
	}
	s := &step{node: n, kernel: k, in: ins}
	if allConst && b.opts.foldConstants {
		outs, err := b.fold(s, consts)
		if err == nil {
			for i, o := range np.GetOutput() {
				if o != "" {
					b.newValue(o, outs[i])
				}
			}
			return
		}
		b.errs = append(b.errs, err)
	}
	for _, o := range np.GetOutput() {
		if o == "" {
			s.out = append(s.out, -1)
			continue
		}
		s.out = append(s.out, b.newValue(o, nil))
		if b.producer != nil {
			b.producer[s.out[len(s.out)-1]] = len(b.p.steps)
		}
	}
	b.p.steps = append(b.p.steps, s)
}

func runKernelSafely(rc *RunContext, s *step, in, out []*Tensor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(s.node, r)
		}
	}()
	return runKernel(rc, s, in, out)
}

func safeBuild(build Builder, n *Node) (k Kernel, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = n.Errorf("internal error while planning: %v", r)
		}
	}()
	return build(n)
}

// fold runs a step on constant inputs at plan time.
func (b *graphBuilder) fold(s *step, in []*Tensor) ([]*Tensor, error) {
	rc := &RunContext{ctx: context.Background(), threads: b.opts.threads(), limit: b.opts.maxElements, alloc: newAllocator(), node: s.node}
	out := make([]*Tensor, len(s.node.Outputs))
	if err := runKernelSafely(rc, s, in, out); err != nil {
		return nil, err
	}
	for i, t := range out {
		if t != nil {
			out[i] = detach(t)
		}
	}
	return out, nil
}

// detach makes t an unpooled tensor that owns its data, so it can live as
// a constant.
func detach(t *Tensor) *Tensor {
	if t.store == nil {
		return t
	}
	return t.Clone()
}

// markShapeOnly flags steps computed from input shapes and constants only.
func (b *graphBuilder) markShapeOnly() {
	shapeOnlyValue := make([]bool, len(b.p.values))
	for _, s := range b.p.steps {
		only := true
		switch {
		case isShapeReader(s.node) && len(s.in) > 0:
			// Reads only its input's shape.
		default:
			for _, v := range s.in {
				if v >= 0 && b.p.values[v].konst == nil && !shapeOnlyValue[v] {
					only = false
					break
				}
			}
		}
		if !only {
			continue
		}
		s.shapeOnly = true
		b.p.hasShapeOnly = true
		for _, v := range s.out {
			if v >= 0 {
				shapeOnlyValue[v] = true
			}
		}
	}
}

func isShapeReader(n *Node) bool {
	return canonicalDomain(n.Domain) == "" && (n.OpType == "Shape" || n.OpType == "Size")
}

// computeLiveness counts readers per value and, for each step, which values
// die after it.
func (b *graphBuilder) computeLiveness() {
	p := b.p
	p.consumers = make([]int, len(p.values))
	lastReader := make([]int, len(p.values))
	for i := range lastReader {
		lastReader[i] = -1
	}
	for si, s := range p.steps {
		for _, v := range s.in {
			if v >= 0 {
				p.consumers[v]++
				lastReader[v] = si
			}
		}
	}
	pinned := make([]bool, len(p.values))
	for _, v := range p.outputIDs {
		pinned[v] = true
	}
	for si, s := range p.steps {
		seen := map[int]bool{}
		for _, v := range s.in {
			if v >= 0 && !pinned[v] && lastReader[v] == si && !seen[v] {
				s.dead = append(s.dead, v)
				seen[v] = true
			}
		}
		for _, v := range s.out {
			if v >= 0 && !pinned[v] && lastReader[v] == -1 {
				s.unused = append(s.unused, v)
			}
		}
	}
}
