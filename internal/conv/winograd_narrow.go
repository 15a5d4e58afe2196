package conv

import "fmt"

// Narrow images (4 to 8 tiles per row: 7×7 to 16×16 outputs) would leave most of a 16-lane
// segment of the input transform idle, since a segment covers one tile row. For them a segment
// covers rps = ⌊16/TW⌋ consecutive tile rows instead: lane l is tile (row l/TW, column l%TW) of
// the group, and its 32 raw input values per row of the tile come from up to two image rows per
// half vector, loaded under masks (winoNarrowArgs.pieces). The transform itself and the layout of
// V are those of winoInArgs: the group's tiles are consecutive in V, and lanes past the group's
// last tile are overwritten by the next group (or land in V's slack).

// winoNarrowPiece is one masked load of the narrow input transform: the 16 values at byte offset
// off from the channel's first value, lanes of mask only.
type winoNarrowPiece struct {
	off  int64
	mask uint64
}

// winoNarrowArgs is the contract of the narrow input transform, for one group of tile rows of
// every channel: for c < chans, lane l < 16 and ξ = 4i + j,
//
//	dst[ξ·xiStride + c·dstRow + l] = (Bᵀ d B)[i][j],
//	d[r][q] = src[c·plane + rows[l/tw][r] + col0 + 2·(l%tw) + q] if l/tw < rps, rows[l/tw][r] ≥ 0
//	and 0 ≤ col0 + 2·(l%tw) + q < w, else 0.
//
// pieces describes the vector kernel's loads (see narrowPieces): per tile row r, the raw values
// 0–15 and 16–31 of the even-column window and of the window two columns on, each merged from
// two masked loads.
type winoNarrowArgs struct {
	src, dst                []float32
	pieces                  *[32]winoNarrowPiece
	rows                    [4][4]int
	tw, rps, col0, w        int
	plane, dstRow, xiStride int
	chans                   int
}

// narrowPieces fills a.pieces from the other fields: for tile row r, half h and window s
// (columns shifted by 2s), entry 8r + 4s + 2h + k is the k-th piece of raw lanes 16h ... 16h+15,
// where raw lane q of the group belongs to tile row j = q/(2·tw) and reads column
// col0 + 2s + q − 2·tw·j.
func (a *winoNarrowArgs) narrowPieces() {
	for r := range 4 {
		for s := range 2 {
			for h := range 2 {
				k := 0
				for j := range a.rps {
					lo, hi := max(16*h, 2*a.tw*j), min(16*h+16, 2*a.tw*(j+1))
					if lo >= hi {
						continue
					}
					e := &a.pieces[8*r+4*s+2*h+k]
					*e = winoNarrowPiece{}
					k++
					row := a.rows[j][r]
					if row < 0 {
						continue
					}
					first := a.col0 + 2*s + 16*h - 2*a.tw*j // the column under the half's lane 0
					e.off = int64(4 * (row + first))
					for q := lo; q < hi; q++ {
						if col := first + q - 16*h; col >= 0 && col < a.w {
							e.mask |= 1 << (q - 16*h)
						}
					}
				}
				for ; k < 2; k++ {
					a.pieces[8*r+4*s+2*h+k] = winoNarrowPiece{}
				}
			}
		}
	}
}

// winoNarrowIn checks a's bounds, fills its pieces and runs the active kernel's narrow input
// transform.
func winoNarrowIn(k *rowKernel, a *winoNarrowArgs) {
	ok := a.chans > 0 && a.tw >= 4 && a.tw <= 8 && a.rps >= 1 && a.rps <= 16/a.tw && a.w > 0 &&
		15*a.xiStride+(a.chans-1)*a.dstRow+16 <= len(a.dst) && a.pieces != nil
	for j := range a.rps {
		for _, r := range a.rows[j] {
			ok = ok && r >= -1 && (r < 0 || (a.chans-1)*a.plane+r+a.w <= len(a.src))
		}
	}
	if !ok {
		panic(fmt.Sprintf("conv: narrow Winograd input transform of %d channels, %d rows of %d tiles does not fit", a.chans, a.rps, a.tw))
	}
	if !k.winograd {
		winoNarrowGeneric(a)
		return
	}
	a.narrowPieces()
	winoNarrowAsm(a)
}

// winoNarrowGeneric is the portable narrow input transform; see winoNarrowArgs.
func winoNarrowGeneric(a *winoNarrowArgs) {
	for c := range a.chans {
		for l := range 16 {
			var d [4][4]float32
			if j, tx := l/a.tw, l%a.tw; j < a.rps {
				for r, off := range a.rows[j] {
					for q := range 4 {
						if col := a.col0 + 2*tx + q; off >= 0 && col >= 0 && col < a.w {
							d[r][q] = a.src[c*a.plane+off+col]
						}
					}
				}
			}
			scatterXi(a.dst[c*a.dstRow+l:], winoInputTile(&d), a.xiStride)
		}
	}
}

// narrowRows reports how many tile rows a narrow segment covers for g's plan (0: the plan's
// rows are too wide or too narrow for the narrow transform).
func (p *winoPlan) narrowRows() int {
	if p.tw < 4 || p.tw > 8 {
		return 0
	}
	return 16 / p.tw
}

