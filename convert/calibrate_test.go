package convert_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dcnet-go/dcnet/convert"
	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// The calibration tests recompute everything Calibrate should have done in
// float64 with plain loops: convolutions, patch norms and their percentile
// by sorting, the operator's h·g from decop's spec functions, and the
// least-squares fits from normal equations solved by Gaussian elimination.

// calibNet: conv1 (4×3×3×3, pads 1, bias) → BatchNormalization → Relu →
// conv2 (6×2×3×3, group 2, stride 2, pads 1, no bias) → Relu.
func calibNet() *onnx.ModelProto {
	b := newGraph("calib_net", 13, 21)
	b.node("conv1", "Conv", []string{"x", b.weight("conv1.weight", 0.3, 4, 3, 3, 3), b.weight("conv1.bias", 0.2, 4)}, []string{"c1"},
		onnx.AttrInts("pads", 1, 1, 1, 1), onnx.AttrInts("kernel_shape", 3, 3))
	b.node("bn1", "BatchNormalization", []string{"c1", b.positive("bn1.scale", 0.5, 1.5, 4), b.weight("bn1.shift", 0.3, 4),
		b.weight("bn1.mean", 0.2, 4), b.positive("bn1.var", 0.5, 2, 4)}, []string{"b1"}, onnx.AttrFloat("epsilon", 1e-5))
	b.node("relu1", "Relu", []string{"b1"}, []string{"r1"})
	b.node("conv2", "Conv", []string{"r1", b.weight("conv2.weight", 0.3, 6, 2, 3, 3)}, []string{"c2"},
		onnx.AttrInt("group", 2), onnx.AttrInts("strides", 2, 2), onnx.AttrInts("pads", 1, 1, 1, 1))
	b.node("relu2", "Relu", []string{"c2"}, []string{"y"})
	return b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 3, 8, 8), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, "N", 6, 4, 4))
}

// geom64 is a convolution's geometry for the float64 references.
type geom64 struct {
	c, h, w, m, k, stride, pad, group int
}

func (g geom64) out() int { return (g.h+2*g.pad-g.k)/g.stride + 1 }

// patch returns the zero-padded patch of image x [C, H, W] under output
// (oy, ox) for group gi: [C/group·k·k].
func (g geom64) patch(x []float64, gi, oy, ox int) []float64 {
	cg := g.c / g.group
	p := make([]float64, 0, cg*g.k*g.k)
	for c := gi * cg; c < (gi+1)*cg; c++ {
		for ky := range g.k {
			for kx := range g.k {
				iy, ix := oy*g.stride+ky-g.pad, ox*g.stride+kx-g.pad
				v := 0.0
				if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
					v = x[(c*g.h+iy)*g.w+ix]
				}
				p = append(p, v)
			}
		}
	}
	return p
}

// layerRef holds the float64 quantities of one layer on inputs x [N, C, H, W].
type layerRef struct {
	g       geom64
	n       int
	dots    []float64 // <w_m, x_p>, [N, M, OH·OW]
	norms   []float64 // n_p, [N, group, OH·OW]
	wnorms  []float64 // Nw_m
	opEps   float64
	weights []float64
}

func newLayerRef(g geom64, x []float64, n int, w []float32, eps float64) *layerRef {
	r := &layerRef{g: g, n: n, opEps: eps}
	kk := g.c / g.group * g.k * g.k
	for _, v := range w {
		r.weights = append(r.weights, float64(v))
	}
	for m := range g.m {
		ss := 0.0
		for _, v := range r.weights[m*kk : (m+1)*kk] {
			ss += v * v
		}
		r.wnorms = append(r.wnorms, math.Sqrt(ss+eps))
	}
	o := g.out()
	mg := g.m / g.group
	r.dots = make([]float64, n*g.m*o*o)
	r.norms = make([]float64, n*g.group*o*o)
	for img := range n {
		xi := x[img*g.c*g.h*g.w : (img+1)*g.c*g.h*g.w]
		for gi := range g.group {
			for oy := range o {
				for ox := range o {
					p := g.patch(xi, gi, oy, ox)
					ss := 0.0
					for _, v := range p {
						ss += v * v
					}
					r.norms[(img*g.group+gi)*o*o+oy*o+ox] = math.Sqrt(ss + eps)
					for m := gi * mg; m < (gi+1)*mg; m++ {
						d := 0.0
						for i, v := range p {
							d += v * r.weights[m*kk+i]
						}
						r.dots[(img*g.m+m)*o*o+oy*o+ox] = d
					}
				}
			}
		}
	}
	return r
}

