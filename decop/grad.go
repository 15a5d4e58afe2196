package decop

import (
	"errors"
	"fmt"
	"math"

	"github.com/dcnet-go/dcnet/internal/conv"
)

// The backward pass of DecoupledConv, for training. With G = ∂L/∂Y and, for output channel m
// and output position p, the dot product s = <w_m, x_p>, the norms n = n_p and N = Nw_m, the
// cosine c = s/(N·n) and r = n (weighted = 0) or N·n (weighted = 1):
//
//	dB_m  = Σ_p G
//	dα_m  = Σ_p G·g(c)·∂h/∂α,   dρ_m = Σ_p G·g(c)·∂h/∂ρ,   dβ_m = Σ_p G·g(c)·∂h/∂β
//	Gc    = G·h(r)·g'(c)  (g' = 0 where the clamp of c is active),   Gr = G·g(c)·∂h/∂r
//	A_s   = Gc/(N·n)                       the coefficient of s
//	A_n   = −Gc·c/n + Gr·∂r/∂n              ∂r/∂n = 1 or N
//	A_N   = −Gc·c/N + Gr·∂r/∂N              ∂r/∂N = 0 or n
//	dW_m  = Σ_p A_s[m,p]·x_p + (Σ_p A_N[m,p])·w_m/N
//	dx_p += Σ_m A_s[m,p]·w_m + (Σ_m A_n[m,p])·x_p/n      (scattered back through the patch)
//
// summed over the images of the batch, and over the channels for a scalar α, ρ or β. The
// partial derivatives of h are the true ones (DH): the spec's shortcut ∂h/∂α = h/α does not hold
// for seg above ρ (ρ) and mix (r).
//
// Backward computes this per image and group (grad_fast.go) with the pieces of the forward
// pass: the patch matrix P [K, OutH·OutW] of the group (conv.PatchPacker as im2col), the patch
// norms (Geometry.PatchSquares), S = W_g·P by gemm (unless Inputs.Sums has it), the
// coefficients elementwise (grad_coeff.go; AVX2 kernel in grad_amd64.s), then dW_gᵀ += P·A_sᵀ
// and dP = W_gᵀ·A_s by gemm, dP scattered back into dX (col2im), plus the patch-norm term
// x·u, where u sums (Σ_m A_n)/n over the windows that read each pixel. The (image, group) items
// run side by side, each worker accumulating its own dW and channel sums, or, when there are
// too few to share out, one after the other with the threads inside each.

// Config is the geometry and the attributes of one DecoupledConv, as its kernels need them.
// Geom has its pads resolved (auto_pad applied); the input size is part of it.
type Config struct {
	Geom      conv.Geometry
	Magnitude Magnitude
	Angular   Angular
	Weighted  bool
	// K is the sigmoid steepness (> 0), Eps the term added under both square roots (>= 0).
	K, Eps float64
}

// Inputs are the tensors of a DecoupledConv that its gradients depend on (the bias does not
// enter them).
type Inputs struct {
	// X is the input batch: [batch, C, H, W].
	X []float32
	// W is the filter: [M, C/Group, KH, KW].
	W []float32
	// Alpha, Rho and Beta are each empty (input absent: the default 1, 1 or 0.5), one value (a
	// scalar, shape [] or [1]) or M values (per output channel).
	Alpha, Rho, Beta []float32
	// Sums, if not empty, are the convolution sums <w_m, x_p> = Conv(X, W) without bias:
	// [batch, M, OutH, OutW], as a forward pass computed them. Backward then uses them instead
	// of recomputing them, which saves one of its three products.
	Sums []float32
}

// Grads are the gradients of a loss L with respect to the inputs of a DecoupledConv, given
// ∂L/∂Y. Each has the layout of its input: DX [batch, C, H, W], DW [M, C/Group, KH, KW], DB [M];
// DAlpha, DRho and DBeta have as many values as Alpha, Rho and Beta (none for an absent input,
// one for a scalar: the sum over the channels).
type Grads struct {
	DX, DW, DB, DAlpha, DRho, DBeta []float32
}

