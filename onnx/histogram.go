package onnx

import "sort"

// OpCount is one line of an operator histogram: Count nodes run operator
// Op, which is "op_type" for the default domain ("" or "ai.onnx") and
// "domain/op_type" otherwise.
type OpCount struct {
	Op    string `json:"op"`
	Count int    `json:"count"`
}

// OpHistogram counts nodes per operator, most frequent first, then by
// operator name. Only the nodes listed are counted, not those in subgraphs
// or functions.
func OpHistogram(nodes []*NodeProto) []OpCount {
	counts := map[string]int{}
	for _, n := range nodes {
		op := n.GetOpType()
		if d := canonicalDomain(n.GetDomain()); d != "" {
			op = d + "/" + op
		}
		counts[op]++
	}
	out := make([]OpCount, 0, len(counts))
	for op, c := range counts {
		out = append(out, OpCount{op, c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Op < out[j].Op
	})
	return out
}
