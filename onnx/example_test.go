package onnx_test

import (
	"fmt"
	"log"
	"path/filepath"

	"github.com/dcnet-go/dcnet/onnx"
)

// Loading a model, inlining any external data and decoding its weights.
func Example() {
	path := "testdata/tensors.onnx"
	m, err := onnx.LoadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := onnx.LoadExternalData(m, filepath.Dir(path)); err != nil {
		log.Fatal(err)
	}
	for _, t := range m.GetGraph().GetInitializer()[:2] {
		a, err := onnx.DecodeTensor(t, "")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.GetName(), a.Type, a.Dims, a.Data.([]float32)[:4])
	}
	// Output:
	// float_raw FLOAT [3 4] [0 -0 1.5 -2.25]
	// float_typed FLOAT [3 4] [0 -0 1.5 -2.25]
}
