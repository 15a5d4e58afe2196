package runtime

import (
	"math"
	"slices"
	"sync"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/onnx"
)

// Conv fusion. While the plan is built, a Conv step absorbs the nodes that
// are the only readers of its output, so that they cost no pass over memory
// of their own:
//
//	Conv → Add(·, skip)        the skip tensor is added as the tile is stored
//	Conv → Relu | Clip         the activation runs in the same epilogue
//	Conv → Add → Relu | Clip   both, in that order (a ResNet block's tail)
//	Conv → BatchNormalization  folded into the filter and bias (inference
//	                           mode, constant W, B and statistics)
//
// The fused step keeps the Conv's node (errors name it) and takes over the
// absorbed node's output value. The arithmetic is unchanged: the epilogue
// adds bias, then the skip tensor, then clamps, exactly as the separate
// kernels would, so fused and unfused plans agree bit for bit
// (BatchNormalization folding excepted: it rounds the scaled filter once, as
// ONNX Runtime's Conv+BN fusion does). An Add whose other input turns out to
// need broadcasting runs the ordinary Add kernel after the convolution
// instead. Sessions fuse; training plans do not (gradients need the
// intermediate values).

// fusionReaders counts, per value name, the nodes reading it and the graph
// outputs naming it: a Conv output with more than one reader cannot be
// fused away.
func fusionReaders(g *onnx.GraphProto, nodes []*onnx.NodeProto) map[string]int {
	readers := map[string]int{}
	for _, n := range nodes {
		for _, in := range slices.Compact(slices.Sorted(slices.Values(n.GetInput()))) {
			readers[in]++
		}
	}
	for _, o := range g.GetOutput() {
		readers[o.GetName()]++
	}
	return readers
}

// fuseIntoConv absorbs node n (with input value ids ins) into the Conv
// step that produces its first data input, if n is that output's only
// reader and every other input of n exists before that step; it reports
// whether it did.
func (b *graphBuilder) fuseIntoConv(n *Node, ins []int) bool {
	s, convOut := b.fusionProducer(n, ins)
	if s == nil {
		return false
	}
	if bk, ok := s.kernel.(*batchNormKernel); ok {
		return b.fuseIntoBatchNorm(bk, s, n, ins, convOut)
	}
	if h, ok := s.kernel.(halfAsFloat); ok {
		return b.fuseSelfGate(h, s, n, ins, convOut)
	}
	if pk, ok := s.kernel.(*padKernel); ok {
		return b.fusePadIntoAveragePool(pk, s, n, ins, convOut)
	}
	ck, ok := s.kernel.(*convKernel)
	if !ok {
		return false
	}
	switch n.OpType {
	case "BatchNormalization":
		if !ck.foldBatchNorm(n) {
			return false
		}
	case "Add":
		if !ck.fuseResidual(n, s, ins, convOut) {
			return false
		}
	default:
		if ins[0] != convOut || slices.Contains(ins[1:], convOut) || !ck.fuseActivation(n) {
			return false
		}
	}
	b.absorb(s, n, convOut)
	return true
}

// fusionProducer returns the step producing the latest-produced input of n, and that value,
// if n may be fused into it: a fusing plan, a default-domain node with one output, and a step
// with one output that n alone reads.
func (b *graphBuilder) fusionProducer(n *Node, ins []int) (*step, int) {
	if b.readers == nil || canonicalDomain(n.Domain) != "" || len(n.Outputs) != 1 || len(ins) == 0 {
		return nil, -1
	}
	out, at := -1, -1
	for _, v := range ins {
		if i, ok := b.producer[v]; ok && i > at {
			out, at = v, i // the latest produced input: the only candidate
		}
	}
	if at < 0 {
		return nil, -1
	}
	s := b.p.steps[at]
	if len(s.out) != 1 || s.out[0] != out || b.readers[b.p.values[out].name] != 1 {
		return nil, -1
	}
	return s, out
}

// absorb makes step s, whose output is the value id out, produce n's output instead.
func (b *graphBuilder) absorb(s *step, n *Node, out int) {
	s.fused = append(s.fused, n.Name)
	name := n.Outputs[0]
	b.p.values[out].name = name
	b.ids[name] = out
}

