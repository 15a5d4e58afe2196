package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/dcnet-go/dcnet/internal/gemm"
)

// The transform matrices of F(2×2, 3×3), for the float64 references.
var (
	winoBT = [4][4]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}
	winoG  = [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	winoAT = [2][4]float64{{1, 1, 1, 0}, {0, 1, -1, -1}}
)

// winogradBound is, for each output of p, a bound on the error of any float32 evaluation of
// F(2×2, 3×3) as winograd.go orders it: the input transform rounds twice (|δV| ≤ γ₂·|Bᵀ||d||B|),
// the filter transform once (float64, then rounded), the products sum C terms, the output
// transform rounds four times, then the bias and the residual are added. Composing the relative
// errors ((1+θ_a)(1+θ_b) = 1+θ_{a+b}, Higham §3.4), every output differs from the exact sum by at
// most γ_{C+9}·(|Aᵀ| (Σ_c |U_c| ⊙ |Bᵀ||d_c||B|) |A| + |bias| + |residual|).
func (p *convProblem) winogradBound() []float64 {
	g := p.g
	oh, ow := g.OutH(), g.OutW()
	u := make([][16]float64, g.M*g.C) // |U| per (m, c)
	for i := range u {
		var w [3][3]float64
		for r := range 3 {
			for q := range 3 {
				w[r][q] = float64(p.w[i*9+3*r+q])
			}
		}
		for a := range 4 {
			for b := range 4 {
				var s float64
				for r := range 3 {
					for q := range 3 {
						s += winoG[a][r] * w[r][q] * winoG[b][q]
					}
				}
				u[i][4*a+b] = math.Abs(s)
			}
		}
	}
	n := float64(g.C + 9)
	gamma := n * 0x1p-24 / (1 - n*0x1p-24)
	bound := make([]float64, p.batch*g.OutputLen())
	for img := range p.batch {
		for ty := range (oh + 1) / 2 {
			for tx := range (ow + 1) / 2 {
				vAbs := make([][16]float64, g.C) // |Bᵀ||d||B| per channel
				for c := range g.C {
					var d [4][4]float64
					for r := range 4 {
						for q := range 4 {
							iy, ix := 2*ty-g.PadTop+r, 2*tx-g.PadLeft+q
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								d[r][q] = math.Abs(float64(p.x[((img*g.C+c)*g.H+iy)*g.W+ix]))
							}
						}
					}
					for a := range 4 {
						for b := range 4 {
							var s float64
							for r := range 4 {
								for q := range 4 {
									s += math.Abs(winoBT[a][r]) * d[r][q] * math.Abs(winoBT[b][q])
								}
							}
							vAbs[c][4*a+b] = s
						}
					}
				}
				for m := range g.M {
					var x [16]float64
					for c := range g.C {
						for xi := range 16 {
							x[xi] += u[m*g.C+c][xi] * vAbs[c][xi]
						}
					}
					for a := range 2 {
						for b := range 2 {
							oy, ox := 2*ty+a, 2*tx+b
							if oy >= oh || ox >= ow {
								continue
							}
							var s float64
							for i := range 4 {
								for j := range 4 {
									s += math.Abs(winoAT[a][i]) * x[4*i+j] * math.Abs(winoAT[b][j])
								}
							}
							at := ((img*g.M+m)*oh+oy)*ow + ox
							if p.ep.Bias != nil {
								s += math.Abs(float64(p.ep.Bias[m]))
							}
							if p.ep.Residual != nil {
								s += math.Abs(float64(p.ep.Residual[at]))
							}
							bound[at] = gamma * s
						}
					}
				}
			}
		}
	}
	return bound
}

// allTilesWinograd makes Forward run Winograd filters as Winograd at every image size for the
// rest of the test.
func allTilesWinograd(t *testing.T) {
	prev := winoMinTiles
	winoMinTiles = 1
	t.Cleanup(func() { winoMinTiles = prev })
}

