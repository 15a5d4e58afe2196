package runtime

import "fmt"

// Broadcaster walks the output of a numpy-style broadcast of several
// inputs in contiguous runs: for every run, input k's elements are at
// offs[k] + i·steps[k] for i < n, where each step is 0 (broadcast) or 1,
// and the output's are at out + i. Adjacent dimensions that broadcast alike
// are merged first, so a per-channel bias on [N, C, H, W] walks in runs of
// H·W.
type Broadcaster struct {
	// Shape is the broadcast output shape.
	Shape []int
	// dims are the merged dimensions, outermost first; strides[k][d] is input
	// k's element stride for merged dimension d (0 where it broadcasts).
	dims    []int
	strides [][]int
}

// BroadcastShapes returns the numpy broadcast of shapes, or an error naming
// the first incompatible dimension.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := &out[off+i]
			switch {
			case d == *o || d == 1:
			case *o == 1:
				*o = d
			default:
				return nil, fmt.Errorf("shapes %s cannot be broadcast together (dimension %d: %d vs %d)", shapeList(shapes), off+i-rank, *o, d)
			}
		}
	}
	return out, nil
}

func shapeList(shapes [][]int) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += ", "
		}
		s += ShapeString(sh)
	}
	return s
}

// NewBroadcaster prepares a walk over the broadcast of the given shapes.
func NewBroadcaster(shapes ...[]int) (*Broadcaster, error) {
	out, err := BroadcastShapes(shapes...)
	if err != nil {
		return nil, err
	}
	rank := len(out)
	full := make([][]int, len(shapes)) // per input, per output dim stride
	for k, s := range shapes {
		st := make([]int, rank)
		stride := 1
		for i := len(s) - 1; i >= 0; i-- {
			if s[i] != 1 {
				st[rank-len(s)+i] = stride
			}
			stride *= s[i]
		}
		full[k] = st
	}
	b := &Broadcaster{Shape: out, strides: make([][]int, len(shapes))}
	// Merge dimension i into the previous merged one when every input's
	// stride continues it (stride_prev == stride_i * dim_i, both zero counts).
	for i := 0; i < rank; i++ {
		if out[i] == 1 && rank > 1 {
			continue
		}
		if len(b.dims) > 0 && mergeable(full, b, i, out[i]) {
			last := len(b.dims) - 1
			b.dims[last] *= out[i]
			for k := range full {
				b.strides[k][last] = full[k][i]
			}
			continue
		}
		b.dims = append(b.dims, out[i])
		for k := range full {
			b.strides[k] = append(b.strides[k], full[k][i])
		}
	}
	if len(b.dims) == 0 {
		b.dims = []int{1}
		for k := range full {
			b.strides[k] = []int{0}
		}
	}
	return b, nil
}

func mergeable(full [][]int, b *Broadcaster, i, dim int) bool {
	last := len(b.dims) - 1
	for k := range full {
		prev, cur := b.strides[k][last], full[k][i]
		if prev != cur*dim || (prev == 0) != (cur == 0) {
			return false
		}
	}
	return true
}

// Len is the number of output elements.
func (b *Broadcaster) Len() int { return NumElements(b.Shape) }

// RunLen is the length of each run (the merged innermost dimension).
func (b *Broadcaster) RunLen() int { return b.dims[len(b.dims)-1] }

// NumRuns is the number of runs.
func (b *Broadcaster) NumRuns() int { return b.Len() / max(b.RunLen(), 1) }

// Steps returns each input's step within a run (0 or 1).
func (b *Broadcaster) Steps() []int {
	steps := make([]int, len(b.strides))
	for k := range b.strides {
		steps[k] = b.strides[k][len(b.dims)-1]
	}
	return steps
}

// Runs calls fn for runs [lo, hi) (0 ≤ lo ≤ hi ≤ NumRuns()) in order, with
// the output offset and every input's offset of the run's first element.
// offs is reused between calls.
func (b *Broadcaster) Runs(lo, hi int, fn func(out int, offs []int)) {
	if lo >= hi || b.Len() == 0 {
		return
	}
	outer := b.dims[:len(b.dims)-1]
	idx := make([]int, len(outer))
	// Decompose lo into the outer index.
	r := lo
	for d := len(outer) - 1; d >= 0; d-- {
		idx[d] = r % outer[d]
		r /= outer[d]
	}
	offs := make([]int, len(b.strides))
	for k := range offs {
		for d := range outer {
			offs[k] += idx[d] * b.strides[k][d]
		}
	}
	n := b.RunLen()
	for run := lo; run < hi; run++ {
		fn(run*n, offs)
		for d := len(outer) - 1; d >= 0; d-- {
			idx[d]++
			for k := range offs {
				offs[k] += b.strides[k][d]
			}
			if idx[d] < outer[d] {
				break
			}
			for k := range offs {
				offs[k] -= idx[d] * b.strides[k][d]
			}
			idx[d] = 0
		}
	}
}
