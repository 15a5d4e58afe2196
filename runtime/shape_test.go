package runtime_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// Tests of the shape and data-movement ops. The references below work on
// coordinates: an odometer walks the output, and each expected element is
// looked up in the source by its flat (Horner-form) index, so they share
// no code with the kernels' stride/offset plans. Every random test cycles
// through all element types; data movement must be bit-exact.

var shpDTypes = []runtime.DType{runtime.Float32, runtime.Float64, runtime.Float16, runtime.Int64, runtime.Int32, runtime.Int8, runtime.Uint8, runtime.Bool}

// shpRandom returns a tensor of random values (random bits for float16).
func shpRandom(rng *rand.Rand, dt runtime.DType, shape []int) *runtime.Tensor {
	n := runtime.NumElements(shape)
	switch dt {
	case runtime.Float32:
		return runtime.New(shape, shpFill(n, func() float32 { return float32(rng.NormFloat64()) }))
	case runtime.Float64:
		return runtime.New(shape, shpFill(n, rng.NormFloat64))
	case runtime.Float16:
		return runtime.New(shape, shpFill(n, func() uint16 { return uint16(rng.IntN(0x7c00)) }))
	case runtime.Int64:
		return runtime.New(shape, shpFill(n, func() int64 { return rng.Int64() - math.MaxInt64/2 }))
	case runtime.Int32:
		return runtime.New(shape, shpFill(n, rng.Int32))
	case runtime.Int8:
		return runtime.New(shape, shpFill(n, func() int8 { return int8(rng.IntN(256) - 128) }))
	case runtime.Uint8:
		return runtime.New(shape, shpFill(n, func() uint8 { return uint8(rng.IntN(256)) }))
	case runtime.Bool:
		return runtime.New(shape, shpFill(n, func() bool { return rng.IntN(2) == 1 }))
	}
	panic(dt)
}

func shpFill[T any](n int, gen func() T) []T {
	d := make([]T, n)
	for i := range d {
		d[i] = gen()
	}
	return d
}

// shpTensor wraps a typed slice held in an interface.
func shpTensor(shape []int, data any) *runtime.Tensor {
	switch d := data.(type) {
	case []float32:
		return runtime.New(shape, d)
	case []float64:
		return runtime.New(shape, d)
	case []uint16:
		return runtime.New(shape, d)
	case []int64:
		return runtime.New(shape, d)
	case []int32:
		return runtime.New(shape, d)
	case []int8:
		return runtime.New(shape, d)
	case []uint8:
		return runtime.New(shape, d)
	case []bool:
		return runtime.New(shape, d)
	}
	panic(fmt.Sprintf("%T", data))
}

// shpExpect builds the expected output: element i is src's element at flat
// index idx[i], or fill's only element where idx[i] < 0.
func shpExpect(src *runtime.Tensor, shape []int, idx []int, fill *runtime.Tensor) *runtime.Tensor {
	sv := reflect.ValueOf(src.Data())
	out := reflect.MakeSlice(sv.Type(), len(idx), len(idx))
	for i, j := range idx {
		if j < 0 {
			if fill != nil {
				out.Index(i).Set(reflect.ValueOf(fill.Data()).Index(0))
			}
			continue
		}
		out.Index(i).Set(sv.Index(j))
	}
	return shpTensor(shape, out.Interface())
}

// shpEach calls fn with every coordinate of shape in row-major order.
func shpEach(shape []int, fn func(c []int)) {
	if runtime.NumElements(shape) == 0 {
		return
	}
	c := make([]int, len(shape))
	for {
		fn(c)
		d := len(c) - 1
		for ; d >= 0; d-- {
			c[d]++
			if c[d] < shape[d] {
				break
			}
			c[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// shpFlat is the row-major flat index of coordinates c in shape.
func shpFlat(shape, c []int) int {
	f := 0
	for d := range shape {
		f = f*shape[d] + c[d]
	}
	return f
}

func shpCheckEqual(t *testing.T, what string, got, want *runtime.Tensor) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no output", what)
	}
	if got.DType() != want.DType() || !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	if !reflect.DeepEqual(got.Data(), want.Data()) {
		t.Fatalf("%s: data differs:\n got %v\nwant %v", what, got.Data(), want.Data())
	}
}

func shpInts(v ...int64) *runtime.Tensor { return runtime.New([]int{len(v)}, v) }

func shpRandShape(rng *rand.Rand, rank, maxDim int) []int {
	s := make([]int, rank)
	for i := range s {
		s[i] = 1 + rng.IntN(maxDim)
	}
	return s
}

// shpWantNodeError runs the spec and requires an error that names the
// node and contains every fragment.
func shpWantNodeError(t *testing.T, ns nodeSpec, fragments ...string) {
	t.Helper()
	_, err := ns.run(t)
	if err == nil {
		t.Fatalf("%s: expected an error", ns.op)
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf("node %q (%s)", "n", ns.op)) {
		t.Errorf("%s: error does not name the node: %v", ns.op, err)
	}
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("%s: error %q lacks %q", ns.op, msg, f)
		}
	}
}

func TestTransposeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		dt := shpDTypes[iter%len(shpDTypes)]
		rank := 1 + rng.IntN(5)
		shape := shpRandShape(rng, rank, 5)
		if iter%10 == 0 && rank >= 2 {
			// Large enough for the tiled path and odd sizes straddling tiles.
			shape[rank-1], shape[rank-2] = 33+rng.IntN(40), 33+rng.IntN(40)
		}
		perm := rng.Perm(rank)
		x := shpRandom(rng, dt, shape)
		outShape := make([]int, rank)
		for d, p := range perm {
			outShape[d] = shape[p]
		}
		var idx []int
		src := make([]int, rank)
		shpEach(outShape, func(c []int) {
			for d, p := range perm {
				src[p] = c[d]
			}
			idx = append(idx, shpFlat(shape, src))
		})
		ns := nodeSpec{op: "Transpose", opset: 13, inputs: []*runtime.Tensor{x}, attrs: shpAttrs(attrInts("perm", shpInt64s(perm)...))}
		shpCheckEqual(t, fmt.Sprintf("Transpose %v perm %v %v", shape, perm, dt), ns.mustRun(t)[0], shpExpect(x, outShape, idx, nil))
	}
}

