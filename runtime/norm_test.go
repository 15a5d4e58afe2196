package runtime_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// nrmU is float32's unit roundoff.
var nrmU = math.Ldexp(1, -24)

// nrmRand returns n normal values scaled by s and shifted by off, rounded
// to float32 when dt is FLOAT (so the reference sees what the tensor holds).
func nrmRand(rng *rand.Rand, dt runtime.DType, n int, s, off float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = off + s*rng.NormFloat64()
		if dt == runtime.Float32 {
			v[i] = float64(float32(v[i]))
		}
	}
	return v
}

func nrmPositive(rng *rand.Rand, dt runtime.DType, n int) []float64 {
	v := nrmRand(rng, dt, n, 1, 0)
	for i := range v {
		v[i] = math.Abs(v[i]) + 0.1
		if dt == runtime.Float32 {
			v[i] = float64(float32(v[i]))
		}
	}
	return v
}

// nrmBatchProblem is one BatchNormalization: x: [N, C, D...] and the four
// per-channel parameters.
type nrmBatchProblem struct {
	shape                      []int
	dt                         runtime.DType
	opset                      int
	eps, momentum              float32
	training, constParams      bool
	x, scale, bias, mean, vari []float64
}

func (p *nrmBatchProblem) String() string {
	return fmt.Sprintf("BatchNormalization-%d %v%v training=%v const=%v", p.opset, p.dt, p.shape, p.training, p.constParams)
}

func (p *nrmBatchProblem) spec() nodeSpec {
	c := []int{p.shape[1]}
	ns := nodeSpec{op: "BatchNormalization", opset: p.opset,
		attrs: []*onnx.AttributeProto{attrFloat("epsilon", p.eps), attrFloat("momentum", p.momentum)},
		inputs: []*runtime.Tensor{mmTensor(p.dt, p.shape, p.x), mmTensor(p.dt, c, p.scale), mmTensor(p.dt, c, p.bias),
			mmTensor(p.dt, c, p.mean), mmTensor(p.dt, c, p.vari)},
		constant: map[int]bool{1: p.constParams, 2: p.constParams, 3: p.constParams, 4: p.constParams}}
	if p.training {
		ns.attrs = append(ns.attrs, attrInt("training_mode", 1))
		ns.outputs = 3
	}
	return ns
}

// reference returns Y, the running mean and variance (training mode), and
// per element of Y a magnitude for its tolerance.
func (p *nrmBatchProblem) reference() (y, mag, runMean, runVar []float64) {
	n, c := p.shape[0], p.shape[1]
	inner := mmCount(p.shape[2:])
	mean, vari := p.mean, p.vari
	if p.training {
		mean, vari = make([]float64, c), make([]float64, c)
		for ch := range c {
			var vals []float64
			for b := range n {
				vals = append(vals, p.x[(b*c+ch)*inner:(b*c+ch+1)*inner]...)
			}
			for _, v := range vals {
				mean[ch] += v / float64(len(vals))
			}
			for _, v := range vals {
				vari[ch] += (v - mean[ch]) * (v - mean[ch]) / float64(len(vals))
			}
			m := float64(p.momentum)
			runMean = append(runMean, p.mean[ch]*m+mean[ch]*(1-m))
			runVar = append(runVar, p.vari[ch]*m+vari[ch]*(1-m))
		}
	}
	y, mag = make([]float64, len(p.x)), make([]float64, len(p.x))
	for i, v := range p.x {
		ch := (i / inner) % c
		sd := math.Sqrt(vari[ch] + float64(p.eps))
		y[i] = (v-mean[ch])/sd*p.scale[ch] + p.bias[ch]
		a := p.scale[ch] / sd
		mag[i] = math.Abs(a*v) + math.Abs(p.bias[ch]-mean[ch]*a) + math.Abs(y[i])
	}
	return y, mag, runMean, runVar
}

func (p *nrmBatchProblem) check(t *testing.T) {
	t.Helper()
	out, err := p.spec().run(t, runtime.WithoutConstantFolding(), runtime.WithThreads(2))
	if err != nil {
		t.Fatalf("%v: %v", p, err)
	}
	y, mag, rm, rv := p.reference()
	nrmCompare(t, p.String()+" Y", out[0], p.dt, p.shape, y, mag, 3)
	if p.training {
		c := []int{p.shape[1]}
		nrmCompare(t, p.String()+" running_mean", out[1], p.dt, c, rm, nrmAbs(rm), 2)
		nrmCompare(t, p.String()+" running_var", out[2], p.dt, c, rv, nrmAbs(rv), 2)
	}
}

