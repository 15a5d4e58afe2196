package runtime_test

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// mmGemmProblem is one Gemm call: Y = alpha·op(A)·op(B) + beta·C.
// biasShape nil means no C. constB/constC make B/C initializers, which the
// kernel packs (B) or pre-scales (C) at plan time.
type mmGemmProblem struct {
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
	biasShape      []int
	constB, constC bool
	opset          int
	a, b, c        []float32
}

func (p *mmGemmProblem) String() string {
	return fmt.Sprintf("m=%d n=%d k=%d transA=%v transB=%v alpha=%v beta=%v C%v constB=%v constC=%v",
		p.m, p.n, p.k, p.transA, p.transB, p.alpha, p.beta, p.biasShape, p.constB, p.constC)
}

func (p *mmGemmProblem) fill(rng *rand.Rand) {
	p.a = mmRandFloats(rng, p.m*p.k)
	p.b = mmRandFloats(rng, p.k*p.n)
	if p.biasShape != nil {
		p.c = mmRandFloats(rng, mmCount(p.biasShape))
	}
}

func mmRandFloats(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func mmCount(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func (p *mmGemmProblem) aShape() []int {
	if p.transA {
		return []int{p.k, p.m}
	}
	return []int{p.m, p.k}
}

func (p *mmGemmProblem) bShape() []int {
	if p.transB {
		return []int{p.n, p.k}
	}
	return []int{p.k, p.n}
}

func (p *mmGemmProblem) spec() nodeSpec {
	ns := nodeSpec{op: "Gemm", opset: p.opset, constant: map[int]bool{1: p.constB, 2: p.constC},
		attrs: []*onnx.AttributeProto{attrFloat("alpha", p.alpha), attrFloat("beta", p.beta),
			attrInt("transA", mmBool(p.transA)), attrInt("transB", mmBool(p.transB))},
		inputs: []*runtime.Tensor{runtime.New(p.aShape(), p.a), runtime.New(p.bShape(), p.b)}}
	if ns.opset == 0 {
		ns.opset = 13
	}
	if p.biasShape != nil {
		ns.inputs = append(ns.inputs, runtime.New(p.biasShape, p.c))
	}
	return ns
}

func mmBool(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// reference computes Y in float64 and, per element, a bound on float32
// rounding error: (k+2)·u·(|alpha|·Σ|a·b| + |beta·c|), u = 2⁻²⁴.
func (p *mmGemmProblem) reference() (want, tol []float64) {
	want, tol = make([]float64, p.m*p.n), make([]float64, p.m*p.n)
	u := math.Ldexp(1, -24) * float64(p.k+2)
	for i := range p.m {
		for j := range p.n {
			var s, mag float64
			for kk := range p.k {
				av := p.a[i*p.k+kk]
				if p.transA {
					av = p.a[kk*p.m+i]
				}
				bv := p.b[kk*p.n+j]
				if p.transB {
					bv = p.b[j*p.k+kk]
				}
				s += float64(av) * float64(bv)
				mag += math.Abs(float64(av) * float64(bv))
			}
			y := float64(p.alpha) * s
			mag *= math.Abs(float64(p.alpha))
			if p.biasShape != nil {
				cv := float64(p.c[mmBiasIndex(p.biasShape, i, j)]) * float64(p.beta)
				y += cv
				mag += math.Abs(cv)
			}
			want[i*p.n+j], tol[i*p.n+j] = y, u*mag+1e-30
		}
	}
	return want, tol
}

// mmBiasIndex is the index into C (shape broadcast to [M, N]) for (i, j).
func mmBiasIndex(shape []int, i, j int) int {
	switch len(shape) {
	case 0:
		return 0
	case 1:
		if shape[0] == 1 {
			return 0
		}
		return j
	}
	r, c := i, j
	if shape[0] == 1 {
		r = 0
	}
	if shape[1] == 1 {
		c = 0
	}
	return r*shape[1] + c
}

func (p *mmGemmProblem) check(t *testing.T, opts ...runtime.Option) {
	t.Helper()
	out, err := p.spec().run(t, opts...)
	if err != nil {
		t.Fatalf("%v: %v", p, err)
	}
	y := out[0]
	if !runtime.SameShape(y.Shape(), []int{p.m, p.n}) {
		t.Fatalf("%v: shape %v, want [%d %d]", p, y.Shape(), p.m, p.n)
	}
	want, tol := p.reference()
	got := y.Float32s()
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol[i]) {
			t.Fatalf("%v: Y[%d,%d] = %v, want %v (error %.3g > bound %.3g)", p, i/p.n, i%p.n, got[i], want[i], d, tol[i])
		}
	}
}

// mmBiasShapes are every unidirectional broadcast of C to [m, n] (nil:
// no C).
func mmBiasShapes(m, n int) [][]int {
	return [][]int{nil, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}}
}

