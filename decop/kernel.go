package decop

import (
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"github.com/dcnet-go/dcnet/internal/conv"
)

// The kernel. DecoupledConv is a convolution whose outputs are finished differently: the
// convolution sums <w_m, x_p> come from the same packed gemm (or, for depthwise layers, the same
// direct kernel) as Conv's, and instead of adding a bias the epilogue turns each sum into
// h(r)·g(c) + B_m while the block of sums is still in cache. What the epilogue needs besides the
// sum is known before the product starts:
//
//   - per output channel m (planned once when W and the parameters are constant): 1/Nw_m, the
//     scale of r, α, ρ, β and B_m (chanConst);
//   - per output pixel p of one (image, group): the patch norm n_p and 1/n_p, computed when the
//     product of that image and group begins (conv.GroupEpilogue.Begin) from the same geometry:
//     Geometry.PatchSquares sums x² over the group's channels into one plane and then over the
//     windows, in float64, into OutH·OutW values in buffers from a pool. When the product itself
//     runs on several goroutines, the channel sums (the bulk of that work) are split over them
//     too, by pixel ranges, before the product starts.
//
// Then c = clamp(sum·(1/Nw_m)·(1/n_p), −1, 1) and r = n_p·(Nw_m or 1) cost two multiplies each,
// and h and g are evaluated by a block kernel (blockArgs) over each finished block: a row per
// output channel, contiguous output pixels along it, in Go (kernel_generic.go) or AVX2+FMA
// assembly (kernel_amd64.s). When h cannot depend on the channel (weighted = 0 and the same α,
// ρ, β for every channel) it is evaluated once per pixel with the norms, and the rows only
// multiply by it.

// chanConst are one output channel's constants for the row kernels, in float32. They are
// derived in float64 from Nw_m, α, ρ, β: rs scales n_p into r (Nw_m if weighted, else 1) and
// hs into r/ρ (rs/ρ). Their field offsets reach the assembly through go_asm.h.
type chanConst struct {
	invNw, rs, hs, alpha, beta, rho, bias float32
}

// Row-kernel selectors beyond the spec's magnitudes and angulars: magPosition takes h from a
// per-pixel table (hpos), angOne sets g = 1 so that a row evaluates h alone.
const (
	magPosition = int(Mix) + 1
	angOne      = int(SqCos) + 1
)

// blockArgs is the whole contract between the epilogue and a block kernel, passed by pointer
// so that the assembly kernels take one argument; its field offsets reach the assembly through
// go_asm.h. The block is rows × cols values of c with row stride ldc; row i has the channel
// constants chans[i], column j the patch norm norm[j], its inverse inv[j] and the tabulated
// magnitude hpos[j]. For each value v = c[i·ldc + j], with the constants of row i:
//
//	c = min(max(v·invNw·inv[j], −1), 1)
//	g = c (cos) | c·|c| (sqcos) | sign(c)·s2·a (linear) | sign(c)·s2·tanh(s1·a) (sigmoid) | 1 (one),
//	    where a = min(asin(|c|), asinMax)
//	h = α (sphere) | α·min(norm[j]·hs, 1) (ball) | α·tanh(norm[j]·hs) (tanh) |
//	    α·(norm[j]·rs) (linear) | α·min(r, ρ) + β·max(r − ρ, 0) (seg) | α·log1p(r) (log) |
//	    α·r + β·log1p(r) (mix) | hpos[j] (position), where r = norm[j]·rs
//	c[i·ldc + j] = h·g + bias
//
// Slices that the selectors do not read may be nil; the others hold at least cols values.
// mode and tail are the assembly kernel's state and scratch for the last vector of a row.
type blockArgs struct {
	c               []float32
	ldc, rows, cols int
	chans           []chanConst
	norm, inv, hpos []float32
	mag, ang        int
	s1, s2          float32
	mode            int
	tail            [4][8]float32
}

