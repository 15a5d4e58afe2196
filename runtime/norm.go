package runtime

import (
	"math"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Normalisations: BatchNormalization, InstanceNormalization,
// LayerNormalization, LRN, and Softmax / LogSoftmax.
//
// Statistics (means, variances, softmax sums) are computed in float64 for
// float32 data, with two passes (mean, then squared deviations) rather than
// E[x²] − E[x]², which cancels badly when the mean is large.

func registerNorm(r *Registry) {
	for _, v := range []int{7, 9, 14, 15} {
		r.Register("", "BatchNormalization", v, buildBatchNorm)
	}
	for _, v := range []int{1, 6} {
		r.Register("", "InstanceNormalization", v, buildInstanceNorm)
	}
	r.Register("", "LayerNormalization", 17, buildLayerNorm)
	for _, v := range []int{1, 13} {
		r.Register("", "LRN", v, buildLRN)
	}
	for _, v := range []int{1, 11, 13} {
		r.Register("", "Softmax", v, softmaxBuilder(false))
		r.Register("", "LogSoftmax", v, softmaxBuilder(true))
	}
}

// normParallelMin is the element count from which these kernels split work
// over goroutines.
const normParallelMin = 1 << 16

func normThreads(rc *RunContext, n int) int {
	if n < normParallelMin {
		return 1
	}
	return rc.Threads()
}

// normFloat is the element types the normalisations compute on.
type normFloat interface{ float32 | float64 }

// float64sOf converts a FLOAT or DOUBLE tensor's elements to float64.
func float64sOf(t *Tensor) ([]float64, bool) {
	switch d := t.data.(type) {
	case []float64:
		return d, true
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, true
	}
	return nil, false
}

// channelsOf checks x: [N, C, D...] and returns N, C and the size of one
// channel's spatial block.
func channelsOf(rc *RunContext, x *Tensor) (n, c, inner int, err error) {
	if x.dtype != Float32 && x.dtype != Float64 {
		return 0, 0, 0, rc.Errorf("input X: unsupported element type %v (want FLOAT or DOUBLE)", x.dtype)
	}
	if x.Rank() < 2 {
		return 0, 0, 0, rc.Errorf("input X: expected [N, C, ...], got %v", ShapeString(x.shape))
	}
	return x.shape[0], x.shape[1], NumElements(x.shape[2:]), nil
}

// channelParams reads per-channel parameter inputs (scale, bias, mean,
// var, ...) as float64, each of which must hold c values.
func channelParams(rc *RunContext, c int, names []string, ts ...*Tensor) ([][]float64, error) {
	out := make([][]float64, len(ts))
	for i, t := range ts {
		v, ok := float64sOf(t)
		if !ok {
			return nil, rc.Errorf("input %s: unsupported element type %v (want FLOAT or DOUBLE)", names[i], t.dtype)
		}
		if t.Rank() != 1 || len(v) != c {
			return nil, rc.Errorf("input %s: expected shape [%d], got %v", names[i], c, ShapeString(t.shape))
		}
		out[i] = v
	}
	return out, nil
}

// batchNormKernel is a planned BatchNormalization of x: [N, C, D...] with
// per-channel scale, bias, mean and var: [C]. In inference mode it is
// y = a[c]·x + b[c] with a = scale/√(var+ε), b = bias − mean·a, precomputed
// when the four inputs are constant. In training mode (opset 14+) it uses
// the batch's own statistics and also returns the updated running mean and
// variance.
type batchNormKernel struct {
	eps, momentum float64
	training      bool
	// a, b are the precomputed coefficients for the constant inputs srcs.
	a, b []float64
	srcs [4]*Tensor
	// act is a Relu or Clip fused into an inference step at plan time (fuse.go): the output
	// is clamped to [lo, hi]. Without one, the bounds are infinite.
	act    bool
	lo, hi float32
}

var batchNormInputs = []string{"scale", "B", "input_mean", "input_var"}

func buildBatchNorm(n *Node) (Kernel, error) {
	k := &batchNormKernel{
		eps:      float64(n.Float("epsilon", 1e-5)),
		momentum: float64(n.Float("momentum", 0.9)),
	}
	if n.Opset < 9 && n.Int("spatial", 1) != 1 {
		n.fail("attribute \"spatial\": only spatial=1 is supported")
	}
	if n.Opset >= 14 {
		k.training = n.IntIn("training_mode", 0, 0, 1) == 1
	}
	if err := n.Err(); err != nil {
		return nil, err
	}
	if n.NumInputs() != 5 {
		return nil, n.Errorf("expected 5 inputs (X, scale, B, input_mean, input_var), got %d", n.NumInputs())
	}
	for i := range 5 {
		if !n.HasInput(i) {
			return nil, n.Errorf("input %d is missing", i)
		}
	}
	extra := 0
	for i := 1; i < len(n.Outputs); i++ {
		if n.Outputs[i] != "" {
			extra++
		}
	}
	switch {
	case n.Opset < 14 && extra > 0:
		return nil, n.Errorf("training-mode outputs (mean, var, saved_mean, saved_var) before opset 14 are not supported")
	case !k.training && extra > 0:
		return nil, n.Errorf("outputs running_mean and running_var require training_mode=1")
	case len(n.Outputs) > 3:
		return nil, n.Errorf("expected at most 3 outputs, got %d", len(n.Outputs))
	}
	if !k.training {
		k.precompute(n)
	}
	return k, nil
}

// precompute derives the per-channel coefficients from constant inputs.
func (k *batchNormKernel) precompute(n *Node) {
	var p [4][]float64
	for i := range 4 {
		t := n.Const(i + 1)
		if t == nil || t.Rank() != 1 {
			return
		}
		v, ok := float64sOf(t)
		if !ok || len(v) != t.shape[0] || (i > 0 && len(v) != len(p[0])) {
			return
		}
		p[i], k.srcs[i] = v, t
	}
	k.a, k.b = batchNormCoefficients(p[0], p[1], p[2], p[3], k.eps)
}

func batchNormCoefficients(scale, bias, mean, variance []float64, eps float64) (a, b []float64) {
	a, b = make([]float64, len(scale)), make([]float64, len(scale))
	for c := range scale {
		a[c] = scale[c] / math.Sqrt(variance[c]+eps)
		b[c] = bias[c] - mean[c]*a[c]
	}
	return a, b
}

func (k *batchNormKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	nb, c, inner, err := channelsOf(rc, x)
	if err != nil {
		return err
	}
	a, b := k.a, k.b
	var p [][]float64
	if a == nil || in[1] != k.srcs[0] || in[2] != k.srcs[1] || in[3] != k.srcs[2] || in[4] != k.srcs[3] || len(a) != c {
		if p, err = channelParams(rc, c, batchNormInputs, in[1], in[2], in[3], in[4]); err != nil {
			return err
		}
	}
	y := rc.NewShaped(x.dtype, x.shape)
	if k.training {
		return k.runTraining(rc, in, out, y, p, nb, c, inner)
	}
	if p != nil {
		a, b = batchNormCoefficients(p[0], p[1], p[2], p[3], k.eps)
	}
	threads := normThreads(rc, x.Len())
	switch x.dtype {
	case Float32:
		lo, hi := k.bounds()
		channelAffineClamp32(threads, x.Float32s(), y.Float32s(), nb, c, inner, a, b, lo, hi)
	case Float64:
		channelAffine(threads, x.Float64s(), y.Float64s(), nb, c, inner, a, b)
		if k.act {
			clipLoop(y.Float64s(), y.Float64s(), float64(k.lo), float64(k.hi))
		}
	}
	out[0] = y
	return nil
}

// bounds returns the clamp of the fused activation, or infinite bounds.
func (k *batchNormKernel) bounds() (lo, hi float32) {
	if k.act {
		return k.lo, k.hi
	}
	return float32(math.Inf(-1)), float32(math.Inf(1))
}

// channelAffineClamp32 computes y = min(max(a[c]·x + b[c], lo), hi) over x: [N, C, inner], with
// the vector kernel where there is one (the same roundings as channelAffine), NaN kept; with
// infinite bounds it is channelAffine.
func channelAffineClamp32(threads int, x, y []float32, n, c, inner int, a, b []float64, lo, hi float32) {
	parallel.For(threads, n*c, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			ac, bc := float32(a[r%c]), float32(b[r%c])
			dst, row := affinePrefix(y[r*inner:(r+1)*inner], x[r*inner:(r+1)*inner], ac, bc, lo, hi, false)
			for i, v := range row {
				dst[i] = min(max(ac*v+bc, lo), hi)
			}
		}
	})
}

