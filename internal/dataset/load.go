package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvData names the environment variable that, when set, is the data folder
// used when no folder is given on the command line.
const EnvData = "SOFTMAXCTL_DATA"

// MissingError reports data set files that are not in a folder. Load returns
// one when a file of the split is absent, so that the command line can offer
// to download them; test with errors.As.
type MissingError struct {
	Dir     string   // the folder that was searched
	Files   []string // names of the absent files
	Dataset string   // data set name; may be empty
}

// Error returns a one-line message with the facts; the command line adds
// how to get the files.
func (e *MissingError) Error() string {
	what := "dataset"
	if e.Dataset != "" {
		what = e.Dataset
	}
	return fmt.Sprintf("%s files missing in %s: %s", what, e.Dir, strings.Join(e.Files, ", "))
}

// DefaultRoot returns the folder under which datasets (and the cache of
// decoded image folders) live when no --data is given: $SOFTMAXCTL_DATA
// when set, else <user cache dir>/softmaxctl. The caller passes the
// process's environment in (os.Getenv, os.UserCacheDir): this package
// reads none itself.
func DefaultRoot(getenv func(string) string, userCacheDir func() (string, error)) (string, error) {
	if root := getenv(EnvData); root != "" {
		return root, nil
	}
	cache, err := userCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a data folder: %w (set %s to a folder for the datasets)", err, EnvData)
	}
	return filepath.Join(cache, "softmaxctl"), nil
}

// ResolveDir returns the folder for the data set named dataset: flagDir if it
// is not empty, else <root>/<dataset> (root from DefaultRoot), so that
// --dataset mnist never reads Fashion-MNIST's files (their structure is the
// same). The folder need not exist.
func ResolveDir(flagDir, root, dataset string) (string, error) {
	if flagDir != "" {
		return flagDir, nil
	}
	// Only known names make it into a path, so a name like "../x" cannot
	// point the cache somewhere else.
	if _, err := Lookup(dataset); err != nil {
		return "", err
	}
	if root == "" {
		return "", fmt.Errorf("no data folder for %s: give --data, or set %s", dataset, EnvData)
	}
	return filepath.Join(root, dataset), nil
}

// Missing returns the names of those files of spec's splits (all four
// when no split is given) that are not regular files in dir; nil means all
// are there. It checks presence only, not content.
func Missing(dir string, spec Spec, splits ...Split) (missing []string) {
	files := spec.Downloads()
	if len(splits) > 0 && spec.Archive == nil {
		files = nil
		for _, sp := range splits {
			im, lb, err := spec.SplitFiles(sp)
			if err == nil {
				files = append(files, im, lb)
			}
		}
	}
	for _, f := range files {
		if !isFile(filepath.Join(dir, f.Name)) {
			missing = append(missing, f.Name)
		}
	}
	return missing
}

// isFile reports whether path is a regular file (following links).
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// LoadOptions relax what LoadWith accepts.
type LoadOptions struct {
	// OwnData accepts files of a known format that are not shaped like the
	// official ones: CIFAR batch files of any number of records.
	OwnData bool
}

// ErrUnofficialSize is wrapped by the error of a CIFAR batch file that
// does not hold the official 10,000 records, unless LoadOptions.OwnData.
var ErrUnofficialSize = errors.New("not the size of the official file")

// Load reads one split of spec's data set from dir, as LoadWith does
// without options.
func Load(dir string, spec Spec, split Split) (*Set, error) {
	return LoadWith(dir, spec, split, LoadOptions{})
}

// LoadWith reads one split of spec's data set from dir and checks its structure:
// images are 3-D, labels 1-D, the counts agree and every label names one of
// spec's classes. It does not check MD5s, so re-compressed copies of the
// files load too; fetch.Download and fetch.CheckSplit are what check sums.
//
// If a file is absent the error is a *MissingError.
func LoadWith(dir string, spec Spec, split Split, o LoadOptions) (*Set, error) {
	if spec.Archive != nil {
		return loadArchive(dir, spec, split, o)
	}
	imf, lbf, err := spec.SplitFiles(split)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, f := range []File{imf, lbf} {
		path := filepath.Join(dir, f.Name)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, f.Name)
		}
	}
	if missing != nil {
		// Not wrapped: the message already says all a user needs.
		return nil, &MissingError{Dir: dir, Files: missing, Dataset: spec.Name}
	}

	// Structural errors end with the same advice: the file is there but
	// damaged, so it must be replaced.
	fail := func(err error) error {
		return fmt.Errorf("load %s %s: %w (the file is damaged: replace it with a good copy)", spec.Name, split, err)
	}
	imPath := filepath.Join(dir, imf.Name)
	lbPath := filepath.Join(dir, lbf.Name)
	set, err := ReadImages(imPath)
	if err != nil {
		return nil, fail(err)
	}
	labels, err := ReadLabels(lbPath)
	if err != nil {
		return nil, fail(err)
	}
	if len(labels) != set.N {
		return nil, fmt.Errorf("load %s %s: %s holds %d images but %s holds %d labels; the two files belong to different data sets or one is damaged, so download them again",
			spec.Name, split, imPath, set.N, lbPath, len(labels))
	}
	if set.N == 0 {
		return nil, fail(fmt.Errorf("%s holds no images", imPath))
	}
	classes := len(spec.Classes)
	if classes == 0 || classes > NumClasses {
		classes = NumClasses
	}
	for i, l := range labels {
		if int(l) >= classes {
			return nil, fail(fmt.Errorf("%s: label %d of example %d is not a class (want 0..%d)", lbPath, l, i, classes-1))
		}
	}
	set.Labels = labels
	return set, nil
}
