package runtime

import (
	"math"

	"github.com/dcnet-go/dcnet/internal/parallel"
)

// Backward of BatchNormalization, Softmax and LogSoftmax.
//
// BatchNormalization trains the PyTorch way. In a training-mode forward it
// normalises x: [N, C, D...] with the batch's own statistics, the mean μ and
// the biased variance σ² of each channel over N and D..., and updates the
// running statistics with the node's momentum m (ONNX's convention, 0.9 by
// default, is PyTorch's momentum 1 − m):
//
//	running_mean = m·running_mean + (1 − m)·μ
//	running_var  = m·running_var  + (1 − m)·σ²·n/(n − 1)
//
// with the unbiased batch variance in running_var, as PyTorch does
// (n = N·D... values per channel). The backward goes through μ and σ²: with
// x̂ = (x − μ)/√(σ² + ε),
//
//	dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/√(σ² + ε) · (dy − dβ/n − x̂·dγ/n).
//
// Frozen (WithFrozenBatchNorm), the layer is the affine map of inference,
// y = γ·(x − running_mean)/√(running_var + ε) + β, in training too, and its
// backward is that of an affine map. Channel sums accumulate in float64,
// one channel per goroutine, so the result does not depend on the thread
// count.

func registerNormGrad(r *Registry) {
	r.RegisterGrad("", "BatchNormalization", 7, buildBatchNormGrad)
	r.RegisterGrad("", "Softmax", 1, buildSoftmaxGrad)
	r.RegisterGrad("", "LogSoftmax", 1, buildSoftmaxGrad)
}

// batchNormGrad is the backward of a frozen BatchNormalization (the affine
// map with the running statistics).
type batchNormGrad struct {
	k    *batchNormKernel
	need []bool
}

// batchNormTrainGrad is BatchNormalization with batch statistics.
type batchNormTrainGrad struct{ batchNormGrad }

func buildBatchNormGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*batchNormKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	if needs(g.Need, 3) || needs(g.Need, 4) {
		return nil, g.Errorf("unsupported: gradients of the running statistics (inputs 3 and 4)")
	}
	base := batchNormGrad{k: k, need: g.Need}
	if g.FrozenStats {
		return &base, nil
	}
	return &batchNormTrainGrad{base}, nil
}

func (b *batchNormGrad) Saves() (inputs, outputs []bool) {
	// x for dγ; γ and the running statistics for dx.
	return []bool{needs(b.need, 1), true, false, true, true}, nil
}

func (b *batchNormTrainGrad) Saves() (inputs, outputs []bool) {
	return []bool{needs(b.need, 0) || needs(b.need, 1), true}, nil
}

// batchNormState is what a training-mode forward keeps: each channel's
// batch mean and 1/√(σ² + ε).
type batchNormState struct {
	mean, invStd []float64
}

// TrainForward implements TrainForwarder.
func (b *batchNormTrainGrad) TrainForward(rc *RunContext, a *ForwardArgs) error {
	x := a.In[0]
	if x.dtype != Float32 {
		return rc.Errorf("training: element type %v is not supported (FLOAT only)", x.dtype)
	}
	n, c, inner, err := channelsOf(rc, x)
	if err != nil {
		return err
	}
	p, err := channelParams(rc, c, batchNormInputs, a.In[1], a.In[2], a.In[3], a.In[4])
	if err != nil {
		return err
	}
	count := n * inner
	if count == 0 {
		return rc.Errorf("input X %v: no values to compute batch statistics from", x)
	}
	st := &batchNormState{mean: make([]float64, c), invStd: make([]float64, c)}
	variance := make([]float64, c)
	batchStats(rc.threads, x.Float32s(), n, c, inner, st.mean, variance)
	for ch := range c {
		st.invStd[ch] = 1 / math.Sqrt(variance[ch]+b.k.eps)
	}
	scale, bias := make([]float64, c), make([]float64, c)
	for ch := range c {
		scale[ch] = p[0][ch] * st.invStd[ch]
		bias[ch] = p[1][ch] - st.mean[ch]*scale[ch]
	}
	y := rc.NewShaped(Float32, x.shape)
	channelAffine(normThreads(rc, x.Len()), x.Float32s(), y.Float32s(), n, c, inner, scale, bias)
	a.Out[0] = y
	a.State = st
	m := b.k.momentum
	unbias := 1.0
	if count > 1 {
		unbias = float64(count) / float64(count-1)
	}
	running := [2][]float64{make([]float64, c), make([]float64, c)}
	for ch := range c {
		running[0][ch] = m*p[2][ch] + (1-m)*st.mean[ch]
		running[1][ch] = m*p[3][ch] + (1-m)*variance[ch]*unbias
	}
	for i, r := range running {
		slot := 3 + i
		if a.In[slot].dtype == Float32 {
			a.Update[slot] = float32Tensor(rc, r, a.In[slot].shape)
		}
		if out := 1 + i; out < len(a.Out) {
			a.Out[out] = float32Tensor(rc, r, a.In[slot].shape)
		}
	}
	return nil
}