// channelAffine computes y = a[c]·x + b[c] over x: [N, C, inner].
func channelAffine[T normFloat](threads int, x, y []T, n, c, inner int, a, b []float64) {
	parallel.For(threads, n*c, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ac, bc := T(a[r%c]), T(b[r%c])
			row := x[r*inner : (r+1)*inner]
			dst := y[r*inner : (r+1)*inner]
			for i, v := range row {
				dst[i] = ac*v + bc
			}
		}
	})
}

// runTraining normalises with the batch statistics (biased variance) and
// sets the optional running_mean and running_var outputs:
// running = input·momentum + current·(1 − momentum), typed like input_mean
// and input_var.
func (k *batchNormKernel) runTraining(rc *RunContext, in, out []*Tensor, y *Tensor, p [][]float64, n, c, inner int) error {
	x := in[0]
	mean, variance := make([]float64, c), make([]float64, c)
	switch x.dtype {
	case Float32:
		channelStats(x.Float32s(), n, c, inner, mean, variance)
	case Float64:
		channelStats(x.Float64s(), n, c, inner, mean, variance)
	}
	a, b := batchNormCoefficients(p[0], p[1], mean, variance, k.eps)
	threads := normThreads(rc, x.Len())
	switch x.dtype {
	case Float32:
		channelAffine(threads, x.Float32s(), y.Float32s(), n, c, inner, a, b)
	case Float64:
		channelAffine(threads, x.Float64s(), y.Float64s(), n, c, inner, a, b)
	}
	out[0] = y
	current := [][]float64{mean, variance}
	for i := 1; i < len(out); i++ {
		t := rc.New(in[i+2].dtype, c)
		for ch := range c {
			v := p[i+1][ch]*k.momentum + current[i-1][ch]*(1-k.momentum)
			switch d := t.data.(type) {
			case []float32:
				d[ch] = float32(v)
			case []float64:
				d[ch] = v
			}
		}
		out[i] = t
	}
	return nil
}