func nrmAbs(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Abs(x)
	}
	return out
}

// nrmCompare checks type, shape and |got − want| ≤ units·u·mag (float32) or
// 1e-12·(mag + 1e-300) (float64).
func nrmCompare(t *testing.T, what string, got *runtime.Tensor, dt runtime.DType, shape []int, want, mag []float64, units float64) {
	t.Helper()
	if got == nil || got.DType() != dt || !runtime.SameShape(got.Shape(), shape) {
		t.Fatalf("%s: got %v, want %v%v", what, got, dt, shape)
	}
	tol := units * nrmU
	if dt == runtime.Float64 {
		tol = 1e-12
	}
	for i, g := range (got).Float64Values() {
		if d := math.Abs(g - want[i]); !(d <= tol*mag[i]+1e-300) {
			t.Fatalf("%s: element %d = %v, want %v (error %.3g > %.3g)", what, i, g, want[i], d, tol*mag[i])
		}
	}
}

func nrmRandShape(rng *rand.Rand, minRank, maxRank int) []int {
	shape := make([]int, minRank+rng.Intn(maxRank-minRank+1))
	for i := range shape {
		shape[i] = 1 + rng.Intn(5)
	}
	return shape
}

func TestBatchNormRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for i := range 120 {
		dt := []runtime.DType{runtime.Float32, runtime.Float32, runtime.Float64}[rng.Intn(3)]
		shape := nrmRandShape(rng, 2, 5)
		c := shape[1]
		p := &nrmBatchProblem{shape: shape, dt: dt, opset: []int{9, 14, 15}[rng.Intn(3)], eps: 1e-3, momentum: 0.8,
			constParams: rng.Intn(2) == 0,
			x:           nrmRand(rng, dt, mmCount(shape), 2, 5), scale: nrmRand(rng, dt, c, 1, 0),
			bias: nrmRand(rng, dt, c, 1, 0), mean: nrmRand(rng, dt, c, 1, 5), vari: nrmPositive(rng, dt, c)}
		p.training = p.opset >= 14 && i%3 == 0
		p.check(t)
	}
	// Large enough to run in parallel.
	p := &nrmBatchProblem{shape: []int{2, 16, 48, 48}, dt: runtime.Float32, opset: 15, eps: 1e-5, momentum: 0.9, constParams: true}
	p.x = nrmRand(rng, p.dt, mmCount(p.shape), 1, 0)
	p.scale, p.bias, p.mean, p.vari = nrmRand(rng, p.dt, 16, 1, 0), nrmRand(rng, p.dt, 16, 1, 0), nrmRand(rng, p.dt, 16, 1, 0), nrmPositive(rng, p.dt, 16)
	p.check(t)
}

func TestBatchNormErrors(t *testing.T) {
	f := func(shape ...int) *runtime.Tensor { return runtime.Zeros(runtime.Float32, shape...) }
	bn := func(opset int, attrs []*onnx.AttributeProto, outputs int, in ...*runtime.Tensor) nodeSpec {
		return nodeSpec{op: "BatchNormalization", opset: opset, attrs: attrs, inputs: in, outputs: outputs}
	}
	mmWantError(t, bn(15, nil, 1, f(2, 3, 4), f(3), f(3), f(4), f(3)), "input_mean", "[3]")
	mmWantError(t, bn(15, nil, 1, f(3), f(3), f(3), f(3), f(3)), "[N, C, ...]")
	mmWantError(t, bn(15, nil, 1, f(2, 3), f(3), f(3), f(3)), "5 inputs")
	mmWantError(t, bn(9, nil, 5, f(2, 3), f(3), f(3), f(3), f(3)), "before opset 14")
	mmWantError(t, bn(15, nil, 3, f(2, 3), f(3), f(3), f(3), f(3)), "training_mode=1")
	mmWantError(t, bn(7, []*onnx.AttributeProto{attrInt("spatial", 0)}, 1, f(2, 3), f(3), f(3), f(3), f(3)), "spatial")
	mmWantError(t, bn(15, nil, 1, runtime.Zeros(runtime.Int64, 2, 3), f(3), f(3), f(3), f(3)), "unsupported element type")
	// Constant parameters of the wrong length are caught when running.
	ns := bn(15, nil, 1, f(2, 3, 4), f(2), f(2), f(2), f(2))
	ns.constant = map[int]bool{1: true, 2: true, 3: true, 4: true}
	mmWantError(t, ns, "input scale")
}

// nrmLayerProblem is one LayerNormalization of x with scale (and bias)
// of the given shapes.
type nrmLayerProblem struct {
	shape, wShape []int
	axis          int
	dt            runtime.DType
	withBias      bool
	x, w, b       []float64
}