// float32Tensor returns v rounded to float32 as a tensor of the given shape.
func float32Tensor(rc *RunContext, v []float64, shape []int) *Tensor {
	t := rc.NewShaped(Float32, shape)
	d := t.Float32s()
	for i, x := range v {
		d[i] = float32(x)
	}
	return t
}

// batchStats computes each channel's mean and biased variance over x:
// [N, C, inner], two passes in float64, one channel per goroutine.
func batchStats(threads int, x []float32, n, c, inner int, mean, variance []float64) {
	count := float64(n * inner)
	parallel.For(min(threads, c), c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var s float64
			for b := range n {
				s += sum64(x[(b*c+ch)*inner : (b*c+ch+1)*inner])
			}
			m := s / count
			var ss float64
			for b := range n {
				ss += squaredDeviations64(x[(b*c+ch)*inner:(b*c+ch+1)*inner], m)
			}
			mean[ch], variance[ch] = m, ss/count
		}
	})
}

// sum64 adds x in float64 with four accumulators.
func sum64(x []float32) float64 {
	var s float64
	if sum32Vec != nil && len(x) >= 16 {
		n := len(x) &^ 15
		s, x = sum32Vec(x, n), x[n:]
	}
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return s + ((s0 + s1) + (s2 + s3))
}

// sqDev32Vec and dotCentered32Vec, if set, compute squaredDeviations64 and dotCentered64 16
// values at a time (vecmath_amd64.go); the statistics of batch normalisation in training took a
// tenth of a CNN9 step in these loops.
var (
	sqDev32Vec       func(x []float32, n int, m float64) float64
	dotCentered32Vec func(dy, x []float32, n int, m float64) (sdy, sdyx float64)
)

// squaredDeviations64 returns Σ (x − m)² in float64.
func squaredDeviations64(x []float32, m float64) float64 {
	var s float64
	if sqDev32Vec != nil && len(x) >= 16 {
		n := len(x) &^ 15
		s, x = sqDev32Vec(x, n, m), x[n:]
	}
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(x); i += 2 {
		d0, d1 := float64(x[i])-m, float64(x[i+1])-m
		s0 += d0 * d0
		s1 += d1 * d1
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - m
		s0 += d * d
	}
	return s + (s0 + s1)
}

