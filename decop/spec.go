package decop

import (
	"fmt"
	"math"
)

// The operator's identity (../shared/spec/decoupled-conv.md).
const (
	Domain  = "ai.dcnet"
	OpType  = "DecoupledConv"
	Version = 1
)

// Defaults of the attributes and optional inputs.
const (
	DefaultK     = 0.3
	DefaultEps   = 1e-4
	DefaultAlpha = 1.0
	DefaultRho   = 1.0
	DefaultBeta  = 0.5
)

// clampMargin keeps acos away from ±1, where its derivative is infinite:
// ĉ = clamp(c, −1 + clampMargin, 1 − clampMargin).
const clampMargin = 1e-6

// Magnitude selects h, the function of the norms.
type Magnitude int

// The magnitude functions (h(r) with the m-th α, ρ, β):
const (
	Sphere Magnitude = iota // α
	Ball                    // α·min(r, ρ)/ρ
	Tanh                    // α·tanh(r/ρ)
	Linear                  // α·r
	Seg                     // α·r if r ≤ ρ, else β·r + (α − β)·ρ
	Log                     // α·ln(1 + r)
	Mix                     // α·r + β·ln(1 + r)
)

var magnitudeNames = []string{"sphere", "ball", "tanh", "linear", "seg", "log", "mix"}

// Magnitudes lists every magnitude function.
func Magnitudes() []Magnitude { return []Magnitude{Sphere, Ball, Tanh, Linear, Seg, Log, Mix} }

func (m Magnitude) String() string {
	if m >= 0 && int(m) < len(magnitudeNames) {
		return magnitudeNames[m]
	}
	return fmt.Sprintf("Magnitude(%d)", int(m))
}

// ParseMagnitude maps an attribute value ("tanh", ...) to a Magnitude.
func ParseMagnitude(s string) (Magnitude, error) {
	for i, name := range magnitudeNames {
		if s == name {
			return Magnitude(i), nil
		}
	}
	return 0, fmt.Errorf("unknown magnitude %q (want one of sphere, ball, tanh, linear, seg, log, mix)", s)
}

// Angular selects g, the function of the cosine.
type Angular int

// The angular functions of ĉ = clamp(c, −1 + 1e-6, 1 − 1e-6), θ = acos(ĉ):
const (
	Cos       Angular = iota // c
	LinearAng                // 1 − (2/π)·θ
	Sigmoid                  // tanh((π/2 − θ)/(2k)) / tanh(π/(4k))
	SqCos                    // c·|c|
)

var angularNames = []string{"cos", "linear", "sigmoid", "sqcos"}

// Angulars lists every angular function.
func Angulars() []Angular { return []Angular{Cos, LinearAng, Sigmoid, SqCos} }

func (a Angular) String() string {
	if a >= 0 && int(a) < len(angularNames) {
		return angularNames[a]
	}
	return fmt.Sprintf("Angular(%d)", int(a))
}

// ParseAngular maps an attribute value ("cos", ...) to an Angular.
func ParseAngular(s string) (Angular, error) {
	for i, name := range angularNames {
		if s == name {
			return Angular(i), nil
		}
	}
	return 0, fmt.Errorf("unknown angular %q (want one of cos, linear, sigmoid, sqcos)", s)
}

// Params are one output channel's operator parameters.
type Params struct {
	Alpha, Rho, Beta float64
}

// H evaluates the magnitude function h(r) in float64, straight from the
// spec.
func H(m Magnitude, r float64, p Params) float64 {
	switch m {
	case Sphere:
		return p.Alpha
	case Ball:
		return p.Alpha * math.Min(r, p.Rho) / p.Rho
	case Tanh:
		return p.Alpha * math.Tanh(r/p.Rho)
	case Linear:
		return p.Alpha * r
	case Seg:
		if r <= p.Rho {
			return p.Alpha * r
		}
		return p.Beta*r + (p.Alpha-p.Beta)*p.Rho
	case Log:
		return p.Alpha * math.Log1p(r)
	case Mix:
		return p.Alpha*r + p.Beta*math.Log1p(r)
	}
	panic(fmt.Sprintf("decop: bad magnitude %d", m))
}

// G evaluates the angular function g(c) in float64 (k is the sigmoid
// steepness), straight from the spec. c is clamped to [−1, 1] first.
func G(a Angular, c, k float64) float64 {
	c = math.Max(-1, math.Min(1, c))
	switch a {
	case Cos:
		return c
	case SqCos:
		return c * math.Abs(c)
	}
	theta := math.Acos(clampAcos(c))
	switch a {
	case LinearAng:
		return 1 - 2/math.Pi*theta
	case Sigmoid:
		return math.Tanh((math.Pi/2-theta)/(2*k)) / math.Tanh(math.Pi/(4*k))
	}
	panic(fmt.Sprintf("decop: bad angular %d", a))
}

func clampAcos(c float64) float64 {
	return math.Max(-1+clampMargin, math.Min(1-clampMargin, c))
}

// DH returns ∂h/∂r, ∂h/∂ρ, ∂h/∂α and ∂h/∂β at r (float64, from the spec's
// derivatives; at the kinks of ball and seg the left derivative is used).
func DH(m Magnitude, r float64, p Params) (dr, drho, dalpha, dbeta float64) {
	switch m {
	case Sphere:
		return 0, 0, 1, 0
	case Ball:
		if r < p.Rho {
			return p.Alpha / p.Rho, -p.Alpha * r / (p.Rho * p.Rho), r / p.Rho, 0
		}
		return 0, 0, 1, 0
	case Tanh:
		t := math.Tanh(r / p.Rho)
		sech2 := 1 - t*t
		return p.Alpha / p.Rho * sech2, -p.Alpha * r / (p.Rho * p.Rho) * sech2, t, 0
	case Linear:
		return p.Alpha, 0, r, 0
	case Seg:
		if r <= p.Rho {
			return p.Alpha, 0, r, 0
		}
		return p.Beta, p.Alpha - p.Beta, p.Rho, r - p.Rho
	case Log:
		return p.Alpha / (1 + r), 0, math.Log1p(r), 0
	case Mix:
		return p.Alpha + p.Beta/(1+r), 0, r, math.Log1p(r)
	}
	panic(fmt.Sprintf("decop: bad magnitude %d", m))
}

// DG returns dg/dc at c (float64). It is zero where the clamp of c to
// [−1, 1] is active.
func DG(a Angular, c, k float64) float64 {
	if c < -1 || c > 1 {
		return 0
	}
	switch a {
	case Cos:
		return 1
	case SqCos:
		return 2 * math.Abs(c)
	}
	ch := clampAcos(c)
	if ch != c {
		return 0
	}
	s := math.Sqrt(1 - ch*ch)
	switch a {
	case LinearAng:
		return 2 / math.Pi / s
	case Sigmoid:
		u := (math.Pi/2 - math.Acos(ch)) / (2 * k)
		t := math.Tanh(u)
		return (1 - t*t) / (2 * k * math.Tanh(math.Pi/(4*k)) * s)
	}
	panic(fmt.Sprintf("decop: bad angular %d", a))
}
