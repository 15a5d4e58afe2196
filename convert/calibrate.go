package convert

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dcnet-go/dcnet/decop"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Calibration sets the parameters of rewritten layers from data so that
// each DecoupledConv approximates the convolution it replaced:
//
//   - ρ (magnitudes ball, tanh, seg): ρ_m = Nw_m · q_g for a weighted
//     operator and q_g for an unweighted one, where q_g is the P-th
//     percentile of the patch norms n_p of the layer's input over every
//     calibration image and output position (per channel group g) and
//     Nw_m = sqrt(Σ w_m² + eps) is the operator's own filter norm. Either
//     way ρ is the P-th percentile of the operator's r, so that h(r)
//     saturates on the largest (1 − P) of the patches.
//   - α, bias (and β for seg and mix) per output channel by least squares
//     against the original convolution's output Y0 = Conv(X, W, B) on the
//     same inputs. h is linear in α and β for every magnitude, h = α·a(r) +
//     β·b(r) (b = 0 except for seg, b = (r − ρ)⁺ with a = min(r, ρ), and
//     mix, b = ln(1 + r)), so the layer's output is α·u + β·v + bias with
//     the unit responses u = a(r)·g(c) and v = b(r)·g(c), which the
//     operator itself computes with (α, β, bias) = (1, 0, 0) and
//     (0, 1, 0); the fit is then linear least squares in float64 with the
//     closed-form normal equations. A channel whose unit response is
//     constant (a dead filter, or an all-zero input) keeps α = 1 (and
//     β = α/2), and only its bias is fitted; when seg's or mix's two
//     responses are collinear, β is tied to α/2 (the spec's default ratio).
//
// Layers are calibrated one at a time in topological order, each on the
// converted network's own activations: the layer's input X comes from
// running the model with the parameters calibrated so far, so a layer
// compensates for the approximation error of the layers before it. The
// target Y0 is the original convolution applied to those same inputs (the
// Conv output, before any BatchNormalization that follows it).

// DefaultRhoPercentile is the patch-norm percentile ρ is set to.
const DefaultRhoPercentile = 0.9

// DefaultCalibrationBatch is the number of samples run at once.
const DefaultCalibrationBatch = 256

// DefaultCacheBytes bounds the layer inputs kept in memory, for the second
// pass over the calibration data and as starting points for later layers;
// without room, inputs are computed again from the data.
const DefaultCacheBytes = 1 << 30

// maxNorms bounds the patch norms kept per layer for the percentile
// (128 MiB of float32); beyond it every k-th norm is kept.
const maxNorms = 1 << 25

// CalibrateOptions configure Calibrate. The zero value uses every sample,
// the 90th percentile, batches of 256 and one thread per CPU.
type CalibrateOptions struct {
	// Samples is how many of the data's samples to use, the first ones (0:
	// all).
	Samples int
	// RhoPercentile is P in (0, 1] (0: DefaultRhoPercentile).
	RhoPercentile float64
	// Threads is the number of goroutines (0: one per CPU).
	Threads int
	// Batch is the number of samples per run (0: DefaultCalibrationBatch).
	Batch int
	// CacheBytes bounds the memory kept for layer inputs (0:
	// DefaultCacheBytes; negative: never keep them).
	CacheBytes int64
	// Progress, if set, is called after each layer is calibrated, with its
	// report, its position (from 0) and the number of layers.
	Progress func(r LayerCalibration, index, total int)
}

// CalibrationReport describes a calibration.
type CalibrationReport struct {
	Samples       int                `json:"samples"`
	RhoPercentile float64            `json:"rho_percentile"`
	Layers        []LayerCalibration `json:"layers"` // in calibration (topological) order
}

// LayerCalibration is what Calibrate measured and set for one layer.
type LayerCalibration struct {
	// Node names the layer (its node name, or its output when unnamed).
	Node string `json:"node"`
	// WeightShape is W's [M, C/group, kH, kW].
	WeightShape [4]int `json:"weight_shape"`
	// Operator is the layer's operator.
	Operator string `json:"operator"`
	// Fit lists the fitted parameters: "alpha, bias" or "alpha, beta, bias".
	Fit string `json:"fit"`
	// Rho, Alpha and Beta give the ranges of the values set; Rho and Beta
	// are nil when the magnitude does not use them.
	Rho   *Range `json:"rho,omitempty"`
	Alpha Range  `json:"alpha"`
	Beta  *Range `json:"beta,omitempty"`
	// PatchNormPercentile is the P-th percentile of the patch norms (the
	// smallest over the groups), 0 when ρ is not used.
	PatchNormPercentile float64 `json:"patch_norm_percentile,omitempty"`
	// RelError is ‖Y − Y0‖ / ‖Y0‖ over the calibration data, Y being the
	// layer's output with the fitted parameters and Y0 the original
	// convolution's, both on the converted network's activations.
	RelError float64 `json:"rel_error"`
	// Fallbacks counts the channels whose fit was degenerate (see the
	// package documentation of calibration).
	Fallbacks int `json:"fallbacks,omitempty"`
	// Duration is the time the layer took.
	Duration time.Duration `json:"duration_ns"`
}

