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
		scratch := make([]float64, g.PatchSquaresScratch(8))
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
		threads := 1 + iter%3
		scratch := make([]float64, g.PatchSquaresScratch(threads))
		for i := range scratch {
			scratch[i] = math.NaN() // every value read must have been written
		}
		got := make([]float64, g.OutHW())
		check := func(how string) {
			for j := range want {
				if math.Abs(got[j]-want[j]) > 1e-12*want[j] || math.IsInf(got[j], 0) || math.IsNaN(got[j]) {
					t.Fatalf("row kernel %s, %s %+v: output %d: %v, want %v", rk, how, g, j, got[j], want[j])
				}
			}
		}
		g.PatchSquares(got, x, scratch, threads)
		check("PatchSquares")
		g.separableSquares(got, x, scratch, threads)
		check("separable")
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

// BenchmarkPatchSquares times the patch norms' sums of squares of ResNet-18's stem and strided
// 1×1 layers (the DecoupledConv layers where they weigh most against the product) at 1 and 2
// threads.
func BenchmarkPatchSquares(b *testing.B) {
	for _, g := range []Geometry{
		{C: 3, H: 224, W: 224, M: 64, KH: 7, KW: 7, SH: 2, SW: 2, DH: 1, DW: 1, PadTop: 3, PadLeft: 3, PadBottom: 3, PadRight: 3, Group: 1},
		{C: 64, H: 56, W: 56, M: 128, KH: 1, KW: 1, SH: 2, SW: 2, DH: 1, DW: 1, Group: 1},
		{C: 128, H: 28, W: 28, M: 256, KH: 1, KW: 1, SH: 2, SW: 2, DH: 1, DW: 1, Group: 1},
		{C: 64, H: 56, W: 56, M: 64, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: 1},
	} {
		x := randFloats(rand.New(rand.NewPCG(1, 2)), g.CG()*g.H*g.W)
		scratch := make([]float64, g.PatchSquaresScratch(2))
		dst := make([]float64, g.OutHW())
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%d/%d_%d→%d_%d²/t%d", g.KH, g.KW, g.SH, g.C, g.M, g.H, threads), func(b *testing.B) {
				for b.Loop() {
					g.PatchSquares(dst, x, scratch, threads)
				}
			})
		}
	}
}

// TestShiftedSums checks every row kernel's sums function against the portable one, bit for
// bit, on runs of 0 to 40 values (every block size and tail) with 1 to 9 taps at random
// offsets, and that it writes nothing past the run.
func TestShiftedSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		k := normsKernel()
		for iter := range 500 {
			n := iter % 41
			src := make([]float64, n+64)
			for i := range src {
				src[i] = rng.NormFloat64() * math.Exp(10*rng.NormFloat64())
			}
			offs := make([]int, 1+rng.IntN(9))
			for j := range offs {
				offs[j] = rng.IntN(65)
			}
			want := make([]float64, n)
			shiftedSumsGeneric(&shiftArgs{dst: want, src: src, offs: offs, n: n})
			got := make([]float64, n+1)
			got[n] = 42
			shiftedSums(k, &shiftArgs{dst: got, src: src, offs: offs, n: n})
			for i := range want {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Fatalf("row kernel %s, n=%d offsets %v: sum %d = %v, want %v", rk, n, offs, i, got[i], want[i])
				}
			}
			if got[n] != 42 {
				t.Fatalf("row kernel %s, n=%d: wrote past the run", rk, n)
			}
		}
		restore()
	}
}
