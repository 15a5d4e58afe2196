package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// mulCase is one multiply to check: shapes, layouts, epilogue, threads and the entry point used.
// The same struct drives the shape battery, the feature tests and the benchmarks.
type mulCase struct {
	api              string // "packed" (PackA + Mul), "unpacked" (MulUnpacked) or "sgemm"
	m, n, k          int
	padA, padB, padC int // leading dimension minus row width
	transA, transB   bool
	alpha, beta      float32 // sgemm only
	accumulate       bool
	rowBias, colBias bool
	residual         bool
	act              Activation
	lo, hi           float32
	tile             bool
	threads          int
}

func (tc mulCase) String() string {
	s := fmt.Sprintf("%s/m%d_n%d_k%d/pad%d,%d,%d/tA%v_tB%v/t%d", tc.api, tc.m, tc.n, tc.k,
		tc.padA, tc.padB, tc.padC, tc.transA, tc.transB, tc.threads)
	if tc.api == "sgemm" {
		return s + fmt.Sprintf("/alpha%g_beta%g", tc.alpha, tc.beta)
	}
	return s + fmt.Sprintf("/acc%v_rb%v_cb%v_res%v_act%d_tile%v", tc.accumulate, tc.rowBias, tc.colBias,
		tc.residual, tc.act, tc.tile)
}

// guard is the number of NaN values placed before and after C; the gaps between rows (padC) are
// NaN too. None of them may change.
const guard = 37

// operands holds the inputs of one case, generated from a fixed seed.
type operands struct {
	a, b             []float32
	lda, ldb         int
	cOld             []float32 // the window of C before the call, m x n dense (NaN if never read)
	rowBias, colBias []float32
	res              []float32
	ldRes            int
}

func (tc mulCase) operands(rng *rand.Rand) operands {
	var o operands
	aRows, aCols := tc.m, tc.k
	if tc.transA {
		aRows, aCols = tc.k, tc.m
	}
	o.lda = aCols + tc.padA
	o.a = randSlice(rng, max(0, (aRows-1)*o.lda+aCols))
	bRows, bCols := tc.k, tc.n
	if tc.transB {
		bRows, bCols = tc.n, tc.k
	}
	o.ldb = bCols + tc.padB
	o.b = randSlice(rng, max(0, (bRows-1)*o.ldb+bCols))
	readsC := tc.accumulate || (tc.api == "sgemm" && tc.beta != 0)
	o.cOld = randSlice(rng, tc.m*tc.n)
	if !readsC {
		for i := range o.cOld {
			o.cOld[i] = float32(math.NaN()) // must be overwritten without being read
		}
	}
	if tc.rowBias {
		o.rowBias = randSlice(rng, tc.m)
	}
	if tc.colBias {
		o.colBias = randSlice(rng, tc.n)
	}
	if tc.residual {
		o.ldRes = tc.n + 3
		o.res = randSlice(rng, max(0, (tc.m-1)*o.ldRes+tc.n))
	}
	return o
}

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}

// dense64 returns op(A) as m x k and op(B) transposed as n x k, both in float64, so that the
// reference loop reads both contiguously.
func (o *operands) dense64(tc mulCase) (a, bt []float64) {
	a = make([]float64, tc.m*tc.k)
	bt = make([]float64, tc.n*tc.k)
	for kk := range tc.k {
		for i := range tc.m {
			if tc.transA {
				a[i*tc.k+kk] = float64(o.a[kk*o.lda+i])
			} else {
				a[i*tc.k+kk] = float64(o.a[i*o.lda+kk])
			}
		}
		for j := range tc.n {
			if tc.transB {
				bt[j*tc.k+kk] = float64(o.b[j*o.ldb+kk])
			} else {
				bt[j*tc.k+kk] = float64(o.b[kk*o.ldb+j])
			}
		}
	}
	return a, bt
}

// reference computes the expected C in float64 together with an error bound per element.
//
// The bound follows the standard analysis of a float32 dot product (Higham, Accuracy and Stability,
// §3.1): a length-k sum of products, in any order and with or without fused multiply-adds, is off by
// at most γ_k·Σ|a||b| with γ_k = k·u/(1-k·u) and u = 2^-24. Every further rounding (alpha folded into
// A, beta·C, the additions of C, biases and residual) adds at most u times the magnitude of all
// terms, so |err| <= (k+8)·u·(Σ|alpha·a·b| + |beta·C| + |biases| + |residual|); the factor 2 covers
// 1/(1-k·u) and the rounding of the float64 reference. ReLU and clip are 1-Lipschitz, so the bound
// holds after them too.
func (tc mulCase) reference(o *operands) (want, bound []float64) {
	want = make([]float64, tc.m*tc.n)
	bound = make([]float64, tc.m*tc.n)
	u := math.Ldexp(1, -24)
	a, bt := o.dense64(tc)
	for i := range tc.m {
		for j := range tc.n {
			var sum, mag float64
			bj := bt[j*tc.k : (j+1)*tc.k]
			for kk, x := range a[i*tc.k : (i+1)*tc.k] {
				sum += x * bj[kk]
				mag += math.Abs(x * bj[kk])
			}
			v, vmag := tc.epilogue64(o, i, j, sum, mag)
			want[i*tc.n+j] = v
			bound[i*tc.n+j] = 2*float64(tc.k+8)*u*vmag + 1e-30
		}
	}
	return want, bound
}

