package cli

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// fingerprintTestSplit writes a test split with the given class counts and
// a mean pixel of about mean×255: what Identify looks at.
func fingerprintTestSplit(t *testing.T, dir string, counts []int, mean float64) {
	t.Helper()
	n := 0
	for _, c := range counts {
		n += c
	}
	labels := make([]byte, 0, n)
	for k, c := range counts {
		for i := 0; i < c; i++ {
			labels = append(labels, byte(k))
		}
	}
	// Random pixels, like real images, do not compress beyond what the
	// IDX reader accepts.
	pix := make([]byte, n*784)
	rng := rand.New(rand.NewPCG(5, 6))
	m := int(mean*255 + 0.5)
	for i := range pix {
		pix[i] = byte(rng.IntN(2*m + 1))
	}
	writeIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), []int{n, 28, 28}, pix)
	writeIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), []int{n}, labels)
}

// eval and show-errors need only the test split: with the training files
// absent they neither fail nor try to download them.
func TestTestSplitAlone(t *testing.T) {
	dir := synthData(t, 100, 50)
	model := trainedModel(t, dir, 1, "--batch-size", "10")
	testOnly := t.TempDir()
	for _, f := range []string{"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(testOnly, f), b, 0o644)
	}
	for _, args := range [][]string{
		{"eval", "--model", model, "--data", testOnly, "--no-download"},
		{"show-errors", "--model", model, "--data", testOnly, "--no-download", "-o", filepath.Join(t.TempDir(), "e.png")},
	} {
		if r := execute(t, args...); r.code != 0 && !strings.Contains(r.err, "classifies all") {
			t.Errorf("%v: exit %d, %q", args, r.code, r.err)
		}
	}
	r := execute(t, "eval", "--model", model, "--data", testOnly, "--no-download", "--split", "train")
	if r.code != 1 || !strings.Contains(r.err, "train-images") || strings.Contains(r.err, "t10k") {
		t.Errorf("train split missing: exit %d, %q", r.code, r.err)
	}
}

// Files that are another known dataset than --dataset are refused, unless
// the user says so.
func TestWrongDatasetRefused(t *testing.T) {
	dir := t.TempDir()
	fingerprintTestSplit(t, dir, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, 0.1325)
	d := &dataOptions{Dataset: "fashion-mnist", Dir: dir, NoDownload: true}
	_, _, _, err := d.load(context.Background(), &IO{ErrOut: os.Stderr}, dataset.Test)
	var ue usageError
	if err == nil || !strings.Contains(err.Error(), "is mnist") || !strings.Contains(err.Error(), "--skip-dataset-check") {
		t.Fatalf("err = %v, want a refusal naming mnist", err)
	}
	if !errorsAs(err, &ue) {
		t.Errorf("err %v is not a usage error", err)
	}
	d.SkipCheck = true
	if _, _, _, err := d.load(context.Background(), &IO{ErrOut: os.Stderr}, dataset.Test); err != nil {
		t.Errorf("with --skip-dataset-check: %v", err)
	}
	d = &dataOptions{Dataset: "mnist", Dir: dir, NoDownload: true}
	if _, _, _, err := d.load(context.Background(), &IO{ErrOut: os.Stderr}, dataset.Test); err != nil {
		t.Errorf("as mnist: %v", err)
	}
}

// Hints name the folder the user gave, and a --data that is a file or the
// folder above the dataset gets the right folder suggested.
func TestDataFolderHints(t *testing.T) {
	dir := synthData(t, 100, 50)
	parent := filepath.Dir(dir)
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no-download hint names --data", []string{"train", "--data", empty, "--no-download"}, 1, "softmaxctl download --dataset fashion-mnist --data " + empty},
		{"a data file", []string{"train", "--data", filepath.Join(dir, "train-images-idx3-ubyte.gz")}, 2, "--data " + dir},
		{"some other file", []string{"train", "--data", filepath.Join(dir, "..", filepath.Base(dir), "t10k-labels-idx1-ubyte.gz")}, 2, "is a file"},
		{"the parent folder", []string{"train", "--data", parent, "--no-download"}, 2, "pass --data " + dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := execute(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.err, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.err, tt.code, tt.want)
			}
			oneErrorLine(t, r.err)
		})
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// Auto-download fetches only the missing files: a present copy whose MD5
// is not the official one (re-compressed, say) is kept.
func TestAutoDownloadOnlyMissing(t *testing.T) {
	dir := synthData(t, 100, 50)
	os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	before := map[string][]byte{}
	for _, f := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"} {
		before[f] = mustRead(t, filepath.Join(dir, f))
	}
	src := synthData(t, 10, 10)
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, path.Base(r.URL.Path))
		mu.Unlock()
		http.ServeFile(w, r, filepath.Join(src, path.Base(r.URL.Path)))
	}))
	defer srv.Close()
	r := execute(t, "train", "--data", dir, "--mirror", srv.URL+"/", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
	if r.code != 1 || !strings.Contains(r.err, "MD5") {
		t.Errorf("exit %d, stderr %q: want the missing file's checksum failure", r.code, r.err)
	}
	for _, a := range asked {
		if a != "t10k-labels-idx1-ubyte.gz" {
			t.Errorf("asked the mirror for %s, which was present", a)
		}
	}
	for f, b := range before {
		if !bytes.Equal(mustRead(t, filepath.Join(dir, f)), b) {
			t.Errorf("%s was replaced", f)
		}
	}
}

// Loading says in one line when the files are the official ones (the real
// Fashion-MNIST of SOFTMAXCTL_TEST_DATA, whose image archives are
// re-compressed copies), and nothing when they are not.
func TestProvenanceNote(t *testing.T) {
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		want string // "" means no note; {dir} stands for the folder
	}{
		{"generated files", func(t *testing.T) string { return synthData(t, 30, 20) }, ""},
		{"the real files", func(t *testing.T) string { return testenv.Data(t) }, "fashion-mnist in {dir}: the official data (content SHA-256 checked)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			want := strings.ReplaceAll(tt.want, "{dir}", dir)
			var errOut bytes.Buffer
			d := &dataOptions{Dataset: "fashion-mnist", Dir: dir, NoDownload: true}
			if _, _, _, err := d.load(context.Background(), &IO{ErrOut: &errOut}, dataset.Test); err != nil {
				t.Fatal(err)
			}
			got := errOut.String()
			if want == "" && got != "" || want != "" && (!strings.HasPrefix(got, want) || strings.Count(got, "\n") != 1) {
				t.Errorf("stderr %q, want %q", got, want)
			}
		})
	}
}
