package runtime

import "sort"

// storage tracks the owners of one pooled buffer: the tensor it was
// allocated for and every view of it. When the last owner dies, the buffer
// returns to the allocator for reuse by later nodes (or later runs).
type storage struct {
	refs int
	buf  any
}

// allocator hands out tensor buffers for one run at a time, reusing buffers
// of dead intermediates. It is not safe for concurrent use; a Session keeps a
// pool of them so that concurrent runs each have their own.
type allocator struct {
	free map[DType][]any // per type, sorted by capacity ascending
}

func newAllocator() *allocator { return &allocator{free: map[DType][]any{}} }

// maxWaste bounds how much larger than requested a reused buffer may be.
const maxWaste = 2

// get returns a buffer of n elements, reusing the smallest free one whose
// capacity is between n and maxWaste·n. Its contents are unspecified.
func (a *allocator) get(dt DType, n int) any {
	list := a.free[dt]
	i := sort.Search(len(list), func(i int) bool { return sliceCap(list[i]) >= n })
	if i < len(list) && sliceCap(list[i]) <= maxWaste*n+64 {
		buf := list[i]
		a.free[dt] = append(list[:i], list[i+1:]...)
		return resliceTo(buf, n)
	}
	return makeSlice(dt, n)
}

// put returns a buffer for reuse.
func (a *allocator) put(dt DType, buf any) {
	if sliceCap(buf) == 0 {
		return
	}
	list := a.free[dt]
	c := sliceCap(buf)
	i := sort.Search(len(list), func(i int) bool { return sliceCap(list[i]) >= c })
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = buf
	a.free[dt] = list
}

func sliceCap(s any) int {
	switch v := s.(type) {
	case []float32:
		return cap(v)
	case []float64:
		return cap(v)
	case []int64:
		return cap(v)
	case []int32:
		return cap(v)
	case []int8:
		return cap(v)
	case []uint8:
		return cap(v)
	case []bool:
		return cap(v)
	case []uint16:
		return cap(v)
	}
	return 0
}

func resliceTo(s any, n int) any {
	switch v := s.(type) {
	case []float32:
		return v[:n]
	case []float64:
		return v[:n]
	case []int64:
		return v[:n]
	case []int32:
		return v[:n]
	case []int8:
		return v[:n]
	case []uint8:
		return v[:n]
	case []bool:
		return v[:n]
	case []uint16:
		return v[:n]
	}
	panic("unreachable")
}

func clearSlice(s any) {
	switch v := s.(type) {
	case []float32:
		clear(v)
	case []float64:
		clear(v)
	case []int64:
		clear(v)
	case []int32:
		clear(v)
	case []int8:
		clear(v)
	case []uint8:
		clear(v)
	case []bool:
		clear(v)
	case []uint16:
		clear(v)
	}
}