// epilogue64 applies alpha/beta or the Epilogue to the exact product sum (magnitude mag).
func (tc mulCase) epilogue64(o *operands, i, j int, sum, mag float64) (v, vmag float64) {
	cOld := float64(o.cOld[i*tc.n+j])
	if tc.api == "sgemm" {
		alpha, beta := float64(tc.alpha), float64(tc.beta)
		v, vmag = alpha*sum, math.Abs(alpha)*mag
		if beta != 0 {
			v += beta * cOld
			vmag += math.Abs(beta * cOld)
		}
		return v, vmag
	}
	v, vmag = sum, mag
	add := func(x float64) { v += x; vmag += math.Abs(x) }
	if tc.accumulate {
		add(cOld)
	}
	if tc.rowBias {
		add(float64(o.rowBias[i]))
	}
	if tc.colBias {
		add(float64(o.colBias[j]))
	}
	if tc.residual {
		add(float64(o.res[i*o.ldRes+j]))
	}
	switch tc.act {
	case ActRelu:
		v = max(v, 0)
	case ActClip:
		v = min(max(v, float64(tc.lo)), float64(tc.hi))
	}
	return v, vmag
}

// tileLog records the Tile callbacks of one call.
type tileLog struct {
	base     []float32 // the whole C buffer, guards included
	ldc, n   int
	count    []atomic.Int32
	snapshot []float32
	errs     []string
	mu       sync.Mutex
}

func (l *tileLog) record(c []float32, ldc, i0, j0, rows, cols int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ldc != l.ldc || rows <= 0 || cols <= 0 || &c[0] != &l.base[guard+i0*l.ldc+j0] {
		l.errs = append(l.errs, fmt.Sprintf("bad tile i0=%d j0=%d rows=%d cols=%d ldc=%d", i0, j0, rows, cols, ldc))
		return
	}
	for r := range rows {
		for cc := range cols {
			idx := (i0+r)*l.n + j0 + cc
			l.count[idx].Add(1)
			l.snapshot[idx] = c[r*ldc+cc]
		}
	}
}

// run performs the case with the active kernel and reports every mismatch through t.
func (tc mulCase) run(t *testing.T, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(tc.m*1000003+tc.n*1009+tc.k)))
	o := tc.operands(rng)
	ldc := tc.n + tc.padC
	cbuf := make([]float32, guard+max(0, (tc.m-1)*ldc+tc.n)+guard)
	for i := range cbuf {
		cbuf[i] = float32(math.NaN())
	}
	for i := range tc.m {
		copy(cbuf[guard+i*ldc:guard+i*ldc+tc.n], o.cOld[i*tc.n:(i+1)*tc.n])
	}
	c := cbuf[guard:]
	var log *tileLog
	ep := &Epilogue{Accumulate: tc.accumulate, RowBias: o.rowBias, ColBias: o.colBias,
		Residual: o.res, LdRes: o.ldRes, Act: tc.act, Min: tc.lo, Max: tc.hi}
	if tc.tile {
		log = &tileLog{base: cbuf, ldc: ldc, n: tc.n, count: make([]atomic.Int32, tc.m*tc.n),
			snapshot: make([]float32, tc.m*tc.n)}
		ep.Tile = log.record
	}
	b := Dense{Data: o.b, Ld: o.ldb, Trans: tc.transB}
	switch tc.api {
	case "packed":
		PackA(tc.m, tc.k, o.a, o.lda, tc.transA).Mul(tc.n, b, c, ldc, ep, tc.threads)
	case "unpacked":
		MulUnpacked(tc.m, tc.n, tc.k, o.a, o.lda, tc.transA, b, c, ldc, ep, tc.threads)
	case "sgemm":
		Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, ldc, tc.threads)
	default:
		t.Fatalf("unknown api %q", tc.api)
	}
	tc.check(t, cbuf, ldc, o, log)
}

