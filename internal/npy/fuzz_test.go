package npy

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Read, seeded with NumPy's fixtures.
// Read must never panic; whatever it accepts must be self-consistent and
// survive a Write/Read round trip unchanged.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.npy"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		shape, data, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		if _, n := sliceInfo(data); n != elemCount(shape) {
			t.Fatalf("shape %v but %d elements", shape, n)
		}
		var buf bytes.Buffer
		if err := Write(&buf, shape, data); err != nil {
			t.Fatalf("Write rejected what Read returned: %v", err)
		}
		shape2, data2, err := Read(&buf)
		if err != nil {
			t.Fatalf("re-reading our own output: %v", err)
		}
		if !reflect.DeepEqual(shape, shape2) || !sameBits(data, data2) {
			t.Fatalf("round trip changed %v %v into %v %v", shape, data, shape2, data2)
		}
	})
}
