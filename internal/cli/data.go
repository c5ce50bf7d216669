package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

// dataOptions are the flags that say which dataset to use and where it is.
type dataOptions struct {
	Dataset    string
	Dir        string
	NoDownload bool
	// Mirrors overrides the download locations (download --mirror); empty
	// means the dataset's official ones.
	Mirrors []string
	// SkipCheck accepts files that look like another known dataset than
	// the one named, or that are shaped otherwise than the official files
	// (--skip-dataset-check): the user's own data.
	SkipCheck bool
	// Folder says how an image folder is read (see folder.go).
	Folder folderOptions
	// Gray turns a colour dataset (cifar10) into luminance (--gray);
	// grayFromModel does so for a model trained that way.
	Gray          bool
	grayFromModel bool
}

// dataFlags says how a command takes the data flags.
type dataFlags struct {
	// autoDownload adds --no-download: the command fetches missing files.
	autoDownload bool
	// fromModel leaves --dataset empty by default: the command reads a
	// model and uses the dataset it was trained on (see datasetFor).
	fromModel bool
}

func (d *dataOptions) addFlags(cmd *cobra.Command, how dataFlags) {
	fs := cmd.Flags()
	if how.fromModel {
		fs.StringVar(&d.Dataset, "dataset", "", "dataset: "+strings.Join(dataset.Names(), " or ")+" (default: the one the model was trained on)")
	} else {
		fs.StringVar(&d.Dataset, "dataset", "fashion-mnist", "dataset: "+strings.Join(dataset.Names(), " or "))
	}
	fs.StringVar(&d.Dir, "data", "", "folder with the dataset's four IDX files (default $SOFTMAXCTL_DATA/<dataset>, else the user cache folder)")
	if how.autoDownload {
		fs.BoolVar(&d.NoDownload, "no-download", false, "fail instead of downloading missing dataset files")
	}
	fs.StringArrayVar(&d.Mirrors, "mirror", nil, "base URL (http, https or file) to download missing files from instead of the official ones; repeat for fallbacks")
	if how.autoDownload {
		fs.BoolVar(&d.SkipCheck, "skip-dataset-check", false, "use the files even if they look like another known dataset than --dataset, or (cifar10) hold other than the official 10,000 records per batch: your own data")
	}
	d.Folder.explicit = func() bool { return cmd.Flags().Changed("dataset") }
	completeValues(cmd, "dataset", dataset.Names()...)
	completeFolders(cmd, "data")
	_ = cmd.RegisterFlagCompletionFunc("mirror", cobra.NoFileCompletions)
}

// resolve checks the dataset name and finds its folder.
func (d *dataOptions) resolve() (dataset.Spec, string, error) {
	if d.isFolder() {
		if err := d.validateFolder(); err != nil {
			return dataset.Spec{}, "", err
		}
		if err := checkClassFolders(d.Dir); err != nil {
			return dataset.Spec{}, "", err
		}
		return dataset.Spec{Name: folderName}, d.Dir, nil
	}
	spec, err := dataset.Lookup(d.Dataset)
	if err != nil {
		return dataset.Spec{}, "", usageError{err}
	}
	if err := d.Folder.notForIDX(spec); err != nil {
		return dataset.Spec{}, "", err
	}
	for _, m := range d.Mirrors {
		if err := dataset.CheckMirror(m); err != nil {
			return dataset.Spec{}, "", usagef("--mirror %w", err)
		}
	}
	dir, err := dataset.ResolveDir(d.Dir, spec.Name)
	if err != nil {
		return dataset.Spec{}, "", err
	}
	return spec, dir, nil
}

