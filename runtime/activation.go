package runtime

import (
	"math"
	"sync"

	"github.com/dcnet-go/dcnet/internal/gemm"
)

// Activation operators: Relu, LeakyRelu, PRelu, Clip, Sigmoid, HardSigmoid,
// HardSwish, Tanh, Gelu, Softplus, Softsign, Elu, Selu, Celu, Mish and
// ThresholdedRelu.
//
// Every pointwise activation except PRelu (whose slope is a tensor) is an
// activation value: a kind plus its decoded parameters. Other kernels apply
// one to their own output without a separate pass over memory — a
// convolution's epilogue, or a fused Conv+Relu/Clip produced by a graph pass:
//
//	act, ok, err := decodeActivation(n) // n: the Relu/Clip/... node
//	act.apply(tile, tile)                // in place over a float32 slice
//
// Relu and Clip map onto the GEMM epilogue's own activations
// (gemmEpilogue); any other kind can run in gemm.Epilogue.Tile, row by row.
//
// Numerics. Relu, LeakyRelu, Clip and ThresholdedRelu are float32
// arithmetic with at most one rounding. The others (HardSigmoid, HardSwish,
// Softsign and the transcendental ones) are evaluated in float64 with the
// math package and rounded once, so float32 results are within one rounding
// of the true value; the transcendental ones use the formulations that
// avoid cancellation and overflow (expm1 for Elu/Selu/Celu, log1p for
// Softplus, erfc for Gelu, x·σ(2u) for Gelu's tanh form), and are defined at
// ±Inf by their limits rather than by NaN-producing arithmetic (Inf·0,
// Inf/Inf). NaN inputs give NaN outputs throughout. Exception: on CPUs with
// AVX-512, float32 Sigmoid, HardSwish (and the Erf operator) run vector
// kernels in float32 arithmetic, within 4 ulp (Erf: 4 ulp below |x| = 1,
// 4e-7 absolute above), checked in vecmath_test.go; DCNET_VECMATH=generic
// turns them off.

// actKind names a pointwise activation function.
type actKind uint8

const (
	actNone            actKind = iota // identity
	actRelu                           // max(x, 0)
	actLeakyRelu                      // x < 0 ? alpha·x : x
	actClip                           // min(max(x, lo), hi)
	actSigmoid                        // 1 / (1 + e^−x)
	actHardSigmoid                    // clamp(alpha·x + beta, 0, 1)
	actHardSwish                      // x · clamp(x/6 + 1/2, 0, 1)
	actTanh                           // tanh x
	actGelu                           // x/2 · (1 + erf(x/√2))
	actGeluTanh                       // x/2 · (1 + tanh(√(2/π)·(x + 0.044715x³)))
	actSoftplus                       // ln(1 + e^x)
	actSoftsign                       // x / (1 + |x|)
	actElu                            // x < 0 ? alpha·(e^x − 1) : x
	actSelu                           // gamma · (x ≤ 0 ? alpha·(e^x − 1) : x)
	actCelu                           // x < 0 ? alpha·(e^(x/alpha) − 1) : x
	actMish                           // x · tanh(softplus x)
	actThresholdedRelu                // x > alpha ? x : 0
)

// activation is a pointwise activation function with its parameters. The
// zero value is the identity.
type activation struct {
	kind actKind
	// alpha, beta and gamma are the ONNX attributes of the same names, for
	// the kinds whose formula above uses them.
	alpha, beta, gamma float32
	// lo and hi are Clip's bounds (±Inf when absent).
	lo, hi float32
}

// apply computes dst[i] = f(src[i]) for i < len(dst); dst may be src.
// It runs on the calling goroutine.
func (a activation) apply(dst, src []float32) { applyActivation(a, dst, src) }

// applyParallel is apply spread over up to threads goroutines for large
// slices.
func (a activation) applyParallel(threads int, dst, src []float32) {
	parallelChunks(threads, len(dst), a.cost(), func(lo, hi int) { applyActivation(a, dst[lo:hi], src[lo:hi]) })
}

// gemmEpilogue returns the GEMM epilogue activation that computes a, with
// its clamp bounds; ok is false for kinds the epilogue does not implement
// (use Epilogue.Tile with apply for those).
func (a activation) gemmEpilogue() (act gemm.Activation, lo, hi float32, ok bool) {
	switch a.kind {
	case actNone:
		return gemm.ActNone, 0, 0, true
	case actRelu:
		return gemm.ActRelu, 0, 0, true
	case actClip:
		return gemm.ActClip, a.lo, a.hi, true
	}
	return gemm.ActNone, 0, 0, false
}