// channelStats computes each channel's mean and biased variance over the
// batch and spatial positions of x: [N, C, inner].
func channelStats[T normFloat](x []T, n, c, inner int, mean, variance []float64) {
	count := float64(n * inner)
	for ch := range c {
		var s float64
		for b := range n {
			for _, v := range x[(b*c+ch)*inner : (b*c+ch+1)*inner] {
				s += float64(v)
			}
		}
		m := s / count
		var ss float64
		for b := range n {
			for _, v := range x[(b*c+ch)*inner : (b*c+ch+1)*inner] {
				d := float64(v) - m
				ss += d * d
			}
		}
		mean[ch], variance[ch] = m, ss/count
	}
}

// instanceNormKernel is a planned InstanceNormalization of x: [N, C, D...]
// with scale and B: [C]: every (n, c) block is normalised by its own mean
// and (biased) variance.
type instanceNormKernel struct{ eps float64 }

func buildInstanceNorm(n *Node) (Kernel, error) {
	k := &instanceNormKernel{eps: float64(n.Float("epsilon", 1e-5))}
	if err := n.Err(); err != nil {
		return nil, err
	}
	if n.NumInputs() != 3 || !n.HasInput(0) || !n.HasInput(1) || !n.HasInput(2) {
		return nil, n.Errorf("expected 3 inputs (input, scale, B), got %d", n.NumInputs())
	}
	return k, nil
}

func (k *instanceNormKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	nb, c, inner, err := channelsOf(rc, x)
	if err != nil {
		return err
	}
	p, err := channelParams(rc, c, []string{"scale", "B"}, in[1], in[2])
	if err != nil {
		return err
	}
	y := rc.NewShaped(x.dtype, x.shape)
	threads := normThreads(rc, x.Len())
	switch x.dtype {
	case Float32:
		instanceNorm(threads, x.Float32s(), y.Float32s(), nb*c, c, inner, p[0], p[1], k.eps)
	case Float64:
		instanceNorm(threads, x.Float64s(), y.Float64s(), nb*c, c, inner, p[0], p[1], k.eps)
	}
	out[0] = y
	return nil
}

func instanceNorm[T normFloat](threads int, x, y []T, rows, c, inner int, scale, bias []float64, eps float64) {
	parallel.For(threads, rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*inner : (r+1)*inner]
			mean, variance := meanVariance(row)
			a := scale[r%c] / math.Sqrt(variance+eps)
			b := bias[r%c] - mean*a
			dst := y[r*inner : (r+1)*inner]
			for i, v := range row {
				dst[i] = T(a*float64(v) + b)
			}
		}
	})
}

