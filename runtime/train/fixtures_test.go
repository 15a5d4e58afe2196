package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dcnet-go/dcnet/runtime"
)

// The fixtures are written by testdata/gen_fixtures.py with PyTorch; see
// that script for the cases.

type fixtureFile struct {
	Torch      string             `json:"torch"`
	Shapes     [][]int            `json:"shapes"`
	Optimisers []optimiserFixture `json:"optimisers"`
	Schedules  []scheduleFixture  `json:"schedules"`
	Losses     lossFixtures       `json:"losses"`
	Clipping   []clipFixture      `json:"clipping"`
}

type optimiserFixture struct {
	Name   string `json:"name"`
	Config struct {
		Kind        string  `json:"kind"`
		Momentum    float64 `json:"momentum"`
		Dampening   float64 `json:"dampening"`
		Nesterov    bool    `json:"nesterov"`
		WeightDecay float64 `json:"weight_decay"`
		Beta1       float64 `json:"beta1"`
		Beta2       float64 `json:"beta2"`
		Eps         float64 `json:"eps"`
	} `json:"config"`
	Init    [][]float64   `json:"init"`
	Grads   [][][]float64 `json:"grads"`
	LRs     []float64     `json:"lrs"`
	Momenta []float64     `json:"momenta"`
	After   [][][]float64 `json:"after"`
}

type scheduleFixture struct {
	Kind           string    `json:"kind"`
	LRs            []float64 `json:"lrs"`
	Momenta        []float64 `json:"momenta"`
	Max            float64   `json:"max"`
	Total          int       `json:"total"`
	PctStart       float64   `json:"pct_start"`
	DivFactor      float64   `json:"div_factor"`
	FinalDivFactor float64   `json:"final_div_factor"`
	Base           float64   `json:"base"`
	Min            float64   `json:"min"`
	Steps          int       `json:"steps"`
	StepSize       int       `json:"step_size"`
	Gamma          float64   `json:"gamma"`
}

type lossFixtures struct {
	N       int        `json:"n"`
	K       int        `json:"k"`
	Logits  []float64  `json:"logits"`
	Teacher []float64  `json:"teacher"`
	Labels  []int      `json:"labels"`
	Cases   []lossCase `json:"cases"`
}

type lossCase struct {
	Kind        string    `json:"kind"`
	Loss        float64   `json:"loss"`
	Grad        []float64 `json:"grad"`
	Smoothing   float64   `json:"smoothing"`
	Temperature float64   `json:"temperature"`
	Weight      float64   `json:"weight"`
}

type clipFixture struct {
	MaxNorm float64     `json:"max_norm"`
	Grads   [][]float64 `json:"grads"`
	Norm    float64     `json:"norm"`
	Clipped [][]float64 `json:"clipped"`
}

func loadFixtures(t *testing.T) *fixtureFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixtureFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// relTol is the relative tolerance against PyTorch's values.
const relTol = 1e-6

// checkClose fails when got and want differ by more than relTol relative
// to |want|.
func checkClose(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= relTol*math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.9g, PyTorch %.9g (relative error %.2g)", what, i, got[i], want[i], d/math.Abs(want[i]))
		}
	}
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// fixtureParams builds trainable parameters of the fixture's shapes.
func fixtureParams(shapes [][]int, values [][]float64) []*runtime.Param {
	var ps []*runtime.Param
	for i, s := range shapes {
		ps = append(ps, &runtime.Param{
			Name:      string(rune('a' + i)),
			Value:     runtime.New(s, f32(values[i])),
			Grad:      runtime.Zeros(runtime.Float32, s...),
			Trainable: true,
		})
	}
	return ps
}

