package runtime_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// convCase is one Conv node: shapes, attributes and data. It drives the random tests against
// the float64 reference below and the benchmarks. spatial holds the input's spatial dimensions
// (one for Conv1d, two for Conv2d) and kernel the filter's.
type convCase struct {
	batch, c, m, group       int
	spatial, kernel          []int
	strides, dilations, pads []int // nil: attribute omitted (ONNX defaults)
	autoPad                  string
	kernelShape              bool // set kernel_shape explicitly
	x, w, b                  *runtime.Tensor
}

func (cc *convCase) attrs() []*onnx.AttributeProto {
	var a []*onnx.AttributeProto
	if cc.group != 1 || cc.batch%2 == 0 {
		a = append(a, attrInt("group", int64(cc.group)))
	}
	list := func(name string, v []int) {
		if v != nil {
			a = append(a, attrInts(name, convInt64s(v)...))
		}
	}
	list("strides", cc.strides)
	list("dilations", cc.dilations)
	list("pads", cc.pads)
	if cc.kernelShape {
		list("kernel_shape", cc.kernel)
	}
	if cc.autoPad != "" {
		a = append(a, attrString("auto_pad", cc.autoPad))
	}
	return a
}

func convInt64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// axis returns stride, dilation and explicit pads of spatial axis i, with the defaults.
func (cc *convCase) axis(i int) (s, d, pb, pe int) {
	s, d = 1, 1
	if cc.strides != nil {
		s = cc.strides[i]
	}
	if cc.dilations != nil {
		d = cc.dilations[i]
	}
	if cc.pads != nil {
		pb, pe = cc.pads[i], cc.pads[len(cc.spatial)+i]
	}
	return s, d, pb, pe
}

// resolvedPads applies auto_pad as the ONNX specification states it: SAME_* pads so that the
// output has ceil(in/stride) elements, the odd pad at the end (UPPER) or beginning (LOWER).
func (cc *convCase) resolvedPads(i int) (pb, pe int) {
	s, d, pb, pe := cc.axis(i)
	in, k := cc.spatial[i], cc.kernel[i]
	switch cc.autoPad {
	case "VALID":
		return 0, 0
	case "SAME_UPPER", "SAME_LOWER":
		out := int(math.Ceil(float64(in) / float64(s)))
		total := max(0, (out-1)*s+(k-1)*d+1-in)
		if cc.autoPad == "SAME_UPPER" {
			return total / 2, total - total/2
		}
		return total - total/2, total / 2
	}
	return pb, pe
}

func (cc *convCase) outShape() []int {
	shape := []int{cc.batch, cc.m}
	for i, in := range cc.spatial {
		s, d, _, _ := cc.axis(i)
		pb, pe := cc.resolvedPads(i)
		room := float64(in + pb + pe - (cc.kernel[i]-1)*d - 1)
		shape = append(shape, int(math.Floor(room/float64(s)))+1)
	}
	return shape
}

// reference computes Conv in float64 from the definition, with the sum of |terms| per output.
func (cc *convCase) reference() (y, mag []float64) {
	out := cc.outShape()
	// Treat 1-D as 2-D with a unit leading axis.
	in, k, o := []int{1, 1}, []int{1, 1}, []int{1, out[len(out)-1]}
	s, d, pb := []int{1, 1}, []int{1, 1}, []int{0, 0}
	for i := range cc.spatial {
		j := 2 - len(cc.spatial) + i
		in[j], k[j], o[j] = cc.spatial[i], cc.kernel[i], out[2+i]
		s[j], d[j], _, _ = cc.axis(i)
		pb[j], _ = cc.resolvedPads(i)
	}
	x, w := cc.x.Float32s(), cc.w.Float32s()
	cg, mg := cc.c/cc.group, cc.m/cc.group
	for n := range cc.batch {
		for m := range cc.m {
			for oy := range o[0] {
				for ox := range o[1] {
					var sum, abs float64
					if cc.b != nil {
						sum = float64(cc.b.Float32s()[m])
						abs = math.Abs(sum)
					}
					for c := range cg {
						ci := m/mg*cg + c
						for ky := range k[0] {
							for kx := range k[1] {
								iy, ix := oy*s[0]-pb[0]+ky*d[0], ox*s[1]-pb[1]+kx*d[1]
								if iy < 0 || iy >= in[0] || ix < 0 || ix >= in[1] {
									continue
								}
								t := float64(x[((n*cc.c+ci)*in[0]+iy)*in[1]+ix]) * float64(w[((m*cg+c)*k[0]+ky)*k[1]+kx])
								sum += t
								abs += math.Abs(t)
							}
						}
					}
					y, mag = append(y, sum), append(mag, abs)
				}
			}
		}
	}
	return y, mag
}

