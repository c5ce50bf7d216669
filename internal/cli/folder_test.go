package cli

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/model"
	"github.com/softmaxctl/softmaxctl/internal/train"
)

// TestExportRoundTrip trains on IDX files and on the same images exported
// as a folder, at the same seed and recipe: the accuracies agree within
// 0.3 points, and in fact exactly.
func TestExportRoundTrip(t *testing.T) {
	t.Setenv(dataset.EnvData, t.TempDir())
	idx := synthData(t, 1500, 500)
	dir := t.TempDir()
	r := execute(t, "train", "--data", idx, "--epochs", "2", "--out", filepath.Join(dir, "a.safetensors"), "--json")
	if r.code != 0 {
		t.Fatalf("train on IDX: %d %s", r.code, r.err)
	}
	a := lastJSON(t, r.stdout)["val_acc"].(float64)
	folder := filepath.Join(dir, "png")
	if r := execute(t, "export-images", "--data", idx, "--out", folder); r.code != 0 {
		t.Fatalf("export: %d %s", r.code, r.err)
	}
	r = execute(t, "train", "--data", folder, "--epochs", "2", "--out", filepath.Join(dir, "b.safetensors"), "--json")
	if r.code != 0 || !strings.HasPrefix(r.err, "reading image folder") {
		t.Fatalf("train on folder: %d %s", r.code, r.err)
	}
	b := lastJSON(t, r.stdout)["val_acc"].(float64)
	if math.Abs(a-b) > 0.003 {
		t.Fatalf("val acc %.4f on IDX, %.4f on the exported folder", a, b)
	}
	// The folder comes back in the IDX order (file-name order across the
	// classes) with the same pixels, so the run is the same run.
	if a != b {
		t.Errorf("val acc %v on IDX, %v on the exported folder: not the same run", a, b)
	}
}

func writeColourPNG(t *testing.T, path string, w, h int, c color.NRGBA) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := c
			v.R += uint8((x * y) % 40)
			img.SetNRGBA(x, y, v)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFolderPredictMatchesEval trains a colour model on a folder of