// Validate checks the configuration: a valid geometry, known magnitude and angular functions,
// k > 0 and eps >= 0 (finite).
func (cfg Config) Validate() error {
	var errs []error
	if err := cfg.Geom.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Magnitude < 0 || int(cfg.Magnitude) >= len(magnitudeNames) {
		errs = append(errs, fmt.Errorf("magnitude %d: unknown", int(cfg.Magnitude)))
	}
	if cfg.Angular < 0 || int(cfg.Angular) >= len(angularNames) {
		errs = append(errs, fmt.Errorf("angular %d: unknown", int(cfg.Angular)))
	}
	if !(cfg.K > 0) || math.IsInf(cfg.K, 1) {
		errs = append(errs, fmt.Errorf("k %v: must be positive and finite", cfg.K))
	}
	if !(cfg.Eps >= 0) || math.IsInf(cfg.Eps, 1) {
		errs = append(errs, fmt.Errorf("eps %v: must be non-negative and finite", cfg.Eps))
	}
	return errors.Join(errs...)
}

// checkInputs validates the sizes of the tensors against cfg and batch, and ρ > 0.
func checkInputs(cfg Config, in Inputs, dy []float32, batch int) error {
	g := cfg.Geom
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if batch < 0 {
		bad("batch %d: must not be negative", batch)
	}
	if want := batch * g.InputLen(); len(in.X) != want {
		bad("input X: %d values, want %d (batch %d × %d×%d×%d)", len(in.X), want, batch, g.C, g.H, g.W)
	}
	if want := g.FilterLen(); len(in.W) != want {
		bad("input W: %d values, want %d (%d×%d×%d×%d)", len(in.W), want, g.M, g.CG(), g.KH, g.KW)
	}
	if want := batch * g.OutputLen(); len(dy) != want {
		bad("gradient dY: %d values, want %d (batch %d × %d×%d×%d)", len(dy), want, batch, g.M, g.OutH(), g.OutW())
	}
	if want := batch * g.OutputLen(); len(in.Sums) != 0 && len(in.Sums) != want {
		bad("sums: %d values, want %d (batch %d × %d×%d×%d) or none", len(in.Sums), want, batch, g.M, g.OutH(), g.OutW())
	}
	for _, p := range []struct {
		name string
		v    []float32
	}{{"Alpha", in.Alpha}, {"Rho", in.Rho}, {"Beta", in.Beta}} {
		if n := len(p.v); n > 1 && n != g.M {
			bad("input %s: %d values, want 0, 1 or %d (one per output channel)", p.name, n, g.M)
		}
	}
	for i, v := range in.Rho {
		if !(v > 0) {
			bad("input Rho[%d] = %v: must be positive", i, v)
			break
		}
	}
	return errors.Join(errs...)
}

// Backward computes the gradients of a DecoupledConv for a batch of images from dy = ∂L/∂Y:
// [batch, M, OutH, OutW], using up to threads goroutines. It recomputes what it needs of the
// forward pass (the patch norms, and the dot products unless in.Sums has them).
//
// out's slices are overwritten; a slice of the wrong length (nil included) is replaced by a new
// one, so a training loop that passes the same Grads again allocates nothing for them. DAlpha,
// DRho and DBeta are set to nil for absent parameters. The error names the bad field; nothing is
// written then.
func Backward(cfg Config, in Inputs, dy []float32, batch int, out *Grads, threads int) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("decop.Backward: %w", err)
	}
	if err := checkInputs(cfg, in, dy, batch); err != nil {
		return fmt.Errorf("decop.Backward: %w", err)
	}
	g := cfg.Geom
	out.DX = resize(out.DX, len(in.X))
	out.DW = resize(out.DW, len(in.W))
	out.DB = resize(out.DB, g.M)
	out.DAlpha = resize(out.DAlpha, len(in.Alpha))
	out.DRho = resize(out.DRho, len(in.Rho))
	out.DBeta = resize(out.DBeta, len(in.Beta))
	newBackwardPlan(cfg, in, dy, batch).run(out, max(1, threads))
	return nil
}

// resize returns s if it has n values, else a new slice of n values (nil for n = 0).
func resize(s []float32, n int) []float32 {
	if n == 0 {
		return nil
	}
	if len(s) == n {
		return s
	}
	return make([]float32, n)
}
