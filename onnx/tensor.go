package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrUnsupported marks a valid input this package does not handle, such as a
// STRING or COMPLEX64 tensor. Test for it with errors.Is.
var ErrUnsupported = errors.New("unsupported")

// Array is a decoded tensor: its shape and its elements in row-major order.
//
// The Go type of Data follows Type:
//
//	FLOAT    []float32    DOUBLE   []float64    FLOAT16 []uint16 (IEEE half bits)
//	INT8     []int8       INT16    []int16      INT32   []int32     INT64  []int64
//	UINT8    []uint8      UINT16   []uint16     UINT32  []uint32    UINT64 []uint64
//	BOOL     []bool
//
// len(Data) is the product of Dims (1 for a scalar, whose Dims is empty).
type Array struct {
	Type TensorProto_DataType
	Dims []int
	Data any
}

// elemSize is the stored size in bytes of one element of each data type
// DecodeTensor and EncodeTensor handle.
var elemSize = map[TensorProto_DataType]int{
	TensorProto_FLOAT: 4, TensorProto_DOUBLE: 8, TensorProto_FLOAT16: 2,
	TensorProto_INT8: 1, TensorProto_INT16: 2, TensorProto_INT32: 4, TensorProto_INT64: 8,
	TensorProto_UINT8: 1, TensorProto_UINT16: 2, TensorProto_UINT32: 4, TensorProto_UINT64: 8,
	TensorProto_BOOL: 1,
}

// rawSize returns the number of raw_data bytes a tensor of any fixed-size data
// type with n elements occupies, including the types this package does not
// decode (so external data of those can still be checked and inlined).
func rawSize(dt TensorProto_DataType, n int) (int, bool) {
	switch dt {
	case TensorProto_BFLOAT16:
		return mulSize(n, 2)
	case TensorProto_COMPLEX64:
		return mulSize(n, 8)
	case TensorProto_COMPLEX128:
		return mulSize(n, 16)
	case TensorProto_FLOAT8E4M3FN, TensorProto_FLOAT8E4M3FNUZ, TensorProto_FLOAT8E5M2, TensorProto_FLOAT8E5M2FNUZ:
		return n, true
	case TensorProto_UINT4, TensorProto_INT4, TensorProto_FLOAT4E2M1:
		return n/2 + n%2, true // two elements per byte
	}
	if s, ok := elemSize[dt]; ok {
		return mulSize(n, s)
	}
	return 0, false
}

// mulSize returns n·size, or false if that overflows an int.
func mulSize(n, size int) (int, bool) {
	if n > math.MaxInt/size {
		return 0, false
	}
	return n * size, true
}

// shapeOf converts ONNX dims to Go ints and returns their product, rejecting
// negative dimensions and products that do not fit an int.
func shapeOf(dims []int64) ([]int, int, error) {
	shape := make([]int, len(dims))
	n := 1
	for i, d := range dims {
		if d < 0 {
			return nil, 0, fmt.Errorf("dims %v: negative dimension", dims)
		}
		if uint64(d) > math.MaxInt {
			return nil, 0, fmt.Errorf("dims %v: dimension too large", dims)
		}
		shape[i] = int(d)
	}
	for _, d := range shape {
		if d == 0 {
			return shape, 0, nil
		}
	}
	for _, d := range shape {
		if n > math.MaxInt/d {
			return nil, 0, fmt.Errorf("dims %v: element count overflows", dims)
		}
		n *= d
	}
	return shape, n, nil
}

// DecodeTensor decodes t into an Array.
//
// The elements come from raw_data (little-endian), from the typed field that
// matches the data type (float_data; int32_data, which also carries INT8,
// UINT8, INT16, UINT16, BOOL and FLOAT16 bits; int64_data; double_data;
// uint64_data, which carries UINT32 and UINT64), or, when data_location is
// EXTERNAL, from the file named by external_data, resolved inside baseDir.
// baseDir "" makes an external tensor an error.
//
// Sizes are checked before anything is allocated: dims must be non-negative
// with a product that fits an int, and the data present must hold exactly
// that many elements. Typed-field values must fit the data type. Errors name
// the tensor. Data never aliases t's storage. An unsupported data type
// (STRING, BFLOAT16, COMPLEX64, ...) gives an error wrapping ErrUnsupported.
func DecodeTensor(t *TensorProto, baseDir string) (*Array, error) {
	if t == nil {
		return nil, errors.New("onnx: nil tensor")
	}
	a, err := decodeTensor(t, baseDir)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	return a, nil
}