// fuseIntoBatchNorm takes a Relu or Clip n reading an inference BatchNormalization's output
// (and nothing else) into that step: one pass over memory instead of two, the same values
// (the clamp applies to the rounded affine result, as the separate kernel would).
func (b *graphBuilder) fuseIntoBatchNorm(k *batchNormKernel, s *step, n *Node, ins []int, bnOut int) bool {
	if k.training || k.act || ins[0] != bnOut || slices.Contains(ins[1:], bnOut) || (n.OpType != "Relu" && n.OpType != "Clip") {
		return false
	}
	act, ok, err := decodeActivation(n)
	if err != nil || !ok || n.Err() != nil {
		return false
	}
	lo, hi := float32(0), float32(math.Inf(1))
	switch act.kind {
	case actRelu:
	case actClip:
		lo, hi = act.lo, act.hi
		if hi == 0 && math.Signbit(float64(hi)) {
			return false // the vector kernel does not order −0 against +0 at the top
		}
	default:
		return false
	}
	k.act, k.lo, k.hi = true, lo, hi
	b.absorb(s, n, bnOut)
	return true
}

// foldBatchNorm folds an inference-mode BatchNormalization n with constant
// parameters into the filter and bias: y = a·(W∗x + b) + c becomes
// (a·W)∗x + (a·b + c) per output channel, computed in float64 and rounded
// once.
func (k *convKernel) foldBatchNorm(n *Node) bool {
	if k.fuse.act != gemm.ActNone || k.add != nil || !k.biasConst || len(n.Outputs) != 1 {
		return false
	}
	bk, err := safeBuild(buildBatchNorm, n)
	if err != nil || n.Err() != nil {
		return false
	}
	bn := bk.(*batchNormKernel)
	m := k.wShape[0]
	if bn.training || len(bn.a) != m || len(k.w)%m != 0 {
		return false
	}
	per := len(k.w) / m
	w := make([]float32, len(k.w))
	bias := make([]float32, m)
	for o := range m {
		for i := o * per; i < (o+1)*per; i++ {
			w[i] = float32(bn.a[o] * float64(k.w[i]))
		}
		b := 0.0
		if k.bias != nil {
			b = float64(k.bias[o])
		}
		bias[o] = float32(bn.a[o]*b + bn.b[o])
	}
	k.w, k.bias = w, bias
	k.filter = conv.NewFilter(k.attrs.FilterGeometry(k.wShape), w, conv.Auto, true)
	return true
}

// fuseActivation takes the activation node n into the epilogue if the
// epilogue can compute it and has none yet.
func (k *convKernel) fuseActivation(n *Node) bool {
	if k.fuse.act != gemm.ActNone {
		return false
	}
	act, ok, err := decodeActivation(n)
	if err != nil || !ok || n.Err() != nil {
		return false
	}
	a, lo, hi, ok := act.gemmEpilogue()
	if !ok || a == gemm.ActNone {
		return false
	}
	k.fuse.act, k.fuse.min, k.fuse.max = a, lo, hi
	return true
}

// fuseResidual takes Add(conv, skip) or Add(skip, conv) into the step: the
// skip value becomes the step's input residualSlot.
func (k *convKernel) fuseResidual(n *Node, s *step, ins []int, convOut int) bool {
	if len(ins) != 2 || k.fuse.act != gemm.ActNone || k.add != nil {
		return false
	}
	skip := ins[0]
	switch {
	case ins[0] == convOut && ins[1] != convOut:
		skip = ins[1]
	case ins[1] != convOut || ins[0] == convOut:
		return false
	}
	if skip < 0 {
		return false
	}
	add, err := safeBuild(arithBuilder(opAdd, 2), n)
	if err != nil || n.Err() != nil {
		return false
	}
	k.add = add
	for len(s.in) < residualSlot {
		s.in = append(s.in, -1)
	}
	s.in = append(s.in, skip)
	return true
}

// residualSlot is the input index of a fused Conv's skip tensor (after X, W
// and the optional B).
const residualSlot = 3

