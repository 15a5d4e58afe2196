package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dcnet-go/dcnet/onnx"
)

// DType is a tensor element type. Its values are those of ONNX's
// TensorProto.DataType, so conversion to and from the wire format is a cast.
type DType int32

// The element types the runtime computes with.
const (
	Float32 DType = DType(onnx.TensorProto_FLOAT)
	Uint8   DType = DType(onnx.TensorProto_UINT8)
	Int8    DType = DType(onnx.TensorProto_INT8)
	Int32   DType = DType(onnx.TensorProto_INT32)
	Int64   DType = DType(onnx.TensorProto_INT64)
	Bool    DType = DType(onnx.TensorProto_BOOL)
	Float16 DType = DType(onnx.TensorProto_FLOAT16)
	Float64 DType = DType(onnx.TensorProto_DOUBLE)
)

// String returns the ONNX name of the type ("FLOAT", "INT64", ...).
func (d DType) String() string {
	return onnx.TensorProto_DataType(d).String()
}

// Supported reports whether the runtime can hold tensors of this type.
func (d DType) Supported() bool {
	switch d {
	case Float32, Uint8, Int8, Int32, Int64, Bool, Float16, Float64:
		return true
	}
	return false
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Float16:
		return 2
	case Float32, Int32:
		return 4
	case Int64, Float64:
		return 8
	}
	return 0
}

// Elem is the set of Go element types a Tensor can hold. Float16 tensors
// hold their IEEE half-precision bit patterns as uint16.
type Elem interface {
	float32 | float64 | int64 | int32 | int8 | uint8 | bool | uint16
}

// Tensor is a dense, row-major (C order) n-dimensional array.
//
// A Tensor returned by Session.Run belongs to the caller. Tensors passed to
// Run are only read.
type Tensor struct {
	dtype DType
	shape []int
	data  any // []float32, []float64, []int64, []int32, []int8, []uint8, []bool or []uint16 (Float16)
	store *storage
}

// New returns a tensor of the given type and shape holding data, which it
// does not copy. It panics if len(data) does not match the shape: that is a
// programming error, not bad input.
func New[T Elem](shape []int, data []T) *Tensor {
	n := NumElements(shape)
	if n < 0 || len(data) != n {
		panic(fmt.Sprintf("runtime.New: %d elements for shape %v", len(data), shape))
	}
	return &Tensor{dtype: dtypeOf[T](), shape: append([]int(nil), shape...), data: data}
}

// Zeros returns a new zero-filled tensor of the given type and shape.
func Zeros(dtype DType, shape ...int) *Tensor {
	n := NumElements(shape)
	if n < 0 {
		panic(fmt.Sprintf("runtime.Zeros: bad shape %v", shape))
	}
	return &Tensor{dtype: dtype, shape: append([]int(nil), shape...), data: makeSlice(dtype, n)}
}

// Scalar returns a rank-0 tensor holding v.
func Scalar[T Elem](v T) *Tensor { return New([]int{}, []T{v}) }

func dtypeOf[T Elem]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int64:
		return Int64
	case int32:
		return Int32
	case int8:
		return Int8
	case uint8:
		return Uint8
	case bool:
		return Bool
	case uint16:
		return Float16
	}
	panic("unreachable")
}

func makeSlice(dtype DType, n int) any {
	switch dtype {
	case Float32:
		return make([]float32, n)
	case Float64:
		return make([]float64, n)
	case Int64:
		return make([]int64, n)
	case Int32:
		return make([]int32, n)
	case Int8:
		return make([]int8, n)
	case Uint8:
		return make([]uint8, n)
	case Bool:
		return make([]bool, n)
	case Float16:
		return make([]uint16, n)
	}
	panic(fmt.Sprintf("runtime: unsupported element type %v", dtype))
}

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns the dimensions. The caller must not modify the slice.
func (t *Tensor) Shape() []int { return t.shape }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Len returns the number of elements.
func (t *Tensor) Len() int { return NumElements(t.shape) }

// Data returns the underlying slice ([]float32 for Float32, ...).
func (t *Tensor) Data() any { return t.data }

// Float32s returns the elements of a Float32 tensor, or nil for another type.
func (t *Tensor) Float32s() []float32 { v, _ := t.data.([]float32); return v }

// Int64s returns the elements of an Int64 tensor, or nil for another type.
func (t *Tensor) Int64s() []int64 { v, _ := t.data.([]int64); return v }

// Float64s returns the elements of a Float64 tensor, or nil for another type.
func (t *Tensor) Float64s() []float64 { v, _ := t.data.([]float64); return v }