// reference returns Y, Mean and InvStdDev, and for Y a magnitude for its
// tolerance: |y| plus, scaled down for FLOAT (whose result rounding
// dominates), the size of the terms that cancel in float64.
func (p *nrmLayerProblem) reference() (y, mag, mean, inv []float64) {
	axis := (p.axis + len(p.shape)) % max(len(p.shape), 1)
	rows, cols := mmCount(p.shape[:axis]), mmCount(p.shape[axis:])
	norm := p.shape[axis:]
	y, mag = make([]float64, len(p.x)), make([]float64, len(p.x))
	cancel := 1.0
	if p.dt == runtime.Float32 {
		cancel = 1e-6
	}
	for r := range rows {
		row := p.x[r*cols : (r+1)*cols]
		var m, v float64
		for _, x := range row {
			m += x / float64(cols)
		}
		for _, x := range row {
			v += (x - m) * (x - m) / float64(cols)
		}
		is := 1 / math.Sqrt(v+float64(float32(1e-5))) // epsilon is a float32 attribute
		mean, inv = append(mean, m), append(inv, is)
		for i, x := range row {
			w := p.w[nrmBroadcastIndex(p.wShape, norm, i)]
			y[r*cols+i] = (x - m) * is * w
			terms := (math.Abs(x) + math.Abs(m)) * is * math.Abs(w)
			if p.withBias {
				b := p.b[nrmBroadcastIndex(p.wShape, norm, i)]
				y[r*cols+i] += b
				terms += math.Abs(b)
			}
			mag[r*cols+i] = math.Abs(y[r*cols+i]) + cancel*terms
		}
	}
	return y, mag, mean, inv
}

// nrmBroadcastIndex maps flat index i of shape to the index of a
// right-aligned broadcast operand of shape small.
func nrmBroadcastIndex(small, shape []int, i int) int {
	off, stride := 0, 1
	for d := len(shape) - 1; d >= 0; d-- {
		c := i % shape[d]
		i /= shape[d]
		sd := len(small) - len(shape) + d
		if sd >= 0 && small[sd] != 1 {
			off += c * stride
		}
		if sd >= 0 {
			stride *= small[sd]
		}
	}
	return off
}

func TestLayerNormRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(22))
	for range 150 {
		dt := []runtime.DType{runtime.Float32, runtime.Float32, runtime.Float64}[rng.Intn(3)]
		shape := nrmRandShape(rng, 1, 4)
		r := len(shape)
		axis := rng.Intn(r)
		norm := shape[axis:]
		// Scale and bias: the normalised shape, with some dimensions
		// broadcast and some leading ones.
		wShape := append([]int(nil), norm...)
		switch rng.Intn(3) {
		case 1:
			wShape[rng.Intn(len(wShape))] = 1
		case 2:
			wShape = append([]int{1}, wShape...)
		}
		p := &nrmLayerProblem{shape: shape, wShape: wShape, axis: axis - r*rng.Intn(2), dt: dt, withBias: rng.Intn(2) == 0,
			x: nrmRand(rng, dt, mmCount(shape), 3, 10), w: nrmRand(rng, dt, mmCount(wShape), 1, 0), b: nrmRand(rng, dt, mmCount(wShape), 1, 0)}
		ns := nodeSpec{op: "LayerNormalization", opset: 17, attrs: []*onnx.AttributeProto{attrInt("axis", int64(p.axis))},
			inputs: []*runtime.Tensor{mmTensor(dt, shape, p.x), mmTensor(dt, wShape, p.w)}, outputs: 3, constant: map[int]bool{1: true, 2: true}}
		if p.withBias {
			ns.inputs = append(ns.inputs, mmTensor(dt, wShape, p.b))
		}
		out := ns.mustRun(t, runtime.WithoutConstantFolding())
		y, mag, mean, inv := p.reference()
		statShape := append([]int(nil), shape[:axis]...)
		for range norm {
			statShape = append(statShape, 1)
		}
		what := fmt.Sprintf("LayerNormalization %v%v axis %d W%v", dt, shape, p.axis, wShape)
		nrmCompare(t, what+" Y", out[0], dt, shape, y, mag, 2)
		nrmCompare(t, what+" Mean", out[1], dt, statShape, mean, nrmAbs(mean), 2)
		nrmCompare(t, what+" InvStdDev", out[2], dt, statShape, inv, nrmAbs(inv), 2)
	}
}

