package runtime

import (
	"context"
	"time"
)

// StepTime is the wall-clock time of one step of a profiled run: a node, or a node with the
// nodes fused into it at plan time (Fused lists their names).
type StepTime struct {
	Node     string        `json:"node"`
	OpType   string        `json:"op_type"`
	Fused    []string      `json:"fused,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// RunProfiled is Run that also returns the time of every executed step, in execution order.
// Steps whose results came from the shape cache are left out. Timing adds two clock reads per
// step; the outputs are those of Run.
func (s *Session) RunProfiled(ctx context.Context, inputs map[string]*Tensor) (map[string]*Tensor, []StepTime, error) {
	var times []StepTime
	out, err := s.run(ctx, inputs, &times)
	if err != nil {
		return nil, nil, err
	}
	return out, times, nil
}

// timeStep runs the step's kernel, appending its time to ex.times when the run is profiled.
func (ex *execution) timeStep(s *step, in, out []*Tensor) error {
	if ex.times == nil {
		return runKernel(&ex.rc, s, in, out)
	}
	start := time.Now()
	err := runKernel(&ex.rc, s, in, out)
	*ex.times = append(*ex.times, StepTime{Node: s.node.Name, OpType: s.node.OpType, Fused: s.fused, Duration: time.Since(start)})
	return err
}
