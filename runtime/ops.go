package runtime

// registerBuiltins registers every standard operator, one family per file.
// This is the only place built-ins are registered.
func registerBuiltins(r *Registry) {
	registerConv(r)        // conv.go
	registerPool(r)        // pool.go
	registerMatMul(r)      // gemm.go: Gemm, MatMul
	registerElementwise(r) // elementwise.go: arithmetic, math, comparison, Where, Cast
	registerActivations(r) // activation.go
	registerReduce(r)      // reduce.go
	registerNorm(r)        // norm.go: BatchNormalization, LayerNormalization, Softmax, LogSoftmax
	registerShapeOps(r)    // shape.go
	registerGradients(r)   // *_grad.go: backward kernels for training (train_grad.go)
}
