package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
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
	completeValues(cmd, "dataset", dataset.Names()...)
	completeFolders(cmd, "data")
	_ = cmd.RegisterFlagCompletionFunc("mirror", cobra.NoFileCompletions)
}

// resolve checks the dataset name and finds its folder.
func (d *dataOptions) resolve() (dataset.Spec, string, error) {
	spec, err := dataset.Lookup(d.Dataset)
	if err != nil {
		return dataset.Spec{}, "", usageError{err}
	}
	for _, m := range d.Mirrors {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
			return dataset.Spec{}, "", usagef("--mirror %q is not an http, https or file URL", m)
		}
	}
	dir, err := dataset.ResolveDir(d.Dir, spec.Name)
	if err != nil {
		return dataset.Spec{}, "", err
	}
	return spec, dir, nil
}

// load returns the requested splits, downloading missing files first
// unless --no-download was given.
func (d *dataOptions) load(ctx context.Context, ios *IO, splits ...dataset.Split) (dataset.Spec, string, []*dataset.Set, error) {
	spec, dir, err := d.resolve()
	if err != nil {
		return spec, dir, nil, err
	}
	if missing := dataset.Present(dir, spec); len(missing) > 0 {
		if d.NoDownload {
			return spec, dir, nil, fmt.Errorf("%s is missing %s in %s: run `softmaxctl download --dataset %s` (add --mirror URL to fetch from a copy), or point --data at a folder that has the files",
				spec.Name, strings.Join(missing, ", "), dir, spec.Name)
		}
		fmt.Fprintf(ios.ErrOut, "downloading %s into %s\n", spec.Name, dir)
		if err := download(ctx, ios, spec, dir, d.Mirrors, false); err != nil {
			return spec, dir, nil, fmt.Errorf("%s is not in %s and could not be downloaded: %w", spec.Name, dir, err)
		}
	}
	// Each split is one gzip stream, decoded on one core: read them side
	// by side.
	sets := make([]*dataset.Set, len(splits))
	errs := make([]error, len(splits))
	var wg sync.WaitGroup
	for i, sp := range splits {
		wg.Go(func() { sets[i], errs[i] = dataset.Load(dir, spec, sp) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return spec, dir, nil, err
		}
	}
	return spec, dir, sets, nil
}

// download fetches spec's files into dir, with progress bars on a terminal.
func download(ctx context.Context, ios *IO, spec dataset.Spec, dir string, mirrors []string, force bool) error {
	opts := dataset.DownloadOptions{Spec: spec, Dir: dir, Mirrors: mirrors, Force: force, Log: ios.ErrOut}
	if ios.ErrTTY {
		opts.Progress = func(name string, total int64) io.Writer {
			return progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(ios.ErrOut),
				progressbar.OptionSetDescription(name),
				progressbar.OptionShowBytes(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionClearOnFinish(),
			)
		}
	}
	return dataset.Download(ctx, opts)
}