// meanVariance returns the mean and biased variance of x (two passes,
// float64 accumulation); both are NaN for an empty x.
func meanVariance[T normFloat](x []T) (mean, variance float64) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mean = s / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return mean, ss / float64(len(x))
}

// layerNormKernel is a planned LayerNormalization: X is normalised over its
// dimensions from axis on, Y = (X − mean)/√(var + ε)·Scale + B, where Scale
// and the optional B broadcast to X.shape[axis:]. The optional outputs Mean
// and InvStdDev have shape X.shape[:axis] + [1, ...] and X's element type.
// Statistics are computed in float64 whatever stash_type says.
type layerNormKernel struct {
	axis int64
	eps  float64
}

func buildLayerNorm(n *Node) (Kernel, error) {
	k := &layerNormKernel{axis: n.Int("axis", -1), eps: float64(n.Float("epsilon", 1e-5))}
	n.Int("stash_type", 1)
	if err := n.Err(); err != nil {
		return nil, err
	}
	if n.NumInputs() < 2 || !n.HasInput(0) || !n.HasInput(1) {
		return nil, n.Errorf("expected inputs X and Scale, got %d inputs", n.NumInputs())
	}
	if len(n.Outputs) > 3 {
		return nil, n.Errorf("expected at most 3 outputs, got %d", len(n.Outputs))
	}
	return k, nil
}

func (k *layerNormKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	if x.dtype != Float32 && x.dtype != Float64 {
		return rc.Errorf("input X: unsupported element type %v (want FLOAT or DOUBLE)", x.dtype)
	}
	axis, ok := normAxis(int(k.axis), x.Rank())
	if !ok {
		return rc.Errorf("attribute \"axis\": %d is out of range for rank %d", k.axis, x.Rank())
	}
	normShape := x.shape[axis:]
	scale, err := expandToShape(rc, in[1], normShape, "Scale")
	if err != nil {
		return err
	}
	var bias []float64
	if len(in) > 2 && in[2] != nil {
		if bias, err = expandToShape(rc, in[2], normShape, "B"); err != nil {
			return err
		}
	}
	statShape := append([]int(nil), x.shape[:axis]...)
	for range normShape {
		statShape = append(statShape, 1)
	}
	y := rc.NewShaped(x.dtype, x.shape)
	var mean, inv *Tensor
	if len(out) > 1 {
		mean = rc.NewShaped(x.dtype, statShape)
	}
	if len(out) > 2 {
		inv = rc.NewShaped(x.dtype, statShape)
	}
	ln := layerNormGeometry{rows: NumElements(x.shape[:axis]), cols: NumElements(normShape), eps: k.eps, scale: scale, bias: bias}
	threads := normThreads(rc, x.Len())
	switch x.dtype {
	case Float32:
		layerNorm(threads, ln, x.Float32s(), y.Float32s(), optFloats[float32](mean), optFloats[float32](inv))
	case Float64:
		layerNorm(threads, ln, x.Float64s(), y.Float64s(), optFloats[float64](mean), optFloats[float64](inv))
	}
	out[0] = y
	for i, t := range []*Tensor{mean, inv} {
		if t != nil {
			out[i+1] = t
		}
	}
	return nil
}

func optFloats[T normFloat](t *Tensor) []T {
	if t == nil {
		return nil
	}
	return Values[T](t)
}

// expandToShape returns a FLOAT or DOUBLE parameter as float64 values
// broadcast (numpy-style, unidirectionally) to shape.
func expandToShape(rc *RunContext, t *Tensor, shape []int, name string) ([]float64, error) {
	v, ok := float64sOf(t)
	if !ok {
		return nil, rc.Errorf("input %s: unsupported element type %v (want FLOAT or DOUBLE)", name, t.dtype)
	}
	src := t.shape
	for len(src) > len(shape) && src[0] == 1 {
		src = src[1:]
	}
	if SameShape(src, shape) {
		return v, nil
	}
	if len(src) > len(shape) {
		return nil, rc.Errorf("input %s: shape %v does not broadcast to %v", name, ShapeString(t.shape), ShapeString(shape))
	}
	strides := make([]int, len(shape))
	stride := 1
	for i := len(src) - 1; i >= 0; i-- {
		d := shape[len(shape)-len(src)+i]
		switch src[i] {
		case d:
			strides[len(shape)-len(src)+i] = stride
		case 1:
		default:
			return nil, rc.Errorf("input %s: shape %v does not broadcast to %v", name, ShapeString(t.shape), ShapeString(shape))
		}
		stride *= src[i]
	}
	out := make([]float64, NumElements(shape))
	idx := make([]int, len(shape))
	off := 0
	for i := range out {
		out[i] = v[off]
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			off += strides[d]
			if idx[d] < shape[d] {
				break
			}
			off -= idx[d] * strides[d]
			idx[d] = 0
		}
	}
	return out, nil
}