func decodeTensor(t *TensorProto, baseDir string) (*Array, error) {
	if t.Segment != nil {
		return nil, fmt.Errorf("segmented tensors are %w", ErrUnsupported)
	}
	dt := TensorProto_DataType(t.GetDataType())
	if dt == TensorProto_UNDEFINED {
		return nil, errors.New("data type is UNDEFINED")
	}
	size, ok := elemSize[dt]
	if !ok {
		return nil, fmt.Errorf("%w data type %v", ErrUnsupported, dt)
	}
	dims, n, err := shapeOf(t.Dims)
	if err != nil {
		return nil, err
	}
	var data any
	if t.GetDataLocation() == TensorProto_EXTERNAL {
		data, err = decodeExternal(t, baseDir, dt, n)
	} else {
		data, err = decodeInline(t, dt, dims, n, size)
	}
	if err != nil {
		return nil, err
	}
	return &Array{Type: dt, Dims: dims, Data: data}, nil
}

// typedField names the typed field of t that holds values ("" if none does)
// and its number of values. More than one such field is an error.
func typedField(t *TensorProto) (string, int, error) {
	present, count := "", 0
	for _, f := range [...]struct {
		name string
		n    int
	}{
		{"float_data", len(t.FloatData)}, {"int32_data", len(t.Int32Data)},
		{"int64_data", len(t.Int64Data)}, {"double_data", len(t.DoubleData)},
		{"uint64_data", len(t.Uint64Data)}, {"string_data", len(t.StringData)},
	} {
		if f.n == 0 {
			continue
		}
		if present != "" {
			return "", 0, fmt.Errorf("both %s and %s are set", present, f.name)
		}
		present, count = f.name, f.n
	}
	return present, count, nil
}

// storageField is the typed field ONNX stores each data type in.
func storageField(dt TensorProto_DataType) string {
	switch dt {
	case TensorProto_FLOAT:
		return "float_data"
	case TensorProto_DOUBLE:
		return "double_data"
	case TensorProto_INT64:
		return "int64_data"
	case TensorProto_UINT32, TensorProto_UINT64:
		return "uint64_data"
	}
	return "int32_data"
}

func decodeInline(t *TensorProto, dt TensorProto_DataType, dims []int, n, size int) (any, error) {
	field, count, err := typedField(t)
	if err != nil {
		return nil, err
	}
	switch {
	case field != "" && t.RawData != nil:
		return nil, fmt.Errorf("both raw_data and %s are set", field)
	case t.RawData != nil:
		want, ok := mulSize(n, size)
		if !ok {
			return nil, fmt.Errorf("dims %v of %v: byte size overflows", dims, dt)
		}
		if len(t.RawData) != want {
			return nil, fmt.Errorf("raw_data has %d bytes, dims %v of %v need %d", len(t.RawData), dims, dt, want)
		}
		return decodeRaw(dt, t.RawData, n)
	case field == "" && n == 0:
		return decodeRaw(dt, nil, 0)
	case field == "":
		return nil, fmt.Errorf("no data: dims %v of %v need %d elements", dims, dt, n)
	case field != storageField(dt):
		return nil, fmt.Errorf("%v data is in %s, want %s or raw_data", dt, field, storageField(dt))
	}
	if count != n {
		return nil, fmt.Errorf("%s has %d values, dims %v need %d", field, count, dims, n)
	}
	return decodeTyped(t, dt, field)
}

// decodeTyped copies the typed field (already known to match dt and to hold
// the right number of values) to dt's Go slice, checking each value fits dt.
func decodeTyped(t *TensorProto, dt TensorProto_DataType, field string) (any, error) {
	switch dt {
	case TensorProto_FLOAT:
		return append([]float32(nil), t.FloatData...), nil
	case TensorProto_DOUBLE:
		return append([]float64(nil), t.DoubleData...), nil
	case TensorProto_INT64:
		return append([]int64(nil), t.Int64Data...), nil
	case TensorProto_UINT64:
		return append([]uint64(nil), t.Uint64Data...), nil
	case TensorProto_UINT32:
		return narrow[uint32](t.Uint64Data, dt, field)
	case TensorProto_INT32:
		return append([]int32(nil), t.Int32Data...), nil
	case TensorProto_INT8:
		return narrow[int8](t.Int32Data, dt, field)
	case TensorProto_UINT8:
		return narrow[uint8](t.Int32Data, dt, field)
	case TensorProto_INT16:
		return narrow[int16](t.Int32Data, dt, field)
	case TensorProto_UINT16, TensorProto_FLOAT16:
		return narrow[uint16](t.Int32Data, dt, field)
	case TensorProto_BOOL:
		return boolsFromInt32(t.Int32Data)
	}
	return nil, fmt.Errorf("%w data type %v", ErrUnsupported, dt)
}

