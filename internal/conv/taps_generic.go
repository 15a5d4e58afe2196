package conv

// tapsGeneric is the portable row kernel; see tapArgs. It adds one tap at a time over a whole
// output row, which stays in L1.
func tapsGeneric(p *tapArgs) {
	for r := range p.rows {
		dst := p.dst[r*p.dstStride : r*p.dstStride+p.n]
		if p.flags&tapAccumulate == 0 {
			for i := range dst {
				dst[i] = p.bias
			}
		}
		for t, o := range p.offs {
			w := p.w[t]
			src := p.src[o+r*p.srcStride : o+r*p.srcStride+p.n]
			for i, v := range src {
				dst[i] += w * v
			}
		}
		for i, v := range dst {
			if v < p.lo {
				dst[i] = p.lo
			} else if v > p.hi {
				dst[i] = p.hi
			}
		}
	}
}

// split2Generic is the portable split2; see splitArgs.
func split2Generic(p *splitArgs) {
	for r := range p.rows {
		src := p.src[r*p.w : (r+1)*p.w]
		even := p.even[r*p.dstStride : r*p.dstStride+(p.w+1)/2]
		odd := p.odd[r*p.dstStride : r*p.dstStride+p.w/2]
		for i := range odd {
			even[i], odd[i] = src[2*i], src[2*i+1]
		}
		if p.w%2 == 1 {
			even[p.w/2] = src[p.w-1]
		}
	}
}
