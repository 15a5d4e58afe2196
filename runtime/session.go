package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"

	"github.com/dcnet-go/dcnet/onnx"
)

// Options configure a Session.
type Options struct {
	numThreads    int
	registry      *Registry
	baseDir       string
	foldConstants bool
	fuse          bool // fuse Conv with the Add/Relu/Clip after it (sessions, not training)
	maxElements   int
}

func (o *Options) threads() int {
	if o.numThreads > 0 {
		return o.numThreads
	}
	return goruntime.NumCPU()
}

// Option sets a session option.
type Option func(*Options)

// WithThreads sets how many goroutines one Run may use (default: the number
// of CPUs).
func WithThreads(n int) Option { return func(o *Options) { o.numThreads = n } }

// WithRegistry sets the operator registry (default: Builtins()). Use it to
// add custom operators, such as decop's DecoupledConv.
func WithRegistry(r *Registry) Option { return func(o *Options) { o.registry = r } }

// WithBaseDir sets the directory external tensor data is read from (the
// model file's directory by default when loading from a path).
func WithBaseDir(dir string) Option { return func(o *Options) { o.baseDir = dir } }

// DefaultMaxElements is the default limit on one tensor's element count
// (16 GiB of float32).
const DefaultMaxElements = 1 << 32

// WithMaxElements bounds the element count of any tensor a kernel creates;
// a model that needs more fails with an error naming the node instead of
// exhausting memory.
func WithMaxElements(n int) Option { return func(o *Options) { o.maxElements = n } }

// WithoutConstantFolding keeps nodes with constant inputs in the plan
// (for tests that exercise kernels through constant inputs).
func WithoutConstantFolding() Option { return func(o *Options) { o.foldConstants = false } }

// WithoutFusion keeps every node a step of its own: no Conv absorbs the
// Add, Relu or Clip after it (for tests and for comparing plans).
func WithoutFusion() Option { return func(o *Options) { o.fuse = false } }

// ValueInfo describes a graph input or output. Shape holds -1 for a dynamic
// dimension, whose name (if any) is in DimNames; Shape is nil if the rank is
// unknown.
type ValueInfo struct {
	Name     string
	DType    DType
	Shape    []int
	DimNames []string
}

// String formats the value as `input FLOAT[N 3 224 224]`.
func (v ValueInfo) String() string {
	if v.Shape == nil {
		return fmt.Sprintf("%s %v[?]", v.Name, v.DType)
	}
	dims := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		switch {
		case d >= 0:
			dims[i] = fmt.Sprint(d)
		case v.DimNames[i] != "":
			dims[i] = v.DimNames[i]
		default:
			dims[i] = "?"
		}
	}
	return fmt.Sprintf("%s %v[%s]", v.Name, v.DType, strings.Join(dims, " "))
}

// Session is a model planned for execution. It is safe for concurrent use:
// several goroutines may call Run at once.
type Session struct {
	plan  *plan
	opts  Options
	pool  sync.Pool // *allocator
	cache shapeCache
}

// NewSession loads and plans the model at path.
func NewSession(path string, opts ...Option) (*Session, error) {
	m, err := onnx.LoadFile(path)
	if err != nil {
		return nil, err
	}
	opts = append([]Option{WithBaseDir(filepath.Dir(path))}, opts...)
	s, err := NewSessionFromModel(m, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// NewSessionFromBytes parses and plans a serialized model.
func NewSessionFromBytes(data []byte, opts ...Option) (*Session, error) {
	m, err := onnx.Load(data)
	if err != nil {
		return nil, err
	}
	return NewSessionFromModel(m, opts...)
}

// NewSessionFromModel plans a loaded model. The session does not keep or
// modify m.
func NewSessionFromModel(m *onnx.ModelProto, opts ...Option) (s *Session, err error) {
	o := Options{foldConstants: true, fuse: true, maxElements: DefaultMaxElements}
	for _, f := range opts {
		f(&o)
	}
	if o.registry == nil {
		o.registry = Builtins()
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("internal error while planning the model: %v", r)
		}
	}()
	p, err := compile(m, &o)
	if err != nil {
		return nil, err
	}
	s = &Session{plan: p, opts: o}
	s.pool.New = func() any { return newAllocator() }
	return s, nil
}

// Inputs describes the inputs Run expects (initializers excluded).
func (s *Session) Inputs() []ValueInfo { return s.plan.inputs }

// Outputs describes the outputs Run returns.
func (s *Session) Outputs() []ValueInfo { return s.plan.outputs }

// Threads is the number of goroutines one Run uses.
func (s *Session) Threads() int { return s.opts.threads() }

// Run executes the model. inputs maps every graph input name to a tensor;
// the result maps every graph output name to a tensor the caller owns.
func (s *Session) Run(ctx context.Context, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	return s.run(ctx, inputs, nil)
}

// run is Run, recording step times in *times when times is non-nil.
func (s *Session) run(ctx context.Context, inputs map[string]*Tensor, times *[]StepTime) (out map[string]*Tensor, err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := s.checkInputs(inputs); err != nil {
		return nil, err
	}
	alloc := s.pool.Get().(*allocator)
	defer s.pool.Put(alloc)
	ex := &execution{s: s, values: make([]*Tensor, len(s.plan.values)), rc: RunContext{ctx: ctx, threads: s.opts.threads(), limit: s.opts.maxElements, alloc: alloc}, times: times}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, ex.panicError(r)
		}
	}()
	if err := ex.run(inputs); err != nil {
		return nil, err
	}
	return ex.collectOutputs(), nil
}