// checkWith compares y, computed by algo, with the reference under that algorithm's error
// bound.
func (p *convProblem) checkWith(t *testing.T, algo Algorithm, threads int, y []float32, what string) {
	t.Helper()
	if algo != Winograd || !newWinoPlan(p.g, p.batch, threads).pays() {
		p.check(t, y, what)
		return
	}
	want, _ := p.reference()
	bound := p.winogradBound()
	for i, w := range want {
		if d := math.Abs(float64(y[i]) - w); d > bound[i] || math.IsNaN(float64(y[i])) {
			t.Fatalf("%s: output %d = %v, want %v (|diff| %.3g > bound %.3g)", what, i, y[i], w, d, bound[i])
		}
	}
}

// randomWinogradGeometry draws a 3×3 unit-stride geometry: narrow and wide rows (several
// 16-tile segments), odd sizes (partial tiles), pads from none to wider than the window.
func randomWinogradGeometry(rng *rand.Rand) Geometry {
	for {
		g := Geometry{C: 1 + rng.IntN(40), M: 1 + rng.IntN(40), KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Group: 1,
			H: 1 + rng.IntN(20), W: 1 + rng.IntN(80)}
		g.PadTop, g.PadBottom, g.PadLeft, g.PadRight = rng.IntN(4), rng.IntN(4), rng.IntN(4), rng.IntN(4)
		if rng.IntN(3) == 0 {
			g.PadTop, g.PadBottom, g.PadLeft, g.PadRight = 1, 1, 1, 1
		}
		if g.Validate() == nil {
			return g
		}
	}
}

// TestWinogradForward runs F(2×2, 3×3) on every row kernel against the float64 definition,
// with every epilogue, 1 to 3 images and threads.
func TestWinogradForward(t *testing.T) {
	allTilesWinograd(t)
	rng := rand.New(rand.NewPCG(21, 22))
	acts := []gemm.Activation{gemm.ActNone, gemm.ActRelu, gemm.ActClip}
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		for iter := range 120 {
			g := randomWinogradGeometry(rng)
			p := newConvProblem(rng, g, 1+rng.IntN(3), rng.IntN(3) > 0, acts[rng.IntN(3)])
			if rng.IntN(2) == 0 {
				p.ep.Residual = randFloats(rng, p.batch*g.OutputLen())
			}
			threads := 1 + iter%3
			y := p.runForward(t, Winograd, true, threads)
			p.checkWith(t, Winograd, threads, y, fmt.Sprintf("row kernel %s, threads=%d batch=%d %+v act=%v residual=%v",
				rk, threads, p.batch, g, p.ep.Act, p.ep.Residual != nil))
		}
		restore()
	}
}

// TestWinogradBlocks covers images that split into several blocks (more tile rows than fit the
// block budget), blocks of several small images, and blocks spread over threads (fewer images
// than threads).
func TestWinogradBlocks(t *testing.T) {
	allTilesWinograd(t)
	rng := rand.New(rand.NewPCG(23, 24))
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		for _, c := range []struct {
			g              Geometry
			batch, threads int
		}{
			{square(64, 57, 64, 3, 1, 1, 1), 1, 2},
			{square(96, 40, 80, 3, 1, 1, 1), 2, 1},
			{square(16, 9, 24, 3, 1, 0, 1), 1, 3},
			{square(32, 7, 24, 3, 1, 1, 1), 9, 2},
			{square(20, 10, 17, 3, 1, 1, 1), 7, 1},
		} {
			p := newConvProblem(rng, c.g, c.batch, true, gemm.ActRelu)
			p.ep.Residual = randFloats(rng, c.batch*c.g.OutputLen())
			plan := newWinoPlan(c.g, c.batch, c.threads)
			if plan.rowBlocks < 2 && plan.images < 2 && c.batch >= c.threads {
				t.Fatalf("%+v: one block per image on its own goroutine: the test wants several blocks per image, images per block or threads per block", c.g)
			}
			y := p.runForward(t, Winograd, true, c.threads)
			p.checkWith(t, Winograd, c.threads, y, fmt.Sprintf("row kernel %s, %d blocks, threads=%d %+v", rk, plan.rowBlocks, c.threads, c.g))
		}
		restore()
	}
}

