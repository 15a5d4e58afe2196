package decop

import (
	"math"
	"strings"
	"testing"

	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// badCase is a DecoupledConv node that must fail, with fragments its error must contain.
type badCase struct {
	name      string
	attrs     []*onnx.AttributeProto
	in        []*runtime.Tensor
	constant  func(i int) bool
	fragments []string
}

func allButX(i int) bool    { return i != inX }
func onlyW(i int) bool      { return i == inW }
func noneConst(int) bool    { return false }
func constRho(i int) bool   { return i == inRho }
func constAlpha(i int) bool { return i == inAlpha }
func constBias(i int) bool  { return i == inB }

// validationInputs returns X: [1, 4, 5, 5], W: [6, 2, 3, 3] (group 2) and the given optional
// inputs B, Alpha, Rho, Beta (nil: absent).
func validationInputs(opt ...*runtime.Tensor) []*runtime.Tensor {
	in := []*runtime.Tensor{runtime.Zeros(runtime.Float32, 1, 4, 5, 5), ones32(6, 2, 3, 3)}
	return append(in, opt...)
}

func ones32(shape ...int) *runtime.Tensor {
	t := runtime.Zeros(runtime.Float32, shape...)
	for i := range t.Float32s() {
		t.Float32s()[i] = 1
	}
	return t
}

func filled32(v float32, shape ...int) *runtime.Tensor {
	t := runtime.Zeros(runtime.Float32, shape...)
	for i := range t.Float32s() {
		t.Float32s()[i] = v
	}
	return t
}

// TestValidationErrors checks that bad attributes and inputs fail with an error that names the
// node and says what is wrong, at plan time where the values are constant and at run time
// otherwise, and that nothing panics.
func TestValidationErrors(t *testing.T) {
	group2 := onnx.AttrInt("group", 2)
	str := onnx.AttrString
	cases := []badCase{
		{"unknown magnitude", []*onnx.AttributeProto{group2, str("magnitude", "cube")}, validationInputs(), allButX, []string{`"magnitude"`, "cube"}},
		{"unknown angular", []*onnx.AttributeProto{group2, str("angular", "sine")}, validationInputs(), allButX, []string{`"angular"`, "sine"}},
		{"weighted 2", []*onnx.AttributeProto{group2, onnx.AttrInt("weighted", 2)}, validationInputs(), allButX, []string{`"weighted"`}},
		{"k 0", []*onnx.AttributeProto{group2, onnx.AttrFloat("k", 0)}, validationInputs(), allButX, []string{`"k"`}},
		{"k negative", []*onnx.AttributeProto{group2, onnx.AttrFloat("k", -0.3)}, validationInputs(), allButX, []string{`"k"`}},
		{"k infinite", []*onnx.AttributeProto{group2, onnx.AttrFloat("k", float32(math.Inf(1)))}, validationInputs(), allButX, []string{`"k"`}},
		{"eps negative", []*onnx.AttributeProto{group2, onnx.AttrFloat("eps", -1e-4)}, validationInputs(), allButX, []string{`"eps"`}},
		{"magnitude not a string", []*onnx.AttributeProto{group2, onnx.AttrInt("magnitude", 1)}, validationInputs(), allButX, []string{`"magnitude"`}},
		{"constant rho 0", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, filled32(0)), allButX, []string{"Rho", "positive"}},
		{"constant rho negative", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, filled32(-1, 6)), allButX, []string{"Rho", "positive"}},
		{"constant rho NaN", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, filled32(float32(math.NaN()), 1)), allButX, []string{"Rho", "positive"}},
		{"constant rho, W at run time", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, filled32(-2, 6)), constRho, []string{"Rho", "positive"}},
		{"run-time rho 0", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, filled32(0, 6)), noneConst, []string{"Rho", "positive"}},
		{"run-time rho negative, W constant", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, filled32(-1)), onlyW, []string{"Rho", "positive"}},
		{"alpha [M+1]", []*onnx.AttributeProto{group2}, validationInputs(nil, ones32(7)), allButX, []string{"Alpha", "[6]"}},
		{"alpha [M+1] at run time", []*onnx.AttributeProto{group2}, validationInputs(nil, ones32(7)), onlyW, []string{"Alpha", "[6]"}},
		{"constant alpha [M+1], W at run time", []*onnx.AttributeProto{group2}, validationInputs(nil, ones32(7)), constAlpha, []string{"Alpha", "[6]"}},
		{"constant bias [M+1], W at run time", []*onnx.AttributeProto{group2}, validationInputs(ones32(7)), constBias, []string{"input B", "[6]"}},
		{"rho [2, 3]", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, ones32(2, 3)), noneConst, []string{"Rho"}},
		{"rho [2, 3], W at run time", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, ones32(2, 3)), constRho, []string{"Rho"}},
		{"beta [0]", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, nil, ones32(0)), allButX, []string{"Beta"}},
		{"beta [5] at run time", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, nil, ones32(5)), noneConst, []string{"Beta", "[6]"}},
		{"bias [M+1]", []*onnx.AttributeProto{group2}, validationInputs(ones32(7)), allButX, []string{"input B", "[6]"}},
		{"bias scalar at run time", []*onnx.AttributeProto{group2}, validationInputs(ones32()), noneConst, []string{"input B"}},
		{"alpha float64", []*onnx.AttributeProto{group2}, validationInputs(nil, runtime.Zeros(runtime.Float64)), allButX, []string{"Alpha", "FLOAT"}},
		{"W 1-D", nil, []*runtime.Tensor{runtime.Zeros(runtime.Float32, 1, 4, 5), ones32(6, 4, 3)}, allButX, []string{"unsupported", "2-D"}},
		{"W 1-D at run time", nil, []*runtime.Tensor{runtime.Zeros(runtime.Float32, 1, 4, 5), ones32(6, 4, 3)}, noneConst, []string{"unsupported", "2-D"}},
		{"W 3-D", nil, []*runtime.Tensor{runtime.Zeros(runtime.Float32, 1, 4, 5, 5, 5), ones32(6, 4, 3, 3, 3)}, allButX, []string{"unsupported"}},
		{"3-D attributes", []*onnx.AttributeProto{onnx.AttrInts("strides", 1, 1, 1)}, validationInputs(), noneConst, []string{"unsupported", "3-D"}},
		{"channels", nil, validationInputs(), allButX, []string{"channels"}},
		{"channels at run time", nil, validationInputs(), noneConst, []string{"channels"}},
		{"group does not divide M", []*onnx.AttributeProto{onnx.AttrInt("group", 4)}, validationInputs(), allButX, []string{"group"}},
		{"group 0", []*onnx.AttributeProto{onnx.AttrInt("group", 0)}, validationInputs(), allButX, []string{`"group"`}},
		{"negative pads", []*onnx.AttributeProto{group2, onnx.AttrInts("pads", 1, -1, 1, 1)}, validationInputs(), allButX, []string{`"pads"`}},
		{"pads length", []*onnx.AttributeProto{group2, onnx.AttrInts("pads", 1, 1)}, validationInputs(), allButX, []string{`"pads"`}},
		{"zero stride", []*onnx.AttributeProto{group2, onnx.AttrInts("strides", 0, 1)}, validationInputs(), noneConst, []string{`"strides"`}},
		{"zero dilation", []*onnx.AttributeProto{group2, onnx.AttrInts("dilations", 1, 0)}, validationInputs(), allButX, []string{`"dilations"`}},
		{"kernel_shape", []*onnx.AttributeProto{group2, onnx.AttrInts("kernel_shape", 2, 3)}, validationInputs(), allButX, []string{`"kernel_shape"`}},
		{"kernel_shape at run time", []*onnx.AttributeProto{group2, onnx.AttrInts("kernel_shape", 2, 3)}, validationInputs(), noneConst, []string{`"kernel_shape"`}},
		{"auto_pad", []*onnx.AttributeProto{group2, str("auto_pad", "SAME")}, validationInputs(), allButX, []string{`"auto_pad"`}},
		{"window larger than input", []*onnx.AttributeProto{group2, onnx.AttrInts("dilations", 3, 3)}, validationInputs(), allButX, []string{"output size"}},
		{"X float64", []*onnx.AttributeProto{group2}, []*runtime.Tensor{runtime.Zeros(runtime.Float64, 1, 4, 5, 5), ones32(6, 2, 3, 3)}, allButX, []string{"FLOAT"}},
		{"W float64", []*onnx.AttributeProto{group2}, []*runtime.Tensor{runtime.Zeros(runtime.Float32, 1, 4, 5, 5), runtime.Zeros(runtime.Float64, 6, 2, 3, 3)}, allButX, []string{"W", "FLOAT"}},
		{"X rank 3 with a 2-D W", []*onnx.AttributeProto{group2}, []*runtime.Tensor{runtime.Zeros(runtime.Float32, 4, 5, 5), ones32(6, 2, 3, 3)}, allButX, []string{"X"}},
		{"too many inputs", []*onnx.AttributeProto{group2}, validationInputs(nil, nil, nil, nil, ones32()), allButX, []string{"inputs"}},
		{"only X", nil, []*runtime.Tensor{runtime.Zeros(runtime.Float32, 1, 4, 5, 5)}, noneConst, []string{"inputs"}},
	}
	for _, c := range cases {
		m, feeds, err := oneNodeModel(OpType, Domain, c.attrs, c.in, c.constant)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = runModel(m, feeds)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `node "dc"`) {
			t.Errorf("%s: error %q does not name the node", c.name, msg)
		}
		for _, f := range c.fragments {
			if !strings.Contains(msg, f) {
				t.Errorf("%s: error %q does not contain %q", c.name, msg, f)
			}
		}
	}
}

// TestValidInputsAccepted is the counterpart of TestValidationErrors: the shapes the spec allows
// for the optional inputs, constant or not, plan and run.
func TestValidInputsAccepted(t *testing.T) {
	for _, opt := range [][]*runtime.Tensor{
		{},
		{ones32(6)},
		{nil, ones32(), ones32(1), ones32(6)},
		{ones32(6), ones32(6), filled32(0.5), filled32(0.25, 1)},
		{nil, nil, nil, ones32(6)},
	} {
		for _, constant := range []func(int) bool{allButX, noneConst, onlyW} {
			m, feeds, err := oneNodeModel(OpType, Domain, []*onnx.AttributeProto{onnx.AttrInt("group", 2)}, validationInputs(opt...), constant)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := runModel(m, feeds); err != nil {
				t.Errorf("optional inputs %v: %v", opt, err)
			}
		}
	}
}
