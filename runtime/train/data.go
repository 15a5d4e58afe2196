package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/dcnet-go/dcnet/runtime"
)

// Dataset is a set of samples held in memory: X holds N samples row-major
// with shape Shape = [N, ...] (images: [N, C, H, W]), Labels the class of
// each sample [N], or nil when the data is unlabelled (distillation only).
type Dataset struct {
	X      []float32
	Shape  []int
	Labels []int
}

// Len is the number of samples.
func (d *Dataset) Len() int {
	if d == nil || len(d.Shape) == 0 {
		return 0
	}
	return d.Shape[0]
}

// sampleLen is the number of values per sample.
func (d *Dataset) sampleLen() int { return runtime.NumElements(d.Shape[1:]) }

// Check verifies that the shape, data and labels agree.
func (d *Dataset) Check() error {
	if d == nil || len(d.Shape) < 2 {
		return fmt.Errorf("dataset: want samples of shape [N, ...], got %v", d.shapeOrNil())
	}
	if n := runtime.NumElements(d.Shape); n < 0 || n != len(d.X) {
		return fmt.Errorf("dataset: %d values for shape %v", len(d.X), d.Shape)
	}
	if d.Labels != nil && len(d.Labels) != d.Shape[0] {
		return fmt.Errorf("dataset: %d labels for %d samples", len(d.Labels), d.Shape[0])
	}
	return nil
}

func (d *Dataset) shapeOrNil() []int {
	if d == nil {
		return nil
	}
	return d.Shape
}

// Slice returns samples [lo, hi) sharing d's memory.
func (d *Dataset) Slice(lo, hi int) *Dataset {
	s := d.sampleLen()
	out := &Dataset{X: d.X[lo*s : hi*s], Shape: append([]int{hi - lo}, d.Shape[1:]...)}
	if d.Labels != nil {
		out.Labels = d.Labels[lo:hi]
	}
	return out
}

// StepsPerEpoch is the number of mini-batches of size batch in an epoch of
// n samples: ⌈n/batch⌉, less one when the last batch would hold a single
// sample (batch normalisation cannot train on one sample).
func StepsPerEpoch(n, batch int) int {
	if n <= 0 || batch <= 0 {
		return 0
	}
	steps := (n + batch - 1) / batch
	if steps > 1 && n%batch == 1 {
		steps--
	}
	return steps
}

// sampler draws an epoch's order and each sample's flip from one PCG
// generator, in a fixed sequence: Shuffle of the indices at the start of
// the epoch, then one draw per sample of each batch as it is built (only
// when flipping).
type sampler struct {
	pcg *rand.PCG
	rng *rand.Rand
}

func newSampler(seed uint64) *sampler {
	pcg := rand.NewPCG(seed, 0x6463_6e65_7421) // stream constant: "dcnet!"
	return &sampler{pcg: pcg, rng: rand.New(pcg)}
}

// permutation returns a random order of n samples.
func (s *sampler) permutation(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	s.rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// batch gathers the samples of idx into x: [len(idx), ...] and their
// labels, flipping each image [C, H, W] horizontally with probability ½
// when flip is set.
func (s *sampler) batch(d *Dataset, idx []int, flip bool) (*runtime.Tensor, []int) {
	sl := d.sampleLen()
	x := make([]float32, len(idx)*sl)
	var labels []int
	if d.Labels != nil {
		labels = make([]int, len(idx))
	}
	width := d.Shape[len(d.Shape)-1]
	for b, i := range idx {
		dst := x[b*sl : (b+1)*sl]
		src := d.X[i*sl : (i+1)*sl]
		if flip && s.rng.Uint64()&1 == 1 {
			flipRows(dst, src, width)
		} else {
			copy(dst, src)
		}
		if labels != nil {
			labels[b] = d.Labels[i]
		}
	}
	return runtime.New(append([]int{len(idx)}, d.Shape[1:]...), x), labels
}

// flipRows copies src to dst reversing every row of width values (the
// last axis), which flips an image [C, H, W] left to right.
func flipRows(dst, src []float32, width int) {
	for r := 0; r < len(src); r += width {
		row, out := src[r:r+width], dst[r:r+width]
		for j, v := range row {
			out[width-1-j] = v
		}
	}
}
