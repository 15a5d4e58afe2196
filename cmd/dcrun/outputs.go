package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// writeOutputs saves every output as DIR/<name>.npy (names sanitised,
// each file written atomically) and returns the paths in output order.
// Float16 outputs are widened to float32; other types keep their own.
func writeOutputs(dir string, outs map[string]*runtime.Tensor, order []runtime.ValueInfo) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	var paths []string
	for _, info := range order {
		t := outs[info.Name]
		if t == nil {
			continue
		}
		path := filepath.Join(dir, uniqueFileName(sanitizeName(info.Name), used)+".npy")
		if err := npy.WriteFile(path, t.Shape(), npyData(t)); err != nil {
			return nil, fmt.Errorf("output %q: %w", info.Name, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// sanitizeName makes a tensor name safe as a file name: characters other
// than letters, digits, '.', '-' and '_' become '_', and a leading '.'
// becomes '_' so that no name is hidden or refers to a parent directory.
func sanitizeName(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok || (i == 0 && c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "output"
	}
	return string(b)
}

// uniqueFileName appends _2, _3, ... to names already used (compared
// case-insensitively, for case-insensitive file systems).
func uniqueFileName(name string, used map[string]bool) string {
	cand := name
	for i := 2; used[strings.ToLower(cand)]; i++ {
		cand = fmt.Sprintf("%s_%d", name, i)
	}
	used[strings.ToLower(cand)] = true
	return cand
}

// npyData returns the tensor's elements in a type package npy writes.
func npyData(t *runtime.Tensor) any {
	if t.DType() == runtime.Float16 {
		return widenFloat16(runtime.Values[uint16](t))
	}
	return t.Data()
}

func widenFloat16(h []uint16) []float32 {
	out := make([]float32, len(h))
	for i, v := range h {
		out[i] = onnx.Float16ToFloat32(v)
	}
	return out
}

// printOptions controls the summary printed for each output.
type printOptions struct {
	topK   int
	labels []string // class names; used for outputs with as many classes
}

// printOutputs prints, for each output in model order, its name, type,
// shape, minimum and maximum, and for 2-D [N, K] outputs the top-k classes
// of every row.
func printOutputs(w io.Writer, outs map[string]*runtime.Tensor, order []runtime.ValueInfo, opts printOptions) {
	for _, info := range order {
		t := outs[info.Name]
		if t == nil {
			continue
		}
		vals := t.Float64Values()
		fmt.Fprintf(w, "%s: %v %s%s\n", info.Name, t.DType(), runtime.ShapeString(t.Shape()), rangeText(vals))
		if s := t.Shape(); len(s) == 2 && s[1] > 1 && opts.topK > 0 {
			labels := opts.labels
			if len(labels) != s[1] {
				labels = nil
			}
			for row := range s[0] {
				printTopK(w, row, vals[row*s[1]:(row+1)*s[1]], opts.topK, labels)
			}
		}
	}
}

// rangeText formats ", min x, max y" and counts NaNs, which min and max
// ignore.
func rangeText(vals []float64) string {
	if len(vals) == 0 {
		return ", empty"
	}
	lo, hi, nans := math.Inf(1), math.Inf(-1), 0
	for _, v := range vals {
		if math.IsNaN(v) {
			nans++
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	s := ""
	if nans < len(vals) {
		s = fmt.Sprintf(", min %.6g, max %.6g", lo, hi)
	}
	if nans > 0 {
		s += fmt.Sprintf(", %d NaN", nans)
	}
	return s
}

// printTopK prints the k largest entries of one row. A row that is already
// a probability distribution is shown as is; otherwise the row is taken as
// logits and each entry is shown with its softmax probability.
func printTopK(w io.Writer, row int, vals []float64, k int, labels []string) {
	k = min(k, len(vals))
	idx := topIndices(vals, k)
	if isDistribution(vals) {
		fmt.Fprintf(w, "  row %d: top %d of %d (values are probabilities: the row sums to 1)\n", row, k, len(vals))
		for rank, i := range idx {
			fmt.Fprintf(w, "    %d. class %d%s  p=%.4f\n", rank+1, i, labelText(labels, i), vals[i])
		}
		return
	}
	probs := softmax(vals)
	fmt.Fprintf(w, "  row %d: top %d of %d (values are logits; p = softmax probability)\n", row, k, len(vals))
	for rank, i := range idx {
		fmt.Fprintf(w, "    %d. class %d%s  logit=%.4f  p=%.4f\n", rank+1, i, labelText(labels, i), vals[i], probs[i])
	}
}

func labelText(labels []string, i int) string {
	if labels == nil {
		return ""
	}
	return fmt.Sprintf(" (%s)", labels[i])
}

// topIndices returns the indices of the k largest values, largest first,
// ties broken by index; NaNs sort last.
func topIndices(vals []float64, k int) []int {
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		va, vb := vals[idx[a]], vals[idx[b]]
		if math.IsNaN(vb) {
			return !math.IsNaN(va)
		}
		return va > vb
	})
	return idx[:k]
}

// isDistribution reports whether vals are non-negative, at most 1 and sum
// to 1 within float32 rounding.
func isDistribution(vals []float64) bool {
	sum := 0.0
	for _, v := range vals {
		if !(v >= 0 && v <= 1) {
			return false
		}
		sum += v
	}
	return math.Abs(sum-1) <= 1e-4
}

// softmax computes exp(v − max) / Σ exp(v − max) in float64.
func softmax(vals []float64) []float64 {
	hi := math.Inf(-1)
	for _, v := range vals {
		hi = max(hi, v)
	}
	out := make([]float64, len(vals))
	sum := 0.0
	for i, v := range vals {
		out[i] = math.Exp(v - hi)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
