package runtime

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/internal/parallel"
)

func registerPool(r *Registry) {
	// Later versions add attributes (storage_order and Indices in 8, ceil_mode and dilations in
	// 10, integer types in 12; count_include_pad in 7, dilations in 19) that are absent, and so
	// at their defaults, in older models: one builder serves every version.
	for _, v := range []int{1, 8, 10, 11, 12} {
		r.Register("", "MaxPool", v, buildMaxPool)
	}
	for _, v := range []int{1, 7, 10, 11, 19} {
		r.Register("", "AveragePool", v, buildAveragePool)
	}
	r.Register("", "GlobalAveragePool", 1, buildGlobalPool(false))
	r.Register("", "GlobalMaxPool", 1, buildGlobalPool(true))
}

// poolKernel is a planned MaxPool or AveragePool: x: [N, C, spatial...] → y: [N, C, out...],
// and for MaxPool with a second output the int64 indices of the maxima in x (flattened, the
// spatial part row-major, or column-major with storage_order 1).
type poolKernel struct {
	max      bool
	win      windowAttrs
	ceil     bool
	countPad bool // AveragePool: padding counts in the divisor
	colMajor bool // MaxPool: storage_order 1
	indices  bool // MaxPool: the Indices output is requested
}

func buildMaxPool(n *Node) (Kernel, error) {
	k, err := buildPool(n, true)
	if err != nil {
		return nil, err
	}
	k.colMajor = n.IntIn("storage_order", 0, 0, 1) == 1
	k.indices = len(n.Outputs) > 1 && n.Outputs[1] != ""
	return k, n.Err()
}

func buildAveragePool(n *Node) (Kernel, error) {
	k, err := buildPool(n, false)
	if err != nil {
		return nil, err
	}
	k.countPad = n.IntIn("count_include_pad", 0, 0, 1) == 1
	return k, n.Err()
}

func buildPool(n *Node, isMax bool) (*poolKernel, error) {
	if !n.HasInput(0) {
		return nil, n.Errorf("expected input X")
	}
	if !n.HasAttr("kernel_shape") {
		return nil, n.Errorf("attribute \"kernel_shape\": required")
	}
	k := &poolKernel{max: isMax, ceil: n.IntIn("ceil_mode", 0, 0, 1) == 1}
	k.win = decodeWindowAttrs(n, 0)
	if err := n.Err(); err != nil {
		return nil, err
	}
	if k.win.spatial < 1 || k.win.spatial > 3 {
		return nil, n.Errorf("attribute \"kernel_shape\": expected 1 to 3 spatial axes, got %d", k.win.spatial)
	}
	return k, nil
}

// Run implements Kernel.
func (k *poolKernel) Run(rc *RunContext, in, out []*Tensor) error {
	x := in[0]
	g, err := k.geometry(x)
	if err != nil {
		return rc.Errorf("%v", err)
	}
	shape := append([]int{x.Shape()[0], x.Shape()[1]}, make([]int, k.win.spatial)...)
	for i := range k.win.spatial {
		shape[2+i] = g.Axes[3-k.win.spatial+i].Out()
	}
	planes := x.Shape()[0] * x.Shape()[1]
	threads := poolThreads(rc, planes*g.OutLen()*k.windowSize())
	y := rc.New(x.DType(), shape...)
	var idx []int64
	if k.indices {
		out[1] = rc.New(Int64, shape...)
		idx = out[1].Int64s()
	}
	out[0] = y
	if !k.max {
		switch x.DType() {
		case Float32:
			conv.AveragePool(g, x.Float32s(), y.Float32s(), k.countPad, planes, threads)
		case Float64:
			conv.AveragePool(g, x.Float64s(), y.Float64s(), k.countPad, planes, threads)
		default:
			return rc.Errorf("input X: element type %v is not supported (FLOAT and DOUBLE only)", x.DType())
		}
		return nil
	}
	switch x.DType() {
	case Float32:
		conv.MaxPool(g, x.Float32s(), y.Float32s(), idx, k.colMajor, planes, threads)
	case Float64:
		conv.MaxPool(g, x.Float64s(), y.Float64s(), idx, k.colMajor, planes, threads)
	case Int8:
		conv.MaxPool(g, Values[int8](x), Values[int8](y), idx, k.colMajor, planes, threads)
	case Uint8:
		conv.MaxPool(g, Values[uint8](x), Values[uint8](y), idx, k.colMajor, planes, threads)
	default:
		return rc.Errorf("input X: element type %v is not supported (FLOAT, DOUBLE, INT8 and UINT8 only)", x.DType())
	}
	return nil
}