// cost is the per-element work estimate used to decide on parallelism.
func (a activation) cost() int {
	switch a.kind {
	case actNone, actRelu, actLeakyRelu, actClip, actHardSigmoid, actHardSwish, actSoftsign, actThresholdedRelu:
		return costCheap
	}
	return costMath
}

// applyActivation computes dst[i] = a(src[i]) over float32 or float64 data;
// dst may be src.
func applyActivation[T floatElem](a activation, dst, src []T) {
	src = src[:len(dst)]
	switch a.kind {
	case actNone:
		copy(dst, src)
	case actRelu:
		reluLoop(dst, src)
	case actLeakyRelu:
		leakyReluLoop(dst, src, T(a.alpha))
	case actClip:
		clipLoop(dst, src, T(a.lo), T(a.hi))
	case actHardSigmoid:
		hardSigmoidLoop(dst, src, float64(a.alpha), float64(a.beta))
	case actHardSwish:
		hardSwishLoop(dst, src)
	case actSoftsign:
		softsignLoop(dst, src)
	case actThresholdedRelu:
		thresholdedReluLoop(dst, src, T(a.alpha))
	case actSigmoid:
		sigmoidLoop(dst, src)
	case actTanh:
		tanhLoop(dst, src)
	case actGelu:
		geluLoop(dst, src)
	case actGeluTanh:
		geluTanhLoop(dst, src)
	case actSoftplus:
		softplusLoop(dst, src)
	case actElu:
		eluLoop(dst, src, float64(a.alpha))
	case actSelu:
		seluLoop(dst, src, float64(a.alpha), float64(a.gamma))
	case actCelu:
		celuLoop(dst, src, float64(a.alpha))
	case actMish:
		mishLoop(dst, src)
	}
}

// reluLoop uses Go's max, which compiles to branch-free code (random signs
// make a branch mispredict half the time) and keeps NaN. Four independent
// elements per iteration let the CPU overlap them.
func reluLoop[T numElem](d, s []T) {
	s = s[:len(d)]
	d, s = affinePrefix(d, s, 1, float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), false)
	i := 0
	for ; i+4 <= len(d); i += 4 {
		x0, x1, x2, x3 := s[i], s[i+1], s[i+2], s[i+3]
		d[i], d[i+1], d[i+2], d[i+3] = max(x0, 0), max(x1, 0), max(x2, 0), max(x3, 0)
	}
	for ; i < len(d); i++ {
		d[i] = max(s[i], 0)
	}
}

// clipLoop clamps with Go's min and max (branch-free, NaN kept). When
// lo > hi every element becomes hi, as numpy.clip and ONNX specify.
func clipLoop[T numElem](d, s []T, lo, hi T) {
	s = s[:len(d)]
	if hi != 0 || !math.Signbit(float64(hi)) { // the vector kernel leaves hi = −0 out
		d, s = affinePrefix(d, s, 1, float32(math.Copysign(0, -1)), float32(lo), float32(hi), false)
	}
	i := 0
	for ; i+4 <= len(d); i += 4 {
		x0, x1, x2, x3 := s[i], s[i+1], s[i+2], s[i+3]
		d[i], d[i+1], d[i+2], d[i+3] = min(max(x0, lo), hi), min(max(x1, lo), hi), min(max(x2, lo), hi), min(max(x3, lo), hi)
	}
	for ; i < len(d); i++ {
		d[i] = min(max(s[i], lo), hi)
	}
}

// leakyReluLoop computes min(x,0)·alpha + max(x,0), branch-free; for
// either sign one term is an exact zero, so the result is exactly x or
// alpha·x rounded once.
func leakyReluLoop[T floatElem](d, s []T, alpha T) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = min(x, 0)*alpha + max(x, 0)
	}
}

func hardSigmoidLoop[T floatElem](d, s []T, alpha, beta float64) {
	s = s[:len(d)]
	// A float32 multiply-add rounded once, as the float64 formula rounded (but for rare double
	// roundings there): within 1 ulp (TestVectorHardSigmoidAccuracy).
	d, s = affinePrefix(d, s, float32(alpha), float32(beta), 0, 1, true)
	for i, x := range s {
		d[i] = T(min(max(alpha*float64(x)+beta, 0), 1))
	}
}

