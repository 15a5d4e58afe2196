package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dcnet-go/dcnet/internal/imageio"
	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/onnx"
	"github.com/dcnet-go/dcnet/runtime"
)

// array is a decoded input file: a shape and a typed slice ([]float32,
// []float64, []int64, []int32, []uint8, []int8 or []bool), row-major.
type array struct {
	shape []int
	data  any
}

// bindInputs assigns "[NAME=]FILE" arguments to the model's inputs. An
// argument with a NAME= prefix goes to that input; the others go to the
// model's only input or, for a model with several, one each to the inputs
// not named explicitly, in order. Several files for one input are stacked
// along the batch dimension. The result maps input names to file paths.
func bindInputs(args []string, infos []runtime.ValueInfo) (map[string][]string, error) {
	known := map[string]bool{}
	for _, in := range infos {
		known[in.Name] = true
	}
	bound := map[string][]string{}
	var unnamed []string
	for _, arg := range args {
		name, path, named := splitInputArg(arg)
		if !named {
			unnamed = append(unnamed, path)
			continue
		}
		if !known[name] {
			return nil, fmt.Errorf("input %q: the model has no such input (it has %s)", name, inputList(infos))
		}
		bound[name] = append(bound[name], path)
	}
	if len(unnamed) > 0 {
		if err := bindUnnamed(bound, unnamed, infos); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, in := range infos {
		if len(bound[in.Name]) == 0 {
			missing = append(missing, strconv.Quote(in.Name))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no file given for input %s (use -i NAME=FILE)", strings.Join(missing, ", "))
	}
	return bound, nil
}

// splitInputArg splits "NAME=FILE". An argument that names an existing
// file as a whole is a path even if it contains '='.
func splitInputArg(arg string) (name, path string, named bool) {
	i := strings.IndexByte(arg, '=')
	if i < 0 {
		return "", arg, false
	}
	if _, err := os.Stat(arg); err == nil {
		return "", arg, false
	}
	return arg[:i], arg[i+1:], true
}

func bindUnnamed(bound map[string][]string, unnamed []string, infos []runtime.ValueInfo) error {
	if len(infos) == 1 {
		bound[infos[0].Name] = append(bound[infos[0].Name], unnamed...)
		return nil
	}
	var free []string
	for _, in := range infos {
		if len(bound[in.Name]) == 0 {
			free = append(free, in.Name)
		}
	}
	if len(unnamed) > len(free) {
		return fmt.Errorf("%d input files without a NAME= prefix for %d unassigned inputs (%s); name them with -i NAME=FILE", len(unnamed), len(free), inputList(infos))
	}
	for i, path := range unnamed {
		bound[free[i]] = []string{path}
	}
	return nil
}

func inputList(infos []runtime.ValueInfo) string {
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = strconv.Quote(in.Name)
	}
	return strings.Join(names, ", ")
}

// imagePrep holds the image preprocessing flags; zero values mean "derive
// from the model input".
type imagePrep struct {
	height, width int
	resize        imageio.ResizeMode
	shorter       int
	mean, std     []float64
}

// isImagePath reports whether a file is read as an image (by extension).
func isImagePath(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// loadInput reads the files bound to one input, converts them to the
// input's element type and stacks them into one batch.
func loadInput(info runtime.ValueInfo, paths []string, prep imagePrep) (*runtime.Tensor, error) {
	parts := make([]array, len(paths))
	for i, path := range paths {
		a, err := loadFile(info, path, prep)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", info.Name, err)
		}
		parts[i] = a
	}
	a, err := stack(parts, paths)
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", info.Name, err)
	}
	if len(info.Shape) > 0 && info.Shape[0] >= 0 && len(a.shape) == len(info.Shape) && a.shape[0] != info.Shape[0] {
		return nil, fmt.Errorf("input %q: the files give a batch of %d, but the model's batch dimension is fixed at %d", info.Name, a.shape[0], info.Shape[0])
	}
	return a.tensor(), nil
}

