package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Options describe how samples are read and preprocessed.
type Options struct {
	// Labels is the path of a labels file: a .npy array of integers [N]
	// or an idx1 file of unsigned bytes (gzip'ed or raw), one label per
	// sample of a .npy or IDX dataset. Folders take their labels from
	// class subfolders and accept no labels file.
	Labels string
	// Limit keeps the first Limit samples (0: all).
	Limit int
	// Channels is 1 (gray) or 3 (RGB) for image folders (0: 3). IDX
	// images have one channel; 0 or 1 is accepted for them.
	Channels int
	// Height and Width resize the images of a folder (0: each image's own
	// size, which must then be the same for all). For IDX and .npy data
	// they must be 0 or the data's own size.
	Height, Width int
	// Mean and Std normalise images scaled to [0, 1] as (x − Mean[c]) /
	// Std[c]: one value for every channel, or one per channel; nil means
	// 0 and 1. A .npy dataset is used as it is and accepts neither.
	Mean, Std []float64
}

// Batch is a run of consecutive samples.
type Batch struct {
	// Shape is [n, C, H, W] for images, [n, ...] for .npy data.
	Shape []int
	// Data holds the samples row-major.
	Data []float32
	// Labels holds one label per sample, or is nil for unlabelled data.
	Labels []int
}

// Len is the number of samples in b.
func (b *Batch) Len() int {
	if b == nil || len(b.Shape) == 0 {
		return 0
	}
	return b.Shape[0]
}

// source is one dataset layout: it reads the samples in order.
type source interface {
	// count is the number of samples available.
	count() int
	// sampleShape is the shape of one sample.
	sampleShape() []int
	// read fills dst with the next len(dst)/sampleLen samples.
	read(dst []float32) error
	close() error
}

// labelSource reads labels in order.
type labelSource interface {
	count() int
	read(dst []int) error
	close() error
}

// Reader streams a dataset's samples in order. It is not safe for
// concurrent use.
type Reader struct {
	path    string
	src     source
	labels  labelSource
	classes []string
	n, done int
}

// Open prepares the dataset at path (see the package documentation for the
// layouts) for reading with Next.
func Open(path string, opts Options) (*Reader, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &Reader{path: path}
	var err error
	if r.src, r.labels, r.classes, err = openSource(path, opts); err != nil {
		return nil, err
	}
	r.n = r.src.count()
	if r.labels != nil && r.labels.count() != r.n {
		err := fmt.Errorf("%s: %d labels for the %d samples of %s", opts.Labels, r.labels.count(), r.n, path)
		r.Close()
		return nil, err
	}
	if opts.Limit > 0 {
		r.n = min(r.n, opts.Limit)
	}
	return r, nil
}

// openSource chooses the layout of path.
func openSource(path string, opts Options) (source, labelSource, []string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dataset: %w", err)
	}
	if info.IsDir() || isImagePath(path) {
		if opts.Labels != "" {
			return nil, nil, nil, fmt.Errorf("%s: a labels file is only read with .npy and IDX data; an image folder takes its labels from class subfolders", opts.Labels)
		}
		src, labels, classes, err := openFolder(path, opts)
		if err != nil {
			return nil, nil, nil, err
		}
		return src, labels, classes, nil
	}
	kind, err := sniff(path)
	if err != nil {
		return nil, nil, nil, err
	}
	var src source
	switch kind {
	case kindNPY:
		src, err = openNPY(path, opts)
	case kindIDX:
		src, err = openIDXImages(path, opts)
	default:
		err = fmt.Errorf("%s: not a .npy, IDX (raw or gzip'ed) or image file, nor a folder of images", path)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if opts.Labels == "" {
		return src, nil, nil, nil
	}
	labels, err := openLabels(opts.Labels)
	if err != nil {
		src.close()
		return nil, nil, nil, err
	}
	return src, labels, nil, nil
}