// load returns the requested splits, downloading their missing files
// first unless --no-download was given. Only the files of those splits are
// needed. Each split is checked against the fingerprints of the known
// datasets, so that MNIST's files are not taken for Fashion-MNIST's.
func (d *dataOptions) load(ctx context.Context, ios *IO, splits ...dataset.Split) (dataset.Spec, string, []*dataset.Set, error) {
	if d.isFolder() {
		spec, sets, err := d.loadFolder(ios, splits)
		return spec, d.Dir, sets, err
	}
	spec, dir, err := d.resolve()
	if err != nil {
		return spec, dir, nil, err
	}
	if d.Gray && spec.Archive == nil {
		return spec, dir, nil, usagef("--gray applies to cifar10, whose images are in colour: %s is grayscale already", spec.Name)
	}
	if err := d.checkDir(spec, dir, splits); err != nil {
		return spec, dir, nil, err
	}
	if missing := dataset.Missing(dir, spec, splits...); len(missing) > 0 {
		if d.NoDownload {
			return spec, dir, nil, fmt.Errorf("%s is missing %s in %s: run `%s` (add --mirror URL to fetch from a copy), or point --data at a folder that has the files",
				spec.Name, strings.Join(missing, ", "), dir, d.downloadCommand(spec, dir))
		}
		fmt.Fprintf(ios.ErrOut, "downloading %s into %s\n", spec.Name, dir)
		if err := download(ctx, ios, spec, dir, d.Mirrors, false, true); err != nil {
			return spec, dir, nil, fmt.Errorf("%s is missing in %s and could not be downloaded: %w", spec.Name, dir, err)
		}
	}
	// Each split is one gzip stream, decoded on one core: read them side
	// by side.
	sets := make([]*dataset.Set, len(splits))
	errs := make([]error, len(splits))
	var wg sync.WaitGroup
	for i, sp := range splits {
		wg.Go(func() { sets[i], errs[i] = dataset.LoadWith(dir, spec, sp, dataset.LoadOptions{OwnData: d.SkipCheck}) })
	}
	wg.Wait()
	for _, err := range errs {
		var me *dataset.MissingError
		if errors.As(err, &me) {
			return spec, dir, nil, fmt.Errorf("%w: run `%s`", err, d.downloadCommand(spec, dir))
		}
		if errors.Is(err, dataset.ErrUnofficialSize) {
			return spec, dir, nil, usagef("%v: pass --skip-dataset-check if the data is your own, or replace the file with the official one (`%s --force`)", err, d.downloadCommand(spec, dir))
		}
		if err != nil {
			return spec, dir, nil, err
		}
	}
	// Both checks read every pixel: run them side by side, one split a
	// core, and skip the fingerprint of a split its checksums already show
	// to be this dataset's own.
	origins := make([]dataset.Origin, len(sets))
	ids := make([]string, len(sets))
	for i := range sets {
		wg.Go(func() {
			origins[i] = dataset.CheckSplit(dir, spec, splits[i], sets[i])
			if origins[i].Provenance != dataset.Official {
				ids[i] = dataset.Identify(sets[i], splits[i])
			}
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != "" && id != spec.Name && !d.SkipCheck {
			return spec, dir, nil, usagef("the %s split in %s is %s (by its class counts and pixel statistics), not %s: pass --dataset %s, or --skip-dataset-check to use it as %s anyway",
				splits[i], dir, id, spec.Name, id, spec.Name)
		}
	}
	noteProvenance(ios, spec, dir, origins)
	if spec.Archive != nil && (d.Gray || d.grayFromModel) {
		for i := range sets {
			sets[i] = dataset.Grayscale(sets[i])
		}
	}
	return spec, dir, sets, nil
}

// noteProvenance says in one line on stderr when the files loaded are the
// official ones by the checksums known for them: the decompressed content's
// SHA-256 where known (so a re-compressed copy counts as official), else the
// archive's MD5. It says nothing when they are not, or when no checksum can
// tell: a user's own or modified files in the IDX format are fine to train
// on, and commands that read them stay quiet.
func noteProvenance(ios *IO, spec dataset.Spec, dir string, origins []dataset.Origin) {
	var by []string
	for _, o := range origins {
		if o.Provenance != dataset.Official {
			return
		}
		if !slices.Contains(by, o.By) {
			by = append(by, o.By)
		}
	}
	if len(by) == 0 {
		return
	}
	fmt.Fprintf(ios.ErrOut, "%s in %s: the official data (%s checked)\n", spec.Name, dir, strings.Join(by, "; "))
}

// downloadCommand is the command that fetches spec's files into dir; it
// names the folder when the user gave one, so that running it fixes what
// failed.
func (d *dataOptions) downloadCommand(spec dataset.Spec, dir string) string {
	cmd := "softmaxctl download --dataset " + spec.Name
	if d.Dir != "" {
		cmd += " --data " + shellQuote(dir)
	}
	return cmd
}

// checkDir catches a --data that names a file, or the folder above the
// dataset's, and says which folder to give instead.
func (d *dataOptions) checkDir(spec dataset.Spec, dir string, splits []dataset.Split) error {
	if d.Dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil // a folder that does not exist yet is where files go
	}
	if !fi.IsDir() {
		parent := filepath.Dir(dir)
		if slices.Contains(fileNames(spec.Downloads()), filepath.Base(dir)) {
			return usagef("--data %s is a file: give the folder that holds the dataset's files, --data %s", dir, parent)
		}
		return usagef("--data %s is a file: give the folder that holds %s's IDX files", dir, spec.Name)
	}
	if len(dataset.Missing(dir, spec, splits...)) == 0 {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if e.IsDir() && len(dataset.Missing(sub, spec, splits...)) == 0 {
			return usagef("--data %s does not hold %s's files, but its folder %s does: pass --data %s", dir, spec.Name, e.Name(), sub)
		}
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// download fetches spec's files into dir, with progress bars on a
// terminal. onlyMissing keeps the files that are there, whatever their
// checksum (the commands that download what they need), unlike the
// download command, which replaces files whose MD5 is not the official one.
func download(ctx context.Context, ios *IO, spec dataset.Spec, dir string, mirrors []string, force, onlyMissing bool) error {
	bars := &barLog{w: ios.ErrOut}
	opts := dataset.DownloadOptions{Spec: spec, Dir: dir, Mirrors: mirrors, Force: force, OnlyMissing: onlyMissing, Log: bars}
	if ios.ErrTTY {
		opts.Progress = func(name string, total int64) io.Writer {
			bars.clear()
			bars.bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(ios.ErrOut),
				progressbar.OptionSetDescription(name),
				progressbar.OptionShowBytes(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionSetElapsedTime(false),
				progressbar.OptionSetPredictTime(false),
				progressbar.OptionClearOnFinish(),
			)
			return bars.bar
		}
	}
	err := dataset.Download(ctx, opts)
	bars.clear()
	return err
}

// barLog is the download's log: each line first clears the progress bar
// in flight, so that no message lands on the bar's line.
type barLog struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (b *barLog) Write(p []byte) (int, error) {
	b.clear()
	return b.w.Write(p)
}

func (b *barLog) clear() {
	if b.bar != nil {
		_ = b.bar.Clear()
		b.bar = nil
	}
}