func (tc mulCase) check(t *testing.T, cbuf []float32, ldc int, o operands, log *tileLog) {
	t.Helper()
	want, bound := tc.reference(&o)
	inWindow := make([]bool, len(cbuf))
	bad := 0
	for i := range tc.m {
		for j := range tc.n {
			idx := guard + i*ldc + j
			inWindow[idx] = true
			got := float64(cbuf[idx])
			w := want[i*tc.n+j]
			if !(math.Abs(got-w) <= bound[i*tc.n+j]) && bad < 5 {
				bad++
				t.Errorf("%v: C[%d][%d] = %g, want %g ± %.3g", tc, i, j, got, w, bound[i*tc.n+j])
			}
		}
	}
	for idx, v := range cbuf {
		if !inWindow[idx] && !math.IsNaN(float64(v)) {
			t.Fatalf("%v: guard value at buffer offset %d (C offset %d) overwritten with %g", tc, idx, idx-guard, v)
		}
	}
	if log == nil {
		return
	}
	for _, e := range log.errs {
		t.Errorf("%v: %s", tc, e)
	}
	for i := range tc.m {
		for j := range tc.n {
			if n := log.count[i*tc.n+j].Load(); n != 1 {
				t.Fatalf("%v: Tile saw C[%d][%d] %d times, want once", tc, i, j, n)
			}
			if got, fin := log.snapshot[i*tc.n+j], cbuf[guard+i*ldc+j]; got != fin && !(got != got && fin != fin) {
				t.Fatalf("%v: Tile saw C[%d][%d] = %g before it was finished (final %g)", tc, i, j, got, fin)
			}
		}
	}
}

