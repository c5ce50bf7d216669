package cli

import (
	"encoding/json"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
)

// A training set smaller than --batch-size trains in one batch per epoch,
// as Keras and PyTorch do, and says so once.
func TestBatchLargerThanTrainingSet(t *testing.T) {
	dir := synthData(t, 100, 50)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	r := execute(t, "train", "--data", dir, "--epochs", "3", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.err)
	}
	note := "--batch-size 256 is more than the 100 training images: each epoch is one batch of 100"
	if strings.Count(r.err, note) != 1 {
		t.Errorf("stderr %q: want %q once", r.err, note)
	}
	ck, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Meta.BatchSize != 100 || ck.Meta.Epochs != 3 {
		t.Errorf("model records batch %d after %d epochs, want 100 after 3", ck.Meta.BatchSize, ck.Meta.Epochs)
	}
	// With --val-split, the training set is what is left.
	r = execute(t, "train", "--data", dir, "--epochs", "1", "--val-split", "20", "--batch-size", "90", "--out", out)
	if r.code != 0 || !strings.Contains(r.err, "--batch-size 90 is more than the 80 training images") {
		t.Errorf("--val-split: exit %d, stderr %q", r.code, r.err)
	}
}

// A resumed run's last line counts the model's epochs, those of the
// first run included, and says how many this run trained.
func TestResumeCountsAllEpochs(t *testing.T) {
	dir := synthData(t, 200, 50)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	if r := execute(t, "train", "--data", dir, "--epochs", "2", "--batch-size", "50", "--momentum", "0.5", "--out", out); r.code != 0 {
		t.Fatalf("train: %s", r.err)
	}
	r := execute(t, "train", "--resume", "--epochs", "5", "--data", dir, "--out", out)
	if r.code != 0 || !strings.Contains(r.err, "after 5 epochs (3 in this run)") {
		t.Errorf("resume: exit %d, stderr %q", r.code, r.err)
	}
	r = execute(t, "train", "--resume", "--epochs", "7", "--data", dir, "--out", out, "--json")
	if r.code != 0 {
		t.Fatalf("resume --json: %s", r.err)
	}
	sum := lastJSON(t, r.stdout)
	if sum["epochs"] != 7.0 || sum["resumed_from_epoch"] != 5.0 {
		t.Errorf("summary %v: want epochs 7, resumed_from_epoch 5", sum)
	}
}

// patchData writes a test split of n images whose labels are those of the
// class patch drawn (as synthData's), except for the images in wrong,
// labelled one class off: a model trained on synthData gets exactly those
// wrong.
func patchData(t *testing.T, dir string, n int, wrong map[int]bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(9, 9))
	pix := make([]byte, n*784)
	labels := make([]byte, n)
	for i := range n {
		k := i % 10
		labels[i] = byte(k)
		if wrong[i] {
			labels[i] = byte((k + 1) % 10)
		}
		img := pix[i*784 : (i+1)*784]
		r0, c0 := 2+(k/5)*12, 2+(k%5)*5
		for r := r0; r < r0+4; r++ {
			for c := c0; c < c0+4; c++ {
				img[r*28+c] = byte(200 + rng.IntN(56))
			}
		}
	}
	writeIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), []int{n, 28, 28}, pix)
	writeIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), []int{n}, labels)
}

// show-errors looks through the whole test split until it has --count
// misclassified images, and with none to show exits 0 with one line.
func TestShowErrorsSearchesTheSplit(t *testing.T) {
	dir := synthData(t, 1000, 10)
	model := trainedModel(t, dir, 5, "--lr", "0.5", "--batch-size", "50")
	out := filepath.Join(t.TempDir(), "e.png")

	// No errors among 24 test images: nothing to draw, and no file.
	patchData(t, dir, 24, nil)
	r := execute(t, "show-errors", "--model", model, "--data", dir, "-o", out)
	if r.code != 0 || r.err != "the model classifies all 24 test images correctly: there are no errors to draw, and nothing was written\n" {
		t.Errorf("no errors: exit %d, stderr %q", r.code, r.err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("wrote a picture of no errors")
	}

	// Errors only after the first 256 images: found, and drawn.
	wrong := map[int]bool{}
	for i := 280; i < 300; i++ {
		wrong[i] = true
	}
	patchData(t, dir, 300, wrong)
	r = execute(t, "show-errors", "--model", model, "--data", dir, "-o", out)
	if r.code != 0 || !strings.Contains(r.err, "20 of the 300 test images are misclassified; drew them all") {
		t.Errorf("late errors: exit %d, stderr %q", r.code, r.err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s: %v", out, err)
	}
	for _, flags := range [][]string{{"--count", "5"}, {"--limit", "5"}} {
		r = execute(t, append([]string{"show-errors", "--model", model, "--data", dir, "-o", out}, flags...)...)
		if r.code != 0 || !strings.Contains(r.err, "drew the first 5 misclassified test images, found among the first 285 of 300") {
			t.Errorf("%v: exit %d, stderr %q", flags, r.code, r.err)
		}
	}
	// The old --limit 0, no cap, leaves the default --count.
	r = execute(t, "show-errors", "--model", model, "--data", dir, "-o", out, "--limit", "0")
	if r.code != 0 || !strings.Contains(r.err, "20 of the 300 test images are misclassified; drew them all") {
		t.Errorf("--limit 0: exit %d, stderr %q", r.code, r.err)
	}
}

// eval --json prints one line, as train and predict do.
func TestEvalJSONOneLine(t *testing.T) {
	dir := synthData(t, 200, 50)
	model := trainedModel(t, dir, 1, "--batch-size", "50")
	r := execute(t, "eval", "--model", model, "--data", dir, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	if n := strings.Count(r.stdout, "\n"); n != 1 || !strings.HasSuffix(r.stdout, "}\n") {
		t.Errorf("eval --json printed %d lines, want 1:\n%s", n, r.stdout)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["accuracy"] == nil {
		t.Errorf("not one JSON object: %v", err)
	}
}

// eval's header shows the whole recipe of a model trained beyond the
// chapter's, as the flags that repeat it; a chapter model keeps its
// one-line header.
func TestEvalShowsWholeRecipe(t *testing.T) {
	dir := synthData(t, 300, 50)
	model := trainedModel(t, dir, 2, "--batch-size", "50", "--momentum", "0.9", "--lr-schedule", "cosine",
		"--weight-decay", "3e-3", "--standardize", "--val-split", "50")
	r := execute(t, "eval", "--model", model, "--data", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	want := "recipe    --epochs 2 --lr 0.1 --batch-size 50 --lr-schedule cosine --momentum 0.9 --weight-decay 0.003 --standardize --val-split 50 --sigma 0.01 --seed 0\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("eval header:\n%s\nwant the line %q", r.stdout[:strings.Index(r.stdout, "accuracy")], want)
	}
	r = execute(t, "eval", "--model", model, "--data", dir, "--json")
	var v struct {
		Recipe map[string]any `json:"recipe"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Recipe["momentum"] != 0.9 || v.Recipe["lr_schedule"] != "cosine" {
		t.Errorf("eval --json recipe %v (%v)", v.Recipe, err)
	}
	chapter := trainedModel(t, dir, 1, "--batch-size", "50")
	r = execute(t, "eval", "--model", chapter, "--data", dir)
	if strings.Contains(r.stdout, "recipe ") || !strings.Contains(r.stdout, "(fashion-mnist, 1 epoch, lr 0.1, batch 50)\n") {
		t.Errorf("chapter model header:\n%s", r.stdout)
	}
}