// loadFile reads one .npy or image file for the input.
func loadFile(info runtime.ValueInfo, path string, prep imagePrep) (array, error) {
	if isImagePath(path) {
		return loadImage(info, path, prep)
	}
	if strings.ToLower(filepath.Ext(path)) != ".npy" {
		return array{}, fmt.Errorf("%s: unsupported file type (want .npy, .png, .jpg or .jpeg)", path)
	}
	shape, data, err := npy.ReadFile(path)
	if err != nil {
		return array{}, err
	}
	a := array{shape, data}
	if info.Shape != nil && len(shape) == len(info.Shape)-1 {
		a.shape = append([]int{1}, shape...) // a single sample without its batch dimension
	}
	if a.data, err = convertData(a.data, info.DType); err != nil {
		return array{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// imageOptions derives the image preprocessing for an [N, C, H, W] input.
func imageOptions(info runtime.ValueInfo, prep imagePrep) (imageio.Options, error) {
	if info.Shape != nil && len(info.Shape) != 4 {
		return imageio.Options{}, fmt.Errorf("images need a 4-D [N, C, H, W] input, the model's is %s", info)
	}
	if info.DType != 0 && info.DType != runtime.Float32 && info.DType != runtime.Float64 {
		return imageio.Options{}, fmt.Errorf("images need a FLOAT input, the model's is %s", info)
	}
	opts := imageio.Options{Channels: 3, Height: 224, Width: 224, Resize: prep.resize, ShorterSide: prep.shorter}
	if info.Shape != nil {
		if c := info.Shape[1]; c >= 0 {
			if c != 1 && c != 3 {
				return imageio.Options{}, fmt.Errorf("the model's input has %d channels; images give 1 or 3", c)
			}
			opts.Channels = c
		}
		if h := info.Shape[2]; h > 0 {
			opts.Height = h
		}
		if w := info.Shape[3]; w > 0 {
			opts.Width = w
		}
	}
	if prep.height > 0 {
		opts.Height, opts.Width = prep.height, prep.width
	}
	var err error
	if opts.Mean, err = perChannel("mean", prep.mean, opts.Channels); err != nil {
		return imageio.Options{}, err
	}
	if opts.Std, err = perChannel("std", prep.std, opts.Channels); err != nil {
		return imageio.Options{}, err
	}
	if prep.mean == nil && opts.Channels == 3 {
		opts.Mean = imageio.ImageNetMean
	}
	if prep.std == nil && opts.Channels == 3 {
		opts.Std = imageio.ImageNetStd
	}
	return opts, nil
}

// perChannel expands a single value to every channel.
func perChannel(flag string, v []float64, channels int) ([]float64, error) {
	switch len(v) {
	case 0:
		return nil, nil
	case 1:
		out := make([]float64, channels)
		for i := range out {
			out[i] = v[0]
		}
		return out, nil
	case channels:
		return v, nil
	}
	return nil, fmt.Errorf("--%s has %d values for %d channels", flag, len(v), channels)
}

func loadImage(info runtime.ValueInfo, path string, prep imagePrep) (array, error) {
	opts, err := imageOptions(info, prep)
	if err != nil {
		return array{}, fmt.Errorf("%s: %w", path, err)
	}
	shape, data, err := imageio.Load(path, opts)
	if err != nil {
		return array{}, err
	}
	converted, err := convertData(data, info.DType)
	if err != nil {
		return array{}, fmt.Errorf("%s: %w", path, err)
	}
	return array{shape, converted}, nil
}

// stack concatenates arrays along their first dimension.
func stack(parts []array, paths []string) (array, error) {
	if len(parts) == 1 {
		return parts[0], nil
	}
	first := parts[0]
	if len(first.shape) == 0 {
		return array{}, fmt.Errorf("%s: cannot stack 0-d arrays into a batch", paths[0])
	}
	shape := append([]int(nil), first.shape...)
	for i, p := range parts[1:] {
		sameRank := len(p.shape) == len(first.shape)
		if !sameRank || !runtime.SameShape(p.shape[1:], first.shape[1:]) || dtypeOf(p.data) != dtypeOf(first.data) {
			return array{}, fmt.Errorf("cannot stack %s (%s) with %s (%s): shapes or types differ beyond the batch dimension",
				paths[i+1], describe(p), paths[0], describe(first))
		}
		shape[0] += p.shape[0]
	}
	datas := make([]any, len(parts))
	for i, p := range parts {
		datas[i] = p.data
	}
	return array{shape, concat(datas)}, nil
}

func describe(a array) string {
	return fmt.Sprintf("%s %s", strings.TrimPrefix(fmt.Sprintf("%T", a.data), "[]"), runtime.ShapeString(a.shape))
}

func concat(parts []any) any {
	switch parts[0].(type) {
	case []float32:
		return concatOf[float32](parts)
	case []float64:
		return concatOf[float64](parts)
	case []int64:
		return concatOf[int64](parts)
	case []int32:
		return concatOf[int32](parts)
	case []uint8:
		return concatOf[uint8](parts)
	case []int8:
		return concatOf[int8](parts)
	case []bool:
		return concatOf[bool](parts)
	}
	return nil
}

func concatOf[T any](parts []any) []T {
	var out []T
	for _, p := range parts {
		out = append(out, p.([]T)...)
	}
	return out
}

// convertData converts data to the element type a model input declares:
// between float32 and float64, and int32 to int64. want 0 (undeclared)
// keeps the file's type.
func convertData(data any, want runtime.DType) (any, error) {
	have := dtypeOf(data)
	if want == 0 || have == want {
		return data, nil
	}
	switch {
	case have == runtime.Float64 && want == runtime.Float32:
		return convertSlice[float64, float32](data.([]float64)), nil
	case have == runtime.Float32 && want == runtime.Float64:
		return convertSlice[float32, float64](data.([]float32)), nil
	case have == runtime.Int32 && want == runtime.Int64:
		return convertSlice[int32, int64](data.([]int32)), nil
	case have == runtime.Float32 && want == runtime.Float16:
		src := data.([]float32)
		out := make([]uint16, len(src))
		for i, v := range src {
			out[i] = onnx.Float32ToFloat16(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("the file holds %v data, the model input wants %v", have, want)
}

func convertSlice[S, D float32 | float64 | int32 | int64](src []S) []D {
	out := make([]D, len(src))
	for i, v := range src {
		out[i] = D(v)
	}
	return out
}

// dtypeOf names the element type of a typed slice.
func dtypeOf(data any) runtime.DType {
	switch data.(type) {
	case []float32:
		return runtime.Float32
	case []float64:
		return runtime.Float64
	case []int64:
		return runtime.Int64
	case []int32:
		return runtime.Int32
	case []uint8:
		return runtime.Uint8
	case []int8:
		return runtime.Int8
	case []bool:
		return runtime.Bool
	case []uint16:
		return runtime.Float16
	}
	return 0
}

// tensor wraps the array without copying.
func (a array) tensor() *runtime.Tensor {
	switch d := a.data.(type) {
	case []float32:
		return runtime.New(a.shape, d)
	case []float64:
		return runtime.New(a.shape, d)
	case []int64:
		return runtime.New(a.shape, d)
	case []int32:
		return runtime.New(a.shape, d)
	case []uint8:
		return runtime.New(a.shape, d)
	case []int8:
		return runtime.New(a.shape, d)
	case []bool:
		return runtime.New(a.shape, d)
	case []uint16:
		return runtime.New(a.shape, d)
	}
	panic(fmt.Sprintf("unreachable: array of %T", a.data))
}
