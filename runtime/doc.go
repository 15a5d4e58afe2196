// Package runtime plans and executes ONNX graphs on the CPU in pure Go.
//
// It sits after package onnx in the pipeline (bytes → ModelProto) and
// before the command-line tools. A Session is built once from a model:
// planning numbers the values, sorts the nodes, decodes every node's
// attributes into its kernel (reporting all errors, all unsupported
// operators at once), runs nodes whose inputs are constant, and marks the
// subgraphs that depend only on input shapes (Shape → Gather → Concat →
// Reshape chains) so that their results are computed once per input-shape
// signature. While planning, a Conv absorbs the nodes that alone read its
// output: a Relu or Clip and a residual Add run in its epilogue, and an
// inference BatchNormalization with constant parameters folds into its
// filter and bias; likewise an inference BatchNormalization absorbs the Relu
// or Clip that alone reads it, and Mul(x, Sigmoid(x)) becomes one step
// (fuse.go; WithoutFusion turns this off, training plans never fuse).
// RunProfiled times each step of a run (dcrun bench --per-op). Run then executes the remaining kernels in order, recycling the
// buffers of intermediates as soon as their last reader is done.
//
// Operators live one family per file (conv.go, pool.go, gemm.go,
// elementwise.go, activation.go, reduce.go, norm.go, shape.go) and are
// registered from ops.go. Custom operators join through a Registry:
//
//	reg := runtime.Builtins()
//	decop.Register(reg)
//	s, err := runtime.NewSession("model.onnx", runtime.WithRegistry(reg))
//
// Tensors are dense and row-major; image tensors are [N, C, H, W].
package runtime
