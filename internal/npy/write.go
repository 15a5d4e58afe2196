package npy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

const (
	// headerAlign is the alignment NumPy gives the start of the data.
	headerAlign = 64
	// maxRank is the most dimensions Write accepts (NumPy 2 allows 64),
	// which also keeps the header within format 1.0's 65535 bytes.
	maxRank = 64
)

// WriteFile writes the array to path atomically: the bytes go to a
// temporary file in the same directory, which is synced and then renamed
// over path, so readers never see a partly written file. See Write.
func WriteFile(path string, shape []int, data any) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = Write(f, shape, data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

// Write encodes an array as .npy (format 1.0, as NumPy writes). data is a []float32, []float64, []int64, []int32,
// []uint8, []int8 or []bool of exactly as many elements as shape holds,
// in row-major order.
func Write(w io.Writer, shape []int, data any) error {
	e, n, err := checkArray(shape, data)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.WriteString(preamble(formatHeader(e, shape))); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if err := encode(bw, data, n); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

// checkArray validates shape against data and returns the element type and
// count.
func checkArray(shape []int, data any) (elemType, int, error) {
	name, length := sliceInfo(data)
	if name == "" {
		return elemType{}, 0, fmt.Errorf("unsupported data type %T", data)
	}
	if len(shape) > maxRank {
		return elemType{}, 0, fmt.Errorf("rank %d exceeds the limit of %d", len(shape), maxRank)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return elemType{}, 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > MaxBytes/d {
			return elemType{}, 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	if n != length {
		return elemType{}, 0, fmt.Errorf("shape %v holds %d elements, data has %d", shape, n, length)
	}
	for _, e := range elemTypes {
		if e.name == name {
			return e, n, nil
		}
	}
	return elemType{}, 0, errors.New("unreachable: unknown element type")
}

func sliceInfo(data any) (name string, length int) {
	switch v := data.(type) {
	case []float32:
		return "float32", len(v)
	case []float64:
		return "float64", len(v)
	case []int64:
		return "int64", len(v)
	case []int32:
		return "int32", len(v)
	case []uint8:
		return "uint8", len(v)
	case []int8:
		return "int8", len(v)
	case []bool:
		return "bool", len(v)
	}
	return "", 0
}

// preamble returns magic, version 1.0, header length and the header padded
// with spaces and a final newline so the data start on a 64-byte boundary.
// maxRank keeps the header far below format 1.0's 65535-byte limit.
func preamble(dict string) string {
	const fixed = len(magic) + 2 + 2
	total := fixed + len(dict) + 1
	total += (headerAlign - total%headerAlign) % headerAlign
	hlen := total - fixed
	pad := strings.Repeat(" ", hlen-len(dict)-1)
	return magic + "\x01\x00" + string([]byte{byte(hlen), byte(hlen >> 8)}) + dict + pad + "\n"
}

// encode writes the elements little-endian.
func encode(w *bufio.Writer, data any, n int) error {
	le := binary.LittleEndian
	switch v := data.(type) {
	case []float32:
		return encodeLE(w, v, 4, func(b []byte, x float32) { le.PutUint32(b, math.Float32bits(x)) })
	case []float64:
		return encodeLE(w, v, 8, func(b []byte, x float64) { le.PutUint64(b, math.Float64bits(x)) })
	case []int64:
		return encodeLE(w, v, 8, func(b []byte, x int64) { le.PutUint64(b, uint64(x)) })
	case []int32:
		return encodeLE(w, v, 4, func(b []byte, x int32) { le.PutUint32(b, uint32(x)) })
	case []uint8:
		_, err := w.Write(v[:n])
		return err
	case []int8:
		return encodeLE(w, v, 1, func(b []byte, x int8) { b[0] = byte(x) })
	case []bool:
		return encodeLE(w, v, 1, func(b []byte, x bool) {
			b[0] = 0
			if x {
				b[0] = 1
			}
		})
	}
	return fmt.Errorf("unsupported data type %T", data)
}

func encodeLE[T any](w *bufio.Writer, src []T, size int, put func([]byte, T)) error {
	var buf [8]byte
	for _, x := range src {
		put(buf[:size], x)
		if _, err := w.Write(buf[:size]); err != nil {
			return err
		}
	}
	return nil
}
