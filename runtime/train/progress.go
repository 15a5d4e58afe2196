package train

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws the progress bar of a run: on a terminal one line redrawn
// in place ("\r"), otherwise one line every `every` steps. A nil writer
// prints nothing.
type progress struct {
	w          io.Writer
	tty        bool
	every      int
	epochs     int
	steps      int       // per epoch
	startStep  int       // global step the run (or resume) started at
	done       int       // steps done in this run
	start      time.Time // of the run
	epochStart time.Time
	lastDraw   time.Time
	lineActive bool
}

func newProgress(w io.Writer, every, epochs, steps, startStep int) *progress {
	if every <= 0 {
		every = 50
	}
	return &progress{w: w, tty: isTerminal(w), every: every, epochs: epochs, steps: steps, startStep: startStep, start: time.Now()}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// epochStarted starts the clock of an epoch's images per second.
func (p *progress) epochStarted() { p.epochStart = time.Now() }

// stepDone reports step (from 1) of epoch with the epoch's running loss,
// accuracy and sample count.
func (p *progress) stepDone(epoch, step int, loss, acc float64, seen int) {
	if p.w == nil {
		return
	}
	p.done++
	now := time.Now()
	last := step == p.steps
	if p.tty {
		if !last && now.Sub(p.lastDraw) < 100*time.Millisecond {
			return
		}
		p.lastDraw = now
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(epoch, step, loss, acc, seen, now))
		p.lineActive = true
		return
	}
	if step%p.every == 0 || last {
		fmt.Fprintln(p.w, p.line(epoch, step, loss, acc, seen, now))
	}
}

// line formats the bar: epoch, step/total with a bar, the epoch's running
// loss and accuracy, its images per second, and the estimated time left
// (at this run's rate of steps, validation included).
func (p *progress) line(epoch, step int, loss, acc float64, seen int, now time.Time) string {
	const width = 20
	fill := width * step / p.steps
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	images := "-"
	if dt := now.Sub(p.epochStart).Seconds(); dt > 0 {
		images = fmt.Sprintf("%.0f", float64(seen)/dt)
	}
	eta := "?"
	if elapsed := now.Sub(p.start).Seconds(); elapsed > 0 {
		remaining := p.epochs*p.steps - (p.startStep + p.done)
		eta = formatDuration(time.Duration(float64(remaining) * elapsed / float64(p.done) * float64(time.Second)))
	}
	return fmt.Sprintf("epoch %d/%d [%s] %d/%d  loss %.4f  acc %5.2f%%  %s img/s  ETA %s",
		epoch, p.epochs, bar, step, p.steps, loss, 100*acc, images, eta)
}

// epochDone ends the bar's line and prints the epoch's summary.
func (p *progress) epochDone(s EpochStats) {
	if p.w == nil {
		return
	}
	if p.lineActive {
		fmt.Fprintln(p.w)
		p.lineActive = false
	}
	msg := fmt.Sprintf("epoch %d/%d: train loss %.4f acc %.2f%%", s.Epoch, p.epochs, s.Train.Loss, 100*s.Train.Accuracy)
	if s.Val != nil {
		msg += fmt.Sprintf(" | val loss %.4f acc %.2f%%", s.Val.Loss, 100*s.Val.Accuracy)
	}
	msg += fmt.Sprintf(" | %.0f img/s, %s", s.ImagesPerSecond, formatDuration(time.Duration(s.Seconds*float64(time.Second))))
	fmt.Fprintln(p.w, msg)
}

// abort ends a half-drawn line.
func (p *progress) abort() {
	if p.w != nil && p.lineActive {
		fmt.Fprintln(p.w)
		p.lineActive = false
	}
}

// formatDuration prints d as 1h02m03s, 2m03s or 3s.
func formatDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm%02ds", s/3600, s/60%60, s%60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}