// dims returns sizes that straddle the register tile of k: 1, mr±1, nr±1, nr/2 (the width of the
// half kernel) and a few more.
func dims(k *kernel) []int {
	raw := []int{1, 2, k.mr - 1, k.mr, k.mr + 1, k.nr / 2, k.nr - 1, k.nr, k.nr + 1, k.nr + k.nr/2,
		2*k.nr + k.mr + 1}
	seen := map[int]bool{}
	var out []int
	for _, d := range raw {
		if d > 0 && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// TestShapeBattery crosses sizes around mr, nr and kc on every kernel; each case rotates through the
// entry points, transposes, padding, thread counts and epilogue features.
func TestShapeBattery(t *testing.T) {
	defer withMinTaskWork(1)()
	forEachKernel(func(kn *kernel) {
		t.Run(kn.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			ks := []int{1, 2, 5, kn.kc - 1, kn.kc, kn.kc + 1, 2*kn.kc + 3}
			ds := dims(kn)
			for _, m := range ds {
				for _, n := range ds {
					for _, k := range ks {
						tc := randomCase(rng, m, n, k)
						tc.run(t, uint64(m*n*k))
					}
				}
			}
		})
	})
}

// randomCase picks the non-shape parameters of a case.
func randomCase(rng *rand.Rand, m, n, k int) mulCase {
	tc := mulCase{m: m, n: n, k: k, threads: []int{1, 2, 3, 7}[rng.IntN(4)],
		api:    []string{"packed", "unpacked", "sgemm"}[rng.IntN(3)],
		transA: rng.IntN(2) == 0, transB: rng.IntN(2) == 0,
		padA: rng.IntN(3) * 5, padB: rng.IntN(3) * 3, padC: rng.IntN(3) * 7}
	if tc.api == "sgemm" {
		tc.alpha = []float32{1, -0.75, 2}[rng.IntN(3)]
		tc.beta = []float32{0, 1, 0.5}[rng.IntN(3)]
		return tc
	}
	tc.accumulate = rng.IntN(2) == 0
	tc.rowBias = rng.IntN(2) == 0
	tc.colBias = rng.IntN(2) == 0
	tc.residual = rng.IntN(3) == 0
	tc.act = Activation(rng.IntN(3))
	tc.lo, tc.hi = -0.5, 0.75
	tc.tile = rng.IntN(2) == 0
	return tc
}

// TestBlockEdges covers sizes that straddle the cache blocks mc, kc and nc, where the driver moves
// to a new block of A or B and the epilogue must wait for the last kc block.
func TestBlockEdges(t *testing.T) {
	forEachKernel(func(kn *kernel) {
		t.Run(kn.name, func(t *testing.T) {
			cases := []mulCase{
				{api: "packed", m: kn.mc + 1, n: kn.nr*3 + 1, k: kn.kc + 1, threads: 1},
				{api: "unpacked", m: kn.mc - 1, n: kn.nc + kn.nr + 1, k: 3, threads: 2},
				{api: "packed", m: 2*kn.mc + kn.mr + 1, n: 45, k: 2*kn.kc + 1, threads: 3, transA: true},
				{api: "unpacked", m: 2*kn.mc + 5, n: kn.nc + 1, k: kn.kc + 7, threads: 2, transB: true, padC: 9},
			}
			for i := range cases {
				cases[i].rowBias, cases[i].act, cases[i].tile, cases[i].accumulate = true, ActRelu, true, i%2 == 0
				cases[i].run(t, uint64(i))
			}
		})
	})
}

// TestEpilogueFeatures checks every epilogue feature alone and all together, on every entry point
// that takes an Epilogue and every thread count, on sizes with partial and full tiles.
func TestEpilogueFeatures(t *testing.T) {
	defer withMinTaskWork(1)()
	features := map[string]func(*mulCase){
		"none":       func(*mulCase) {},
		"accumulate": func(c *mulCase) { c.accumulate = true },
		"rowbias":    func(c *mulCase) { c.rowBias = true },
		"colbias":    func(c *mulCase) { c.colBias = true },
		"residual":   func(c *mulCase) { c.residual = true },
		"relu":       func(c *mulCase) { c.act = ActRelu },
		"clip":       func(c *mulCase) { c.act, c.lo, c.hi = ActClip, -0.3, 0.4 },
		"tile":       func(c *mulCase) { c.tile = true },
		"all": func(c *mulCase) {
			c.accumulate, c.rowBias, c.colBias, c.residual, c.tile = true, true, true, true, true
			c.act, c.lo, c.hi = ActClip, -1, 1.5
		},
	}
	forEachKernel(func(kn *kernel) {
		for name, set := range features {
			t.Run(kn.name+"/"+name, func(t *testing.T) {
				for _, api := range []string{"packed", "unpacked"} {
					for _, threads := range []int{1, 2, 3, 7} {
						for _, shape := range [][3]int{{3 * kn.mr, 2 * kn.nr, 40}, {2*kn.mr + 1, 3*kn.nr - 1, kn.kc + 2},
							{2*kn.mr + 1, kn.nr + kn.nr/2, 33}} {
							tc := mulCase{api: api, m: shape[0], n: shape[1], k: shape[2], threads: threads, padC: 2}
							set(&tc)
							tc.run(t, uint64(threads))
						}
					}
				}
			})
		}
	})
}

// TestAlphaBeta covers the BLAS scaling rules, including beta == 0 ignoring NaN in C and
// alpha == 0 or k == 0 skipping the product.
func TestAlphaBeta(t *testing.T) {
	forEachKernel(func(kn *kernel) {
		t.Run(kn.name, func(t *testing.T) {
			for _, alpha := range []float32{1, -0.5, 0} {
				for _, beta := range []float32{0, 1, 2.5} {
					for _, k := range []int{0, 9, kn.kc + 3} {
						tc := mulCase{api: "sgemm", m: kn.mr + 2, n: kn.nr + 3, k: k, alpha: alpha, beta: beta,
							threads: 2, padA: 1, padB: 2, padC: 3, transA: k%2 == 1}
						tc.run(t, 7)
					}
				}
			}
		})
	})
}

// TestZeroK checks that k == 0 yields the epilogue of a zero product, on both entry points.
func TestZeroK(t *testing.T) {
	forEachKernel(func(kn *kernel) {
		for _, api := range []string{"packed", "unpacked"} {
			tc := mulCase{api: api, m: 5, n: 9, k: 0, threads: 2, accumulate: true, rowBias: true,
				colBias: true, residual: true, act: ActRelu, tile: true, padC: 4}
			tc.run(t, 3)
			tc.accumulate, tc.act = false, ActNone
			tc.run(t, 4)
		}
	})
}

// TestEmptyIsNoOp checks that m == 0 or n == 0 touches nothing and calls no Tile.
func TestEmptyIsNoOp(t *testing.T) {
	for _, s := range [][3]int{{0, 5, 3}, {4, 0, 3}, {0, 0, 0}} {
		for _, api := range []string{"packed", "unpacked", "sgemm"} {
			tc := mulCase{api: api, m: s[0], n: s[1], k: s[2], threads: 2, tile: true, alpha: 1, beta: 2}
			tc.run(t, 1)
		}
	}
}

// TestLarge runs a few products big enough for several tasks per thread and several blocks in every
// dimension.
func TestLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large products skipped in -short mode")
	}
	forEachKernel(func(kn *kernel) {
		t.Run(kn.name, func(t *testing.T) {
			mulCase{api: "packed", m: 150, n: 2100, k: 300, threads: 2, rowBias: true, act: ActRelu, tile: true}.run(t, 1)
			mulCase{api: "unpacked", m: 301, n: 77, k: 530, threads: 3, transA: true, colBias: true}.run(t, 2)
			mulCase{api: "sgemm", m: 257, n: 263, k: 269, threads: 7, alpha: 1, beta: 1, transB: true}.run(t, 3)
			mulCase{api: "packed", m: 1000, n: 1, k: 512, threads: 2, rowBias: true}.run(t, 4)
		})
	})
}

