// Package decop implements the decoupled convolution of Decoupled Networks (Liu et al., CVPR
// 2018) as the ONNX operator ai.dcnet/DecoupledConv, following the contract in
// shared/spec/decoupled-conv.md: for output channel m and output position p,
//
//	y[m,p] = h(r)·g(c) + B_m,  c = clamp(<w_m, x_p> / (‖w_m‖·‖x_p‖), −1, 1),  r = ‖x_p‖ or ‖w_m‖·‖x_p‖
//
// (both norms with eps under the square root), with the magnitude functions h and angular
// functions g of spec.go.
//
// It sits beside runtime/ in the pipeline: Register adds the operator to a runtime.Registry
// (cmd/dcrun does so), and the converter rewrites Conv nodes into it. Underneath it reuses the
// convolution machinery of internal/conv and internal/gemm: the dot products come from the
// same packed gemm (or depthwise direct kernel) as Conv's, the patch norms from the same
// geometry, and the decoupled part runs as an epilogue on each finished block of the product
// (kernel.go), evaluated by a row kernel chosen once per process: the portable Go loops
// (kernel_generic.go) or AVX2+FMA assembly (kernel_amd64.s). DCNET_DECOP=generic in the
// environment, the purego build tag, or UseKernel select the portable one. The magnitude
// linear with angular cos, weighted = 1 and α = 1 reduces to Conv and is planned as one.
//
// Backward (grad.go) computes the gradients for training.
//
// # Layouts
//
// x: [N, C, H, W], w: [M, C/group, kH, kW], b: [M], α, ρ, β: [] or [1] or [M],
// y: [N, M, OH, OW], all row-major float32.
package decop
