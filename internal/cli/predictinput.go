package cli

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/imageprep"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

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

// predictInput is one image predict classifies, and its class when it
// lies in a tree of class folders.
type predictInput struct {
	path  string
	label int    // index into the model's classes, -1 when unknown
	split string // "train" or "test" for a train/test/CLASS tree, else ""
}

// expandArgs turns the arguments into the images to classify: a file as
// it is, "-" for standard input, a folder as every image in it and its
// subfolders, in lexical order. It lists the entries of folders that it
// skipped, with why. Entries that are not regular files (a FIFO named
// x.png, say) are kept: opening them is refused, with a reason, like any
// other bad file. A folder whose images all lie in folders named after
// the model's classes (CLASS/…, or train/CLASS/… and test/CLASS/…, as
// export-images writes and torchvision's ImageFolder reads) labels them.
func expandArgs(args, classes []string) (inputs []predictInput, skipped []string, err error) {
	for _, a := range args {
		if a == "-" {
			inputs = append(inputs, predictInput{path: a, label: -1})
			continue
		}
		info, err := os.Stat(a)
		if err != nil || !info.IsDir() {
			inputs = append(inputs, predictInput{path: a, label: -1}) // a missing file is reported with the others
			continue
		}
		var found []predictInput
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil && path == a:
				return err
			case err != nil:
				skipped = append(skipped, path+" (unreadable: "+errText(err)+")")
				return nil
			case path == a:
				return nil
			case strings.HasPrefix(d.Name(), "."):
				if d.IsDir() {
					skipped = append(skipped, path+" (a hidden folder)")
					return filepath.SkipDir
				}
				skipped = append(skipped, path+" (a hidden file)")
			case d.IsDir():
			case slices.Contains(imageExts, strings.ToLower(filepath.Ext(d.Name()))):
				found = append(found, predictInput{path: path, label: -1})
			default:
				skipped = append(skipped, path+" (not an image extension)")
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("read folder %s: %w", a, unwrapPathErr(err))
		}
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("folder %s has no PNG, JPEG, GIF, WebP, BMP or TIFF images", a)
		}
		labelTree(a, found, classes)
		inputs = append(inputs, found...)
	}
	return inputs, skipped, nil
}

// labelTree gives each image found under dir the class its folder names,
// when every one of them lies in such a folder; otherwise it leaves them
// all unlabelled, so that a folder of photos sorted by, say, date is not
// taken for a class tree.
func labelTree(dir string, found []predictInput, classes []string) {
	index := map[string]int{}
	for i, name := range classFolders(classes) {
		index[name] = i
	}
	for i, name := range classes {
		index[name] = i
	}
	labels := make([]predictInput, len(found))
	for i, f := range found {
		rel, err := filepath.Rel(dir, f.path)
		if err != nil {
			return
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		folders := parts[:len(parts)-1]
		l := predictInput{path: f.path, label: -1}
		if len(folders) >= 2 && (folders[0] == "train" || folders[0] == "test") {
			if c, ok := index[folders[1]]; ok {
				l.label, l.split = c, folders[0]
			}
		}
		if l.label < 0 && len(folders) >= 1 {
			if c, ok := index[folders[0]]; ok {
				l.label = c
			}
		}
		if l.label < 0 {
			return
		}
		labels[i] = l
	}
	copy(found, labels)
}

// errText is err's message without the path a *fs.PathError repeats.
func errText(err error) string { return unwrapPathErr(err).Error() }

// prepareFor reads one image argument and turns it into the input of a
// model trained with preprocessing p: the photo pipeline for MNIST-family
// models, imageprep.Fit (what training on a folder did) for folder models.
func (o *PredictOptions) prepareFor(p checkpoint.Preprocess, f string, inv imageprep.Invert, opts imageprep.Options, stdinUsed *bool) (imageprep.Result, error) {
	if p.Kind != checkpoint.PrepMNIST && p.Kind != checkpoint.PrepResize {
		return imageprep.Result{}, fmt.Errorf("the model's preprocessing %q is unknown to this softmaxctl", p.Kind)
	}
	img, err := o.decode(f, stdinUsed)
	if err != nil {
		return imageprep.Result{}, err
	}
	if p.Kind == checkpoint.PrepMNIST {
		return imageprep.Prepare(img, inv, opts), nil
	}
	return imageprep.Result{Pix: imageprep.Fit(img, p.Size, p.Color), Share: 1, BackgroundFit: 1}, nil
}

// decode reads and decodes one image argument ("-" is standard input,
// which can be read once). Only regular files are opened (a FIFO would
// block for ever), and reads are bounded by imageprep.Decode.
func (o *PredictOptions) decode(f string, stdinUsed *bool) (image.Image, error) {
	var r io.Reader
	if f == "-" {
		if *stdinUsed {
			return nil, fmt.Errorf("standard input can be read only once")
		}
		*stdinUsed = true
		r = o.IO.In
	} else {
		fh, _, err := safeopen.Open(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("no such file")
			}
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	return imageprep.Decode(r)
}

// saveInputSide is the least side, in pixels, of a picture --save-input
// writes: the model's input is enlarged by a whole factor (8 for 28×28)
// so that a person can see it.
const saveInputSide = 224

// saveInput writes the picture the model saw for file f into dir, as
// NAME.input.png, numbering names that two files share; used records the
// names taken.
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
	img := enlarge(inputImage(pix, shape))
	if err := atomicfile.Write(name, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return name, nil
}

// enlarge repeats each pixel of img k×k times, k the least whole factor
// that makes its longer side at least saveInputSide (1 for large inputs).
func enlarge(img image.Image) image.Image {
	b := img.Bounds()
	k := max(1, (saveInputSide+max(b.Dx(), b.Dy())-1)/max(b.Dx(), b.Dy()))
	if k == 1 {
		return img
	}
	r := image.Rect(0, 0, k*b.Dx(), k*b.Dy())
	switch m := img.(type) {
	case *image.Gray:
		out := image.NewGray(r)
		for y := range r.Dy() {
			for x := range r.Dx() {
				out.Pix[y*out.Stride+x] = m.Pix[(y/k)*m.Stride+x/k]
			}
		}
		return out
	case *image.NRGBA:
		out := image.NewNRGBA(r)
		for y := range r.Dy() {
			for x := range r.Dx() {
				copy(out.Pix[y*out.Stride+4*x:][:4], m.Pix[(y/k)*m.Stride+4*(x/k):][:4])
			}
		}
		return out
	}
	return img
}

// inputImage is the picture of a model input of the given shape ([rows,
// cols] gray or [3, rows, cols] CHW colour).
func inputImage(pix []byte, shape []int) image.Image {
	if len(shape) == 3 && shape[0] == 3 {
		rows, cols := shape[1], shape[2]
		img := image.NewNRGBA(image.Rect(0, 0, cols, rows))
		plane := rows * cols
		for i := 0; i < plane; i++ {
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = pix[i], pix[plane+i], pix[2*plane+i], 0xff
		}
		return img
	}
	rows, cols := imageprep.Size, imageprep.Size
	if len(shape) == 2 {
		rows, cols = shape[0], shape[1]
	}
	return &image.Gray{Pix: pix, Stride: cols, Rect: image.Rect(0, 0, cols, rows)}
}