// images of mixed sizes; predict gives each training image the class
// that the model gives it in evaluation.
func TestFolderPredictMatchesEval(t *testing.T) {
	t.Setenv(dataset.EnvData, t.TempDir())
	dir := t.TempDir()
	folder := filepath.Join(dir, "pics")
	colours := map[string]color.NRGBA{"blue": {20, 40, 200, 255}, "green": {30, 180, 40, 255}, "red": {200, 30, 30, 255}}
	var files []string
	for _, c := range []string{"blue", "green", "red"} {
		for k := 0; k < 6; k++ {
			p := filepath.Join(folder, "train", c, fmt.Sprintf("%02d.png", k))
			writeColourPNG(t, p, 10+k, 12+2*k, colours[c])
			files = append(files, p)
			writeColourPNG(t, filepath.Join(folder, "test", c, fmt.Sprintf("%02d.png", k)), 9, 9, colours[c])
		}
	}
	// The folder's examples are in file-name order across the classes.
	slices.SortStableFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	out := filepath.Join(dir, "m.safetensors")
	r := execute(t, "train", "--data", folder, "--color", "--image-size", "8", "--epochs", "3", "--batch-size", "6", "--out", out)
	if r.code != 0 || !strings.Contains(r.err, "resized 36 images") {
		t.Fatalf("train: %d %s", r.code, r.err)
	}
	ck, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if p := ck.Meta.Prep(); p.Kind != checkpoint.PrepResize || !p.Color || p.Size != 8 || len(ck.Meta.InputShape) != 3 {
		t.Fatalf("meta %+v %v", p, ck.Meta.InputShape)
	}
	m, err := model.FromParams(ck.In, ck.Out, ck.W, ck.B)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dataset.LoadFolder(folder, dataset.FolderOptions{Size: 8, Color: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := train.Evaluate(m, f.Train)
	if err != nil {
		t.Fatal(err)
	}
	r = execute(t, append([]string{"predict", "--model", out, "--json", "--top", "1"}, files...)...)
	if r.code != 0 {
		t.Fatalf("predict: %d %s", r.code, r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	for i, l := range lines {
		want := fmt.Sprintf(`"class":%q`, ck.Meta.Classes[res.Pred[i]])
		if !strings.Contains(l, want) {
			t.Errorf("%s: predict says %s, evaluation %s", files[i], l, want)
		}
	}
	if r := execute(t, "eval", "--model", out, "--data", folder); r.code != 0 {
		t.Fatalf("eval: %d %s", r.code, r.err)
	}
	if r := execute(t, "show-errors", "--model", out, "--data", folder, "--out", filepath.Join(dir, "e.png")); r.code != 0 && !strings.Contains(r.err, "classifies all") {
		t.Fatalf("show-errors: %d %s", r.code, r.err)
	}
}

func TestFolderErrors(t *testing.T) {
	t.Setenv(dataset.EnvData, t.TempDir())
	tests := []struct {
		name  string
		files map[string]string // path -> "png" or content
		code  int
		want  string
	}{
		{"one class", map[string]string{"cat/1.png": "png"}, 2, "has one class folder"},
		{"no images", map[string]string{"cat/a.txt": "x", "dog/b.txt": "x"}, 1, "holds no images"},
		{"empty class", map[string]string{"cat/1.png": "png", "cat/2.png": "png", "dog/b.txt": "x"}, 1, "class dog has no readable images"},
		{"corrupt file", map[string]string{"cat/1.png": "png", "cat/2.png": "png", "dog/1.png": "png", "dog/2.png": "png", "dog/3.png": "junk"}, 0, "skipped unreadable image dog/3.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range tt.files {
				path := filepath.Join(dir, p)
				if c == "png" {
					writeColourPNG(t, path, 4, 4, color.NRGBA{100, 100, 100, 255})
					continue
				}
				os.MkdirAll(filepath.Dir(path), 0o755)
				os.WriteFile(path, []byte(c), 0o644)
			}
			r := execute(t, "train", "--data", dir, "--epochs", "1", "--batch-size", "1", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
			if r.code != tt.code || !strings.Contains(r.err, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.err, tt.code, tt.want)
			}
		})
	}
}

// export-images writes --out as a whole: a new or empty folder is filled, a
// full one is refused unless --force (which replaces an earlier export, and
// only that), a file is
// refused, an interrupted export leaves nothing, and no temporary folder
// is left next to --out.
func TestExportDestination(t *testing.T) {
	idx := synthData(t, 30, 20)
	tests := []struct {
		name     string
		setup    func(out string)
		args     []string
		cancel   bool
		code     int
		wantErr  string
		wantPNGs int // files under --out afterwards; -1: --out absent
		keep     string
	}{
		{name: "new", code: 0, wantPNGs: 50},
		{name: "empty folder", setup: func(out string) { os.Mkdir(out, 0o755) }, code: 0, wantPNGs: 50},
		{name: "full folder refused", setup: func(out string) {
			os.MkdirAll(out, 0o755)
			os.WriteFile(filepath.Join(out, "mine.txt"), []byte("x"), 0o644)
		},
			code: 2, wantErr: "already holds files: give a new or empty folder, or --force to replace an earlier export", keep: "mine.txt"},
		{name: "--force refuses files of the user's", setup: func(out string) {
			os.MkdirAll(out, 0o755)
			os.WriteFile(filepath.Join(out, "mine.txt"), []byte("x"), 0o644)
		},
			args: []string{"--force"}, code: 2, wantErr: "holds mine.txt, which is not part of an earlier export", keep: "mine.txt"},
		{name: "--force replaces an earlier export", setup: func(out string) {
			os.MkdirAll(filepath.Join(out, "train", "0_T-shirt_top"), 0o755)
			os.WriteFile(filepath.Join(out, "train", "0_T-shirt_top", "00007.png"), []byte("x"), 0o644)
		},
			args: []string{"--force"}, code: 0, wantPNGs: 50},
		{name: "a file", setup: func(out string) { os.WriteFile(out, []byte("x"), 0o644) }, code: 2, wantErr: "is a file", wantPNGs: -1},
		{name: "interrupted", cancel: true, code: 130, wantErr: "nothing was written", wantPNGs: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "png")
			if tt.setup != nil {
				tt.setup(out)
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			var stdout, stderr bytes.Buffer
			ios := &IO{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr}
			if tt.cancel {
				// Cancelled once the data is loaded, while writing.
				exportStarted = func() { cancel(SignalError{os.Interrupt}) }
				defer func() { exportStarted = func() {} }()
			}
			code := Execute(ctx, ios, append([]string{"export-images", "--data", idx, "--no-download", "--out", out}, tt.args...))
			if code != tt.code || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.wantErr)
			}
			n := 0
			err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(p, ".png") {
					n++
				}
				return err
			})
			if tt.wantPNGs == -1 {
				if fi, serr := os.Stat(out); serr == nil && fi.IsDir() {
					t.Errorf("--out exists after a failed export")
				}
			} else if err != nil || (tt.keep == "" && n != tt.wantPNGs) {
				t.Errorf("%d PNG files under --out (%v), want %d", n, err, tt.wantPNGs)
			}
			if tt.keep != "" {
				if _, err := os.Stat(filepath.Join(out, tt.keep)); err != nil {
					t.Errorf("the refused folder lost %s", tt.keep)
				}
			}
			entries, _ := os.ReadDir(parent)
			for _, e := range entries {
				if e.Name() != "png" {
					t.Errorf("left %s next to --out", e.Name())
				}
			}
		})
	}
}