// TestNaNPropagates checks that ReLU and clip keep a NaN product NaN on every kernel, as the
// reference max/min formulas in finishTile do.
func TestNaNPropagates(t *testing.T) {
	forEachKernel(func(kn *kernel) {
		for _, act := range []Activation{ActRelu, ActClip} {
			m, n, k := kn.mr, kn.nr, 3
			a := make([]float32, m*k)
			a[0] = float32(math.NaN()) // row 0 of C becomes NaN
			b := make([]float32, k*n)
			c := make([]float32, m*n)
			MulUnpacked(m, n, k, a, k, false, Dense{Data: b, Ld: n}, c, n, &Epilogue{Act: act, Min: -1, Max: 1}, 1)
			for j := range n {
				if !math.IsNaN(float64(c[j])) || c[n+j] != 0 {
					t.Fatalf("%s act %d: row0 %v, row1 %v; want NaN and 0", kn.name, act, c[:n], c[n:2*n])
				}
			}
		}
	})
}

// TestDensePackLayout checks Dense.PackB against the layout documented on BPacker, for both
// storage orders and a partial last panel.
func TestDensePackLayout(t *testing.T) {
	const k, n = 7, 21
	rng := rand.New(rand.NewPCG(5, 6))
	rowMajor := randSlice(rng, k*n)
	colMajor := make([]float32, n*(k+2))
	for kk := range k {
		for j := range n {
			colMajor[j*(k+2)+kk] = rowMajor[kk*n+j]
		}
	}
	for _, d := range []Dense{{Data: rowMajor, Ld: n}, {Data: colMajor, Ld: k + 2, Trans: true}} {
		for _, nr := range []int{4, 16} {
			k0, kc, j0, nc := 2, 4, 3, 17
			dst := make([]float32, ceilDiv(nc, nr)*nr*kc)
			for i := range dst {
				dst[i] = float32(math.NaN())
			}
			d.PackB(dst, k0, kc, j0, nc, nr)
			for p := 0; p*nr < nc; p++ {
				for kk := range kc {
					for jj := range nr {
						want := float32(0)
						if j := p*nr + jj; j < nc {
							want = rowMajor[(k0+kk)*n+j0+j]
						}
						if got := dst[p*kc*nr+kk*nr+jj]; got != want {
							t.Fatalf("trans=%v nr=%d: panel %d [%d][%d] = %g, want %g", d.Trans, nr, p, kk, jj, got, want)
						}
					}
				}
			}
		}
	}
}

// funcPacker is a BPacker written independently of Dense: it reads B through a function.
type funcPacker func(kk, j int) float32

func (f funcPacker) PackB(dst []float32, k0, kc, j0, nc, nr int) {
	for p := 0; p*nr < nc; p++ {
		for kk := range kc {
			for jj := range nr {
				v := float32(0)
				if j := p*nr + jj; j < nc {
					v = f(k0+kk, j0+j)
				}
				dst[p*kc*nr+kk*nr+jj] = v
			}
		}
	}
}

// TestCustomPackerAndSharedPackedA multiplies one PackedA from several goroutines at once with a
// non-Dense BPacker, and checks that a PackedA keeps working after the active kernel changes.
func TestCustomPackerAndSharedPackedA(t *testing.T) {
	const m, n, k = 37, 53, 300
	rng := rand.New(rand.NewPCG(8, 9))
	a := randSlice(rng, m*k)
	b := randSlice(rng, k*n)
	tc := mulCase{api: "packed", m: m, n: n, k: k}
	o := operands{a: a, b: b, lda: k, ldb: n, cOld: make([]float32, m*n)}
	for _, kn := range usableKernels() {
		prev := active.Swap(kn)
		pa := PackA(m, k, a, k, false)
		active.Store(tableGeneric) // PackedA must keep using kn
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Go(func() {
				c := make([]float32, guard+m*n+guard)
				for i := range c {
					c[i] = float32(math.NaN())
				}
				pa.Mul(n, funcPacker(func(kk, j int) float32 { return b[kk*n+j] }), c[guard:], n, nil, g+1)
				tc.check(t, c, n, o, nil)
			})
		}
		wg.Wait()
		active.Store(prev)
	}
}