func TestLayerNormErrors(t *testing.T) {
	f := func(shape ...int) *runtime.Tensor { return runtime.Zeros(runtime.Float32, shape...) }
	ln := func(axis int64, in ...*runtime.Tensor) nodeSpec {
		return nodeSpec{op: "LayerNormalization", opset: 17, attrs: []*onnx.AttributeProto{attrInt("axis", axis)}, inputs: in}
	}
	mmWantError(t, ln(2, f(2, 3), f(3)), "axis", "out of range")
	mmWantError(t, ln(-1, f(2, 3), f(4)), "Scale", "does not broadcast")
	mmWantError(t, ln(-1, f(2, 3), f(2, 3)), "Scale", "does not broadcast")
	mmWantError(t, ln(-1, f(2, 3), f(3), f(2)), "input B")
	mmWantError(t, ln(-1, runtime.Zeros(runtime.Int32, 2, 3), f(3)), "unsupported element type")
}

// nrmSoftmaxReference normalises x: [outer, n, inner] along n.
func nrmSoftmaxReference(x []float64, outer, n, inner int, log bool) []float64 {
	y := make([]float64, len(x))
	for o := range outer {
		for i := range inner {
			at := func(j int) int { return (o*n+j)*inner + i }
			m := math.Inf(-1)
			for j := range n {
				m = math.Max(m, x[at(j)])
			}
			var s float64
			for j := range n {
				s += math.Exp(x[at(j)] - m)
			}
			for j := range n {
				if log {
					y[at(j)] = x[at(j)] - m - math.Log(s)
				} else {
					y[at(j)] = math.Exp(x[at(j)]-m) / s
				}
			}
		}
	}
	return y
}

func TestSoftmaxRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	for i := range 200 {
		dt := []runtime.DType{runtime.Float32, runtime.Float32, runtime.Float64}[rng.Intn(3)]
		shape := nrmRandShape(rng, 1, 4)
		r := len(shape)
		axis := rng.Intn(r)
		opset := []int{1, 11, 13}[rng.Intn(3)]
		log := i%2 == 0
		op := "Softmax"
		if log {
			op = "LogSoftmax"
		}
		x := nrmRand(rng, dt, mmCount(shape), 5, 100*float64(rng.Intn(2)))
		ns := nodeSpec{op: op, opset: opset, attrs: []*onnx.AttributeProto{attrInt("axis", int64(axis-r*rng.Intn(2)))},
			inputs: []*runtime.Tensor{mmTensor(dt, shape, x)}}
		var want []float64
		if opset < 13 {
			want = nrmSoftmaxReference(x, mmCount(shape[:axis]), mmCount(shape[axis:]), 1, log)
		} else {
			want = nrmSoftmaxReference(x, mmCount(shape[:axis]), shape[axis], mmCount(shape[axis+1:]), log)
		}
		y := ns.mustRun(t, runtime.WithThreads(2))[0]
		mag := nrmAbs(want)
		if log {
			// x − lse cancels: allow float64 noise relative to |x|.
			for j := range mag {
				if dt == runtime.Float64 {
					mag[j] += math.Abs(x[j])
				} else {
					mag[j] += math.Abs(x[j]) * 1e-6
				}
			}
		}
		nrmCompare(t, fmt.Sprintf("%s-%d %v%v axis %d", op, opset, dt, shape, axis), y, dt, shape, want, mag, 4)
	}
}

// TestSoftmaxOpsetSemantics pins the difference between opset 11's
// "coerce to 2-D" and opset 13's single-axis softmax, and the defaults
// (axis 1 vs −1).
func TestSoftmaxOpsetSemantics(t *testing.T) {
	rng := rand.New(rand.NewSource(24))
	shape := []int{2, 3, 4}
	x := nrmRand(rng, runtime.Float32, 24, 1, 0)
	run := func(opset int, attrs ...*onnx.AttributeProto) []float64 {
		ns := nodeSpec{op: "Softmax", opset: opset, attrs: attrs, inputs: []*runtime.Tensor{mmTensor(runtime.Float32, shape, x)}}
		return (ns.mustRun(t)[0]).Float64Values()
	}
	cases := []struct {
		got  []float64
		want []float64
	}{
		{run(11, attrInt("axis", 1)), nrmSoftmaxReference(x, 2, 12, 1, false)},
		{run(13, attrInt("axis", 1)), nrmSoftmaxReference(x, 2, 3, 4, false)},
		{run(11), nrmSoftmaxReference(x, 2, 12, 1, false)},
		{run(13), nrmSoftmaxReference(x, 6, 4, 1, false)},
	}
	for i, c := range cases {
		for j := range c.want {
			if math.Abs(c.got[j]-c.want[j]) > 4*nrmU*c.want[j] {
				t.Fatalf("case %d: y[%d] = %v, want %v", i, j, c.got[j], c.want[j])
			}
		}
	}
	if math.Abs(cases[0].got[0]-cases[1].got[0]) < 1e-3 {
		t.Fatal("opset 11 and 13 softmax over axis 1 should differ")
	}
}

