// Package conv holds the graph-free machinery of 2-D convolution and pooling: the geometry of a
// sliding window (output sizes from pads, strides, dilations and auto_pad), an im2col BPacker
// that feeds internal/gemm straight from the input image, the direct kernel used for depthwise
// convolutions, the driver that picks between them, and the pooling kernels.
//
// It sits in internal/, below runtime/ (which decodes ONNX attributes into a Geometry) and decop/
// (whose DecoupledConv runs the same Filter.Forward with a GroupEpilogue that finishes each
// (image, group) product with its patch norms, from Geometry.PatchSquares).
// It knows nothing about graphs, tensors or protobufs: images are row-major []float32 slices.
//
// # Layouts
//
// An input batch x is [N, C, H, W], a filter w is [M, C/Group, KH, KW] and an output y is
// [N, M, OH, OW], all row-major. Group g convolves input channels [g·C/Group, (g+1)·C/Group) into
// output channels [g·M/Group, (g+1)·M/Group).
//
// # Algorithms
//
// A convolution of one image and one group is the matrix product
//
//	Y_g [M/Group, OH·OW] = W_g [M/Group, K] · P [K, OH·OW],   K = C/Group·KH·KW,
//
// where column j of the patch matrix P holds the input values under the window of output pixel j
// (row k = (c·KH + kh)·KW + kw). Im2col computes it with gemm, packing panels of P on the fly from
// the image (PatchPacker) so that P is never materialised; Pointwise uses the image itself as P
// when the window is one pixel with unit stride and no padding. Direct computes each output plane
// as a sum of shifted, scaled input rows; it wins when C/Group is 1 (depthwise), where the product
// has K = KH·KW only and is too thin for gemm. With AVX-512, 3×3 and 5×5 depthwise layers of
// stride 2 (and 3×3 ones of stride 1 on wide planes) padded by half the window at the top and
// left run plane kernels (depthwise_planes.go): 16 outputs of a row per step, the channel's
// weights in registers, a stride-2 row split into even and odd columns by permutes; other
// depthwise layers without a channel multiplier run channel-blocked (depthwise.go): 16
// channels are transposed into pixel-major vectors (gemm.Transpose16), every tap is one vector
// multiply-add for all 16, and the result is transposed back. Im2col takes a strided 1×1
// convolution on one goroutine by copying out the sampled pixels and multiplying them as a plain
// operand (samplePoints). Winograd computes 3×3 unit-stride layers as F(2×2, 3×3)
// (winograd.go): per block of output tiles, the input is transformed (AVX-512: 16 tiles per
// vector), 16 products with the transformed filter run through gemm, and the output transform
// stores the tiles with the epilogue fused; 2.25 times fewer multiply-adds. Its error is bounded
// like a product of depth C+9 over the transformed magnitudes (winogradBound in the tests).
// Choose picks one from the size-independent fields of a Geometry, so the choice (and the
// packing of the filter, see Filter) happens once, when a model is planned; a Winograd filter
// runs images too small for it (fewer than winoMinTiles tiles per block) as Im2col.
//
// The input gradient of a unit-stride convolution is itself a convolution (InputGradient), and
// WinogradFilterGradient computes the filter gradient with the same transforms (the output
// gradient's by A e Aᵀ), so training runs its 3×3 layers through F(2×2, 3×3) too.
//
// Stem (stem.go) computes first layers, of at most four input channels, without packing: a tile
// is 16 output pixels of a row by 16 output channels, the channels in the vector lanes, and each
// tap multiplies the tap's 16 weights by each pixel's input value broadcast from a zero-padded
// copy of the image (AVX-512 kernels for horizontal strides 1, 2 and 4). Choose takes it for
// 16 output channels and for stride 4; wider stems pack faster by phased im2col.
//
// Phased packing (phased.go): where the row kernel has it, im2col packs its 16-lane panels from a
// zero-padded copy of the image split into column phases (the direct algorithm's layout), made by
// each gemm task for the input rows of its columns (gemm.TaskPacker): every (tap, output-row
// segment) piece of a panel is then one masked vector load, with no padding to test.
//
// The backward passes (runtime's Conv, decop's DecoupledConv) keep P or its gradient whole:
// Geometry.Im2colRows stores rows of P and Geometry.Col2imRows, its adjoint, adds rows of dP back
// into the input's gradient (ScatterTap does one tap, ValidSpan clips a strided row to the image).
//
// # Kernels and dispatch
//
// gemm brings its own micro-kernels. The row kernels (taps.go) are chosen once from a table that
// starts with the portable Go loops and is extended per architecture (taps_amd64.s: AVX2+FMA and
// AVX-512). They run the direct algorithm's taps, the elementwise maxima of max pooling, and, with
// AVX-512, the packing of im2col panels that span several output rows: every (tap, row segment)
// piece of such a panel becomes one masked vector load (a masked gather at stride 2), described
// once per geometry by PanelTables (cached by the Filter) and shared by the packers of all images
// of a batch; stride-2 panels on one output row take their even lanes by a vector permute
// (evens16).
// DCNET_CONV=generic in the environment, the purego build tag, or UseRowKernel in tests select
// the portable one.
//
// # Epilogues and patch norms
//
// Forward fuses a bias, a residual (skip) tensor and an activation into storing the output, or hands each finished block
// of raw sums to a caller's GroupEpilogue, which prepares per-(image, group) state once (for
// DecoupledConv, the norms of every input patch) before the product starts; gemm calls it on
// each column panel as soon as the panel is stored. PatchSquares computes those norms' squares
// from the same geometry in float64, separably (norms.go): the row kernels' vectorised channel
// sums, then per output row a column pass and a row pass over shifted runs in L1
// (norms_amd64.s), in bands of output rows over the threads. A SampledGroupEpilogue begins from
// the sampled grid of a strided 1×1 convolution instead of its input.
//
// # Pooling
//
// MaxPool and AveragePool share the window arithmetic (OutSize, AutoPad) and run over planes of
// up to three spatial axes (PoolGeometry); each output's window is clipped to the input once per
// axis, so the inner loops never test for padding. For float32, 3×3 stride-2 max pooling runs a
// vector row kernel (pool3s2; over all rows of a run of planes in one call when every window
// lies inside the plane), 2×2 stride-2 max pooling a vector kernel over whole planes
// (pool2s2), 3×3 unit-stride max and average pooling with one value of padding a vector kernel
// over runs of planes (avgpool3.go), and other unit-stride pools run separably over whole
// planes, one long vector pass per tap (verticalPasses, horizontalPasses).
package conv