// rowArgs describes a single row with its channel constants inline: the form the tests and
// the per-pixel magnitude table use (see blockArgs for the meaning of the fields; y has n
// values).
type rowArgs struct {
	y, norm, inv, hpos []float32
	n                  int
	mag, ang           int
	invNw, rs, hs      float32
	alpha, beta, rho   float32
	bias               float32
	s1, s2             float32
}

// finishRow runs the active kernel on one row.
func finishRow(a *rowArgs) {
	chans := [1]chanConst{{invNw: a.invNw, rs: a.rs, hs: a.hs, alpha: a.alpha, beta: a.beta, rho: a.rho, bias: a.bias}}
	b := blockArgs{c: a.y, ldc: a.n, rows: 1, cols: a.n, chans: chans[:], norm: a.norm, inv: a.inv, hpos: a.hpos,
		mag: a.mag, ang: a.ang, s1: a.s1, s2: a.s2}
	finishBlock(&b)
}

// asinMax is asin(1 − 1e-6): clamping the angle rather than the cosine gives the spec's
// ĉ = clamp(c, −1 + 1e-6, 1 − 1e-6) without rounding ĉ to float32 first, where asin is steep.
var asinMax = float32(math.Asin(1 - clampMargin))

// rowAngularConsts returns s1 and s2 of rowArgs for the angular function a with steepness k.
func rowAngularConsts(a Angular, k float64) (s1, s2 float32) {
	switch a {
	case LinearAng:
		return 0, float32(2 / math.Pi)
	case Sigmoid:
		return float32(1 / (2 * k)), float32(1 / math.Tanh(math.Pi/(4*k)))
	}
	return 0, 0
}

// rowKernel is one entry of the dispatch table: a row kernel and whether this CPU runs it.
type rowKernel struct {
	name   string
	id     int // kernelGeneric, kernelAVX2, kernelAVX512
	usable func() bool
}

// The kernel ids, in order: a kernel runs the assembly of every id up to its own (kernelAVX512
// adds a zmm block kernel for tanh:cos and uses the AVX2 code for the rest).
const (
	kernelGeneric = iota
	kernelAVX2
	kernelAVX512
)

var genericKernel = &rowKernel{name: "generic", id: kernelGeneric, usable: func() bool { return true }}

// activeKernel is the row kernel in use; finishRow dispatches on its id with direct calls, so
// that the arguments stay on the stack.
var activeKernel atomic.Pointer[rowKernel]

func init() { activeKernel.Store(defaultKernel(os.Getenv("DCNET_DECOP"))) }

// defaultKernel picks the fastest usable row kernel unless setting is "generic".
func defaultKernel(setting string) *rowKernel {
	best := genericKernel
	if setting == "generic" {
		return best
	}
	for _, k := range archKernels {
		if k.usable() {
			best = k
		}
	}
	return best
}

// Kernels lists the epilogue row kernels this machine can run, the portable one first.
func Kernels() []string {
	names := []string{genericKernel.name}
	for _, k := range archKernels {
		if k.usable() {
			names = append(names, k.name)
		}
	}
	return names
}

// KernelName reports the row kernel in use.
func KernelName() string { return activeKernel.Load().name }

// UseKernel makes the named row kernel (one of Kernels) the active one and returns a function
// that restores the previous choice, so that tests and benchmarks can run every kernel on one
// machine. The environment variable DCNET_DECOP=generic (or the purego build tag) selects the
// portable kernel for a whole process.
func UseKernel(name string) (restore func(), ok bool) {
	var found *rowKernel
	if name == genericKernel.name {
		found = genericKernel
	}
	for _, k := range archKernels {
		if k.name == name && k.usable() {
			found = k
		}
	}
	if found == nil {
		return nil, false
	}
	prev := activeKernel.Swap(found)
	return func() { activeKernel.Store(prev) }, true
}

