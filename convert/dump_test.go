package convert_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dcnet-go/dcnet/convert"
)

var update = flag.Bool("update", false, "rewrite the golden dumps in testdata/")

// The identity rewrite of each small model, in each form, dumped as text,
// equals testdata/NAME.golden (refresh with go test ./convert -update).
func TestGoldenDumps(t *testing.T) {
	for _, sm := range smallModels {
		t.Run(sm.name, func(t *testing.T) {
			var buf bytes.Buffer
			for _, f := range []convert.Form{convert.Custom, convert.Functions, convert.Expanded} {
				m, res := rewriteIdentity(t, sm.build(), f)
				fmt.Fprintf(&buf, "# identity rewrite, %v form\n", f)
				for _, s := range res.Skipped {
					fmt.Fprintf(&buf, "# skipped %v\n", s)
				}
				if err := convert.Dump(&buf, m); err != nil {
					t.Fatal(err)
				}
				buf.WriteString("\n")
			}
			compareGolden(t, sm.name, buf.Bytes())
		})
	}
}

// A chain of layers with every magnitude and different angulars, weights
// and parameters, in each form, equals testdata/operators.golden.
func TestGoldenOperatorDump(t *testing.T) {
	var buf bytes.Buffer
	for _, f := range []convert.Form{convert.Custom, convert.Functions, convert.Expanded} {
		m := operatorChain(13, 10)
		ops := decoupleChain(t, m, 1, 20)
		if err := convert.Convert(m, f); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&buf, "# %v form of %v\n", f, ops)
		if err := convert.Dump(&buf, m); err != nil {
			t.Fatal(err)
		}
		buf.WriteString("\n")
	}
	compareGolden(t, "operators", buf.Bytes())
}

// compareGolden compares got with testdata/NAME.golden, or rewrites the
// file under -update.
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./convert -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("dump differs from %s (run go test ./convert -update and review the diff):\n%s", path, firstDifference(string(got), string(want)))
	}
}

// firstDifference shows the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := bytes.Split([]byte(got), []byte("\n")), bytes.Split([]byte(want), []byte("\n"))
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, gl, wl)
		}
	}
	return "(no difference)"
}