// runResidualFallback finishes a fused Conv whose skip tensor does not
// have the output's shape: y (the convolution with its bias) goes through
// the ordinary Add, then the fused activation.
func (k *convKernel) runResidualFallback(rc *RunContext, y, skip *Tensor) (*Tensor, error) {
	out := []*Tensor{nil}
	if err := k.add.Run(rc, []*Tensor{y, skip}, out); err != nil {
		return nil, err
	}
	v := out[0].Float32s()
	switch k.fuse.act {
	case gemm.ActRelu:
		reluLoop(v, v)
	case gemm.ActClip:
		clipLoop(v, v, k.fuse.min, k.fuse.max)
	}
	return out[0], nil
}

// fuseSelfGate turns a Sigmoid or HardSigmoid step s and the Mul n of its input and its
// output, Mul(x, Sigmoid(x)) (SiLU, Swish) or Mul(x, HardSigmoid(x)) (HardSwish as PyTorch
// exports it before opset 14: mobilenet_v3 has twenty), into one step: for float32, each chunk
// of y is the gate of x times x while it is in cache; other types run the two kernels as before.
func (b *graphBuilder) fuseSelfGate(h halfAsFloat, s *step, n *Node, ins []int, gateOut int) bool {
	ak, ok := h.inner.(*activationKernel)
	if !ok || (ak.act.kind != actSigmoid && ak.act.kind != actHardSigmoid) || n.OpType != "Mul" || len(ins) != 2 || len(s.in) != 1 {
		return false
	}
	x := s.in[0]
	if !(ins[0] == x && ins[1] == gateOut) && !(ins[0] == gateOut && ins[1] == x) {
		return false
	}
	mul, err := safeBuild(arithBuilder(opMul, 2), n)
	if err != nil || n.Err() != nil {
		return false
	}
	s.kernel = &selfGateKernel{gate: h, act: ak.act, mul: mul, gateFirst: ins[0] == gateOut}
	b.absorb(s, n, gateOut)
	return true
}

// gateTail returns the in-place v = v · gate(v) of a fused self-gate, computed in chunks with
// the kernels selfGateKernel uses, so that its values are that step's.
func gateTail(gate activation) func(v []float32) {
	return func(v []float32) {
		g := gateBuffers.Get().(*[gateChunk]float32) // a local array would escape to the heap
		for len(v) > 0 {
			n := min(len(v), gateChunk)
			applyActivation(gate, g[:n], v[:n])
			mulLoop(v[:n], v[:n], g[:n], stepVV)
			v = v[n:]
		}
		gateBuffers.Put(g)
	}
}

// gateChunk is how many values gateTail gates at a time.
const gateChunk = 1024

var gateBuffers = sync.Pool{New: func() any { return new([gateChunk]float32) }}

// fuseGatesIntoConvs moves each self-gate step (fuseSelfGate) whose input is the output of a
// Conv step, read by nothing else, into that step as the epilogue's Tail: EfficientNet's SiLU
// after every convolution, then computed on each piece of the output while it is in cache
// instead of in a pass of its own over a tensor the Conv wrote to memory. Runs after every
// node is planned (the gate's Mul is the second reader of the Conv's output, so the Conv
// cannot absorb the gate node by node); the values are those of the two steps.
func (b *graphBuilder) fuseGatesIntoConvs() {
	if b.readers == nil {
		return
	}
	keep := make([]*step, 0, len(b.p.steps))
	for _, s := range b.p.steps {
		if !b.fuseGateIntoConv(s) {
			keep = append(keep, s)
		}
	}
	b.p.steps = keep // b.producer's step indices refer to the old list from here on
}

// fuseGateIntoConv fuses the self-gate step s into the Conv step producing its input, if it
// can, and reports whether it did.
func (b *graphBuilder) fuseGateIntoConv(s *step) bool {
	gk, ok := s.kernel.(*selfGateKernel)
	if !ok || len(s.in) != 1 || len(s.out) != 1 || s.in[0] < 0 {
		return false
	}
	x := s.in[0]
	at, ok := b.producer[x]
	if !ok {
		return false
	}
	c := b.p.steps[at]
	ck, ok := c.kernel.(*convKernel)
	// Two readers of x: the gate and its Mul, both in s.
	if !ok || ck.fuse.gate != nil || len(c.out) != 1 || c.out[0] != x || b.readers[b.p.values[x].name] != 2 {
		return false
	}
	act := gk.act
	ck.fuse.gate = &act
	c.out[0] = s.out[0]
	c.fused = append(append(c.fused, s.node.Name), s.fused...)
	b.producer[s.out[0]] = at
	return true
}