func hardSwish64(x float64) float64 {
	v := x/6 + 0.5
	switch {
	case v <= 0:
		return 0 // also for x = −Inf, where x·0 would be NaN
	case v >= 1:
		return x
	}
	return x * v
}

// vectorPrefix runs the float32 vector kernel vec (nil: none) over all of d and s, the last
// len mod 16 values through a 16-value buffer, and returns what is left for the caller's
// scalar loop: nothing when vec ran, all of d and s otherwise. So every float32 value takes
// the same arithmetic wherever it lies in the slices, and results do not depend on how a
// tensor is cut into chunks (threads, or a convolution's fused tail).
func vectorPrefix[T floatElem](vec func(dst, src []float32, n int), d, s []T) ([]T, []T) {
	d32, ok := any(d).([]float32)
	if !ok || vec == nil {
		return d, s
	}
	s32 := any(s).([]float32)[:len(d32)]
	n := len(d32) &^ 15
	vec(d32, s32, n)
	if rest := len(d32) - n; rest > 0 {
		buf := vectorTails.Get().(*[32]float32) // a local array would escape through vec
		in, out := buf[:16], buf[16:]
		copy(in, s32[n:])
		clear(in[rest:])
		vec(out, in, 16)
		copy(d32[n:], out[:rest])
		vectorTails.Put(buf)
	}
	return d[len(d):], s[len(s):]
}

// vectorTails holds vectorPrefix's padded input and output vectors.
var vectorTails = sync.Pool{New: func() any { return new([32]float32) }}

// affine32Vec, if set, computes dst[i] = min(max(a·src[i] + b, lo), hi) 16 at a time, bit for
// bit as Go's float32 arithmetic and min/max do (with fused, a·x + b rounded once), for any
// hi but −0 (vecmath_amd64.go).
var affine32Vec func(dst, src []float32, n int, a, b, lo, hi float32, fused bool)

// affinePrefix runs affine32Vec (see there) over the longest prefix of whole 16-value blocks
// of d and s (float32 only) and returns the rest of both for the caller's scalar loop. With
// a = 1 and b = −0 it is a clamp of x itself (1·x + (−0) is x exactly).
func affinePrefix[T numElem](d, s []T, a, b, lo, hi float32, fused bool) ([]T, []T) {
	d32, ok := any(d).([]float32)
	if !ok || affine32Vec == nil {
		return d, s
	}
	n := len(d32) &^ 15
	affine32Vec(d32, any(s).([]float32), n, a, b, lo, hi, fused)
	return d[n:], s[n:]
}

// hardSwish32Vec, if set, computes float32 HardSwish 16 at a time (vecmath_amd64.go).
var hardSwish32Vec func(dst, src []float32, n int)

func hardSwishLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	d, s = vectorPrefix(hardSwish32Vec, d, s)
	for i, x := range s {
		d[i] = T(hardSwish64(float64(x)))
	}
}

func softsign64(x float64) float64 {
	if math.IsInf(x, 0) {
		return math.Copysign(1, x)
	}
	return x / (1 + math.Abs(x))
}

func softsignLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = T(softsign64(float64(x)))
	}
}

// thresholdedReluLoop keeps x where x > alpha, else 0; NaN stays NaN like
// every other activation here.
func thresholdedReluLoop[T floatElem](d, s []T, alpha T) {
	s = s[:len(d)]
	for i, x := range s {
		if !(x > alpha) && x == x {
			x = 0
		}
		d[i] = x
	}
}

// sigmoid64 is 1/(1+e^−x): for x → −∞ the denominator overflows to +Inf and
// the result to 0, with no cancellation anywhere.
func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// sigmoid32Vec, if set, computes float32 sigmoids 16 at a time (vecmath_amd64.go).
var sigmoid32Vec func(dst, src []float32, n int)

func sigmoidLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	d, s = vectorPrefix(sigmoid32Vec, d, s)
	for i, x := range s {
		d[i] = T(sigmoid64(float64(x)))
	}
}

func tanhLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = T(math.Tanh(float64(x)))
	}
}

// gelu64 is x/2·erfc(−x/√2), equal to x/2·(1 + erf(x/√2)) but without the
// cancellation of 1 + erf for negative x.
func gelu64(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	return 0.5 * x * math.Erfc(-x/math.Sqrt2)
}

func geluLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = T(gelu64(float64(x)))
	}
}

// geluTanh64 uses 1 + tanh(u) = 2σ(2u), so y = x·σ(2u) without cancellation.
func geluTanh64(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	const k = 0.7978845608028654 // √(2/π)
	u := k * (x + 0.044715*x*x*x)
	return x * sigmoid64(2*u)
}

func geluTanhLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = T(geluTanh64(float64(x)))
	}
}

// softplus64 is ln(1 + e^x) = max(x, 0) + ln(1 + e^−|x|), which neither
// overflows for large x nor loses the tiny result for very negative x.
func softplus64(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

func softplusLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = T(softplus64(float64(x)))
	}
}

func eluLoop[T floatElem](d, s []T, alpha float64) {
	s = s[:len(d)]
	for i, x := range s {
		if x < 0 {
			x = T(alpha * math.Expm1(float64(x)))
		}
		d[i] = x
	}
}

func seluLoop[T floatElem](d, s []T, alpha, gamma float64) {
	s = s[:len(d)]
	for i, x := range s {
		v := float64(x)
		if v <= 0 {
			v = alpha * math.Expm1(v)
		}
		d[i] = T(gamma * v)
	}
}

func celuLoop[T floatElem](d, s []T, alpha float64) {
	s = s[:len(d)]
	for i, x := range s {
		if x < 0 {
			x = T(alpha * math.Expm1(float64(x)/alpha))
		}
		d[i] = x
	}
}

// mish64 is x·tanh(softplus x); at −Inf it is the limit 0 (x·e^x → 0) rather
// than −Inf·0.
func mish64(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	return x * math.Tanh(softplus64(x))
}

func mishLoop[T floatElem](d, s []T) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = T(mish64(float64(x)))
	}
}

// ---- Planning ----

// pointwiseActivations are the operators buildActivation plans (and
// buildActivationGrad differentiates), with the opset version each is
// registered from.
var pointwiseActivations = []struct {
	name  string
	since int
}{
	{"Relu", 6}, {"LeakyRelu", 6}, {"Sigmoid", 6}, {"HardSigmoid", 6}, {"Tanh", 6},
	{"Elu", 6}, {"Selu", 6}, {"Softplus", 1}, {"Softsign", 1}, {"ThresholdedRelu", 10},
	{"Celu", 12}, {"HardSwish", 14}, {"Mish", 18}, {"Gelu", 20},
}

func registerActivations(r *Registry) {
	for _, op := range pointwiseActivations {
		r.Register("", op.name, op.since, buildActivation)
	}
	r.Register("", "Clip", 6, buildClipAttrs)
	r.Register("", "Clip", 11, buildClipInputs)
	r.Register("", "PRelu", 7, buildPRelu)
}

// Default parameters from the ONNX operator specifications.
const (
	seluAlpha = 1.67326319217681884765625
	seluGamma = 1.05070102214813232421875
)

// decodeActivation returns the activation computed by node n if n is a
// pointwise activation whose parameters are known at plan time (Clip's
// bounds must be constant from opset 11 on); ok is false for any other
// node. Malformed attributes give an error naming the node.
func decodeActivation(n *Node) (act activation, ok bool, err error) {
	if canonicalDomain(n.Domain) != "" {
		return activation{}, false, nil
	}
	ok = true
	switch n.OpType {
	case "Relu":
		act.kind = actRelu
	case "LeakyRelu":
		act = activation{kind: actLeakyRelu, alpha: n.Float("alpha", 0.01)}
	case "Sigmoid":
		act.kind = actSigmoid
	case "HardSigmoid":
		act = activation{kind: actHardSigmoid, alpha: n.Float("alpha", 0.2), beta: n.Float("beta", 0.5)}
	case "HardSwish":
		act.kind = actHardSwish
	case "Tanh":
		act.kind = actTanh
	case "Softplus":
		act.kind = actSoftplus
	case "Softsign":
		act.kind = actSoftsign
	case "Mish":
		act.kind = actMish
	case "Elu":
		act = activation{kind: actElu, alpha: n.Float("alpha", 1)}
	case "Selu":
		act = activation{kind: actSelu, alpha: n.Float("alpha", seluAlpha), gamma: n.Float("gamma", seluGamma)}
	case "Celu":
		act = activation{kind: actCelu, alpha: n.Float("alpha", 1)}
		if act.alpha == 0 {
			n.fail("attribute \"alpha\": must be nonzero")
		}
	case "ThresholdedRelu":
		act = activation{kind: actThresholdedRelu, alpha: n.Float("alpha", 1)}
	case "Gelu":
		switch approx := n.String("approximate", "none"); approx {
		case "none":
			act.kind = actGelu
		case "tanh":
			act.kind = actGeluTanh
		default:
			n.fail("attribute \"approximate\": expected \"none\" or \"tanh\", got %q", approx)
		}
	case "Clip":
		act, ok = decodeClip(n)
	default:
		ok = false
	}
	if err := n.Err(); err != nil {
		return activation{}, false, err
	}
	return act, ok, nil
}