// narrow converts values from a wide typed field to a narrower integer type,
// rejecting values that do not fit instead of wrapping them.
func narrow[T int8 | uint8 | int16 | uint16 | uint32, S int32 | uint64](src []S, dt TensorProto_DataType, field string) ([]T, error) {
	out := make([]T, len(src))
	for i, v := range src {
		out[i] = T(v)
		if S(out[i]) != v { // the conversion wrapped
			return nil, fmt.Errorf("%s[%d] = %d does not fit %v", field, i, v, dt)
		}
	}
	return out, nil
}

func boolsFromInt32(src []int32) ([]bool, error) {
	out := make([]bool, len(src))
	for i, v := range src {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("int32_data[%d] = %d is not a BOOL (0 or 1)", i, v)
		}
		out[i] = v == 1
	}
	return out, nil
}

// decodeRaw converts n little-endian elements of dt from b, whose length the
// caller has checked.
func decodeRaw(dt TensorProto_DataType, b []byte, n int) (any, error) {
	le := binary.LittleEndian
	switch dt {
	case TensorProto_FLOAT:
		return fromLE(b, n, 4, func(p []byte) float32 { return math.Float32frombits(le.Uint32(p)) }), nil
	case TensorProto_DOUBLE:
		return fromLE(b, n, 8, func(p []byte) float64 { return math.Float64frombits(le.Uint64(p)) }), nil
	case TensorProto_FLOAT16, TensorProto_UINT16:
		return fromLE(b, n, 2, le.Uint16), nil
	case TensorProto_INT16:
		return fromLE(b, n, 2, func(p []byte) int16 { return int16(le.Uint16(p)) }), nil
	case TensorProto_INT32:
		return fromLE(b, n, 4, func(p []byte) int32 { return int32(le.Uint32(p)) }), nil
	case TensorProto_UINT32:
		return fromLE(b, n, 4, le.Uint32), nil
	case TensorProto_INT64:
		return fromLE(b, n, 8, func(p []byte) int64 { return int64(le.Uint64(p)) }), nil
	case TensorProto_UINT64:
		return fromLE(b, n, 8, le.Uint64), nil
	case TensorProto_INT8:
		return fromLE(b, n, 1, func(p []byte) int8 { return int8(p[0]) }), nil
	case TensorProto_UINT8:
		return append(make([]uint8, 0, n), b...), nil
	case TensorProto_BOOL:
		return boolsFromBytes(b)
	}
	return nil, fmt.Errorf("%w data type %v", ErrUnsupported, dt)
}

func fromLE[T any](b []byte, n, size int, get func([]byte) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = get(b[i*size : i*size+size])
	}
	return out
}

func boolsFromBytes(b []byte) ([]bool, error) {
	out := make([]bool, len(b))
	for i, v := range b {
		if v > 1 {
			return nil, fmt.Errorf("raw_data byte %d = %d is not a BOOL (0 or 1)", i, v)
		}
		out[i] = v == 1
	}
	return out, nil
}

// EncodeTensor returns a TensorProto named name holding a, always as
// little-endian raw_data. It checks that a.Data has the Go type a.Type calls
// for and exactly as many elements as a.Dims describe.
func EncodeTensor(name string, a *Array) (*TensorProto, error) {
	if a == nil {
		return nil, fmt.Errorf("tensor %q: nil array", name)
	}
	raw, err := encodeArray(a)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	dims := make([]int64, len(a.Dims))
	for i, d := range a.Dims {
		dims[i] = int64(d)
	}
	dt := int32(a.Type)
	return &TensorProto{Name: &name, DataType: &dt, Dims: dims, RawData: raw}, nil
}

func encodeArray(a *Array) ([]byte, error) {
	dims := make([]int64, len(a.Dims))
	for i, d := range a.Dims {
		dims[i] = int64(d)
	}
	_, n, err := shapeOf(dims)
	if err != nil {
		return nil, err
	}
	size, ok := elemSize[a.Type]
	if !ok {
		return nil, fmt.Errorf("%w data type %v", ErrUnsupported, a.Type)
	}
	typ, got := sliceType(a.Data)
	if typ != goType(a.Type) {
		return nil, fmt.Errorf("%v wants %s, got %s", a.Type, goType(a.Type), typ)
	}
	if got != n {
		return nil, fmt.Errorf("data has %d elements, dims %v need %d", got, a.Dims, n)
	}
	if _, ok := mulSize(n, size); !ok {
		return nil, fmt.Errorf("dims %v: byte size overflows", a.Dims)
	}
	return encodeRaw(a.Data, n*size), nil
}

