package gemm

import (
	"os"
	"sync/atomic"
)

// kernel is one entry of the dispatch table: a micro-kernel together with the block sizes that suit
// it. The driver is written once against this description.
type kernel struct {
	name string
	// mr x nr is the register tile that micro computes.
	mr, nr int
	// mc, kc, nc are the cache blocks: a kc x nr panel of B should stay in L1 while the mc x kc block
	// of A streams from L2, and the kc x nc block of B sits in L3. mc is a multiple of mr and nc a
	// multiple of nr.
	mc, kc, nc int
	// micro computes full mr x nr tiles; see microArgs.
	micro func(p *microArgs)
	// half, if not nil, computes mr x nr/2 tiles from the left half of the same B panels, for
	// the last panel of a C whose width leaves at most nr/2 columns there (n = 49 = 3*16 + 1).
	half func(p *microArgs)
	// wide, if not nil, computes mr x 2nr tiles from two adjacent B panels (the second starts
	// kc*nr values after the first, as packed) with the same bits as two calls of micro; the
	// driver uses it wherever two full panels remain. It reads 2nr column biases.
	wide func(p *microArgs)
	// narrow, if not nil, computes the first narrowCols columns of mr x nr tiles into a
	// scratch buffer (see narrowArgs), with the same bits as micro; the driver uses it for the
	// last B panel of a C whose width leaves at most narrowCols columns there.
	narrow func(p *narrowArgs)
	// gemv, if not nil, is the kernel's matrix-vector product on 16-wide column panels (see
	// gemvArgs); MulVecPanels uses the portable loop otherwise.
	gemv func(a *gemvArgs)
	// usable reports whether this CPU can run the kernel.
	usable func() bool
}

// Tile flags tell the micro-kernel how to combine the product with memory before storing it. They
// are applied in this order: v = p (+ C) (+ rowBias[r]) (+ colBias[j]) (+ res[r][j]); relu or clip.
const (
	flagLoadC    = 1 << iota // add the current contents of C (accumulate, or a later kc block)
	flagRowBias              // add rowBias[r] to row r
	flagColBias              // add colBias[j] to column j
	flagResidual             // add res[r*ldRes+j]
	flagRelu                 // max(v, 0)
	flagClip                 // min(max(v, lo), hi)
)

// microArgs is the whole contract between the driver and a micro-kernel, passed by pointer so the
// assembly kernels take a single argument. The field offsets reach the assembly via go_asm.h.
//
// The kernel computes `tiles` vertically adjacent mr x nr tiles that share one B panel (so the
// loop over them costs no Go call per tile). Tile t multiplies the A panel at a[t*kc*mr:] by b:
// P[r][j] = sum over kk < kc of a[t*kc*mr + kk*mr + r] * b[kk*nr + j]; it applies the flags with
// rowBias[t*mr+r] and res[(t*mr+r)*ldRes+j], and stores to c[(t*mr+r)*ldc+j]. Only the first
// lastRows rows of the last tile are valid (its A panel is zero-padded); the kernel reads and
// writes nothing of C, rowBias or res beyond them.
type microArgs struct {
	a, b     []float32 // packed panels: a holds tiles panels of kc x mr, b is kc x nr
	c        []float32 // C[r][j] at c[r*ldc+j]
	ldc      int
	kc       int
	tiles    int
	lastRows int // 1..mr
	flags    int
	rowBias  []float32 // tiles*mr values (flagRowBias)
	colBias  []float32 // nr values (flagColBias)
	res      []float32 // res[r*ldRes+j] (flagResidual)
	ldRes    int
	min, max float32 // flagClip bounds
}

// narrowCols is the number of columns a narrow kernel computes.
const narrowCols = 4

// narrowArgs is the contract between the driver and a narrow kernel: for each of the tiles
// A panels at a[t*kc*mr:] (mr = 16) and the one B panel b (kc x 16, only its first narrowCols
// columns used), out[(t*narrowCols+j)*mr + r] = sum over kk < kc of a[t*kc*mr + kk*mr + r] *
// b[kk*16 + j], summed in kk order with fused multiply-adds from zero (as micro sums). The
// driver finishes the valid rows and columns with finishTile.
type narrowArgs struct {
	a, b, out []float32
	kc, tiles int
}

// tableGeneric is the portable kernel that every build has.
var tableGeneric = &kernel{
	name: "generic 4x2", mr: genericMR, nr: genericNR,
	mc: 128, kc: 256, nc: 2048,
	micro: microGeneric, usable: func() bool { return true },
}

// usableKernels returns the kernels this CPU can run, portable first, fastest last.
func usableKernels() []*kernel {
	ks := []*kernel{tableGeneric}
	for _, k := range archKernels {
		if k.usable() {
			ks = append(ks, k)
		}
	}
	return ks
}

func findKernel(name string) *kernel {
	if name == "generic" {
		return tableGeneric
	}
	for _, k := range usableKernels() {
		if k.name == name {
			return k
		}
	}
	return nil
}

// active is the kernel used by PackA, MulUnpacked and Sgemm.
var active atomic.Pointer[kernel]

func init() { active.Store(defaultKernel(os.Getenv("DCNET_GEMM"))) }

// defaultKernel picks the fastest usable kernel unless the DCNET_GEMM setting names another one
// ("generic" forces the portable kernel; an unknown or unusable name is ignored).
func defaultKernel(setting string) *kernel {
	if setting != "" {
		if k := findKernel(setting); k != nil {
			return k
		}
	}
	ks := usableKernels()
	return ks[len(ks)-1]
}

func activeKernel() *kernel { return active.Load() }
