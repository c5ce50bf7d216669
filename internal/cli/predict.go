package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/imageprep"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
	"github.com/softmaxctl/softmaxctl/internal/train"
)

// PredictOptions are the inputs of `softmaxctl predict`.
type PredictOptions struct {
	IO     *IO
	Model  string
	Top    int
	Invert string
	JSON   bool
	// SaveInput, when set, is a folder where the 28×28 picture the model
	// saw is saved for each image.
	SaveInput string
	Args      []string
}

// NewCmdPredict builds `softmaxctl predict`.
func NewCmdPredict(ios *IO, runF func(*cobra.Command, *PredictOptions) error) *cobra.Command {
	opts := &PredictOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "predict [flags] IMAGE...",
		Short: "Classify your own images (PNG, JPEG, GIF, WebP, BMP, TIFF)",
		Long: `Classify images (PNG, JPEG, GIF, WebP, BMP, TIFF) with a saved model, such as
a phone photo of a shirt on a table. Each picture is framed the way
Fashion-MNIST framed its product photos: the background is fitted to the
picture's border (uneven light and a tinted surface included), the object is
what differs from it by more than the border's own noise, and it is cropped,
centred, inverted to light on black (see --invert) and scaled to 28x28. An
image of the dataset itself passes through unchanged. --save-input keeps the
picture the model saw, enlarged 8 times.

predict says when it is unsure, one line on stderr per reason and a field in
--json: the object takes under 5% of the picture (small_object), the
background is too uneven to separate it (uneven_background), or the top class
has under 40% (low_confidence). An image with no object (blank or uniform) is
flagged: its classes are a guess.

A folder means every image in it and its subfolders (other entries are listed
as skipped); - reads one image from standard input. When every image of a
folder lies in a folder named after one of the model's classes (CLASS/..., or
train/CLASS/... and test/CLASS/..., as export-images writes them), predict
also prints its accuracy, one line per split.

--invert auto inverts a picture whose object is darker than its background;
always and never override the rule.`,
		Example: `  softmaxctl predict shirt.jpg
  softmaxctl predict --top 1 photos/
  softmaxctl predict --save-input seen/ shirt.jpg
  softmaxctl predict --top 1 ./fashion-png/test
  cat sneaker.png | softmaxctl predict --json -`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("predict needs at least one IMAGE: a file, a folder of images, or - for standard input (see '%s --help')", c.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Args = args
			if runF != nil {
				return runF(cmd, opts)
			}
			return runPredict(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Model, "model", "m", "model.safetensors", "the model file")
	cmd.Flags().IntVarP(&opts.Top, "top", "k", 3, "how many classes to show per image")
	cmd.Flags().StringVar(&opts.Invert, "invert", "auto", "auto, always or never: whether to invert dark-on-light images")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object per image")
	cmd.Flags().StringVar(&opts.SaveInput, "save-input", "", "save the picture the model saw for each image into this folder, as NAME.input.png (enlarged 8 times)")
	completeFolders(cmd, "save-input")
	completeFiles(cmd, "model", "safetensors")
	completeValues(cmd, "invert", "auto", "always", "never")
	cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return imageExtsNoDot(), cobra.ShellCompDirectiveFilterFileExt
	}
	return cmd
}

type prediction struct {
	Class string  `json:"class"`
	Index int     `json:"index"`
	Prob  float64 `json:"prob"`
}

type predictLine struct {
	File string `json:"file"`
	// Label is the class of the folder the image lies in, in a class tree.
	Label string       `json:"label,omitempty"`
	Top   []prediction `json:"top,omitempty"`
	// Inverted says whether the image was inverted to light on dark.
	Inverted *bool `json:"inverted,omitempty"`
	// Blank marks an image in which no object was found: its classes
	// are a guess.
	Blank bool `json:"blank,omitempty"`
	// SmallObject, UnevenBackground and LowConfidence are why predict is
	// unsure of an image (see unsureReasons).
	SmallObject      bool `json:"small_object,omitempty"`
	UnevenBackground bool `json:"uneven_background,omitempty"`
	LowConfidence    bool `json:"low_confidence,omitempty"`
	// Input is where --save-input wrote what the model saw.
	Input string `json:"input,omitempty"`
	Error string `json:"error,omitempty"`

	unsure []string // the reasons, as sentences for stderr
}

