package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dcnet-go/dcnet/onnx"
)

// A checkpoint is a directory DIR/epoch-NNNN holding three files:
//
//	model.onnx     the model with the parameters (and batch-norm running
//	               statistics) after epoch NNNN, from Network.Model
//	optimizer.bin  the optimiser's buffers, float32 little-endian, one
//	               after the other in the order state.json lists them
//	state.json     epochs and steps done, the sampler's PCG state, the
//	               run's settings, the optimiser's kind, step count and
//	               momentum, the buffers' layout and CRC-32, the history
//
// It is written into a temporary directory beside it and renamed into
// place, so a checkpoint directory is always complete; older ones are then
// removed (Config.Keep newest are kept).

const (
	checkpointFormat = "dcnet-train-checkpoint/1"
	modelFile        = "model.onnx"
	optimizerFile    = "optimizer.bin"
	stateFile        = "state.json"
	epochPrefix      = "epoch-"
)

// RunInfo are the settings a resumed run must share with the run that
// wrote the checkpoint to continue it exactly.
type RunInfo struct {
	Epochs  int    `json:"epochs"`
	Batch   int    `json:"batch"`
	Seed    uint64 `json:"seed"`
	Flip    bool   `json:"flip"`
	Samples int    `json:"samples"`
	Threads int    `json:"threads"`
}

// slotRecord places one optimiser buffer in optimizer.bin; Len is −1 for a
// buffer not created yet.
type slotRecord struct {
	Param  string `json:"param"`
	Name   string `json:"name"`
	Offset int64  `json:"offset"` // in float32 values
	Len    int    `json:"len"`
}

type optimizerRecord struct {
	Kind     string       `json:"kind"`
	Steps    int64        `json:"steps"`
	Momentum float64      `json:"momentum"`
	Slots    []slotRecord `json:"slots"`
	Values   int64        `json:"values"` // float32 values in optimizer.bin
	CRC32    uint32       `json:"crc32"`  // IEEE, of optimizer.bin
}

// checkpointState is state.json.
type checkpointState struct {
	Format    string          `json:"format"`
	Epoch     int             `json:"epoch"` // epochs completed
	Step      int             `json:"step"`  // optimiser steps completed
	RNG       []byte          `json:"rng"`   // PCG state (MarshalBinary)
	Run       RunInfo         `json:"run"`
	Optimizer optimizerRecord `json:"optimizer"`
	History   History         `json:"history"`
}

// Checkpoint is a checkpoint read back by LoadCheckpoint.
type Checkpoint struct {
	Dir       string
	Model     *onnx.ModelProto
	Epoch     int // epochs completed
	Step      int // optimiser steps completed
	Run       RunInfo
	Optimizer *OptimizerState
	History   History
	rng       []byte
}

// saveCheckpoint writes the loop's state after its last completed epoch.
func (l *Loop) saveCheckpoint() error {
	m, err := l.net.Model()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	rng, err := l.sampler.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	st := &checkpointState{
		Format: checkpointFormat, Epoch: l.epoch, Step: l.step, RNG: rng,
		Run: l.runInfo(), History: l.history,
	}
	if err := writeCheckpoint(l.cfg.Checkpoint, l.epoch, m, l.opt.State(), st, max(l.cfg.Keep, 1)); err != nil {
		return fmt.Errorf("checkpoint %s: %w", l.cfg.Checkpoint, err)
	}
	return nil
}

func (l *Loop) runInfo() RunInfo {
	return RunInfo{Epochs: l.cfg.Epochs, Batch: l.cfg.Batch, Seed: l.cfg.Seed, Flip: l.cfg.Flip, Samples: l.data.Len(), Threads: l.cfg.Threads}
}

// writeCheckpoint writes epoch's checkpoint into dir atomically and prunes
// all but the keep newest.
func writeCheckpoint(dir string, epoch int, m *onnx.ModelProto, opt *OptimizerState, st *checkpointState, keep int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := fmt.Sprintf("%s%04d", epochPrefix, epoch)
	tmp, err := os.MkdirTemp(dir, "."+name+"-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := onnx.SaveFile(filepath.Join(tmp, modelFile), m); err != nil {
		return err
	}
	if st.Optimizer, err = writeOptimizer(filepath.Join(tmp, optimizerFile), opt); err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(tmp, stateFile), func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	final := filepath.Join(dir, name)
	if err := replaceDir(tmp, final); err != nil {
		return err
	}
	syncDir(dir)
	return prune(dir, keep)
}

// replaceDir renames tmp to final, replacing an existing final.
func replaceDir(tmp, final string) error {
	if _, err := os.Stat(final); err == nil {
		old := tmp + ".old"
		if err := os.Rename(final, old); err != nil {
			return err
		}
		defer os.RemoveAll(old)
	}
	return os.Rename(tmp, final)
}

// writeOptimizer writes the optimiser's buffers and returns their layout.
func writeOptimizer(path string, s *OptimizerState) (optimizerRecord, error) {
	rec := optimizerRecord{Kind: s.Kind, Steps: s.Steps, Momentum: s.Momentum}
	crc := crc32.NewIEEE()
	err := writeSynced(path, func(w io.Writer) error {
		out := io.MultiWriter(w, crc)
		buf := make([]byte, 4)
		for _, sl := range s.Slots {
			r := slotRecord{Param: sl.Param, Name: sl.Name, Offset: rec.Values, Len: -1}
			if sl.Data != nil {
				r.Len = len(sl.Data)
				for _, v := range sl.Data {
					binary.LittleEndian.PutUint32(buf, math.Float32bits(v))
					if _, err := out.Write(buf); err != nil {
						return err
					}
				}
				rec.Values += int64(len(sl.Data))
			}
			rec.Slots = append(rec.Slots, r)
		}
		return nil
	})
	rec.CRC32 = crc.Sum32()
	return rec, err
}