// layerNormGeometry is X viewed as [rows, cols], normalised per row, with
// the expanded scale and bias (bias may be nil).
type layerNormGeometry struct {
	rows, cols  int
	eps         float64
	scale, bias []float64
}

func layerNorm[T normFloat](threads int, g layerNormGeometry, x, y, mean, inv []T) {
	parallel.For(threads, g.rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*g.cols : (r+1)*g.cols]
			m, variance := meanVariance(row)
			is := 1 / math.Sqrt(variance+g.eps)
			dst := y[r*g.cols : (r+1)*g.cols]
			for i, v := range row {
				z := (float64(v) - m) * is * g.scale[i]
				if g.bias != nil {
					z += g.bias[i]
				}
				dst[i] = T(z)
			}
			if mean != nil {
				mean[r] = T(m)
			}
			if inv != nil {
				inv[r] = T(is)
			}
		}
	})
}

// lrnKernel is a planned LRN (local response normalisation across
// channels) of x: [N, C, D...]:
// y = x / (bias + alpha/size · Σ x²)^beta, the sum over the channels
// c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉ that exist.
type lrnKernel struct {
	alpha, beta, bias float64
	size              int
}

func buildLRN(n *Node) (Kernel, error) {
	k := &lrnKernel{
		alpha: float64(n.Float("alpha", 1e-4)),
		beta:  float64(n.Float("beta", 0.75)),
		bias:  float64(n.Float("bias", 1)),
		size:  int(n.IntIn("size", 0, 1, math.MaxInt32)),
	}
	if !n.HasAttr("size") {
		return nil, n.Errorf("attribute \"size\" is required")
	}
	if err := n.Err(); err != nil {
		return nil, err
	}
	if n.NumInputs() != 1 || !n.HasInput(0) {
		return nil, n.Errorf("expected 1 input, got %d", n.NumInputs())
	}
	return k, nil
}

func (k *lrnKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	nb, c, inner, err := channelsOf(rc, x)
	if err != nil {
		return err
	}
	y := rc.NewShaped(x.dtype, x.shape)
	threads := normThreads(rc, x.Len())
	switch x.dtype {
	case Float32:
		lrn(k, threads, x.Float32s(), y.Float32s(), nb, c, inner)
	case Float64:
		lrn(k, threads, x.Float64s(), y.Float64s(), nb, c, inner)
	}
	out[0] = y
	return nil
}

func lrn[T normFloat](k *lrnKernel, threads int, x, y []T, n, c, inner int) {
	before, after := (k.size-1)/2, k.size/2 // ⌊(size−1)/2⌋ and ⌈(size−1)/2⌉
	scale := k.alpha / float64(k.size)
	parallel.For(threads, n*c, func(lo, hi int) {
		sq := make([]float64, inner)
		for r := lo; r < hi; r++ {
			b, ch := r/c, r%c
			clear(sq)
			for cc := max(0, ch-before); cc <= min(c-1, ch+after); cc++ {
				for i, v := range x[(b*c+cc)*inner : (b*c+cc+1)*inner] {
					sq[i] += float64(v) * float64(v)
				}
			}
			row := x[r*inner : (r+1)*inner]
			dst := y[r*inner : (r+1)*inner]
			for i, v := range row {
				dst[i] = T(float64(v) / math.Pow(k.bias+scale*sq[i], k.beta))
			}
		}
	})
}

// softmaxKernel is a planned Softmax or LogSoftmax. From opset 13 it
// normalises along one axis (default −1); before, the input is coerced to
// 2-D, [prod(shape[:axis]), prod(shape[axis:])] (default axis 1), and each
// row is normalised as a whole.
type softmaxKernel struct {
	log, coerce bool
	axis        int64
}

