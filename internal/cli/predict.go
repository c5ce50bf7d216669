package cli

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/imageprep"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
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
		Long: `Classify images (PNG, JPEG, GIF, WebP, BMP, TIFF) with a saved model. Each
image is turned into what the model
was trained on: grayscale, a light object on a black background (dark-on-light
pictures are inverted, see --invert), framed in a square with its aspect ratio
kept, and shrunk to 28x28 with area averaging; --save-input keeps that 28x28
picture so you can see what the model saw. A folder means every image in it
(other entries are listed as skipped); - reads one image from standard input.
An image in which no object is found (blank or uniform) is flagged: its
classes are a guess.

--invert auto looks at the image's border: its median brightness is taken as
the background, and the picture is inverted when what differs from that
background is mostly darker than it (a drawing or a photo of an object on a
light surface). always and never override the rule.`,
		Example: `  softmaxctl predict shirt.jpg
  softmaxctl predict --top 1 photos/
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
	cmd.Flags().StringVar(&opts.SaveInput, "save-input", "", "save the 28x28 picture the model saw for each image into this folder, as NAME.input.png")
	completeFolders(cmd, "save-input")
	completeFiles(cmd, "model", "safetensors")
	completeValues(cmd, "invert", "auto", "always", "never")
	cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return imageExtsNoDot(), cobra.ShellCompDirectiveFilterFileExt
	}
	return cmd
}

// imageExts are the file types a folder argument picks up.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}

// imageExtsNoDot is imageExts as shell completion wants them.
func imageExtsNoDot() []string {
	exts := make([]string, len(imageExts))
	for i, e := range imageExts {
		exts[i] = strings.TrimPrefix(e, ".")
	}
	return exts
}

// expandArgs turns folder arguments into the images they hold, sorted,
// and lists the entries of those folders that it skipped, with why.
// Entries that are not regular files (a FIFO named x.png, say) are kept:
// opening them is refused, with a reason, like any other bad file.
func expandArgs(args []string) (files, skipped []string, err error) {
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
			return nil, nil, fmt.Errorf("read folder %s: %w", a, err)
		}
		n := len(files)
		for _, e := range entries {
			switch {
			case e.IsDir():
				skipped = append(skipped, filepath.Join(a, e.Name())+" (a folder)")
			case slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))):
				files = append(files, filepath.Join(a, e.Name()))
			default:
				skipped = append(skipped, filepath.Join(a, e.Name())+" (not an image extension)")
			}
		}
		if len(files) == n {
			return nil, nil, fmt.Errorf("folder %s has no PNG, JPEG, GIF, WebP, BMP or TIFF images", a)
		}
	}
	return files, skipped, nil
}

type prediction struct {
	Class string  `json:"class"`
	Index int     `json:"index"`
	Prob  float64 `json:"prob"`
}

type predictLine struct {
	File string       `json:"file"`
	Top  []prediction `json:"top,omitempty"`
	// Inverted says whether the image was inverted to light on dark.
	Inverted *bool `json:"inverted,omitempty"`
	// Blank marks an image in which no object was found: its classes
	// are a guess.
	Blank bool `json:"blank,omitempty"`
	// Input is where --save-input wrote what the model saw.
	Input string `json:"input,omitempty"`
	Error string `json:"error,omitempty"`
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
	files, skipped, err := expandArgs(o.Args)
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
	cls, err := train.NewClassifier(m, min(len(files), chunkN))
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

	failed := 0
	stdinUsed := false
	x := make([]float32, 0, min(len(files), chunkN)*m.In) // one chunk's input, reused
	for lo := 0; lo < len(files); lo += chunkN {
		chunk := files[lo:min(lo+chunkN, len(files))]
		lines := make([]predictLine, len(chunk))
		x = x[:0]
		var ok []int
		for i, f := range chunk {
			if ctx.Err() != nil {
				return interrupted(ctx, fmt.Sprintf("interrupted: classified %d of %d images", lo, len(files)))
			}
			lines[i].File = f
			pix, inverted, err := o.prepareFor(prepKind, f, inv, prep, &stdinUsed)
			if err != nil {
				lines[i].Error = err.Error()
				continue
			}
			if prepKind.Kind == checkpoint.PrepMNIST {
				lines[i].Inverted = &inverted
			}
			lines[i].Blank = prepKind.Kind == checkpoint.PrepMNIST && !slices.ContainsFunc(pix, func(p byte) bool { return p != 0 })
			if o.SaveInput != "" {
				in, err := saveInput(o.SaveInput, f, pix, ck.Meta.InputShape, saved)
				if err != nil {
					return fmt.Errorf("--save-input: %w", err)
				}
				lines[i].Input = in
			}
			for _, p := range pix {
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
				lines[i].Top = topK(probs[k*m.Out:(k+1)*m.Out], ck.Meta.Classes, top)
			}
		}
		for _, l := range lines {
			if l.Error != "" {
				failed++
			}
			if err := o.print(l, width); err != nil {
				return err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d %s could not be classified", failed, len(files), plural(len(files), "image"))
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

// prepare reads one image argument and turns it into 28x28 bytes. Only
// regular files are opened (a FIFO would block for ever), and reads are
// bounded by imageprep.Decode.
func (o *PredictOptions) prepare(f string, inv imageprep.Invert, opts imageprep.Options, stdinUsed *bool) ([]byte, bool, error) {
	var r io.Reader
	if f == "-" {
		if *stdinUsed {
			return nil, false, fmt.Errorf("standard input can be read only once")
		}
		*stdinUsed = true
		r = o.IO.In
	} else {
		fh, _, err := safeopen.Open(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, false, fmt.Errorf("no such file")
			}
			return nil, false, err
		}
		defer fh.Close()
		r = fh
	}
	img, err := imageprep.Decode(r)
	if err != nil {
		return nil, false, err
	}
	res := imageprep.Prepare(img, inv, opts)
	return res.Pix, res.Inverted, nil
}

// saveInput writes the 28×28 picture the model saw for file f into dir,
// as NAME.input.png, numbering names that two files share; used records
// the names taken.
func saveInput(dir, f string, pix []byte, shape []int, used map[string]bool) (string, error) {
	base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
	if f == "-" {
		base = "stdin"
	}
	name := filepath.Join(dir, base+".input.png")
	for k := 2; used[name]; k++ {
		name = filepath.Join(dir, fmt.Sprintf("%s-%d.input.png", base, k))
	}
	used[name] = true
	img := inputImage(pix, shape)
	if err := atomicfile.Write(name, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return name, nil
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
