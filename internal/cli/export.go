package cli

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

// ExportImagesOptions are the inputs of `softmaxctl export-images`.
type ExportImagesOptions struct {
	IO   *IO
	Data dataOptions
	Out  string
	// Limit, when positive, exports only the first Limit images of each
	// split.
	Limit int
	// Force replaces an --out folder that already holds files.
	Force bool
}

// NewCmdExportImages builds `softmaxctl export-images`. runF replaces the
// run function in tests that only check flag handling.
func NewCmdExportImages(ios *IO, runF func(*cobra.Command, *ExportImagesOptions) error) *cobra.Command {
	opts := &ExportImagesOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "export-images",
		Short: "Write a known dataset out as a folder of PNG images, one subfolder per class",
		Long: `Write a known dataset as an image folder: --out DIR/train/<class>/NNNNN.png and
--out DIR/test/<class>/NNNNN.png, NNNNN being the image's index in its split.
Such a folder trains like any folder of your own (train --data DIR).

Class folders are named after the classes, with characters that cannot be in a
file name replaced by "_", and prefixed with the label ("0_T-shirt_top") when
sorting the names would change the classes' order, so that the folder's labels
are the dataset's.

The folder is written as a whole: the images go into a hidden temporary folder
next to --out, are synced to disk once, and the folder is then renamed to
--out, so --out is either complete or absent (an interrupted export leaves
nothing). --out must not exist or be empty; --force replaces a folder that
holds files (all of it, not only the images).`,
		Example: `  softmaxctl export-images --out ./fashion-png
  softmaxctl export-images --dataset mnist --limit 1000 --out ./mnist-png`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return runExportImages(cmd, opts)
		},
	}
	opts.Data.addFlags(cmd, dataFlags{autoDownload: true})
	f := cmd.Flags()
	f.StringVarP(&opts.Out, "out", "o", "", "folder to write the images into (created if needed)")
	f.IntVar(&opts.Limit, "limit", 0, "export only the first N images of each split (0: all)")
	f.BoolVar(&opts.Force, "force", false, "replace --out if it already holds files")
	completeFolders(cmd, "out")
	return cmd
}

func runExportImages(cmd *cobra.Command, o *ExportImagesOptions) error {
	if o.Out == "" {
		return usagef("--out must name a folder to write the images into")
	}
	if o.Limit < 0 {
		return usagef("--limit must be 0 (all) or more, got %d", o.Limit)
	}
	if o.Data.Dataset == folderName {
		return usagef("--dataset folder is already a folder of images: export-images writes one of %s", strings.Join(dataset.Names(), ", "))
	}
	// Refuse a full --out before the data is loaded or downloaded.
	if fi, err := os.Stat(o.Out); err == nil && !o.Force {
		if !fi.IsDir() {
			return usagef("--out %s is a file: give a folder to write the images into", o.Out)
		}
		if entries, err := os.ReadDir(o.Out); err == nil && len(entries) > 0 {
			return usagef("--out %s already holds files: give a new or empty folder, or --force to replace it", o.Out)
		}
	}
	ctx := cmd.Context()
	spec, _, sets, err := o.Data.load(ctx, o.IO, dataset.Train, dataset.Test)
	if err != nil {
		return err
	}
	tree, err := atomicfile.CreateTree(o.Out, o.Force)
	if err != nil {
		var te *atomicfile.TreeExistsError
		if errors.As(err, &te) {
			return usagef("--out %s already holds files: give a new or empty folder, or --force to replace it", o.Out)
		}
		return err
	}
	defer tree.Abort()
	exportStarted()
	names := classFolders(spec.Classes)
	written := 0
	for i, sp := range []dataset.Split{dataset.Train, dataset.Test} {
		s := sets[i]
		n := s.N
		if o.Limit > 0 {
			n = min(n, o.Limit)
		}
		for _, c := range names {
			if err := os.MkdirAll(filepath.Join(tree.Dir(), string(sp), c), 0o755); err != nil {
				return fmt.Errorf("--out %s: %w", o.Out, err)
			}
		}
		if err := exportSplit(ctx.Err, s, n, filepath.Join(tree.Dir(), string(sp)), names); err != nil {
			return fmt.Errorf("--out %s: %w", o.Out, err)
		}
		if ctx.Err() != nil {
			return interrupted(ctx, fmt.Sprintf("interrupted: nothing was written to %s", o.Out))
		}
		written += n
	}
	if err := tree.Commit(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.IO.Out, "wrote %d images of %s to %s (train/ and test/, %d classes)\n", written, spec.Name, o.Out, len(names))
	return err
}

// exportStarted is called once the temporary folder exists; tests
// interrupt the export there.
var exportStarted = func() {}

// exportSplit writes the first n images of s as PNG files under dir, in
// parallel, stopping early when stop returns an error. The files are not
// synced one by one: the whole folder is, once (see atomicfile.Tree).
func exportSplit(stop func() error, s *dataset.Set, n int, dir string, names []string) error {
	var (
		mu   sync.Mutex
		next int
		errs error
		wg   sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				mu.Lock()
				i := next
				next++
				failed := errs != nil
				mu.Unlock()
				if i >= n || failed || stop() != nil {
					return
				}
				img := inputImage(s.Pix[i*s.Dim():(i+1)*s.Dim()], shapeOf(s))
				path := filepath.Join(dir, names[s.Labels[i]], fmt.Sprintf("%05d.png", i))
				buf.Reset()
				err := png.Encode(&buf, img)
				if err == nil {
					err = os.WriteFile(path, buf.Bytes(), 0o644)
				}
				if err != nil {
					mu.Lock()
					if errs == nil {
						errs = fmt.Errorf("write %s: %w", filepath.Base(path), unwrapPathErr(err))
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errs
}

// shapeOf is the [rows, cols] or [3, rows, cols] of s's images.
func shapeOf(s *dataset.Set) []int { return inputShape(s) }

// classFolders returns a folder name for each class: the name with
// characters that file systems refuse replaced by "_", prefixed with the
// label when sorting would otherwise change the order.
func classFolders(classes []string) []string {
	names := make([]string, len(classes))
	for i, c := range classes {
		names[i] = strings.Map(func(r rune) rune {
			if strings.ContainsRune(`/\:*?"<>|`, r) || r < 0x20 {
				return '_'
			}
			return r
		}, c)
		if names[i] == "" || names[i][0] == '.' {
			names[i] = "_" + names[i]
		}
	}
	if slices.IsSorted(names) {
		return names
	}
	width := len(fmt.Sprint(len(classes) - 1))
	for i := range names {
		names[i] = fmt.Sprintf("%0*d_%s", width, i, names[i])
	}
	return names
}

// unwrapPathErr drops the *fs.PathError wrapper, whose message repeats the
// temporary path.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
