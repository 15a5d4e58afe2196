package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowKernels checks every row kernel against the definition of tapArgs, on row lengths that
// straddle the 32- and 8-value blocks, several rows with gaps between them, and NaN inputs;
// every value of dst outside the rows must stay untouched.
func TestRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	inf := float32(math.Inf(1))
	for _, name := range RowKernels() {
		k := findRowKernel(name)
		for iter := range 600 {
			n := []int{1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 100}[iter%12]
			rows := 1 + rng.IntN(3)
			dstStride := n + rng.IntN(3)
			srcStride := rng.IntN(2 * n)
			taps := rng.IntN(12)
			src := randFloats(rng, (rows-1)*srcStride+n+50)
			offs := make([]int, taps)
			for i := range offs {
				offs[i] = rng.IntN(51)
			}
			if rng.IntN(4) == 0 {
				src[rng.IntN(len(src))] = float32(math.NaN())
			}
			w := randFloats(rng, taps)
			const guard = 5
			dst := randFloats(rng, (rows-1)*dstStride+n+2*guard)
			init := append([]float32(nil), dst...)
			p := tapArgs{dst: dst[guard:], n: n, rows: rows, dstStride: dstStride, src: src, srcStride: srcStride,
				offs: offs, w: w, bias: float32(rng.NormFloat64())}
			p.dst = p.dst[:len(p.dst)-guard]
			switch rng.IntN(3) {
			case 0:
				p.lo, p.hi = -inf, inf
			case 1:
				p.lo, p.hi = 0, inf
			default:
				p.lo, p.hi = -0.5, 0.5
			}
			if rng.IntN(2) == 0 {
				p.flags = tapAccumulate
			}
			runTaps(k, &p)
			desc := fmt.Sprintf("%s n=%d rows=%d strides=%d,%d taps=%d flags=%d bounds=[%v, %v]",
				name, n, rows, dstStride, srcStride, taps, p.flags, p.lo, p.hi)
			written := map[int]bool{}
			for r := range rows {
				for i := range n {
					d := guard + r*dstStride + i
					written[d] = true
					v, mag := float64(p.bias), math.Abs(float64(p.bias))
					if p.flags&tapAccumulate != 0 {
						v, mag = float64(init[d]), math.Abs(float64(init[d]))
					}
					for t, o := range offs {
						term := float64(w[t]) * float64(src[o+r*srcStride+i])
						v += term
						mag += math.Abs(term)
					}
					want := v
					if !math.IsNaN(v) {
						want = math.Min(math.Max(v, float64(p.lo)), float64(p.hi))
					}
					// At most taps+1 roundings reach any term: γ_{taps+1}.
					u := math.Ldexp(1, -24)
					bound := float64(taps+1) * u / (1 - float64(taps+1)*u) * mag
					got := float64(dst[d])
					if math.IsNaN(want) != math.IsNaN(got) || math.Abs(got-want) > bound {
						t.Fatalf("%s: row %d value %d = %v, want %v", desc, r, i, got, want)
					}
				}
			}
			for i := range dst {
				if !written[i] && dst[i] != init[i] {
					t.Fatalf("%s: wrote outside the rows at %d", desc, i)
				}
			}
		}
	}
}

func findRowKernel(name string) *rowKernel {
	if name == genericRowKernel.name {
		return genericRowKernel
	}
	for _, k := range archRowKernels {
		if k.name == name {
			return k
		}
	}
	return nil
}

// TestSplit2 checks the stride-2 phase split on every row kernel, for row lengths around the
// 16-value blocks and several rows, against the definition of splitArgs; everything else in
// the destinations must stay untouched.
func TestSplit2(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, name := range RowKernels() {
		k := findRowKernel(name)
		for w := 1; w < 70; w++ {
			rows := 1 + rng.IntN(3)
			stride := (w+1)/2 + rng.IntN(3)
			src := randFloats(rng, rows*w)
			even := randFloats(rng, rows*stride+3)
			odd := randFloats(rng, rows*stride+3)
			even0, odd0 := append([]float32(nil), even...), append([]float32(nil), odd...)
			runSplit2(k, &splitArgs{even: even, odd: odd, src: src, w: w, rows: rows, dstStride: stride})
			wantE, wantO := even0, odd0
			for r := range rows {
				for i := range w {
					if i%2 == 0 {
						wantE[r*stride+i/2] = src[r*w+i]
					} else {
						wantO[r*stride+i/2] = src[r*w+i]
					}
				}
			}
			for i := range even {
				if even[i] != wantE[i] || odd[i] != wantO[i] {
					t.Fatalf("%s w=%d rows=%d stride=%d: position %d wrong", name, w, rows, stride, i)
				}
			}
		}
	}
}
