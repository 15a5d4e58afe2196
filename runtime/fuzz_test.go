package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dcnet-go/dcnet/runtime"
)

// FuzzNewSession loads and plans arbitrary bytes as a model and, when that
// succeeds, runs it on zero inputs of its declared shapes. Nothing may
// panic; every failure must be an error. Seeds are real models: a few ONNX
// node tests and prefixes of the shared squeezenet.
//
//	go test ./runtime -run '^$' -fuzz FuzzNewSession -fuzztime 10m
func FuzzNewSession(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := runtime.NewSessionFromBytes(data, runtime.WithThreads(1), runtime.WithMaxElements(1<<20))
		if err != nil {
			return
		}
		feeds := map[string]*runtime.Tensor{}
		for _, in := range s.Inputs() {
			shape := make([]int, len(in.Shape))
			for i, d := range in.Shape {
				shape[i] = d
				if d < 0 {
					shape[i] = 1
				}
			}
			n := runtime.NumElements(shape)
			if n < 0 || n > 1<<16 || !in.DType.Supported() {
				return
			}
			feeds[in.Name] = runtime.Zeros(in.DType, shape...)
		}
		_, _ = s.Run(context.Background(), feeds)
	})
}

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, name := range []string{"test_conv_with_strides_padding", "test_maxpool_2d_pads", "test_gemm_default_matrix_bias",
		"test_reshape_reordered_all_dims", "test_slice", "test_concat_2d_axis_0", "test_relu", "test_batchnorm_example"} {
		if b, err := os.ReadFile(filepath.Join(*nodeTestDir, name, "model.onnx")); err == nil {
			seeds = append(seeds, b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(sharedModelsDir(), "squeezenet1_1_legacy.onnx")); err == nil {
		for _, n := range []int{64, 512, 4096} {
			seeds = append(seeds, b[:n])
		}
	}
	return seeds
}
