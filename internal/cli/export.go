package cli

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
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
nothing; the folder of a killed one is removed by the next export to the
same --out). --out must not exist or be empty; --force replaces a folder
that holds an earlier export and nothing else. --out may never be, hold or
lie inside the data folder.`,
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
	f.BoolVar(&opts.Force, "force", false, "replace --out if it holds an earlier export (and nothing else)")
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
	if o.Data.isFolder() {
		return usagef("--dataset folder is already a folder of images: export-images writes one of %s", strings.Join(dataset.Names(), ", "))
	}
	// Refuse a bad --out before the data is loaded or downloaded.
	spec, dir, err := o.Data.resolve()
	if err != nil {
		return err
	}
	if err := checkExportOut(o.Out, o.Force, append([]string{dir}, dataFiles(spec, dir)...)); err != nil {
		return err
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
			return usagef("--out %s already holds files: give a new or empty folder, or --force to replace an earlier export", o.Out)
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
	// --force replaces only an earlier export: check again what --out
	// holds now, as files may have been added during the export.
	if err := checkExportOut(o.Out, o.Force, nil); err != nil {
		return err
	}
	if err := tree.Commit(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.IO.Out, "wrote %d images of %s to %s (train/ and test/, %d classes)\n", written, spec.Name, o.Out, len(names))
	return err
}

// checkExportOut refuses an --out that export-images must not write: a
// file; a folder that is, holds or lies inside one of the inputs (the data
// folder, its files), which replacing it would destroy; a folder that
// already holds files, unless force, and even with force one that holds
// anything but an earlier export (train/ and test/ of class folders of
// NNNNN.png images), which the user may not be able to get back.
func checkExportOut(out string, force bool, inputs []string) error {
	for _, in := range inputs {
		if in == "" {
			continue
		}
		how := ""
		switch {
		case within(out, in) && within(in, out):
			how = "is"
		case within(in, out):
			how = "holds"
		case within(out, in):
			how = "is inside"
		default:
			continue
		}
		return usagef("--out %s %s the input %s: writing the export there would destroy what export-images reads; choose a folder outside it",
			termtext.Escape(out), how, termtext.Escape(in))
	}
	fi, err := os.Stat(out)
	if err != nil {
		return nil
	}
	if !fi.IsDir() {
		return usagef("--out %s is a file: give a folder to write the images into", termtext.Escape(out))
	}
	entries, err := os.ReadDir(out)
	if err != nil || len(entries) == 0 {
		return nil
	}
	if !force {
		return usagef("--out %s already holds files: give a new or empty folder, or --force to replace an earlier export", termtext.Escape(out))
	}
	if other := notExport(out); other != "" {
		return usagef("--out %s holds %s, which is not part of an earlier export: --force replaces only a folder that holds nothing but train/ and test/ of a previous export-images; give a new or empty folder",
			termtext.Escape(out), termtext.Escape(other))
	}
	return nil
}

// exportImage is the name of an image export-images writes.
var exportImage = regexp.MustCompile(`^[0-9]{5,}\.png$`)

// notExport returns the first thing in dir, relative to it, that an
// export-images folder does not hold, or "" when dir holds nothing else:
// train/ and test/ folders (not links), of class folders, of NNNNN.png
// regular files.
func notExport(dir string) string {
	top, err := os.ReadDir(dir)
	if err != nil {
		return "files that cannot be listed"
	}
	for _, sp := range top {
		if n := sp.Name(); (n != string(dataset.Train) && n != string(dataset.Test)) || !sp.IsDir() {
			return describeEntry(n, sp)
		}
		classes, err := os.ReadDir(filepath.Join(dir, sp.Name()))
		if err != nil {
			return sp.Name() + "/, which cannot be listed"
		}
		for _, c := range classes {
			rel := sp.Name() + "/" + c.Name()
			if !c.IsDir() {
				return describeEntry(rel, c)
			}
			images, err := os.ReadDir(filepath.Join(dir, sp.Name(), c.Name()))
			if err != nil {
				return rel + "/, which cannot be listed"
			}
			for _, img := range images {
				if !img.Type().IsRegular() || !exportImage.MatchString(img.Name()) {
					return describeEntry(rel+"/"+img.Name(), img)
				}
			}
		}
	}
	return ""
}

// describeEntry names an entry for a message, with a slash for a folder.
func describeEntry(rel string, e fs.DirEntry) string {
	if e.IsDir() {
		return rel + "/"
	}
	return rel
}

// within reports whether path is inner or lies inside it, by their paths
// once made absolute with their links resolved (as far as they exist), and
// by the identity of the folders on the way up, which also sees through
// bind mounts and case-insensitive names.
func within(path, inner string) bool {
	p, in := resolvedPath(path), resolvedPath(inner)
	if rel, err := filepath.Rel(in, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return true
	}
	want, err := os.Stat(in)
	if err != nil {
		return false
	}
	for q := p; ; q = filepath.Dir(q) {
		if fi, err := os.Stat(q); err == nil && os.SameFile(fi, want) {
			return true
		}
		if filepath.Dir(q) == q {
			return false
		}
	}
}

// resolvedPath is path made absolute, with the links of its longest
// existing part resolved.
func resolvedPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	rest := ""
	for p := abs; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(p) == p {
			return abs
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
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
