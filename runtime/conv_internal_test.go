package runtime

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/internal/gemm"
	"github.com/dcnet-go/dcnet/onnx"
	"google.golang.org/protobuf/proto"
)

// TestConvFusedActivation checks the fused-activation hook a Conv+Relu / Conv+Clip fusion pass
// will use: the fused kernel's output must equal the activation applied to the plain Conv's
// output, value for value (the epilogue adds the bias and then clamps, in the same order), on
// every algorithm, with the filter constant or not.
func TestConvFusedActivation(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	cases := []struct {
		name           string
		c, m, group, k int
		pads           []int64
	}{
		{"im2col", 3, 8, 1, 3, []int64{1, 1, 1, 1}},
		{"pointwise", 6, 5, 1, 1, []int64{0, 0, 0, 0}},
		{"depthwise", 4, 4, 4, 3, []int64{1, 0, 1, 2}},
	}
	fusions := []convFusion{{act: gemm.ActRelu}, {act: gemm.ActClip, min: -0.25, max: 0.5}}
	for _, c := range cases {
		x := convInternalRand(rng, 2, c.c, 7, 9)
		w := convInternalRand(rng, c.m, c.c/c.group, c.k, c.k)
		b := convInternalRand(rng, c.m)
		for _, constW := range []bool{true, false} {
			plain := convInternalRun(t, c.group, c.pads, convFusion{}, x, w, b, constW)
			for _, f := range fusions {
				got := convInternalRun(t, c.group, c.pads, f, x, w, b, constW)
				for i, v := range plain.Float32s() {
					want := v
					if f.act == gemm.ActRelu {
						want = max(v, 0)
					} else {
						want = min(max(v, f.min), f.max)
					}
					if got.Float32s()[i] != want {
						t.Fatalf("%s constW=%v act=%v: output %d = %v, want %v", c.name, constW, f.act, i, got.Float32s()[i], want)
					}
				}
			}
		}
	}
}

func convInternalRand(rng *rand.Rand, shape ...int) *Tensor {
	v := make([]float32, NumElements(shape))
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return New(shape, v)
}

// convInternalRun plans a Conv node with buildConvFused and runs its kernel directly.
func convInternalRun(t *testing.T, group int, pads []int64, f convFusion, x, w, b *Tensor, constW bool) *Tensor {
	t.Helper()
	p := &onnx.NodeProto{Name: proto.String("c"), OpType: proto.String("Conv"), Input: []string{"x", "w", "b"}, Output: []string{"y"},
		Attribute: []*onnx.AttributeProto{
			{Name: proto.String("group"), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(int64(group))},
			{Name: proto.String("pads"), Type: onnx.AttributeProto_INTS.Enum(), Ints: pads},
		}}
	consts := []*Tensor{nil, nil, nil}
	if constW {
		consts[1], consts[2] = w, b
	}
	opts := &Options{numThreads: 2, foldConstants: true, maxElements: DefaultMaxElements}
	n := newNode(p, 0, 11, consts, opts)
	k, err := buildConvFused(n, f)
	if err != nil {
		t.Fatal(err)
	}
	rc := &RunContext{ctx: context.Background(), threads: 2, limit: DefaultMaxElements, alloc: newAllocator(), node: n}
	out := make([]*Tensor, 1)
	if err := k.Run(rc, []*Tensor{x, w, b}, out); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// TestMaxPlane2x2 checks the 2×2, stride-2 max-pool backward against the general window walk on
// planes with ties and NaNs (the first maximum takes the gradient) and odd sizes.
func TestMaxPlane2x2(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for range 50 {
		h, w := 2+rng.IntN(9), 2+rng.IntN(9)
		win := func(in int) conv.Window { return conv.Window{In: in, K: 2, Stride: 2, Dilation: 1} }
		s := newPoolSpans(conv.NewPoolGeometry([]conv.Window{win(h), win(w)}))
		if !s.pairs {
			t.Fatalf("%dx%d: 2×2 stride-2 windows not recognised", h, w)
		}
		x := make([]float32, h*w)
		for i := range x {
			x[i] = float32(rng.IntN(4))
			if rng.IntN(15) == 0 {
				x[i] = float32(math.NaN())
			}
		}
		dy := make([]float32, s.outLen)
		for i := range dy {
			dy[i] = float32(rng.NormFloat64())
		}
		want, got := make([]float32, h*w), make([]float32, h*w)
		s.maxPlane(x, dy, want)
		s.maxPlane2x2(x, dy, got)
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("%dx%d: dx[%d] = %v, want %v", h, w, i, got[i], want[i])
			}
		}
	}
}
