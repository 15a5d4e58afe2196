package conv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDataGradAsConvolution runs the forward convolution of DataGradGeometry and
// DataGradFilter on dy and compares it with the input gradient summed directly from its
// definition in float64, dx[c, ih, iw] = Σ dy[m, oh, ow]·w[m, c, kh, kw] over the taps with
// ih = oh − PadTop + kh·DH, iw = ow − PadLeft + kw·DW, on random unit-stride geometries
// (groups, depthwise, dilations, uneven pads), with every algorithm that supports them.
func TestDataGradAsConvolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	tested := 0
	for tested < 150 {
		g := randomGeometry(rng)
		g.SH, g.SW = 1, 1
		if g.Validate() != nil || g.OutH() < 1 || g.OutW() < 1 {
			continue
		}
		dg, ok := g.DataGradGeometry()
		extH, extW := (g.KH-1)*g.DH, (g.KW-1)*g.DW
		if max(g.PadTop, g.PadBottom) > extH || max(g.PadLeft, g.PadRight) > extW {
			if ok {
				t.Fatalf("%+v: a data-gradient geometry despite padding beyond the window", g)
			}
			continue
		}
		if !ok {
			t.Fatalf("%+v: no data-gradient geometry for a unit-stride convolution with pads within the window", g)
		}
		const batch = 2
		w := randFloats(rng, g.FilterLen())
		dy := randFloats(rng, batch*g.OutputLen())
		want := dataGradReference(g, w, dy, batch)
		flipped := make([]float32, g.FilterLen())
		g.DataGradFilter(flipped, w)
		for _, algo := range []Algorithm{Im2col, Direct, Pointwise} {
			if !algo.Supports(dg) {
				continue
			}
			got := make([]float32, batch*g.InputLen())
			NewFilter(dg, flipped, algo, true).Forward(dg, dy, got, batch, nil, 1+tested%3)
			for i := range want {
				if math.Abs(float64(got[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("%+v, %v: dx[%d] = %v, want %v", g, algo, i, got[i], want[i])
				}
			}
		}
		tested++
	}
	if _, ok := (Geometry{C: 1, H: 5, W: 5, M: 1, KH: 3, KW: 3, SH: 2, SW: 1, DH: 1, DW: 1, Group: 1}).DataGradGeometry(); ok {
		t.Error("a stride-2 convolution got a data-gradient geometry")
	}
}

// dataGradReference is the input gradient of batch images by its definition, in float64.
func dataGradReference(g Geometry, w, dy []float32, batch int) []float64 {
	dx := make([]float64, batch*g.InputLen())
	oh, ow, cg, mg := g.OutH(), g.OutW(), g.CG(), g.MG()
	for n := range batch {
		for m := range g.M {
			gi := m / mg
			for c := range cg {
				for kh := range g.KH {
					for kw := range g.KW {
						wv := float64(w[((m*cg+c)*g.KH+kh)*g.KW+kw])
						for y := range oh {
							ih := y - g.PadTop + kh*g.DH
							if ih < 0 || ih >= g.H {
								continue
							}
							for x := range ow {
								iw := x - g.PadLeft + kw*g.DW
								if iw < 0 || iw >= g.W {
									continue
								}
								dx[((n*g.C+gi*cg+c)*g.H+ih)*g.W+iw] += float64(dy[((n*g.M+m)*oh+y)*ow+x]) * wv
							}
						}
					}
				}
			}
		}
	}
	return dx
}
