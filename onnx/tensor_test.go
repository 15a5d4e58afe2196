package onnx

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// elementBits returns a's elements as bit patterns: IEEE bits for floats,
// two's complement for signed integers, 0/1 for bools.
func elementBits(a *Array) []uint64 {
	v := reflect.ValueOf(a.Data)
	out := make([]uint64, v.Len())
	for i := range out {
		switch e := v.Index(i).Interface().(type) {
		case float32:
			out[i] = uint64(math.Float32bits(e))
		case float64:
			out[i] = math.Float64bits(e)
		case bool:
			if e {
				out[i] = 1
			}
		default:
			rv := reflect.ValueOf(e)
			if rv.CanInt() {
				out[i] = uint64(rv.Int())
			} else {
				out[i] = rv.Uint()
			}
		}
	}
	return out
}

// elementBytes serializes a's elements little-endian, as numpy's tobytes does.
func elementBytes(t *testing.T, a *Array) []byte {
	tp, err := EncodeTensor("x", a)
	if err != nil {
		t.Fatal(err)
	}
	return tp.RawData
}

type fixtureTensor struct {
	DataType int32         `json:"data_type"`
	Dims     []int         `json:"dims"`
	Bits     []json.Number `json:"bits"`
}

func loadFixtureTensors(t *testing.T) (*ModelProto, map[string]fixtureTensor) {
	t.Helper()
	m, err := LoadFile("testdata/tensors.onnx")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/tensors.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	want := map[string]fixtureTensor{}
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(m.GetGraph().GetInitializer()) {
		t.Fatalf("tensors.json has %d tensors, tensors.onnx %d", len(want), len(m.GetGraph().GetInitializer()))
	}
	return m, want
}