// windowSize is the number of taps of the window.
func (k *poolKernel) windowSize() int {
	n := 1
	for _, v := range k.win.kernel {
		n *= v
	}
	return n
}

// geometry derives the pooling geometry from the input shape and checks it.
func (k *poolKernel) geometry(x *Tensor) (conv.PoolGeometry, error) {
	a := k.win
	if x.Rank() != a.spatial+2 {
		return conv.PoolGeometry{}, fmt.Errorf("input X %v: expected rank %d for a %d-D kernel_shape %v", x, a.spatial+2, a.spatial, a.kernel)
	}
	wins := make([]conv.Window, a.spatial)
	for i := range wins {
		in := x.Shape()[2+i]
		pb, pe := a.axisPads(i, in, a.kernel[i])
		wins[i] = conv.Window{In: in, K: a.kernel[i], Stride: a.strides[i], Dilation: a.dilations[i], PadBegin: pb, PadEnd: pe, Ceil: k.ceil}
		if a.autoPad == conv.SameUpper || a.autoPad == conv.SameLower {
			// ceil(in/stride) outputs by definition of the Same modes.
			wins[i].Ceil = false
		}
	}
	g := conv.NewPoolGeometry(wins)
	if err := g.Check(); err != nil {
		return g, fmt.Errorf("input X %v: %v", x, err)
	}
	return g, nil
}

// poolThreads limits the threads of a pooling loop of about work element operations, so that
// small pools do not pay for goroutines.
func poolThreads(rc *RunContext, work int) int {
	const perThread = 1 << 15
	return max(1, min(rc.Threads(), work/perThread))
}

// buildGlobalPool plans GlobalMaxPool (isMax) or GlobalAveragePool: x: [N, C, spatial...] →
// y: [N, C, 1, ...], reducing each plane to its maximum or mean.
func buildGlobalPool(isMax bool) Builder {
	return func(n *Node) (Kernel, error) {
		if !n.HasInput(0) {
			return nil, n.Errorf("expected input X")
		}
		return KernelFunc(func(rc *RunContext, in, out []*Tensor) error {
			x := in[0]
			if x.Rank() < 3 {
				return rc.Errorf("input X: expected rank >= 3 ([N, C, spatial...]), got %v", x)
			}
			shape := append([]int(nil), x.Shape()...)
			size := 1
			for i := 2; i < len(shape); i++ {
				size *= shape[i]
				shape[i] = 1
			}
			if size == 0 {
				return rc.Errorf("input X %v: empty spatial extent", x)
			}
			y := rc.New(x.DType(), shape...)
			planes := shape[0] * shape[1]
			threads := poolThreads(rc, planes*size)
			switch x.DType() {
			case Float32:
				globalPool(x.Float32s(), y.Float32s(), size, isMax, threads)
			case Float64:
				globalPool(x.Float64s(), y.Float64s(), size, isMax, threads)
			default:
				return rc.Errorf("input X: element type %v is not supported (FLOAT and DOUBLE only)", x.DType())
			}
			out[0] = y
			return nil
		}), nil
	}
}

// globalPool reduces each plane of size values of x to one value of y: the maximum, or the
// mean (summed in float64, so that large planes keep full precision).
func globalPool[T float32 | float64](x, y []T, size int, isMax bool, threads int) {
	parallel.For(threads, len(y), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			plane := x[p*size : (p+1)*size]
			if isMax {
				best := plane[0]
				for _, v := range plane[1:] {
					if v > best || v != v { // NaN propagates, as in numpy.max
						best = v
					}
				}
				y[p] = best
				continue
			}
			y[p] = T(sumFloat64(plane) / float64(size))
		}
	})
}

// sum32Vec, if set, sums float32 values in float64 16 at a time (vecmath_amd64.go).
var sum32Vec func(x []float32, n int) float64

// sumFloat64 returns the sum of v in float64: with the vector kernel for float32 where there
// is one (its own order of summation), else in order.
func sumFloat64[T float32 | float64](v []T) float64 {
	var s float64
	if v32, ok := any(v).([]float32); ok && sum32Vec != nil {
		n := len(v32) &^ 15
		s = sum32Vec(v32, n)
		v = v[n:]
	}
	for _, x := range v {
		s += float64(x)
	}
	return s
}