func TestGemmAttributesAndBiasShapes(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, dims := range [][3]int{{1, 1, 1}, {3, 5, 7}, {1, 40, 300}, {20, 17, 33}} {
		for _, bias := range mmBiasShapes(dims[0], dims[1]) {
			for flags := range 4 {
				for _, constB := range []bool{false, true} {
					p := &mmGemmProblem{m: dims[0], n: dims[1], k: dims[2], transA: flags&1 != 0, transB: flags&2 != 0,
						alpha: 0.75, beta: -1.5, biasShape: bias, constB: constB, constC: constB}
					p.fill(rng)
					p.check(t, runtime.WithoutConstantFolding())
				}
			}
		}
	}
}

// TestGemmRandom draws sizes around the micro-kernel's tile (6×16) and cache
// block (kc = 256) edges, for both weight layouts (few and many rows).
func TestGemmRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	sizes := []int{1, 2, 5, 6, 7, 15, 16, 17, 31, 33, 64}
	ks := []int{1, 3, 16, 255, 257, 520}
	for range 150 {
		m, n, k := sizes[rng.Intn(len(sizes))], sizes[rng.Intn(len(sizes))], ks[rng.Intn(len(ks))]
		shapes := mmBiasShapes(m, n)
		alphas := []float32{1, 1, 0.5, -2}
		p := &mmGemmProblem{m: m, n: n, k: k, transA: rng.Intn(2) == 1, transB: rng.Intn(2) == 1,
			alpha: alphas[rng.Intn(4)], beta: alphas[rng.Intn(4)], biasShape: shapes[rng.Intn(len(shapes))],
			constB: rng.Intn(2) == 1, constC: rng.Intn(2) == 1}
		p.fill(rng)
		threads := 1 + rng.Intn(3)
		p.check(t, runtime.WithoutConstantFolding(), runtime.WithThreads(threads))
	}
}

// TestGemmEveryKernel plans and runs with each micro-kernel, and also runs
// weights packed for one kernel after switching to another.
func TestGemmEveryKernel(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, name := range gemm.Kernels() {
		t.Run(name, func(t *testing.T) {
			restore, err := gemm.UseKernel(name)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
			for _, m := range []int{1, 7, 16, 37} {
				p := &mmGemmProblem{m: m, n: 21, k: 45, transB: true, alpha: 1, beta: 1, biasShape: []int{21}, constB: true, constC: true}
				p.fill(rng)
				p.check(t, runtime.WithoutConstantFolding())
			}
		})
	}
	// Packed under the default kernel, run under the generic one.
	for _, m := range []int{1, 5, 16, 40} {
		p := &mmGemmProblem{m: m, n: 37, k: 29, alpha: 2, beta: 1, biasShape: []int{m, 1}, constB: true}
		p.fill(rng)
		s, err := runtime.NewSessionFromModel(p.spec().model(t), runtime.WithoutConstantFolding())
		if err != nil {
			t.Fatal(err)
		}
		restore, err := gemm.UseKernel("generic")
		if err != nil {
			t.Fatal(err)
		}
		got := run1(t, s, map[string]*runtime.Tensor{"x0": p.spec().inputs[0], "x2": p.spec().inputs[2]}, "y0")
		restore()
		want, tol := p.reference()
		for i, g := range got.Float32s() {
			if d := math.Abs(float64(g) - want[i]); !(d <= tol[i]) {
				t.Fatalf("%v after kernel switch: Y[%d] = %v, want %v", p, i, g, want[i])
			}
		}
	}
}

