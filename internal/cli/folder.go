package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
)

// folderName is the --dataset value for an image folder; --data DIR picks
// it by itself when DIR holds class folders of images and --dataset is not
// given.
const folderName = "folder"

// folderOptions are the flags of an image folder dataset.
type folderOptions struct {
	ImageSize int
	Color     bool
	TestSplit float64
	// explicit reports whether --dataset was given on the command line.
	explicit func() bool
	// loaded is the folder that load read, for train's checkpoint.
	loaded *dataset.Folder
	// classes, when set (from a model), must be the folder's classes.
	classes []string
	// splitSeed seeds --test-split; train sets it from --seed.
	splitSeed int64
	// splitFromModel is set when the model recorded its split.
	splitFromModel bool
	// changed reports whether a flag was given on the command line; nil
	// for commands without the folder flags.
	changed func(name string) bool
}

// addFolderFlags adds the flags that say how an image folder is read.
func (d *dataOptions) addFolderFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&d.Folder.ImageSize, "image-size", 28, "image folders: fit each image to N×N pixels (shorter side to N, centre crop)")
	f.BoolVar(&d.Folder.Color, "color", false, "image folders: keep RGB colour (3·N·N inputs) instead of grayscale")
	f.Float64Var(&d.Folder.TestSplit, "test-split", 0.2, "image folders without train/ and test/: share of each class held out for testing")
	f.BoolVar(&d.Gray, "gray", false, "cifar10: train on 32×32 luminance (1024 inputs) instead of RGB (3072)")
	d.Folder.changed = f.Changed
}

// notForIDX refuses the folder flags given with a known dataset, to which
// they cannot apply: silently ignoring --image-size 0 would hide a mistake.
func (f *folderOptions) notForIDX(spec dataset.Spec) error {
	if f.changed == nil {
		return nil
	}
	why := map[string]string{
		"image-size": fmt.Sprintf("%s's images are used at the size its files hold", spec.Name),
		"color":      fmt.Sprintf("%s's images are grayscale", spec.Name),
		"test-split": fmt.Sprintf("%s has its own test split", spec.Name),
	}
	if spec.Archive != nil {
		why["color"] = fmt.Sprintf("%s is in colour already (--gray makes it grayscale)", spec.Name)
	}
	for _, name := range []string{"image-size", "color", "test-split"} {
		if f.changed(name) {
			return usagef("--%s applies only to image folders (--data FOLDER with one subfolder of images per class), and %s is not one: %s; drop --%s",
				name, spec.Name, why[name], name)
		}
	}
	return nil
}

// checkClassFolders refuses, before any work, an image folder whose class
// folders have names a model cannot record (control characters, invalid
// UTF-8): otherwise the whole training would run before saving failed.
func checkClassFolders(dir string) error {
	classes, err := dataset.FolderClasses(dir)
	if err != nil {
		return nil // LoadFolder reports an unreadable folder
	}
	for _, c := range classes {
		if err := checkpoint.CheckClassName(c); err != nil {
			return usagef("--data %s: class folder %v: a model cannot record it; rename the folder", termtext.Escape(dir), err)
		}
	}
	return nil
}

// isFolder reports whether the data is an image folder, settling
// --dataset to folderName when --data names one and --dataset was not
// given.
func (d *dataOptions) isFolder() bool {
	if d.Dataset == folderName {
		return true
	}
	explicit := d.Folder.explicit != nil && d.Folder.explicit()
	if !explicit && d.Dir != "" && dataset.IsImageFolder(d.Dir) {
		d.Dataset = folderName
		return true
	}
	return false
}

// fromModel sets how to read a folder for a model: its size, colour,
// split and classes.
func (d *dataOptions) fromModel(ck *checkpoint.Checkpoint) {
	shape := ck.Meta.InputShape
	d.Folder.ImageSize = shape[len(shape)-1]
	d.Folder.Color = len(shape) == 3
	d.Folder.classes = ck.Meta.Classes
	d.grayFromModel = len(shape) == 2
	if d.Folder.TestSplit == 0 {
		d.Folder.TestSplit = 0.2
	}
	if ts := ck.Meta.TestSplit; ts != nil {
		d.Folder.TestSplit, d.Folder.splitSeed, d.Folder.splitFromModel = ts.Fraction, ts.Seed, true
	}
}

