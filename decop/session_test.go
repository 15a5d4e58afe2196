package decop

import (
	"context"
	"fmt"
	"testing"

	"github.com/dcnet-go/dcnet/internal/conv"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
	"google.golang.org/protobuf/proto"
)

// Helpers that run a problem through a runtime.Session: a one-node model holding the
// DecoupledConv node "dc" with graph inputs or initializers named after the operator's inputs.

// opAttributes returns the node's attributes for p: the spec's attributes (omitted when they
// have their default value, so that the defaults are exercised too) and the window attributes.
func (p *problem) opAttributes() []*onnx.AttributeProto {
	var a []*onnx.AttributeProto
	if p.mag != Tanh {
		a = append(a, onnx.AttrString("magnitude", p.mag.String()))
	}
	if p.ang != Cos {
		a = append(a, onnx.AttrString("angular", p.ang.String()))
	}
	if p.weighted {
		a = append(a, onnx.AttrInt("weighted", 1))
	}
	if p.k != f32(DefaultK) {
		a = append(a, onnx.AttrFloat("k", float32(p.k)))
	}
	if p.eps != f32(DefaultEps) {
		a = append(a, onnx.AttrFloat("eps", float32(p.eps)))
	}
	return append(a, windowAttributes(p.g, p.autoPad)...)
}

// windowAttributes returns Conv's attributes for the geometry g, stating the pads explicitly or
// through auto_pad (defaults omitted).
func windowAttributes(g conv.Geometry, autoPad conv.AutoPad) []*onnx.AttributeProto {
	var a []*onnx.AttributeProto
	if g.Group != 1 {
		a = append(a, onnx.AttrInt("group", int64(g.Group)))
	}
	if g.SH != 1 || g.SW != 1 {
		a = append(a, onnx.AttrInts("strides", int64(g.SH), int64(g.SW)))
	}
	if g.DH != 1 || g.DW != 1 {
		a = append(a, onnx.AttrInts("dilations", int64(g.DH), int64(g.DW)))
	}
	switch {
	case autoPad != conv.NotSet:
		a = append(a, onnx.AttrString("auto_pad", autoPad.String()))
	case g.PadTop != 0 || g.PadLeft != 0 || g.PadBottom != 0 || g.PadRight != 0:
		a = append(a, onnx.AttrInts("pads", int64(g.PadTop), int64(g.PadLeft), int64(g.PadBottom), int64(g.PadRight)))
	}
	return a
}

// opInputs returns the operator's input tensors (nil for absent optional ones).
func (p *problem) opInputs() []*runtime.Tensor {
	g := p.g
	in := make([]*runtime.Tensor, numInputs)
	in[inX] = tensorOf([]int{p.n, g.C, g.H, g.W}, p.x)
	in[inW] = tensorOf([]int{g.M, g.CG(), g.KH, g.KW}, p.w)
	if p.b != nil {
		in[inB] = tensorOf([]int{g.M}, p.b)
	}
	for i, v := range map[int][]float64{inAlpha: p.alpha, inRho: p.rho, inBeta: p.beta} {
		switch {
		case v == nil:
		case len(v) == 1 && !p.paramRank1:
			in[i] = tensorOf([]int{}, v)
		default:
			in[i] = tensorOf([]int{len(v)}, v)
		}
	}
	return in
}

func tensorOf(shape []int, v []float64) *runtime.Tensor {
	d := make([]float32, len(v))
	for i, x := range v {
		d[i] = float32(x)
	}
	return runtime.New(shape, d)
}