func softmaxBuilder(log bool) Builder {
	return func(n *Node) (Kernel, error) {
		k := &softmaxKernel{log: log, coerce: n.Opset < 13}
		def := int64(-1)
		if k.coerce {
			def = 1
		}
		k.axis = n.Int("axis", def)
		if err := n.Err(); err != nil {
			return nil, err
		}
		if n.NumInputs() != 1 || !n.HasInput(0) {
			return nil, n.Errorf("expected 1 input, got %d", n.NumInputs())
		}
		return k, nil
	}
}

func (k *softmaxKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	if x.dtype != Float32 && x.dtype != Float64 {
		return rc.Errorf("input: unsupported element type %v (want FLOAT or DOUBLE)", x.dtype)
	}
	axis, ok := normAxis(int(k.axis), x.Rank())
	if !ok {
		return rc.Errorf("attribute \"axis\": %d is out of range for rank %d", k.axis, x.Rank())
	}
	g := softmaxGeometry{outer: NumElements(x.shape[:axis]), n: x.shape[axis], inner: NumElements(x.shape[axis+1:]), log: k.log}
	if k.coerce {
		g.n, g.inner = NumElements(x.shape[axis:]), 1
	}
	y := rc.NewShaped(x.dtype, x.shape)
	threads := normThreads(rc, x.Len())
	switch x.dtype {
	case Float32:
		softmax(threads, g, x.Float32s(), y.Float32s())
	case Float64:
		softmax(threads, g, x.Float64s(), y.Float64s())
	}
	out[0] = y
	return nil
}

// softmaxGeometry views the input as [outer, n, inner], normalised along n.
type softmaxGeometry struct {
	outer, n, inner int
	log             bool
}

func softmax[T normFloat](threads int, g softmaxGeometry, x, y []T) {
	if g.n == 0 || g.inner == 0 {
		return
	}
	parallel.For(threads, g.outer, func(lo, hi int) {
		var m, sum []float64
		if g.inner > 1 {
			m, sum = make([]float64, g.inner), make([]float64, g.inner)
		}
		for o := lo; o < hi; o++ {
			xs := x[o*g.n*g.inner : (o+1)*g.n*g.inner]
			ys := y[o*g.n*g.inner : (o+1)*g.n*g.inner]
			if g.inner == 1 {
				softmaxRow(xs, ys, g.log)
			} else {
				softmaxColumns(xs, ys, g, m, sum)
			}
		}
	})
}

// softmaxRow normalises one contiguous row, subtracting its maximum first
// so that exp cannot overflow.
func softmaxRow[T normFloat](x, y []T, log bool) {
	m := math.Inf(-1)
	for _, v := range x {
		if f := float64(v); f > m || f != f {
			m = f
		}
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v) - m)
		sum += e
		if !log {
			y[i] = T(e)
		}
	}
	if log {
		ls := m + math.Log(sum)
		for i, v := range x {
			y[i] = T(float64(v) - ls)
		}
		return
	}
	inv := 1 / sum
	for i, v := range y {
		y[i] = T(float64(v) * inv)
	}
}

// softmaxColumns normalises a [n, inner] block along n, inner lanes at a
// time; m and sum are per-lane scratch.
func softmaxColumns[T normFloat](x, y []T, g softmaxGeometry, m, sum []float64) {
	for i := range m {
		m[i] = math.Inf(-1)
	}
	clear(sum)
	for j := range g.n {
		for i, v := range x[j*g.inner : (j+1)*g.inner] {
			if f := float64(v); f > m[i] || f != f {
				m[i] = f
			}
		}
	}
	for j := range g.n {
		for i, v := range x[j*g.inner : (j+1)*g.inner] {
			sum[i] += math.Exp(float64(v) - m[i])
		}
	}
	for i := range sum {
		if g.log {
			sum[i] = m[i] + math.Log(sum[i])
		} else {
			sum[i] = 1 / sum[i]
		}
	}
	for j := range g.n {
		row := x[j*g.inner : (j+1)*g.inner]
		dst := y[j*g.inner : (j+1)*g.inner]
		for i, v := range row {
			if g.log {
				dst[i] = T(float64(v) - sum[i])
			} else {
				dst[i] = T(math.Exp(float64(v)-m[i]) * sum[i])
			}
		}
	}
}
