package onnx

import (
	"reflect"
	"testing"
)

func TestOpHistogram(t *testing.T) {
	node := func(domain, op string) *NodeProto { return &NodeProto{Domain: &domain, OpType: &op} }
	nodes := []*NodeProto{
		node("", "Relu"), node("ai.dcnet", "DecoupledConv"), node("ai.onnx", "Conv"),
		node("", "Conv"), node("", "Add"), node("ai.onnx", "Relu"), node("ai.dcnet", "DecoupledConv"),
	}
	// Two each of Conv, Relu and ai.dcnet/DecoupledConv (ties in byte order of
	// the name, so upper-case names before "ai.dcnet/…"), then one Add; "ai.onnx"
	// is the default domain, given no prefix.
	want := []OpCount{{"Conv", 2}, {"Relu", 2}, {"ai.dcnet/DecoupledConv", 2}, {"Add", 1}}
	if got := OpHistogram(nodes); !reflect.DeepEqual(got, want) {
		t.Errorf("OpHistogram = %v, want %v", got, want)
	}
	if got := OpHistogram(nil); len(got) != 0 {
		t.Errorf("OpHistogram(nil) = %v, want nothing", got)
	}
}
