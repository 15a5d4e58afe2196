package onnx

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"
)

// externalRef is a tensor's parsed external_data.
type externalRef struct {
	location string // relative to the model's directory, slash-separated
	offset   int64
	length   int64 // -1: up to the end of the file
}

// parseExternalRef reads the location, offset and length entries of t's
// external_data. The location must stay inside the model's directory.
// Unknown keys (checksum, basepath) are ignored; the checksum is not verified.
func parseExternalRef(t *TensorProto) (externalRef, error) {
	ref := externalRef{length: -1}
	seen := map[string]bool{}
	for _, e := range t.ExternalData {
		key, val := e.GetKey(), e.GetValue()
		if seen[key] {
			return ref, fmt.Errorf("external_data key %q is repeated", key)
		}
		seen[key] = true
		switch key {
		case "location":
			ref.location = val
		case "offset", "length":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return ref, fmt.Errorf("external_data %s %q is not a non-negative integer", key, val)
			}
			if key == "offset" {
				ref.offset = n
			} else {
				ref.length = n
			}
		}
	}
	if ref.location == "" {
		return ref, errors.New("external_data has no location")
	}
	if !filepath.IsLocal(filepath.FromSlash(ref.location)) {
		return ref, fmt.Errorf("external_data location %q is not a relative path inside the model's directory", ref.location)
	}
	return ref, nil
}

// dataFiles reads external data files inside one base directory, opening
// each file once. os.Root keeps symbolic links from leading outside it.
type dataFiles struct {
	baseDir string
	root    *os.Root
	files   map[string]*os.File
}

func openDataFiles(baseDir string) (*dataFiles, error) {
	if baseDir == "" {
		return nil, errors.New("data is external but no base directory was given")
	}
	root, err := os.OpenRoot(baseDir)
	if err != nil {
		return nil, err
	}
	return &dataFiles{baseDir: baseDir, root: root, files: map[string]*os.File{}}, nil
}

func (d *dataFiles) Close() {
	for _, f := range d.files {
		f.Close()
	}
	d.root.Close()
}

func (d *dataFiles) open(location string) (*os.File, error) {
	if f, ok := d.files[location]; ok {
		return f, nil
	}
	f, err := d.root.Open(filepath.FromSlash(location))
	if err != nil {
		return nil, err
	}
	d.files[location] = f
	return f, nil
}

// read returns the bytes ref names. When want ≥ 0 it is the number of bytes
// the tensor's dims and data type need; the span is checked against it and
// against the file's size before anything is allocated.
func (d *dataFiles) read(ref externalRef, want int) ([]byte, error) {
	path := filepath.Join(d.baseDir, filepath.FromSlash(ref.location))
	f, err := d.open(ref.location)
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("external data file %s is not a regular file", path)
	}
	size := fi.Size()
	if ref.offset > size {
		return nil, fmt.Errorf("external data offset %d is beyond the end of %s (%d bytes)", ref.offset, path, size)
	}
	length := ref.length
	if length < 0 {
		length = size - ref.offset
	}
	if length > size-ref.offset {
		return nil, fmt.Errorf("external data offset %d + length %d is beyond the end of %s (%d bytes)", ref.offset, length, path, size)
	}
	if want >= 0 && length != int64(want) {
		return nil, fmt.Errorf("external data in %s has %d bytes at offset %d, the tensor needs %d", path, length, ref.offset, want)
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, ref.offset); err != nil {
		return nil, fmt.Errorf("external data: reading %s: %w", path, err)
	}
	return buf, nil
}

// decodeExternal reads the elements of an EXTERNAL tensor of n elements of
// type dt from baseDir.
func decodeExternal(t *TensorProto, baseDir string, dt TensorProto_DataType, n int) (any, error) {
	if field, _, _ := typedField(t); field != "" || t.RawData != nil {
		return nil, errors.New("data_location is EXTERNAL but the tensor also holds data")
	}
	ref, err := parseExternalRef(t)
	if err != nil {
		return nil, err
	}
	want, ok := rawSize(dt, n)
	if !ok {
		return nil, fmt.Errorf("dims %v of %v: byte size overflows", t.Dims, dt)
	}
	files, err := openDataFiles(baseDir)
	if err != nil {
		return nil, err
	}
	defer files.Close()
	raw, err := files.read(ref, want)
	if err != nil {
		return nil, err
	}
	return decodeRaw(dt, raw, n)
}