// splitScore is predict's accuracy over the labelled images of one split
// of a class tree; it is also the JSON line that reports it.
type splitScore struct {
	Split    string  `json:"split,omitempty"`
	Images   int     `json:"images"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

// predictChunk is the most images predict prepares and classifies at a
// time: results stream out as each chunk is done, and memory stays bounded
// however many images there are. predictChunkBytes bounds a chunk's model
// input (float32), so that a model of large images (3·1024·1024 inputs,
// 12 MiB an image) takes a few of them at a time, not 256.
const (
	predictChunk      = 256
	predictChunkBytes = 64 << 20
)

// lowConfidence is the top probability under which predict says it is
// unsure; unsureShown is how many images' reasons it prints on stderr
// before it only counts them (--json marks every one).
const (
	lowConfidence = 0.40
	unsureShown   = 10
)

// chunkSize is how many images of m predict takes at a time.
func chunkSize(m *model.Model) int {
	return max(1, min(predictChunk, predictChunkBytes/(4*m.In)))
}

func runPredict(ctx context.Context, o *PredictOptions) error {
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
	prepKind := ck.Meta.Prep()
	if want := []int{imageprep.Size, imageprep.Size}; prepKind.Kind == checkpoint.PrepMNIST && !slices.Equal(ck.Meta.InputShape, want) || ck.Meta.Scaling != "pixel/255" {
		return fmt.Errorf("model %s takes %v images scaled %q; predict handles 28x28 images scaled pixel/255", o.Model, ck.Meta.InputShape, ck.Meta.Scaling)
	}
	if o.SaveInput != "" {
		if fi, err := os.Stat(o.SaveInput); err != nil || !fi.IsDir() {
			return usagef("--save-input %s: not a folder; create it first (mkdir -p %s)", o.SaveInput, o.SaveInput)
		}
		if err := checkOutputs([]output{{"--save-input", filepath.Join(o.SaveInput, "input.png")}}); err != nil {
			return err
		}
	}
	inputs, skipped, err := expandArgs(o.Args, ck.Meta.Classes)
	if err != nil {
		return err
	}
	if len(skipped) > 0 {
		fmt.Fprintf(o.IO.ErrOut, "skipped %d %s: %s\n", len(skipped), plural(len(skipped), "entry"), termtext.Escape(listSome(skipped, 5)))
	}
	saved := map[string]bool{} // --save-input names used so far
	// One graph for every chunk: building it per chunk would redo the
	// fusion and compilation hundreds of times for a large folder.
	chunkN := chunkSize(m)
	cls, err := train.NewClassifier(m, min(len(inputs), chunkN))
	if err != nil {
		return err
	}
	defer cls.Close()
	// MNIST digits sit in a 20x20 box centred in the frame; Fashion-MNIST
	// objects fill it.
	prep := imageprep.Options{Box: prepKind.Box}
	width := 0
	for _, c := range ck.Meta.Classes {
		width = max(width, len(termtext.Escape(c)))
	}

	failed, unsure := 0, 0
	var scores []*splitScore // in the order the splits first appear
	stdinUsed := false
	x := make([]float32, 0, min(len(inputs), chunkN)*m.In) // one chunk's input, reused
	for lo := 0; lo < len(inputs); lo += chunkN {
		chunk := inputs[lo:min(lo+chunkN, len(inputs))]
		lines := make([]predictLine, len(chunk))
		x = x[:0]
		var ok []int
		for i, in := range chunk {
			if ctx.Err() != nil {
				return interrupted(ctx, fmt.Sprintf("interrupted: classified %d of %d images", lo, len(inputs)))
			}
			lines[i].File = in.path
			if in.label >= 0 {
				lines[i].Label = ck.Meta.Classes[in.label]
			}
			res, err := o.prepareFor(prepKind, in.path, inv, prep, &stdinUsed)
			if err != nil {
				lines[i].Error = err.Error()
				continue
			}
			if prepKind.Kind == checkpoint.PrepMNIST {
				lines[i].Inverted = &res.Inverted
				lines[i].Blank = res.Blank || !slices.ContainsFunc(res.Pix, func(p byte) bool { return p != 0 })
				lines[i].flagPicture(res)
			}
			if o.SaveInput != "" {
				name, err := saveInput(o.SaveInput, in.path, res.Pix, ck.Meta.InputShape, saved)
				if err != nil {
					return fmt.Errorf("--save-input: %w", err)
				}
				lines[i].Input = name
			}
			for _, p := range res.Pix {
				x = append(x, float32(p)/255)
			}
			ok = append(ok, i)
		}
		if len(ok) > 0 {
			probs, err := cls.Probs(x, len(ok))
			if err != nil {
				return err
			}
			for k, i := range ok {
				l := &lines[i]
				l.Top = topK(probs[k*m.Out:(k+1)*m.Out], ck.Meta.Classes, top)
				if !l.Blank && l.Top[0].Prob < lowConfidence {
					l.LowConfidence = true
					l.unsure = append(l.unsure, fmt.Sprintf("the most likely class, %s, has %.1f%% (under %.0f%%)", termtext.Escape(l.Top[0].Class), 100*l.Top[0].Prob, 100*lowConfidence))
				}
				if in := chunk[i]; in.label >= 0 {
					scores = score(scores, in.split, l.Top[0].Index == in.label)
				}
			}
		}
		for _, l := range lines {
			if l.Error != "" {
				failed++
			}
			if len(l.unsure) > 0 {
				if unsure < unsureShown {
					for _, why := range l.unsure {
						fmt.Fprintf(o.IO.ErrOut, "%s: unsure: %s\n", termtext.Escape(l.File), why)
					}
				}
				unsure++
			}
			if err := o.print(l, width); err != nil {
				return err
			}
		}
	}
	if unsure > unsureShown {
		fmt.Fprintf(o.IO.ErrOut, "unsure of %d of %d images (reasons shown for the first %d; --json marks each)\n", unsure, len(inputs), unsureShown)
	}
	for _, s := range scores {
		if err := o.printScore(s); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d %s could not be classified", failed, len(inputs), plural(len(inputs), "image"))
	}
	return nil
}

// flagPicture records why predict is unsure of what Prepare made of a
// picture: an object too small to read, or a background it could not
// separate the object from.
func (l *predictLine) flagPicture(r imageprep.Result) {
	if l.Blank {
		return
	}
	if r.SmallObject() {
		l.SmallObject = true
		l.unsure = append(l.unsure, fmt.Sprintf("the object takes %.1f%% of the picture (under 5%%), so the model sees it enlarged from few pixels: crop the picture closer to it", 100*r.Share))
	}
	if r.Uneven {
		l.UnevenBackground = true
		l.unsure = append(l.unsure, fmt.Sprintf("the background is too uneven to separate the object from it (%.0f%% of the border fits a smooth background, spread %.0f levels): photograph it on a plain, evenly lit surface", 100*r.BackgroundFit, r.BackgroundSpread))
	}
}

// score counts one labelled image of split in scores, adding the split
// when it is new.
func score(scores []*splitScore, split string, correct bool) []*splitScore {
	i := slices.IndexFunc(scores, func(s *splitScore) bool { return s.Split == split })
	if i < 0 {
		scores = append(scores, &splitScore{Split: split})
		i = len(scores) - 1
	}
	s := scores[i]
	s.Images++
	if correct {
		s.Correct++
	}
	s.Accuracy = float64(s.Correct) / float64(s.Images)
	return scores
}

// printScore writes the accuracy over one split's labelled images.
func (o *PredictOptions) printScore(s *splitScore) error {
	var err error
	if o.JSON {
		err = writeJSON(o.IO.Out, s, "")
	} else {
		prefix := ""
		if s.Split != "" {
			prefix = s.Split + ": "
		}
		_, err = fmt.Fprintf(o.IO.Out, "%saccuracy %.4f: %d of %d images in class folders\n", prefix, s.Accuracy, s.Correct, s.Images)
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// print writes one image's result: a JSON line, or the file name and its
// top classes (an error goes to stderr). File and class names come from
// outside and are escaped for the terminal, in JSON too (writeJSON).
func (o *PredictOptions) print(l predictLine, width int) error {
	if o.JSON {
		if err := writeJSON(o.IO.Out, l, ""); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	}
	if l.Error != "" {
		_, err := fmt.Fprintf(o.IO.ErrOut, "softmaxctl: %s: %s\n", termtext.Escape(l.File), termtext.Escape(l.Error))
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", termtext.Escape(l.File))
	if l.Blank {
		b.WriteString("  note: no object found (blank or uniform image), so these classes are a guess\n")
	}
	for _, p := range l.Top {
		fmt.Fprintf(&b, "  %-*s  %6.2f%%\n", width, termtext.Escape(p.Class), 100*p.Prob)
	}
	if l.Input != "" {
		fmt.Fprintf(&b, "  model input saved to %s\n", termtext.Escape(l.Input))
	}
	if _, err := io.WriteString(o.IO.Out, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// listSome joins the first n items of list, saying how many more there are.
func listSome(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:n], ", "), len(list)-n)
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

// classify is a one-shot classifier of n images, as predict runs it.
func classify(m *model.Model, x []float32, n int) ([]float64, error) {
	return train.Classify(m, x, n, chunkSize(m))
}
