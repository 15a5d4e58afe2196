package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dcnet-go/dcnet/internal/imageio"
)

// folderImages decodes image files one by one with imageio, in order.
type folderImages struct {
	files []string
	opts  imageio.Options
	shape []int // [C, H, W], from the options or the first image
	next  int
}

// openFolder lists the images of a folder (or takes a single image file)
// and, when the folder has class subfolders, labels them.
func openFolder(path string, opts Options) (source, labelSource, []string, error) {
	files, labels, classes, err := listImages(path)
	if err != nil {
		return nil, nil, nil, err
	}
	src := &folderImages{files: files, opts: imageio.Options{Channels: opts.Channels, Height: opts.Height, Width: opts.Width}}
	if src.opts.Channels == 0 {
		src.opts.Channels = 3
	}
	if src.opts.Mean, err = perChannel("mean", opts.Mean, src.opts.Channels, 0); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if src.opts.Std, err = perChannel("std", opts.Std, src.opts.Channels, 1); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := src.fixShape(); err != nil {
		return nil, nil, nil, err
	}
	var ls labelSource
	if labels != nil {
		ls = &sliceLabels{labels: labels}
	}
	return src, ls, classes, nil
}

// fixShape sets the sample shape from the options or, when they give no
// size, from the first image (decoded once here).
func (s *folderImages) fixShape() error {
	if s.opts.Height > 0 || len(s.files) == 0 {
		s.shape = []int{s.opts.Channels, s.opts.Height, s.opts.Width}
		return nil
	}
	shape, _, err := imageio.Load(s.files[0], s.opts)
	if err != nil {
		return err
	}
	s.shape = shape[1:]
	return nil
}

func (s *folderImages) count() int         { return len(s.files) }
func (s *folderImages) sampleShape() []int { return s.shape }
func (s *folderImages) close() error       { return nil }

func (s *folderImages) read(dst []float32) error {
	size := elements(s.shape)
	for off := 0; off < len(dst); off += size {
		path := s.files[s.next]
		shape, data, err := imageio.Load(path, s.opts)
		if err != nil {
			return err
		}
		if !slices.Equal(shape[1:], s.shape) {
			return fmt.Errorf("%s: image of %d×%d pixels, but %s is %d×%d; give a size to resize them all", path, shape[2], shape[3], s.files[0], s.shape[1], s.shape[2])
		}
		copy(dst[off:off+size], data)
		s.next++
	}
	return nil
}

// listImages returns the image files under path in sorted order. A single
// image file is returned alone. A folder whose images sit in subfolders is
// a labelled dataset: the classes are the subfolders holding images, sorted
// by name, and each image's label is its class's index.
func listImages(path string) (files []string, labels []int, classes []string, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dataset: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, nil, nil, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dataset: %w", err)
	}
	var top []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		full := filepath.Join(path, name)
		if e.IsDir() {
			imgs, err := walkImages(full)
			if err != nil {
				return nil, nil, nil, err
			}
			if len(imgs) == 0 {
				continue
			}
			for range imgs {
				labels = append(labels, len(classes))
			}
			classes = append(classes, name)
			files = append(files, imgs...)
		} else if isImagePath(name) {
			top = append(top, full)
		}
	}
	switch {
	case len(classes) > 0 && len(top) > 0:
		return nil, nil, nil, fmt.Errorf("%s: holds both images (%s) and class subfolders (%s); put every image in a class folder, or use a flat folder", path, filepath.Base(top[0]), classes[0])
	case len(classes) > 0:
		return files, labels, classes, nil
	case len(top) == 0:
		return nil, nil, nil, fmt.Errorf("%s: no .png, .jpg or .jpeg images found", path)
	}
	return top, nil, nil, nil
}

// walkImages lists the image files under dir, at any depth, in lexical
// order of their paths (hidden files and folders skipped).
func walkImages(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && isImagePath(p) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return out, nil
}
