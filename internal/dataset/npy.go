package dataset

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/npy"
)

// npySamples is a .npy array [N, ...] of float32 or float64, read whole
// (npy checks the declared size against the file before allocating) and
// handed out in order.
type npySamples struct {
	shape []int
	data  []float32
	next  int // offset of the next sample in data
}

func openNPY(path string, opts Options) (source, error) {
	if opts.Mean != nil || opts.Std != nil {
		return nil, fmt.Errorf("%s: .npy data are used as they are (already preprocessed); mean and std apply to IDX and image files", path)
	}
	shape, data, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(shape) < 2 {
		return nil, fmt.Errorf("%s: a dataset needs an array [N, ...] of rank 2 or more, got shape %v", path, shape)
	}
	var values []float32
	switch d := data.(type) {
	case []float32:
		values = d
	case []float64:
		values = make([]float32, len(d))
		for i, v := range d {
			values[i] = float32(v)
		}
	default:
		return nil, fmt.Errorf("%s: samples must be float32 or float64, got %T", path, data)
	}
	if opts.Height != 0 {
		if len(shape) != 4 || shape[2] != opts.Height || shape[3] != opts.Width {
			return nil, fmt.Errorf("%s: the array has shape %v; resizing to %d×%d is only done for image files", path, shape, opts.Height, opts.Width)
		}
	}
	if opts.Channels != 0 && (len(shape) != 4 || shape[1] != opts.Channels) {
		return nil, fmt.Errorf("%s: the array has shape %v, not %d channels [N, %d, H, W]", path, shape, opts.Channels, opts.Channels)
	}
	return &npySamples{shape: shape, data: values}, nil
}

func (s *npySamples) count() int         { return s.shape[0] }
func (s *npySamples) sampleShape() []int { return s.shape[1:] }
func (s *npySamples) close() error       { return nil }

func (s *npySamples) read(dst []float32) error {
	s.next += copy(dst, s.data[s.next:])
	return nil
}

// sliceLabels are labels held in memory.
type sliceLabels struct {
	labels []int
	next   int
}

func (s *sliceLabels) count() int   { return len(s.labels) }
func (s *sliceLabels) close() error { return nil }

func (s *sliceLabels) read(dst []int) error {
	s.next += copy(dst, s.labels[s.next:])
	return nil
}

// openLabels opens a labels file: a .npy array of integers [N], or an idx1
// file of unsigned bytes.
func openLabels(path string) (labelSource, error) {
	kind, err := sniff(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindIDX:
		s, err := openIDX(path)
		if err != nil {
			return nil, err
		}
		labels, err := newIDXLabels(s)
		if err != nil {
			s.close()
			return nil, err
		}
		return labels, nil
	case kindNPY:
		labels, err := readNPYLabels(path)
		if err != nil {
			return nil, err
		}
		return &sliceLabels{labels: labels}, nil
	}
	return nil, fmt.Errorf("%s: labels must be a .npy array of integers or an IDX file of unsigned bytes", path)
}

// readNPYLabels reads a .npy array of non-negative integers [N].
func readNPYLabels(path string) ([]int, error) {
	shape, data, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(shape) != 1 {
		return nil, fmt.Errorf("%s: labels must be a 1-D array [N], got shape %v", path, shape)
	}
	var labels []int
	switch d := data.(type) {
	case []int64:
		labels = ints(d)
	case []int32:
		labels = ints(d)
	case []uint8:
		labels = ints(d)
	case []int8:
		labels = ints(d)
	default:
		return nil, fmt.Errorf("%s: labels must be integers (int64, int32, uint8 or int8), got %T", path, data)
	}
	for i, l := range labels {
		if l < 0 {
			return nil, fmt.Errorf("%s: label %d is %d; labels must be non-negative class indices", path, i, l)
		}
	}
	return labels, nil
}

func ints[T int64 | int32 | uint8 | int8](d []T) []int {
	out := make([]int, len(d))
	for i, v := range d {
		out[i] = int(v)
	}
	return out
}
