package dataset

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseFloats parses the value s of the command-line flag --flag, a
// comma-separated list of finite numbers such as "0.485,0.456,0.406", for
// Options.Mean and Options.Std. An empty s gives nil. When flag is "std"
// every value must also be non-zero. The error names the flag and its
// value.
func ParseFloats(flag, s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || (flag == "std" && v == 0) {
			return nil, fmt.Errorf("--%s %q: want comma-separated finite numbers (non-zero for --std), such as 0.2860 or 0.485,0.456,0.406", flag, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseSize parses the value s of the command-line flag --size, "H" (a
// square H×H) or "HxW" (case-insensitive x), into a positive height and
// width for Options.Height and Options.Width. The error names the flag and
// its value.
func ParseSize(s string) (h, w int, err error) {
	hs, ws, found := strings.Cut(strings.ToLower(s), "x")
	if !found {
		ws = hs
	}
	h, err1 := strconv.Atoi(strings.TrimSpace(hs))
	w, err2 := strconv.Atoi(strings.TrimSpace(ws))
	if err1 != nil || err2 != nil || h <= 0 || w <= 0 {
		return 0, 0, fmt.Errorf("--size %q: want H or HxW with positive integers, such as 224 or 28x28", s)
	}
	return h, w, nil
}