func TestTransposeLargeParallel(t *testing.T) {
	// Over the parallel threshold: NCHW -> NHWC and back, plus the default
	// (reversed) permutation.
	rng := rand.New(rand.NewPCG(3, 4))
	shape := []int{2, 24, 37, 41}
	x := shpRandom(rng, runtime.Float32, shape)
	for _, perm := range [][]int{{0, 2, 3, 1}, {0, 3, 1, 2}, {3, 2, 1, 0}, {1, 0, 2, 3}} {
		outShape := make([]int, 4)
		for d, p := range perm {
			outShape[d] = shape[p]
		}
		var idx []int
		src := make([]int, 4)
		shpEach(outShape, func(c []int) {
			for d, p := range perm {
				src[p] = c[d]
			}
			idx = append(idx, shpFlat(shape, src))
		})
		ns := nodeSpec{op: "Transpose", opset: 13, inputs: []*runtime.Tensor{x}}
		if !slices.Equal(perm, []int{3, 2, 1, 0}) {
			ns.attrs = shpAttrs(attrInts("perm", shpInt64s(perm)...))
		}
		shpCheckEqual(t, fmt.Sprintf("Transpose perm %v", perm), ns.mustRun(t, runtime.WithThreads(2))[0], shpExpect(x, outShape, idx, nil))
	}
}

// shpSliceRef lists the indices an axis of size dim keeps, walking the
// range element by element.
func shpSliceRef(start, end, step int64, dim int) []int {
	d := int64(dim)
	norm := func(v int64) int64 {
		if v < 0 {
			return v + d
		}
		return v
	}
	s, e := norm(start), norm(end)
	var out []int
	if step > 0 {
		s, e = min(max(s, 0), d), min(max(e, 0), d)
		for i := s; i < e; {
			out = append(out, int(i))
			if step >= e-i {
				break
			}
			i += step
		}
		return out
	}
	if d == 0 {
		return nil
	}
	s, e = min(max(s, 0), d-1), min(max(e, -1), d-1)
	for i := s; i > e; {
		out = append(out, int(i))
		if -(step + 1) >= i-e-1 { // |step| >= i-e without overflow
			break
		}
		i += step
	}
	return out
}

func TestSliceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	extremes := []int64{math.MaxInt64, math.MinInt64, math.MaxInt32, -math.MaxInt32}
	pick := func(dim int) int64 {
		if rng.IntN(8) == 0 {
			return extremes[rng.IntN(len(extremes))]
		}
		return int64(rng.IntN(2*dim+7) - dim - 3)
	}
	for iter := 0; iter < 300; iter++ {
		dt := shpDTypes[iter%len(shpDTypes)]
		rank := 1 + rng.IntN(4)
		shape := shpRandShape(rng, rank, 6)
		x := shpRandom(rng, dt, shape)
		axes := rng.Perm(rank)[:1+rng.IntN(rank)]
		var starts, ends, axesIn, steps []int64
		keep := make([][]int, rank)
		for d := range shape {
			keep[d] = shpSliceRef(0, math.MaxInt64, 1, shape[d])
		}
		for _, a := range axes {
			st := int64(rng.IntN(7) - 3)
			if st == 0 || rng.IntN(10) == 0 {
				st = []int64{math.MaxInt64, math.MinInt64, 1, -1}[rng.IntN(4)]
			}
			s, e := pick(shape[a]), pick(shape[a])
			starts, ends, steps = append(starts, s), append(ends, e), append(steps, st)
			ax := int64(a)
			if rng.IntN(2) == 0 {
				ax -= int64(rank)
			}
			axesIn = append(axesIn, ax)
			keep[a] = shpSliceRef(s, e, st, shape[a])
		}
		outShape := make([]int, rank)
		for d := range keep {
			outShape[d] = len(keep[d])
		}
		var idx []int
		src := make([]int, rank)
		shpEach(outShape, func(c []int) {
			for d := range c {
				src[d] = keep[d][c[d]]
			}
			idx = append(idx, shpFlat(shape, src))
		})
		want := shpExpect(x, outShape, idx, nil)
		ns := nodeSpec{op: "Slice", opset: 13,
			inputs:   []*runtime.Tensor{x, shpInts(starts...), shpInts(ends...), shpInts(axesIn...), shpInts(steps...)},
			constant: map[int]bool{1: rng.IntN(2) == 0, 2: rng.IntN(2) == 0, 3: rng.IntN(2) == 0, 4: rng.IntN(2) == 0}}
		what := fmt.Sprintf("Slice %v starts %v ends %v axes %v steps %v", shape, starts, ends, axesIn, steps)
		shpCheckEqual(t, what, ns.mustRun(t)[0], want)
	}
}

func TestSliceOptionalInputsAndV1(t *testing.T) {
	x := shpRandom(rand.New(rand.NewPCG(7, 8)), runtime.Float32, []int{4, 5})
	ref := func(rows, cols []int) *runtime.Tensor {
		var idx []int
		for _, r := range rows {
			for _, c := range cols {
				idx = append(idx, r*5+c)
			}
		}
		return shpExpect(x, []int{len(rows), len(cols)}, idx, nil)
	}
	// Default axes (0..n-1) and steps (1).
	got := nodeSpec{op: "Slice", opset: 13, inputs: []*runtime.Tensor{x, shpInts(1, -4), shpInts(3, 100)}}.mustRun(t)[0]
	shpCheckEqual(t, "Slice default axes", got, ref([]int{1, 2}, []int{1, 2, 3, 4}))
	// Opset 1 attributes.
	got = nodeSpec{op: "Slice", opset: 9, inputs: []*runtime.Tensor{x}, attrs: shpAttrs(attrInts("starts", 2), attrInts("ends", -1), attrInts("axes", 1))}.mustRun(t)[0]
	shpCheckEqual(t, "Slice-1", got, ref([]int{0, 1, 2, 3}, []int{2, 3}))
}

// shpPadRef resolves an index j outside an axis of size s by the mode's
// geometric definition, one reflection or wrap at a time.
func shpPadRef(mode string, j, s int) int {
	if j >= 0 && j < s {
		return j
	}
	switch mode {
	case "edge":
		if j < 0 {
			return 0
		}
		return s - 1
	case "wrap":
		for j < 0 {
			j += s
		}
		for j >= s {
			j -= s
		}
		return j
	case "reflect":
		for j < 0 || j >= s {
			if j < 0 {
				j = -j
			}
			if j >= s {
				j = 2*(s-1) - j
			}
		}
		return j
	}
	return -1
}

