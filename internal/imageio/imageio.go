package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
	"io"
	"math"
	"os"
)

// MaxPixels bounds the width × height of an image Load decodes (about
// 5800 × 5800); the size is checked from the file's header before any pixel
// buffer is allocated. Decoding holds the image and its float64 planes, up
// to about 30 bytes per pixel.
const MaxPixels = 1 << 25

// maxFileBytes bounds the encoded file size Load reads into memory.
const maxFileBytes = 1 << 30

// ResizeMode selects how an image is brought to the requested size.
type ResizeMode int

const (
	// Stretch resizes the image to exactly Height × Width, ignoring its
	// aspect ratio.
	Stretch ResizeMode = iota
	// ShorterSideCrop resizes the image, keeping its aspect ratio, so that
	// its shorter side is ShorterSide pixels, then cuts the central
	// Height × Width window, like torchvision's Resize(S) + CenterCrop.
	ShorterSideCrop
)

// Options describe the tensor Load produces.
type Options struct {
	// Channels is 1 (grayscale) or 3 (RGB).
	Channels int
	// Height and Width are the output size. Both zero keeps the image's
	// own size; otherwise both must be positive.
	Height, Width int
	// Resize selects the resize mode; the zero value is Stretch.
	Resize ResizeMode
	// ShorterSide is the length of the shorter side before the centre crop
	// in ShorterSideCrop mode. Zero means round(max(Height, Width) × 256 /
	// 224), the ImageNet convention (256 for a 224 crop).
	ShorterSide int
	// Mean and Std hold one value per channel, applied after scaling
	// pixels to [0, 1]: x' = (x − Mean[c]) / Std[c]. nil means 0 and 1.
	Mean, Std []float64
}

// ImageNet's per-channel RGB statistics, the usual normalisation for
// torchvision models.
var (
	ImageNetMean = []float64{0.485, 0.456, 0.406}
	ImageNetStd  = []float64{0.229, 0.224, 0.225}
)

// Load reads a PNG or JPEG file and returns it preprocessed as described by
// opts: shape is [1, C, H, W] and data holds the C planes of H × W pixels,
// row-major.
func Load(path string, opts Options) (shape []int, data []float32, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	shape, data, err = Decode(f, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return shape, data, nil
}

// Decode is Load for an encoded image read from r.
func Decode(r io.Reader, opts Options) (shape []int, data []float32, err error) {
	if err := opts.check(); err != nil {
		return nil, nil, fmt.Errorf("imageio: %w", err)
	}
	img, err := decodeImage(r)
	if err != nil {
		return nil, nil, fmt.Errorf("imageio: %w", err)
	}
	pl := toPlanes(img, opts.Channels)
	if pl, err = resize(pl, opts); err != nil {
		return nil, nil, fmt.Errorf("imageio: %w", err)
	}
	return []int{1, opts.Channels, pl.h, pl.w}, pl.normalize(opts.Mean, opts.Std), nil
}

func (o Options) check() error {
	if o.Channels != 1 && o.Channels != 3 {
		return fmt.Errorf("channels must be 1 or 3, got %d", o.Channels)
	}
	if o.Height < 0 || o.Width < 0 || (o.Height == 0) != (o.Width == 0) {
		return fmt.Errorf("invalid output size %d×%d", o.Height, o.Width)
	}
	if o.Resize != Stretch && o.Resize != ShorterSideCrop {
		return fmt.Errorf("unknown resize mode %d", o.Resize)
	}
	if o.ShorterSide < 0 {
		return fmt.Errorf("negative shorter side %d", o.ShorterSide)
	}
	for name, v := range map[string][]float64{"mean": o.Mean, "std": o.Std} {
		if v != nil && len(v) != o.Channels {
			return fmt.Errorf("%s has %d values for %d channels", name, len(v), o.Channels)
		}
	}
	for c, s := range o.Std {
		if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("std[%d] = %v: must be finite and non-zero", c, s)
		}
	}
	return nil
}

// decodeImage checks format and size from the header, then decodes.
func decodeImage(r io.Reader) (image.Image, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("file is over %d bytes", maxFileBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, errors.New("not a PNG or JPEG image")
		}
		return nil, err
	}
	if format != "png" && format != "jpeg" {
		return nil, fmt.Errorf("unsupported image format %q (want PNG or JPEG)", format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxPixels/cfg.Height {
		return nil, fmt.Errorf("image is %d×%d pixels (limit %d pixels)", cfg.Width, cfg.Height, MaxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", format, err)
	}
	return img, nil
}
