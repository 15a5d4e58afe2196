package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dcnet-go/dcnet/internal/dataset"
	"github.com/dcnet-go/dcnet/models/fmnist/zoo"
	"github.com/dcnet-go/dcnet/runtime"
	"github.com/dcnet-go/dcnet/runtime/train"
)

// loadSplit reads the first limit (0: all) images of a Fashion-MNIST split
// ("train" or "t10k") with their labels, normalised as (x/255 − 0.2860) /
// 0.3530: [N, 1, 28, 28].
func loadSplit(dir, split string, limit int) (*train.Dataset, error) {
	images := filepath.Join(dir, split+"-images-idx3-ubyte.gz")
	labels := filepath.Join(dir, split+"-labels-idx1-ubyte.gz")
	b, err := dataset.Load(images, dataset.Options{Labels: labels, Limit: limit, Mean: []float64{zoo.Mean}, Std: []float64{zoo.Std}})
	if err != nil {
		return nil, err
	}
	return &train.Dataset{X: b.Data, Shape: b.Shape, Labels: b.Labels}, nil
}

// datasetPresent reports whether dir holds the four Fashion-MNIST files.
func datasetPresent(dir string) bool {
	for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// evaluateSession returns the accuracy of an inference session's "logits"
// on the labelled data d, in batches of 500.
func evaluateSession(ctx context.Context, s *runtime.Session, d *train.Dataset) (float64, error) {
	correct := 0
	for lo := 0; lo < d.Len(); lo += 500 {
		b := d.Slice(lo, min(lo+500, d.Len()))
		out, err := s.Run(ctx, map[string]*runtime.Tensor{"input": runtime.New(b.Shape, b.X)})
		if err != nil {
			return 0, err
		}
		correct += train.Correct(out["logits"], b.Labels)
	}
	if d.Len() == 0 {
		return 0, fmt.Errorf("no test samples")
	}
	return float64(correct) / float64(d.Len()), nil
}
