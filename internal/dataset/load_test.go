package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

func TestLookup(t *testing.T) {
	hexMD5 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, name := range Names() {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != name || len(s.Classes) != NumClasses || len(s.Mirrors) == 0 {
			t.Errorf("%s: bad spec %+v", name, s)
		}
		for _, f := range s.Downloads() {
			if !hexMD5.MatchString(f.MD5) || !strings.HasSuffix(f.Name, ".gz") {
				t.Errorf("%s: bad file %+v", name, f)
			}
		}
		for _, m := range s.Mirrors {
			if !strings.HasSuffix(m, "/") {
				t.Errorf("%s: mirror %q does not end in /", name, m)
			}
		}
		for _, f := range s.Files {
			if s.Archive == nil && (f.SHA256 != "" && len(f.SHA256) != 64) {
				t.Errorf("%s: bad content SHA-256 %+v", name, f)
			}
		}
		// Changing a returned Spec must not change the next one.
		s.Classes[0], s.Mirrors[0] = "changed", "changed"
		if s.Archive != nil {
			s.Archive.File.MD5, s.Archive.Train[0] = "changed", "changed"
		}
		if again, _ := Lookup(name); again.Classes[0] == "changed" || again.Mirrors[0] == "changed" ||
			again.Archive != nil && (again.Archive.File.MD5 == "changed" || again.Archive.Train[0] == "changed") {
			t.Errorf("%s: Lookup returns shared slices", name)
		}
	}
	if got := Names(); !slices.Equal(got, []string{"fashion-mnist", "mnist", "kmnist", "cifar10"}) {
		t.Errorf("Names() = %v", got)
	}
	_, err := Lookup("cifar100")
	checkOneLine(t, err)
	if !strings.Contains(err.Error(), "fashion-mnist, mnist") {
		t.Errorf("error %q does not list the known names", err)
	}
}