// Calibrate sets the parameters of layers (from Rewrite on m) from data:
// x: [N, ...] float32, the samples of m's only graph input, preprocessed
// as the model expects. See the comment at the top of calibrate.go for the
// method. It runs m with package runtime and decop's DecoupledConv. The
// parameters are written into m with SetParams layer by layer (a layer
// whose bias initializer is shared with other nodes gets one of its own,
// and its Layer.B is updated). On error, m may hold the parameters of the
// layers calibrated so far.
func Calibrate(ctx context.Context, m *onnx.ModelProto, layers []Layer, data *runtime.Tensor, opts CalibrateOptions) (*CalibrationReport, error) {
	c, err := newCalibrator(m, layers, data, opts)
	if err != nil {
		return nil, err
	}
	report := &CalibrationReport{Samples: c.samples(), RhoPercentile: c.percentile}
	for i, job := range c.jobs {
		start := time.Now()
		lc, err := c.calibrate(ctx, job)
		if err != nil {
			return report, fmt.Errorf("calibrating layer %s: %w", job.label, err)
		}
		lc.Duration = time.Since(start)
		report.Layers = append(report.Layers, lc)
		if opts.Progress != nil {
			opts.Progress(lc, i, len(c.jobs))
		}
	}
	return report, nil
}

// calibrator holds what every layer's calibration shares.
type calibrator struct {
	m          *onnx.ModelProto
	data       *runtime.Tensor
	input      string // the graph input data feeds
	percentile float64
	threads    int
	batch      int
	cache      activationCache
	opset      int64
	jobs       []*layerJob
}

// layerJob is one layer to calibrate, with the values read from the model
// before any parameter changed.
type layerJob struct {
	layer  *Layer
	label  string
	node   *onnx.NodeProto
	cfg    config
	w      []float32
	wDims  []int
	bias   []float32 // the original convolution's bias (zeros if none)
	shared bool      // the bias initializer is read by other nodes too
}