func TestGemmConstantFolded(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	p := &mmGemmProblem{m: 4, n: 9, k: 11, transA: true, alpha: 0.5, beta: 2, biasShape: []int{9}}
	p.fill(rng)
	ns := p.spec()
	ns.constant = map[int]bool{0: true, 1: true, 2: true}
	y := ns.mustRun(t)[0]
	want, tol := p.reference()
	for i, g := range y.Float32s() {
		if d := math.Abs(float64(g) - want[i]); !(d <= tol[i]) {
			t.Fatalf("folded Gemm: Y[%d] = %v, want %v", i, g, want[i])
		}
	}
}

func TestGemmFloat64(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, bias := range mmBiasShapes(3, 4) {
		p := &mmGemmProblem{m: 3, n: 4, k: 5, transA: true, transB: true, alpha: 1.5, beta: 0.5, biasShape: bias}
		p.fill(rng)
		ns := p.spec()
		for i, in := range ns.inputs {
			ns.inputs[i] = runtime.New(in.Shape(), mmWiden(in.Float32s()))
		}
		y := ns.mustRun(t)[0]
		if y.DType() != runtime.Float64 {
			t.Fatalf("dtype %v", y.DType())
		}
		want, _ := p.reference()
		for i, g := range y.Float64s() {
			if math.Abs(g-want[i]) > 1e-12*(1+math.Abs(want[i])) {
				t.Fatalf("C%v: Y[%d] = %v, want %v", bias, i, g, want[i])
			}
		}
	}
}

