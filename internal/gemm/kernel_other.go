//go:build !amd64 || purego

package gemm

// archKernels is empty where no assembly kernel exists: the portable kernel is used.
var archKernels []*kernel

// packRows16 packs full 16-wide panels of a row-major matrix, walking the source row by row; see
// the assembly version in kernel_amd64.go.
func packRows16(dst, src []float32, ld, kc, panels int) {
	for kk := range kc {
		row := src[kk*ld:]
		for p := range panels {
			copy16(dst[p*kc*16+kk*16:], row[p*16:])
		}
	}
}

// copy16 copies 16 values. Written as four 4-value array copies, it compiles to eight 16-byte
// moves; a single [16]float32 copy would call memmove, which costs more than the copy itself.
func copy16(dst, src []float32) {
	d, s := (*[16]float32)(dst), (*[16]float32)(src)
	*(*[4]float32)(d[0:4]) = *(*[4]float32)(s[0:4])
	*(*[4]float32)(d[4:8]) = *(*[4]float32)(s[4:8])
	*(*[4]float32)(d[8:12]) = *(*[4]float32)(s[8:12])
	*(*[4]float32)(d[12:16]) = *(*[4]float32)(s[12:16])
}

// transpose16AVX512 stands in for the assembly transposition (transpose16Vec is false here).
func transpose16AVX512(a *transposeArgs) { transpose16Generic(a) }
