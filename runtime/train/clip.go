package train

import (
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/runtime"
)

// ClipGradNorm scales the gradients of params so that their global L2
// norm (over every element of every gradient) is at most maxNorm, as
// torch.nn.utils.clip_grad_norm_: when the norm exceeds maxNorm each
// gradient is multiplied by maxNorm/(norm + 1e-6). It returns the norm
// before clipping, computed in float64. Parameters without a gradient are
// skipped.
func ClipGradNorm(params []*runtime.Param, maxNorm float64) (float64, error) {
	if !(maxNorm > 0) || math.IsInf(maxNorm, 0) {
		return 0, fmt.Errorf("gradient clipping: maximum norm %v: must be finite and > 0", maxNorm)
	}
	var sum float64
	for _, p := range params {
		if p == nil || p.Grad == nil {
			continue
		}
		for _, g := range p.Grad.Float32s() {
			sum += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(sum)
	coef := maxNorm / (norm + 1e-6)
	if coef >= 1 {
		return norm, nil
	}
	c := float32(coef)
	for _, p := range params {
		if p == nil || p.Grad == nil {
			continue
		}
		g := p.Grad.Float32s()
		for i := range g {
			g[i] *= c
		}
	}
	return norm, nil
}

// ClampMin raises every element of the named parameters below min to min:
// a projection onto {x ≥ min} after an optimiser step, used to keep the ρ
// of decoupled convolutions positive.
func ClampMin(params []*runtime.Param, names map[string]bool, min float32) {
	for _, p := range params {
		if p == nil || !names[p.Name] || p.Value == nil {
			continue
		}
		v := p.Value.Float32s()
		for i := range v {
			if !(v[i] >= min) {
				v[i] = min
			}
		}
	}
}
