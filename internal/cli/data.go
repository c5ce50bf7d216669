package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/dataset/fetch"
	"github.com/softmaxctl/softmaxctl/internal/termtext"
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
	// folders says that the command reads image folders (--dataset
	// folder), so that its help, completion and messages offer them.
	folders bool
}

// dataFlags says how a command takes the data flags.
type dataFlags struct {
	// autoDownload adds --no-download: the command fetches missing files.
	autoDownload bool
	// fromModel leaves --dataset empty by default: the command reads a
	// model and uses the dataset it was trained on (see datasetFor).
	fromModel bool
	// folders: the command reads image folders as well as the known
	// datasets (train, eval, show-errors); download and export-images
	// fetch or write a known dataset only.
	folders bool
}

func (d *dataOptions) addFlags(cmd *cobra.Command, how dataFlags) {
	fs := cmd.Flags()
	d.folders = how.folders
	names := d.datasetNames()
	datasets := "dataset: " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if how.folders {
		datasets += " (your own images, in --data)"
	}
	if how.fromModel {
		fs.StringVar(&d.Dataset, "dataset", "", datasets+" (default: the one the model was trained on)")
	} else {
		fs.StringVar(&d.Dataset, "dataset", "fashion-mnist", datasets)
	}
	data := "folder with the dataset's files (IDX files, or CIFAR-10's archive)"
	if how.folders {
		data += ", or with your own images, one subfolder per class"
	}
	fs.StringVar(&d.Dir, "data", "", data+" (default $SOFTMAXCTL_DATA/<dataset>, else the user cache folder)")
	if how.autoDownload {
		fs.BoolVar(&d.NoDownload, "no-download", false, "fail instead of downloading missing dataset files")
	}
	fs.StringArrayVar(&d.Mirrors, "mirror", nil, "base URL (http, https or file) or folder to download missing files from instead of the official ones; repeat for fallbacks")
	if how.autoDownload {
		fs.BoolVar(&d.SkipCheck, "skip-dataset-check", false, "use the files even if they look like another known dataset than --dataset, or (cifar10) hold other than the official 10,000 records per batch: your own data")
	}
	d.Folder.explicit = func() bool { return cmd.Flags().Changed("dataset") }
	completeValues(cmd, "dataset", names...)
	completeFolders(cmd, "data")
	completeFolders(cmd, "mirror")
}

// datasetNames are the --dataset values the command takes: the known
// datasets, and folder when it reads image folders.
func (d *dataOptions) datasetNames() []string {
	names := dataset.Names()
	if d.folders {
		names = append(names, folderName)
	}
	return names
}

// checkName refuses a --dataset that names no dataset the command takes,
// listing those it does; an empty name (the model's) is fine. Commands
// that read a model call it first, so that a misspelt name is a usage
// error whatever the model.
func (d *dataOptions) checkName() error {
	if d.Dataset == "" || d.Dataset == folderName && d.folders {
		return nil
	}
	if _, err := dataset.Lookup(d.Dataset); err != nil {
		if d.folders {
			return usagef("unknown dataset %q: use one of %s, or folder (--data DIR with one subfolder of images per class)", d.Dataset, strings.Join(dataset.Names(), ", "))
		}
		return usageError{err}
	}
	return nil
}