// writeSynced creates path, fills it with fill through a buffer, and syncs
// it.
func writeSynced(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// checkpointDirs lists dir's complete checkpoints, oldest first.
func checkpointDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type numbered struct {
		name  string
		epoch int
	}
	var found []numbered
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), epochPrefix)
		if !e.IsDir() || !ok {
			continue
		}
		if epoch, err := strconv.Atoi(n); err == nil {
			found = append(found, numbered{e.Name(), epoch})
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].epoch < found[j].epoch })
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = filepath.Join(dir, f.name)
	}
	return out, nil
}

// prune removes all but the keep newest checkpoints.
func prune(dir string, keep int) error {
	dirs, err := checkpointDirs(dir)
	if err != nil {
		return err
	}
	for _, d := range dirs[:max(len(dirs)-keep, 0)] {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}

// LoadCheckpoint reads the newest checkpoint in dir (the directory given
// as Config.Checkpoint).
func LoadCheckpoint(dir string) (*Checkpoint, error) {
	dirs, err := checkpointDirs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoCheckpoint, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w: no %sNNNN directory in %s", ErrNoCheckpoint, epochPrefix, dir)
	}
	return readCheckpoint(dirs[len(dirs)-1])
}

// readCheckpoint reads one checkpoint directory.
func readCheckpoint(dir string) (*Checkpoint, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var st checkpointState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", filepath.Join(dir, stateFile), err)
	}
	if st.Format != checkpointFormat {
		return nil, fmt.Errorf("checkpoint %s: format %q, want %q", dir, st.Format, checkpointFormat)
	}
	m, err := onnx.LoadFile(filepath.Join(dir, modelFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	opt, err := readOptimizer(filepath.Join(dir, optimizerFile), st.Optimizer)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &Checkpoint{Dir: dir, Model: m, Epoch: st.Epoch, Step: st.Step, Run: st.Run, Optimizer: opt, History: st.History, rng: st.RNG}, nil
}

// readOptimizer reads optimizer.bin as rec describes it, checking its size
// and CRC before decoding.
func readOptimizer(path string, rec optimizerRecord) (*OptimizerState, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != 4*rec.Values {
		return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(raw), 4*rec.Values)
	}
	if crc32.ChecksumIEEE(raw) != rec.CRC32 {
		return nil, fmt.Errorf("%s: CRC mismatch (the file is damaged)", path)
	}
	s := &OptimizerState{Kind: rec.Kind, Steps: rec.Steps, Momentum: rec.Momentum}
	for _, r := range rec.Slots {
		sl := Slot{Param: r.Param, Name: r.Name}
		if r.Len >= 0 {
			if r.Offset < 0 || r.Offset+int64(r.Len) > rec.Values {
				return nil, fmt.Errorf("%s: buffer %s of %q lies outside the file", path, r.Name, r.Param)
			}
			sl.Data = make([]float32, r.Len)
			for i := range sl.Data {
				sl.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(r.Offset+int64(i)):]))
			}
		}
		s.Slots = append(s.Slots, sl)
	}
	return s, nil
}

// Restore continues the run from ck: the loop's network must have been
// built from ck.Model, and the run's settings (epochs, batch, seed, flips,
// number of samples) must match those that wrote ck. It restores the
// optimiser's state, the sampler's generator, the step count and the
// history.
func (l *Loop) Restore(ck *Checkpoint) error {
	want := l.runInfo()
	got := ck.Run
	if got.Epochs != want.Epochs || got.Batch != want.Batch || got.Seed != want.Seed || got.Flip != want.Flip || got.Samples != want.Samples {
		return fmt.Errorf("checkpoint %s was written by a run with %s; this run has %s: resume with the same settings", ck.Dir, got.describe(), want.describe())
	}
	if ck.Epoch > want.Epochs || ck.Step != ck.Epoch*l.steps {
		return fmt.Errorf("checkpoint %s: %d epochs and %d steps done do not fit %d epochs of %d steps", ck.Dir, ck.Epoch, ck.Step, want.Epochs, l.steps)
	}
	pcg := new(rand.PCG)
	if err := pcg.UnmarshalBinary(ck.rng); err != nil {
		return fmt.Errorf("checkpoint %s: generator state: %w", ck.Dir, err)
	}
	if err := l.opt.Restore(ck.Optimizer); err != nil {
		return fmt.Errorf("checkpoint %s: %w", ck.Dir, err)
	}
	l.sampler = &sampler{pcg: pcg, rng: rand.New(pcg)}
	l.epoch, l.step = ck.Epoch, ck.Step
	l.history = History{Epochs: append([]EpochStats(nil), ck.History.Epochs...), Steps: append([]StepStats(nil), ck.History.Steps...)}
	if got.Threads != want.Threads && l.cfg.Progress != nil {
		fmt.Fprintf(l.cfg.Progress, "note: checkpoint written with %d threads, resuming with %d: the result will differ slightly from an uninterrupted run\n", got.Threads, want.Threads)
	}
	return nil
}

func (r RunInfo) describe() string {
	return fmt.Sprintf("%d epochs, batch %d, seed %d, flip %v, %d samples", r.Epochs, r.Batch, r.Seed, r.Flip, r.Samples)
}

// ErrNoCheckpoint is wrapped by LoadCheckpoint's error when the directory
// does not exist or holds no checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")