// TestWinogradGroupEpilogue checks that every output is finished exactly once, by its image's
// finisher, with the raw sums.
func TestWinogradGroupEpilogue(t *testing.T) {
	allTilesWinograd(t)
	rng := rand.New(rand.NewPCG(25, 26))
	for iter := range 40 {
		g := randomWinogradGeometry(rng)
		batch := 1 + rng.IntN(3)
		switch iter {
		case 0:
			g = square(64, 57, 64, 3, 1, 1, 1) // several blocks per image
		case 1, 2:
			g, batch = square(24, 7, 20, 3, 1, 1, 1), 9 // several images per block
		}
		p := newConvProblem(rng, g, batch, false, 0)
		raw, _ := p.reference()
		bound := p.winogradBound()
		y := make([]float32, p.batch*g.OutputLen())
		e := &recordingEpilogue{t: t, g: g, x: p.x, y: y, touched: make([]atomic.Int32, len(y)), open: map[*recordingFinisher]bool{}}
		ep := &Epilogue{Group: e, Bias: randFloats(rng, g.M), Act: gemm.ActRelu}
		threads := 1 + iter%3
		NewFilter(g, p.w, Winograd, true).Forward(g, p.x, y, p.batch, ep, threads)
		what := fmt.Sprintf("threads=%d batch=%d %+v", threads, p.batch, g)
		if len(e.open) != 0 || int(e.begins.Load()) != p.batch {
			t.Fatalf("%s: %d Begins for %d images, %d finishers not ended", what, e.begins.Load(), p.batch, len(e.open))
		}
		for i := range y {
			if e.touched[i].Load() != 1 {
				t.Fatalf("%s: output %d finished %d times", what, i, e.touched[i].Load())
			}
			want := 2*raw[i] + float64(i/g.OutputLen())
			if d := math.Abs(float64(y[i]) - want); d > 2*bound[i] {
				t.Fatalf("%s: output %d = %v, want %v (no bias, no activation)", what, i, y[i], want)
			}
		}
	}
}

// vectorWinograd returns the row kernel with the vector Winograd transforms, or skips the test.
func vectorWinograd(t *testing.T) *rowKernel {
	t.Helper()
	for _, k := range archRowKernels {
		if k.winograd && k.usable() {
			return k
		}
	}
	t.Skip("no vector Winograd transforms on this machine")
	return nil
}