// resolve checks the dataset name and finds its folder.
func (d *dataOptions) resolve() (dataset.Spec, string, error) {
	if d.isFolder() {
		if !d.folders {
			what := "--dataset folder names your own images"
			if d.Folder.explicit == nil || !d.Folder.explicit() {
				what = fmt.Sprintf("--data %s holds class folders of images", termtext.Escape(d.Dir))
			}
			return dataset.Spec{}, "", usagef("%s: this command works on a known dataset (%s); give one with --dataset, and a folder for its files with --data", what, strings.Join(dataset.Names(), ", "))
		}
		if err := d.validateFolder(); err != nil {
			return dataset.Spec{}, "", err
		}
		if err := checkClassFolders(d.Dir); err != nil {
			return dataset.Spec{}, "", err
		}
		return dataset.Spec{Name: folderName}, d.Dir, nil
	}
	if err := d.checkName(); err != nil {
		return dataset.Spec{}, "", err
	}
	spec, err := dataset.Lookup(d.Dataset)
	if err != nil {
		return dataset.Spec{}, "", usageError{err}
	}
	if err := d.Folder.notForIDX(spec); err != nil {
		return dataset.Spec{}, "", err
	}
	for i, m := range d.Mirrors {
		u, err := fetch.MirrorURL(m)
		if err != nil {
			return dataset.Spec{}, "", usagef("--mirror %w", err)
		}
		d.Mirrors[i] = u
	}
	root := ""
	if d.Dir == "" {
		if root, err = dataRoot(); err != nil {
			return dataset.Spec{}, "", err
		}
	}
	dir, err := dataset.ResolveDir(d.Dir, root, spec.Name)
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
			return spec, dir, nil, fmt.Errorf("%s is missing %s in %s: run `%s` (add --mirror with a URL or a folder to fetch from a copy), or point --data at a folder that has the files",
				spec.Name, strings.Join(missing, ", "), dir, d.downloadCommand(spec, dir))
		}
		if err := d.checkDownloadDir(spec, dir, false); err != nil {
			return spec, dir, nil, err
		}
		fmt.Fprintf(ios.ErrOut, "downloading %s into %s\n", spec.Name, dir)
		if err := download(ctx, ios, spec, dir, d.Mirrors, false, true); err != nil {
			return spec, dir, nil, fmt.Errorf("%s is missing in %s and could not be downloaded: %w%s", spec.Name, dir, err, offlineHint(spec, err, false, d.Mirrors))
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
	origins := make([]fetch.Origin, len(sets))
	ids := make([]string, len(sets))
	for i := range sets {
		wg.Go(func() {
			origins[i] = fetch.CheckSplit(dir, spec, splits[i], sets[i])
			if origins[i].Provenance != fetch.Official {
				ids[i] = fetch.Identify(sets[i], splits[i])
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
func noteProvenance(ios *IO, spec dataset.Spec, dir string, origins []fetch.Origin) {
	var by []string
	for _, o := range origins {
		if o.Provenance != fetch.Official {
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

// checkDownloadDir refuses to download into a --data folder that is not
// the dataset's: one that does not exist, unless the download command was
// asked to fill it (a mistyped --data ./fashoin-mnist would otherwise get
// a fresh copy, and a run that looks fine), or one that holds files but
// none of the dataset's (a flat folder of photos would fill up with IDX
// files). An empty folder, one that holds some of the dataset's files (or
// the temporary file of a download that was stopped), and the cache,
// which softmaxctl chooses itself, are fine.
func (d *dataOptions) checkDownloadDir(spec dataset.Spec, dir string, create bool) error {
	if d.Dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if create {
			return nil
		}
		hint := ""
		if near := nearbyFolder(dir, spec); near != "" {
			hint = " (did you mean --data " + shellQuote(near) + "?)"
		}
		return usagef("--data %s does not exist%s: to download %s into a new folder, run `softmaxctl download --dataset %s --data %s` first, or leave out --data to use softmaxctl's own cache",
			termtext.Escape(dir), termtext.Escape(hint), spec.Name, spec.Name, termtext.Escape(shellQuote(dir)))
	}
	if err != nil {
		return nil // the download says what is wrong with it
	}
	own := fileNames(spec.Downloads())
	var images, others []string
	for _, e := range entries {
		n := e.Name()
		if slices.ContainsFunc(own, func(f string) bool { return n == f || strings.HasPrefix(n, "."+f+".") }) {
			return nil
		}
		if !e.IsDir() && dataset.IsImageName(n) {
			images = append(images, n)
		} else {
			others = append(others, n)
		}
	}
	if len(images)+len(others) == 0 {
		return nil
	}
	slices.Sort(images)
	slices.Sort(others)
	found := fmt.Sprintf("%d %s (%s)", len(others), plural(len(others), "entry"), listSome(others, 3))
	advice := fmt.Sprintf("give the folder that holds %s's files, an empty or new folder for `softmaxctl download --dataset %s --data DIR`, or no --data (softmaxctl's own cache)", spec.Name, spec.Name)
	if len(images) > 0 {
		found = fmt.Sprintf("%d %s (%s)", len(images), plural(len(images), "image"), listSome(images, 3))
		if len(others) > 0 {
			found += fmt.Sprintf(" and %d other %s", len(others), plural(len(others), "entry"))
		}
		if d.folders {
			advice = "to train on these images, put each class's images in a subfolder named after the class (DIR/<class>/…); for " + spec.Name + ", " + advice
		}
	}
	return usagef("--data %s holds %s but none of %s's files, and softmaxctl downloads only into a folder of the dataset's own: %s",
		termtext.Escape(dir), termtext.Escape(found), spec.Name, advice)
}

// nearbyFolder returns a folder beside dir whose name is within two edits
// of dir's and that holds some of spec's files (the folder a mistyped
// --data meant), as the user would write it; "" if there is none.
func nearbyFolder(dir string, spec dataset.Spec) string {
	parent, base := filepath.Split(dir)
	base = strings.TrimSuffix(base, "/")
	if base == "" {
		return ""
	}
	entries, err := os.ReadDir(filepath.Clean(parent + "."))
	if err != nil {
		return ""
	}
	best, bestD := "", 3
	for _, e := range entries {
		sub := filepath.Join(parent, e.Name())
		if !isDirPath(sub) || len(dataset.Missing(sub, spec)) == len(spec.Downloads()) {
			continue
		}
		if dd := editDistance(base, e.Name()); dd < bestD {
			best, bestD = parent+e.Name(), dd
		}
	}
	return best
}

// isDirPath reports whether path is a folder (following links).
func isDirPath(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// offlineHint is what to add to a failed download's message: how to use
// files that are already on the machine instead of the network (offline,
// the mirrors' errors alone say only that a host was not found). The
// download command is told of --mirror DIR only, and only when it was
// given no --mirror: its --data is where the files go.
func offlineHint(spec dataset.Spec, err error, downloadCmd bool, mirrors []string) string {
	var de *fetch.DownloadError
	if !errors.As(err, &de) {
		return ""
	}
	if downloadCmd {
		if len(mirrors) > 0 {
			return ""
		}
		return "; to copy them from a folder on this machine instead (a copy of the files), add --mirror DIR"
	}
	return fmt.Sprintf("; to use a copy of the files already on this machine, pass --data DIR (the folder that holds them), or copy and check them with `softmaxctl download --dataset %s --mirror DIR`", spec.Name)
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
	opts := fetch.DownloadOptions{Spec: spec, Dir: dir, Mirrors: mirrors, Force: force, OnlyMissing: onlyMissing, Log: bars}
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
	err := fetch.Download(ctx, opts)
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

// dataRoot is where datasets and the image-folder cache live without
// --data: $SOFTMAXCTL_DATA, else the user cache. The environment is read
// here, at the command line, and handed down.
func dataRoot() (string, error) { return dataset.DefaultRoot(os.Getenv, os.UserCacheDir) }