// validateFolder checks the folder flags.
func (d *dataOptions) validateFolder() error {
	switch {
	case d.Folder.ImageSize < 1 || d.Folder.ImageSize > 1024:
		return usagef("--image-size must be between 1 and 1024, got %d", d.Folder.ImageSize)
	case !(d.Folder.TestSplit > 0 && d.Folder.TestSplit < 1):
		return usagef("--test-split must be between 0 and 1 (exclusive), got %v", d.Folder.TestSplit)
	case d.Dir == "":
		return usagef("--dataset folder needs --data FOLDER: a folder with one subfolder of images per class")
	}
	return nil
}

// loadFolder reads the image folder d.Dir and returns a Spec named after
// it, its two splits in the order asked, and reports on stderr what it
// skipped.
func (d *dataOptions) loadFolder(ios *IO, splits []dataset.Split) (dataset.Spec, []*dataset.Set, error) {
	if err := d.validateFolder(); err != nil {
		return dataset.Spec{}, nil, err
	}
	colour := colourName(d.Folder.Color)
	fmt.Fprintf(ios.ErrOut, "reading image folder %s (--data is a folder of class folders): images fitted to %dx%d %s\n",
		termtext.Escape(d.Dir), d.Folder.ImageSize, d.Folder.ImageSize, colour)
	o := dataset.FolderOptions{
		Size: d.Folder.ImageSize, Color: d.Folder.Color,
		TestSplit: d.Folder.TestSplit, SplitSeed: d.Folder.splitSeed,
	}
	if root, err := dataRoot(); err == nil {
		o.CacheDir = dataset.FolderCacheDir(root)
	}
	f, err := dataset.LoadFolder(d.Dir, o)
	var fe *dataset.FolderError
	if errors.As(err, &fe) {
		return dataset.Spec{}, nil, folderError(fe)
	}
	var se *dataset.FolderSizeError
	if errors.As(err, &se) {
		return dataset.Spec{}, nil, d.folderSizeError(se)
	}
	if err != nil {
		return dataset.Spec{}, nil, err
	}
	if f.Skipped > 0 {
		fmt.Fprintf(ios.ErrOut, "skipped %d hidden or non-image %s\n", f.Skipped, plural(f.Skipped, "file"))
	}
	for _, b := range f.Bad {
		fmt.Fprintf(ios.ErrOut, "skipped unreadable image %s: %s\n", termtext.Escape(b.Path), termtext.Escape(b.Reason))
	}
	if f.Resized > 0 {
		fmt.Fprintf(ios.ErrOut, "resized %d %s that were not %dx%d (shorter side to %d, centre crop)\n",
			f.Resized, plural(f.Resized, "image"), d.Folder.ImageSize, d.Folder.ImageSize, d.Folder.ImageSize)
	}
	if f.CacheIgnored != nil {
		fmt.Fprintf(ios.ErrOut, "ignored the decoded-image cache and decoded the images afresh: %s\n", termtext.Escape(f.CacheIgnored.Error()))
	}
	switch {
	case f.Cached:
		fmt.Fprintln(ios.ErrOut, "read the decoded images from the cache")
	case f.CacheErr != nil:
		fmt.Fprintf(ios.ErrOut, "could not keep a decoded copy (the next run decodes again): %v\n", f.CacheErr)
	}
	if f.Layout == dataset.LayoutClasses {
		fmt.Fprintf(ios.ErrOut, "no train/ and test/ folders: held out %d of %d images for testing (--test-split %g, seed %d)\n",
			f.Test.N, f.Train.N+f.Test.N, d.Folder.TestSplit, d.Folder.splitSeed)
	}
	if d.Folder.classes != nil && !slices.Equal(d.Folder.classes, f.Classes) {
		return dataset.Spec{}, nil, fmt.Errorf("the model's classes are %s but %s has %s",
			termtext.Escape(strings.Join(d.Folder.classes, ", ")), termtext.Escape(d.Dir), termtext.Escape(strings.Join(f.Classes, ", ")))
	}
	d.Folder.loaded = f
	spec := dataset.Spec{Name: folderName, Classes: f.Classes}
	sets := make([]*dataset.Set, len(splits))
	for i, sp := range splits {
		sets[i] = f.Train
		if sp == dataset.Test {
			sets[i] = f.Test
		}
	}
	return spec, sets, nil
}