// TestWinogradKernels compares the vector transforms with the portable ones on random
// arguments: they perform the same float32 operations in the same order, so they must agree
// bit for bit, and write nothing outside their outputs.
func TestWinogradKernels(t *testing.T) {
	vec := vectorWinograd(t)
	rng := rand.New(rand.NewPCG(27, 28))
	for range 200 {
		segs, chans := 1+rng.IntN(3), 1+rng.IntN(5)
		w := 1 + rng.IntN(32*segs+4)
		h := 1 + rng.IntN(6)
		plane := h*w + rng.IntN(5)
		dstRow := 16*segs + rng.IntN(7)
		xi := chans*dstRow + rng.IntN(3)
		col0 := -rng.IntN(4)
		in := &winoInArgs{src: randFloats(rng, chans*plane), masks: winoColumnMasks(col0, w, segs), col0: col0, w: w,
			plane: plane, dstRow: dstRow, xiStride: xi, chans: chans, segs: segs}
		for r := range in.rows {
			in.rows[r] = -1
			if ih := rng.IntN(h+2) - 1; ih >= 0 && ih < h {
				in.rows[r] = ih * w
			}
		}
		in2 := *in
		in.dst, in2.dst = make([]float32, 16*xi+5), make([]float32, 16*xi+5)
		winoIn(vec, in)
		winoIn(genericRowKernel, &in2)
		for i := range in.dst {
			if math.Float32bits(in.dst[i]) != math.Float32bits(in2.dst[i]) {
				t.Fatalf("input transform rows=%v col0=%d w=%d segs=%d chans=%d: value %d = %v, portable %v",
					in.rows, col0, w, segs, chans, i, in.dst[i], in2.dst[i])
			}
		}

		cols := 32*(segs-1) + 1 + rng.IntN(32)
		ldOut := cols + rng.IntN(4)
		rows := 1 + rng.IntN(2)
		dstPlane := 2*ldOut + rng.IntN(3)
		out := &winoOutArgs{src: randFloats(rng, 16*xi+16), srcRow: dstRow, xiStride: xi, dstPlane: dstPlane, ld: ldOut,
			chans: chans, segs: segs, cols: cols, rows: rows, lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
		if rng.IntN(2) == 0 {
			out.bias = randFloats(rng, chans)
		}
		if rng.IntN(2) == 0 {
			out.res = randFloats(rng, chans*dstPlane)
		}
		if rng.IntN(2) == 0 {
			out.lo, out.hi = -0.5, 0.75
		}
		out2 := *out
		out.dst, out2.dst = randFloats(rng, chans*dstPlane), nil
		out2.dst = append(out2.dst, out.dst...)
		winoOut(vec, out)
		winoOut(genericRowKernel, &out2)
		for i := range out.dst {
			if math.Float32bits(out.dst[i]) != math.Float32bits(out2.dst[i]) {
				t.Fatalf("output transform segs=%d chans=%d cols=%d rows=%d ld=%d bias=%v res=%v: value %d = %v, portable %v",
					segs, chans, cols, rows, ldOut, out.bias != nil, out.res != nil, i, out.dst[i], out2.dst[i])
			}
		}
	}
}

// TestWinogradGradKernel compares the vector output-gradient transform with the portable one:
// the same operations in the same order, so the same bits.
func TestWinogradGradKernel(t *testing.T) {
	vec := vectorWinograd(t)
	rng := rand.New(rand.NewPCG(33, 34))
	for range 200 {
		segs, chans := 1+rng.IntN(3), 1+rng.IntN(5)
		ld := 32*segs + rng.IntN(3)
		plane := 2*ld + rng.IntN(5)
		dstRow := 16*segs + rng.IntN(7)
		xi := chans*dstRow + rng.IntN(3)
		a := &winoGradArgs{src: randFloats(rng, chans*plane), ld: ld, srcPlane: plane, dstRow: dstRow, xiStride: xi,
			chans: chans, segs: segs}
		if rng.IntN(4) == 0 {
			for i := range a.src {
				a.src[i] = 0 // signed zeros: 0 − (+0) must stay +0 on both
			}
		}
		b := *a
		a.dst, b.dst = make([]float32, 16*xi+5), make([]float32, 16*xi+5)
		winoGradIn(vec, a)
		winoGradIn(genericRowKernel, &b)
		for i := range a.dst {
			if math.Float32bits(a.dst[i]) != math.Float32bits(b.dst[i]) {
				t.Fatalf("gradient transform segs=%d chans=%d: value %d = %v, portable %v", segs, chans, i, a.dst[i], b.dst[i])
			}
		}
	}
}

// filterGradientReference is dW [M, C, 3, 3] of p's convolution given dy, in float64, with the
// magnitude bound of winogradFilterGradient's error: Ŷ and V round twice each, the products and
// the running sums over a worker's tiles round once per tile, the float64 transform Gᵀ dU G and
// the sums over workers are exact to far below that, and the result rounds once to float32:
// |dW − exact| ≤ γ_{tiles+5}·(Gᵀ (Σ_t |Ŷ_t| ⊙ |V_t|) G) with absolute values of G.
func (p *convProblem) filterGradientReference(dy []float32) (dw, bound []float64) {
	g := p.g
	oh, ow := g.OutH(), g.OutW()
	th, tw := (oh+1)/2, (ow+1)/2
	dw = make([]float64, g.FilterLen())
	mag := make([][16]float64, g.M*g.C)
	for n := range p.batch {
		for m := range g.M {
			for c := range g.C {
				for kh := range 3 {
					for kw := range 3 {
						for oy := range oh {
							for ox := range ow {
								iy, ix := oy+kh-g.PadTop, ox+kw-g.PadLeft
								if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
									dw[(m*g.C+c)*9+kh*3+kw] += float64(dy[((n*g.M+m)*oh+oy)*ow+ox]) * float64(p.x[((n*g.C+c)*g.H+iy)*g.W+ix])
								}
							}
						}
					}
				}
			}
		}
		for ty := range th {
			for tx := range tw {
				var yh [][16]float64
				for m := range g.M {
					var e [2][2]float64
					for a := range 2 {
						for b := range 2 {
							if oy, ox := 2*ty+a, 2*tx+b; oy < oh && ox < ow {
								e[a][b] = math.Abs(float64(dy[((n*g.M+m)*oh+oy)*ow+ox]))
							}
						}
					}
					var v [16]float64
					for i := range 4 {
						for j := range 4 {
							for a := range 2 {
								for b := range 2 {
									v[4*i+j] += math.Abs(winoAT[a][i]) * e[a][b] * math.Abs(winoAT[b][j])
								}
							}
						}
					}
					yh = append(yh, v)
				}
				for c := range g.C {
					var d [4][4]float64
					for r := range 4 {
						for q := range 4 {
							iy, ix := 2*ty-g.PadTop+r, 2*tx-g.PadLeft+q
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								d[r][q] = math.Abs(float64(p.x[((n*g.C+c)*g.H+iy)*g.W+ix]))
							}
						}
					}
					var v [16]float64
					for i := range 4 {
						for j := range 4 {
							for r := range 4 {
								for q := range 4 {
									v[4*i+j] += math.Abs(winoBT[i][r]) * d[r][q] * math.Abs(winoBT[j][q])
								}
							}
						}
					}
					for m := range g.M {
						for xi := range 16 {
							mag[m*g.C+c][xi] += yh[m][xi] * v[xi]
						}
					}
				}
			}
		}
	}
	n := float64(p.batch*th*tw + 5)
	gamma := n * 0x1p-24 / (1 - n*0x1p-24)
	bound = make([]float64, len(dw))
	for mc, u := range mag {
		for r := range 3 {
			for q := range 3 {
				var s float64
				for i := range 4 {
					for j := range 4 {
						s += math.Abs(winoG[i][r]) * u[4*i+j] * math.Abs(winoG[j][q])
					}
				}
				bound[mc*9+3*r+q] = gamma*s + 0x1p-24*math.Abs(dw[mc*9+3*r+q])
			}
		}
	}
	return dw, bound
}