// LoadExternalData replaces every external tensor in m (initializers,
// attribute tensors, subgraphs, functions) by an inline one: the bytes are
// read into raw_data, and external_data and data_location are cleared.
// Locations are resolved inside baseDir (the model file's directory; "." for
// the working directory); absolute paths and paths that leave it are
// rejected. Offsets and lengths are checked against the file's size and the
// tensor's dims before anything is allocated. Errors name the tensor and the
// file, all problems are reported together, and on error m is left unchanged.
func LoadExternalData(m *ModelProto, baseDir string) error {
	if m == nil {
		return errors.New("onnx: nil model")
	}
	var external []*TensorProto
	_ = walkTensors(m, func(t *TensorProto) error {
		if t.GetDataLocation() == TensorProto_EXTERNAL {
			external = append(external, t)
		}
		return nil
	})
	if len(external) == 0 {
		return nil
	}
	files, err := openDataFiles(baseDir)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", external[0].GetName(), err)
	}
	defer files.Close()
	loaded := make([][]byte, len(external))
	var errs []error
	for i, t := range external {
		if loaded[i], err = readExternalTensor(t, files); err != nil {
			errs = append(errs, fmt.Errorf("tensor %q: %w", t.GetName(), err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for i, t := range external {
		t.RawData, t.ExternalData, t.DataLocation = loaded[i], nil, nil
	}
	return nil
}

// readExternalTensor reads the raw bytes of one external tensor, checking
// their length against its dims when its data type has a fixed size.
func readExternalTensor(t *TensorProto, files *dataFiles) ([]byte, error) {
	ref, err := parseExternalRef(t)
	if err != nil {
		return nil, err
	}
	_, n, err := shapeOf(t.Dims)
	if err != nil {
		return nil, err
	}
	want, ok := rawSize(TensorProto_DataType(t.GetDataType()), n)
	if !ok {
		want = -1
	}
	return files.read(ref, want)
}

// Alignment of tensors in an external data file: large tensors start on a
// page boundary so a reader can map them; small ones on a cache line, which
// satisfies the alignment of every element type.
const (
	pageAlign  = 4096
	smallAlign = 64
)

// externalize moves the raw_data of every graph initializer (in the main
// graph and in subgraphs) holding at least threshold bytes to w, recording
// location, offset and length in the tensor. Tensors whose values are in
// typed fields stay inline. m must not already reference external data.
func externalize(m *ModelProto, location string, threshold int, w *bufio.Writer) error {
	var offset int64
	return walkMessages(m, func(msg proto.Message) error {
		g, ok := msg.(*GraphProto)
		if !ok {
			return nil
		}
		for _, t := range g.Initializer {
			size := len(t.RawData)
			if t.RawData == nil || size < threshold {
				continue
			}
			align := int64(smallAlign)
			if size >= pageAlign {
				align = pageAlign
			}
			pad := (align - offset%align) % align
			if _, err := w.Write(make([]byte, pad)); err != nil {
				return err
			}
			offset += pad
			if _, err := w.Write(t.RawData); err != nil {
				return err
			}
			setExternal(t, location, offset, size)
			offset += int64(size)
		}
		return nil
	})
}

func setExternal(t *TensorProto, location string, offset int64, length int) {
	entry := func(k, v string) *StringStringEntryProto {
		return &StringStringEntryProto{Key: &k, Value: &v}
	}
	t.ExternalData = []*StringStringEntryProto{
		entry("location", location),
		entry("offset", strconv.FormatInt(offset, 10)),
		entry("length", strconv.Itoa(length)),
	}
	loc := TensorProto_EXTERNAL
	t.DataLocation = &loc
	t.RawData = nil
}

// checkNoExternal reports the first tensor of m that already references
// external data.
func checkNoExternal(m *ModelProto) error {
	return walkTensors(m, func(t *TensorProto) error {
		if t.GetDataLocation() == TensorProto_EXTERNAL {
			return fmt.Errorf("tensor %q already references external data; call LoadExternalData first", t.GetName())
		}
		return nil
	})
}