// folderError words a FolderError for the command line.
func folderError(fe *dataset.FolderError) error {
	dir := termtext.Escape(fe.Dir)
	switch fe.Kind {
	case dataset.NotImageFolder:
		return usagef("--data %s has no class folders: put each class's images in a subfolder named after the class (%s/cat/1.jpg, %s/dog/1.jpg), or train/ and test/ folders that hold such subfolders", dir, dir, dir)
	case dataset.OneClass:
		return usagef("--data %s has one class folder: a classifier needs at least two classes, each in its own subfolder", dir)
	case dataset.TooManyClasses:
		return usagef("--data %s has %d class folders: at most %d are supported", dir, fe.N, dataset.MaxFolderClasses)
	case dataset.NoImages:
		if fe.Split == dataset.Test {
			return fmt.Errorf("--data %s: no readable images to test on: put some in test/<class>/, or drop test/ and train/ to let --test-split hold some out", dir)
		}
		return fmt.Errorf("--data %s holds no images (PNG, JPEG, GIF, WebP, BMP or TIFF) in its class folders", dir)
	case dataset.EmptyClass:
		return fmt.Errorf("--data %s: class %s has no readable images to train on: add some or remove its folder", dir, termtext.Escape(fe.Class))
	case dataset.UnknownTestClass:
		return usagef("--data %s: test/%s has no matching train/%s: the test classes must be training classes", dir, termtext.Escape(fe.Class), termtext.Escape(fe.Class))
	}
	return fe
}

// folderSizeError words a FolderSizeError for the command line, with what
// would fit: a smaller --image-size (or no --color) for train, fewer images
// for a model's fixed input.
func (d *dataOptions) folderSizeError(se *dataset.FolderSizeError) error {
	what := fmt.Sprintf("--data %s: its %d images at %dx%d %s would take %d MiB decoded, more than the %d MiB allowed",
		termtext.Escape(se.Dir), se.Images, se.Size, se.Size, colourName(se.Channels == 3), se.Bytes>>20, se.Limit>>20)
	perImage := int64(se.Channels * se.Size * se.Size)
	if d.Folder.classes != nil { // the size and colour are the model's
		return usagef("%s: give a folder of at most %d images", what, se.Limit/perImage)
	}
	fit := se.FitSize(se.Channels)
	switch {
	case fit < 1:
		return usagef("%s: give a folder of at most %d images", what, se.Limit/perImage)
	case se.Channels == 3 && se.FitSize(1) >= se.Size:
		return usagef("%s: use --image-size %d or smaller, or drop --color", what, fit)
	}
	return usagef("%s: use --image-size %d or smaller", what, fit)
}

func colourName(colour bool) string {
	if colour {
		return "RGB"
	}
	return "grayscale"
}

// inputShape is the checkpoint's input_shape for a Set: [rows, cols] for
// grayscale, [channels, rows, cols] for colour.
func inputShape(s *dataset.Set) []int {
	if s.Chans() > 1 {
		return []int{s.Chans(), s.Rows, s.Cols}
	}
	return []int{s.Rows, s.Cols}
}

// trainPreprocess is what train records of its preprocessing, and the
// folder's split when it made one.
func (d *dataOptions) trainPreprocess(spec dataset.Spec) (*checkpoint.Preprocess, *checkpoint.TestSplit) {
	if f := d.Folder.loaded; f != nil {
		var ts *checkpoint.TestSplit
		if f.Layout == dataset.LayoutClasses {
			ts = &checkpoint.TestSplit{Fraction: d.Folder.TestSplit, Seed: d.Folder.splitSeed}
		}
		return &checkpoint.Preprocess{Kind: checkpoint.PrepResize, Size: d.Folder.ImageSize, Color: d.Folder.Color, Fit: checkpoint.FitCentreCrop}, ts
	}
	if spec.Archive != nil {
		// CIFAR-10: photos are fitted to its 32×32, as a folder's are.
		gray := d.Gray || d.grayFromModel
		return &checkpoint.Preprocess{Kind: checkpoint.PrepResize, Size: dataset.CIFARSide, Color: !gray, Fit: checkpoint.FitCentreCrop}, nil
	}
	p := (&checkpoint.Meta{Dataset: spec.Name}).Prep()
	return &p, nil
}
