package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPatchSquares compares both ways of summing patch squares (separable and window by window)
// with the column sums of the explicit patch matrix.
func TestPatchSquares(t *testing.T) {
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		testPatchSquares(t, rk)
		restore()
	}
}

// TestPatchSquaresThreads checks that splitting the channel sums over goroutines changes
// nothing: every pixel's sum runs over the channels in the same order, so the results are
// identical to one goroutine's, and those agree with the explicit patch matrix.
func TestPatchSquaresThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, g := range []Geometry{
		{C: 64, H: 56, W: 56, M: 8, KH: 1, KW: 1, SH: 2, SW: 2, DH: 1, DW: 1, Group: 1},
		{C: 3, H: 224, W: 221, M: 8, KH: 7, KW: 7, SH: 2, SW: 2, DH: 1, DW: 1, PadTop: 3, PadLeft: 3, PadBottom: 3, PadRight: 3, Group: 1},
		{C: 80, H: 29, W: 31, M: 8, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 1},
	} {
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		if g.CG()*g.H*g.W < 2*parallelSquaresMin {
			t.Fatalf("%+v: too small to take the parallel path", g)
		}
		x := randFloats(rng, g.CG()*g.H*g.W)
		want := make([]float64, g.OutHW())
		for _, row := range explicitPatches(g, x) {
			for j, v := range row {
				want[j] += float64(v) * float64(v)
			}
		}
		scratch := make([]float64, g.PatchSquaresScratch())
		serial := make([]float64, g.OutHW())
		g.PatchSquares(serial, x, scratch, 1)
		for j := range want {
			if math.Abs(serial[j]-want[j]) > 1e-12*want[j] {
				t.Fatalf("%+v: output %d: %v, want %v", g, j, serial[j], want[j])
			}
		}
		for _, threads := range []int{2, 3, 8} {
			got := make([]float64, g.OutHW())
			g.PatchSquares(got, x, scratch, threads)
			for j := range got {
				if got[j] != serial[j] {
					t.Fatalf("%+v, %d threads: output %d: %v, one thread gives %v", g, threads, j, got[j], serial[j])
				}
			}
		}
	}
}

func testPatchSquares(t *testing.T, rk string) {
	rng := rand.New(rand.NewPCG(11, 12))
	for iter := range 400 {
		g := randomGeometry(rng)
		x := randFloats(rng, g.CG()*g.H*g.W)
		if iter%7 == 0 {
			for i := range x {
				x[i] *= 1e30 // squares overflow float32, not float64
			}
		}
		want := make([]float64, g.OutHW())
		for _, row := range explicitPatches(g, x) {
			for j, v := range row {
				want[j] += float64(v) * float64(v)
			}
		}
		scratch := make([]float64, g.PatchSquaresScratch())
		got := make([]float64, g.OutHW())
		check := func(how string) {
			for j := range want {
				if math.Abs(got[j]-want[j]) > 1e-12*want[j] || math.IsInf(got[j], 0) {
					t.Fatalf("row kernel %s, %s %+v: output %d: %v, want %v", rk, how, g, j, got[j], want[j])
				}
			}
		}
		g.PatchSquares(got, x, scratch, 1)
		check("PatchSquares")
		plane, sums := scratch[:g.H*g.W], scratch[g.H*g.W:]
		g.channelSquares(plane, x, 1)
		g.rowSums(sums, plane, g.H, g.W)
		g.columnSums(got, sums, g.OutW())
		check("rows first")
		g.columnSums(sums, plane, g.W)
		g.rowSums(got, sums, g.OutH(), g.W)
		check("columns first")
		g.windowSquares(got, x)
		check("window")
	}
}

// recordingEpilogue is a GroupEpilogue that maps each raw sum v of image n, group gi to
// 2·v + n + gi/4, counts the finishes per output element and checks the pairing of Begin and
// End and the group input it is given.
type recordingEpilogue struct {
	t       *testing.T
	g       Geometry
	x       []float32
	y       []float32
	touched []atomic.Int32
	mu      sync.Mutex
	open    map[*recordingFinisher]bool
	begins  atomic.Int32
}

type recordingFinisher struct {
	e     *recordingEpilogue
	n, gi int
}

func (e *recordingEpilogue) Begin(n, gi int, xg []float32, threads int) GroupFinisher {
	if threads < 1 {
		e.t.Errorf("Begin(%d, %d): %d threads", n, gi, threads)
	}
	off := n*e.g.InputLen() + gi*e.g.CG()*e.g.H*e.g.W
	if len(xg) != e.g.CG()*e.g.H*e.g.W || &xg[0] != &e.x[off] {
		e.t.Errorf("Begin(%d, %d): got the wrong group input", n, gi)
	}
	f := &recordingFinisher{e: e, n: n, gi: gi}
	e.mu.Lock()
	e.open[f] = true
	e.mu.Unlock()
	e.begins.Add(1)
	return f
}

func (f *recordingFinisher) Finish(c []float32, ldc, i0, j0, rows, cols int) {
	e := f.e
	mg, ohw := e.g.MG(), e.g.OutHW()
	base := f.n*e.g.OutputLen() + f.gi*mg*ohw
	for i := range rows {
		for j := range cols {
			at := base + (i0+i)*ohw + j0 + j
			if &c[i*ldc+j] != &e.y[at] {
				e.t.Fatalf("Finish: block element (%d, %d) is not output %d", i, j, at)
			}
			c[i*ldc+j] = 2*c[i*ldc+j] + float32(f.n) + float32(f.gi)/4
			e.touched[at].Add(1)
		}
	}
}

func (f *recordingFinisher) End() {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	if !f.e.open[f] {
		f.e.t.Errorf("End without Begin or called twice")
	}
	delete(f.e.open, f)
}

// TestGroupEpilogue runs every algorithm with a recording group epilogue: every output is
// finished exactly once by the finisher of its own (image, group), Begin and End pair up, and
// the values are the raw sums transformed.
func TestGroupEpilogue(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for iter := range 150 {
		g := randomGeometry(rng)
		p := newConvProblem(rng, g, 1+rng.IntN(3), false, 0)
		raw, _ := p.reference()
		threads := 1 + iter%3
		for _, algo := range algorithmsFor(g) {
			what := fmt.Sprintf("%v threads=%d batch=%d %+v", algo, threads, p.batch, g)
			y := make([]float32, p.batch*g.OutputLen())
			e := &recordingEpilogue{t: t, g: g, x: p.x, y: y, touched: make([]atomic.Int32, len(y)), open: map[*recordingFinisher]bool{}}
			// The bias must be ignored when a group epilogue is present.
			ep := &Epilogue{Group: e, Bias: randFloats(rng, g.M)}
			NewFilter(g, p.w, algo, rng.IntN(2) == 0).Forward(g, p.x, y, p.batch, ep, threads)
			if len(e.open) != 0 {
				t.Fatalf("%s: %d finishers never ended", what, len(e.open))
			}
			if algo != Direct && int(e.begins.Load()) != p.batch*g.Group {
				t.Fatalf("%s: %d Begins, want one per (image, group) = %d", what, e.begins.Load(), p.batch*g.Group)
			}
			for i := range y {
				if e.touched[i].Load() != 1 {
					t.Fatalf("%s: output %d finished %d times", what, i, e.touched[i].Load())
				}
				n, gi := i/g.OutputLen(), i%g.OutputLen()/(g.MG()*g.OutHW())
				want := 2*raw[i] + float64(n) + float64(gi)/4
				if d := math.Abs(float64(y[i]) - want); d > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%s: output %d = %v, want %v", what, i, y[i], want)
				}
			}
		}
	}
}
