package dataset

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string][2]int{"224": {224, 224}, "28x28": {28, 28}, "32X48": {32, 48}, " 5 x 7 ": {5, 7}} {
		h, w, err := ParseSize(in)
		if err != nil || h != want[0] || w != want[1] {
			t.Errorf("ParseSize(%q) = %d, %d, %v", in, h, w, err)
		}
	}
	for _, bad := range []string{"", "x", "0", "3x", "-1x2", "2x2x2", "ax3"} {
		_, _, err := ParseSize(bad)
		if err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		} else if !strings.HasPrefix(err.Error(), "--size ") {
			t.Errorf("ParseSize(%q): error %q does not name --size", bad, err)
		}
	}
}

func TestParseFloats(t *testing.T) {
	if v, err := ParseFloats("mean", "0.5, 1e-1,2"); err != nil || !reflect.DeepEqual(v, []float64{0.5, 0.1, 2}) {
		t.Errorf("ParseFloats = %v, %v", v, err)
	}
	if v, err := ParseFloats("mean", ""); err != nil || v != nil {
		t.Errorf("ParseFloats of nothing = %v, %v", v, err)
	}
	if v, err := ParseFloats("mean", "0,-1"); err != nil || !reflect.DeepEqual(v, []float64{0, -1}) {
		t.Errorf("ParseFloats(mean, 0,-1) = %v, %v", v, err)
	}
	for _, bad := range []struct{ flag, s string }{
		{"mean", "1,,2"}, {"mean", "NaN"}, {"mean", "inf"}, {"mean", "1;2"}, {"std", "0.5,0"},
	} {
		_, err := ParseFloats(bad.flag, bad.s)
		if err == nil {
			t.Errorf("ParseFloats(%q, %q) accepted", bad.flag, bad.s)
		} else if !strings.HasPrefix(err.Error(), "--"+bad.flag+" ") {
			t.Errorf("ParseFloats(%q, %q): error %q does not name the flag", bad.flag, bad.s, err)
		}
	}
}