// percentile64 sorts a copy of v and interpolates linearly between the
// ranks around p·(len − 1).
func percentile64(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	pos := p * float64(len(s)-1)
	lo := int(pos)
	if lo == len(s)-1 {
		return s[lo]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

// groupPercentiles is the p-percentile of the patch norms of each group.
func (r *layerRef) groupPercentiles(p float64) []float64 {
	o := r.g.out()
	q := make([]float64, r.g.group)
	for gi := range r.g.group {
		var v []float64
		for img := range r.n {
			v = append(v, r.norms[(img*r.g.group+gi)*o*o:(img*r.g.group+gi+1)*o*o]...)
		}
		q[gi] = percentile64(v, p)
	}
	return q
}

// rho is the reference ρ_m: Nw_m·q_g (weighted) or q_g.
func (r *layerRef) rho(op convert.Operator, p float64) []float64 {
	q := r.groupPercentiles(p)
	rho := make([]float64, r.g.m)
	for m := range rho {
		rho[m] = q[m/(r.g.m/r.g.group)]
		if op.Weighted {
			rho[m] *= r.wnorms[m]
		}
	}
	return rho
}

// output evaluates the decoupled layer with the given per-channel
// parameters: h(r)·g(c) + bias, [N, M, OH·OW].
func (r *layerRef) output(op convert.Operator, alpha, rho, beta, bias []float64) []float64 {
	o := r.g.out()
	mg := r.g.m / r.g.group
	out := make([]float64, len(r.dots))
	for img := range r.n {
		for m := range r.g.m {
			for p := range o * o {
				i := (img*r.g.m+m)*o*o + p
				np := r.norms[(img*r.g.group+m/mg)*o*o+p]
				c := r.dots[i] / r.wnorms[m] / np
				rr := np
				if op.Weighted {
					rr *= r.wnorms[m]
				}
				h := decop.H(op.Magnitude, rr, decop.Params{Alpha: alpha[m], Rho: rho[m], Beta: beta[m]})
				out[i] = h*decop.G(op.Angular, c, float64(op.K)) + bias[m]
			}
		}
	}
	return out
}

// conv is the original convolution Σ w·x + b, [N, M, OH·OW].
func (r *layerRef) conv(bias []float64) []float64 {
	o := r.g.out()
	out := make([]float64, len(r.dots))
	for i, d := range r.dots {
		out[i] = d + bias[(i/(o*o))%r.g.m]
	}
	return out
}

// fitRef solves the per-channel least squares y ≈ bias + α·u (+ β·v)
// with float64 normal equations and Gaussian elimination. It returns
// (α, β, bias) per channel (β nil without v).
func fitRef(g geom64, n int, y, u, v []float64) (alpha, beta, bias []float64) {
	o := g.out()
	k := 2
	if v != nil {
		k = 3
	}
	for m := range g.m {
		var a [3][4]float64 // augmented normal equations over (1, u, v)
		for img := range n {
			for p := range o * o {
				i := (img*g.m+m)*o*o + p
				phi := []float64{1, u[i], 0}
				if v != nil {
					phi[2] = v[i]
				}
				for r := range k {
					for c := range k {
						a[r][c] += phi[r] * phi[c]
					}
					a[r][3] += phi[r] * y[i]
				}
			}
		}
		theta := gauss(a, k)
		bias, alpha = append(bias, theta[0]), append(alpha, theta[1])
		if v != nil {
			beta = append(beta, theta[2])
		}
	}
	return alpha, beta, bias
}

// gauss solves the k×k augmented system a by elimination with partial
// pivoting.
func gauss(a [3][4]float64, k int) []float64 {
	for col := range k {
		piv := col
		for r := col + 1; r < k; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[piv][col]) {
				piv = r
			}
		}
		a[col], a[piv] = a[piv], a[col]
		for r := range k {
			if r != col {
				f := a[r][col] / a[col][col]
				for c := col; c < 4; c++ {
					a[r][c] -= f * a[col][c]
				}
			}
		}
	}
	x := make([]float64, k)
	for i := range k {
		x[i] = a[i][3] / a[i][i]
	}
	return x
}