// TestPadModesRandom checks Pad against a crop-then-pad reference: the
// negative pads remove elements first, then the positive ones extend what
// is left (ONNX Runtime's semantics; the ONNX reference rejects negative
// pads). Reflect pads longer than the kept length minus one are errors.
func TestPadModesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	modes := []string{"constant", "reflect", "edge", "wrap"}
	errorsSeen := 0
	for iter := 0; iter < 320; iter++ {
		dt := shpDTypes[iter%len(shpDTypes)]
		mode := modes[iter%len(modes)]
		rank := 1 + rng.IntN(3)
		shape := shpRandShape(rng, rank, 5)
		x := shpRandom(rng, dt, shape)
		pads := make([]int64, 2*rank)
		outShape := make([]int, rank)
		keep := make([][]int, rank) // source indices left after cropping
		valid := true
		for d := range shape {
			var b, e int
			for {
				b, e = rng.IntN(9)-2, rng.IntN(9)-2
				if mode == "reflect" { // mostly valid: at most kept-1
					b, e = rng.IntN(5)-1, rng.IntN(5)-1
				}
				if shape[d]+min(b, 0)+min(e, 0) >= 0 {
					break
				}
			}
			pads[d], pads[d+rank] = int64(b), int64(e)
			for i := max(-b, 0); i < shape[d]-max(-e, 0); i++ {
				keep[d] = append(keep[d], i)
			}
			grow := max(b, 0) + max(e, 0)
			outShape[d] = len(keep[d]) + grow
			if grow > 0 && ((mode == "reflect" && max(b, e) > len(keep[d])-1) || (mode != "constant" && len(keep[d]) == 0)) {
				valid = false
			}
		}
		fill := shpRandom(rng, dt, []int{})
		ns := nodeSpec{op: "Pad", opset: 19, attrs: shpAttrs(attrString("mode", mode)),
			inputs: []*runtime.Tensor{x, shpInts(pads...)}, constant: map[int]bool{1: iter%3 == 0}}
		if mode == "constant" {
			ns.inputs = append(ns.inputs, fill)
		}
		what := fmt.Sprintf("Pad %s %v pads %v %v", mode, shape, pads, dt)
		if !valid {
			shpWantNodeError(t, ns, mode)
			errorsSeen++
			continue
		}
		var idx []int
		src := make([]int, rank)
		shpEach(outShape, func(c []int) {
			for d := range c {
				j := shpPadRef(mode, c[d]-max(int(pads[d]), 0), len(keep[d]))
				if j < 0 {
					idx = append(idx, -1)
					return
				}
				src[d] = keep[d][j]
			}
			idx = append(idx, shpFlat(shape, src))
		})
		shpCheckEqual(t, what, ns.mustRun(t)[0], shpExpect(x, outShape, idx, fill))
	}
	if errorsSeen == 0 || errorsSeen > 100 {
		t.Errorf("%d of 320 cases were invalid; adjust the generator", errorsSeen)
	}
}

func TestPadVersions(t *testing.T) {
	x := runtime.New([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	// Pad-2: attributes; the float value converts to the data type.
	got := nodeSpec{op: "Pad", opset: 2, inputs: []*runtime.Tensor{x},
		attrs: shpAttrs(attrInts("pads", 0, 1, 1, 0), attrFloat("value", 9))}.mustRun(t)[0]
	shpCheckEqual(t, "Pad-2", got, runtime.New([]int{3, 4}, []float32{9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9}))
	xi := runtime.New([]int{2, 3}, []int32{1, 2, 3, 4, 5, 6})
	got = nodeSpec{op: "Pad", opset: 2, inputs: []*runtime.Tensor{xi},
		attrs: shpAttrs(attrInts("pads", 1, 0, 0, 0), attrFloat("value", -2))}.mustRun(t)[0]
	shpCheckEqual(t, "Pad-2 int32", got, runtime.New([]int{3, 3}, []int32{-2, -2, -2, 1, 2, 3, 4, 5, 6}))
	// Pad-11 without constant_value pads with zeros; reflect ignores it.
	got = nodeSpec{op: "Pad", opset: 11, inputs: []*runtime.Tensor{x, shpInts(0, 0, 0, 2)}}.mustRun(t)[0]
	shpCheckEqual(t, "Pad-11", got, runtime.New([]int{2, 5}, []float32{1, 2, 3, 0, 0, 4, 5, 6, 0, 0}))
	got = nodeSpec{op: "Pad", opset: 11, attrs: shpAttrs(attrString("mode", "reflect")),
		inputs: []*runtime.Tensor{x, shpInts(0, 2, 0, 1), runtime.Scalar(float32(7))}}.mustRun(t)[0]
	shpCheckEqual(t, "Pad-11 reflect", got, runtime.New([]int{2, 6}, []float32{3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}))
	// Pad-18: axes (negative) select which axes the pads apply to.
	got = nodeSpec{op: "Pad", opset: 18, attrs: shpAttrs(attrString("mode", "edge")),
		inputs: []*runtime.Tensor{x, shpInts(1, 0), nil, shpInts(-1)}}.mustRun(t)[0]
	shpCheckEqual(t, "Pad-18 axes", got, runtime.New([]int{2, 4}, []float32{1, 1, 2, 3, 4, 4, 5, 6}))
	// Cases checked against ONNX Runtime 1.30: wrap crops first, then
	// repeats with the cropped period; reflect may not reach past the edge.
	v := runtime.New([]int{3}, []float32{10, 11, 12})
	got = nodeSpec{op: "Pad", opset: 19, attrs: shpAttrs(attrString("mode", "wrap")), inputs: []*runtime.Tensor{v, shpInts(-1, 4)}}.mustRun(t)[0]
	shpCheckEqual(t, "Pad wrap crop", got, runtime.New([]int{6}, []float32{11, 12, 11, 12, 11, 12}))
	got = nodeSpec{op: "Pad", opset: 19, attrs: shpAttrs(attrString("mode", "wrap")), inputs: []*runtime.Tensor{v, shpInts(1, 8)}}.mustRun(t)[0]
	shpCheckEqual(t, "Pad wrap long", got, runtime.New([]int{12}, []float32{12, 10, 11, 12, 10, 11, 12, 10, 11, 12, 10, 11}))
	shpWantNodeError(t, nodeSpec{op: "Pad", opset: 19, attrs: shpAttrs(attrString("mode", "reflect")), inputs: []*runtime.Tensor{v, shpInts(-1, 2)}}, "reflect pads")
	// Wrap needs opset 19.
	shpWantNodeError(t, nodeSpec{op: "Pad", opset: 18, attrs: shpAttrs(attrString("mode", "wrap")),
		inputs: []*runtime.Tensor{x, shpInts(0, 1, 0, 1)}}, "wrap")
	shpWantNodeError(t, nodeSpec{op: "Pad", opset: 13, inputs: []*runtime.Tensor{x, shpInts(0, 1, 0)}, constant: map[int]bool{1: true}}, "pads")
	shpWantNodeError(t, nodeSpec{op: "Pad", opset: 13, inputs: []*runtime.Tensor{x, shpInts(0, -4, 0, 0)}}, "remove more")
	shpWantNodeError(t, nodeSpec{op: "Pad", opset: 13, inputs: []*runtime.Tensor{x, shpInts(0, 1, 0, 0), runtime.Scalar(int64(1))}}, "constant_value")
}

func TestGatherRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for iter := 0; iter < 200; iter++ {
		dt := shpDTypes[iter%len(shpDTypes)]
		rank := 1 + rng.IntN(3)
		shape := shpRandShape(rng, rank, 5)
		x := shpRandom(rng, dt, shape)
		axis := rng.IntN(rank)
		idxShape := shpRandShape(rng, rng.IntN(3), 4)
		dim := shape[axis]
		indices := shpFill(runtime.NumElements(idxShape), func() int64 { return int64(rng.IntN(2*dim) - dim) })
		var it *runtime.Tensor
		if iter%2 == 0 {
			it = runtime.New(idxShape, indices)
		} else {
			it = runtime.New(idxShape, shpFill(len(indices), func() int32 { return 0 }))
			for i, v := range indices {
				runtime.Values[int32](it)[i] = int32(v)
			}
		}
		outShape := slices.Concat(shape[:axis], idxShape, shape[axis+1:])
		var idx []int
		src := make([]int, rank)
		shpEach(outShape, func(c []int) {
			copy(src, c[:axis])
			k := indices[shpFlat(idxShape, c[axis:axis+len(idxShape)])]
			if k < 0 {
				k += int64(dim)
			}
			src[axis] = int(k)
			copy(src[axis+1:], c[axis+len(idxShape):])
			idx = append(idx, shpFlat(shape, src))
		})
		ax := int64(axis)
		if rng.IntN(2) == 0 {
			ax -= int64(rank)
		}
		ns := nodeSpec{op: "Gather", opset: 13, attrs: shpAttrs(attrInt("axis", ax)), inputs: []*runtime.Tensor{x, it}, constant: map[int]bool{1: iter%3 == 0}}
		shpCheckEqual(t, fmt.Sprintf("Gather %v axis %d indices %v", shape, ax, indices), ns.mustRun(t)[0], shpExpect(x, outShape, idx, nil))
	}
	x := runtime.New([]int{3}, []float32{1, 2, 3})
	shpWantNodeError(t, nodeSpec{op: "Gather", opset: 13, inputs: []*runtime.Tensor{x, shpInts(0, 3)}}, "out of range")
	shpWantNodeError(t, nodeSpec{op: "Gather", opset: 13, inputs: []*runtime.Tensor{x, shpInts(-4)}}, "out of range")
}

func TestGatherElementsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for iter := 0; iter < 100; iter++ {
		dt := shpDTypes[iter%len(shpDTypes)]
		rank := 1 + rng.IntN(3)
		shape := shpRandShape(rng, rank, 4)
		x := shpRandom(rng, dt, shape)
		axis := rng.IntN(rank)
		idxShape := make([]int, rank)
		for d := range idxShape {
			idxShape[d] = 1 + rng.IntN(shape[d])
			if d == axis {
				idxShape[d] = 1 + rng.IntN(5)
			}
		}
		dim := shape[axis]
		indices := shpFill(runtime.NumElements(idxShape), func() int64 { return int64(rng.IntN(2*dim) - dim) })
		var idx []int
		src := make([]int, rank)
		k := 0
		shpEach(idxShape, func(c []int) {
			copy(src, c)
			v := indices[k]
			k++
			if v < 0 {
				v += int64(dim)
			}
			src[axis] = int(v)
			idx = append(idx, shpFlat(shape, src))
		})
		ns := nodeSpec{op: "GatherElements", opset: 13, attrs: shpAttrs(attrInt("axis", int64(axis-rank))), inputs: []*runtime.Tensor{x, runtime.New(idxShape, indices)}}
		shpCheckEqual(t, fmt.Sprintf("GatherElements %v axis %d", shape, axis), ns.mustRun(t)[0], shpExpect(x, idxShape, idx, nil))
	}
}

func TestConcatSplitExpandTileRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for iter := 0; iter < 120; iter++ {
		dt := shpDTypes[iter%len(shpDTypes)]
		rank := 1 + rng.IntN(4)
		shape := shpRandShape(rng, rank, 4)
		axis := rng.IntN(rank)

		// Concat of three inputs of different lengths along axis (one may
		// be empty).
		var ins []*runtime.Tensor
		var owner, local []int // per output index along axis
		for k := 0; k < 3; k++ {
			s := slices.Clone(shape)
			s[axis] = rng.IntN(4)
			ins = append(ins, shpRandom(rng, dt, s))
			for i := 0; i < s[axis]; i++ {
				owner, local = append(owner, k), append(local, i)
			}
		}
		outShape := slices.Clone(shape)
		outShape[axis] = len(owner)
		got := nodeSpec{op: "Concat", opset: 13, attrs: shpAttrs(attrInt("axis", int64(axis))), inputs: ins}.mustRun(t)[0]
		want := shpConcatRef(ins, outShape, axis, owner, local)
		shpCheckEqual(t, fmt.Sprintf("Concat axis %d of %v %v %v", axis, ins[0].Shape(), ins[1].Shape(), ins[2].Shape()), got, want)

		// Split it back (opset 13, sizes as input) and check each part.
		sizes := []int64{int64(ins[0].Shape()[axis]), int64(ins[1].Shape()[axis]), int64(ins[2].Shape()[axis])}
		parts := nodeSpec{op: "Split", opset: 13, attrs: shpAttrs(attrInt("axis", int64(axis))), inputs: []*runtime.Tensor{want, shpInts(sizes...)}, outputs: 3}.mustRun(t)
		for k := range parts {
			shpCheckEqual(t, fmt.Sprintf("Split part %d", k), parts[k], ins[k])
		}

		// Expand: broadcast a tensor with some 1-dims to a target (with an
		// extra leading dimension and 1s in the target where x is larger).
		small := slices.Clone(shape)
		target := append([]int64{int64(1 + rng.IntN(3))}, make([]int64, rank)...)
		for d := range small {
			switch rng.IntN(3) {
			case 0:
				small[d] = 1
				target[d+1] = int64(shape[d])
			case 1:
				target[d+1] = 1
			default:
				target[d+1] = int64(shape[d])
			}
		}
		x := shpRandom(rng, dt, small)
		expShape := []int{int(target[0])}
		for d := range small {
			expShape = append(expShape, max(small[d], int(target[d+1])))
		}
		var idx []int
		src := make([]int, rank)
		shpEach(expShape, func(c []int) {
			for d := range src {
				if small[d] == 1 {
					src[d] = 0
				} else {
					src[d] = c[d+1]
				}
			}
			idx = append(idx, shpFlat(small, src))
		})
		got = nodeSpec{op: "Expand", opset: 13, inputs: []*runtime.Tensor{x, shpInts(target...)}}.mustRun(t)[0]
		shpCheckEqual(t, fmt.Sprintf("Expand %v to %v", small, target), got, shpExpect(x, expShape, idx, nil))

		// Tile.
		reps := make([]int64, rank)
		tileShape := make([]int, rank)
		for d := range reps {
			reps[d] = int64(rng.IntN(3))
			if iter%4 != 0 {
				reps[d]++ // mostly non-empty
			}
			tileShape[d] = shape[d] * int(reps[d])
		}
		x = shpRandom(rng, dt, shape)
		idx = idx[:0]
		shpEach(tileShape, func(c []int) {
			for d := range src {
				src[d] = c[d] % shape[d]
			}
			idx = append(idx, shpFlat(shape, src))
		})
		got = nodeSpec{op: "Tile", opset: 13, inputs: []*runtime.Tensor{x, shpInts(reps...)}, constant: map[int]bool{1: iter%2 == 0}}.mustRun(t)[0]
		shpCheckEqual(t, fmt.Sprintf("Tile %v by %v", shape, reps), got, shpExpect(x, tileShape, idx, nil))
	}
}

