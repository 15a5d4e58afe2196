// Package imageio turns PNG and JPEG images into normalised float32
// tensors for image models.
//
// It sits at the bottom of the pipeline beside package npy: it knows
// nothing about graphs or the runtime, and returns a shape and a flat
// []float32 in NCHW order ([1, C, H, W]) that callers wrap in their tensor
// type.
//
// Load applies the usual classification preprocessing in this order:
//
//  1. decode (grayscale, RGB, RGBA, paletted, 8 or 16 bits per channel; an
//     alpha channel is dropped, as PIL's convert("RGB") does);
//  2. convert to the requested channel count: gray is replicated to RGB,
//     RGB becomes gray by ITU-R 601 luma, 0.299 R + 0.587 G + 0.114 B;
//  3. optionally resize with a bilinear (triangle) filter, either straight
//     to H×W or, PyTorch-style, shorter side to S and then a centre crop;
//  4. scale to [0, 1] and normalise each channel c as (x − mean[c]) / std[c].
//
// The resampler matches PIL's BILINEAR filter (and torchvision's Resize on
// PIL images and torch.nn.functional.interpolate with antialias=True):
// plain bilinear interpolation with half-pixel centres when enlarging, and a
// triangle filter widened by the scale factor when shrinking, so that
// downsampled images are not aliased. Unlike PIL it works on floats and
// does not round resized pixels back to 8 bits.
package imageio