// relErr64 is ‖a − b‖ / ‖b‖.
func relErr64(a, b []float64) float64 {
	var d, s float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		s += b[i] * b[i]
	}
	return math.Sqrt(d / s)
}

// bnRelu64 applies the calibration net's BatchNormalization and Relu to
// y [N, 4, H·W].
func bnRelu64(t *testing.T, m *onnx.ModelProto, y []float64, plane int) []float64 {
	scale, shift, mean, variance := initFloats(t, m, "bn1.scale"), initFloats(t, m, "bn1.shift"), initFloats(t, m, "bn1.mean"), initFloats(t, m, "bn1.var")
	out := make([]float64, len(y))
	for i, v := range y {
		c := (i / plane) % 4
		v = (v-mean[c])/math.Sqrt(variance[c]+1e-5)*scale[c] + shift[c]
		out[i] = math.Max(v, 0)
	}
	return out
}

// initFloats reads initializer name of m as float64 values.
func initFloats(t *testing.T, m *onnx.ModelProto, name string) []float64 {
	t.Helper()
	for _, init := range m.Graph.Initializer {
		if init.GetName() == name {
			v, _, err := onnx.Float32s(init, "")
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float64, len(v))
			for i, x := range v {
				out[i] = float64(x)
			}
			return out
		}
	}
	t.Fatalf("no initializer %q", name)
	return nil
}

// filled is n copies of v.
func filled(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// layerParams reads a calibrated layer's α, ρ, β and bias (defaults where
// the layer has no such initializer).
func layerParams(t *testing.T, m *onnx.ModelProto, l convert.Layer) (alpha, rho, beta, bias []float64) {
	n := l.OutChannels
	alpha, rho, beta, bias = initFloats(t, m, l.Alpha), filled(n, 1), filled(n, 0.5), filled(n, 0)
	if l.Rho != "" {
		rho = initFloats(t, m, l.Rho)
	}
	if l.Beta != "" {
		beta = initFloats(t, m, l.Beta)
	}
	if l.B != "" {
		bias = initFloats(t, m, l.B)
	}
	return
}

// expectedFit is the reference calibration of one layer: ρ, and (α, β,
// bias) fitted to target y0.
func expectedFit(r *layerRef, op convert.Operator, p float64, y0 []float64) (alpha, rho, beta, bias []float64) {
	m := r.g.m
	rho = filled(m, 1)
	if op.Magnitude == decop.Ball || op.Magnitude == decop.Tanh || op.Magnitude == decop.Seg {
		rho = r.rho(op, p)
	}
	u := r.output(op, filled(m, 1), rho, filled(m, 0), filled(m, 0))
	var v []float64
	if op.Magnitude == decop.Seg || op.Magnitude == decop.Mix {
		v = r.output(op, filled(m, 0), rho, filled(m, 1), filled(m, 0))
	}
	alpha, beta, bias = fitRef(r.g, r.n, y0, u, v)
	if beta == nil {
		beta = filled(m, 0.5)
	}
	return alpha, rho, beta, bias
}

func closeAll(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*math.Max(scale, 1e-3) {
			t.Errorf("%s[%d] = %.7g, want %.7g (tolerance %.1g of %.3g)", what, i, got[i], want[i], tol, scale)
		}
	}
}