// Load reads the whole dataset at path (up to opts.Limit samples) into one
// batch.
func Load(path string, opts Options) (*Batch, error) {
	r, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := r.Next(max(r.Len(), 1))
	if errors.Is(err, io.EOF) {
		return &Batch{Shape: append([]int{0}, r.SampleShape()...), Data: []float32{}}, nil
	}
	return b, err
}

// Len is the number of samples the reader yields (after Options.Limit).
func (r *Reader) Len() int { return r.n }

// SampleShape is the shape of one sample: [C, H, W] for images.
func (r *Reader) SampleShape() []int { return slices.Clone(r.src.sampleShape()) }

// Labelled reports whether batches carry labels.
func (r *Reader) Labelled() bool { return r.labels != nil }

// Classes are the class folder names of a labelled image folder, in label
// order, or nil for other layouts.
func (r *Reader) Classes() []string { return slices.Clone(r.classes) }

// Path is the dataset's path.
func (r *Reader) Path() string { return r.path }

// Next returns the next min(n, remaining) samples, or io.EOF when none
// remain. n must be positive.
func (r *Reader) Next(n int) (*Batch, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%s: batch size %d: must be positive", r.path, n)
	}
	if r.done >= r.n {
		return nil, io.EOF
	}
	n = min(n, r.n-r.done)
	shape := r.src.sampleShape()
	b := &Batch{Shape: append([]int{n}, shape...), Data: make([]float32, n*elements(shape))}
	if err := r.src.read(b.Data); err != nil {
		return nil, err
	}
	if r.labels != nil {
		b.Labels = make([]int, n)
		if err := r.labels.read(b.Labels); err != nil {
			return nil, err
		}
	}
	r.done += n
	return b, nil
}

// Close releases the files the reader holds.
func (r *Reader) Close() error {
	var errs []error
	if r.src != nil {
		errs = append(errs, r.src.close())
	}
	if r.labels != nil {
		errs = append(errs, r.labels.close())
	}
	return errors.Join(errs...)
}

func (o Options) check() error {
	if o.Limit < 0 {
		return fmt.Errorf("negative sample limit %d", o.Limit)
	}
	if o.Channels != 0 && o.Channels != 1 && o.Channels != 3 {
		return fmt.Errorf("channels must be 1 or 3, got %d", o.Channels)
	}
	if o.Height < 0 || o.Width < 0 || (o.Height == 0) != (o.Width == 0) {
		return fmt.Errorf("invalid image size %d×%d", o.Height, o.Width)
	}
	for name, v := range map[string][]float64{"mean": o.Mean, "std": o.Std} {
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) || (name == "std" && x == 0) {
				return fmt.Errorf("%s[%d] = %v: must be finite (and non-zero for std)", name, i, x)
			}
		}
	}
	return nil
}

// perChannel expands v (nil, one value, or one per channel) to c values,
// def when v is nil.
func perChannel(name string, v []float64, c int, def float64) ([]float64, error) {
	out := make([]float64, c)
	switch len(v) {
	case 0:
		for i := range out {
			out[i] = def
		}
	case 1:
		for i := range out {
			out[i] = v[0]
		}
	case c:
		copy(out, v)
	default:
		return nil, fmt.Errorf("%s has %d values for %d channels", name, len(v), c)
	}
	return out, nil
}

// elements is the product of shape's dimensions.
func elements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

type fileKind int

const (
	kindUnknown fileKind = iota
	kindNPY
	kindIDX
)

// sniff tells a .npy file from an IDX file (raw or gzip'ed) by their first
// bytes.
func sniff(path string) (fileKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	head := make([]byte, 6)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("\x93NUMPY")):
		return kindNPY, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, fmt.Errorf("dataset: %w", err)
		}
		zr, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		inner := make([]byte, 4)
		n, _ := io.ReadFull(zr, inner)
		if n == 4 && isIDXMagic(inner) {
			return kindIDX, nil
		}
		return kindUnknown, nil
	case len(head) >= 4 && isIDXMagic(head):
		return kindIDX, nil
	}
	return kindUnknown, nil
}

// isImagePath reports whether a file is decoded as an image (by extension).
func isImagePath(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}