// TestUseKernel checks the test hook: every listed kernel can be selected and restored, and an
// unknown name is an error.
func TestUseKernel(t *testing.T) {
	before := KernelName()
	for _, name := range append(Kernels(), "generic") {
		restore, err := UseKernel(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := KernelName(); name != "generic" && got != name {
			t.Errorf("after UseKernel(%q) KernelName() = %q", name, got)
		}
		restore()
		if got := KernelName(); got != before {
			t.Errorf("restore left %q, want %q", got, before)
		}
	}
	if _, err := UseKernel("no-such-kernel"); err == nil {
		t.Error("UseKernel of an unknown name succeeded")
	}
}

// TestDefaultKernel checks the start-up choice: fastest usable kernel by default, the portable one
// when DCNET_GEMM=generic, and unknown settings ignored.
func TestDefaultKernel(t *testing.T) {
	ks := usableKernels()
	if got := defaultKernel(""); got != ks[len(ks)-1] {
		t.Errorf("default kernel %q, want %q", got.name, ks[len(ks)-1].name)
	}
	if got := defaultKernel("generic"); got != tableGeneric {
		t.Errorf("DCNET_GEMM=generic chose %q", got.name)
	}
	if got := defaultKernel("bogus"); got != ks[len(ks)-1] {
		t.Errorf("DCNET_GEMM=bogus chose %q", got.name)
	}
}

// TestEnvForcesGeneric runs this test binary again with DCNET_GEMM=generic and checks, inside the
// child, that package initialisation picked the portable kernel.
func TestEnvForcesGeneric(t *testing.T) {
	if want := os.Getenv("DCNET_GEMM_TEST_WANT"); want != "" {
		if got := KernelName(); got != want {
			t.Fatalf("with DCNET_GEMM=%q the kernel is %q, want %q", os.Getenv("DCNET_GEMM"), got, want)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEnvForcesGeneric$", "-test.v")
	cmd.Env = append(os.Environ(), "DCNET_GEMM=generic", "DCNET_GEMM_TEST_WANT="+tableGeneric.name)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEnvForcesGeneric") {
		t.Fatalf("child run failed: %v\n%s", err, out)
	}
}

// TestSplitIsAGrid checks the task split: it never asks for more bands than there are panels, and
// it uses more than one task when there is enough work for several threads.
func TestSplitIsAGrid(t *testing.T) {
	kn := activeKernel()
	for _, s := range [][3]int{{64, 112 * 112, 147}, {512, 49, 4608}, {1000, 1, 512}, {32, 28 * 28, 288},
		{128, 7 * 7, 1152}, {2048, 2048, 2048}, {3, 3, 3}} {
		for _, threads := range []int{1, 2, 3, 7} {
			for _, packed := range []bool{false, true} {
				p := problem{kern: kn, m: s[0], n: s[1], k: s[2]}
				if packed {
					p.a.packed = &PackedA{}
				}
				tm, tn, workers := p.split(threads)
				if tm < 1 || tn < 1 || tm > ceilDiv(p.m, kn.mr) || tn > ceilDiv(p.n, kn.nr) {
					t.Errorf("%v threads=%d: split %d x %d", s, threads, tm, tn)
				}
				if big := s[0]*s[1]*s[2] >= 1<<24; big && threads > 1 && tm*tn < 2 {
					t.Errorf("%v threads=%d: one task for a big product", s, threads)
				}
				if workers > max(threads, 1) {
					t.Errorf("%v threads=%d: %d workers", s, threads, workers)
				}
				if threads == 1 && tm*tn != 1 {
					t.Errorf("%v: one thread split into %d x %d", s, tm, tn)
				}
			}
		}
	}
}

// TestPackRows16 checks the 16-wide row packer (assembly on amd64) against its defining loop for
// row counts around its 8-row blocking and several panel counts and strides.
func TestPackRows16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kc := range []int{1, 7, 8, 9, 16, 17} {
		for _, panels := range []int{1, 3, 16} {
			ld := panels*16 + 5
			src := randSlice(rng, (kc-1)*ld+panels*16)
			dst := make([]float32, panels*kc*16+8)
			for i := range dst {
				dst[i] = float32(math.NaN())
			}
			packRows16(dst, src, ld, kc, panels)
			for kk := range kc {
				for p := range panels {
					for j := range 16 {
						if got, want := dst[p*kc*16+kk*16+j], src[kk*ld+p*16+j]; got != want {
							t.Fatalf("kc=%d panels=%d: [%d][%d][%d] = %g, want %g", kc, panels, p, kk, j, got, want)
						}
					}
				}
			}
			for _, v := range dst[panels*kc*16:] {
				if !math.IsNaN(float64(v)) {
					t.Fatalf("kc=%d panels=%d: wrote past the panels", kc, panels)
				}
			}
		}
	}
}

// TestKernelTable checks the invariants the driver relies on for every kernel of the table.
func TestKernelTable(t *testing.T) {
	for _, k := range append([]*kernel{tableGeneric}, archKernels...) {
		if k.mr <= 0 || k.nr <= 0 || k.mr*k.nr > maxTile || k.kc <= 0 || k.mc%k.mr != 0 || k.nc%k.nr != 0 {
			t.Errorf("%s: bad geometry mr=%d nr=%d mc=%d kc=%d nc=%d", k.name, k.mr, k.nr, k.mc, k.kc, k.nc)
		}
	}
}

// TestBlockSizes checks the balanced block depths and heights.
func TestBlockSizes(t *testing.T) {
	for _, c := range []struct{ k, kc, want int }{{1, 256, 1}, {256, 256, 256}, {257, 256, 129}, {300, 256, 150},
		{576, 256, 192}, {4608, 256, 256}, {0, 256, 256}} {
		if got := blockDepth(c.k, c.kc); got != c.want {
			t.Errorf("blockDepth(%d, %d) = %d, want %d", c.k, c.kc, got, c.want)
		}
	}
	for _, c := range []struct{ rows, mc, mr, want int }{{64, 144, 6, 66}, {150, 144, 6, 78}, {288, 144, 6, 144},
		{1, 144, 6, 6}, {2048, 144, 6, 138}} {
		if got := blockRows(c.rows, c.mc, c.mr); got != c.want {
			t.Errorf("blockRows(%d, %d, %d) = %d, want %d", c.rows, c.mc, c.mr, got, c.want)
		}
	}
}

// TestPack16MatchesGeneric checks the vector transposing pack of full 16-row panels against the
// value-by-value pack, for depths around the 16-column blocks and row strides beyond the depth.
func TestPack16MatchesGeneric(t *testing.T) {
	if !transpose16Vec {
		t.Skip("no vector transpose on this CPU")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, kcb := range []int{16, 17, 31, 32, 47, 100, 256} {
		ld := kcb + rng.IntN(9)
		data := make([]float32, 40*ld)
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		src := aSource{data: data, ld: ld, alpha: 1}
		k0 := ld - kcb
		got := make([]float32, 2*16*kcb)
		src.pack(got, 16, 3, 32, k0, kcb)
		transpose16Vec = false
		want := make([]float32, len(got))
		src.pack(want, 16, 3, 32, k0, kcb)
		transpose16Vec = true
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("kcb=%d ld=%d: panel value %d = %v, want %v", kcb, ld, i, got[i], want[i])
			}
		}
	}
}