// finishBlock checks the block against its slices and runs the active kernel on it.
func finishBlock(a *blockArgs) {
	if a.rows <= 0 || a.cols <= 0 {
		return
	}
	if a.ldc < a.cols || (a.rows-1)*a.ldc+a.cols > len(a.c) || len(a.chans) < a.rows {
		panic(fmt.Sprintf("decop: block of %d×%d values (stride %d) does not fit %d values and %d channels", a.rows, a.cols, a.ldc, len(a.c), len(a.chans)))
	}
	needNorm := a.mag != int(Sphere) && a.mag != magPosition
	if a.ang != angOne && len(a.inv) < a.cols || needNorm && len(a.norm) < a.cols || a.mag == magPosition && len(a.hpos) < a.cols {
		panic(fmt.Sprintf("decop: %d columns but %d norms, %d inverses, %d tabulated magnitudes", a.cols, len(a.norm), len(a.inv), len(a.hpos)))
	}
	switch activeKernel.Load().id {
	case kernelAVX512:
		if a.mag == int(Tanh) && a.ang == int(Cos) {
			blockTanhCosAVX512(a)
			return
		}
		blockAVX2(a)
	case kernelAVX2:
		blockAVX2(a)
	default:
		blockGeneric(a)
	}
}

// epilogue finishes the convolution sums of one Run: it implements conv.GroupEpilogue.
type epilogue struct {
	g     conv.Geometry
	mag   Magnitude
	eps   float64
	chans []chanConst // M values
	// The selectors and angular constants of every block: mag0 is the configured magnitude, or
	// magPosition when h is tabulated per pixel.
	mag0, ang0 int
	s1, s2     float32
	// perPosition says that h is the same for every channel and is tabulated per pixel.
	perPosition bool
}

// newEpilogue prepares the epilogue of one Run.
func newEpilogue(cfg *Config, chans []chanConst) *epilogue {
	e := &epilogue{g: cfg.Geom, mag: cfg.Magnitude, eps: cfg.Eps, chans: chans}
	e.mag0, e.ang0 = int(cfg.Magnitude), int(cfg.Angular)
	e.s1, e.s2 = rowAngularConsts(cfg.Angular, cfg.K)
	e.perPosition = cfg.Magnitude != Sphere && cfg.Magnitude != Linear && !cfg.Weighted && sameMagnitudeParams(chans)
	if e.perPosition {
		e.mag0 = magPosition
	}
	return e
}

// sameMagnitudeParams reports whether every channel has the same α, ρ and β, so that with
// weighted = 0 h(r) does not depend on the channel.
func sameMagnitudeParams(chans []chanConst) bool {
	for _, c := range chans[1:] {
		if c.alpha != chans[0].alpha || c.rho != chans[0].rho || c.beta != chans[0].beta || c.hs != chans[0].hs {
			return false
		}
	}
	return true
}

// finisher is the per-(image, group) state: the patch norms of one product. It implements
// conv.GroupFinisher.
type finisher struct {
	e              *epilogue
	gi             int
	norm, inv      []float32 // n_p and 1/n_p, OutH·OutW values
	hpos           []float32 // h(n_p) if e.perPosition
	squares, spare []float64 // Σ x_p² and PatchSquares' scratch
}

var finishers sync.Pool

// Begin prepares the patch norms of image n, group gi before the product. (Computing them on a
// goroutine of their own, overlapping the product, was measured slower: the product already
// keeps every thread busy, so the extra goroutine only delays one of its workers — up to 1.4×
// Conv's time on resnet18's small 1×1 layers at 2 threads against 1.14× without.)
func (e *epilogue) Begin(n, gi int, xg []float32, threads int) conv.GroupFinisher {
	return e.begin(e.g, gi, xg, threads)
}

// The epilogue begins from the sampled grid of a strided 1×1 layer when the product has one.
var _ conv.SampledGroupEpilogue = (*epilogue)(nil)