// check compares the output with the reference: a float32 evaluation of K products and the
// bias, in any order, is within γ_{K+1}·Σ|terms| of the exact value (γ_n = n·u/(1−n·u),
// u = 2⁻²⁴), and the float64 reference is exact to far below that.
func (cc *convCase) check(t *testing.T, got *runtime.Tensor, what string) {
	t.Helper()
	if !runtime.SameShape(got.Shape(), cc.outShape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), cc.outShape())
	}
	want, mag := cc.reference()
	terms := float64(cc.c/cc.group) + 1
	for _, k := range cc.kernel {
		terms *= float64(k)
	}
	u := math.Ldexp(1, -24)
	gamma := (terms + 1) * u / (1 - (terms+1)*u)
	for i, v := range got.Float32s() {
		if d := math.Abs(float64(v) - want[i]); !(d <= gamma*mag[i]) {
			t.Fatalf("%s: output %d = %v, want %v (bound %.3g)", what, i, v, want[i], gamma*mag[i])
		}
	}
}

// randomConvCase draws a Conv with dense, grouped or depthwise channels, kernels from 1×1 to
// 7×7 (and rectangular ones), strides 1–3, dilation 1–2, asymmetric pads or an auto_pad mode,
// 1-D or 2-D, batch 1–3, with or without bias.
func randomConvCase(rng *rand.Rand) *convCase {
	for {
		cc := &convCase{batch: 1 + rng.IntN(3)}
		switch rng.IntN(3) {
		case 0:
			cc.group, cc.c, cc.m = 1, 1+rng.IntN(6), 1+rng.IntN(12)
		case 1:
			cc.group = 2 + rng.IntN(2)
			cc.c, cc.m = cc.group*(1+rng.IntN(3)), cc.group*(1+rng.IntN(3))
		default:
			cc.group = 1 + rng.IntN(8)
			cc.c, cc.m = cc.group, cc.group*(1+rng.IntN(2))
		}
		rank := 1 + rng.IntN(2)
		sizes := []int{1, 2, 3, 3, 5, 7}
		for range rank {
			cc.spatial = append(cc.spatial, 1+rng.IntN(20))
			cc.kernel = append(cc.kernel, sizes[rng.IntN(len(sizes))])
		}
		if rng.IntN(2) == 0 {
			cc.strides, cc.dilations = make([]int, rank), make([]int, rank)
			for i := range rank {
				cc.strides[i], cc.dilations[i] = 1+rng.IntN(3), 1+rng.IntN(2)
			}
		}
		switch rng.IntN(6) {
		case 0:
			cc.autoPad = []string{"SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"}[rng.IntN(4)]
		default:
			cc.pads = make([]int, 2*rank)
			for i := range cc.pads {
				cc.pads[i] = rng.IntN(cc.kernel[i%rank] + 1)
			}
		}
		cc.kernelShape = rng.IntN(2) == 0
		if !cc.valid() {
			continue
		}
		xShape := append([]int{cc.batch, cc.c}, cc.spatial...)
		wShape := append([]int{cc.m, cc.c / cc.group}, cc.kernel...)
		cc.x, cc.w = randTensor(rng, xShape...), randTensor(rng, wShape...)
		if rng.IntN(3) > 0 {
			cc.b = randTensor(rng, cc.m)
		}
		return cc
	}
}

