package gemm_test

import (
	"fmt"

	"github.com/dcnet-go/dcnet/internal/gemm"
)

// A convolution-style product: weights packed once, a bias per output row and ReLU fused into
// the store. A = [[1 2 3] [-4 -5 -6]], B = [[1 0] [0 1] [1 1]], so A·B = [[4 5] [-10 -11]];
// adding the biases 0.5 and 20 gives [[4.5 5.5] [10 9]], which ReLU leaves unchanged.
func ExamplePackedA_Mul() {
	a := []float32{1, 2, 3, -4, -5, -6}
	b := []float32{1, 0, 0, 1, 1, 1}
	c := make([]float32, 4)
	w := gemm.PackA(2, 3, a, 3, false)
	w.Mul(2, gemm.Dense{Data: b, Ld: 2}, c, 2, &gemm.Epilogue{RowBias: []float32{0.5, 20}, Act: gemm.ActRelu}, 1)
	fmt.Println(c)
	// Output: [4.5 5.5 10 9]
}

// The BLAS-style call: C = 2·A·Bᵀ + 1·C with B stored transposed (n x k).
func ExampleSgemm() {
	a := []float32{1, 2, 3, 4}  // 2 x 2
	bt := []float32{1, 1, 0, 1} // B = [[1 0] [1 1]] stored as Bᵀ
	c := []float32{10, 20, 30, 40}
	gemm.Sgemm(false, true, 2, 2, 2, 2, a, 2, bt, 2, 1, c, 2, 1)
	fmt.Println(c) // A·B = [[3 2] [7 4]]
	// Output: [16 24 44 48]
}
