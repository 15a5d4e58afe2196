package decop

import (
	"math"
	"testing"
)

// The reference values printed in the spec (shared/spec/decoupled-conv.md, "Reference
// values"), rounded there to six decimals.
var (
	specCosines = []float64{-0.9, -0.5, 0, 0.3, 0.5, 0.9}
	specG       = map[Angular][]float64{
		Cos:       {-0.9, -0.5, 0, 0.3, 0.5, 0.9},
		LinearAng: {-0.712867, -0.333333, 0, 0.193973, 0.333333, 0.712867},
		Sigmoid:   {-0.963456, -0.710245, 0, 0.473256, 0.710245, 0.963456},
		SqCos:     {-0.81, -0.25, 0, 0.09, 0.25, 0.81},
	}
	specRadii = []float64{0.5, 1, 2}
	specH     = map[Magnitude][]float64{
		Sphere: {1, 1, 1},
		Ball:   {0.5, 1, 1},
		Tanh:   {0.462117, 0.761594, 0.964028},
		Linear: {0.5, 1, 2},
		Seg:    {0.5, 1, 1.5},
		Log:    {0.405465, 0.693147, 1.098612},
		Mix:    {0.702733, 1.346574, 2.549306},
	}
)

// specRounding is the rounding of the six-decimal tables.
const specRounding = 5e-7 + 1e-12

// TestSpecTablesFloat64 checks spec.go's H and G against the spec's tables.
func TestSpecTablesFloat64(t *testing.T) {
	for ang, want := range specG {
		for i, c := range specCosines {
			if got := G(ang, c, DefaultK); math.Abs(got-want[i]) > specRounding {
				t.Errorf("G(%v, %v) = %.7f, spec says %v", ang, c, got, want[i])
			}
		}
	}
	p := Params{Alpha: 1, Rho: 1, Beta: 0.5}
	for mag, want := range specH {
		for i, r := range specRadii {
			if got := H(mag, r, p); math.Abs(got-want[i]) > specRounding {
				t.Errorf("H(%v, %v) = %.7f, spec says %v", mag, r, got, want[i])
			}
		}
	}
}

// TestSpecTablesRowKernels checks the float32 evaluation of every row kernel against the
// spec's tables: g through the sphere magnitude with α = 1 (y = g(c)), h through g = 1
// (y = h(r)), with α = 1, ρ = 1, β = 0.5.
func TestSpecTablesRowKernels(t *testing.T) {
	const tol = specRounding + 2e-7 // the table's rounding plus a few float32 ulps
	forEachKernel(t, func(kernel string) {
		for ang, want := range specG {
			n := len(specCosines)
			a := rowArgs{y: make([]float32, n), inv: make([]float32, n), n: n, mag: int(Sphere), ang: int(ang), invNw: 1, alpha: 1}
			a.s1, a.s2 = rowAngularConsts(ang, DefaultK)
			for i, c := range specCosines {
				a.y[i], a.inv[i] = float32(c), 1
			}
			finishRow(&a)
			for i, c := range specCosines {
				if math.Abs(float64(a.y[i])-want[i]) > tol {
					t.Errorf("kernel %s: g %v at %v = %.7f, spec says %v", kernel, ang, c, a.y[i], want[i])
				}
			}
		}
		for mag, want := range specH {
			n := len(specRadii)
			a := rowArgs{y: make([]float32, n), norm: make([]float32, n), n: n, mag: int(mag), ang: angOne,
				rs: 1, hs: 1, alpha: 1, beta: 0.5, rho: 1}
			for i, r := range specRadii {
				a.norm[i] = float32(r)
			}
			finishRow(&a)
			for i, r := range specRadii {
				if math.Abs(float64(a.y[i])-want[i]) > tol {
					t.Errorf("kernel %s: h %v at %v = %.7f, spec says %v", kernel, mag, r, a.y[i], want[i])
				}
			}
		}
	})
}