func (cc *convCase) valid() bool {
	for _, d := range cc.outShape()[2:] {
		if d <= 0 {
			return false
		}
	}
	return true
}

func (cc *convCase) spec(constW bool) nodeSpec {
	ns := nodeSpec{op: "Conv", opset: 11, attrs: cc.attrs(), inputs: []*runtime.Tensor{cc.x, cc.w}, constant: map[int]bool{1: constW, 2: constW}}
	if cc.b != nil {
		ns.inputs = append(ns.inputs, cc.b)
	}
	return ns
}

func (cc *convCase) String() string {
	return fmt.Sprintf("x %v w %v bias=%v group=%d strides=%v dilations=%v pads=%v auto_pad=%q",
		cc.x.Shape(), cc.w.Shape(), cc.b != nil, cc.group, cc.strides, cc.dilations, cc.pads, cc.autoPad)
}

// TestConvRandom runs random convolutions with the filter as a constant (packed at plan time)
// and as a run-time input, on 1 to 3 threads.
func TestConvRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for iter := range 250 {
		cc := randomConvCase(rng)
		threads := 1 + iter%3
		for _, constW := range []bool{true, false} {
			y := cc.spec(constW).mustRun(t, runtime.WithThreads(threads))[0]
			cc.check(t, y, fmt.Sprintf("%v constW=%v threads=%d", cc, constW, threads))
		}
	}
}

// TestConvConstantFolded runs a Conv whose inputs are all constant, so it is computed at plan
// time, and one kept in the plan; both must match the reference.
func TestConvConstantFolded(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	cc := randomConvCase(rng)
	ns := cc.spec(true)
	ns.constant[0] = true
	cc.check(t, ns.mustRun(t)[0], "folded")
	cc.check(t, ns.mustRun(t, runtime.WithoutConstantFolding())[0], "not folded")
}

// TestConvOpset1 checks that the opset-1 Conv is registered with the same semantics.
func TestConvOpset1(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	cc := randomConvCase(rng)
	ns := cc.spec(true)
	ns.opset = 9
	cc.check(t, ns.mustRun(t)[0], "opset 9")
}

func convWantError(t *testing.T, what string, ns nodeSpec, fragments ...string) {
	t.Helper()
	_, err := ns.run(t)
	if err == nil {
		t.Errorf("%s: expected an error", what)
		return
	}
	for _, f := range append([]string{`node "n" (` + ns.op + `)`}, fragments...) {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %q does not contain %q", what, err, f)
		}
	}
}

