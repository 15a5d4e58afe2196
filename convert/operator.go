package convert

import (
	"fmt"
	"strings"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
)

// Operator is the decoupled operator a rewrite installs in place of a
// convolution: the DecoupledConv attributes magnitude, angular, weighted, k
// and eps (see ../shared/spec/decoupled-conv.md).
type Operator struct {
	Magnitude decop.Magnitude
	Angular   decop.Angular
	Weighted  bool
	K         float32 // sigmoid steepness (> 0), used by the sigmoid angular only
	Eps       float32 // added under both square roots (> 0)
}

// Identity is the operator that equals the convolution it replaces:
// linear magnitude, cos angular, weighted, with α = 1 (the parameter value
// Rewrite writes). Then h·g = (‖w‖·‖x‖)·(<w,x>/(‖w‖·‖x‖)) = <w,x>.
func Identity() Operator {
	return Operator{Magnitude: decop.Linear, Angular: decop.Cos, Weighted: true, K: decop.DefaultK, Eps: decop.DefaultEps}
}

// ParseOperator reads "identity" or "MAGNITUDE:ANGULAR" (for example
// "tanh:cos"); the latter is unweighted, with the default k and eps.
func ParseOperator(s string) (Operator, error) {
	if s == "identity" {
		return Identity(), nil
	}
	mag, ang, ok := strings.Cut(s, ":")
	if !ok {
		return Operator{}, fmt.Errorf("operator %q: want identity or MAGNITUDE:ANGULAR, such as tanh:cos", s)
	}
	m, err := decop.ParseMagnitude(mag)
	if err != nil {
		return Operator{}, fmt.Errorf("operator %q: %w", s, err)
	}
	a, err := decop.ParseAngular(ang)
	if err != nil {
		return Operator{}, fmt.Errorf("operator %q: %w", s, err)
	}
	return Operator{Magnitude: m, Angular: a, K: decop.DefaultK, Eps: decop.DefaultEps}, nil
}

// IsIdentity reports whether o reproduces the convolution when α = 1.
func (o Operator) IsIdentity() bool {
	return o.Magnitude == decop.Linear && o.Angular == decop.Cos && o.Weighted
}

// String formats o as "linear:cos weighted" or "tanh:sigmoid k=0.3".
func (o Operator) String() string {
	s := o.Magnitude.String() + ":" + o.Angular.String()
	if o.Weighted {
		s += " weighted"
	}
	if o.Angular == decop.Sigmoid {
		s += fmt.Sprintf(" k=%g", o.K)
	}
	return s
}

func (o Operator) validate() error {
	if o.Magnitude < decop.Sphere || o.Magnitude > decop.Mix {
		return fmt.Errorf("operator: bad magnitude %v", o.Magnitude)
	}
	if o.Angular < decop.Cos || o.Angular > decop.SqCos {
		return fmt.Errorf("operator: bad angular %v", o.Angular)
	}
	if !(o.K > 0) {
		return fmt.Errorf("operator: k must be positive, got %g", o.K)
	}
	if !(o.Eps > 0) {
		return fmt.Errorf("operator: eps must be positive, got %g", o.Eps)
	}
	return nil
}

// usesRho and usesBeta tell which optional parameters a magnitude reads.
func usesRho(m decop.Magnitude) bool {
	return m == decop.Ball || m == decop.Tanh || m == decop.Seg
}

func usesBeta(m decop.Magnitude) bool {
	return m == decop.Seg || m == decop.Mix
}

// Form is the way a converted model spells its decoupled layers.
type Form int

const (
	// Custom keeps ai.dcnet DecoupledConv nodes: compact, and run by this
	// project's runtime with its fused kernel.
	Custom Form = iota
	// Functions keeps the DecoupledConv nodes and adds model-local function
	// bodies of standard operators, one per distinct configuration, so any
	// ONNX runtime can run the model while ours still uses the fused kernel.
	Functions
	// Expanded replaces every DecoupledConv node by standard operators
	// inline, for consumers that ignore model-local functions.
	Expanded
)

var formNames = []string{"custom", "functions", "expanded"}

func (f Form) String() string {
	if f >= 0 && int(f) < len(formNames) {
		return formNames[f]
	}
	return fmt.Sprintf("Form(%d)", int(f))
}

// ParseForm maps "custom", "functions" or "expanded" to a Form.
func ParseForm(s string) (Form, error) {
	for i, name := range formNames {
		if s == name {
			return Form(i), nil
		}
	}
	return 0, fmt.Errorf("unknown form %q (want custom, functions or expanded)", s)
}

// Convert writes m in form f (see Form). Rewrite produces the custom form;
// convert afterwards, once parameters are final, since the expanded form
// bakes constants.
func Convert(m *onnx.ModelProto, f Form) error {
	switch f {
	case Custom:
		ToCustom(m)
		return nil
	case Functions:
		return AddFunctions(m)
	case Expanded:
		return Expand(m)
	}
	return fmt.Errorf("unknown form %v", f)
}
