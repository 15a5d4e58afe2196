package conv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// explicitPatches builds the patch matrix P [K, OutH·OutW] of one group's image element by
// element from its definition.
func explicitPatches(g Geometry, x []float32) [][]float32 {
	oh, ow := g.OutH(), g.OutW()
	p := make([][]float32, g.K())
	for k := range p {
		c, kh, kw := k/(g.KH*g.KW), k/g.KW%g.KH, k%g.KW
		p[k] = make([]float32, oh*ow)
		for j := range p[k] {
			iy := j/ow*g.SH - g.PadTop + kh*g.DH
			ix := j%ow*g.SW - g.PadLeft + kw*g.DW
			if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
				p[k][j] = x[(c*g.H+iy)*g.W+ix]
			}
		}
	}
	return p
}

func TestPatchPackerMatchesDefinition(t *testing.T) {
	for _, name := range RowKernels() {
		restore, _ := UseRowKernel(name)
		t.Run(name, checkPatchPacker)
		restore()
	}
}

// checkPatchPacker packs random blocks of random geometries with the active row kernel.
func checkPatchPacker(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 400 {
		g := randomGeometry(rng)
		x := randFloats(rng, g.CG()*g.H*g.W)
		want := explicitPatches(g, x)
		pk := NewPatchPacker(g, x)
		if rng.IntN(2) == 0 {
			pk.SetPanelTables(NewPanelTables(g)) // nil where the row kernel cannot use them
		}
		if pk.Rows() != g.K() || pk.Cols() != g.OutHW() {
			t.Fatalf("%+v: packer is %dx%d", g, pk.Rows(), pk.Cols())
		}
		nr := []int{1, 4, 8, 16, 16, 32}[rng.IntN(6)]
		k0 := rng.IntN(g.K())
		kc := 1 + rng.IntN(g.K()-k0)
		j0 := rng.IntN(g.OutHW())
		nc := 1 + rng.IntN(g.OutHW()-j0)
		panels := (nc + nr - 1) / nr
		dst := make([]float32, panels*kc*nr+5)
		for i := range dst {
			dst[i] = float32(math.NaN())
		}
		pk.PackB(dst, k0, kc, j0, nc, nr)
		for pnl := range panels {
			for kk := range kc {
				for jj := range nr {
					got := dst[pnl*kc*nr+kk*nr+jj]
					var w float32
					if j := pnl*nr + jj; j < nc {
						w = want[k0+kk][j0+j]
					}
					if got != w {
						t.Fatalf("%+v PackB(k0=%d kc=%d j0=%d nc=%d nr=%d): panel %d row %d lane %d = %v, want %v",
							g, k0, kc, j0, nc, nr, pnl, kk, jj, got, w)
					}
				}
			}
		}
		for _, v := range dst[panels*kc*nr:] {
			if !math.IsNaN(float64(v)) {
				t.Fatalf("%+v: PackB wrote past its panels", g)
			}
		}
	}
}

// TestPatchPackerWideImages packs whole patch matrices of images wide enough for the 16-lane
// fast paths (unit stride and stride 2, inside the image and touching the padding).
func TestPatchPackerWideImages(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, g := range []Geometry{
		square(3, 70, 4, 7, 2, 3, 1),
		square(4, 40, 2, 3, 1, 1, 1),
		square(2, 50, 3, 3, 2, 1, 1),
		{C: 2, H: 5, W: 66, M: 2, KH: 3, KW: 3, SH: 1, SW: 2, DH: 2, DW: 2, PadTop: 0, PadLeft: 2, PadBottom: 2, PadRight: 1, Group: 1},
	} {
		x := randFloats(rng, g.CG()*g.H*g.W)
		want := explicitPatches(g, x)
		const nr = 16
		k, n := g.K(), g.OutHW()
		panels := (n + nr - 1) / nr
		dst := make([]float32, panels*k*nr)
		NewPatchPacker(g, x).PackB(dst, 0, k, 0, n, nr)
		for j := range panels * nr {
			for kk := range k {
				var w float32
				if j < n {
					w = want[kk][j]
				}
				if got := dst[(j/nr)*k*nr+kk*nr+j%nr]; got != w {
					t.Fatalf("%+v: P[%d][%d] = %v, want %v", g, kk, j, got, w)
				}
			}
		}
	}
}

// TestEvens16 runs every row kernel's evens16 against the portable one: rows read at offsets
// up to the last 31 values of x, zero rows and skipped rows (left as they were).
func TestEvens16(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	x := randFloats(rng, 200)
	offs := []int{0, 169, evensZero, 1, evensSkip, 100, 168, evensZero, 37}
	want := randFloats(rng, 16*len(offs))
	evensGeneric(&evensArgs{dst: want, x: x, offs: offs})
	for _, name := range RowKernels() {
		restore, _ := UseRowKernel(name)
		asm := activeRow.Load().evens16
		restore()
		if !asm {
			continue
		}
		got := append([]float32(nil), want...)
		for i, o := range offs { // fresh garbage where the kernel must write
			if o != evensSkip {
				copy(got[i*16:i*16+16], randFloats(rng, 16))
			}
		}
		evens16Asm(&evensArgs{dst: got, x: x[:200], offs: offs})
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: dst[%d] (row %d, offset %d) = %v, want %v", name, i, i/16, offs[i/16], got[i], want[i])
			}
		}
	}
}
