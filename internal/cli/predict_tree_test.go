package cli

import (
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// predict on the images export-images wrote reads the class tree, labels
// each image by its folder and reports the accuracy, per split. An image of
// the dataset passes through Prepare unchanged, so predict gives each
// exported image exactly the probabilities the classifier gives the
// dataset's own image and the class the evaluator (eval) predicts for it.
func TestPredictClassTree(t *testing.T) {
	tests := []struct {
		name   string
		data   func(t *testing.T) string
		epochs int
		limit  int // images per split exported
		// exact says that the images are the dataset's own, which pass
		// through Prepare unchanged; the synthetic ones are noise
		// everywhere, which Prepare frames.
		exact bool
	}{
		{"synthetic", func(t *testing.T) string { return synthData(t, 400, 300) }, 2, 0, false},
		{"Fashion-MNIST", func(t *testing.T) string { return testenv.Data(t) }, 1, 500, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.data(t)
			model := trainedModel(t, dir, tt.epochs)
			out := filepath.Join(t.TempDir(), "png")
			args := []string{"export-images", "--data", dir, "--no-download", "--out", out}
			if tt.limit > 0 {
				args = append(args, "--limit", fmt.Sprint(tt.limit))
			}
			if r := execute(t, args...); r.code != 0 {
				t.Fatalf("export-images: %s", r.err)
			}
			r := execute(t, "predict", "--json", "--top", "10", "--model", model, filepath.Join(out, "test"))
			if r.code != 0 {
				t.Fatalf("predict: exit %d: %s", r.code, r.err)
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			var score splitScore
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &score); err != nil || score.Images == 0 {
				t.Fatalf("last line %q is not the accuracy (%v)", lines[len(lines)-1], err)
			}
			lines = lines[:len(lines)-1]
			s, pred := testImages(t, dir, model, len(lines))
			ck, m, err := loadModel(model)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, s.N*784)
			for i, p := range s.Pix {
				x[i] = float32(p) / 255
			}
			probs, err := classify(m, x, s.N)
			if err != nil {
				t.Fatal(err)
			}
			correct := 0
			for _, l := range lines {
				var pl predictLine
				if err := json.Unmarshal([]byte(l), &pl); err != nil {
					t.Fatal(err)
				}
				var i int
				if _, err := fmt.Sscanf(filepath.Base(pl.File), "%05d.png", &i); err != nil || i >= s.N {
					t.Fatalf("unexpected file %s", pl.File)
				}
				if want := ck.Meta.Classes[s.Labels[i]]; pl.Label != want {
					t.Fatalf("%s: label %q, want %q", pl.File, pl.Label, want)
				}
				if pl.Top[0].Index == int(s.Labels[i]) {
					correct++
				}
				if !tt.exact {
					continue
				}
				if pl.Top[0].Index != pred[i] {
					t.Errorf("%s: predict says %d, the evaluator %d", pl.File, pl.Top[0].Index, pred[i])
				}
				for _, p := range pl.Top {
					if p.Prob != probs[i*10+p.Index] {
						t.Fatalf("%s: class %d has %v, the dataset image %v", pl.File, p.Index, p.Prob, probs[i*10+p.Index])
					}
				}
			}
			if score.Images != len(lines) || score.Correct != correct {
				t.Errorf("accuracy line %+v, want %d of %d", score, correct, len(lines))
			}
			// The whole tree: one accuracy line per split, in the order
			// met, after the images.
			r = execute(t, "predict", "--top", "1", "--model", model, out)
			if r.code != 0 {
				t.Fatalf("predict: exit %d: %s", r.code, r.err)
			}
			text := strings.Split(strings.TrimSpace(r.stdout), "\n")
			tail := strings.Join(text[len(text)-2:], "\n")
			want := fmt.Sprintf("test: accuracy %.4f: %d of %d images in class folders", score.Accuracy, score.Correct, score.Images)
			if !strings.HasPrefix(tail, want+"\ntrain: accuracy ") {
				t.Errorf("predict on the tree ends with\n%s\nwant %q, then a train line", tail, want)
			}
		})
	}
}

// A folder whose images are not all in class folders is a plain folder of
// images: no labels, no accuracy.
func TestPredictFolderNotATree(t *testing.T) {
	dir := synthData(t, 300, 20)
	model := trainedModel(t, dir, 1)
	out := filepath.Join(t.TempDir(), "png")
	if r := execute(t, "export-images", "--data", dir, "--no-download", "--limit", "5", "--out", out); r.code != 0 {
		t.Fatalf("export-images: %s", r.err)
	}
	os.Mkdir(filepath.Join(out, "test", "holiday"), 0o755)
	savePNG(t, filepath.Join(out, "test", "holiday", "beach.png"), image.NewGray(image.Rect(0, 0, 28, 28)))
	r := execute(t, "predict", "--json", "--model", model, filepath.Join(out, "test"))
	if r.code != 0 {
		t.Fatalf("predict: exit %d: %s", r.code, r.err)
	}
	if strings.Contains(r.stdout, `"label"`) || strings.Contains(r.stdout, `"accuracy"`) {
		t.Errorf("a folder with a subfolder named after no class was read as a class tree:\n%s", r.stdout)
	}
}
