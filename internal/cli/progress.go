package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/softmaxctl/softmaxctl/internal/train"
)

// trainBar is train's progress bar on a terminal: one bar per epoch,
// labelled like the epoch lines, with the epoch's running loss and
// accuracy and the time left for the whole run. It is cleared before
// anything else is printed, so no message lands on the bar's line.
type trainBar struct {
	w      io.Writer
	epochs int
	start  time.Time
	bar    *progressbar.ProgressBar
	epoch  int
}

func newTrainBar(w io.Writer, epochs int) *trainBar {
	return &trainBar{w: w, epochs: epochs, start: time.Now()}
}

// update shows p, starting a new bar when a new epoch begins.
func (b *trainBar) update(p train.Progress) {
	if b.bar == nil || p.Epoch != b.epoch {
		b.clear()
		b.epoch = p.Epoch
		b.bar = progressbar.NewOptions(p.Batches,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	b.bar.Describe(b.label(p))
	_ = b.bar.Set(p.Batch)
}

// label is the text before the bar.
func (b *trainBar) label(p train.Progress) string {
	left := "?"
	if d := p.Done(); d > 0 {
		el := time.Since(b.start)
		left = formatLeft(time.Duration(float64(el) * (1 - d) / d))
	}
	return fmt.Sprintf("epoch %*d/%d  loss %.4f  acc %.4f  %s left", len(fmt.Sprint(b.epochs)), p.Epoch, b.epochs, p.Loss, p.Acc, left)
}

// clear erases the bar's line, if a bar is showing.
func (b *trainBar) clear() {
	if b.bar != nil {
		_ = b.bar.Clear()
		b.bar = nil
	}
}

// formatLeft writes a remaining time as 12s, 3m04s or 1h02m.
func formatLeft(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