func toFloat64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func TestCalibrateAgainstReference(t *testing.T) {
	const p = 0.9
	x := smallInput([]int{64, 3, 8, 8}, 31)
	x64 := toFloat64s(x.Float32s())
	g1 := geom64{c: 3, h: 8, w: 8, m: 4, k: 3, stride: 1, pad: 1, group: 1}
	g2 := geom64{c: 4, h: 8, w: 8, m: 6, k: 3, stride: 2, pad: 1, group: 2}
	for _, opName := range []string{"tanh:cos", "ball:cos", "linear:cos", "seg:cos", "mix:linear", "sphere:sigmoid", "log:sqcos", "tanh:cos unweighted"} {
		t.Run(opName, func(t *testing.T) {
			spec, unweighted := strings.CutSuffix(opName, " unweighted")
			op, err := convert.ParseOperator(spec)
			if err != nil {
				t.Fatal(err)
			}
			op.Weighted = !unweighted
			orig := calibNet()
			m := proto.Clone(orig).(*onnx.ModelProto)
			res, err := convert.Rewrite(m, convert.Options{Operator: op})
			if err != nil {
				t.Fatal(err)
			}
			report, err := convert.Calibrate(context.Background(), m, res.Layers, x,
				convert.CalibrateOptions{RhoPercentile: p, Batch: 24, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(report.Layers) != 2 || report.Layers[0].Node != "conv1" || report.Layers[1].Node != "conv2" || report.Samples != 64 {
				t.Fatalf("report %+v", report)
			}
			// Mix fits α and β of nearly collinear bases: compare the fits'
			// errors, not the parameters.
			tol := 2e-4
			if op.Magnitude == decop.Mix {
				tol = math.Inf(1)
			}

			// Layer 1 on the data.
			ref1 := newLayerRef(g1, x64, 64, initFloat32s(t, m, "conv1.weight"), float64(op.Eps))
			y01 := ref1.conv(initFloats(t, orig, "conv1.bias"))
			wa, wr, wb, wbias := expectedFit(ref1, op, p, y01)
			ga, gr, gb, gbias := layerParams(t, m, res.Layers[0])
			closeAll(t, "conv1 rho", gr, wr, 1e-5)
			closeAll(t, "conv1 alpha", ga, wa, tol)
			closeAll(t, "conv1 beta", gb, wb, tol)
			closeAll(t, "conv1 bias", gbias, wbias, tol)
			y1 := ref1.output(op, ga, gr, gb, gbias)
			checkRelError(t, "conv1", report.Layers[0].RelError, relErr64(y1, y01))
			if fit := relErr64(ref1.output(op, wa, wr, wb, wbias), y01); report.Layers[0].RelError > fit*(1+1e-3)+1e-6 {
				t.Errorf("conv1: relative error %.6g, the reference fit reaches %.6g", report.Layers[0].RelError, fit)
			}

			// Layer 2 on the converted network's activations.
			x2 := bnRelu64(t, m, y1, 64)
			ref2 := newLayerRef(g2, x2, 64, initFloat32s(t, m, "conv2.weight"), float64(op.Eps))
			y02 := ref2.conv(filled(6, 0))
			wa, wr, wb, wbias = expectedFit(ref2, op, p, y02)
			ga, gr, gb, gbias = layerParams(t, m, res.Layers[1])
			closeAll(t, "conv2 rho", gr, wr, 1e-5)
			closeAll(t, "conv2 alpha", ga, wa, 2*tol)
			closeAll(t, "conv2 beta", gb, wb, 2*tol)
			closeAll(t, "conv2 bias", gbias, wbias, 2*tol)
			checkRelError(t, "conv2", report.Layers[1].RelError, relErr64(ref2.output(op, ga, gr, gb, gbias), y02))

			// Calibrating on the original network's activations would give
			// other parameters, unless the operator reproduces the
			// convolution exactly (linear:cos and seg:cos, weighted).
			if report.Layers[0].RelError < 1e-5 || math.IsInf(tol, 1) {
				return
			}
			ref2orig := newLayerRef(g2, bnRelu64(t, m, y01, 64), 64, initFloat32s(t, m, "conv2.weight"), float64(op.Eps))
			oa, _, _, _ := expectedFit(ref2orig, op, p, ref2orig.conv(filled(6, 0)))
			if maxDiff(oa, ga) < 10*2*tol*maxAbs(oa) {
				t.Errorf("conv2's alpha %v is as close to the fit on the original activations %v as to the reference", ga, oa)
			}
		})
	}
}

func initFloat32s(t *testing.T, m *onnx.ModelProto, name string) []float32 {
	v := initFloats(t, m, name)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func checkRelError(t *testing.T, layer string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-3*want+2e-6 {
		t.Errorf("%s: reported relative error %.7g, recomputed %.7g", layer, got, want)
	}
}

func maxDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func maxAbs(a []float64) float64 {
	d := 0.0
	for _, v := range a {
		d = math.Max(d, math.Abs(v))
	}
	return d
}

// The identity operator calibrates to itself: α = 1, the original bias, and
// a model computing what the original computes.
func TestCalibrateIdentityIsExact(t *testing.T) {
	x := smallInput([]int{16, 3, 8, 8}, 5)
	orig := calibNet()
	m := proto.Clone(orig).(*onnx.ModelProto)
	res, err := convert.Rewrite(m, convert.Options{Operator: convert.Identity()})
	if err != nil {
		t.Fatal(err)
	}
	report, err := convert.Calibrate(context.Background(), m, res.Layers, x, convert.CalibrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range report.Layers {
		if l.RelError > 1e-5 || math.Abs(l.Alpha.Min-1) > 1e-5 || math.Abs(l.Alpha.Max-1) > 1e-5 {
			t.Errorf("layer %d: %+v", i, l)
		}
	}
	closeAll(t, "conv1 bias", initFloats(t, m, res.Layers[0].B), initFloats(t, orig, "conv1.bias"), 1e-5)
	reg := runtime.Builtins()
	decop.Register(reg)
	in := map[string]*runtime.Tensor{"x": x}
	if rel := maxRelError(runModel(t, m, in, runtime.WithRegistry(reg)).Float32s(), runModel(t, orig, in).Float32s()); rel > 1e-5 {
		t.Errorf("calibrated identity model differs from the original by %.3g", rel)
	}
}

// The batch size, the thread count and the activation cache do not change
// the result, and the node order of the graph does not matter: layers are
// calibrated in topological order.
func TestCalibrateInvariants(t *testing.T) {
	x := smallInput([]int{40, 3, 8, 8}, 9)
	op, _ := convert.ParseOperator("tanh:cos")
	op.Weighted = true
	calibrated := func(opts convert.CalibrateOptions, reverse bool) ([][]float64, *convert.CalibrationReport) {
		m := calibNet()
		if reverse {
			slices.Reverse(m.Graph.Node)
		}
		res, err := convert.Rewrite(m, convert.Options{Operator: op})
		if err != nil {
			t.Fatal(err)
		}
		report, err := convert.Calibrate(context.Background(), m, res.Layers, x, opts)
		if err != nil {
			t.Fatal(err)
		}
		var params [][]float64
		for _, name := range []string{"conv1", "conv2"} {
			for _, l := range res.Layers {
				if l.Node == name {
					a, r, _, b := layerParams(t, m, l)
					params = append(params, a, r, b)
				}
			}
		}
		return params, report
	}
	want, _ := calibrated(convert.CalibrateOptions{Threads: 1}, false)
	for _, c := range []struct {
		name    string
		opts    convert.CalibrateOptions
		reverse bool
	}{
		{"batches of 7, no cache", convert.CalibrateOptions{Batch: 7, CacheBytes: -1, Threads: 2}, false},
		{"tiny cache", convert.CalibrateOptions{Batch: 16, CacheBytes: 1000}, false},
		{"nodes in reverse order", convert.CalibrateOptions{}, true},
	} {
		got, report := calibrated(c.opts, c.reverse)
		if report.Layers[0].Node != "conv1" {
			t.Errorf("%s: calibrated %s first", c.name, report.Layers[0].Node)
		}
		for i := range want {
			closeAll(t, c.name, got[i], want[i], 1e-5)
		}
	}
}

// A dead filter (all zeros) gives a constant unit response: α stays 1 and
// the bias is the mean target, the original bias.
func TestCalibrateDeadFilter(t *testing.T) {
	m := calibNet()
	for i, init := range m.Graph.Initializer {
		if init.GetName() == "conv1.weight" {
			w, dims, _ := onnx.Float32s(init, "")
			for j := 27; j < 54; j++ { // filter 1
				w[j] = 0
			}
			m.Graph.Initializer[i] = floatInit(t, "conv1.weight", dims, w)
		}
	}
	orig := proto.Clone(m).(*onnx.ModelProto)
	op, _ := convert.ParseOperator("ball:cos")
	res, err := convert.Rewrite(m, convert.Options{Operator: op})
	if err != nil {
		t.Fatal(err)
	}
	report, err := convert.Calibrate(context.Background(), m, res.Layers, smallInput([]int{8, 3, 8, 8}, 2), convert.CalibrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if report.Layers[0].Fallbacks != 1 {
		t.Errorf("fallbacks %d, want 1", report.Layers[0].Fallbacks)
	}
	alpha, _, _, bias := layerParams(t, m, res.Layers[0])
	if want := initFloats(t, orig, "conv1.bias")[1]; alpha[1] != 1 || math.Abs(bias[1]-want) > 1e-6 {
		t.Errorf("dead channel: alpha %g bias %g, want 1 and %g", alpha[1], bias[1], want)
	}
}

func floatInit(t *testing.T, name string, dims []int, data []float32) *onnx.TensorProto {
	tp, err := onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_FLOAT, Dims: dims, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// A bias initializer shared by two layers is not overwritten for the
// other: the calibrated layer gets a bias of its own.
func TestCalibrateSharedBias(t *testing.T) {
	b := newGraph("shared", 13, 5)
	b.weight("bias", 0.3, 4)
	b.node("conv1", "Conv", []string{"x", b.weight("w1", 0.3, 4, 4, 3, 3), "bias"}, []string{"c1"}, onnx.AttrInts("pads", 1, 1, 1, 1))
	b.node("relu", "Relu", []string{"c1"}, []string{"r1"})
	b.node("conv2", "Conv", []string{"r1", b.weight("w2", 0.3, 4, 4, 3, 3), "bias"}, []string{"y"}, onnx.AttrInts("pads", 1, 1, 1, 1))
	m := b.model(onnx.ValueInfo("x", onnx.TensorProto_FLOAT, "N", 4, 6, 6), onnx.ValueInfo("y", onnx.TensorProto_FLOAT, "N", 4, 6, 6))
	orig := proto.Clone(m).(*onnx.ModelProto)
	op, _ := convert.ParseOperator("tanh:cos")
	res, err := convert.Rewrite(m, convert.Options{Operator: op, Selection: convert.Selection{SkipLast: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := convert.Calibrate(context.Background(), m, res.Layers, smallInput([]int{8, 4, 6, 6}, 3), convert.CalibrateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res.Layers[0].B == "bias" {
		t.Fatal("the calibrated layer still reads the shared bias")
	}
	closeAll(t, "shared bias", initFloats(t, m, "bias"), initFloats(t, orig, "bias"), 0)
}

func TestCalibrateErrors(t *testing.T) {
	op, _ := convert.ParseOperator("tanh:cos")
	rewritten := func() (*onnx.ModelProto, []convert.Layer) {
		m := calibNet()
		res, err := convert.Rewrite(m, convert.Options{Operator: op})
		if err != nil {
			t.Fatal(err)
		}
		return m, res.Layers
	}
	x := smallInput([]int{4, 3, 8, 8}, 1)
	for _, c := range []struct {
		name string
		edit func(m *onnx.ModelProto, layers []convert.Layer) *runtime.Tensor
		opts convert.CalibrateOptions
		want string
	}{
		{"percentile", nil, convert.CalibrateOptions{RhoPercentile: 1.5}, "must be in (0, 1]"},
		{"no data", func(*onnx.ModelProto, []convert.Layer) *runtime.Tensor {
			return runtime.Zeros(runtime.Float32, 0, 3, 8, 8)
		}, convert.CalibrateOptions{}, "no sample"},
		{"int data", func(*onnx.ModelProto, []convert.Layer) *runtime.Tensor {
			return runtime.Zeros(runtime.Int64, 2, 3, 8, 8)
		}, convert.CalibrateOptions{}, "float32"},
		{"two inputs", func(m *onnx.ModelProto, _ []convert.Layer) *runtime.Tensor {
			m.Graph.Input = append(m.Graph.Input, onnx.ValueInfo("z", onnx.TensorProto_FLOAT, 1))
			return x
		}, convert.CalibrateOptions{}, "exactly one data input"},
		{"missing node", func(_ *onnx.ModelProto, layers []convert.Layer) *runtime.Tensor {
			layers[1].Y = "nowhere"
			return x
		}, convert.CalibrateOptions{}, `no DecoupledConv node writes "nowhere"`},
		{"no rho", func(_ *onnx.ModelProto, layers []convert.Layer) *runtime.Tensor {
			layers[0].Rho = ""
			return x
		}, convert.CalibrateOptions{}, `node "conv1" (DecoupledConv): magnitude tanh uses rho`},
		{"wrong shape", func(*onnx.ModelProto, []convert.Layer) *runtime.Tensor { return smallInput([]int{2, 2, 8, 8}, 1) }, convert.CalibrateOptions{}, "conv1"},
	} {
		m, layers := rewritten()
		data := x
		if c.edit != nil {
			data = c.edit(m, layers)
		}
		_, err := convert.Calibrate(context.Background(), m, layers, data, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
