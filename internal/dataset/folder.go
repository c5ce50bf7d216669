package dataset

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/imageprep"
	"github.com/softmaxctl/softmaxctl/internal/safeopen"
)

// MaxFolderClasses is the most classes an image folder may have: labels
// are stored as bytes.
const MaxFolderClasses = 256

// MaxFolderBytes is the most that an image folder's decoded images may take
// (1 GiB: images × size × size × channels bytes), checked before any is
// decoded. Training takes a few times as much again.
const MaxFolderBytes = 1 << 30

// imageExts are the file extensions LoadFolder reads as images (compared
// in lower case); other files are skipped.
var imageExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true,
	".bmp": true, ".tif": true, ".tiff": true,
}

// IsImageName reports whether name has the extension of an image that
// LoadFolder reads.
func IsImageName(name string) bool {
	return imageExts[strings.ToLower(filepath.Ext(name))]
}

// FolderOptions says how LoadFolder turns a folder's images into a data set.
type FolderOptions struct {
	// Size is the side of the square input every image is fitted to
	// (imageprep.Fit: shorter side to Size, centre crop, area average).
	Size int
	// Color keeps three channels (RGB, stored CHW); otherwise images
	// become grayscale.
	Color bool
	// TestSplit is the fraction of each class held out as the test split
	// when the folder has no train/ and test/ folders; SplitSeed seeds
	// the choice.
	TestSplit float64
	SplitSeed int64
	// CacheDir, when not empty, is where decoded copies are kept (see
	// LoadFolder); the folder is created when needed.
	CacheDir string
	// Workers is the number of images decoded at once; 0 means one per
	// CPU.
	Workers int
	// MaxBytes bounds the decoded images, checked before any is decoded;
	// 0 means MaxFolderBytes.
	MaxBytes int64
	// DecodeBytes bounds the memory that images being decoded take at
	// once (see imageprep.Budget); 0 means imageprep.DefaultBudget.
	DecodeBytes int64
}

// FolderSizeError is a folder whose decoded images would take more than
// the limit.
type FolderSizeError struct {
	Dir                    string
	Images, Size, Channels int
	Bytes, Limit           int64
}

func (e *FolderSizeError) Error() string {
	return fmt.Sprintf("%s: its %d images at %dx%d %s would take %d MiB decoded, more than the %d MiB allowed",
		e.Dir, e.Images, e.Size, e.Size, colourName(e.Channels), e.Bytes>>20, e.Limit>>20)
}

// FitSize is the largest image side at which the images would fit the limit
// with chans channels, 0 if none.
func (e *FolderSizeError) FitSize(chans int) int {
	per := e.Limit / int64(e.Images*chans) // bytes an image may take
	n := int(math.Sqrt(float64(per)))
	for int64(n)*int64(n) > per {
		n--
	}
	for int64(n+1)*int64(n+1) <= per {
		n++
	}
	return n
}

func colourName(channels int) string {
	if channels == 3 {
		return "RGB"
	}
	return "grayscale"
}

// Layouts of an image folder.
const (
	// LayoutSplit is DIR/train/<class>/… and DIR/test/<class>/….
	LayoutSplit = "train-test"
	// LayoutClasses is DIR/<class>/…, split by FolderOptions.TestSplit.
	LayoutClasses = "classes"
)

// BadImage is an image file LoadFolder could not read, and why.
type BadImage struct {
	Path   string `json:"path"` // relative to the folder
	Reason string `json:"reason"`
}

// Folder is an image folder loaded as a data set.
type Folder struct {
	Classes     []string // class names: the folder names, sorted
	Train, Test *Set
	Layout      string     // LayoutSplit or LayoutClasses
	Skipped     int        // hidden and non-image files left out
	Bad         []BadImage // images that could not be read, left out
	Resized     int        // images that were not already Size×Size
	Cached      bool       // read from the cache rather than decoded
	CacheErr    error      // why the cache could not be written, if it could not
	// CacheIgnored says why a cache folder or file was not trusted (it
	// belongs to another user, or others may write it): it was ignored
	// and the images decoded afresh.
	CacheIgnored error

	// verify lists the files that changed within racyWindow of the
	// decoding, by content: the cache records them.
	verify []verifyEntry
}

