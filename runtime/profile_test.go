package runtime

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
)

// TestRunProfiled checks that a profiled run returns Run's outputs bit for bit and one time per
// plan step, in execution order, naming the nodes a Conv absorbed.
func TestRunProfiled(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	fg := fusionGraph{name: "profiled", tail: []*onnx.NodeProto{
		fusionNode("Add", "a", "c", "s"), fusionNode("Relu", "r", "a"), fusionNode("Sigmoid", "y", "r")},
		skipShape: []int{2, 6, 7, 9}}
	m, feeds := fg.model(t, rng)
	for _, opts := range [][]Option{nil, {WithoutFusion()}} {
		s, err := NewSessionFromModel(m, opts...)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Run(context.Background(), feeds)
		if err != nil {
			t.Fatal(err)
		}
		got, times, err := s.RunProfiled(context.Background(), feeds)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got["y"].Float32s(), want["y"].Float32s()) {
			t.Errorf("%d options: profiled outputs differ from Run's", len(opts))
		}
		var names, types []string
		for _, st := range times {
			names, types = append(names, st.Node), append(types, st.OpType)
			if st.Duration <= 0 {
				t.Errorf("step %s: duration %v", st.Node, st.Duration)
			}
		}
		wantTypes := []string{"Conv", "Add", "Relu", "Sigmoid"}
		if opts == nil {
			wantTypes = []string{"Conv", "Sigmoid"}
			if !slices.Equal(times[0].Fused, []string{"Add_a", "Relu_r"}) {
				t.Errorf("fused step: Fused = %q, want [Add_a Relu_r]", times[0].Fused)
			}
		}
		if !slices.Equal(types, wantTypes) || names[0] != "Conv_c" {
			t.Errorf("%d options: steps %q of types %q, want types %q starting with Conv_c", len(opts), names, types, wantTypes)
		}
	}
}