// TestTranspose16 checks Transpose16 (the vector kernel where the CPU has one, and the portable
// loop) against its definition for the layouts its callers use: contiguous panels from strided rows (A panels,
// depthwise blocks in) and strided rows from contiguous pixels (depthwise blocks out).
func TestTranspose16(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, c := range []struct{ ldDst, ldSrc, dstStep, srcStep, blocks int }{
		{16, 37, 256, 16, 3}, {16, 16, 256, 16, 1}, {200, 16, 16, 256, 4}, {19, 23, 400, 500, 2}, {16, 300, 256, 16, 0},
	} {
		src := make([]float32, max(0, (c.blocks-1)*c.srcStep+15*c.ldSrc+16))
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		n := max(0, (c.blocks-1)*c.dstStep+15*c.ldDst+16)
		saved := transpose16Vec
		for _, vec := range []bool{saved, false} {
			transpose16Vec = vec
			got := make([]float32, n)
			Transpose16(got, src, c.ldDst, c.ldSrc, c.dstStep, c.srcStep, c.blocks)
			for b := range c.blocks {
				for i := range 16 {
					for j := range 16 {
						if d, s := got[b*c.dstStep+j*c.ldDst+i], src[b*c.srcStep+i*c.ldSrc+j]; d != s {
							t.Fatalf("%+v vector %v: block %d (%d, %d): %v, want %v", c, vec, b, i, j, d, s)
						}
					}
				}
			}
		}
		transpose16Vec = saved
	}
}

// TestWideKernelMatchesMicro checks every kernel's wide tile against two calls of its micro
// kernel, one per panel, bit for bit: each flag alone and all together, every last-tile height
// (both passes of a 16-row tile, one pass, a partial pass), one to three tiles, depths around
// the unrolled loop's four steps, with NaNs in the operands.
func TestWideKernelMatchesMicro(t *testing.T) {
	for _, kn := range usableKernels() {
		if kn.wide == nil {
			continue
		}
		t.Run(kn.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			flagSets := []int{0, flagLoadC, flagRowBias, flagColBias, flagResidual, flagRelu, flagClip,
				flagLoadC | flagRowBias | flagColBias | flagResidual | flagClip}
			for _, kc := range []int{1, 3, 4, 7, 33} {
				for tiles := 1; tiles <= 3; tiles++ {
					for lastRows := 1; lastRows <= kn.mr; lastRows++ {
						for _, flags := range flagSets {
							checkWideTile(t, kn, rng, kc, tiles, lastRows, flags)
						}
					}
				}
			}
		})
	}
}

func checkWideTile(t *testing.T, kn *kernel, rng *rand.Rand, kc, tiles, lastRows, flags int) {
	t.Helper()
	mr, nr := kn.mr, kn.nr
	rows := tiles * mr
	ldc, ldRes := 2*nr+3, 2*nr+5
	a, b := randSlice(rng, rows*kc), randSlice(rng, 2*nr*kc)
	a[rng.IntN(len(a))] = float32(math.NaN())
	rowBias, colBias := randSlice(rng, rows), randSlice(rng, 2*nr)
	res, c0 := randSlice(rng, rows*ldRes), randSlice(rng, rows*ldc)
	args := func(c []float32, j int, bp []float32) *microArgs {
		return &microArgs{a: a, b: bp, c: c[j:], ldc: ldc, kc: kc, tiles: tiles, lastRows: lastRows,
			flags: flags, rowBias: rowBias, colBias: colBias[j:], res: res[j:], ldRes: ldRes, min: -0.5, max: 0.75}
	}
	want, got := slices.Clone(c0), slices.Clone(c0)
	kn.micro(args(want, 0, b[:nr*kc]))
	kn.micro(args(want, nr, b[nr*kc:]))
	kn.wide(args(got, 0, b))
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("kc=%d tiles=%d lastRows=%d flags=%#x: C[%d][%d] = %v, want %v (bit for bit)",
				kc, tiles, lastRows, flags, i/ldc, i%ldc, got[i], want[i])
		}
	}
}