func shpConcatRef(ins []*runtime.Tensor, outShape []int, axis int, owner, local []int) *runtime.Tensor {
	// Concatenate flat data of all inputs, then pick per output coordinate.
	var flat reflect.Value
	bases := make([]int, len(ins))
	for k, x := range ins {
		v := reflect.ValueOf(x.Data())
		if k == 0 {
			flat = reflect.MakeSlice(v.Type(), 0, 0)
		}
		bases[k] = flat.Len()
		flat = reflect.AppendSlice(flat, v)
	}
	all := shpTensor([]int{flat.Len()}, flat.Interface())
	var idx []int
	src := make([]int, len(outShape))
	shpEach(outShape, func(c []int) {
		k := owner[c[axis]]
		copy(src, c)
		src[axis] = local[c[axis]]
		idx = append(idx, bases[k]+shpFlat(ins[k].Shape(), src))
	})
	return shpExpect(all, outShape, idx, nil)
}

func TestSplitVersions(t *testing.T) {
	x := runtime.New([]int{7}, []int64{0, 1, 2, 3, 4, 5, 6})
	parts := func(p ...[]int64) []*runtime.Tensor {
		var out []*runtime.Tensor
		for _, v := range p {
			out = append(out, runtime.New([]int{len(v)}, v))
		}
		return out
	}
	check := func(what string, got, want []*runtime.Tensor) {
		t.Helper()
		for i := range want {
			shpCheckEqual(t, fmt.Sprintf("%s output %d", what, i), got[i], want[i])
		}
	}
	x4 := runtime.New([]int{4}, []int64{0, 1, 2, 3})
	// Opset 18: num_outputs with an uneven last chunk (ceil(7/4) = 2).
	got := nodeSpec{op: "Split", opset: 18, attrs: shpAttrs(attrInt("num_outputs", 4)), inputs: []*runtime.Tensor{x}, outputs: 4}.mustRun(t)
	check("Split-18", got, parts([]int64{0, 1}, []int64{2, 3}, []int64{4, 5}, []int64{6}))
	// Opset 11: split attribute; opset 13: equal split without sizes.
	got = nodeSpec{op: "Split", opset: 11, attrs: shpAttrs(attrInts("split", 3, 0, 4)), inputs: []*runtime.Tensor{x}, outputs: 3}.mustRun(t)
	check("Split-11", got, parts([]int64{0, 1, 2}, []int64{}, []int64{3, 4, 5, 6}))
	y := runtime.New([]int{2, 4}, []int64{0, 1, 2, 3, 4, 5, 6, 7})
	got = nodeSpec{op: "Split", opset: 13, attrs: shpAttrs(attrInt("axis", -1)), inputs: []*runtime.Tensor{y}, outputs: 2}.mustRun(t)
	check("Split-13 equal", got, []*runtime.Tensor{runtime.New([]int{2, 2}, []int64{0, 1, 4, 5}), runtime.New([]int{2, 2}, []int64{2, 3, 6, 7})})

	shpWantNodeError(t, nodeSpec{op: "Split", opset: 18, attrs: shpAttrs(attrInt("num_outputs", 3)), inputs: []*runtime.Tensor{x}, outputs: 2}, "num_outputs")
	// ceil(4/3) = 2 leaves nothing for the last output (ONNX Runtime refuses too).
	shpWantNodeError(t, nodeSpec{op: "Split", opset: 18, attrs: shpAttrs(attrInt("num_outputs", 3)), inputs: []*runtime.Tensor{x4}, outputs: 3}, "non-empty")
	shpWantNodeError(t, nodeSpec{op: "Split", opset: 13, inputs: []*runtime.Tensor{x}, outputs: 2}, "evenly")
	shpWantNodeError(t, nodeSpec{op: "Split", opset: 13, inputs: []*runtime.Tensor{x, shpInts(3, 3)}, outputs: 2}, "sums to 6")
}