// parseBits reads a JSON integer as a bit pattern (negative values in two's complement).
func parseBits(t *testing.T, n json.Number) uint64 {
	s := n.String()
	if strings.HasPrefix(s, "-") {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return uint64(v)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDecodeMatchesNumpy decodes tensors written by onnx.numpy_helper (raw_data)
// and onnx.helper.make_tensor (typed fields) and compares with the values numpy
// decoded from the same protos.
func TestDecodeMatchesNumpy(t *testing.T) {
	m, want := loadFixtureTensors(t)
	for _, tp := range m.GetGraph().GetInitializer() {
		w := want[tp.GetName()]
		a, err := DecodeTensor(tp, "")
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if int32(a.Type) != w.DataType || fmt.Sprint(a.Dims) != fmt.Sprint(w.Dims) {
			t.Errorf("%s: got %v %v, want %v %v", tp.GetName(), a.Type, a.Dims, TensorProto_DataType(w.DataType), w.Dims)
			continue
		}
		typ, n := sliceType(a.Data)
		if typ != goType(a.Type) {
			t.Errorf("%s: Data is %s, want %s", tp.GetName(), typ, goType(a.Type))
		}
		got := elementBits(a)
		if n != len(w.Bits) {
			t.Errorf("%s: %d elements, want %d", tp.GetName(), n, len(w.Bits))
			continue
		}
		for i, b := range w.Bits {
			if got[i] != parseBits(t, b) {
				t.Errorf("%s[%d]: bits %#x, want %s", tp.GetName(), i, got[i], b)
			}
		}
	}
}

// TestEncodeMatchesNumpy checks EncodeTensor reproduces numpy_helper.from_array's
// raw_data byte for byte, and that decoding it gives the array back.
func TestEncodeMatchesNumpy(t *testing.T) {
	m, _ := loadFixtureTensors(t)
	for _, tp := range m.GetGraph().GetInitializer() {
		a, err := DecodeTensor(tp, "")
		if err != nil {
			t.Fatal(err)
		}
		enc, err := EncodeTensor(tp.GetName(), a)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if strings.HasSuffix(tp.GetName(), "_raw") && !proto.Equal(enc, tp) {
			t.Errorf("%s: EncodeTensor = %v, numpy_helper wrote %v", tp.GetName(), enc, tp)
		}
		back, err := DecodeTensor(enc, "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(elementBits(back), elementBits(a)) || fmt.Sprint(back.Dims) != fmt.Sprint(a.Dims) {
			t.Errorf("%s: encode/decode changed the array", tp.GetName())
		}
	}
}

// TestDecodeNodeTestData decodes every tensor input and output of ONNX's
// backend tests and compares it with numpy's decoding (hash of the element
// bytes, recorded by testdata/gen_fixtures.py).
func TestDecodeNodeTestData(t *testing.T) {
	if _, err := os.Stat(onnxTestData); err != nil {
		t.Skip("ONNX backend test data not installed")
	}
	f, err := os.Open("testdata/nodetests.txt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	decoded, unsupported := 0, 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		path, dtype, dims, digest := fields[0], fields[1], fields[2], fields[3]
		data, err := os.ReadFile(filepath.Join(onnxTestData, path))
		if err != nil {
			t.Fatal(err)
		}
		tp := new(TensorProto)
		if err := proto.Unmarshal(data, tp); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		a, err := DecodeTensor(tp, "")
		if digest == "-" { // a data type the package leaves alone
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s (type %s): err = %v, want ErrUnsupported", path, dtype, err)
			}
			unsupported++
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		gotDims := strings.Trim(strings.ReplaceAll(fmt.Sprint(a.Dims), " ", ","), "[]")
		if gotDims == "" {
			gotDims = "-"
		}
		sum := sha256.Sum256(elementBytes(t, a))
		if gotDims != dims || strconv.Itoa(int(a.Type)) != dtype || hex.EncodeToString(sum[:8]) != digest {
			t.Errorf("%s: decoded %v %v (digest %x), numpy: type %s dims %s digest %s",
				path, a.Type, a.Dims, sum[:8], dtype, dims, digest)
		}
		decoded++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tensors match numpy, %d of unsupported types rejected", decoded, unsupported)
}

func tensor(name string, dt TensorProto_DataType, dims []int64) *TensorProto {
	d := int32(dt)
	return &TensorProto{Name: &name, DataType: &d, Dims: dims}
}

func TestDecodeMalformed(t *testing.T) {
	withRaw := func(tp *TensorProto, raw []byte) *TensorProto { tp.RawData = raw; return tp }
	tests := []struct {
		name string
		t    *TensorProto
		want string
	}{
		{"raw length", withRaw(tensor("conv1.weight", TensorProto_FLOAT, []int64{3, 4}), make([]byte, 100)),
			`tensor "conv1.weight": raw_data has 100 bytes, dims [3 4] of FLOAT need 48`},
		{"negative dim", withRaw(tensor("w", TensorProto_FLOAT, []int64{2, -1}), make([]byte, 8)),
			`tensor "w": dims [2 -1]: negative dimension`},
		{"huge dims", withRaw(tensor("w", TensorProto_FLOAT, []int64{1 << 40, 1 << 20}), make([]byte, 8)),
			`tensor "w": raw_data has 8 bytes, dims [1099511627776 1048576] of FLOAT need 4611686018427387904`},
		{"overflow", withRaw(tensor("w", TensorProto_FLOAT, []int64{1 << 40, 1 << 40}), make([]byte, 8)),
			`tensor "w": dims [1099511627776 1099511627776]: element count overflows`},
		{"byte overflow", withRaw(tensor("w", TensorProto_DOUBLE, []int64{1 << 61}), make([]byte, 8)),
			`tensor "w": dims [2305843009213693952] of DOUBLE: byte size overflows`},
		{"dim beyond int", withRaw(tensor("w", TensorProto_FLOAT, []int64{math.MaxInt64}), nil),
			`tensor "w": no data: dims [9223372036854775807] of FLOAT need 9223372036854775807 elements`},
		{"no data", tensor("b", TensorProto_FLOAT, []int64{4}), `tensor "b": no data`},
		{"typed length", &TensorProto{Name: proto.String("b"), DataType: proto.Int32(1), Dims: []int64{3}, FloatData: []float32{1, 2}},
			`tensor "b": float_data has 2 values, dims [3] need 3`},
		{"typed huge", &TensorProto{Name: proto.String("b"), DataType: proto.Int32(7), Dims: []int64{1 << 50}, Int64Data: []int64{1}},
			`tensor "b": int64_data has 1 values, dims [1125899906842624] need 1125899906842624`},
		{"wrong field", &TensorProto{Name: proto.String("s"), DataType: proto.Int32(1), Dims: []int64{1}, Int64Data: []int64{1}},
			`tensor "s": FLOAT data is in int64_data, want float_data or raw_data`},
		{"two fields", &TensorProto{Name: proto.String("s"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{1}, Int64Data: []int64{1}},
			`tensor "s": both float_data and int64_data are set`},
		{"raw and typed", &TensorProto{Name: proto.String("s"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{1}, RawData: make([]byte, 4)},
			`tensor "s": both raw_data and float_data are set`},
		{"int8 range", &TensorProto{Name: proto.String("q"), DataType: proto.Int32(3), Dims: []int64{2}, Int32Data: []int32{5, 200}},
			`tensor "q": int32_data[1] = 200 does not fit INT8`},
		{"float16 range", &TensorProto{Name: proto.String("h"), DataType: proto.Int32(10), Dims: []int64{1}, Int32Data: []int32{-1}},
			`tensor "h": int32_data[0] = -1 does not fit FLOAT16`},
		{"uint32 range", &TensorProto{Name: proto.String("u"), DataType: proto.Int32(12), Dims: []int64{1}, Uint64Data: []uint64{1 << 32}},
			`tensor "u": uint64_data[0] = 4294967296 does not fit UINT32`},
		{"bool value", &TensorProto{Name: proto.String("m"), DataType: proto.Int32(9), Dims: []int64{1}, Int32Data: []int32{2}},
			`tensor "m": int32_data[0] = 2 is not a BOOL (0 or 1)`},
		{"bool byte", withRaw(tensor("m", TensorProto_BOOL, []int64{2}), []byte{1, 7}),
			`tensor "m": raw_data byte 1 = 7 is not a BOOL (0 or 1)`},
		{"undefined", withRaw(tensor("u", TensorProto_UNDEFINED, nil), nil), `tensor "u": data type is UNDEFINED`},
		{"segment", &TensorProto{Name: proto.String("g"), DataType: proto.Int32(1), Segment: &TensorProto_Segment{}},
			`tensor "g": segmented tensors are unsupported`},
		{"string", &TensorProto{Name: proto.String("s"), DataType: proto.Int32(8), Dims: []int64{1}, StringData: [][]byte{[]byte("a")}},
			`tensor "s": unsupported data type STRING`},
		{"external without dir", &TensorProto{Name: proto.String("e"), DataType: proto.Int32(1), Dims: []int64{1},
			DataLocation: TensorProto_EXTERNAL.Enum(), ExternalData: []*StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}},
			`tensor "e": data is external but no base directory was given`},
	}
	for _, tc := range tests {
		a, err := DecodeTensor(tc.t, "")
		if err == nil {
			t.Errorf("%s: decoded %v, want error %q", tc.name, a, tc.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := DecodeTensor(nil, ""); err == nil {
		t.Error("DecodeTensor(nil): no error")
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		a    *Array
		want string
	}{
		{"type", &Array{Type: TensorProto_FLOAT, Dims: []int{2}, Data: []float64{1, 2}}, `tensor "x": FLOAT wants []float32, got []float64`},
		{"half", &Array{Type: TensorProto_FLOAT16, Dims: []int{1}, Data: []int16{1}}, `tensor "x": FLOAT16 wants []uint16, got []int16`},
		{"length", &Array{Type: TensorProto_INT64, Dims: []int{2, 2}, Data: []int64{1, 2, 3}}, `tensor "x": data has 3 elements, dims [2 2] need 4`},
		{"negative", &Array{Type: TensorProto_INT64, Dims: []int{-1}, Data: []int64{}}, `tensor "x": dims [-1]: negative dimension`},
		{"nil data", &Array{Type: TensorProto_INT64, Dims: []int{0}}, `tensor "x": INT64 wants []int64, got <nil>`},
		{"string", &Array{Type: TensorProto_STRING, Dims: []int{1}, Data: []string{"a"}}, `tensor "x": unsupported data type STRING`},
		{"nil", nil, `tensor "x": nil array`},
	}
	for _, tc := range tests {
		_, err := EncodeTensor("x", tc.a)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestFloat32sAndInt64s(t *testing.T) {
	m, _ := loadFixtureTensors(t)
	byName := map[string]*TensorProto{}
	for _, tp := range m.GetGraph().GetInitializer() {
		byName[tp.GetName()] = tp
	}
	f, dims, err := Float32s(byName["float_typed"], "")
	if err != nil || len(f) != 12 || fmt.Sprint(dims) != "[3 4]" || f[2] != 1.5 {
		t.Errorf("Float32s = %v %v %v", f, dims, err)
	}
	i, dims, err := Int64s(byName["int64_scalar_raw"], "")
	if err != nil || len(i) != 1 || len(dims) != 0 || i[0] != -1 {
		t.Errorf("Int64s = %v %v %v", i, dims, err)
	}
	if _, _, err := Float32s(byName["int64_raw"], ""); err == nil || err.Error() != `tensor "int64_raw": data type is INT64, want FLOAT` {
		t.Errorf("Float32s(INT64) error = %v", err)
	}
}