// goType names the Go slice type Array.Data has for dt.
func goType(dt TensorProto_DataType) string {
	switch dt {
	case TensorProto_FLOAT:
		return "[]float32"
	case TensorProto_DOUBLE:
		return "[]float64"
	case TensorProto_FLOAT16, TensorProto_UINT16:
		return "[]uint16"
	case TensorProto_INT8:
		return "[]int8"
	case TensorProto_INT16:
		return "[]int16"
	case TensorProto_INT32:
		return "[]int32"
	case TensorProto_INT64:
		return "[]int64"
	case TensorProto_UINT8:
		return "[]uint8"
	case TensorProto_UINT32:
		return "[]uint32"
	case TensorProto_UINT64:
		return "[]uint64"
	case TensorProto_BOOL:
		return "[]bool"
	}
	return "no Go type"
}

// sliceType returns the Go type of data and its length if it is one of
// Array's slice types, and -1 otherwise.
func sliceType(data any) (string, int) {
	switch d := data.(type) {
	case []float32:
		return "[]float32", len(d)
	case []float64:
		return "[]float64", len(d)
	case []uint16:
		return "[]uint16", len(d)
	case []int8:
		return "[]int8", len(d)
	case []int16:
		return "[]int16", len(d)
	case []int32:
		return "[]int32", len(d)
	case []int64:
		return "[]int64", len(d)
	case []uint8:
		return "[]uint8", len(d)
	case []uint32:
		return "[]uint32", len(d)
	case []uint64:
		return "[]uint64", len(d)
	case []bool:
		return "[]bool", len(d)
	}
	return fmt.Sprintf("%T", data), -1
}

// encodeRaw writes data (one of Array's slice types) little-endian into a
// buffer of nbytes bytes.
func encodeRaw(data any, nbytes int) []byte {
	b := make([]byte, nbytes)
	le := binary.LittleEndian
	switch d := data.(type) {
	case []float32:
		toLE(b, d, 4, func(p []byte, v float32) { le.PutUint32(p, math.Float32bits(v)) })
	case []float64:
		toLE(b, d, 8, func(p []byte, v float64) { le.PutUint64(p, math.Float64bits(v)) })
	case []uint16:
		toLE(b, d, 2, le.PutUint16)
	case []int16:
		toLE(b, d, 2, func(p []byte, v int16) { le.PutUint16(p, uint16(v)) })
	case []int32:
		toLE(b, d, 4, func(p []byte, v int32) { le.PutUint32(p, uint32(v)) })
	case []uint32:
		toLE(b, d, 4, le.PutUint32)
	case []int64:
		toLE(b, d, 8, func(p []byte, v int64) { le.PutUint64(p, uint64(v)) })
	case []uint64:
		toLE(b, d, 8, le.PutUint64)
	case []int8:
		toLE(b, d, 1, func(p []byte, v int8) { p[0] = byte(v) })
	case []uint8:
		copy(b, d)
	case []bool:
		toLE(b, d, 1, func(p []byte, v bool) {
			if v {
				p[0] = 1
			}
		})
	}
	return b
}

func toLE[T any](b []byte, src []T, size int, put func([]byte, T)) {
	for i, v := range src {
		put(b[i*size:i*size+size], v)
	}
}

// Float32s decodes a FLOAT tensor (see DecodeTensor) and returns its elements
// and dims; any other data type is an error.
func Float32s(t *TensorProto, baseDir string) ([]float32, []int, error) {
	a, err := decodeAs(t, baseDir, TensorProto_FLOAT)
	if err != nil {
		return nil, nil, err
	}
	return a.Data.([]float32), a.Dims, nil
}

// Int64s decodes an INT64 tensor (see DecodeTensor), such as a Reshape shape
// or the axes of a reduction, and returns its elements and dims; any other
// data type is an error.
func Int64s(t *TensorProto, baseDir string) ([]int64, []int, error) {
	a, err := decodeAs(t, baseDir, TensorProto_INT64)
	if err != nil {
		return nil, nil, err
	}
	return a.Data.([]int64), a.Dims, nil
}

func decodeAs(t *TensorProto, baseDir string, want TensorProto_DataType) (*Array, error) {
	a, err := DecodeTensor(t, baseDir)
	if err != nil {
		return nil, err
	}
	if a.Type != want {
		return nil, fmt.Errorf("tensor %q: data type is %v, want %v", t.GetName(), a.Type, want)
	}
	return a, nil
}
