package onnx

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walkMessages calls visit on m and on every message nested in it (graphs in
// attributes, functions, training info, ...), depth first, stopping at the
// first error. Walking by reflection keeps up with schema fields this code
// does not name.
func walkMessages(m proto.Message, visit func(proto.Message) error) error {
	return walkReflect(m.ProtoReflect(), visit)
}

func walkReflect(m protoreflect.Message, visit func(proto.Message) error) error {
	if err := visit(m.Interface()); err != nil {
		return err
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() { // ONNX has no map fields
			return true
		}
		if fd.IsList() {
			list := v.List()
			for i := 0; i < list.Len() && err == nil; i++ {
				err = walkReflect(list.Get(i).Message(), visit)
			}
		} else {
			err = walkReflect(v.Message(), visit)
		}
		return err == nil
	})
	return err
}

// walkTensors calls visit on every TensorProto in m: initializers, sparse
// tensor parts, and tensors in attributes of nodes at any depth.
func walkTensors(m proto.Message, visit func(*TensorProto) error) error {
	return walkMessages(m, func(msg proto.Message) error {
		if t, ok := msg.(*TensorProto); ok {
			return visit(t)
		}
		return nil
	})
}
