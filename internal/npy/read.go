package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// magic starts every .npy file.
const magic = "\x93NUMPY"

const (
	// MaxBytes is the largest array (in data bytes) Read accepts.
	MaxBytes = 1 << 34
	// maxHeaderLen bounds the header dict; NumPy itself refuses headers
	// over 10000 bytes by default.
	maxHeaderLen = 1 << 16
	// maxDim bounds a single dimension while parsing, before the product
	// is checked against MaxBytes.
	maxDim = 1 << 50
	// chunk is how much Read reads at a time from a reader whose length
	// it cannot know in advance.
	chunk = 1 << 20
)

// ReadFile reads the .npy file at path. See Read.
func ReadFile(path string) (shape []int, data any, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	shape, data, err = Read(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return shape, data, nil
}

// Read decodes one array from r. shape is the array's dimensions ([] for a
// 0-d array) and data a slice of the element type ([]float32 for '<f4',
// ...) holding the elements in row-major order. Bytes after the array are
// left unread.
func Read(r io.Reader) (shape []int, data any, err error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	n, nbytes, err := dataSize(h)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	raw, err := readData(r, nbytes)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: shape %v of %s: %w", h.shape, h.elem.name, err)
	}
	data, err = decode(h.elem, raw, n)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	return h.shape, data, nil
}

// readHeader reads the magic string, version, header length and header
// dict, without reading past the header.
func readHeader(r io.Reader) (header, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return header{}, fmt.Errorf("not a .npy file: %w", noEOF(err))
	}
	if string(pre[:6]) != magic {
		return header{}, errors.New("not a .npy file (bad magic string)")
	}
	major, minor := pre[6], pre[7]
	lenBytes := 4
	switch {
	case major == 1 && minor == 0:
		lenBytes = 2
	case (major == 2 || major == 3) && minor == 0:
	default:
		return header{}, fmt.Errorf("unsupported .npy format version %d.%d", major, minor)
	}
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:lenBytes]); err != nil {
		return header{}, fmt.Errorf("truncated header: %w", noEOF(err))
	}
	hlen := int(binary.LittleEndian.Uint32(lb[:]))
	if hlen > maxHeaderLen {
		return header{}, fmt.Errorf("header length %d exceeds the limit of %d bytes", hlen, maxHeaderLen)
	}
	text := make([]byte, hlen)
	if _, err := io.ReadFull(r, text); err != nil {
		return header{}, fmt.Errorf("truncated header: %w", noEOF(err))
	}
	return parseHeader(string(text))
}

// dataSize checks the declared shape and returns its element and byte
// counts.
func dataSize(h header) (n, nbytes int, err error) {
	n = 1
	for _, d := range h.shape {
		if d != 0 && n > MaxBytes/d {
			return 0, 0, fmt.Errorf("shape %v is too large (limit %d bytes)", h.shape, MaxBytes)
		}
		n *= d
	}
	if n > MaxBytes/h.elem.size {
		return 0, 0, fmt.Errorf("shape %v of %s is too large (limit %d bytes)", h.shape, h.elem.name, MaxBytes)
	}
	return n, n * h.elem.size, nil
}

// readData reads exactly nbytes. When r can tell how many bytes remain, a
// short input is reported before anything is allocated; otherwise the
// buffer grows with the data actually read.
func readData(r io.Reader, nbytes int) ([]byte, error) {
	if left, ok := remaining(r); ok {
		if left < int64(nbytes) {
			return nil, fmt.Errorf("needs %d bytes of data, only %d remain", nbytes, left)
		}
		buf := make([]byte, nbytes)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("reading data: %w", noEOF(err))
		}
		return buf, nil
	}
	var buf bytes.Buffer
	buf.Grow(min(nbytes, chunk))
	got, err := io.CopyN(&buf, r, int64(nbytes))
	if err != nil {
		return nil, fmt.Errorf("needs %d bytes of data, only %d remain: %w", nbytes, got, noEOF(err))
	}
	return buf.Bytes(), nil
}

// remaining reports how many bytes r still holds, if it can tell.
func remaining(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len()), true
	case io.Seeker:
		cur, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, false
		}
		end, err := v.Seek(0, io.SeekEnd)
		if err != nil {
			return 0, false
		}
		if _, err := v.Seek(cur, io.SeekStart); err != nil {
			return 0, false
		}
		return end - cur, true
	}
	return 0, false
}

// decode converts little-endian bytes into a typed slice of n elements.
func decode(e elemType, raw []byte, n int) (any, error) {
	le := binary.LittleEndian
	switch e.name {
	case "float32":
		return decodeLE(raw, n, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) }), nil
	case "float64":
		return decodeLE(raw, n, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) }), nil
	case "int64":
		return decodeLE(raw, n, 8, func(b []byte) int64 { return int64(le.Uint64(b)) }), nil
	case "int32":
		return decodeLE(raw, n, 4, func(b []byte) int32 { return int32(le.Uint32(b)) }), nil
	case "uint8":
		return raw[:n:n], nil
	case "int8":
		return decodeLE(raw, n, 1, func(b []byte) int8 { return int8(b[0]) }), nil
	case "bool":
		return decodeBools(raw[:n])
	}
	return nil, fmt.Errorf("unsupported dtype %s", e.name)
}

func decodeLE[T any](raw []byte, n, size int, get func([]byte) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = get(raw[i*size : i*size+size])
	}
	return out
}

// decodeBools accepts only the bytes 0 and 1, which is all NumPy writes.
func decodeBools(raw []byte) ([]bool, error) {
	out := make([]bool, len(raw))
	for i, b := range raw {
		if b > 1 {
			return nil, fmt.Errorf("bool element %d holds byte %#x (expected 0 or 1)", i, b)
		}
		out[i] = b == 1
	}
	return out, nil
}

// noEOF turns a bare io.EOF into io.ErrUnexpectedEOF: a .npy file that ends
// early is truncated, not empty.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