func TestReshapeFamily(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	x := shpRandom(rng, runtime.Float16, []int{2, 3, 4})
	view := func(shape ...int) *runtime.Tensor { return shpTensor(shape, x.Data()) }
	cases := []struct {
		ns   nodeSpec
		want *runtime.Tensor
	}{
		{nodeSpec{op: "Reshape", opset: 14, inputs: []*runtime.Tensor{x, shpInts(0, -1)}}, view(2, 12)},
		{nodeSpec{op: "Reshape", opset: 14, inputs: []*runtime.Tensor{x, shpInts(4, 0, 2)}, constant: map[int]bool{1: true}}, view(4, 3, 2)},
		{nodeSpec{op: "Reshape", opset: 4, attrs: shpAttrs(attrInts("shape", -1, 6)), inputs: []*runtime.Tensor{x}}, view(4, 6)},
		{nodeSpec{op: "Flatten", opset: 13, attrs: shpAttrs(attrInt("axis", -1)), inputs: []*runtime.Tensor{x}}, view(6, 4)},
		{nodeSpec{op: "Flatten", opset: 13, attrs: shpAttrs(attrInt("axis", 0)), inputs: []*runtime.Tensor{x}}, view(1, 24)},
		{nodeSpec{op: "Flatten", opset: 13, attrs: shpAttrs(attrInt("axis", 3)), inputs: []*runtime.Tensor{x}}, view(24, 1)},
		{nodeSpec{op: "Unsqueeze", opset: 11, attrs: shpAttrs(attrInts("axes", -1, 0)), inputs: []*runtime.Tensor{x}}, view(1, 2, 3, 4, 1)},
		{nodeSpec{op: "Unsqueeze", opset: 13, inputs: []*runtime.Tensor{x, shpInts(2, 4)}}, view(2, 3, 1, 4, 1)},
		{nodeSpec{op: "Squeeze", opset: 11, inputs: []*runtime.Tensor{view(1, 2, 1, 12)}}, view(2, 12)},
		{nodeSpec{op: "Squeeze", opset: 13, inputs: []*runtime.Tensor{view(1, 2, 1, 12), shpInts(-2)}}, view(1, 2, 12)},
		{nodeSpec{op: "Identity", opset: 16, inputs: []*runtime.Tensor{x}}, view(2, 3, 4)},
	}
	for _, c := range cases {
		shpCheckEqual(t, fmt.Sprintf("%s opset %d", c.ns.op, c.ns.opset), c.ns.mustRun(t)[0], c.want)
	}
	// allowzero: a 0 is a real zero-size dimension.
	empty := runtime.New([]int{0, 3}, []float32{})
	got := nodeSpec{op: "Reshape", opset: 14, attrs: shpAttrs(attrInt("allowzero", 1)), inputs: []*runtime.Tensor{empty, shpInts(3, 0)}}.mustRun(t)[0]
	shpCheckEqual(t, "Reshape allowzero", got, runtime.New([]int{3, 0}, []float32{}))

	shpWantNodeError(t, nodeSpec{op: "Reshape", opset: 14, inputs: []*runtime.Tensor{x, shpInts(-1, -1)}, constant: map[int]bool{1: true}}, "more than one -1")
	shpWantNodeError(t, nodeSpec{op: "Reshape", opset: 14, inputs: []*runtime.Tensor{x, shpInts(-1, -1)}}, "more than one -1")
	shpWantNodeError(t, nodeSpec{op: "Reshape", opset: 14, inputs: []*runtime.Tensor{x, shpInts(5, -1)}}, "cannot reshape")
	shpWantNodeError(t, nodeSpec{op: "Reshape", opset: 14, inputs: []*runtime.Tensor{x, shpInts(5, 5)}}, "cannot reshape")
	shpWantNodeError(t, nodeSpec{op: "Squeeze", opset: 13, inputs: []*runtime.Tensor{x, shpInts(1)}}, "not 1")
	shpWantNodeError(t, nodeSpec{op: "Unsqueeze", opset: 13, inputs: []*runtime.Tensor{x, shpInts(1, -4)}}, "repeated")
	shpWantNodeError(t, nodeSpec{op: "Flatten", opset: 13, attrs: shpAttrs(attrInt("axis", 4)), inputs: []*runtime.Tensor{x}}, "out of range")
	shpWantNodeError(t, nodeSpec{op: "Transpose", opset: 13, attrs: shpAttrs(attrInts("perm", 0, 0, 1)), inputs: []*runtime.Tensor{x}}, "not a permutation")
	shpWantNodeError(t, nodeSpec{op: "Transpose", opset: 13, attrs: shpAttrs(attrInts("perm", 1, 0)), inputs: []*runtime.Tensor{x}}, "perm")
	shpWantNodeError(t, nodeSpec{op: "Concat", opset: 13, attrs: shpAttrs(attrInt("axis", 1)), inputs: []*runtime.Tensor{x, view(2, 12)}}, "incompatible")
	shpWantNodeError(t, nodeSpec{op: "Concat", opset: 13, inputs: []*runtime.Tensor{x}}, "axis")
	shpWantNodeError(t, nodeSpec{op: "Slice", opset: 13, inputs: []*runtime.Tensor{x, shpInts(0), shpInts(1), shpInts(0), shpInts(0)}, constant: map[int]bool{4: true}}, "step")
	shpWantNodeError(t, nodeSpec{op: "Slice", opset: 13, inputs: []*runtime.Tensor{x, shpInts(0, 0), shpInts(1, 1), shpInts(1, -2)}}, "repeated")
	shpWantNodeError(t, nodeSpec{op: "Expand", opset: 13, inputs: []*runtime.Tensor{x, shpInts(5, 4)}}, "broadcast")
	shpWantNodeError(t, nodeSpec{op: "Tile", opset: 13, inputs: []*runtime.Tensor{x, shpInts(1, 2)}}, "repeats")
}

func TestConstantForms(t *testing.T) {
	cases := []struct {
		attr *onnx.AttributeProto
		want *runtime.Tensor
	}{
		{attrFloat("value_float", 2.5), runtime.Scalar(float32(2.5))},
		{attrFloats("value_floats", 1, -2), runtime.New([]int{2}, []float32{1, -2})},
		{attrInt("value_int", -7), runtime.Scalar(int64(-7))},
		{attrInts("value_ints", 3, 4, 5), shpInts(3, 4, 5)},
	}
	for _, c := range cases {
		ns := nodeSpec{op: "Constant", opset: 13, attrs: shpAttrs(c.attr)}
		for _, opts := range [][]runtime.Option{nil, {runtime.WithoutConstantFolding()}} {
			shpCheckEqual(t, fmt.Sprintf("Constant %v", c.want), ns.mustRun(t, opts...)[0], c.want)
		}
	}
	shpWantNodeError(t, nodeSpec{op: "Constant", opset: 13, attrs: shpAttrs(attrInt("value_int", 1), attrFloat("value_float", 1))}, "exactly one")
	shpWantNodeError(t, nodeSpec{op: "Constant", opset: 13, attrs: shpAttrs(attrString("value_string", "a"))}, "value_string")

	// ConstantOfShape: default float32 zero, an empty shape gives a scalar.
	got := nodeSpec{op: "ConstantOfShape", opset: 9, inputs: []*runtime.Tensor{shpInts(2, 3)}}.mustRun(t, runtime.WithoutConstantFolding())[0]
	shpCheckEqual(t, "ConstantOfShape default", got, runtime.New([]int{2, 3}, make([]float32, 6)))
	got = nodeSpec{op: "ConstantOfShape", opset: 9, inputs: []*runtime.Tensor{runtime.New([]int{0}, []int64{})}}.mustRun(t)[0]
	shpCheckEqual(t, "ConstantOfShape scalar", got, runtime.Scalar(float32(0)))
	shpWantNodeError(t, nodeSpec{op: "ConstantOfShape", opset: 9, inputs: []*runtime.Tensor{shpInts(2, -1)}}, "invalid size")
}

func TestDropoutInference(t *testing.T) {
	x := runtime.New([]int{2, 2}, []float32{1, -2, 3, 4})
	mask := runtime.New([]int{2, 2}, []bool{true, true, true, true})
	got := nodeSpec{op: "Dropout", opset: 13, inputs: []*runtime.Tensor{x, runtime.Scalar(float32(0.3)), runtime.Scalar(false)}, outputs: 2}.mustRun(t)
	shpCheckEqual(t, "Dropout output", got[0], x)
	shpCheckEqual(t, "Dropout mask", got[1], mask)
	// Training with ratio 0 is the identity too.
	got = nodeSpec{op: "Dropout", opset: 13, inputs: []*runtime.Tensor{x, runtime.Scalar(float32(0)), runtime.Scalar(true)}, outputs: 2}.mustRun(t)
	shpCheckEqual(t, "Dropout ratio 0", got[0], x)
	// Before opset 10 the mask has the input's type.
	got = nodeSpec{op: "Dropout", opset: 7, attrs: shpAttrs(attrFloat("ratio", 0.5)), inputs: []*runtime.Tensor{x}, outputs: 2}.mustRun(t)
	shpCheckEqual(t, "Dropout-7 mask", got[1], runtime.New([]int{2, 2}, []float32{1, 1, 1, 1}))
	// Training mode with a non-zero ratio is refused, at plan time when
	// constant and at run time otherwise.
	for _, constant := range []bool{true, false} {
		ns := nodeSpec{op: "Dropout", opset: 13, inputs: []*runtime.Tensor{x, runtime.Scalar(float32(0.5)), runtime.Scalar(true)}, constant: map[int]bool{1: constant, 2: constant}}
		shpWantNodeError(t, ns, "training_mode")
	}
	shpWantNodeError(t, nodeSpec{op: "Dropout", opset: 13, inputs: []*runtime.Tensor{x, nil, runtime.Scalar(true)}}, "training_mode")
}