// TestWinogradFilterGradient checks the filter gradient of F(2×2, 3×3) against the float64
// definition on every row kernel, with 1 to 3 threads, and that it is the same bit for bit for
// a given thread count.
func TestWinogradFilterGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	for _, rk := range RowKernels() {
		restore, _ := UseRowKernel(rk)
		for iter := range 25 {
			g := randomWinogradGeometry(rng)
			g.C, g.M = 1+rng.IntN(24), 1+rng.IntN(24)
			if iter == 0 {
				g = square(24, 40, 20, 3, 1, 1, 1) // several blocks per image
			}
			batch := 1 + rng.IntN(5)
			p := newConvProblem(rng, g, batch, false, 0)
			dy := randFloats(rng, batch*g.OutputLen())
			want, bound := p.filterGradientReference(dy)
			threads := 1 + iter%3
			dw := make([]float32, g.FilterLen())
			winogradFilterGradient(g, p.x, dy, batch, dw, threads)
			for i, w := range want {
				if d := math.Abs(float64(dw[i]) - w); d > bound[i] || math.IsNaN(float64(dw[i])) {
					t.Fatalf("row kernel %s, threads=%d batch=%d %+v: dw[%d] = %v, want %v (|diff| %.3g > bound %.3g)",
						rk, threads, batch, g, i, dw[i], w, d, bound[i])
				}
			}
			again := make([]float32, g.FilterLen())
			winogradFilterGradient(g, p.x, dy, batch, again, threads)
			for i := range dw {
				if math.Float32bits(dw[i]) != math.Float32bits(again[i]) {
					t.Fatalf("row kernel %s, threads=%d: dw[%d] differs between two runs", rk, threads, i)
				}
			}
		}
		restore()
	}
}