// oneNodeModel builds a model of the single node (op, domain) with the given inputs (nil: an
// absent optional input) and attributes. Inputs listed in constant become initializers, the
// others graph inputs, returned as feeds. The output is "Y".
func oneNodeModel(op, domain string, attrs []*onnx.AttributeProto, in []*runtime.Tensor, constant func(i int) bool) (*onnx.ModelProto, map[string]*runtime.Tensor, error) {
	node := &onnx.NodeProto{Name: proto.String("dc"), OpType: proto.String(op), Domain: proto.String(domain),
		Output: []string{"Y"}, Attribute: attrs}
	g := &onnx.GraphProto{Name: proto.String("g"), Node: []*onnx.NodeProto{node},
		Output: []*onnx.ValueInfoProto{{Name: proto.String("Y")}}}
	feeds := map[string]*runtime.Tensor{}
	last := 0
	for i, t := range in {
		if t != nil {
			last = i
		}
	}
	for i, t := range in[:last+1] {
		if t == nil {
			node.Input = append(node.Input, "")
			continue
		}
		name := fmt.Sprintf("in%d", i)
		node.Input = append(node.Input, name)
		if constant(i) {
			tp, err := t.ToProto(name)
			if err != nil {
				return nil, nil, err
			}
			g.Initializer = append(g.Initializer, tp)
			continue
		}
		dims := make([]any, t.Rank())
		for j, d := range t.Shape() {
			dims[j] = d
		}
		g.Input = append(g.Input, onnx.ValueInfo(name, onnx.TensorProto_DataType(t.DType()), dims...))
		feeds[name] = t
	}
	m := &onnx.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnx.OperatorSetIdProto{
		{Domain: proto.String(""), Version: proto.Int64(17)},
		{Domain: proto.String(Domain), Version: proto.Int64(Version)},
	}}
	return m, feeds, nil
}

// opRegistry is the builtin registry with DecoupledConv registered.
func opRegistry() *runtime.Registry {
	r := runtime.Builtins()
	Register(r)
	return r
}

// runModel plans and runs a one-node model and returns its output Y.
func runModel(m *onnx.ModelProto, feeds map[string]*runtime.Tensor, opts ...runtime.Option) (*runtime.Tensor, error) {
	s, err := runtime.NewSessionFromModel(m, append([]runtime.Option{runtime.WithRegistry(opRegistry()), runtime.WithoutConstantFolding()}, opts...)...)
	if err != nil {
		return nil, err
	}
	out, err := s.Run(context.Background(), feeds)
	if err != nil {
		return nil, err
	}
	return out["Y"], nil
}

// runProblem runs p as a DecoupledConv node on threads goroutines. With constant, every input
// but X is an initializer (planned once: packed filter, channel constants); without, all are
// fed at run time.
func (p *problem) runProblem(constant bool, threads int) ([]float32, error) {
	m, feeds, err := oneNodeModel(OpType, Domain, p.opAttributes(), p.opInputs(), func(i int) bool { return constant && i != inX })
	if err != nil {
		return nil, err
	}
	y, err := runModel(m, feeds, runtime.WithThreads(threads))
	if err != nil {
		return nil, err
	}
	if !runtime.SameShape(y.Shape(), p.outShape()) {
		return nil, fmt.Errorf("output shape %v, want %v", y.Shape(), p.outShape())
	}
	return y.Float32s(), nil
}

// mustRunProblem is runProblem failing the test on error.
func (p *problem) mustRunProblem(t testing.TB, constant bool, threads int) []float32 {
	t.Helper()
	y, err := p.runProblem(constant, threads)
	if err != nil {
		t.Fatalf("%s: %v", p.describe(), err)
	}
	return y
}

// describe describes the problem's configuration and geometry for failure messages.
func (p *problem) describe() string {
	g := p.g
	return fmt.Sprintf("%v:%v weighted=%v k=%.3g eps=%.3g bias=%v α/ρ/β=%d,%d,%d(rank1=%v) n=%d C=%d M=%d group=%d %dx%d k=%dx%d s=%dx%d d=%dx%d pads=[%d %d %d %d] auto_pad=%v",
		p.mag, p.ang, p.weighted, p.k, p.eps, p.b != nil, len(p.alpha), len(p.rho), len(p.beta), p.paramRank1,
		p.n, g.C, g.M, g.Group, g.H, g.W, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, p.autoPad)
}
