package decop

import (
	"math"
	"testing"

	"github.com/dcnet-go/dcnet/internal/conv"
)

// byteSource hands out the fuzzer's bytes one at a time, zeros once they run out.
type byteSource struct {
	data []byte
	at   int
}

func (b *byteSource) next() int {
	if b.at >= len(b.data) {
		return 0
	}
	b.at++
	return int(b.data[b.at-1])
}

// pick returns one of the values, chosen by the next byte.
func pick[T any](b *byteSource, values ...T) T { return values[b.next()%len(values)] }

// fuzzProblem decodes a small problem from bytes: configuration, geometry (channels ≤ 9, sizes
// ≤ 6, windows ≤ 3, strides ≤ 3, dilations ≤ 2, pads ≤ 2, any auto_pad) and then the values,
// each byte one value in [−2, 2) times a scale from 1e-20 to 1e20. valid is false when the
// window does not fit the input: then the operator must return an error.
func fuzzProblem(data []byte) (p *problem, constant bool, threads int, valid bool) {
	b := &byteSource{data: data}
	p = &problem{mag: Magnitude(b.next() % 7), ang: Angular(b.next() % 4), weighted: b.next()%2 == 1}
	params := paramKind(b.next() % 4)
	bias := b.next()%2 == 1
	constant, threads = b.next()%2 == 1, 1+b.next()%2
	p.n = 1 + b.next()%2
	g := conv.Geometry{Group: 1 + b.next()%3}
	cg, mg := 1+b.next()%3, 1+b.next()%3
	g.C, g.M = g.Group*cg, g.Group*mg
	g.H, g.W, g.KH, g.KW = 1+b.next()%6, 1+b.next()%6, 1+b.next()%3, 1+b.next()%3
	g.SH, g.SW, g.DH, g.DW = 1+b.next()%3, 1+b.next()%3, 1+b.next()%2, 1+b.next()%2
	g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = b.next()%3, b.next()%3, b.next()%3, b.next()%3
	p.autoPad = pick(b, conv.NotSet, conv.NotSet, conv.SameUpper, conv.SameLower, conv.Valid)
	if p.autoPad != conv.NotSet {
		g.PadTop, g.PadBottom = p.autoPad.Pads(g.H, g.KH, g.SH, g.DH, 0, 0)
		g.PadLeft, g.PadRight = p.autoPad.Pads(g.W, g.KW, g.SW, g.DW, 0, 0)
	}
	p.g = g
	p.eps = pick(b, f32(DefaultEps), 0, f32(1e-2))
	p.k = pick(b, f32(DefaultK), f32(0.05+float64(b.next())/64))
	scale := pick(b, 1, 1, 1e-20, 1e20)
	value := func() float64 { return f32(scale * (float64(b.next()) - 128) / 64) }
	if g.Validate() != nil {
		return p, constant, threads, false
	}
	p.x = make([]float64, p.n*g.InputLen())
	for i := range p.x {
		p.x[i] = value()
	}
	p.w = make([]float64, g.FilterLen())
	for i := range p.w {
		p.w[i] = f32((float64(b.next()) - 128) / 64)
	}
	if bias {
		p.b = make([]float64, g.M)
		for i := range p.b {
			p.b[i] = f32((float64(b.next()) - 128) / 64)
		}
	}
	if params != paramsAbsent {
		count := 1
		if params == paramsPerChannel {
			count = g.M
		}
		p.paramRank1 = params == paramsScalar1
		p.alpha, p.rho, p.beta = make([]float64, count), make([]float64, count), make([]float64, count)
		for i := range count {
			p.alpha[i] = f32((float64(b.next()) - 128) / 64)
			p.rho[i] = f32((1 + float64(b.next())) / 32)
			p.beta[i] = f32(float64(b.next()) / 128)
		}
	}
	return p, constant, threads, true
}

// wellConditioned reports whether float32 evaluation can meet the spec's tolerance at all,
// where the float64 reference shows that the unavoidable float32 roundings alone would exceed
// half of it:
//
//   - moving every cosine by 8 float32 ulps of 1 (the rounding of the float32 cosine and the
//     typical error of a float32 dot product, relative to the norms) changes the output by
//     more than that. Near |c| = 1 the linear and sigmoid angulars are steep: a patch (nearly)
//     parallel to its filter, as with a 1×1 depthwise filter and a tiny eps, amplifies the
//     cosine's last bits beyond the tolerance;
//   - an error of 8 ulps in each h·g is more than that relative to the output, because the bias
//     cancels h·g (y = h·g + B_m much smaller than h·g).
func wellConditioned(p *problem, ref []float64) bool {
	u8 := 8 * math.Ldexp(1, -24)
	for _, s := range []float64{u8, -u8} {
		if relErr64(referenceForwardShifted(p, s), ref) > tolerance/2 {
			return false
		}
	}
	if p.b == nil {
		return true
	}
	var errs, norm float64
	ohw := p.g.OutHW()
	for i, y := range ref {
		hg := y - p.b[i/ohw%p.g.M]
		errs += (u8 * hg) * (u8 * hg)
		norm += y * y
	}
	return math.Sqrt(errs) <= tolerance/2*math.Sqrt(norm)
}

func relErr64(got, want []float64) float64 {
	g := make([]float32, len(got))
	for i, v := range got {
		g[i] = float32(v)
	}
	return relativeError(g, want)
}

// FuzzDecoupledConv turns bytes into small problems and runs them through a Session: invalid
// geometries must fail with an error, valid ones must not fail, must give finite outputs and,
// where float32 evaluation is well conditioned, must match the float64 reference.
func FuzzDecoupledConv(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 1, 3, 1, 1, 1, 2, 1, 2, 2, 5, 5, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 7, 200, 100, 50, 3, 90, 180})
	f.Add([]byte{6, 2, 0, 2, 1, 0, 0, 0, 2, 0, 1, 3, 4, 1, 2, 1, 1, 1, 0, 2, 1, 1, 2, 1, 2, 3, 1, 255, 0, 128, 64, 32, 16})
	f.Add([]byte{1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 128, 128, 128, 128})
	f.Add([]byte{4, 3, 0, 3, 1, 0, 1, 0, 1, 1, 1, 4, 4, 2, 2, 2, 2, 0, 1, 1, 1, 1, 1, 3, 0, 0, 2, 77, 12, 240, 5, 99})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, constant, threads, valid := fuzzProblem(data)
		if !valid {
			p.x, p.w = make([]float64, p.n*max(0, p.g.InputLen())), make([]float64, p.g.FilterLen())
			if _, err := p.runProblem(constant, threads); err == nil {
				t.Fatalf("%s: no error for a window that does not fit", p.describe())
			}
			return
		}
		y, err := p.runProblem(constant, threads)
		if err != nil {
			t.Fatalf("%s: %v", p.describe(), err)
		}
		for i, v := range y {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: output %d is %v", p.describe(), i, v)
			}
		}
		ref := referenceForward(p)
		if !wellConditioned(p, ref) {
			return
		}
		if err := relativeError(y, ref); !(err <= tolerance) {
			t.Fatalf("%s: relative error %.3g > %g", p.describe(), err, tolerance)
		}
	})
}