func TestNonZeroAndRange(t *testing.T) {
	neg0 := uint16(0x8000)
	x := runtime.New([]int{2, 3}, []uint16{0, 0x3c00, neg0, 0x7e00, 0, 0xbc00})
	got := nodeSpec{op: "NonZero", opset: 13, inputs: []*runtime.Tensor{x}}.mustRun(t)[0]
	shpCheckEqual(t, "NonZero float16", got, runtime.New([]int{2, 3}, []int64{0, 1, 1, 1, 0, 2}))
	got = nodeSpec{op: "NonZero", opset: 13, inputs: []*runtime.Tensor{runtime.Scalar(true)}}.mustRun(t)[0]
	shpCheckEqual(t, "NonZero scalar", got, runtime.New([]int{1, 1}, []int64{0}))
	got = nodeSpec{op: "NonZero", opset: 13, inputs: []*runtime.Tensor{runtime.New([]int{3}, []int8{0, 0, 0})}}.mustRun(t)[0]
	shpCheckEqual(t, "NonZero none", got, runtime.New([]int{1, 0}, []int64{}))

	r := func(a, b, c int64) []*runtime.Tensor {
		return []*runtime.Tensor{runtime.Scalar(a), runtime.Scalar(b), runtime.Scalar(c)}
	}
	got = nodeSpec{op: "Range", opset: 11, inputs: r(10, -3, -4)}.mustRun(t)[0]
	shpCheckEqual(t, "Range int64", got, shpInts(10, 6, 2, -2))
	got = nodeSpec{op: "Range", opset: 11, inputs: r(math.MinInt64, math.MaxInt64, math.MaxInt64)}.mustRun(t)[0]
	shpCheckEqual(t, "Range extremes", got, shpInts(math.MinInt64, -1, math.MaxInt64-1))
	got = nodeSpec{op: "Range", opset: 11, inputs: r(3, 3, 1)}.mustRun(t)[0]
	shpCheckEqual(t, "Range empty", got, runtime.New([]int{0}, []int64{}))
	shpWantNodeError(t, nodeSpec{op: "Range", opset: 11, inputs: r(0, 5, 0)}, "delta")
}

// TestViewsSurviveRecycling runs graphs where a zero-copy view outlives the
// value it was made from: that value's last reader is the view-producing
// node, so without reference counting its buffer would be handed to the
// next node's output while the view still reads it.
func TestViewsSurviveRecycling(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	tg := newTestGraph(13).input("x", 4, 6)
	tg.init(t, "shape", shpInts(3, 8))
	tg.node("t1", "Transpose", []string{"x"}, []string{"a"})                  // a: [6, 4], pooled
	tg.node("r", "Reshape", []string{"a", "shape"}, []string{"v"})            // v: view of a
	tg.node("t2", "Transpose", []string{"v"}, []string{"b"})                  // b: [8, 3], new buffer
	tg.node("f", "Flatten", []string{"b"}, []string{"c"}, attrInt("axis", 1)) // c: view of b
	tg.node("t3", "Transpose", []string{"c"}, []string{"y"})                  // y: [3, 8]
	tg.init(t, "axes0", shpInts(0))
	tg.node("u", "Unsqueeze", []string{"c", "axes0"}, []string{"z"}) // z: view of b, a graph output
	s := tg.output("y", "z").session(t)
	for run := 0; run < 5; run++ {
		x := shpRandom(rng, runtime.Float32, []int{4, 6})
		xs := x.Float32s()
		// y = transpose(reshape(transpose(x), [3, 8]))ᵀᵀ = reshape(xᵀ, [3, 8]).
		xt := make([]float32, 24)
		for i := 0; i < 4; i++ {
			for j := 0; j < 6; j++ {
				xt[j*4+i] = xs[i*6+j]
			}
		}
		res, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		shpCheckEqual(t, fmt.Sprintf("run %d y", run), res["y"], runtime.New([]int{3, 8}, xt))
		zt := make([]float32, 24) // z = unsqueeze(reshape(xᵀ, [3, 8])ᵀ)
		for i := 0; i < 3; i++ {
			for j := 0; j < 8; j++ {
				zt[j*3+i] = xt[i*8+j]
			}
		}
		shpCheckEqual(t, fmt.Sprintf("run %d z", run), res["z"], runtime.New([]int{1, 8, 3}, zt))
	}
}