// Backward of the training-mode layer.
func (b *batchNormTrainGrad) Backward(rc *RunContext, g *GradArgs) error {
	st, ok := g.State.(*batchNormState)
	if !ok {
		return rc.Errorf("internal error: no batch statistics from the training forward")
	}
	x, dy := g.In[0], g.DOut[0]
	n, c, inner := g.InShapes[0][0], g.InShapes[0][1], NumElements(g.InShapes[0][2:])
	gamma, err := channelParams(rc, c, batchNormInputs[:1], g.In[1])
	if err != nil {
		return err
	}
	dBeta, dGamma := make([]float64, c), make([]float64, c)
	xs, dys := x.Float32s(), dy.Float32s()
	parallel.For(min(rc.threads, c), c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			m, is := st.mean[ch], st.invStd[ch]
			var sb, sg float64
			for bi := range n {
				off := (bi*c + ch) * inner
				s0, s1 := dotCentered64(dys[off:off+inner], xs[off:off+inner], m)
				sb += s0
				sg += s1
			}
			dBeta[ch], dGamma[ch] = sb, sg*is
		}
	})
	if needs(b.need, 0) {
		count := float64(n * inner)
		// dx = k·(dy − dβ/n) − k·x̂·dγ/n = k1·dy + k2·x + k3 per channel.
		k1, k2, k3 := make([]float64, c), make([]float64, c), make([]float64, c)
		for ch := range c {
			k := gamma[0][ch] * st.invStd[ch]
			s := st.invStd[ch] * dGamma[ch] / count
			k1[ch] = k
			k2[ch] = -k * s
			k3[ch] = -k*dBeta[ch]/count + k*s*st.mean[ch]
		}
		dx := rc.NewShaped(Float32, g.InShapes[0])
		channelLinear2(normThreads(rc, len(xs)), dys, xs, dx.Float32s(), n, c, inner, k1, k2, k3)
		g.DIn[0] = dx
	}
	setChannelGrads(rc, g, b.need, dGamma, dBeta)
	return nil
}

// dotCentered64 returns Σ dy and Σ dy·(x − m) in float64.
func dotCentered64(dy, x []float32, m float64) (sdy, sdyx float64) {
	x = x[:len(dy)]
	if dotCentered32Vec != nil && len(dy) >= 16 {
		n := len(dy) &^ 15
		sdy, sdyx = dotCentered32Vec(dy, x, n, m)
		dy, x = dy[n:], x[n:]
	}
	var a0, a1, b0, b1 float64
	i := 0
	for ; i+2 <= len(dy); i += 2 {
		d0, d1 := float64(dy[i]), float64(dy[i+1])
		a0 += d0
		a1 += d1
		b0 += d0 * (float64(x[i]) - m)
		b1 += d1 * (float64(x[i+1]) - m)
	}
	for ; i < len(dy); i++ {
		d := float64(dy[i])
		a0 += d
		b0 += d * (float64(x[i]) - m)
	}
	return sdy + (a0 + a1), sdyx + (b0 + b1)
}

// channelLinear2 computes dx = k1[c]·dy + k2[c]·x + k3[c] over [N, C, inner].
func channelLinear2(threads int, dy, x, dx []float32, n, c, inner int, k1, k2, k3 []float64) {
	parallel.For(threads, n*c, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ch := r % c
			a, b, e := float32(k1[ch]), float32(k2[ch]), float32(k3[ch])
			d, xs, o := dy[r*inner:(r+1)*inner], x[r*inner:(r+1)*inner], dx[r*inner:(r+1)*inner]
			for i := range o {
				o[i] = a*d[i] + b*xs[i] + e
			}
		}
	})
}

// setChannelGrads hands out dγ and dβ where they are needed.
func setChannelGrads(rc *RunContext, g *GradArgs, need []bool, dGamma, dBeta []float64) {
	if needs(need, 1) {
		g.DIn[1] = float32Tensor(rc, dGamma, g.InShapes[1])
	}
	if needs(need, 2) {
		g.DIn[2] = float32Tensor(rc, dBeta, g.InShapes[2])
	}
}