// Bools returns the elements of a Bool tensor, or nil for another type.
func (t *Tensor) Bools() []bool { v, _ := t.data.([]bool); return v }

// Values returns the elements as []T; it returns nil if T does not match the
// tensor's element type.
func Values[T Elem](t *Tensor) []T { v, _ := t.data.([]T); return v }

// Clone returns a deep copy that owns its data.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{dtype: t.dtype, shape: append([]int(nil), t.shape...), data: makeSlice(t.dtype, t.Len())}
	copyData(c.data, t.data)
	return c
}

// AsInts returns the elements of an integer tensor as []int64 (converting
// Int32, Int8 and Uint8); ok is false for other types.
func (t *Tensor) AsInts() (v []int64, ok bool) {
	switch d := t.data.(type) {
	case []int64:
		return d, true
	case []int32:
		return widen(d), true
	case []int8:
		return widen(d), true
	case []uint8:
		return widen(d), true
	}
	return nil, false
}

// Float64Values returns a copy of the elements converted to float64, for any
// element type (Float16 decoded, Bool as 0 and 1).
func (t *Tensor) Float64Values() []float64 {
	switch d := t.data.(type) {
	case []float32:
		return toFloat64(d)
	case []float64:
		return append([]float64(nil), d...)
	case []int64:
		return toFloat64(d)
	case []int32:
		return toFloat64(d)
	case []int8:
		return toFloat64(d)
	case []uint8:
		return toFloat64(d)
	case []uint16:
		out := make([]float64, len(d))
		for i, h := range d {
			out[i] = float64(onnx.Float16ToFloat32(h))
		}
		return out
	case []bool:
		out := make([]float64, len(d))
		for i, b := range d {
			if b {
				out[i] = 1
			}
		}
		return out
	}
	return nil
}

func toFloat64[T float32 | int64 | int32 | int8 | uint8](d []T) []float64 {
	out := make([]float64, len(d))
	for i, x := range d {
		out[i] = float64(x)
	}
	return out
}

func widen[T int32 | int8 | uint8](d []T) []int64 {
	out := make([]int64, len(d))
	for i, x := range d {
		out[i] = int64(x)
	}
	return out
}

// String describes the tensor briefly: type and shape.
func (t *Tensor) String() string {
	return fmt.Sprintf("%v%s", t.dtype, ShapeString(t.shape))
}

// ShapeString formats a shape as [1 3 224 224].
func ShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// NumElements returns the product of the dimensions, or -1 if a dimension
// is negative or the product overflows.
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return -1
		}
		if d != 0 && n > maxElements/d {
			return -1
		}
		n *= d
	}
	return n
}

// maxElements bounds tensor sizes so that byte counts never overflow.
const maxElements = 1 << 40

// copyData copies src into dst; both are slices of the same element type.
func copyData(dst, src any) {
	switch d := dst.(type) {
	case []float32:
		copy(d, src.([]float32))
	case []float64:
		copy(d, src.([]float64))
	case []int64:
		copy(d, src.([]int64))
	case []int32:
		copy(d, src.([]int32))
	case []int8:
		copy(d, src.([]int8))
	case []uint8:
		copy(d, src.([]uint8))
	case []bool:
		copy(d, src.([]bool))
	case []uint16:
		copy(d, src.([]uint16))
	}
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool { return slices.Equal(a, b) }

// tensorFromArray wraps a decoded ONNX tensor.
func tensorFromArray(a *onnx.Array) (*Tensor, error) {
	dt := DType(a.Type)
	if !dt.Supported() {
		return nil, fmt.Errorf("unsupported element type %v", a.Type)
	}
	// FLOAT16 decodes as uint16 bit patterns, which is this package's
	// representation too.
	shape := append([]int(nil), a.Dims...)
	return &Tensor{dtype: dt, shape: shape, data: a.Data}, nil
}

// TensorFromProto decodes an ONNX TensorProto. External data is read
// relative to baseDir ("" rejects external data).
func TensorFromProto(tp *onnx.TensorProto, baseDir string) (*Tensor, error) {
	a, err := onnx.DecodeTensor(tp, baseDir)
	if err != nil {
		return nil, err
	}
	t, err := tensorFromArray(a)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	return t, nil
}

// ToProto encodes the tensor as an ONNX TensorProto named name.
func (t *Tensor) ToProto(name string) (*onnx.TensorProto, error) {
	return onnx.EncodeTensor(name, &onnx.Array{Type: onnx.TensorProto_DataType(t.dtype), Dims: append([]int(nil), t.shape...), Data: t.data})
}
