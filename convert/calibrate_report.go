package convert

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report as a table, one line per layer: name, weight
// shape, the ranges of ρ, α and β (— when unused), the relative error of
// the fitted layer and the time it took.
func (r *CalibrationReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "calibrated %d layers on %d samples (ρ at the %g percentile of the patch norms)\n", len(r.Layers), r.Samples, 100*r.RhoPercentile)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tweight\toperator\trho\talpha\tbeta\trel. error\ttime")
	for _, l := range r.Layers {
		note := ""
		if l.Fallbacks > 0 {
			note = fmt.Sprintf(" (%d degenerate channels)", l.Fallbacks)
		}
		fmt.Fprintf(tw, "%s\t%dx%dx%dx%d\t%s\t%s\t%s\t%s\t%.4f%s\t%.1fs\n", l.Node,
			l.WeightShape[0], l.WeightShape[1], l.WeightShape[2], l.WeightShape[3], l.Operator,
			rangeText(l.Rho), l.Alpha.String(), rangeText(l.Beta), l.RelError, note, l.Duration.Seconds())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func rangeText(r *Range) string {
	if r == nil {
		return "—"
	}
	return r.String()
}