// TestWinogradTiles checks the tile transforms against the matrices, and their composition
// against the 3×3 correlation of a 4×4 patch, in float64-exact small integers.
func TestWinogradTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	for range 100 {
		var d [4][4]float32
		var w [9]float32
		for r := range 4 {
			for q := range 4 {
				d[r][q] = float32(rng.IntN(17) - 8)
			}
		}
		for i := range w {
			w[i] = float32(rng.IntN(9) - 4)
		}
		v := winoInputTile(&d)
		u := winoFilterTile(w[:])
		var x [16]float32
		for a := range 4 {
			for b := range 4 {
				var s float64
				for r := range 4 {
					for q := range 4 {
						s += winoBT[a][r] * float64(d[r][q]) * winoBT[b][q]
					}
				}
				if float64(v[4*a+b]) != s {
					t.Fatalf("Bᵀ d B [%d][%d] = %v, want %v", a, b, v[4*a+b], s)
				}
				x[4*a+b] = float32(u[4*a+b] * s) // exact: quarters of small integers
			}
		}
		var e [2][2]float32
		for a := range 2 {
			for b := range 2 {
				e[a][b] = float32(rng.IntN(9) - 4)
			}
		}
		yh := winoGradTile(&e)
		var yu [16]float64
		for i := range 4 {
			for j := range 4 {
				var s float64
				for a := range 2 {
					for b := range 2 {
						s += winoAT[a][i] * float64(e[a][b]) * winoAT[b][j]
					}
				}
				if float64(yh[4*i+j]) != s {
					t.Fatalf("A e Aᵀ [%d][%d] = %v, want %v", i, j, yh[4*i+j], s)
				}
				yu[4*i+j] = s
			}
		}
		gw := winoFilterGradientTile(&yu)
		for r := range 3 {
			for q := range 3 {
				var s float64
				for i := range 4 {
					for j := range 4 {
						s += winoG[i][r] * yu[4*i+j] * winoG[j][q]
					}
				}
				if math.Abs(gw[3*r+q]-s) > 1e-12 {
					t.Fatalf("Gᵀ u G [%d][%d] = %v, want %v", r, q, gw[3*r+q], s)
				}
			}
		}
		o := winoOutputTile(&x)
		for a := range 2 {
			for b := range 2 {
				var want float32
				for r := range 3 {
					for q := range 3 {
						want += d[a+r][b+q] * w[3*r+q]
					}
				}
				if o[a][b] != want {
					t.Fatalf("F(2×2, 3×3) output [%d][%d] = %v, want %v", a, b, o[a][b], want)
				}
			}
		}
	}
}

// TestInputGradient checks the input gradient as a convolution against the adjoint identity
// ⟨conv(x, w), dy⟩ = ⟨x, conv(dy, w')⟩, both sides in float64, on random unit-stride geometries
// with asymmetric pads.
func TestInputGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for range 80 {
		g := Geometry{C: 1 + rng.IntN(12), M: 1 + rng.IntN(12), KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4), SH: 1, SW: 1, DH: 1, DW: 1, Group: 1,
			H: 1 + rng.IntN(10), W: 1 + rng.IntN(14)}
		g.PadTop, g.PadBottom, g.PadLeft, g.PadRight = rng.IntN(g.KH), rng.IntN(g.KH), rng.IntN(g.KW), rng.IntN(g.KW)
		if g.Validate() != nil {
			continue
		}
		w := randFloats(rng, g.FilterLen())
		gt, wt, ok := InputGradient(g, w)
		if !ok || gt.OutH() != g.H || gt.OutW() != g.W {
			t.Fatalf("%+v: InputGradient ok=%v, output %dx%d", g, ok, gt.OutH(), gt.OutW())
		}
		x, dy := randFloats(rng, g.InputLen()), randFloats(rng, g.OutputLen())
		y, _ := (&convProblem{g: g, batch: 1, x: x, w: w}).reference()
		dx, _ := (&convProblem{g: gt, batch: 1, x: dy, w: wt}).reference()
		var lhs, rhs, mag float64
		for i := range y {
			lhs += y[i] * float64(dy[i])
			mag += math.Abs(y[i] * float64(dy[i]))
		}
		for i := range dx {
			rhs += float64(x[i]) * dx[i]
		}
		if math.Abs(lhs-rhs) > 1e-12*(mag+1) {
			t.Fatalf("%+v: ⟨conv(x, w), dy⟩ = %v, ⟨x, conv(dy, w')⟩ = %v", g, lhs, rhs)
		}
	}
	for _, bad := range []Geometry{square(4, 8, 4, 3, 2, 1, 1), square(4, 8, 4, 3, 1, 3, 1), square(4, 8, 4, 3, 1, 1, 2)} {
		if _, _, ok := InputGradient(bad, make([]float32, bad.FilterLen())); ok {
			t.Errorf("%+v: InputGradient accepted it", bad)
		}
	}
}