// verifyEntry is a file and the SHA-256 of the content it was decoded from
// ("" if it could not be read).
type verifyEntry struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// FolderError is a folder that cannot make a data set. Kind says why.
type FolderError struct {
	Dir   string
	Kind  FolderErrorKind
	Class string // the class concerned, for EmptyClass
	Split Split  // the split concerned, for EmptyClass and NoImages
	N     int    // number of classes, for OneClass and TooManyClasses
}

// FolderErrorKind says what is wrong with an image folder.
type FolderErrorKind int

// Kinds of FolderError.
const (
	NotImageFolder   FolderErrorKind = iota + 1 // no class subfolders
	OneClass                                    // a single class folder
	TooManyClasses                              // over MaxFolderClasses
	NoImages                                    // no readable image at all (in Split)
	EmptyClass                                  // Class has no readable image (in Split)
	UnknownTestClass                            // test/Class has no train/Class
)

func (e *FolderError) Error() string {
	switch e.Kind {
	case NotImageFolder:
		return fmt.Sprintf("%s has no class subfolders of images", e.Dir)
	case OneClass:
		return fmt.Sprintf("%s has a single class folder; a classifier needs at least two", e.Dir)
	case TooManyClasses:
		return fmt.Sprintf("%s has %d class folders, more than the %d supported", e.Dir, e.N, MaxFolderClasses)
	case NoImages:
		if e.Split != "" {
			return fmt.Sprintf("%s has no readable images for the %s split", e.Dir, e.Split)
		}
		return fmt.Sprintf("%s has no readable images", e.Dir)
	case EmptyClass:
		return fmt.Sprintf("class %q in %s has no readable images in the %s split", e.Class, e.Dir, e.Split)
	case UnknownTestClass:
		return fmt.Sprintf("%s has test/%s but no train/%s", e.Dir, e.Class, e.Class)
	}
	return fmt.Sprintf("%s is not a usable image folder", e.Dir)
}

// folderEntry is one image file found in a folder.
type folderEntry struct {
	rel   string // path relative to the folder, with forward slashes
	size  int64
	mtime int64
	// dev, ino and ctime tell this version of the file from any other
	// (see fileVersion); zero where the system has none.
	dev, ino uint64
	ctime    int64
	class    int
	split    Split
}

// changedAfter reports whether the file was last changed at or after t
// (UnixNano), by its ctime, or its mtime where there is no ctime.
func (e *folderEntry) changedAfter(t int64) bool {
	if e.ctime != 0 {
		return e.ctime >= t
	}
	return e.mtime >= t
}

// IsImageFolder reports whether dir looks like an image folder: it holds
// at least one non-hidden subfolder, and neither it nor its subfolders
// hold IDX files (a folder above a dataset's folder is not an image
// folder).
func IsImageFolder(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	dirs := 0
	for _, e := range entries {
		n := e.Name()
		if isIDXName(n) {
			return false
		}
		sub := filepath.Join(dir, n)
		if isDir(sub) && !strings.HasPrefix(n, ".") {
			dirs++
			inner, _ := os.ReadDir(sub)
			if slices.ContainsFunc(inner, func(e fs.DirEntry) bool { return isIDXName(e.Name()) }) {
				return false
			}
		}
	}
	return dirs > 0
}

