//go:build amd64 && !purego

package decop

// coeffBlocksAVX2 is coeffBlockGeneric for one channel on a.n positions, a.n a multiple of 8,
// eight per step; see coeffArgs.
//
//go:noescape
func coeffBlocksAVX2(a *coeffArgs)