// narrowArgs are the narrow input transform's arguments for tile rows [ty, min(ty+rps, ty1)) of
// chans channels of one image x into V (dst at the group's first tile).
func (p *winoPlan) narrowArgs(x, dst []float32, pieces *[32]winoNarrowPiece, ty, ty1, chans int) *winoNarrowArgs {
	g := p.g
	a := &winoNarrowArgs{src: x, dst: dst, pieces: pieces, tw: p.tw, rps: min(p.narrowRows(), ty1-ty),
		col0: -g.PadLeft, w: g.W, plane: g.H * g.W, dstRow: p.tileStride, xiStride: g.C * p.tileStride, chans: chans}
	for j := range a.rps {
		for r := range 4 {
			a.rows[j][r] = -1
			if ih := 2*(ty+j) - g.PadTop + r; ih >= 0 && ih < g.H {
				a.rows[j][r] = ih * g.W
			}
		}
	}
	return a
}

// winoNarrowOutArgs is the contract of the narrow output transform, for one group of rps tile
// rows (of tw tiles each) of every output channel: for m < chans and lane l < rps·tw, tile
// (j, tx) = (l/tw, l%tw) of the group, the 2×2 outputs
//
//	o = Aᵀ X A,  X[i][k] = src[(4i+k)·xiStride + m·srcRow + l],
//	v = o[a][b] + bias[m] (+ res[m·dstPlane + (2j+a)·ld + 2tx + b])
//	dst[m·dstPlane + (2j+a)·ld + 2tx + b] = min(max(v, lo), hi)   (NaN stays NaN)
//
// for 2j + a < rows and 2tx + b < cols (dst and res at the group's first output row). pieces
// describes the vector kernel's stores (see narrowOutPieces).
type winoNarrowOutArgs struct {
	src, dst, res, bias        []float32
	pieces                     *[8]winoNarrowPiece
	srcRow, xiStride, dstPlane int
	ld, tw, rps, cols, rows    int
	chans                      int
	lo, hi                     float32
}

// narrowOutPieces fills a.pieces: for output row a of the tiles and half h of their 32
// interleaved outputs (raw lane q = 2l + b), entry 4a + 2h + k is the k-th piece of raw lanes
// 16h ... 16h+15, tile row j = q/(2·tw) writing output row 2j + a, column q − 2·tw·j.
func (a *winoNarrowOutArgs) narrowOutPieces() {
	for r := range 2 {
		for h := range 2 {
			k := 0
			for j := range a.rps {
				lo, hi := max(16*h, 2*a.tw*j), min(16*h+16, 2*a.tw*(j+1))
				if lo >= hi {
					continue
				}
				e := &a.pieces[4*r+2*h+k]
				*e = winoNarrowPiece{}
				k++
				row := 2*j + r
				if row >= a.rows {
					continue
				}
				first := 16*h - 2*a.tw*j // the column under the half's lane 0
				e.off = int64(4 * (row*a.ld + first))
				for q := lo; q < hi; q++ {
					if col := first + q - 16*h; col < a.cols {
						e.mask |= 1 << (q - 16*h)
					}
				}
			}
			for ; k < 2; k++ {
				a.pieces[4*r+2*h+k] = winoNarrowPiece{}
			}
		}
	}
}

// winoNarrowOut checks a's bounds, fills its pieces and runs the active kernel's narrow output
// transform.
func winoNarrowOut(k *rowKernel, a *winoNarrowOutArgs) {
	span := (a.chans-1)*a.dstPlane + (a.rows-1)*a.ld + a.cols
	if a.chans <= 0 || a.tw < 4 || a.tw > 8 || a.rps < 1 || a.rps > 16/a.tw || a.rows < 1 || a.rows > 2*a.rps ||
		a.cols > 2*a.tw || a.cols > a.ld || 15*a.xiStride+(a.chans-1)*a.srcRow+16 > len(a.src) || span > len(a.dst) ||
		a.res != nil && span > len(a.res) || a.bias != nil && len(a.bias) < a.chans || a.pieces == nil {
		panic(fmt.Sprintf("conv: narrow Winograd output transform of %d channels, %d rows of %d tiles does not fit", a.chans, a.rps, a.tw))
	}
	if !k.winograd {
		winoNarrowOutGeneric(a)
		return
	}
	a.narrowOutPieces()
	winoNarrowOutAsm(a)
}

// winoNarrowOutGeneric is the portable narrow output transform; see winoNarrowOutArgs.
func winoNarrowOutGeneric(a *winoNarrowOutArgs) {
	for m := range a.chans {
		var bias float32
		if a.bias != nil {
			bias = a.bias[m]
		}
		for l := range a.rps * a.tw {
			j, tx := l/a.tw, l%a.tw
			if a.rows <= 2*j {
				continue
			}
			at := m*a.dstPlane + 2*j*a.ld + 2*tx
			storeOutputTile(a.src[m*a.srcRow+l:], a.xiStride, a.dst[at:], offsetOrNil(a.res, at), a.ld,
				min(2, a.rows-2*j), min(2, a.cols-2*tx), bias, a.lo, a.hi)
		}
	}
}