func isIDXName(n string) bool {
	return strings.HasSuffix(n, "-ubyte.gz") || strings.HasSuffix(n, "-ubyte")
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// scanFolder lists the image files of dir, sorted, with their classes and
// splits (before any TestSplit), and counts the files it leaves out.
func scanFolder(dir string) (classes []string, layout string, files []folderEntry, skipped int, err error) {
	layout = LayoutClasses
	if isDir(filepath.Join(dir, "train")) && isDir(filepath.Join(dir, "test")) {
		layout = LayoutSplit
	}
	subdirs := func(d string) ([]string, int, error) {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, 0, err
		}
		var names []string
		other := 0
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") && isDir(filepath.Join(d, e.Name())) {
				names = append(names, e.Name())
			} else {
				other++
			}
		}
		slices.Sort(names)
		return names, other, nil
	}
	walk := func(root, relRoot string, class int, split Split) error {
		return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path == root {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				skipped++
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			fi, err := os.Stat(path) // follows a link to a file
			if err != nil || !fi.Mode().IsRegular() || !imageExts[strings.ToLower(filepath.Ext(path))] {
				skipped++
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			dev, ino, ctime := fileVersion(fi)
			files = append(files, folderEntry{
				rel: relRoot + "/" + filepath.ToSlash(rel), size: fi.Size(), mtime: fi.ModTime().UnixNano(),
				dev: dev, ino: ino, ctime: ctime, class: class, split: split,
			})
			return nil
		})
	}
	if layout == LayoutSplit {
		var other int
		if classes, other, err = subdirs(filepath.Join(dir, "train")); err != nil {
			return nil, "", nil, 0, err
		}
		skipped += other
		testClasses, other, err := subdirs(filepath.Join(dir, "test"))
		if err != nil {
			return nil, "", nil, 0, err
		}
		skipped += other
		for _, c := range testClasses {
			if !slices.Contains(classes, c) {
				return nil, "", nil, 0, &FolderError{Dir: dir, Kind: UnknownTestClass, Class: c}
			}
		}
		if err := checkClassCount(dir, classes); err != nil {
			return nil, "", nil, 0, err
		}
		for _, sp := range []Split{Train, Test} {
			for i, c := range classes {
				root := filepath.Join(dir, string(sp), c)
				if !isDir(root) {
					continue
				}
				if err := walk(root, string(sp)+"/"+c, i, sp); err != nil {
					return nil, "", nil, 0, err
				}
			}
		}
		// Entries at the top other than train and test are left out.
		if entries, err := os.ReadDir(dir); err == nil {
			skipped += len(entries) - 2
		}
		return classes, layout, files, skipped, nil
	}
	var other int
	if classes, other, err = subdirs(dir); err != nil {
		return nil, "", nil, 0, err
	}
	skipped += other
	if err := checkClassCount(dir, classes); err != nil {
		return nil, "", nil, 0, err
	}
	for i, c := range classes {
		if err := walk(filepath.Join(dir, c), c, i, Train); err != nil {
			return nil, "", nil, 0, err
		}
	}
	return classes, layout, files, skipped, nil
}

// FolderClasses returns the names of the class folders of the image
// folder dir, sorted, without reading any image: those of train/ and test/
// when it has both, else its own subfolders. Hidden folders are left out,
// as LoadFolder leaves them out. Commands check the names before any work.
func FolderClasses(dir string) ([]string, error) {
	roots := []string{dir}
	if isDir(filepath.Join(dir, "train")) && isDir(filepath.Join(dir, "test")) {
		roots = []string{filepath.Join(dir, "train"), filepath.Join(dir, "test")}
	}
	var names []string
	for _, root := range roots {
		entries, err := os.ReadDir(root)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasPrefix(n, ".") && isDir(filepath.Join(root, n)) && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

func checkClassCount(dir string, classes []string) error {
	switch {
	case len(classes) == 0:
		return &FolderError{Dir: dir, Kind: NotImageFolder}
	case len(classes) == 1:
		return &FolderError{Dir: dir, Kind: OneClass, N: 1}
	case len(classes) > MaxFolderClasses:
		return &FolderError{Dir: dir, Kind: TooManyClasses, N: len(classes)}
	}
	return nil
}

// splitClasses assigns each class's files to the test split at random,
// round(frac·n) of them (never all), seeded by seed and the class.
func splitClasses(files []folderEntry, classes int, frac float64, seed int64) {
	byClass := make([][]int, classes)
	for i, f := range files {
		byClass[f.class] = append(byClass[f.class], i)
	}
	for c, idx := range byClass {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(c)))
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		nTest := min(int(frac*float64(len(idx))+0.5), max(len(idx)-1, 0))
		for _, i := range idx[:nTest] {
			files[i].split = Test
		}
	}
}

// racyWindow is how recently a file may have changed for its ctime not to
// be trusted to show a later change: a file system stamps times to the tick
// of a coarse clock (a few milliseconds; a second or two on some file
// systems), so a file rewritten within the same tick as the change before
// keeps its ctime. The content of such files is hashed into the cache and
// compared when the cache is read, as git does for its "racily clean"
// entries.
const racyWindow = 3 * time.Second

// cacheKey names the decoded copy of the files of the folder at absolute
// path dir under o: it covers every file's path, size, mtime, ctime, device
// and inode, so that any change to a file (its content, its permissions, the
// file itself replaced) gives another name.
func cacheKey(dir string, files []folderEntry, layout string, o FolderOptions) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%t\x00%v\x00%d\n", folderCacheMagic, dir, layout, o.Size, o.Color, o.TestSplit, o.SplitSeed)
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%d\x00%d\x00%d\n", f.rel, f.size, f.mtime, f.ctime, f.dev, f.ino)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileSum is the SHA-256 of the file at path, or "" when it cannot be read:
// what the cache records of a file that changed within racyWindow.
func fileSum(path string) string {
	data, err := readImageFile(path)
	if err != nil {
		return ""
	}
	return sumOf(data)
}

