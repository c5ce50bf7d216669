package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/imageprep"
	"github.com/softmaxctl/softmaxctl/internal/model"
)

// PredictOptions are the inputs of `softmaxctl predict`.
type PredictOptions struct {
	IO     *IO
	Model  string
	Top    int
	Invert string
	JSON   bool
	Args   []string
}

// NewCmdPredict builds `softmaxctl predict`.
func NewCmdPredict(ios *IO, runF func(*cobra.Command, *PredictOptions) error) *cobra.Command {
	opts := &PredictOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "predict [flags] IMAGE...",
		Short: "Classify your own images (PNG, JPEG, GIF, WebP)",
		Long: `Classify images with a saved model. Each image is turned into what the model
was trained on: grayscale, a light object on a black background (dark-on-light
pictures are inverted, see --invert), framed in a square with its aspect ratio
kept, and shrunk to 28x28 with area averaging. A folder means every image in
it; - reads one image from standard input.

--invert auto looks at the image's border: its median brightness is taken as
the background, and the picture is inverted when what differs from that
background is mostly darker than it (a drawing or a photo of an object on a
light surface). always and never override the rule.`,
		Example: `  softmaxctl predict shirt.jpg
  softmaxctl predict --top 1 photos/
  cat sneaker.png | softmaxctl predict --json -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Args = args
			if runF != nil {
				return runF(cmd, opts)
			}
			return runPredict(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Model, "model", "m", "model.safetensors", "the model file")
	cmd.Flags().IntVarP(&opts.Top, "top", "k", 3, "how many classes to show per image")
	cmd.Flags().StringVar(&opts.Invert, "invert", "auto", "auto, always or never: whether to invert dark-on-light images")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object per image")
	return cmd
}

// imageExts are the file types a folder argument picks up.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif", ".webp"}

// expandArgs turns folder arguments into the images they hold, sorted.
func expandArgs(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		if a == "-" {
			files = append(files, a)
			continue
		}
		info, err := os.Stat(a)
		if err != nil || !info.IsDir() {
			files = append(files, a) // a missing file is reported with the others
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("read folder %s: %w", a, err)
		}
		n := len(files)
		for _, e := range entries {
			if !e.IsDir() && slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
				files = append(files, filepath.Join(a, e.Name()))
			}
		}
		if len(files) == n {
			return nil, fmt.Errorf("folder %s has no PNG, JPEG, GIF or WebP images", a)
		}
	}
	return files, nil
}

type prediction struct {
	Class string  `json:"class"`
	Index int     `json:"index"`
	Prob  float64 `json:"prob"`
}

type predictLine struct {
	File  string       `json:"file"`
	Top   []prediction `json:"top,omitempty"`
	Error string       `json:"error,omitempty"`
}

func runPredict(o *PredictOptions) error {
	inv, err := imageprep.ParseInvert(o.Invert)
	if err != nil {
		return usageError{err}
	}
	ck, m, err := loadModel(o.Model)
	if err != nil {
		return err
	}
	if o.Top < 1 {
		return usagef("--top must be at least 1, got %d", o.Top)
	}
	top := min(o.Top, m.Out)
	if want := []int{imageprep.Size, imageprep.Size}; !slices.Equal(ck.Meta.InputShape, want) || ck.Meta.Scaling != "pixel/255" {
		return fmt.Errorf("model %s takes %v images scaled %q; predict handles 28x28 images scaled pixel/255", o.Model, ck.Meta.InputShape, ck.Meta.Scaling)
	}
	files, err := expandArgs(o.Args)
	if err != nil {
		return err
	}
	// MNIST digits sit in a 20x20 box centred in the frame; Fashion-MNIST
	// objects fill it.
	prep := imageprep.Options{}
	if ck.Meta.Dataset == "mnist" {
		prep.Box = 20
	}

	// Prepare every image, then classify them in one batch.
	x := make([]float32, 0, len(files)*m.In)
	var ok []int
	lines := make([]predictLine, len(files))
	stdinUsed := false
	for i, f := range files {
		lines[i].File = f
		pix, err := o.prepare(f, inv, prep, &stdinUsed)
		if err != nil {
			lines[i].Error = err.Error()
			continue
		}
		for _, p := range pix {
			x = append(x, float32(p)/255)
		}
		ok = append(ok, i)
	}
	if len(ok) > 0 {
		probs, err := classify(m, x, len(ok))
		if err != nil {
			return err
		}
		for k, i := range ok {
			lines[i].Top = topK(probs[k*m.Out:(k+1)*m.Out], ck.Meta.Classes, top)
		}
	}

	failed := 0
	width := 0
	for _, c := range ck.Meta.Classes {
		width = max(width, len(c))
	}
	for _, l := range lines {
		if l.Error != "" {
			failed++
		}
		if o.JSON {
			if err := json.NewEncoder(o.IO.Out).Encode(l); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			continue
		}
		if l.Error != "" {
			fmt.Fprintf(o.IO.ErrOut, "softmaxctl: %s: %s\n", l.File, l.Error)
			continue
		}
		fmt.Fprintf(o.IO.Out, "%s\n", l.File)
		for _, p := range l.Top {
			fmt.Fprintf(o.IO.Out, "  %-*s  %6.2f%%\n", width, p.Class, 100*p.Prob)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be classified", failed, len(lines))
	}
	return nil
}

// prepare reads one image argument and turns it into 28x28 bytes.
func (o *PredictOptions) prepare(f string, inv imageprep.Invert, opts imageprep.Options, stdinUsed *bool) ([]byte, error) {
	var r io.Reader
	if f == "-" {
		if *stdinUsed {
			return nil, fmt.Errorf("standard input can be read only once")
		}
		*stdinUsed = true
		r = o.IO.In
	} else {
		fh, err := os.Open(f)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("no such file")
			}
			return nil, fmt.Errorf("open: %w", err)
		}
		defer fh.Close()
		r = fh
	}
	img, err := imageprep.Decode(r)
	if err != nil {
		return nil, err
	}
	pix, _ := imageprep.Prepare(img, inv, opts)
	return pix, nil
}

// classify runs the model's graph on n images and returns their class
// probabilities, n×Out.
func classify(m *model.Model, x []float32, n int) ([]float64, error) {
	batch := min(n, 256)
	gr, err := m.NewGraph(batch, false)
	if err != nil {
		return nil, err
	}
	defer gr.Close()
	gx, gy := gr.Inputs()
	probs := make([]float64, 0, n*m.Out)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		clear(gx)
		clear(gy)
		copy(gx, x[lo*m.In:hi*m.In])
		if _, err := gr.Run(); err != nil {
			return nil, err
		}
		for _, row := range rows(gr.Logits()[:(hi-lo)*m.Out], m.Out) {
			probs = append(probs, softmax64(row)...)
		}
	}
	return probs, nil
}

func rows(v []float32, cols int) [][]float32 {
	var out [][]float32
	for i := 0; i+cols <= len(v); i += cols {
		out = append(out, v[i:i+cols])
	}
	return out
}

// softmax64 turns one row of logits into probabilities, in float64 so
// that small ones print correctly.
func softmax64(logits []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	p := make([]float64, len(logits))
	sum := 0.0
	for i, v := range logits {
		p[i] = math.Exp(float64(v) - mx)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// topK returns the k most probable classes, most probable first.
func topK(p []float64, classes []string, k int) []prediction {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return 0
	})
	out := make([]prediction, k)
	for i := range out {
		out[i] = prediction{Class: classes[idx[i]], Index: idx[i], Prob: p[idx[i]]}
	}
	return out
}