// Backward of the frozen layer: dx = γ/√(var + ε)·dy, dγ = Σ dy·x̂ with the
// running statistics, dβ = Σ dy.
func (b *batchNormGrad) Backward(rc *RunContext, g *GradArgs) error {
	dy := g.DOut[0]
	n, c, inner := g.InShapes[0][0], g.InShapes[0][1], NumElements(g.InShapes[0][2:])
	// p: scale, running mean, running variance.
	p, err := channelParams(rc, c, []string{"scale", "input_mean", "input_var"}, g.In[1], g.In[3], g.In[4])
	if err != nil {
		return err
	}
	invStd := make([]float64, c)
	for ch := range c {
		invStd[ch] = 1 / math.Sqrt(p[2][ch]+b.k.eps)
	}
	dys := dy.Float32s()
	if needs(b.need, 0) {
		scale, zero := make([]float64, c), make([]float64, c)
		for ch := range c {
			scale[ch] = p[0][ch] * invStd[ch]
		}
		dx := rc.NewShaped(Float32, g.InShapes[0])
		channelAffine(normThreads(rc, len(dys)), dys, dx.Float32s(), n, c, inner, scale, zero)
		g.DIn[0] = dx
	}
	if !needs(b.need, 1) && !needs(b.need, 2) {
		return nil
	}
	var xs []float32
	if needs(b.need, 1) {
		xs = g.In[0].Float32s()
	}
	dBeta, dGamma := make([]float64, c), make([]float64, c)
	parallel.For(min(rc.threads, c), c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var sb, sg float64
			for bi := range n {
				off := (bi*c + ch) * inner
				if xs == nil {
					sb += sum64(dys[off : off+inner])
					continue
				}
				s0, s1 := dotCentered64(dys[off:off+inner], xs[off:off+inner], p[1][ch])
				sb += s0
				sg += s1
			}
			dBeta[ch], dGamma[ch] = sb, sg*invStd[ch]
		}
	})
	setChannelGrads(rc, g, b.need, dGamma, dBeta)
	return nil
}

// ---- Softmax, LogSoftmax ----

// softmaxGrad is the backward along the softmax axis: for Softmax
// dx = y·(dy − Σ dy·y), for LogSoftmax dx = dy − exp(y)·Σ dy.
type softmaxGrad struct{ k *softmaxKernel }

func buildSoftmaxGrad(g *GradNode) (GradKernel, error) {
	k, ok := g.Forward.(*softmaxKernel)
	if !ok {
		return nil, g.Errorf("internal error: unexpected forward kernel %T", g.Forward)
	}
	return &softmaxGrad{k: k}, nil
}

func (s *softmaxGrad) Saves() (inputs, outputs []bool) { return nil, []bool{true} }

func (s *softmaxGrad) Backward(rc *RunContext, g *GradArgs) error {
	y, dy := g.Out[0], g.DOut[0]
	if y.dtype != Float32 {
		return rc.Errorf("backward: element type %v is not supported (FLOAT only)", y.dtype)
	}
	axis, _ := normAxis(int(s.k.axis), y.Rank())
	geo := softmaxGeometry{outer: NumElements(y.shape[:axis]), n: y.shape[axis], inner: NumElements(y.shape[axis+1:]), log: s.k.log}
	if s.k.coerce {
		geo.n, geo.inner = NumElements(y.shape[axis:]), 1
	}
	dx := rc.New(Float32, y.shape...)
	ys, dys, dxs := y.Float32s(), dy.Float32s(), dx.Float32s()
	block := geo.n * geo.inner
	parallel.For(normThreads(rc, len(ys)), geo.outer, func(lo, hi int) {
		acc := make([]float64, geo.inner)
		for o := lo; o < hi; o++ {
			yb, db, xb := ys[o*block:(o+1)*block], dys[o*block:(o+1)*block], dxs[o*block:(o+1)*block]
			clear(acc)
			for j := range geo.n {
				for i := range geo.inner {
					d := float64(db[j*geo.inner+i])
					if !geo.log {
						d *= float64(yb[j*geo.inner+i])
					}
					acc[i] += d
				}
			}
			for j := range geo.n {
				for i := range geo.inner {
					at := j*geo.inner + i
					yv, d := float64(yb[at]), float64(db[at])
					if geo.log {
						xb[at] = float32(d - math.Exp(yv)*acc[i])
					} else {
						xb[at] = float32(yv * (d - acc[i]))
					}
				}
			}
		}
	})
	g.DIn[0] = dx
	return nil
}