// BeginSampled is Begin from the sampled grid xs: [C/Group, OutH, OutW] of a strided 1×1
// convolution (conv.SampledGroupEpilogue), whose patches are its single pixels.
func (e *epilogue) BeginSampled(n, gi int, xs []float32, threads int) conv.GroupFinisher {
	return e.begin(e.g.SampledGrid(), gi, xs, threads)
}

// begin prepares the finisher of group gi from its input x under the windows of geometry g.
func (e *epilogue) begin(g conv.Geometry, gi int, x []float32, threads int) conv.GroupFinisher {
	f, _ := finishers.Get().(*finisher)
	if f == nil {
		f = &finisher{}
	}
	ohw := g.OutHW()
	f.e, f.gi = e, gi
	f.norm, f.inv, f.hpos = grow32(f.norm, ohw), grow32(f.inv, ohw), grow32(f.hpos, ohw)
	f.squares, f.spare = grow64(f.squares, ohw), grow64(f.spare, g.PatchSquaresScratch(threads))
	f.computeNorms(g, x, threads)
	return f
}

// computeNorms computes the patch norms (and the per-pixel magnitudes) of the input x under
// the windows of g, on up to threads goroutines.
func (f *finisher) computeNorms(g conv.Geometry, x []float32, threads int) {
	e := f.e
	g.PatchSquares(f.squares, x, f.spare, threads)
	patchNorms(f.norm, f.inv, f.squares, e.eps)
	if e.perPosition {
		c := e.chans[0]
		a := rowArgs{y: f.hpos, norm: f.norm, n: len(f.norm), mag: int(e.mag), ang: angOne,
			rs: c.rs, hs: c.hs, alpha: c.alpha, beta: c.beta, rho: c.rho}
		finishRow(&a)
	}
}

// normArgs is the contract of the patch-norm kernels: for p < n,
//
//	norm[p] = float32(min(sqrt(squares[p] + eps), MaxFloat32))
//	inv[p]  = float32(min(1/sqrt(squares[p] + eps), MaxFloat32))
//
// in float64 until the final rounding. The caps keep an all-zero patch with eps = 0 finite (its
// sums are zero, so its cosine is 0·cap = 0) and a norm beyond the float32 range finite.
type normArgs struct {
	norm, inv []float32
	squares   []float64
	n         int
	eps       float64
}

// patchNorms computes the norms and their inverses from the patches' sums of squares (see
// normArgs) with the active kernel: the assembly handles blocks of four, the Go loop the rest.
func patchNorms(norm, inv []float32, squares []float64, eps float64) {
	a := normArgs{norm: norm, inv: inv, squares: squares, n: len(squares), eps: eps}
	if len(norm) < a.n || len(inv) < a.n {
		panic("decop: patch norm buffers too short")
	}
	done := 0
	if activeKernel.Load().id >= kernelAVX2 {
		a.n &^= 3
		normsAVX2(&a)
		done = a.n
	}
	for p := done; p < len(squares); p++ {
		n := math.Sqrt(squares[p] + eps)
		norm[p] = float32(min(n, math.MaxFloat32))
		inv[p] = float32(min(1/n, math.MaxFloat32))
	}
}

// Finish applies the decoupled epilogue to a block of the group's sums.
func (f *finisher) Finish(c []float32, ldc, i0, j0, rows, cols int) {
	e := f.e
	m0 := f.gi*e.g.MG() + i0
	a := blockArgs{c: c, ldc: ldc, rows: rows, cols: cols, chans: e.chans[m0 : m0+rows],
		norm: f.norm[j0 : j0+cols], inv: f.inv[j0 : j0+cols],
		mag: e.mag0, ang: e.ang0, s1: e.s1, s2: e.s2}
	if e.perPosition {
		a.hpos = f.hpos[j0 : j0+cols]
	}
	finishBlock(&a)
}

// End returns the finisher's buffers to the pool.
func (f *finisher) End() {
	f.e = nil
	finishers.Put(f)
}

func grow32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func grow64(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}