func TestSoftmaxErrors(t *testing.T) {
	x := runtime.Zeros(runtime.Float32, 2, 3)
	mmWantError(t, nodeSpec{op: "Softmax", opset: 13, inputs: []*runtime.Tensor{x}, attrs: []*onnx.AttributeProto{attrInt("axis", 2)}}, "out of range")
	mmWantError(t, nodeSpec{op: "LogSoftmax", opset: 11, inputs: []*runtime.Tensor{x}, attrs: []*onnx.AttributeProto{attrInt("axis", -3)}}, "out of range")
	mmWantError(t, nodeSpec{op: "Softmax", opset: 13, inputs: []*runtime.Tensor{runtime.Scalar[float32](1)}}, "out of range")
	mmWantError(t, nodeSpec{op: "Softmax", opset: 13, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Int64, 3)}}, "unsupported element type")
}

func TestInstanceNormRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(25))
	for range 40 {
		dt := []runtime.DType{runtime.Float32, runtime.Float64}[rng.Intn(2)]
		shape := nrmRandShape(rng, 2, 4)
		if len(shape) == 2 || mmCount(shape[2:]) == 1 {
			shape = append(shape, 3)
		}
		c := shape[1]
		x, s, b := nrmRand(rng, dt, mmCount(shape), 2, 3), nrmRand(rng, dt, c, 1, 0), nrmRand(rng, dt, c, 1, 0)
		ns := nodeSpec{op: "InstanceNormalization", opset: 6, attrs: []*onnx.AttributeProto{attrFloat("epsilon", 1e-3)},
			inputs: []*runtime.Tensor{mmTensor(dt, shape, x), mmTensor(dt, []int{c}, s), mmTensor(dt, []int{c}, b)}}
		y := ns.mustRun(t)[0]
		inner := mmCount(shape[2:])
		want := make([]float64, len(x))
		for r := 0; r < len(x)/inner; r++ {
			row := x[r*inner : (r+1)*inner]
			var m, v float64
			for _, e := range row {
				m += e / float64(inner)
			}
			for _, e := range row {
				v += (e - m) * (e - m) / float64(inner)
			}
			for i, e := range row {
				want[r*inner+i] = s[r%c]*(e-m)/math.Sqrt(v+float64(float32(1e-3))) + b[r%c]
			}
		}
		nrmCompare(t, fmt.Sprintf("InstanceNormalization %v%v", dt, shape), y, dt, shape, want, nrmAbs(want), 4)
	}
	mmWantError(t, nodeSpec{op: "InstanceNormalization", opset: 6, inputs: []*runtime.Tensor{
		runtime.Zeros(runtime.Float32, 1, 2, 3), runtime.Zeros(runtime.Float32, 3), runtime.Zeros(runtime.Float32, 2)}}, "input scale")
}

func TestLRNRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(26))
	for _, size := range []int{1, 2, 3, 4, 5, 9} {
		shape := []int{2, 7, 3, 2}
		x := nrmRand(rng, runtime.Float32, mmCount(shape), 2, 0)
		alpha, beta, bias := float32(0.01), float32(0.6), float32(1.5)
		ns := nodeSpec{op: "LRN", opset: 13, inputs: []*runtime.Tensor{mmTensor(runtime.Float32, shape, x)},
			attrs: []*onnx.AttributeProto{attrInt("size", int64(size)), attrFloat("alpha", alpha), attrFloat("beta", beta), attrFloat("bias", bias)}}
		y := ns.mustRun(t)[0]
		c, inner := shape[1], 6
		want := make([]float64, len(x))
		for i, v := range x {
			ch := (i / inner) % c
			base := i - ch*inner
			var sq float64
			for cc := ch - (size-1)/2; cc <= ch+size/2; cc++ {
				if cc >= 0 && cc < c {
					sq += x[base+cc*inner] * x[base+cc*inner]
				}
			}
			want[i] = v / math.Pow(float64(bias)+float64(alpha)/float64(size)*sq, float64(beta))
		}
		nrmCompare(t, fmt.Sprintf("LRN size %d", size), y, runtime.Float32, shape, want, nrmAbs(want), 4)
	}
	mmWantError(t, nodeSpec{op: "LRN", opset: 13, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Float32, 1, 2, 3)}}, "size")
}