// TestWinogradNarrowKernel compares the vector narrow input transform with the portable one on
// random groups of tile rows (4 to 8 tiles each, rows inside and outside the image, pads,
// channels): the same operations in the same order, so the same bits.
func TestWinogradNarrowKernel(t *testing.T) {
	vec := vectorWinograd(t)
	rng := rand.New(rand.NewPCG(37, 38))
	for range 300 {
		tw := 4 + rng.IntN(5)
		chans, h := 1+rng.IntN(4), 1+rng.IntN(12)
		w := 2*tw - 2 + rng.IntN(5)
		plane := h*w + rng.IntN(3)
		dstRow := 16 + rng.IntN(5)
		a := &winoNarrowArgs{src: randFloats(rng, chans*plane), pieces: new([32]winoNarrowPiece), tw: tw,
			rps: 1 + rng.IntN(16/tw), col0: -rng.IntN(3), w: w, plane: plane, dstRow: dstRow,
			xiStride: chans*dstRow + rng.IntN(3), chans: chans}
		for j := range a.rps {
			for r := range 4 {
				a.rows[j][r] = -1
				if ih := rng.IntN(h+2) - 1; ih >= 0 && ih < h {
					a.rows[j][r] = ih * w
				}
			}
		}
		b := *a
		a.dst, b.dst = make([]float32, 16*a.xiStride+3), make([]float32, 16*a.xiStride+3)
		winoNarrowIn(vec, a)
		winoNarrowIn(genericRowKernel, &b)
		for i := range a.dst {
			if math.Float32bits(a.dst[i]) != math.Float32bits(b.dst[i]) {
				t.Fatalf("tw=%d rps=%d col0=%d w=%d rows=%v: value %d = %v, portable %v", tw, a.rps, a.col0, w, a.rows, i, a.dst[i], b.dst[i])
			}
		}
	}
}

// TestWinogradNarrowOutKernel compares the vector narrow output transform with the portable
// one: random groups of tile rows, partial last rows and columns, with and without bias and
// residual, clamps; the same bits, and nothing written outside the outputs.
func TestWinogradNarrowOutKernel(t *testing.T) {
	vec := vectorWinograd(t)
	rng := rand.New(rand.NewPCG(39, 40))
	for range 300 {
		tw := 4 + rng.IntN(5)
		rps := 1 + rng.IntN(16/tw)
		chans := 1 + rng.IntN(4)
		cols := 2*tw - rng.IntN(2)
		ld := cols + rng.IntN(3)
		rows := 2*rps - rng.IntN(2)
		dstPlane := rows*ld + rng.IntN(3)
		srcRow := 16 + rng.IntN(5)
		a := &winoNarrowOutArgs{pieces: new([8]winoNarrowPiece), srcRow: srcRow, xiStride: chans*srcRow + rng.IntN(3),
			dstPlane: dstPlane, ld: ld, tw: tw, rps: rps, cols: cols, rows: rows, chans: chans,
			lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
		a.src = randFloats(rng, 16*a.xiStride+16)
		if rng.IntN(2) == 0 {
			a.bias = randFloats(rng, chans)
		}
		if rng.IntN(2) == 0 {
			a.res = randFloats(rng, chans*dstPlane)
		}
		if rng.IntN(2) == 0 {
			a.lo, a.hi = -0.5, 0.75
		}
		b := *a
		a.dst = randFloats(rng, chans*dstPlane)
		b.dst = append([]float32(nil), a.dst...)
		winoNarrowOut(vec, a)
		winoNarrowOut(genericRowKernel, &b)
		for i := range a.dst {
			if math.Float32bits(a.dst[i]) != math.Float32bits(b.dst[i]) {
				t.Fatalf("tw=%d rps=%d rows=%d cols=%d ld=%d bias=%v res=%v: value %d = %v, portable %v",
					tw, rps, rows, cols, ld, a.bias != nil, a.res != nil, i, a.dst[i], b.dst[i])
			}
		}
	}
}