// TestReshapeAddRepeated is the Reshape → Add pattern of real models
// (a flattened feature map plus a bias), run repeatedly through the pool.
// The view v outlives a (whose last reader is the Reshape) and is read
// again after the first Add has allocated its output, so a view that did
// not keep a's buffer alive would see that output.
func TestReshapeAddRepeated(t *testing.T) {
	if !runtime.Builtins().Has("", "Add") {
		t.Skip("Add is not registered yet")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	tg := newTestGraph(13).input("x", 2, 3, 4).input("bias", 12)
	tg.init(t, "shape", shpInts(2, -1))
	tg.node("t", "Transpose", []string{"x"}, []string{"a"}, attrInts("perm", 0, 2, 1)) // pooled [2, 4, 3]
	tg.node("r", "Reshape", []string{"a", "shape"}, []string{"v"})
	tg.node("add1", "Add", []string{"v", "bias"}, []string{"w"})
	tg.node("add2", "Add", []string{"w", "v"}, []string{"y"}) // y = 2v + bias
	s := tg.output("y").session(t)
	for run := 0; run < 6; run++ {
		x := shpRandom(rng, runtime.Float32, []int{2, 3, 4})
		bias := shpRandom(rng, runtime.Float32, []int{12})
		want := make([]float32, 24)
		for n := 0; n < 2; n++ {
			for w := 0; w < 4; w++ {
				for c := 0; c < 3; c++ {
					j := w*3 + c
					v := x.Float32s()[(n*3+c)*4+w]
					want[n*12+j] = (v + bias.Float32s()[j]) + v
				}
			}
		}
		got := run1(t, s, map[string]*runtime.Tensor{"x": x, "bias": bias}, "y")
		shpCheckEqual(t, fmt.Sprintf("run %d", run), got, runtime.New([]int{2, 12}, want))
	}
}

func shpAttrs(a ...*onnx.AttributeProto) []*onnx.AttributeProto { return a }

func shpInt64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// shpBench runs a one-node model repeatedly and reports the bytes moved
// (input plus output) per second.
func shpBench(b *testing.B, ns nodeSpec, bytes int) {
	s, err := runtime.NewSessionFromModel(ns.model(b))
	if err != nil {
		b.Fatal(err)
	}
	feeds := map[string]*runtime.Tensor{}
	for i, in := range ns.inputs {
		if in != nil && !ns.constant[i] {
			feeds[fmt.Sprintf("x%d", i)] = in
		}
	}
	b.SetBytes(int64(bytes))
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Run(context.Background(), feeds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTransposeNCHWToNHWC(b *testing.B) {
	x := shpRandom(rand.New(rand.NewPCG(1, 1)), runtime.Float32, []int{1, 64, 56, 56})
	shpBench(b, nodeSpec{op: "Transpose", opset: 13, attrs: shpAttrs(attrInts("perm", 0, 2, 3, 1)), inputs: []*runtime.Tensor{x}}, 2*4*x.Len())
}

func BenchmarkTransposeNHWCToNCHW(b *testing.B) {
	x := shpRandom(rand.New(rand.NewPCG(1, 1)), runtime.Float32, []int{1, 56, 56, 64})
	shpBench(b, nodeSpec{op: "Transpose", opset: 13, attrs: shpAttrs(attrInts("perm", 0, 3, 1, 2)), inputs: []*runtime.Tensor{x}}, 2*4*x.Len())
}

func BenchmarkTransposeGeneral5D(b *testing.B) {
	x := shpRandom(rand.New(rand.NewPCG(1, 1)), runtime.Float32, []int{4, 16, 8, 28, 28})
	shpBench(b, nodeSpec{op: "Transpose", opset: 13, attrs: shpAttrs(attrInts("perm", 0, 2, 1, 4, 3)), inputs: []*runtime.Tensor{x}}, 2*4*x.Len())
}

func BenchmarkConcatChannels(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := shpRandom(rng, runtime.Float32, []int{1, 128, 28, 28}), shpRandom(rng, runtime.Float32, []int{1, 128, 28, 28})
	shpBench(b, nodeSpec{op: "Concat", opset: 13, attrs: shpAttrs(attrInt("axis", 1)), inputs: []*runtime.Tensor{x, y}}, 4*4*x.Len())
}

func BenchmarkSliceStep2(b *testing.B) {
	x := shpRandom(rand.New(rand.NewPCG(1, 1)), runtime.Float32, []int{1, 64, 112, 112})
	ns := nodeSpec{op: "Slice", opset: 13, inputs: []*runtime.Tensor{x, shpInts(0, 0), shpInts(112, 112), shpInts(2, 3), shpInts(2, 2)}, constant: map[int]bool{1: true, 2: true, 3: true, 4: true}}
	shpBench(b, ns, 2*4*x.Len()/4)
}

func BenchmarkPadReflect(b *testing.B) {
	x := shpRandom(rand.New(rand.NewPCG(1, 1)), runtime.Float32, []int{1, 64, 56, 56})
	ns := nodeSpec{op: "Pad", opset: 13, attrs: shpAttrs(attrString("mode", "reflect")), inputs: []*runtime.Tensor{x, shpInts(0, 0, 1, 1, 0, 0, 1, 1)}, constant: map[int]bool{1: true}}
	shpBench(b, ns, 2*4*x.Len())
}

// TestHugeOutputsFailCleanly asks for outputs beyond the session's size
// limit: each must be an error naming the node, not a crash or an attempt
// to allocate.
func TestHugeOutputsFailCleanly(t *testing.T) {
	x := runtime.New([]int{2, 2}, []float32{1, 2, 3, 4})
	big := int64(1) << 39
	for _, ns := range []nodeSpec{
		{op: "Pad", opset: 13, inputs: []*runtime.Tensor{x, shpInts(0, 0, big, big)}},
		{op: "Tile", opset: 13, inputs: []*runtime.Tensor{x, shpInts(big, big)}},
		{op: "Expand", opset: 13, inputs: []*runtime.Tensor{x, shpInts(big, 2, 2)}},
		{op: "ConstantOfShape", opset: 9, inputs: []*runtime.Tensor{shpInts(big, big)}},
		{op: "Range", opset: 11, inputs: []*runtime.Tensor{runtime.Scalar(int64(0)), runtime.Scalar(big * 1024), runtime.Scalar(int64(1))}},
	} {
		shpWantNodeError(t, ns)
	}
}

// TestPadOfZeros checks that pads of all zeros (PyTorch's export of AvgPool2d) return the
// input unchanged in every mode, through the view path.
func TestPadOfZeros(t *testing.T) {
	x := shpRandom(rand.New(rand.NewPCG(11, 12)), runtime.Float32, []int{2, 3, 4, 5})
	for _, mode := range []string{"constant", "reflect", "edge", "wrap"} {
		ns := nodeSpec{op: "Pad", opset: 19, attrs: shpAttrs(attrString("mode", mode)),
			inputs: []*runtime.Tensor{x, shpInts(0, 0, 0, 0, 0, 0, 0, 0)}, constant: map[int]bool{1: true}}
		idx := make([]int, x.Len())
		for i := range idx {
			idx[i] = i
		}
		shpCheckEqual(t, "Pad of zeros "+mode, ns.mustRun(t)[0], shpExpect(x, x.Shape(), idx, nil))
	}
}

// TestConcatLargeThreads checks Concat on tensors large enough to be copied by several threads
// (split into flat ranges of the output that cut inputs and rows anywhere), one image and two,
// against the reference.
func TestConcatLargeThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, batch := range []int{1, 2} {
		for _, threads := range []int{2, 3} {
			var ins []*runtime.Tensor
			var owner, local []int
			for k, c := range []int{37, 64, 5} {
				ins = append(ins, shpRandom(rng, runtime.Float32, []int{batch, c, 29, 31}))
				for i := range c {
					owner, local = append(owner, k), append(local, i)
				}
			}
			outShape := []int{batch, len(owner), 29, 31}
			got := nodeSpec{op: "Concat", opset: 13, attrs: shpAttrs(attrInt("axis", 1)), inputs: ins}.mustRun(t, runtime.WithThreads(threads))[0]
			shpCheckEqual(t, fmt.Sprintf("Concat batch %d threads %d", batch, threads), got, shpConcatRef(ins, outShape, 1, owner, local))
		}
	}
}