// TestNarrowKernelMatchesMicro checks every kernel's narrow columns against its micro kernel's
// full tiles, bit for bit: one to five tiles (pairs and a lone last tile), depths around the
// unrolled loop's two steps.
func TestNarrowKernelMatchesMicro(t *testing.T) {
	for _, kn := range usableKernels() {
		if kn.narrow == nil {
			continue
		}
		t.Run(kn.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			mr, nr := kn.mr, kn.nr
			for _, kc := range []int{1, 2, 3, 33, 256} {
				for tiles := 1; tiles <= 5; tiles++ {
					a, b := randSlice(rng, tiles*mr*kc), randSlice(rng, nr*kc)
					want := make([]float32, tiles*mr*nr)
					kn.micro(&microArgs{a: a, b: b, c: want, ldc: nr, kc: kc, tiles: tiles, lastRows: mr})
					got := make([]float32, tiles*narrowCols*mr)
					kn.narrow(&narrowArgs{a: a, b: b, out: got, kc: kc, tiles: tiles})
					for tt := range tiles {
						for r := range mr {
							for j := range narrowCols {
								g, w := got[(tt*narrowCols+j)*mr+r], want[(tt*mr+r)*nr+j]
								if math.Float32bits(g) != math.Float32bits(w) {
									t.Fatalf("kc=%d tiles=%d: tile %d C[%d][%d] = %v, want %v (bit for bit)", kc, tiles, tt, r, j, g, w)
								}
							}
						}
					}
				}
			}
		})
	}
}

// taskPacker is a TaskPacker that records its tasks: ForTask hands out a packer that refuses
// columns outside the task's range, and release must come once per task.
type taskPacker struct {
	f                 funcPacker
	mu                sync.Mutex
	tasks, released   int
	covered           []int // tasks whose ranges contain each column
	outside, unpacked bool
}

func (p *taskPacker) PackB(dst []float32, k0, kc, j0, nc, nr int) { p.unpacked = true }

func (p *taskPacker) ForTask(j0, j1 int) (BPacker, func()) {
	p.mu.Lock()
	p.tasks++
	for j := j0; j < j1; j++ {
		p.covered[j]++
	}
	p.mu.Unlock()
	inner := funcPacker(func(kk, j int) float32 {
		if j < j0 || j >= j1 {
			p.mu.Lock()
			p.outside = true
			p.mu.Unlock()
		}
		return p.f(kk, j)
	})
	return inner, func() { p.mu.Lock(); p.released++; p.mu.Unlock() }
}

// TestTaskPacker checks the TaskPacker contract on split products: every task packs through its
// own packer, only its own columns, and releases it; the columns of a column band belong to
// one task, and the result is the product's.
func TestTaskPacker(t *testing.T) {
	defer withMinTaskWork(1)()
	rng := rand.New(rand.NewPCG(10, 11))
	for _, shape := range [][3]int{{37, 53, 300}, {512, 49, 64}, {16, 289, 40}} {
		m, n, k := shape[0], shape[1], shape[2]
		a, b := randSlice(rng, m*k), randSlice(rng, k*n)
		tc := mulCase{api: "packed", m: m, n: n, k: k}
		o := operands{a: a, b: b, lda: k, ldb: n, cOld: make([]float32, m*n)}
		forEachKernel(func(kn *kernel) {
			for threads := 1; threads <= 4; threads++ {
				tp := &taskPacker{f: func(kk, j int) float32 { return b[kk*n+j] }, covered: make([]int, n)}
				c := make([]float32, guard+m*n+guard)
				for i := range c {
					c[i] = float32(math.NaN())
				}
				MulUnpacked(m, n, k, a, k, false, tp, c[guard:], n, nil, threads)
				tc.check(t, c, n, o, nil)
				if tp.unpacked || tp.outside || tp.tasks == 0 || tp.released != tp.tasks {
					t.Fatalf("%s %v threads %d: packed outside a task %v/%v, %d tasks, %d released",
						kn.name, shape, threads, tp.unpacked, tp.outside, tp.tasks, tp.released)
				}
				for j, c := range tp.covered {
					if c == 0 || tp.tasks%c != 0 {
						t.Fatalf("%s %v threads %d: column %d in %d of %d tasks", kn.name, shape, threads, j, c, tp.tasks)
					}
				}
			}
		})
	}
}
