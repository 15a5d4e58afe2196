// Package zoo holds the trained Fashion-MNIST models of the toolkit, embedded so that programs
// (dcrun's built-in demo, the examples, tests) can use them without files.
//
// The models are the CNN9 of ../shared/docs/anchors.md (three stages of three 3×3 conv + BN +
// ReLU with 32, 64, 128 channels, 2×2 max-pool after stages 1 and 2, global average pool, a
// linear classifier), trained by models/fmnist/torch/train_cnn9.py with the anchors' recipe
// (results in cnn9_torch.json). Input "input": float32 [N, 1, 28, 28], pixels normalised as
// (x/255 − Mean)/Std; output "logits": float32 [N, 10] in the order of Classes.
package zoo

import _ "embed"

// CNN9 is the trained CNN9 with BatchNormalization folded into the convolutions (opset 13).
//
//go:embed cnn9.onnx
var CNN9 []byte

// CNN9WithBN is the same network with BatchNormalization kept as separate nodes.
//
//go:embed cnn9_bn.onnx
var CNN9WithBN []byte

// SamplePNG is the first image of the Fashion-MNIST test set (an ankle boot), 28×28 grayscale.
//
//go:embed sample_t10k_0.png
var SamplePNG []byte

// SampleLabel is the class index of SamplePNG.
const SampleLabel = 9

// Mean and Std normalise pixels scaled to [0, 1]: (x − Mean)/Std.
const (
	Mean = 0.2860
	Std  = 0.3530
)

// Classes are the ten Fashion-MNIST classes in label order.
var Classes = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
