// Package train trains ONNX models with the runtime's backward pass.
//
// It sits on top of package runtime, whose Trainer runs a model forward in
// training mode and back-propagates gradients into its parameters
// (runtime.Param: Value and Grad, float32, the initializer's shape). This
// package supplies everything around that engine, and the commands
// (dcconvert finetune, the models/fmnist program) are thin layers over it:
//
//   - optimisers over []*runtime.Param with PyTorch's update rules: SGD
//     (momentum, dampening, Nesterov, L2 weight decay added to the gradient,
//     as torch.optim.SGD) and AdamW (decoupled weight decay, bias
//     correction, as torch.optim.AdamW);
//   - learning-rate schedules indexed by optimiser step: Constant, Cosine
//     (torch's CosineAnnealingLR), OneCycle (torch's OneCycleLR, optionally
//     cycling the momentum) and StepDecay (torch's StepLR);
//   - gradient clipping by global norm (torch.nn.utils.clip_grad_norm_);
//   - losses on logits [N, K] that return the loss and its gradient
//     dLogits [N, K]: softmax cross-entropy with label smoothing
//     (torch.nn.functional.cross_entropy) and Hinton's distillation loss
//     T²·KL(softmax(t/T) ‖ softmax(s/T)), averaged over the batch, and
//     their weighted sum;
//   - the training loop (Loop): seeded shuffling and random horizontal
//     flips, forward → loss → backward → clip → step → projection →
//     schedule, a progress bar, validation after every epoch, an atomic
//     checkpoint after every epoch and a bit-identical resume.
//
// # Numerics
//
// The optimisers compute in float32 in the order PyTorch's CPU kernels do,
// fused multiply-adds included, and reproduce torch 1.13's parameters bit
// for bit on the fixtures of testdata/gen_fixtures.py (the tests allow a
// relative error of 1e-6). Losses are computed in float64 and their
// gradients rounded to float32.
//
// # Determinism
//
// Every random choice (the order of the samples, the flips) comes from one
// PCG generator seeded by Config.Seed, drawn in a fixed order. With the
// same seed and the same number of threads (the runtime's reductions are
// split by thread count) two runs produce the same parameters bit for bit,
// and a run resumed from a checkpoint continues exactly as the
// uninterrupted run would have.
package train