// readImageFile reads the file at path, if it is a regular file, up to one
// byte more than imageprep.Decode accepts (which then says it is too
// large).
func readImageFile(path string) ([]byte, error) {
	fh, _, err := safeopen.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, imageprep.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

func sumOf(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// verified reports whether every file that f's cache records by content
// is one of files and still has that content.
func (f *Folder) verified(dir string, files []folderEntry) bool {
	if len(f.verify) == 0 {
		return true
	}
	known := make(map[string]bool, len(files))
	for _, e := range files {
		known[e.rel] = true
	}
	for _, v := range f.verify {
		if !known[v.Path] {
			return false
		}
		if fileSum(filepath.Join(dir, filepath.FromSlash(v.Path))) != v.SHA256 {
			return false
		}
	}
	return true
}

// LoadFolder reads an image folder as a data set: dir holds train/<class>/…
// and test/<class>/…, or only <class>/…, in which case o.TestSplit of each
// class becomes the test split. Class names are the folder names, sorted.
// Hidden files and files that are not images (by extension) are skipped
// and counted; images that cannot be decoded are listed in Bad and left
// out. It fails with a *FolderError if the folder has fewer than two
// classes or a class has no readable training image.
//
// Images are decoded in parallel. With o.CacheDir set, the decoded sets
// are kept there in one file named by a hash of the folder's path, of its
// file list (paths, sizes, mtimes, ctimes, inodes: see cacheKey) and of o,
// so that a second load of an unchanged folder reads that file instead; a
// changed file gives a new name. Files changed within racyWindow of the
// load are also recorded by content hash, checked when the cache is read.
// The cache file is written atomically.
func LoadFolder(dir string, o FolderOptions) (*Folder, error) {
	if o.Size < 1 {
		return nil, fmt.Errorf("image size %d: want at least 1", o.Size)
	}
	racyAfter := time.Now().Add(-racyWindow).UnixNano()
	classes, layout, files, skipped, err := scanFolder(dir)
	if err != nil {
		var fe *FolderError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("read image folder %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, &FolderError{Dir: dir, Kind: NoImages}
	}
	if layout == LayoutClasses {
		splitClasses(files, len(classes), o.TestSplit, o.SplitSeed)
	}
	// Examples go in file-name order across the classes (the class order
	// breaks ties), not class after class: a dataset exported with its
	// indices as names (export-images) then comes back in its original
	// order and trains exactly as the original does at the same seed.
	slices.SortStableFunc(files, func(a, b folderEntry) int {
		return strings.Compare(path.Base(a.rel), path.Base(b.rel))
	})
	limit := cmp.Or(o.MaxBytes, MaxFolderBytes)
	if need := int64(len(files)) * int64(chans(o)*o.Size*o.Size); need > limit {
		return nil, &FolderSizeError{Dir: dir, Images: len(files), Size: o.Size, Channels: chans(o), Bytes: need, Limit: limit}
	}
	var cachePath string
	var cacheOK, replace bool // the cache may be written; over a file not trusted
	var ignored error
	if o.CacheDir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("read image folder %s: %w", dir, err)
		}
		cachePath = filepath.Join(o.CacheDir, cacheKey(abs, files, layout, o)+".bin")
		var f *Folder
		f, cacheOK, ignored = readFolderCache(o.CacheDir, cachePath, &cacheWant{
			classes: classes, size: o.Size, channels: chans(o), images: len(files),
		})
		replace = ignored != nil
		if f != nil && f.verified(dir, files) {
			// What was skipped is not in the key: count it now.
			f.Cached, f.Layout, f.Skipped = true, layout, skipped
			return f, f.check(dir)
		}
	}
	f, err := decodeFolder(dir, classes, files, o, racyAfter)
	if err != nil {
		return nil, err
	}
	f.Layout, f.Skipped, f.CacheIgnored = layout, skipped, ignored
	if err := f.check(dir); err != nil {
		return nil, err
	}
	if cacheOK {
		f.CacheErr = writeFolderCache(o.CacheDir, cachePath, f, replace)
	}
	return f, nil
}

// check refuses a Folder with an empty training class or no test images.
func (f *Folder) check(dir string) error {
	counts := make([]int, len(f.Classes))
	for _, l := range f.Train.Labels {
		counts[l]++
	}
	for c, n := range counts {
		if n == 0 {
			return &FolderError{Dir: dir, Kind: EmptyClass, Class: f.Classes[c], Split: Train}
		}
	}
	if f.Test.N == 0 {
		return &FolderError{Dir: dir, Kind: NoImages, Split: Test}
	}
	return nil
}

// chans is the number of channels of the images o makes.
func chans(o FolderOptions) int {
	if o.Color {
		return 3
	}
	return 1
}

// decodeFolder decodes files in parallel into the two splits, and records
// the content hash of those changed after racyAfter. Each split's pixels
// are allocated once, at their full size, and each image is fitted
// straight into its place.
func decodeFolder(dir string, classes []string, files []folderEntry, o FolderOptions, racyAfter int64) (*Folder, error) {
	dim := chans(o) * o.Size * o.Size
	sets := map[Split]*Set{}
	for _, sp := range []Split{Train, Test} {
		sets[sp] = &Set{Rows: o.Size, Cols: o.Size, Channels: chans(o), Classes: len(classes)}
	}
	at := make([]int, len(files)) // each file's index in its split
	for k, e := range files {
		s := sets[e.split]
		at[k] = s.N
		s.N++
	}
	for _, s := range sets {
		s.Pix = make([]byte, s.N*dim)
		s.Labels = make([]uint8, 0, s.N)
	}
	reasons := make([]string, len(files))
	resized := make([]bool, len(files))
	sums := make([]string, len(files))
	workers := cmp.Or(o.Workers, runtime.GOMAXPROCS(0))
	// The workers keep every core busy; the budget bounds the memory
	// their images take at once.
	budget := imageprep.NewBudget(o.DecodeBytes)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= len(files) {
					return
				}
				racy := files[k].changedAfter(racyAfter)
				dst := sets[files[k].split].Pix[at[k]*dim : (at[k]+1)*dim]
				same, sum, err := decodeFile(filepath.Join(dir, filepath.FromSlash(files[k].rel)), dst, o, budget, racy)
				sums[k] = sum
				if err != nil {
					reasons[k] = err.Error()
					continue
				}
				resized[k] = !same
			}
		})
	}
	wg.Wait()
	f := &Folder{Classes: classes}
	// Close the gaps that unreadable images left, in order.
	for _, s := range sets {
		s.N = 0
	}
	for k, e := range files {
		if e.changedAfter(racyAfter) {
			f.verify = append(f.verify, verifyEntry{Path: e.rel, SHA256: sums[k]})
		}
		if reasons[k] != "" {
			f.Bad = append(f.Bad, BadImage{Path: e.rel, Reason: reasons[k]})
			continue
		}
		if resized[k] {
			f.Resized++
		}
		s := sets[e.split]
		if s.N != at[k] {
			copy(s.Pix[s.N*dim:(s.N+1)*dim], s.Pix[at[k]*dim:(at[k]+1)*dim])
		}
		s.Labels = append(s.Labels, uint8(e.class))
		s.N++
	}
	for _, s := range sets {
		s.Pix = s.Pix[:s.N*dim]
	}
	f.Train, f.Test = sets[Train], sets[Test]
	return f, nil
}

// decodeFile reads one image within budget and fits it into dst; same
// reports that it already was Size×Size. With sum it also returns the
// SHA-256 of the bytes it decoded, or tried to ("" if the file could not be
// read).
func decodeFile(path string, dst []byte, o FolderOptions, budget *imageprep.Budget, sum bool) (same bool, hash string, err error) {
	fh, fi, err := safeopen.Open(path)
	if err != nil {
		return false, "", err
	}
	defer fh.Close()
	err = budget.Decode(context.Background(), fh, fi.Size(), func(data []byte, img image.Image, err error) error {
		if sum {
			hash = sumOf(data)
		}
		if err != nil {
			return err
		}
		b := img.Bounds()
		same = b.Dx() == o.Size && b.Dy() == o.Size
		imageprep.FitInto(dst, img, o.Size, o.Color)
		return nil
	})
	return same, hash, err
}

// FolderCacheDir returns where decoded image folders are kept: root's
// folders/ (root from DefaultRoot).
func FolderCacheDir(root string) string { return filepath.Join(root, "folders") }