// selfGateKernel is a Sigmoid or HardSigmoid and the Mul of its input by its output, fused
// (fuseSelfGate).
type selfGateKernel struct {
	gate, mul Kernel
	act       activation
	gateFirst bool // Mul(gate(x), x) rather than Mul(x, gate(x))
}

// Run computes, per chunk of a float32 x, the gates of the same chunks and with the same
// kernels as the gate's own step would, then their products with x, so that the values are
// those of the two steps; other types run the two kernels.
func (k *selfGateKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	if x.dtype != Float32 {
		gate := []*Tensor{nil}
		if err := k.gate.Run(rc, in, gate); err != nil {
			return err
		}
		args := []*Tensor{x, gate[0]}
		if k.gateFirst {
			args[0], args[1] = gate[0], x
		}
		return k.mul.Run(rc, args, out)
	}
	y := rc.New(Float32, x.shape...)
	xs, ys := x.Float32s(), y.Float32s()
	parallelChunks(rc.threads, len(ys), k.act.cost(), func(lo, hi int) {
		applyActivation(k.act, ys[lo:hi], xs[lo:hi])
		mulLoop(ys[lo:hi], xs[lo:hi], ys[lo:hi], stepVV)
	})
	out[0] = y
	return nil
}

// fusePadIntoAveragePool turns a Pad step s of zeros on the spatial axes, read only by the
// AveragePool n, into that pool with the pad as its own padding, counted in the divisor
// (count_include_pad): PyTorch exports avg_pool2d(padding=p, count_include_pad=True) that way
// (Inception-v3's pools), and the separate Pad is a pass over memory that costs as much as
// the pool. The values are the same: the zeros that the Pad wrote are the padding the pool
// now counts. Only a pool without padding, auto_pad or ceil_mode of its own is taken.
func (b *graphBuilder) fusePadIntoAveragePool(pk *padKernel, s *step, n *Node, ins []int, padOut int) bool {
	if n.OpType != "AveragePool" || ins[0] != padOut || len(ins) != 1 {
		return false
	}
	spatial, ok := zeroPadSpatial(pk, s.node)
	if !ok {
		return false
	}
	kernel, err := buildAveragePool(n)
	if err != nil {
		return false
	}
	pool := kernel.(*poolKernel)
	if pool.ceil || pool.win.autoPad != conv.NotSet || pool.win.spatial != len(spatial)/2 || !allZero(pool.win.pads) {
		return false
	}
	for i, p := range spatial {
		if p >= pool.win.kernel[i%pool.win.spatial] {
			return false // a pad as wide as the window: keep the Pad, whose zeros every window sees
		}
	}
	pool.win.pads, pool.countPad = spatial, true
	s.kernel = pool
	b.absorb(s, n, padOut)
	return true
}

// zeroPadSpatial returns the spatial pads [x1_begin, ..., x1_end, ...] of a constant-mode Pad
// of zeros (node padNode, kernel pk) over [N, C, spatial...] whose pads are constants, not
// negative, and zero on N and C; ok is false for any other Pad.
func zeroPadSpatial(pk *padKernel, padNode *Node) (spatial []int, ok bool) {
	if pk.mode != padConstant || !pk.pads.known || pk.axes.present || pk.value != 0 {
		return nil, false
	}
	if pk.valueInput && padNode.HasInput(2) {
		v := padNode.Const(2)
		if v == nil || v.Len() != 1 || v.Float64Values()[0] != 0 {
			return nil, false
		}
	}
	rank := len(pk.pads.vals) / 2
	if rank < 3 || rank > 5 {
		return nil, false
	}
	for d, p := range pk.pads.vals {
		if p < 0 || (p != 0 && d%rank < 2) {
			return nil, false
		}
	}
	for _, half := range [][]int64{pk.pads.vals[2:rank], pk.pads.vals[rank+2:]} {
		for _, p := range half {
			spatial = append(spatial, int(p))
		}
	}
	return spatial, true
}
