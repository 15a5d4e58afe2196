package dataset

import (
	"bytes"
	"compress/gzip"
	"os"
	"testing"
)

// FuzzIDX feeds arbitrary bytes (raw or gzip'ed) to the IDX reader: it must
// never panic nor allocate beyond its limits, and when it accepts a file as
// images, the values it returns must be the file's bytes scaled to [0, 1].
func FuzzIDX(f *testing.F) {
	for _, name := range []string{"images-idx3-ubyte", "images-idx3-ubyte.gz", "labels-idx1-ubyte"} {
		data, err := os.ReadFile(fixture(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(idxBytes(0x08, []uint32{1, 1, 1}, []byte{7}))
	f.Add(idxBytes(0x08, []uint32{0, 28, 28}, nil))
	f.Add(idxBytes(0x08, []uint32{1 << 30, 1 << 10, 1 << 10}, []byte{1, 2, 3}))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(idxBytes(0x08, []uint32{2, 2, 1}, []byte{0, 255, 128, 64}))
	zw.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := newIDXStream(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		if len(s.dims) == 1 {
			labels, err := newIDXLabels(s)
			if err != nil {
				t.Fatalf("rank-1 file refused as labels: %v", err)
			}
			dst := make([]int, min(labels.count(), 64))
			labels.read(dst)
			return
		}
		src, err := newIDXImages(s, Options{})
		if err != nil {
			return
		}
		n := min(src.count(), 4)
		if n == 0 || src.sampleLen() > 1<<16 {
			return
		}
		dst := make([]float32, n*src.sampleLen())
		if err := src.read(dst); err != nil {
			return
		}
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // compressed: the body is not visible in data
		}
		body := data[4+4*len(s.dims):]
		for i, v := range dst {
			if want := float32(float64(body[i]) / 255); v != want {
				t.Fatalf("value %d = %v, want %v", i, v, want)
			}
		}
	})
}