func TestLoad(t *testing.T) {
	s := newSynth(25, 4, 3, 7)
	good := s.files(t, true)
	spec := testSpec(t, good)
	n := uint32(s.n)

	badLabel := append([]uint8(nil), s.labels...)
	badLabel[17] = 10

	tests := []struct {
		name    string
		files   [4][]byte // replaces good's entries that are not nil
		remove  []int     // indices of files not written
		split   Split
		wantErr string // substring; empty means success
		wantIn  string // file name the error must name
	}{
		{name: "train gzip", split: Train},
		{name: "test gzip", split: Test},
		{name: "train raw", files: s.files(t, false), split: Train},
		{name: "unknown split", split: "valid", wantErr: `unknown split "valid"`},
		{name: "missing labels", remove: []int{1}, split: Train, wantErr: "missing", wantIn: spec.Files[1].Name},
		{name: "missing other split is fine", remove: []int{2, 3}, split: Train},
		{
			name:    "count mismatch",
			files:   [4][]byte{1: idxBytes([]uint32{n - 1}, s.labels[1:])},
			split:   Train,
			wantErr: "holds 25 images but", wantIn: spec.Files[1].Name,
		},
		{
			name:    "label out of range",
			files:   [4][]byte{3: gzipBytes(t, idxBytes([]uint32{n}, badLabel))},
			split:   Test,
			wantErr: "label 10 of example 17 is not a class", wantIn: spec.Files[3].Name,
		},
		{
			name:    "images 2-D",
			files:   [4][]byte{0: idxBytes([]uint32{n, 12}, s.pix)},
			split:   Train,
			wantErr: "images need 3 dimensions", wantIn: spec.Files[0].Name,
		},
		{
			name:    "labels 2-D",
			files:   [4][]byte{1: idxBytes([]uint32{n, 1}, s.labels)},
			split:   Train,
			wantErr: "labels need 1 dimension", wantIn: spec.Files[1].Name,
		},
		{
			name:    "files swapped",
			files:   [4][]byte{0: good[1], 1: good[0]},
			split:   Train,
			wantErr: "is it a labels file?",
		},
		{
			name:    "zero images",
			files:   [4][]byte{0: idxBytes([]uint32{0, 4, 3}, nil), 1: idxBytes([]uint32{0}, nil)},
			split:   Train,
			wantErr: "holds no images",
		},
		{
			name:    "truncated images",
			files:   [4][]byte{2: good[2][:len(good[2])/2]},
			split:   Test,
			wantErr: "truncated gzip stream", wantIn: spec.Files[2].Name,
		},
		{
			name:    "not IDX",
			files:   [4][]byte{0: []byte("<html>Not Found</html>")},
			split:   Train,
			wantErr: "not an IDX file", wantIn: spec.Files[0].Name,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := good
			for i, b := range tt.files {
				if b != nil {
					files[i] = b
				}
			}
			for _, i := range tt.remove {
				files[i] = nil
			}
			writeFiles(t, dir, spec, files)
			set, err := Load(dir, spec, tt.split)
			if tt.wantErr != "" {
				checkOneLine(t, err)
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.wantIn) {
					t.Fatalf("error %q does not contain %q and %q", err, tt.wantErr, tt.wantIn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if set.N != s.n || set.Rows != s.rows || set.Cols != s.cols || set.Dim() != 12 {
				t.Errorf("shape %d x %d x %d, want %d x %d x %d", set.N, set.Rows, set.Cols, s.n, s.rows, s.cols)
			}
			if !slices.Equal(set.Pix, s.pix) || !slices.Equal(set.Labels, s.labels) {
				t.Error("content differs")
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	spec, _ := Lookup("mnist")
	dir := filepath.Join(t.TempDir(), "nowhere")
	_, err := Load(dir, spec, Test)
	checkOneLine(t, err)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("error %v is not a *MissingError", err)
	}
	want := []string{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
	if me.Dir != dir || !slices.Equal(me.Files, want) {
		t.Errorf("MissingError = %+v, want dir %s files %v", me, dir, want)
	}
	for _, s := range []string{dir, "mnist", "t10k-images-idx3-ubyte.gz"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestMissing(t *testing.T) {
	s := newSynth(3, 2, 2, 1)
	files := s.files(t, true)
	spec := testSpec(t, files)
	dir := t.TempDir()
	if got := Missing(dir, spec); len(got) != 4 {
		t.Errorf("empty folder: missing %v, want all four", got)
	}
	files[2] = nil
	writeFiles(t, dir, spec, files)
	if got := Missing(dir, spec); !slices.Equal(got, []string{spec.Files[2].Name}) {
		t.Errorf("missing %v, want [%s]", got, spec.Files[2].Name)
	}
	if got := Missing(dir, spec, Train); got != nil {
		t.Errorf("train split: missing %v, want none", got)
	}
	if got := Missing(dir, spec, Test); !slices.Equal(got, []string{spec.Files[2].Name}) {
		t.Errorf("test split: missing %v, want [%s]", got, spec.Files[2].Name)
	}
	// A folder under a file's name does not count as the file.
	if err := os.Mkdir(filepath.Join(dir, spec.Files[2].Name), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Missing(dir, spec); len(got) != 1 {
		t.Errorf("folder counted as a file: missing %v", got)
	}
}

func TestResolveDir(t *testing.T) {
	tests := []struct {
		name, flag, env, cache, dataset string
		want                            string
		wantErr                         string
	}{
		{name: "flag wins", flag: "/a", env: "/b", cache: "/c", dataset: "mnist", want: "/a"},
		{name: "env next", env: "/b", cache: "/c", dataset: "mnist", want: "/b/mnist"},
		{name: "cache last", cache: "/c", dataset: "fashion-mnist", want: "/c/softmaxctl/fashion-mnist"},
		{name: "unknown dataset", cache: "/c", dataset: "../x", wantErr: "unknown dataset"},
		{name: "no cache", dataset: "mnist", wantErr: "set SOFTMAXCTL_DATA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The environment as the command line hands it down.
			getenv := func(k string) string {
				if k == EnvData {
					return tt.env
				}
				return ""
			}
			cacheDir := func() (string, error) {
				if tt.cache == "" {
					return "", errors.New("neither $XDG_CACHE_HOME nor $HOME are defined")
				}
				return tt.cache, nil
			}
			root, err := DefaultRoot(getenv, cacheDir)
			if err == nil || tt.flag != "" {
				root, err = ResolveDir(tt.flag, root, tt.dataset)
			}
			if tt.wantErr != "" {
				checkOneLine(t, err)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if root != tt.want {
				t.Errorf("ResolveDir = %q, want %q", root, tt.want)
			}
		})
	}
}

// realDir returns the folder of the real Fashion-MNIST files named by
// SOFTMAXCTL_TEST_DATA, or skips the test.
func realDir(tb testing.TB) string {
	return testenv.Data(tb)
}

func TestLoadReal(t *testing.T) {
	dir := realDir(t)
	spec, _ := Lookup("fashion-mnist")
	tests := []struct {
		split Split
		n     int
		mean  float64
	}{
		{Train, 60000, 0.2860},
		{Test, 10000, 0.2868},
	}
	for _, tt := range tests {
		start := time.Now()
		set, err := Load(dir, spec, tt.split)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Load %s: %v", tt.split, time.Since(start))
		if set.N != tt.n || set.Rows != 28 || set.Cols != 28 || len(set.Labels) != tt.n {
			t.Fatalf("%s: %d x %d x %d with %d labels, want %d x 28 x 28", tt.split, set.N, set.Rows, set.Cols, len(set.Labels), tt.n)
		}
		var sum uint64
		for _, p := range set.Pix {
			sum += uint64(p)
		}
		mean := float64(sum) / float64(len(set.Pix)) / 255
		if mean < tt.mean-0.001 || mean > tt.mean+0.001 {
			t.Errorf("%s: mean pixel %.4f, want %.4f", tt.split, mean, tt.mean)
		}
		var count [NumClasses]int
		for _, l := range set.Labels {
			count[l]++
		}
		for c, k := range count {
			if k != tt.n/NumClasses {
				t.Errorf("%s: class %d has %d examples, want %d", tt.split, c, k, tt.n/NumClasses)
			}
		}
	}
}

func BenchmarkLoadTrain(b *testing.B) {
	dir := realDir(b)
	spec, _ := Lookup("fashion-mnist")
	for b.Loop() {
		if _, err := Load(dir, spec, Train); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadIDXTrainImages(b *testing.B) {
	path := filepath.Join(realDir(b), "train-images-idx3-ubyte.gz")
	b.SetBytes(60000 * 28 * 28)
	for b.Loop() {
		if _, err := ReadImages(path); err != nil {
			b.Fatal(err)
		}
	}
}