func (s *Session) checkInputs(inputs map[string]*Tensor) error {
	return checkInputs(s.plan.inputs, inputs)
}

// checkInputs checks that inputs holds exactly the graph inputs declared
// by want, each of an accepted type and shape, and reports every problem.
func checkInputs(want []ValueInfo, inputs map[string]*Tensor) error {
	var errs []error
	known := map[string]bool{}
	for _, in := range want {
		known[in.Name] = true
		t, ok := inputs[in.Name]
		if !ok || t == nil {
			errs = append(errs, fmt.Errorf("input %q: missing", in.Name))
			continue
		}
		if err := in.accepts(t); err != nil {
			errs = append(errs, fmt.Errorf("input %q: %w", in.Name, err))
		}
	}
	for name := range inputs {
		if !known[name] {
			errs = append(errs, fmt.Errorf("input %q: the model has no such input (it has %s)", name, inputNames(want)))
		}
	}
	return errors.Join(errs...)
}

func inputNames(vs []ValueInfo) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = fmt.Sprintf("%q", v.Name)
	}
	return strings.Join(names, ", ")
}

// accepts checks a tensor against the declared type and shape.
func (v ValueInfo) accepts(t *Tensor) error {
	if !t.dtype.Supported() || sliceLen(t.data) != t.Len() {
		return fmt.Errorf("malformed tensor %v", t)
	}
	if v.DType != 0 && t.dtype != v.DType {
		return fmt.Errorf("expected element type %v, got %v", v.DType, t.dtype)
	}
	if v.Shape == nil {
		return nil
	}
	if len(t.shape) != len(v.Shape) {
		return fmt.Errorf("expected shape %s, got %s", v.String(), ShapeString(t.shape))
	}
	for i, d := range v.Shape {
		if d >= 0 && t.shape[i] != d {
			return fmt.Errorf("dimension %d: expected %d, got %d", i, d, t.shape[i])
		}
	}
	return nil
}

func sliceLen(s any) int {
	switch v := s.(type) {
	case []float32:
		return len(v)
	case []float64:
		return len(v)
	case []int64:
		return len(v)
	case []int32:
		return len(v)
	case []int8:
		return len(v)
	case []uint8:
		return len(v)
	case []bool:
		return len(v)
	case []uint16:
		return len(v)
	}
	return -1
}

func valueInfoFromProto(vi *onnx.ValueInfoProto) (ValueInfo, error) {
	info := ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		if vi.GetType() == nil {
			return info, nil // untyped: accept anything
		}
		return info, errors.New("only tensor types are supported")
	}
	info.DType = DType(tt.GetElemType())
	if info.DType != 0 && !info.DType.Supported() {
		return info, fmt.Errorf("unsupported element type %v", onnx.TensorProto_DataType(info.DType))
	}
	if tt.GetShape() == nil {
		return info, nil
	}
	for i, d := range tt.GetShape().GetDim() {
		switch d.GetValue().(type) {
		case *onnx.TensorShapeProto_Dimension_DimValue:
			v := d.GetDimValue()
			if v < 0 || v > maxElements {
				return info, fmt.Errorf("dimension %d: invalid size %d", i, v)
			}
			info.Shape = append(info.Shape, int(v))
		default:
			info.Shape = append(info.Shape, -1)
		}
		info.DimNames = append(info.DimNames, d.GetDimParam())
	}
	if info.Shape == nil {
		info.Shape = []int{}
	}
	return info, nil
}
