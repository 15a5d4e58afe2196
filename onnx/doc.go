// Package onnx is the bottom of the dcnet pipeline: it turns bytes into ONNX
// models and back, and ONNX tensors into Go slices and back. Nothing else:
// graph rewriting lives in convert, execution in runtime.
//
// # Models
//
// The protobuf types (ModelProto, GraphProto, NodeProto, TensorProto, ...) are
// generated from ONNX's schema by proto/generate.sh, with the protobuf package
// renamed to dcnet.onnx so this package links beside any other Go ONNX
// library. Load and Save convert between bytes and a *ModelProto without
// losing anything: fields a newer schema added survive as unknown fields, and
// Save is deterministic. LoadFile and SaveFile add files: SaveFile replaces a
// model atomically and, with WithExternalData, moves large initializers to a
// side file the way ONNX's external-data convention describes (location,
// offset and length relative to the model's directory). A model read from a
// file keeps its external references until LoadExternalData inlines them.
//
// # Tensors
//
// DecodeTensor turns a TensorProto, whichever of raw_data, a typed field or
// an external file holds its values, into an Array: dims plus a Go slice
// ([]float32 for FLOAT, []uint16 half bits for FLOAT16, ...), elements in
// row-major order. EncodeTensor goes back, always to little-endian raw_data.
// Declared sizes are checked against the data present before anything is
// allocated, so a hostile file gives an error naming the tensor, not a panic
// or a huge allocation. Float16ToFloat32 and Float32ToFloat16 convert half
// precision numbers.
//
// # Building
//
// A few helpers build the small messages a converter writes: AttrInt,
// AttrInts, AttrFloat, AttrFloats, AttrString, AttrTensor and ValueInfo;
// OpsetVersion reads a model's opset imports and OpHistogram counts a
// graph's operators.
package onnx