func newFixtureOptimizer(t *testing.T, c optimiserFixture, ps []*runtime.Param) Optimizer {
	t.Helper()
	var o Optimizer
	var err error
	switch c.Config.Kind {
	case "sgd":
		o, err = NewSGD(ps, SGDConfig{Momentum: c.Config.Momentum, Dampening: c.Config.Dampening, Nesterov: c.Config.Nesterov, WeightDecay: c.Config.WeightDecay})
	case "adamw":
		o, err = NewAdamW(ps, AdamWConfig{Beta1: c.Config.Beta1, Beta2: c.Config.Beta2, Eps: c.Config.Eps, WeightDecay: c.Config.WeightDecay})
	default:
		t.Fatalf("unknown optimiser %q", c.Config.Kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOptimisersMatchPyTorch(t *testing.T) {
	f := loadFixtures(t)
	for _, c := range f.Optimisers {
		t.Run(c.Name, func(t *testing.T) {
			ps := fixtureParams(f.Shapes, c.Init)
			o := newFixtureOptimizer(t, c, ps)
			for step, lr := range c.LRs {
				for i, p := range ps {
					copy(p.Grad.Float32s(), f32(c.Grads[step][i]))
				}
				if c.Momenta != nil {
					o.SetMomentum(c.Momenta[step])
				}
				if err := o.Step(lr); err != nil {
					t.Fatal(err)
				}
				for i, p := range ps {
					checkClose(t, p.Name, f64(p.Value.Float32s()), c.After[step][i])
				}
			}
		})
	}
}

// TestOptimiserStateRoundTrip stops an optimiser half-way, restores its
// state into a fresh one and checks the rest of the run matches PyTorch.
func TestOptimiserStateRoundTrip(t *testing.T) {
	f := loadFixtures(t)
	for _, c := range f.Optimisers {
		t.Run(c.Name, func(t *testing.T) {
			ps := fixtureParams(f.Shapes, c.Init)
			o := newFixtureOptimizer(t, c, ps)
			half := len(c.LRs) / 2
			for step := range half {
				for i, p := range ps {
					copy(p.Grad.Float32s(), f32(c.Grads[step][i]))
				}
				if c.Momenta != nil {
					o.SetMomentum(c.Momenta[step])
				}
				if err := o.Step(c.LRs[step]); err != nil {
					t.Fatal(err)
				}
			}
			state := o.State()
			ps2 := fixtureParams(f.Shapes, c.After[half-1])
			o2 := newFixtureOptimizer(t, c, ps2)
			if err := o2.Restore(state); err != nil {
				t.Fatal(err)
			}
			for step := half; step < len(c.LRs); step++ {
				for i, p := range ps2 {
					copy(p.Grad.Float32s(), f32(c.Grads[step][i]))
				}
				if c.Momenta != nil {
					o2.SetMomentum(c.Momenta[step])
				}
				if err := o2.Step(c.LRs[step]); err != nil {
					t.Fatal(err)
				}
				for i, p := range ps2 {
					checkClose(t, p.Name, f64(p.Value.Float32s()), c.After[step][i])
				}
			}
		})
	}
}

func TestSchedulesMatchPyTorch(t *testing.T) {
	f := loadFixtures(t)
	for _, c := range f.Schedules {
		var s Schedule
		switch c.Kind {
		case "onecycle":
			oc := NewOneCycle(c.Max, c.Total, c.PctStart)
			if c.DivFactor != 0 {
				oc.DivFactor, oc.FinalDivFactor = c.DivFactor, c.FinalDivFactor
			}
			oc.CycleMomentum = c.Momenta != nil
			if err := oc.Check(); err != nil {
				t.Fatal(err)
			}
			s = oc
		case "cosine":
			s = Cosine{Base: c.Base, Min: c.Min, Steps: c.Steps}
		case "step":
			s = StepDecay{Base: c.Base, StepSize: c.StepSize, Gamma: c.Gamma}
		}
		got := make([]float64, len(c.LRs))
		for i := range got {
			got[i] = s.LR(i)
		}
		checkClose(t, c.Kind+" lr", got, c.LRs)
		if c.Momenta != nil {
			ms := s.(MomentumSchedule)
			for i := range got {
				got[i], _ = ms.Momentum(i)
			}
			checkClose(t, c.Kind+" momentum", got, c.Momenta)
		}
	}
}

func TestLossesMatchPyTorch(t *testing.T) {
	f := loadFixtures(t).Losses
	logits := runtime.New([]int{f.N, f.K}, f32(f.Logits))
	teacher := runtime.New([]int{f.N, f.K}, f32(f.Teacher))
	for _, c := range f.Cases {
		var loss float64
		var grad *runtime.Tensor
		var err error
		switch c.Kind {
		case "ce":
			loss, grad, err = CrossEntropy(logits, f.Labels, c.Smoothing)
		case "kd":
			loss, grad, err = Distillation(logits, teacher, c.Temperature)
		case "combined":
			var v LossValue
			v, grad, err = Loss{Smoothing: c.Smoothing, Temperature: c.Temperature, DistillWeight: c.Weight}.Compute(logits, f.Labels, teacher)
			loss = v.Total
		}
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, c.Kind+" loss", []float64{loss}, []float64{c.Loss})
		// The gradient is rounded to float32: allow its rounding error.
		want := f64(f32(c.Grad))
		checkClose(t, c.Kind+" grad", f64(grad.Float32s()), want)
	}
}

func TestClipGradNormMatchesPyTorch(t *testing.T) {
	f := loadFixtures(t)
	for _, c := range f.Clipping {
		ps := fixtureParams(f.Shapes, c.Grads) // values unused
		for i, p := range ps {
			copy(p.Grad.Float32s(), f32(c.Grads[i]))
		}
		norm, err := ClipGradNorm(ps, c.MaxNorm)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, "norm", []float64{norm}, []float64{c.Norm})
		for i, p := range ps {
			checkClose(t, "clipped", f64(p.Grad.Float32s()), c.Clipped[i])
		}
	}
}
