package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dcnet-go/dcnet/runtime"
)

// perOpResult is bench --per-op's report: the median time of every step over the profiled
// runs, and those medians summed per operator type.
type perOpResult struct {
	Runs    int          `json:"runs"`
	TotalMs float64      `json:"total_ms"` // the sum of the step medians
	OpTypes []opTypeTime `json:"op_types"` // slowest first
	Steps   []stepTime   `json:"steps"`    // in execution order
}

type opTypeTime struct {
	OpType string  `json:"op_type"`
	Steps  int     `json:"steps"`
	Ms     float64 `json:"ms"`
	Share  float64 `json:"share"`
}

type stepTime struct {
	Node   string   `json:"node"`
	OpType string   `json:"op_type"`
	Fused  []string `json:"fused,omitempty"`
	Ms     float64  `json:"median_ms"`
}

// slowestSteps is how many steps the text report lists.
const slowestSteps = 15

// measurePerOp runs the session runs times with step timing and takes each step's median.
func measurePerOp(ctx context.Context, sess *runtime.Session, inputs map[string]*runtime.Tensor, runs int) (*perOpResult, error) {
	var samples [][]float64 // by step, then run
	var first []runtime.StepTime
	for r := range runs {
		_, times, err := sess.RunProfiled(ctx, inputs)
		if err != nil {
			return nil, err
		}
		if r == 0 {
			first, samples = times, make([][]float64, len(times))
		}
		if len(times) != len(first) {
			return nil, fmt.Errorf("--per-op: run %d executed %d steps, the first %d", r+1, len(times), len(first))
		}
		for i, t := range times {
			samples[i] = append(samples[i], float64(t.Duration.Nanoseconds())/1e6)
		}
	}
	res := &perOpResult{Runs: runs}
	byType := map[string]*opTypeTime{}
	for i, t := range first {
		ms, _, _, _ := latencyStats(samples[i])
		res.Steps = append(res.Steps, stepTime{Node: t.Node, OpType: t.OpType, Fused: t.Fused, Ms: ms})
		res.TotalMs += ms
		o := byType[t.OpType]
		if o == nil {
			o = &opTypeTime{OpType: t.OpType}
			byType[t.OpType] = o
		}
		o.Steps++
		o.Ms += ms
	}
	for _, o := range byType {
		if res.TotalMs > 0 {
			o.Share = o.Ms / res.TotalMs
		}
		res.OpTypes = append(res.OpTypes, *o)
	}
	slices.SortFunc(res.OpTypes, func(a, b opTypeTime) int {
		return cmp.Or(cmp.Compare(b.Ms, a.Ms), strings.Compare(a.OpType, b.OpType))
	})
	return res, nil
}

func printPerOp(w io.Writer, r *perOpResult) {
	fmt.Fprintf(w, "per op:      medians of %d profiled runs, %.3f ms in %d steps\n", r.Runs, r.TotalMs, len(r.Steps))
	fmt.Fprintf(w, "  %-24s %6s %10s %7s\n", "op type", "steps", "ms", "share")
	for _, o := range r.OpTypes {
		fmt.Fprintf(w, "  %-24s %6d %10.3f %6.1f%%\n", o.OpType, o.Steps, o.Ms, 100*o.Share)
	}
	steps := slices.Clone(r.Steps)
	slices.SortStableFunc(steps, func(a, b stepTime) int { return cmp.Compare(b.Ms, a.Ms) })
	fmt.Fprintf(w, "  slowest steps:\n")
	for _, s := range steps[:min(slowestSteps, len(steps))] {
		name := s.Node
		if len(s.Fused) > 0 {
			name += " (+" + strings.Join(s.Fused, ", ") + ")"
		}
		share := 0.0
		if r.TotalMs > 0 {
			share = s.Ms / r.TotalMs
		}
		fmt.Fprintf(w, "  %-48s %-12s %8.3f ms %6.1f%%\n", name, s.OpType, s.Ms, 100*share)
	}
}
