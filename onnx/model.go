package onnx

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"
)

// Load parses a serialized ModelProto. Tensors stored as external data keep
// their references; see LoadExternalData. Fields unknown to this schema are
// kept and written back by Save.
func Load(data []byte) (*ModelProto, error) {
	if len(data) == 0 {
		return nil, errors.New("onnx: parse model: empty input")
	}
	m := new(ModelProto)
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("onnx: parse model: %w", err)
	}
	return m, nil
}

// LoadFile reads and parses the model file at path. External data is not
// read: call LoadExternalData(m, filepath.Dir(path)) to inline it.
func LoadFile(path string) (*ModelProto, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// maxModelBytes is the largest message protobuf readers accept (2 GiB − 1).
const maxModelBytes = math.MaxInt32

// Save serializes m deterministically: the same model gives the same bytes.
// A model larger than protobuf's 2 GiB limit is an error; save it with
// SaveFile and WithExternalData instead.
func Save(m *ModelProto) ([]byte, error) {
	if m == nil {
		return nil, errors.New("onnx: save: nil model")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: save: %w", err)
	}
	if len(b) > maxModelBytes {
		return nil, fmt.Errorf("onnx: save: model is %d bytes, over protobuf's 2 GiB limit; use external data", len(b))
	}
	return b, nil
}

// SaveOption configures SaveFile.
type SaveOption func(*saveConfig)

type saveConfig struct {
	dataFile  string // "" keeps all data inside the model file
	threshold int
}

// WithExternalData makes SaveFile write the raw_data of every graph
// initializer (in the main graph and in subgraphs) of at least threshold
// bytes to file, a path relative to the model's directory, and record
// location, offset and length in the model instead. Tensors of 4 KiB or more
// start on 4096-byte boundaries, smaller ones on 64-byte boundaries.
// Initializers holding their values in typed fields (float_data, ...) stay
// inline. The model must not already reference external data.
func WithExternalData(file string, threshold int) SaveOption {
	return func(c *saveConfig) {
		c.dataFile, c.threshold = file, threshold
	}
}

// SaveFile writes m to path, replacing it atomically: the bytes go to a
// temporary file in the same directory, which is synced and renamed over
// path. With WithExternalData the data file is staged the same way and
// renamed first, so a reader never finds the new model without its data and
// neither file is ever half-written. m itself is not modified.
func SaveFile(path string, m *ModelProto, opts ...SaveOption) error {
	var cfg saveConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.dataFile == "" {
		b, err := Save(m)
		if err != nil {
			return err
		}
		model, err := stageFile(path, writeBytes(b))
		if err != nil {
			return err
		}
		return commit(model)
	}
	if err := checkDataFile(path, cfg); err != nil {
		return err
	}
	if m == nil {
		return errors.New("onnx: save: nil model")
	}
	if err := checkNoExternal(m); err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	out := proto.Clone(m).(*ModelProto)
	dataPath := filepath.Join(filepath.Dir(path), filepath.FromSlash(cfg.dataFile))
	data, err := stageFile(dataPath, func(w *bufio.Writer) error {
		return externalize(out, cfg.dataFile, cfg.threshold, w)
	})
	if err != nil {
		return err
	}
	b, err := Save(out)
	if err != nil {
		discard(data)
		return err
	}
	model, err := stageFile(path, writeBytes(b))
	if err != nil {
		discard(data)
		return err
	}
	return commit(data, model)
}

func checkDataFile(path string, cfg saveConfig) error {
	if !filepath.IsLocal(filepath.FromSlash(cfg.dataFile)) {
		return fmt.Errorf("onnx: save %s: external data file %q is not a relative path inside the model's directory", path, cfg.dataFile)
	}
	if cfg.threshold < 0 {
		return fmt.Errorf("onnx: save %s: negative external data threshold %d", path, cfg.threshold)
	}
	dataPath := filepath.Join(filepath.Dir(path), filepath.FromSlash(cfg.dataFile))
	if filepath.Clean(dataPath) == filepath.Clean(path) {
		return fmt.Errorf("onnx: save %s: the external data file is the model file", path)
	}
	return nil
}

// staged is a fully written temporary file waiting to be renamed to dst.
type staged struct {
	tmp, dst string
}

// stageFile writes a temporary file next to dst with write, syncs it and
// gives it dst's permissions (0644 for a new file).
func stageFile(dst string, write func(*bufio.Writer) error) (staged, error) {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return staged{}, fmt.Errorf("onnx: save: %w", err)
	}
	s := staged{tmp: f.Name(), dst: dst}
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(fileMode(dst))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.tmp)
		return staged{}, fmt.Errorf("onnx: save %s: %w", dst, err)
	}
	return s, nil
}

// fileMode is the permission of the existing file at path, or 0644.
func fileMode(path string) fs.FileMode {
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		return fi.Mode().Perm()
	}
	return 0o644
}

func writeBytes(b []byte) func(*bufio.Writer) error {
	return func(w *bufio.Writer) error {
		_, err := w.Write(b)
		return err
	}
}

// commit renames staged files into place in order. On failure the remaining
// temporary files are removed. The directories are synced so that the
// renames survive a crash.
func commit(files ...staged) error {
	for i, s := range files {
		if err := os.Rename(s.tmp, s.dst); err != nil {
			for _, rest := range files[i:] {
				discard(rest)
			}
			return fmt.Errorf("onnx: save: %w", err)
		}
	}
	for _, s := range files {
		syncDir(filepath.Dir(s.dst))
	}
	return nil
}

func discard(s staged) {
	if s.tmp != "" {
		os.Remove(s.tmp)
	}
}

// syncDir flushes a directory's entries; failure only weakens durability.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
