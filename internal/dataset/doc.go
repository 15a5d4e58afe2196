// Package dataset reads image datasets as float32 batches for calibration,
// evaluation and training.
//
// It sits at the bottom of the pipeline beside packages npy and imageio,
// which it uses: it knows nothing about graphs or the runtime. A dataset is
// a sequence of samples, each [C, H, W] (any shape for .npy), with an
// optional integer label. Three layouts are recognised, by content for
// files and by being a directory for folders:
//
//   - a NumPy .npy array [N, ...] of float32 (or float64, narrowed) used as
//     it is, already preprocessed; labels from a separate .npy of integers
//     [N] (Options.Labels);
//   - an IDX file as distributed with MNIST and Fashion-MNIST, gzip'ed or
//     raw: images idx3 of unsigned bytes [N, H, W] become [N, 1, H, W],
//     scaled to [0, 1] and normalised as (x − mean) / std; labels from an
//     idx1 file of unsigned bytes [N] (Options.Labels, or a .npy);
//   - a folder of PNG or JPEG images decoded by imageio (channels, size,
//     mean and std from Options), in sorted path order; when the folder
//     holds one subfolder per class, the label of an image is the index of
//     its subfolder among the class folders sorted by name (as torchvision's
//     ImageFolder does). A single image file is a dataset of one sample.
//
// A Reader streams the samples in order, Next(n) at a time. Options.Limit
// keeps the first samples only and, for IDX files and folders, reads
// nothing beyond them. Headers and declared sizes are checked before any
// buffer is allocated, and every error names the file.
//
// # Layouts
//
// A batch of n samples is Data: [n, C, H, W] (row-major float32, Shape
// holds the dimensions) and Labels: [n] (nil for unlabelled data).
package dataset
