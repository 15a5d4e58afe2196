// Package npy reads and writes NumPy's .npy array files.
//
// It sits beside the graph-free kernels at the bottom of the pipeline: it
// knows nothing about tensors, graphs or models. Callers (cmd/dcrun and
// tests) wrap the returned shape and typed slice in whatever tensor type
// they use.
//
// Supported: format versions 1.0, 2.0 and 3.0; C-order (fortran_order
// False) arrays of little-endian float32 ('<f4'), float64 ('<f8'), int64
// ('<i8'), int32 ('<i4'), and the byte types uint8 ('|u1'), int8 ('|i1') and
// bool ('|b1'). Data are returned as []float32, []float64, []int64,
// []int32, []uint8, []int8 or []bool, in row-major order.
//
// Reading checks the header and the declared sizes before allocating: a
// shape whose element count overflows or exceeds MaxBytes is rejected, and
// when the reader's remaining length is known (files, bytes.Reader) a
// declared size larger than what is left is an error before any data
// buffer is made. Other readers are read in bounded chunks, so a lying
// header cannot make Read allocate much more than the bytes actually
// present.
package npy
