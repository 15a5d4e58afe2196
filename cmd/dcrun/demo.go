package main

import (
	"bytes"
	"fmt"

	"github.com/dcnet-go/dcnet/internal/imageio"
	"github.com/dcnet-go/dcnet/internal/npy"
	"github.com/dcnet-go/dcnet/models/fmnist/zoo"
)

// demo describes a model and input built into the binary, which
// "dcrun infer" runs when no model is given.
type demo struct {
	Description string
	Model       []byte
	Input       []byte // a .npy array, or a PNG/JPEG image (InputIsImage)
	InputName   string // the input's file name, for messages
	// InputIsImage selects image decoding with the Image options.
	InputIsImage bool
	Image        imageio.Options
	Labels       []string // class names of the output, or nil
}

// defaultDemo is the model "dcrun infer" runs without arguments: the
// CNN9 trained on Fashion-MNIST (package zoo) on the first test image.
var defaultDemo = demo{
	Description:  "a 9-layer CNN trained on Fashion-MNIST (93.5 % test accuracy), classifying the first 28×28 test image (an ankle boot)",
	Model:        zoo.CNN9,
	Input:        zoo.SamplePNG,
	InputName:    "sample_t10k_0.png",
	InputIsImage: true,
	Image: imageio.Options{
		Channels: 1, Height: 28, Width: 28,
		Mean: []float64{zoo.Mean}, Std: []float64{zoo.Std},
	},
	Labels: zoo.Classes,
}

// load returns the demo's model bytes and decoded input.
func (d demo) load() (model []byte, input array, err error) {
	if d.InputIsImage {
		shape, data, err := imageio.Decode(bytes.NewReader(d.Input), d.Image)
		if err != nil {
			return nil, array{}, fmt.Errorf("built-in demo %s: %w", d.InputName, err)
		}
		return d.Model, array{shape, data}, nil
	}
	shape, data, err := npy.Read(bytes.NewReader(d.Input))
	if err != nil {
		return nil, array{}, fmt.Errorf("built-in demo %s: %w", d.InputName, err)
	}
	return d.Model, array{shape, data}, nil
}
