package train

import (
	"fmt"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// DefaultRhoMin is the floor ρ is clamped to after every optimiser step
// (ProjectRho): the decoupled operators divide by ρ, and the specification
// requires ρ > 0.
const DefaultRhoMin = 1e-4

// decoupledParamInputs are the inputs of a DecoupledConv node that
// "--train op" trains: B, Alpha, Rho and Beta.
var decoupledParamInputs = []int{2, 3, 4, 5}

// OperatorParams returns the names of the initializers that the
// DecoupledConv nodes of m's main graph read as their bias, α, ρ and β
// (inputs 2 to 5): what "train only the operators' parameters" trains. It
// is an error for m to have no DecoupledConv node.
func OperatorParams(m *onnx.ModelProto) (map[string]bool, error) {
	inits := initializerNames(m)
	names := map[string]bool{}
	nodes := 0
	for _, n := range m.GetGraph().GetNode() {
		if !isDecoupled(n) {
			continue
		}
		nodes++
		for _, i := range decoupledParamInputs {
			if i < len(n.GetInput()) && inits[n.GetInput()[i]] {
				names[n.GetInput()[i]] = true
			}
		}
	}
	if nodes == 0 {
		return nil, fmt.Errorf("the model has no %s/%s node, so no operator parameters to train", decop.Domain, decop.OpType)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the model's %d %s nodes read no bias, α, ρ or β initializer", nodes, decop.OpType)
	}
	return names, nil
}

// RhoParams returns the names of the initializers read as ρ (input 4) by
// the DecoupledConv nodes of m's main graph.
func RhoParams(m *onnx.ModelProto) map[string]bool {
	inits := initializerNames(m)
	names := map[string]bool{}
	for _, n := range m.GetGraph().GetNode() {
		if isDecoupled(n) && len(n.GetInput()) > 4 && inits[n.GetInput()[4]] {
			names[n.GetInput()[4]] = true
		}
	}
	return names
}

// ProjectRho returns a projection for Config.Project that clamps the
// trainable parameters named in rho to at least min after every step.
func ProjectRho(params []*runtime.Param, rho map[string]bool, min float32) func() {
	var ps []*runtime.Param
	for _, p := range params {
		if p.Trainable && rho[p.Name] {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return func() { ClampMin(ps, rho, min) }
}

func isDecoupled(n *onnx.NodeProto) bool {
	return n.GetDomain() == decop.Domain && n.GetOpType() == decop.OpType
}

func initializerNames(m *onnx.ModelProto) map[string]bool {
	out := map[string]bool{}
	for _, t := range m.GetGraph().GetInitializer() {
		out[t.GetName()] = true
	}
	return out
}
