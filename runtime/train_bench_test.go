package runtime_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dcnet-go/dcnet/runtime"
)

// cnn9 is the CNN9 of ../shared/docs/anchors.md on Fashion-MNIST images:
// three stages of three 3×3 convolutions (32, 64, 128 channels), each with
// BatchNormalization and ReLU, max-pooling after the first two stages,
// global average pooling and a fully-connected layer to 10 classes.
var cnn9 = cnnSpec{batch: 256, in: 1, h: 28, w: 28, stages: [][]int{{32, 32, 32}, {64, 64, 64}, {128, 128, 128}}, classes: 10}

// BenchmarkTrainCNN9 measures one training step (forward in training mode
// and backward, no optimiser) of CNN9 at batch 256 on random data, in
// images per second. (decop's BenchmarkTrainCNN9 adds the DecoupledConv
// variants.)
func BenchmarkTrainCNN9(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("standard/threads=%d", threads), func(b *testing.B) {
			benchmarkTrain(b, cnn9, threads)
		})
	}
}

func benchmarkTrain(b *testing.B, spec cnnSpec, threads int) {
	tr, err := runtime.NewTrainer(cnnModel(spec, 1), runtime.WithTrainerThreads(threads))
	if err != nil {
		b.Fatal(err)
	}
	x := randomInput(1, spec.batch, spec.in, spec.h, spec.w)
	r := randomInput(2, spec.batch, spec.classes)
	trainStep(b, tr, x, r) // warm the buffer pool
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		trainStep(b, tr, x, r)
	}
	b.ReportMetric(float64(spec.batch*b.N)/time.Since(start).Seconds(), "images/s")
}
