package npy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// elemType describes one supported element type.
type elemType struct {
	kind byte // NumPy's kind character: 'f', 'i', 'u' or 'b'
	size int  // bytes per element
	name string
}

var elemTypes = []elemType{
	{'f', 4, "float32"},
	{'f', 8, "float64"},
	{'i', 8, "int64"},
	{'i', 4, "int32"},
	{'u', 1, "uint8"},
	{'i', 1, "int8"},
	{'b', 1, "bool"},
}

// descr returns the type's descriptor as NumPy writes it: '<' for
// multi-byte types, '|' (no byte order) for single bytes.
func (e elemType) descr() string {
	order := "<"
	if e.size == 1 {
		order = "|"
	}
	return order + string(e.kind) + strconv.Itoa(e.size)
}

// parseDescr maps a descriptor string to a supported element type. Byte
// types accept any byte-order mark but '>'-ordered multi-byte types do not.
func parseDescr(d string) (elemType, error) {
	if len(d) < 3 {
		return elemType{}, fmt.Errorf("unsupported dtype descriptor %q", d)
	}
	order, kind := d[0], d[1]
	size, err := strconv.Atoi(d[2:])
	if err != nil {
		return elemType{}, fmt.Errorf("unsupported dtype descriptor %q", d)
	}
	for _, e := range elemTypes {
		if e.kind != kind || e.size != size {
			continue
		}
		switch {
		case order == '<':
		case order == '|' && size == 1:
		case order == '>' && size > 1:
			return elemType{}, fmt.Errorf("dtype %q is big-endian; only little-endian data are supported (convert with arr.astype(arr.dtype.newbyteorder('<')))", d)
		default:
			return elemType{}, fmt.Errorf("unsupported byte order in dtype descriptor %q", d)
		}
		return e, nil
	}
	return elemType{}, fmt.Errorf("unsupported dtype %q (supported: float32, float64, int64, int32, uint8, int8, bool)", d)
}

// header is the decoded array description of a .npy file.
type header struct {
	elem  elemType
	shape []int
}

// parseHeader decodes the Python dict literal that describes the array,
// for example {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
// Like NumPy, it requires exactly the keys descr, fortran_order and shape.
func parseHeader(s string) (header, error) {
	p := &literalParser{s: s}
	dict, err := p.dict()
	if err != nil {
		return header{}, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return header{}, fmt.Errorf("header: unexpected text after the dict at offset %d", p.pos)
	}
	for k := range dict {
		if k != "descr" && k != "fortran_order" && k != "shape" {
			return header{}, fmt.Errorf("header: unexpected key %q", k)
		}
	}
	var h header
	descr, ok := dict["descr"].(string)
	if !ok {
		if _, present := dict["descr"]; present {
			return header{}, errors.New("header: structured dtypes are not supported")
		}
		return header{}, errors.New("header: missing key 'descr'")
	}
	if h.elem, err = parseDescr(descr); err != nil {
		return header{}, err
	}
	fortran, ok := dict["fortran_order"].(bool)
	if !ok {
		return header{}, errors.New("header: 'fortran_order' missing or not a bool")
	}
	if fortran {
		return header{}, errors.New("Fortran-order arrays are not supported (save np.ascontiguousarray(arr) instead)")
	}
	if h.shape, ok = dict["shape"].([]int); !ok {
		return header{}, errors.New("header: 'shape' missing or not a tuple of integers")
	}
	return h, nil
}

// formatHeader writes the dict literal NumPy writes for the array, without
// padding.
func formatHeader(e elemType, shape []int) string {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", e.descr(), tuple)
}

// literalParser parses the small subset of Python literals found in .npy
// headers: a dict with string keys whose values are strings, booleans,
// tuples of non-negative integers, or (for structured dtypes, which are
// rejected later) lists.
type literalParser struct {
	s   string
	pos int
}

// structured stands for a list value, which only structured dtypes use.
type structured struct{}

func (p *literalParser) errorf(format string, args ...any) error {
	return fmt.Errorf("header: offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *literalParser) skipSpace() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *literalParser) peek() byte {
	p.skipSpace()
	if p.pos == len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *literalParser) expect(c byte) error {
	if p.peek() != c {
		return p.errorf("expected %q", c)
	}
	p.pos++
	return nil
}

func (p *literalParser) dict() (map[string]any, error) {
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for p.peek() != '}' {
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, p.errorf("duplicate key %q", key)
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		if out[key], err = p.value(); err != nil {
			return nil, err
		}
		if p.peek() != ',' {
			break
		}
		p.pos++
	}
	return out, p.expect('}')
}

func (p *literalParser) value() (any, error) {
	switch c := p.peek(); {
	case c == '\'' || c == '"':
		return p.str()
	case c == '(':
		return p.intTuple()
	case c == '[':
		return p.skipList()
	case strings.HasPrefix(p.s[p.pos:], "True"):
		p.pos += 4
		return true, nil
	case strings.HasPrefix(p.s[p.pos:], "False"):
		p.pos += 5
		return false, nil
	}
	return nil, p.errorf("unsupported value")
}

// str parses a quoted string without escapes (NumPy never writes any in the
// keys and descriptors this package supports).
func (p *literalParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("expected a quoted string")
	}
	end := strings.IndexByte(p.s[p.pos+1:], q)
	if end < 0 {
		return "", p.errorf("unterminated string")
	}
	s := p.s[p.pos+1 : p.pos+1+end]
	if strings.IndexByte(s, '\\') >= 0 {
		return "", p.errorf("escaped strings are not supported")
	}
	p.pos += end + 2
	return s, nil
}

func (p *literalParser) intTuple() ([]int, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	out := []int{}
	for p.peek() != ')' {
		n, err := p.nonNegativeInt()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if p.peek() != ',' {
			break
		}
		p.pos++
	}
	return out, p.expect(')')
}

// nonNegativeInt parses a decimal dimension, allowing Python 2's 'L'
// suffix found in old files.
func (p *literalParser) nonNegativeInt() (int, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	if start == p.pos {
		return 0, p.errorf("expected a non-negative integer")
	}
	n, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
	if err != nil || n > maxDim {
		return 0, p.errorf("dimension %s is too large", p.s[start:p.pos])
	}
	if p.pos < len(p.s) && p.s[p.pos] == 'L' {
		p.pos++
	}
	return int(n), nil
}

// skipList consumes a (possibly nested) list without interpreting it.
func (p *literalParser) skipList() (any, error) {
	depth := 0
	for ; p.pos < len(p.s); p.pos++ {
		switch p.s[p.pos] {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
			if depth == 0 {
				p.pos++
				return structured{}, nil
			}
		case '\'', '"':
			if _, err := p.str(); err != nil {
				return nil, err
			}
			p.pos-- // the loop's increment steps past the closing quote
		}
	}
	return nil, p.errorf("unterminated list")
}