// decodeClip reads Clip's bounds: attributes before opset 11 (defaulting
// to ±FLT_MAX), then optional float32 scalar inputs, which must be constant.
func decodeClip(n *Node) (activation, bool) {
	if n.Opset < 11 {
		return activation{kind: actClip, lo: n.Float("min", -math.MaxFloat32), hi: n.Float("max", math.MaxFloat32)}, true
	}
	act := activation{kind: actClip, lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
	for i, bound := range []*float32{&act.lo, &act.hi} {
		if !n.HasInput(i + 1) {
			continue
		}
		c := n.Const(i + 1)
		if c == nil || c.dtype != Float32 || c.Len() != 1 {
			return activation{}, false
		}
		*bound = c.Float32s()[0]
	}
	return act, true
}

func buildActivation(n *Node) (Kernel, error) {
	checkArity(n, 1, 1)
	act, _, err := decodeActivation(n)
	if err != nil {
		return nil, err
	}
	return halfAsFloat{&activationKernel{act}, 0}, nil
}

// activationKernel applies a pointwise activation. Relu also accepts the
// integer types (opset 14).
type activationKernel struct{ act activation }

func (k *activationKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	var ok bool
	switch x.dtype {
	case Float32:
		o := rc.New(Float32, x.shape...)
		k.act.applyParallel(rc.threads, o.Float32s(), x.Float32s())
		out[0], ok = o, true
	case Float64:
		ok = applyUnary(rc, func(d, s []float64) { applyActivation(k.act, d, s) }, x, out, k.act.cost())
	case Int64:
		ok = k.act.kind == actRelu && applyUnary(rc, reluLoop[int64], x, out, costCheap)
	case Int32:
		ok = k.act.kind == actRelu && applyUnary(rc, reluLoop[int32], x, out, costCheap)
	case Int8:
		ok = k.act.kind == actRelu && applyUnary(rc, reluLoop[int8], x, out, costCheap)
	}
	if !ok {
		return errInputType(rc, x.dtype)
	}
	return nil
}

// ---- Clip ----

// clipKernel is Clip. From opset 11 its bounds are optional scalar inputs
// of the input's type (integers from opset 12), read at run time; before,
// they are attributes.
type clipKernel struct {
	fromInputs bool
	lo, hi     float32 // attribute bounds (opset < 11)
}

func buildClipAttrs(n *Node) (Kernel, error) {
	checkArity(n, 1, 1)
	act, _ := decodeClip(n)
	if err := n.Err(); err != nil {
		return nil, err
	}
	return halfAsFloat{&clipKernel{lo: act.lo, hi: act.hi}, 0}, nil
}

func buildClipInputs(n *Node) (Kernel, error) {
	if len(n.Inputs) < 1 || len(n.Inputs) > 3 || !n.HasInput(0) {
		return nil, n.Errorf("expected 1 to 3 inputs (input, min, max), got %d", len(n.Inputs))
	}
	return halfAsFloat{&clipKernel{fromInputs: true}, 0}, nil
}

func (k *clipKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	if !k.fromInputs {
		if x.dtype != Float32 && x.dtype != Float64 {
			return errInputType(rc, x.dtype)
		}
		in = []*Tensor{x, clipBound(x.dtype, k.lo), clipBound(x.dtype, k.hi)}
	}
	for i, b := range in[1:] {
		if b == nil {
			continue
		}
		if b.dtype != x.dtype {
			return rc.Errorf("input %d (%s) has type %v, expected the input's %v", i+1, [2]string{"min", "max"}[i], b.dtype, x.dtype)
		}
		if b.Len() != 1 {
			return rc.Errorf("input %d (%s) must be a scalar, got shape %v", i+1, [2]string{"min", "max"}[i], b.shape)
		}
	}
	var ok bool
	switch x.dtype {
	case Float32:
		ok = clipRun[float32](rc, in, out)
	case Float64:
		ok = clipRun[float64](rc, in, out)
	case Int64:
		ok = clipRun[int64](rc, in, out)
	case Int32:
		ok = clipRun[int32](rc, in, out)
	case Int8:
		ok = clipRun[int8](rc, in, out)
	case Uint8:
		ok = clipRun[uint8](rc, in, out)
	}
	if !ok {
		return errInputType(rc, x.dtype)
	}
	return nil
}

func clipBound(dt DType, v float32) *Tensor {
	if dt == Float64 {
		return Scalar(float64(v))
	}
	return Scalar(v)
}

func clipRun[T numElem](rc *RunContext, in, out []*Tensor) bool {
	lo, hi := typeRange[T]()
	if len(in) > 1 && in[1] != nil {
		lo = Values[T](in[1])[0]
	}
	if len(in) > 2 && in[2] != nil {
		hi = Values[T](in[2])[0]
	}
	return applyUnary(rc, func(d, s []T) { clipLoop(d, s, lo, hi) }, in[0], out, costCheap)
}

// typeRange is the whole range of T: ±Inf for floats.
func typeRange[T numElem]() (lo, hi T) {
	var z T
	switch any(z).(type) {
	case float32, float64:
		inf := math.Inf(1)
		return T(-inf), T(inf)
	case int64:
		l, h := int64(math.MinInt64), int64(math.MaxInt64)
		return T(l), T(h)
	case int32:
		l, h := int64(math.MinInt32), int64(math.MaxInt32)
		return T(l), T(h)
	case int8:
		l, h := int64(math.MinInt8), int64(math.MaxInt8)
		return T(l), T(h)
	}
	h := int64(math.MaxUint8)
	return 0, T(h)
}

// ---- PRelu ----

// preluKernel is PRelu: x < 0 ? slope·x : x, where slope broadcasts to x's
// shape (unidirectionally: the output always has x's shape). A per-channel
// slope [C, 1, 1] against x [N, C, H, W] walks in runs of H·W with one
// slope value each.
type preluKernel struct{}

func buildPRelu(n *Node) (Kernel, error) {
	checkArity(n, 2, 2)
	if err := n.Err(); err != nil {
		return nil, err
	}
	return halfAsFloat{preluKernel{}, 0}, nil
}

func (preluKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x, slope := in[0], in[1]
	if err := requireSameTypes(rc, in); err != nil {
		return err
	}
	bc, err := NewBroadcaster(x.shape, slope.shape)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	if !SameShape(bc.Shape, x.shape) {
		return rc.Errorf("slope shape %v does not broadcast to the input's shape %v", slope.shape, x.shape)
	}
	o := rc.New(x.dtype, x.shape...)
	switch x.dtype {
	case Float32:
		preluRun[float32](rc, bc, o, x, slope)
	case Float64:
		preluRun[float64](rc, bc, o, x, slope)
	case Int64:
		preluRun[int64](rc, bc, o, x, slope)
	case Int32:
		preluRun[int32](rc, bc, o, x, slope)
	default:
		rc.release(o)
		return errInputType(rc, x.dtype)
	}
	out[0] = o
	return nil
}

func preluRun[T numElem](rc *RunContext, bc *Broadcaster, o, x, slope *Tensor) {
	runBinary(rc.threads, bc, Values[T](o), Values[T](x), Values[T](slope), 0, 1, preluLoop[T], costCheap)
}

// preluLoop computes min(x,0)·s + max(x,0), branch-free (see leakyReluLoop).
func preluLoop[T numElem](d, x, s []T, m stepMode) {
	switch m {
	case stepVV:
		x, s = x[:len(d)], s[:len(d)]
		for i := range d {
			d[i] = min(x[i], 0)*s[i] + max(x[i], 0)
		}
	case stepVS:
		x, a := x[:len(d)], s[0]
		for i := range d {
			d[i] = min(x[i], 0)*a + max(x[i], 0)
		}
	case stepSV:
		v, s := x[0], s[:len(d)]
		for i := range d {
			d[i] = min(v, 0)*s[i] + max(v, 0)
		}
	}
}
