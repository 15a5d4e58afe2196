package convert

import (
	"fmt"
	"regexp"

	"github.com/dcnet-go/dcnet/onnx"
)

// Selection chooses the Conv nodes of the main graph that a rewrite
// replaces. The zero value selects every supported 2-D convolution.
type Selection struct {
	// Layers, when set, keeps only the Conv nodes whose name it matches
	// (anywhere in the name, as regexp.MatchString does).
	Layers *regexp.Regexp
	// SkipFirst and SkipLast keep the first and the last Conv node of the
	// graph, in node (topological) order, as they are: usually the stem on
	// raw pixels and the classifier head.
	SkipFirst, SkipLast bool
	// ExcludeDepthwise keeps depthwise convolutions (group > 1 with one
	// input channel per group).
	ExcludeDepthwise bool
}

// Skip is a Conv node a rewrite left unchanged, and why.
type Skip struct {
	Node   string // the node's name, or "#index (output ...)" when unnamed
	Reason string
	// Unsupported is true when the node cannot be rewritten at all (1-D or
	// 3-D, non-constant or non-float weights), false when the selection
	// left it out.
	Unsupported bool
}

func (s Skip) String() string { return fmt.Sprintf("node %s (Conv): %s", s.Node, s.Reason) }

// candidate is a supported 2-D Conv node.
type candidate struct {
	index     int // position in the graph's node list
	node      *onnx.NodeProto
	label     string
	wDims     []int // W: [M, C/group, kH, kW]
	group     int
	depthwise bool
}

// findConvs returns the main graph's supported 2-D Conv nodes in node order,
// the Conv nodes that cannot be rewritten, and every malformed Conv as one
// joined error.
func findConvs(ix *graphIndex) ([]candidate, []Skip, []error) {
	var cands []candidate
	var skips []Skip
	var errs []error
	for i, n := range ix.g.GetNode() {
		for _, sub := range subgraphs(n) {
			skips = append(skips, subgraphConvs(sub, nodeLabel(n, i))...)
		}
		if !isStandard(n, "Conv") {
			continue
		}
		c, reason, err := examineConv(ix, i, n)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("node %s (Conv): %w", nodeLabel(n, i), err))
		case reason != "":
			skips = append(skips, Skip{Node: nodeLabel(n, i), Reason: reason, Unsupported: true})
		default:
			cands = append(cands, c)
		}
	}
	return cands, skips, errs
}

// subgraphConvs lists the Conv nodes of a subgraph (If, Loop or Scan body)
// of node owner, at any depth: the rewrite handles the main graph only.
func subgraphConvs(g *onnx.GraphProto, owner string) []Skip {
	var skips []Skip
	for i, n := range g.GetNode() {
		if isStandard(n, "Conv") {
			skips = append(skips, Skip{Node: nodeLabel(n, i), Reason: "inside a subgraph of node " + owner + "; only the main graph is rewritten", Unsupported: true})
		}
		for _, sub := range subgraphs(n) {
			skips = append(skips, subgraphConvs(sub, owner)...)
		}
	}
	return skips
}

// examineConv decides whether Conv node n can become a DecoupledConv. It
// returns the candidate, or the reason it is unsupported, or an error when
// the node is malformed.
func examineConv(ix *graphIndex, index int, n *onnx.NodeProto) (candidate, string, error) {
	if len(n.GetInput()) < 2 || n.GetInput()[0] == "" || n.GetInput()[1] == "" {
		return candidate{}, "", fmt.Errorf("needs inputs X and W, has %q", n.GetInput())
	}
	if len(n.GetOutput()) != 1 || n.GetOutput()[0] == "" {
		return candidate{}, "", fmt.Errorf("needs exactly one output, has %q", n.GetOutput())
	}
	wName := n.GetInput()[1]
	t, ok := ix.constant(wName)
	if !ok {
		reason := fmt.Sprintf("weight %q is not a constant", wName)
		if _, init := ix.inits[wName]; init {
			reason = fmt.Sprintf("weight %q is also a graph input, so it may change at run time", wName)
		}
		return candidate{}, reason, nil
	}
	if dt := onnx.TensorProto_DataType(t.GetDataType()); dt != onnx.TensorProto_FLOAT {
		return candidate{}, fmt.Sprintf("weight %q is %v; only FLOAT convolutions are rewritten", wName, dt), nil
	}
	switch len(t.GetDims()) {
	case 4:
	case 3:
		return candidate{}, "1-D convolution (DecoupledConv is 2-D only)", nil
	case 5:
		return candidate{}, "3-D convolution (DecoupledConv is 2-D only)", nil
	default:
		return candidate{}, fmt.Sprintf("weight %q has rank %d, not 4", wName, len(t.GetDims())), nil
	}
	dims := make([]int, 4)
	for i, d := range t.GetDims() {
		if d <= 0 || d > 1<<31 {
			return candidate{}, "", fmt.Errorf("weight %q has a bad dimension: %v", wName, t.GetDims())
		}
		dims[i] = int(d)
	}
	group := intAttr(n, "group", 1)
	if group < 1 || int64(dims[0])%group != 0 {
		return candidate{}, "", fmt.Errorf("attribute \"group\": %d does not divide the %d output channels of weight %q", group, dims[0], wName)
	}
	return candidate{
		index: index, node: n, label: nodeLabel(n, index),
		wDims: dims, group: int(group),
		depthwise: group > 1 && dims[1] == 1,
	}, "", nil
}

// choose applies the selection to the candidates (in node order). first
// and last are the node indices of the graph's first and last Conv node.
func (s Selection) choose(cands []candidate, first, last int) ([]candidate, []Skip) {
	var chosen []candidate
	var skips []Skip
	for _, c := range cands {
		reason := ""
		switch {
		case s.SkipFirst && c.index == first:
			reason = "the first Conv of the graph is kept"
		case s.SkipLast && c.index == last:
			reason = "the last Conv of the graph is kept"
		case s.ExcludeDepthwise && c.depthwise:
			reason = "depthwise convolutions are excluded"
		case s.Layers != nil && !s.Layers.MatchString(c.node.GetName()):
			reason = fmt.Sprintf("name does not match %q", s.Layers.String())
		}
		if reason != "" {
			skips = append(skips, Skip{Node: c.label, Reason: reason})
			continue
		}
		chosen = append(chosen, c)
	}
	return chosen, skips
}

// convRange returns the node indices of the first and last Conv node of g
// (-1 when there is none).
func convRange(g *onnx.GraphProto) (first, last int) {
	first, last = -1, -1
	for i, n := range g.GetNode() {
		if isStandard(n, "Conv") {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}