func mmWiden(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// mmWantError runs ns and checks that it fails with an error naming the
// node and containing every fragment.
func mmWantError(t *testing.T, ns nodeSpec, fragments ...string) {
	t.Helper()
	_, err := ns.run(t)
	if err == nil {
		t.Fatalf("%s: expected an error", ns.op)
	}
	msg := err.Error()
	for _, f := range append([]string{`node "n"`}, fragments...) {
		if !strings.Contains(msg, f) {
			t.Fatalf("%s: error %q lacks %q", ns.op, msg, f)
		}
	}
}

func TestGemmErrors(t *testing.T) {
	f := func(shape ...int) *runtime.Tensor { return runtime.Zeros(runtime.Float32, shape...) }
	gemmSpec := func(opset int, attrs []*onnx.AttributeProto, in ...*runtime.Tensor) nodeSpec {
		return nodeSpec{op: "Gemm", opset: opset, attrs: attrs, inputs: in}
	}
	mmWantError(t, gemmSpec(13, nil, f(2, 3), f(4, 5)), "inner dimensions")
	mmWantError(t, gemmSpec(13, nil, f(2, 3, 1), f(3, 5)), "matrices")
	mmWantError(t, gemmSpec(13, nil, f(2, 3), f(3, 5), f(3, 5)), "input C", "broadcast")
	mmWantError(t, gemmSpec(13, nil, f(2, 3), f(3, 5), f(2, 1, 5)), "input C")
	mmWantError(t, gemmSpec(13, nil, f(2, 3), runtime.Zeros(runtime.Float64, 3, 5)), "element type")
	mmWantError(t, gemmSpec(13, nil, runtime.Zeros(runtime.Int64, 2, 3), runtime.Zeros(runtime.Int64, 3, 5)), "unsupported element type")
	mmWantError(t, gemmSpec(9, nil, f(2, 3), f(3, 5)), "input C is required")
	mmWantError(t, gemmSpec(13, []*onnx.AttributeProto{attrInt("transA", 2)}, f(2, 3), f(3, 5)), "transA")
	// A constant B that does not fit A fails at run time, not while packing.
	ns := gemmSpec(13, []*onnx.AttributeProto{attrInt("transB", 1)}, f(2, 3), f(5, 4))
	ns.constant = map[int]bool{1: true}
	mmWantError(t, ns, "inner dimensions")
}

// mmMatMulCase is one MatMul shape pair.
type mmMatMulCase struct{ a, b []int }

var mmMatMulCases = []mmMatMulCase{
	{[]int{5}, []int{5}},
	{[]int{5}, []int{5, 3}},
	{[]int{4, 5}, []int{5}},
	{[]int{4, 5}, []int{5, 3}},
	{[]int{2, 3, 4, 5}, []int{5, 7}},
	{[]int{4, 5}, []int{2, 5, 3}},
	{[]int{2, 1, 4, 5}, []int{1, 3, 5, 6}},
	{[]int{1, 4, 5}, []int{4, 5, 3}},
	{[]int{3, 4, 5}, []int{3, 5, 3}},
	{[]int{5}, []int{2, 5, 3}},
	{[]int{2, 4, 5}, []int{5}},
	{[]int{6, 8, 40}, []int{40, 33}},
	{[]int{3, 20, 17}, []int{1, 17, 19}},
	{[]int{2, 0, 5}, []int{5, 3}},
	{[]int{2, 4, 0}, []int{0, 3}},
	{[]int{0, 4, 5}, []int{1, 5, 3}},
}

// mmMatMulReference computes numpy's matmul in float64, straight from the
// definition: pad the shapes, broadcast the batch index by index.
func mmMatMulReference(as, bs []int, a, b []float64) (shape []int, y []float64) {
	a2, b2 := as, bs
	if len(as) == 1 {
		a2 = []int{1, as[0]}
	}
	if len(bs) == 1 {
		b2 = []int{bs[0], 1}
	}
	m, k, n := a2[len(a2)-2], a2[len(a2)-1], b2[len(b2)-1]
	ab, bb := a2[:len(a2)-2], b2[:len(b2)-2]
	rank := max(len(ab), len(bb))
	pad := func(s []int) []int {
		return append(append(make([]int, 0, rank), mmOnes(rank-len(s))...), s...)
	}
	pa, pb := pad(ab), pad(bb)
	batch := make([]int, rank)
	for i := range batch {
		batch[i] = max(pa[i], pb[i])
		if pa[i] == 0 || pb[i] == 0 {
			batch[i] = 0
		}
	}
	shape = append([]int(nil), batch...)
	if len(as) > 1 {
		shape = append(shape, m)
	}
	if len(bs) > 1 {
		shape = append(shape, n)
	}
	nb := mmCount(batch)
	y = make([]float64, nb*m*n)
	for t := range nb {
		ai, bi, rem := 0, 0, t
		idx := make([]int, rank)
		for d := rank - 1; d >= 0; d-- {
			idx[d] = rem % batch[d]
			rem /= batch[d]
		}
		for d := range rank {
			ai = ai*pa[d] + min(idx[d], pa[d]-1)
			bi = bi*pb[d] + min(idx[d], pb[d]-1)
		}
		for i := range m {
			for j := range n {
				var s float64
				for kk := range k {
					s += a[ai*m*k+i*k+kk] * b[bi*k*n+kk*n+j]
				}
				y[t*m*n+i*n+j] = s
			}
		}
	}
	return shape, y
}

func mmOnes(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

func TestMatMulBroadcasting(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	for _, c := range mmMatMulCases {
		for _, dt := range []runtime.DType{runtime.Float32, runtime.Float64, runtime.Int32, runtime.Int64} {
			for _, constB := range []bool{false, true} {
				name := fmt.Sprintf("%v×%v/%v/const=%v", c.a, c.b, dt, constB)
				av, bv := mmRandInts(rng, mmCount(c.a)), mmRandInts(rng, mmCount(c.b))
				ns := nodeSpec{op: "MatMul", opset: 13, constant: map[int]bool{1: constB},
					inputs: []*runtime.Tensor{mmTensor(dt, c.a, av), mmTensor(dt, c.b, bv)}}
				out, err := ns.run(t, runtime.WithoutConstantFolding(), runtime.WithThreads(2))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				shape, want := mmMatMulReference(c.a, c.b, av, bv)
				if !runtime.SameShape(out[0].Shape(), shape) || out[0].DType() != dt {
					t.Fatalf("%s: got %v, want %v%v", name, out[0], dt, shape)
				}
				got := (out[0]).Float64Values()
				for i := range want {
					// Small integers: every product and sum is exact.
					if got[i] != want[i] {
						t.Fatalf("%s: Y[%d] = %v, want %v", name, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// mmRandInts returns small integers as float64 so that every dtype
// computes the product exactly.
func mmRandInts(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(rng.Intn(9) - 4)
	}
	return v
}

func mmTensor(dt runtime.DType, shape []int, v []float64) *runtime.Tensor {
	switch dt {
	case runtime.Float32:
		return runtime.New(shape, mmConvert[float32](v))
	case runtime.Int32:
		return runtime.New(shape, mmConvert[int32](v))
	case runtime.Int64:
		return runtime.New(shape, mmConvert[int64](v))
	case runtime.Int8:
		return runtime.New(shape, mmConvert[int8](v))
	case runtime.Uint8:
		return runtime.New(shape, mmConvert[uint8](v))
	}
	return runtime.New(shape, v)
}

func mmConvert[T float32 | int32 | int64 | int8 | uint8](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// TestMatMulFloat32Rounding uses random reals, larger sizes and constant
// weights so that both packed layouts (and the panels again for many rows)
// and the batch-parallel path run.
func TestMatMulFloat32Rounding(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, c := range []mmMatMulCase{
		{[]int{1, 300}, []int{300, 50}},
		{[]int{3, 7, 300}, []int{300, 50}},
		{[]int{2, 70, 40}, []int{40, 33}}, // 140 rows: back on the panels (gemmPanelRows)
		{[]int{8, 9, 33}, []int{8, 33, 20}},
		{[]int{64, 3, 5}, []int{64, 5, 4}},
	} {
		for _, constB := range []bool{false, true} {
			a, b := mmRandFloats(rng, mmCount(c.a)), mmRandFloats(rng, mmCount(c.b))
			ns := nodeSpec{op: "MatMul", opset: 13, constant: map[int]bool{1: constB},
				inputs: []*runtime.Tensor{runtime.New(c.a, a), runtime.New(c.b, b)}}
			y := ns.mustRun(t, runtime.WithoutConstantFolding(), runtime.WithThreads(2))[0]
			_, want := mmMatMulReference(c.a, c.b, mmWiden(a), mmWiden(b))
			// Bound the rounding error by (k+2)·u·Σ|a·b|.
			_, mag := mmMatMulReference(c.a, c.b, mmAbs(mmWiden(a)), mmAbs(mmWiden(b)))
			k := c.a[len(c.a)-1]
			for i, g := range y.Float32s() {
				if d := math.Abs(float64(g) - want[i]); d > float64(k+2)*math.Ldexp(1, -24)*mag[i] {
					t.Fatalf("%v×%v const=%v: Y[%d] = %v, want %v", c.a, c.b, constB, i, g, want[i])
				}
			}
		}
	}
}

func mmAbs(v []float64) []float64 {
	for i, x := range v {
		v[i] = math.Abs(x)
	}
	return v
}

func TestMatMulErrors(t *testing.T) {
	f := func(shape ...int) *runtime.Tensor { return runtime.Zeros(runtime.Float32, shape...) }
	mm := func(a, b *runtime.Tensor) nodeSpec {
		return nodeSpec{op: "MatMul", opset: 13, inputs: []*runtime.Tensor{a, b}}
	}
	mmWantError(t, mm(f(2, 3), f(4, 5)), "inner dimensions")
	mmWantError(t, mm(f(2, 2, 3), f(3, 3, 5)), "batch dimensions")
	mmWantError(t, mm(runtime.Scalar[float32](1), f(3)), "rank >= 1")
	mmWantError(t, mm(f(2, 3), runtime.Zeros(runtime.Float64, 3, 5)), "element type")
	mmWantError(t, mm(runtime.Zeros(runtime.Bool, 2, 3), runtime.Zeros(runtime.Bool, 3, 5)), "unsupported element type")
}

func TestMatMulInteger(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for _, c := range mmMatMulCases[:12] {
		av, bv := mmRandBytes(rng, mmCount(c.a)), mmRandBytes(rng, mmCount(c.b))
		m, n := 1, 1
		if len(c.a) > 1 {
			m = c.a[len(c.a)-2]
		}
		if len(c.b) > 1 {
			n = c.b[len(c.b)-1]
		}
		za, zb := mmRandBytes(rng, m), mmRandBytes(rng, n)
		ns := nodeSpec{op: "MatMulInteger", opset: 10, inputs: []*runtime.Tensor{
			mmTensor(runtime.Uint8, c.a, av), mmTensor(runtime.Uint8, c.b, bv),
			mmTensor(runtime.Uint8, []int{m}, za), mmTensor(runtime.Uint8, []int{n}, zb)}}
		y := ns.mustRun(t)[0]
		// Subtract the zero points by row of A and column of B, then multiply.
		as, bs := append([]float64(nil), av...), append([]float64(nil), bv...)
		k := c.a[len(c.a)-1]
		for i := range as {
			as[i] -= za[(i/k)%m]
		}
		for i := range bs {
			bs[i] -= zb[i%n]
		}
		_, want := mmMatMulReference(c.a, c.b, as, bs)
		if y.DType() != runtime.Int32 {
			t.Fatalf("dtype %v", y.DType())
		}
		for i, g := range (y).Float64Values() {
			if g != want[i] {
				t.Fatalf("%v×%v: Y[%d] = %v, want %v", c.a, c.b, i, g, want[i])
			}
		}
	}
}

func mmRandBytes(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(rng.Intn(256))
	}
	return v
}

// BenchmarkGemmFC runs fully-connected layers as exported by PyTorch
// (Gemm, transB=1, constant weights and bias): resnet18's and
// mobilenet_v2's classifiers at batch 1, and larger batches.
func BenchmarkGemmFC(b *testing.B) {
	for _, c := range []struct{ m, k, n int }{{1, 512, 1000}, {1, 1280, 1000}, {16, 512, 1000}, {64, 512, 1000}, {256, 128, 10}} {
		for _, constB := range []bool{true, false} {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%dx%d→%d/const=%v/threads=%d", c.m, c.k, c.n, constB, threads)
				b.Run(name, func(b *testing.B) {
					rng := rand.New(rand.NewSource(1))
					p := &mmGemmProblem{m: c.m, n: c.n, k: c.k, transB: true, alpha: 1, beta: 1,
						biasShape: []int{c.n}, constB: constB, constC: true}
					p.fill(rng)
					ns := p.spec()
					s, err := runtime.NewSessionFromModel(ns.model(b), runtime.WithThreads(threads))
					if err != nil {
						b.Fatal(err)
					}
					feeds := map[string]*runtime.Tensor{"x0": ns.inputs[0]}
					if !constB {
						feeds["x1"] = ns.inputs[1]
					}
					for b.Loop() {
						run1(b, s, feeds, "y0")
					}
					b.ReportMetric(2*float64(c.m*c.n*c.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkMatMulConstWeights runs MatMul with constant weights on the
// shapes of convnext_tiny's pointwise layers (activations [1, H, W, C]
// folded into H·W rows) at batch 1.
func BenchmarkMatMulConstWeights(b *testing.B) {
	for _, c := range []struct{ m, k, n int }{{3136, 96, 384}, {3136, 384, 96}, {196, 384, 1536}, {196, 1536, 384}, {49, 768, 3072}, {49, 3072, 768}} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%d→%d/threads=%d", c.m, c.k, c.n, threads), func(b *testing.B) {
				rng := rand.New(rand.NewSource(1))
				ns := nodeSpec{op: "MatMul", opset: 13, constant: map[int]bool{1: true},
					inputs: []*runtime.Tensor{runtime.New([]int{1, c.m, c.k}, mmRandFloats(rng, c.m*c.k)),
						runtime.New([]int{c.k, c.n}, mmRandFloats(rng, c.k*c.n))}}
				s, err := runtime.NewSessionFromModel(ns.model(b), runtime.WithThreads(threads))
				if err != nil {
					b.Fatal(err)
				}
				feeds := map[string]*runtime.Tensor{"x0": ns.inputs[0]}
				for b.Loop() {
					run1(b, s, feeds, "y0")
				}
				b.ReportMetric(2*float64(c.m*c.n*c.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
