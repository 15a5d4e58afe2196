package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// The IDX format (yann.lecun.com/exdb/mnist): a magic number of two zero
// bytes, an element type byte and a byte giving the number of dimensions;
// the dimensions as big-endian uint32; then the elements, row-major. Only
// unsigned bytes (type 0x08) are read: the MNIST family's images and
// labels.

const (
	idxUbyte = 0x08
	// maxIDXSample bounds one sample (H·W bytes) before anything is
	// allocated.
	maxIDXSample = 1 << 26
	// maxIDXBytes bounds a whole file's declared data.
	maxIDXBytes = 1 << 40
)

var idxTypeNames = map[byte]string{0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}

func isIDXMagic(b []byte) bool {
	_, known := idxTypeNames[b[2]]
	return b[0] == 0 && b[1] == 0 && known && b[3] >= 1 && b[3] <= 4
}

// idxStream reads the body of an IDX file after its header.
type idxStream struct {
	path string
	dims []int // [N, ...]
	r    io.Reader
	file *os.File
}

// openIDX opens an IDX file (gzip'ed or raw), reads and checks its header,
// and for a raw file compares the declared size with the file's size.
func openIDX(path string) (*idxStream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	s, err := newIDXStream(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.file = f
	return s, nil
}

// newIDXStream reads the header from f (gzip'ed or raw). The size check
// applies when f is a regular file that is not compressed.
func newIDXStream(f io.ReadSeeker, path string) (*idxStream, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	br := bufio.NewReaderSize(f, 1<<16)
	head, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, noEOF(err))
	}
	var r io.Reader = br
	compressed := head[0] == 0x1f && head[1] == 0x8b
	if compressed {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = bufio.NewReaderSize(zr, 1<<16)
	}
	dims, err := readIDXHeader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !compressed {
		if err := checkIDXSize(size, dims); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return &idxStream{path: path, dims: dims, r: r}, nil
}

// readIDXHeader reads the magic number and the dimensions of an IDX file
// of unsigned bytes, checking that the declared sizes are sane.
func readIDXHeader(r io.Reader) ([]int, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("IDX header: %w", noEOF(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("not an IDX file (magic number % x)", magic)
	}
	if magic[2] != idxUbyte {
		name, ok := idxTypeNames[magic[2]]
		if !ok {
			name = "unknown"
		}
		return nil, fmt.Errorf("IDX element type 0x%02x (%s) is not supported; only unsigned bytes (0x08)", magic[2], name)
	}
	ndims := int(magic[3])
	if ndims < 1 || ndims > 4 {
		return nil, fmt.Errorf("IDX file with %d dimensions; want 1 to 4", ndims)
	}
	raw := make([]byte, 4*ndims)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("IDX header: %w", noEOF(err))
	}
	dims := make([]int, ndims)
	sample := int64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(raw[4*i:])
		if d > 1<<31-1 {
			return nil, fmt.Errorf("IDX dimension %d is %d, too large", i, d)
		}
		dims[i] = int(d)
		if i > 0 && d == 0 {
			return nil, fmt.Errorf("IDX dimension %d is 0: samples would be empty", i)
		}
		if i > 0 {
			sample *= int64(d)
			if sample > maxIDXSample {
				return nil, fmt.Errorf("IDX samples of %v bytes exceed the limit of %d", dims[1:i+1], maxIDXSample)
			}
		}
	}
	if sample*int64(dims[0]) > maxIDXBytes {
		return nil, fmt.Errorf("IDX data of %v bytes exceed the limit of %d", dims, int64(maxIDXBytes))
	}
	return dims, nil
}

// checkIDXSize compares a raw file's length with the header's dimensions.
func checkIDXSize(size int64, dims []int) error {
	want := int64(4 + 4*len(dims))
	body := int64(1)
	for _, d := range dims {
		body *= int64(d)
	}
	if want+body != size {
		return fmt.Errorf("the IDX header declares %v bytes of data (%d bytes in all), but the file has %d bytes", dims, want+body, size)
	}
	return nil
}

// sampleLen is the number of bytes of one sample (1 for labels).
func (s *idxStream) sampleLen() int { return elements(s.dims[1:]) }

// readBytes fills dst with the next len(dst) bytes of the body.
func (s *idxStream) readBytes(dst []byte, first int) error {
	if _, err := io.ReadFull(s.r, dst); err != nil {
		return fmt.Errorf("%s: reading from sample %d of %d: %w", s.path, first, s.dims[0], noEOF(err))
	}
	return nil
}

func (s *idxStream) close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

// idxImages is an idx3 file of unsigned bytes [N, H, W], read as
// [N, 1, H, W] normalised through a lookup table.
type idxImages struct {
	*idxStream
	lut  [256]float32
	next int
	buf  []byte
}

func openIDXImages(path string, opts Options) (source, error) {
	s, err := openIDX(path)
	if err != nil {
		return nil, err
	}
	src, err := newIDXImages(s, opts)
	if err != nil {
		s.close()
		return nil, err
	}
	return src, nil
}

func newIDXImages(s *idxStream, opts Options) (*idxImages, error) {
	if len(s.dims) != 3 {
		return nil, fmt.Errorf("%s: IDX images have dimensions [N, H, W]; this file has %v", s.path, s.dims)
	}
	if opts.Channels > 1 {
		return nil, fmt.Errorf("%s: IDX images have one channel; %d were asked for", s.path, opts.Channels)
	}
	h, w := s.dims[1], s.dims[2]
	if opts.Height != 0 && (opts.Height != h || opts.Width != w) {
		return nil, fmt.Errorf("%s: IDX images are %d×%d; resizing to %d×%d is only done for image files", s.path, h, w, opts.Height, opts.Width)
	}
	mean, err := perChannel("mean", opts.Mean, 1, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	std, err := perChannel("std", opts.Std, 1, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	src := &idxImages{idxStream: s}
	for v := range src.lut {
		// In float64, rounded once, as imageio does for image files.
		src.lut[v] = float32((float64(v)/255 - mean[0]) / std[0])
	}
	return src, nil
}

func (s *idxImages) count() int         { return s.dims[0] }
func (s *idxImages) sampleShape() []int { return []int{1, s.dims[1], s.dims[2]} }

func (s *idxImages) read(dst []float32) error {
	if cap(s.buf) < len(dst) {
		s.buf = make([]byte, len(dst))
	}
	buf := s.buf[:len(dst)]
	if err := s.readBytes(buf, s.next); err != nil {
		return err
	}
	for i, b := range buf {
		dst[i] = s.lut[b]
	}
	s.next += len(dst) / s.sampleLen()
	return nil
}

// idxLabels is an idx1 file of unsigned bytes [N].
type idxLabels struct {
	*idxStream
	next int
	buf  []byte
}

func newIDXLabels(s *idxStream) (*idxLabels, error) {
	if len(s.dims) != 1 {
		return nil, fmt.Errorf("%s: IDX labels have dimensions [N]; this file has %v", s.path, s.dims)
	}
	return &idxLabels{idxStream: s}, nil
}

func (s *idxLabels) count() int { return s.dims[0] }

func (s *idxLabels) read(dst []int) error {
	if cap(s.buf) < len(dst) {
		s.buf = make([]byte, len(dst))
	}
	buf := s.buf[:len(dst)]
	if err := s.readBytes(buf, s.next); err != nil {
		return err
	}
	for i, b := range buf {
		dst[i] = int(b)
	}
	s.next += len(dst)
	return nil
}

// noEOF turns a premature end of input into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