func TestConvErrors(t *testing.T) {
	x := runtime.Zeros(runtime.Float32, 1, 4, 5, 5)
	w := runtime.Zeros(runtime.Float32, 4, 2, 3, 3)
	spec := func(constW bool, attrs ...*onnx.AttributeProto) nodeSpec {
		return nodeSpec{op: "Conv", opset: 11, attrs: attrs, inputs: []*runtime.Tensor{x, w}, constant: map[int]bool{1: constW}}
	}
	for _, constW := range []bool{true, false} {
		name := func(s string) string { return fmt.Sprintf("%s (constant W: %v)", s, constW) }
		convWantError(t, name("group 0"), spec(constW, attrInt("group", 0)), `"group"`)
		convWantError(t, name("negative pads"), spec(constW, attrInt("group", 2), attrInts("pads", 1, -1, 1, 1)), `"pads"`)
		convWantError(t, name("pads length"), spec(constW, attrInt("group", 2), attrInts("pads", 1, 1)), `"pads"`)
		convWantError(t, name("zero stride"), spec(constW, attrInt("group", 2), attrInts("strides", 1, 0)), `"strides"`)
		convWantError(t, name("zero dilation"), spec(constW, attrInt("group", 2), attrInts("dilations", 0, 1)), `"dilations"`)
		convWantError(t, name("kernel_shape"), spec(constW, attrInt("group", 2), attrInts("kernel_shape", 3, 2)), `"kernel_shape"`)
		convWantError(t, name("auto_pad"), spec(constW, attrInt("group", 2), attrString("auto_pad", "SAME")), `"auto_pad"`)
		// Four input channels, but W expects 2·1.
		convWantError(t, name("channels"), spec(constW), "channels")
		// group 4 does not divide... W's 4 output channels are fine, 2·4 = 8 input channels are not.
		convWantError(t, name("channels for group"), spec(constW, attrInt("group", 4)), "channels")
		big := nodeSpec{op: "Conv", opset: 11, attrs: []*onnx.AttributeProto{attrInt("group", 2), attrInts("dilations", 3, 3)},
			inputs: []*runtime.Tensor{x, w}, constant: map[int]bool{1: constW}}
		convWantError(t, name("window larger than input"), big, "output size")
		badBias := spec(constW, attrInt("group", 2))
		badBias.inputs = append(badBias.inputs, runtime.Zeros(runtime.Float32, 3))
		badBias.constant[2] = constW
		convWantError(t, name("bias length"), badBias, "input B")
		rank := spec(constW, attrInt("group", 2))
		rank.inputs[0] = runtime.Zeros(runtime.Float32, 4, 5)
		convWantError(t, name("X rank"), rank, "rank")
		conv3d := nodeSpec{op: "Conv", opset: 11, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Float32, 1, 1, 3, 3, 3), runtime.Zeros(runtime.Float32, 1, 1, 2, 2, 2)}, constant: map[int]bool{1: constW}}
		convWantError(t, name("3-D"), conv3d, "unsupported", "3-D")
	}
	// M = 3 is not divisible by group 2 (known at plan time from the constant W).
	w3 := runtime.Zeros(runtime.Float32, 3, 2, 3, 3)
	convWantError(t, "M % group", nodeSpec{op: "Conv", opset: 11, attrs: []*onnx.AttributeProto{attrInt("group", 2)},
		inputs: []*runtime.Tensor{x, w3}, constant: map[int]bool{1: true}}, "group", "output channels")
	convWantError(t, "M % group at run time", nodeSpec{op: "Conv", opset: 11, attrs: []*onnx.AttributeProto{attrInt("group", 2)},
		inputs: []*runtime.Tensor{x, w3}}, "output channels")
	convWantError(t, "W rank", nodeSpec{op: "Conv", opset: 11, inputs: []*runtime.Tensor{x, runtime.Zeros(runtime.Float32, 4, 4)},
		constant: map[int]bool{1: true}}, "input W")
	convWantError(t, "float64", nodeSpec{op: "Conv", opset: 11, inputs: []*runtime.Tensor{runtime.Zeros(runtime.Float64, 1, 4, 5, 5), runtime.Zeros(runtime.Float64, 4, 4, 3, 3)}},
		"FLOAT")
}

// BenchmarkConvResNetLayer measures a whole Conv node (planning excluded) on ResNet-18's
// 3×3 64→64 layer at 56×56; internal/conv's benchmarks cover every layer shape.
func BenchmarkConvResNetLayer(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	cc := &convCase{batch: 1, c: 64, m: 64, group: 1, spatial: []int{56, 56}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}}
	cc.x, cc.w, cc.b = randTensor(rng, 1, 64, 56, 56), randTensor(rng, 64, 64, 3, 3), randTensor(rng, 64)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			ns := cc.spec(true)
			s, err := runtime.NewSessionFromModel(ns.model(b), runtime.WithThreads(threads))
			if err != nil {
				b.Fatal(err)
			}
			feeds := map[string]*runtime.Tensor{"x0": cc.x}
			b.ResetTimer()
			for range b.N {
				if _, err := s.Run(b.Context(), feeds); err != nil {
					b.Fatal(err)
				}
			}
			flops := 2.0 * 64 * 64 * 9 * 56 * 56 * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
