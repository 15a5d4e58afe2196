package onnx

import "fmt"

// OpsetVersion returns the version m imports for an operator domain, and
// whether m imports it at all. "" and "ai.onnx" name the same (default)
// domain.
func OpsetVersion(m *ModelProto, domain string) (int64, bool) {
	want := canonicalDomain(domain)
	for _, op := range m.GetOpsetImport() {
		if canonicalDomain(op.GetDomain()) == want {
			return op.GetVersion(), true
		}
	}
	return 0, false
}

func canonicalDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) *AttributeProto {
	return &AttributeProto{Name: &name, Type: attrType(AttributeProto_INT), I: &v}
}

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) *AttributeProto {
	return &AttributeProto{Name: &name, Type: attrType(AttributeProto_FLOAT), F: &v}
}

// AttrString returns a STRING attribute.
func AttrString(name, v string) *AttributeProto {
	return &AttributeProto{Name: &name, Type: attrType(AttributeProto_STRING), S: []byte(v)}
}

// AttrInts returns an INTS attribute, such as Conv's pads or strides.
func AttrInts(name string, v ...int64) *AttributeProto {
	return &AttributeProto{Name: &name, Type: attrType(AttributeProto_INTS), Ints: append([]int64{}, v...)}
}

// AttrFloats returns a FLOATS attribute.
func AttrFloats(name string, v ...float32) *AttributeProto {
	return &AttributeProto{Name: &name, Type: attrType(AttributeProto_FLOATS), Floats: append([]float32{}, v...)}
}

// AttrTensor returns a TENSOR attribute, such as Constant's value.
func AttrTensor(name string, t *TensorProto) *AttributeProto {
	return &AttributeProto{Name: &name, Type: attrType(AttributeProto_TENSOR), T: t}
}

func attrType(t AttributeProto_AttributeType) *AttributeProto_AttributeType { return &t }

// ValueInfo describes a tensor value (a graph input or output) named name
// with element type elem and one entry of dims per axis: an int or int64 is
// a fixed size (≥ 0), a non-empty string a symbolic one ("N", "batch"), and
// "" an unknown one. No dims means a scalar. Any other dim is a programming
// error and panics.
func ValueInfo(name string, elem TensorProto_DataType, dims ...any) *ValueInfoProto {
	shape := &TensorShapeProto{Dim: make([]*TensorShapeProto_Dimension, len(dims))}
	for i, d := range dims {
		shape.Dim[i] = dimension(name, i, d)
	}
	et := int32(elem)
	return &ValueInfoProto{
		Name: &name,
		Type: &TypeProto{Value: &TypeProto_TensorType{TensorType: &TypeProto_Tensor{ElemType: &et, Shape: shape}}},
	}
}

func dimension(name string, axis int, d any) *TensorShapeProto_Dimension {
	var v int64
	switch d := d.(type) {
	case string:
		if d == "" {
			return &TensorShapeProto_Dimension{}
		}
		return &TensorShapeProto_Dimension{Value: &TensorShapeProto_Dimension_DimParam{DimParam: d}}
	case int:
		v = int64(d)
	case int64:
		v = d
	default:
		panic(fmt.Sprintf("onnx.ValueInfo(%q): dim %d is a %T, want int, int64 or string", name, axis, d))
	}
	if v < 0 {
		panic(fmt.Sprintf("onnx.ValueInfo(%q): dim %d is negative (%d)", name, axis, v))
	}
	return &TensorShapeProto_Dimension{Value: &TensorShapeProto_Dimension_DimValue{DimValue: v}}
}
