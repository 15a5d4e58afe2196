package conv

import (
	"math/rand/v2"
	"testing"
)

// TestPackPhasedKernels checks every row kernel's packPhased against the definition in
// phasedArgs: one to four disjoint segments (some lanes in none), any offsets.
func TestPackPhasedKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, name := range RowKernels() {
		k := findRowKernel(name)
		for trial := range 300 {
			x := randFloats(rng, 400)
			rows := 1 + rng.IntN(40)
			a := phasedArgs{x: x, offs: make([]int, rows), nseg: 1 + rng.IntN(maxPhasedSegs)}
			for i := range a.offs {
				a.offs[i] = 40 + rng.IntN(300)
			}
			lane := rng.IntN(3) // lanes below the first segment stay empty sometimes
			for s := range a.nseg {
				n := 1 + rng.IntN(16-lane)
				if s == a.nseg-1 && rng.IntN(2) == 0 {
					n = 16 - lane
				}
				a.masks[s] = uint16((1<<n - 1) << lane)
				a.seg[s] = rng.IntN(40) - lane
				lane += n
				if lane >= 16 {
					a.nseg = s + 1
					break
				}
			}
			a.dst = randFloats(rng, 16*rows)
			lo, hi := a.offs[0], a.offs[0]
			for _, o := range a.offs {
				lo, hi = min(lo, o), max(hi, o)
			}
			runPackPhased(k, &a, lo, hi)
			for kk, o := range a.offs {
				for tt := range 16 {
					want := float32(0)
					for s := range a.nseg {
						if a.masks[s]>>tt&1 != 0 {
							want = x[o+a.seg[s]+tt]
						}
					}
					if got := a.dst[kk*16+tt]; got != want {
						t.Fatalf("%s trial %d: row %d lane %d = %v, want %v", name, trial, kk, tt, got, want)
					}
				}
			}
		}
	}
}

// TestPhasedPanels packs patch panels from the phased copies (through ForTask, as the gemm
// driver does, for column ranges that start and end anywhere) and compares them with the
// per-piece packers': strides 1 to 3, dilations, asymmetric pads, outputs from 1 to 40 pixels
// wide (so panels span one to many output rows), depths cut anywhere.
func TestPhasedPanels(t *testing.T) {
	restore, ok := UseRowKernel("avx512")
	if !ok {
		t.Skip("no row kernel packs phased panels here")
	}
	defer restore()
	rng := rand.New(rand.NewPCG(43, 44))
	geoms := []Geometry{
		square(5, 17, 8, 3, 1, 1, 1),
		square(4, 28, 8, 3, 2, 1, 1),
		square(3, 35, 8, 5, 1, 2, 1),
		square(3, 14, 8, 3, 2, 1, 1),
		square(2, 12, 8, 5, 3, 1, 1),
		{C: 6, H: 17, W: 17, M: 8, KH: 1, KW: 7, SH: 1, SW: 1, DH: 1, DW: 1, PadLeft: 3, PadRight: 3, Group: 1},
		{C: 6, H: 17, W: 17, M: 8, KH: 7, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, PadTop: 3, PadBottom: 3, Group: 1},
		{C: 3, H: 20, W: 31, M: 8, KH: 3, KW: 3, SH: 2, SW: 2, DH: 2, DW: 2, PadTop: 1, PadLeft: 2, PadBottom: 3, Group: 1},
		{C: 3, H: 12, W: 44, M: 8, KH: 3, KW: 2, SH: 1, SW: 2, DH: 1, DW: 3, PadLeft: 1, PadRight: 2, Group: 1},
		{C: 4, H: 6, W: 6, M: 8, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, Group: 1}, // no padding: read in place
		square(8, 2, 8, 3, 1, 1, 1),   // 2-pixel rows: panels of eight segments
		square(4, 40, 8, 3, 2, 0, 1),  // no padding but a stride: copied
		square(2, 100, 8, 3, 1, 1, 1), // 100-pixel rows
	}
	for gi, g := range geoms {
		if !phasedPays(g) {
			t.Fatalf("geometry %d %+v: phased packing does not apply, the test would not test it", gi, g)
		}
		x := randFloats(rng, g.InputLen())
		plan := newPhasedPlan(g)
		want := NewPatchPacker(g, x)
		for trial := range 20 {
			n, k := g.OutHW(), g.K()
			j0 := rng.IntN(n)
			j1 := j0 + 1 + rng.IntN(n-j0)
			p := NewPatchPacker(g, x)
			p.setPhased(plan)
			b, release := p.ForTask(j0, j1)
			k0 := rng.IntN(k)
			kc := 1 + rng.IntN(k-k0)
			jj := j0 + rng.IntN(j1-j0)
			nc := 1 + rng.IntN(j1-jj)
			panels := (nc + 15) / 16
			got, exp := randFloats(rng, panels*16*kc), randFloats(rng, panels*16*kc)
			b.PackB(got, k0, kc, jj, nc, 16)
			want.PackB(exp, k0, kc, jj, nc, 16)
			release()
			for i := range got {
				if got[i] != exp[i] {
					t.Fatalf("geometry %d trial %d (task %d..%d, rows %d+%d, columns %d+%d): value %d = %v, want %v",
						gi, trial, j0, j1, k0, kc, jj, nc, i, got[i], exp[i])
				}
			}
		}
	}
}