func newCalibrator(m *onnx.ModelProto, layers []Layer, data *runtime.Tensor, opts CalibrateOptions) (*calibrator, error) {
	c := &calibrator{m: m, data: data, percentile: opts.RhoPercentile, threads: opts.Threads, batch: opts.Batch}
	c.cache = activationCache{budget: opts.CacheBytes, values: map[string][]*runtime.Tensor{}}
	if c.percentile == 0 {
		c.percentile = DefaultRhoPercentile
	}
	if !(c.percentile > 0 && c.percentile <= 1) {
		return nil, fmt.Errorf("calibration: ρ percentile %g: must be in (0, 1]", opts.RhoPercentile)
	}
	if c.batch == 0 {
		c.batch = DefaultCalibrationBatch
	}
	if c.batch < 0 || c.threads < 0 || opts.Samples < 0 {
		return nil, fmt.Errorf("calibration: negative batch (%d), threads (%d) or samples (%d)", opts.Batch, opts.Threads, opts.Samples)
	}
	if c.cache.budget == 0 {
		c.cache.budget = DefaultCacheBytes
	}
	if err := c.setData(data, opts.Samples); err != nil {
		return nil, err
	}
	ix, err := newGraphIndex(m)
	if err != nil {
		return nil, err
	}
	if c.input, err = dataInput(ix); err != nil {
		return nil, err
	}
	opset, err := defaultOpset(m)
	if err != nil {
		return nil, err
	}
	c.opset = int64(opset)
	order, err := topoOrder(ix.g)
	if err != nil {
		return nil, err
	}
	uses := ix.uses()
	var errs []error
	for i := range layers {
		job, err := newLayerJob(ix, &layers[i], uses)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.jobs = append(c.jobs, job)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(c.jobs) == 0 {
		return nil, errors.New("calibration: no layer to calibrate")
	}
	sortJobs(c.jobs, order)
	return c, nil
}

// setData checks the calibration samples and keeps the first ones.
func (c *calibrator) setData(data *runtime.Tensor, samples int) error {
	if data == nil || data.DType() != runtime.Float32 || data.Rank() < 1 {
		return fmt.Errorf("calibration: data must be a float32 tensor [N, ...], got %v", data)
	}
	n := data.Shape()[0]
	if samples > 0 {
		n = min(n, samples)
	}
	if n == 0 {
		return errors.New("calibration: the data hold no sample")
	}
	shape := append([]int{n}, data.Shape()[1:]...)
	c.data = runtime.New(shape, data.Float32s()[:runtime.NumElements(shape)])
	return nil
}

func (c *calibrator) samples() int { return c.data.Shape()[0] }

// dataInput returns the model's only graph input that is not an
// initializer.
func dataInput(ix *graphIndex) (string, error) {
	var names []string
	for _, v := range ix.g.GetInput() {
		if _, init := ix.inits[v.GetName()]; !init {
			names = append(names, v.GetName())
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("calibration needs a model with exactly one data input; this one has %d: %q", len(names), names)
	}
	return names[0], nil
}

// newLayerJob finds layer l's node and reads its filter and bias.
func newLayerJob(ix *graphIndex, l *Layer, uses map[string]int) (*layerJob, error) {
	n, index := findDecoupled(ix.g, l.Y)
	if n == nil {
		return nil, fmt.Errorf("calibration: no DecoupledConv node writes %q (layer %q)", l.Y, l.Node)
	}
	job := &layerJob{layer: l, label: nodeLabel(n, index), node: n}
	fail := func(format string, args ...any) (*layerJob, error) {
		return nil, fmt.Errorf("node %s (DecoupledConv): %s", job.label, fmt.Sprintf(format, args...))
	}
	cfg, err := parseDecoupled(n)
	if err != nil {
		return fail("%v", err)
	}
	job.cfg = cfg
	w, dims, ok, err := ix.floats(l.W)
	switch {
	case err != nil:
		return fail("weight %q: %v", l.W, err)
	case !ok:
		return fail("weight %q is not a constant", l.W)
	case len(dims) != 4:
		return fail("weight %q has shape %v, want [M, C/group, kH, kW]", l.W, dims)
	}
	job.w, job.wDims = w, dims
	mOut := dims[0]
	job.bias = make([]float32, mOut)
	if l.B != "" {
		b, bDims, ok, err := ix.floats(l.B)
		switch {
		case err != nil:
			return fail("bias %q: %v", l.B, err)
		case !ok:
			return fail("bias %q is not a constant initializer; calibration needs the original convolution's bias", l.B)
		case len(b) != mOut:
			return fail("bias %q has shape %v, want [%d]", l.B, bDims, mOut)
		}
		copy(job.bias, b)
		job.shared = uses[l.B] > 1
	}
	mag := cfg.op.Magnitude
	switch {
	case l.Alpha == "":
		return fail("the layer has no alpha initializer (rewrite it with Rewrite)")
	case usesRho(mag) && l.Rho == "":
		return fail("magnitude %v uses rho, but the layer has no rho initializer", mag)
	case usesBeta(mag) && l.Beta == "":
		return fail("magnitude %v uses beta, but the layer has no beta initializer", mag)
	}
	return job, nil
}

// calibrate runs both passes for one layer and writes its parameters.
func (c *calibrator) calibrate(ctx context.Context, job *layerJob) (LayerCalibration, error) {
	lc := LayerCalibration{Node: job.layer.Node, Operator: job.cfg.op.String()}
	if lc.Node == "" {
		lc.Node = job.layer.Y
	}
	copy(lc.WeightShape[:], job.wDims)
	acts, err := c.activations(job)
	if err != nil {
		return lc, err
	}
	mOut := job.wDims[0]
	mag := job.cfg.op.Magnitude
	rho := make([]float32, mOut)
	for i := range rho {
		rho[i] = decop.DefaultRho
	}
	if usesRho(mag) {
		q, err := c.patchNormPercentiles(ctx, job, acts)
		if err != nil {
			return lc, err
		}
		rho = rhoFromPercentiles(job, q)
		lc.PatchNormPercentile = minOf(q)
		r := rangeOf(rho)
		lc.Rho = &r
	}
	fit, err := c.fitLayer(ctx, job, acts, rho)
	if err != nil {
		return lc, err
	}
	lc.Alpha = rangeOf(fit.alpha)
	lc.Fit = "alpha, bias"
	p := Params{Alpha: fit.alpha, Bias: fit.bias}
	if usesRho(mag) {
		p.Rho = rho
	}
	if usesBeta(mag) {
		p.Beta = fit.beta
		lc.Fit = "alpha, beta, bias"
		r := rangeOf(fit.beta)
		lc.Beta = &r
	}
	lc.RelError, lc.Fallbacks = fit.relError, fit.fallbacks
	if job.shared {
		job.layer.B = "" // SetParams gives the layer a bias of its own
	}
	if err := SetParams(c.m, job.layer, p); err != nil {
		return lc, err
	}
	return lc, nil
}

// rhoFromPercentiles turns the per-group patch-norm percentiles into ρ per
// output channel: times the filter norm Nw_m when the operator is weighted.
func rhoFromPercentiles(job *layerJob, q []float64) []float32 {
	mOut, k := job.wDims[0], job.wDims[1]*job.wDims[2]*job.wDims[3]
	perGroup := mOut / len(q)
	eps := float64(job.cfg.op.Eps)
	rho := make([]float32, mOut)
	for m := range rho {
		v := q[m/perGroup]
		if job.cfg.op.Weighted {
			ss := 0.0
			for _, w := range job.w[m*k : (m+1)*k] {
				ss += float64(w) * float64(w)
			}
			v *= math.Sqrt(ss + eps)
		}
		rho[m] = float32(v)
	}
	return rho
}

// rangeOf summarises per-channel values.
func rangeOf(v []float32) Range {
	r := Range{Min: math.Inf(1), Max: math.Inf(-1), Count: len(v), Source: "constant"}
	for _, x := range v {
		r.Min, r.Max = math.Min(r.Min, float64(x)), math.Max(r.Max, float64(x))
	}
	return r
}

func minOf(v []float64) float64 {
	out := math.Inf(1)
	for _, x := range v {
		out = math.Min(out, x)
	}
	return out
}
