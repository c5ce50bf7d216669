package cli

import (
	"bytes"
	"encoding/json"
	"image/png"
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

func loadCk(t *testing.T, path string) *checkpoint.Checkpoint {
	t.Helper()
	ck, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// TestResumeEqualsUninterruptedRun: 2 epochs, then --resume to 4, saves
// the same parameters and optimiser state as 4 epochs in one run.
func TestResumeEqualsUninterruptedRun(t *testing.T) {
	dir := synthData(t, 400, 100)
	tmp := t.TempDir()
	recipe := []string{"--data", dir, "--batch-size", "32", "--seed", "4", "--lr", "0.05", "--momentum", "0.9",
		"--weight-decay", "1e-3", "--standardize", "--val-split", "50", "--ema", "0.9", "--json"}
	full, part := filepath.Join(tmp, "full.safetensors"), filepath.Join(tmp, "part.safetensors")
	if r := execute(t, append([]string{"train", "--epochs", "4", "--out", full}, recipe...)...); r.code != 0 {
		t.Fatalf("train 4: %s", r.err)
	}
	if r := execute(t, append([]string{"train", "--epochs", "2", "--out", part}, recipe...)...); r.code != 0 {
		t.Fatalf("train 2: %s", r.err)
	}
	r := execute(t, "train", "--resume", "--epochs", "4", "--out", part, "--data", dir, "--json")
	if r.code != 0 {
		t.Fatalf("resume: %s", r.err)
	}
	if !strings.Contains(r.err, "resuming") || strings.Count(strings.TrimSpace(r.stdout), "\n") != 2 {
		t.Errorf("resume ran %q, stderr %q; want epochs 3 and 4 and a summary", r.stdout, r.err)
	}
	a, b := loadCk(t, full), loadCk(t, part)
	if !slices.Equal(a.W, b.W) || !slices.Equal(a.B, b.B) || b.Meta.Epochs != 4 {
		t.Fatalf("2 + resume 2 epochs differs from 4 (epochs %d)", b.Meta.Epochs)
	}
	for name, v := range a.Extra {
		if !slices.Equal(v, b.Extra[name]) {
			t.Errorf("tensor %s differs", name)
		}
	}
	// The recipe cannot change on resume.
	if r := execute(t, "train", "--resume", "--epochs", "6", "--lr", "1", "--out", part, "--data", dir); r.code != 2 || !strings.Contains(r.err, "--lr") {
		t.Errorf("resume with --lr: exit %d, %q", r.code, r.err)
	}
	if r := execute(t, "train", "--resume", "--out", part, "--data", dir); r.code != 2 || !strings.Contains(r.err, "already trained 4") {
		t.Errorf("resume of a finished run: exit %d, %q", r.code, r.err)
	}
}

// TestStandardizeSameEverywhere: the standardisation stored by train is
// applied by eval (same accuracy as train's test figure) and by predict's
// classifier (same classes as the evaluator).
func TestStandardizeSameEverywhere(t *testing.T) {
	dir := synthData(t, 500, 200)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	r := execute(t, "train", "--data", dir, "--epochs", "2", "--batch-size", "50", "--standardize", "--val-split", "0.1", "--out", out, "--json")
	if r.code != 0 {
		t.Fatalf("train: %s", r.err)
	}
	sum := lastJSON(t, r.stdout)
	ck := loadCk(t, out)
	if ck.Extra[checkpoint.TensorMean] == nil || ck.Extra[checkpoint.TensorStd] == nil {
		t.Fatal("checkpoint lacks mean and std")
	}
	if ck.Meta.Metrics["test_acc"] != sum["test_acc"] {
		t.Errorf("metadata test_acc %v, summary %v", ck.Meta.Metrics["test_acc"], sum["test_acc"])
	}
	r = execute(t, "eval", "--model", out, "--data", dir, "--json")
	var ev map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ev) != nil {
		t.Fatalf("eval: %d %s", r.code, r.err)
	}
	if ev["accuracy"] != sum["test_acc"] {
		t.Errorf("eval accuracy %v, train test_acc %v", ev["accuracy"], sum["test_acc"])
	}

	_, m, err := loadModel(out)
	if err != nil || m.Norm == nil {
		t.Fatalf("loadModel: %v, norm %v", err, m.Norm)
	}
	spec, err := dataset.Lookup("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	s, err := dataset.Load(dir, spec, dataset.Test)
	if err != nil {
		t.Fatal(err)
	}
	res, err := train.Evaluate(m, s)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, s.N*784)
	idx := make([]int, s.N)
	for i := range idx {
		idx[i] = i
	}
	s.Gather(idx, x, nil)
	probs, err := classify(m, x, s.N)
	if err != nil {
		t.Fatal(err)
	}
	pred := make([]int, s.N)
	p32 := make([]float32, len(probs))
	for i, p := range probs {
		p32[i] = float32(p)
	}
	model.Argmax(p32, 10, pred)
	if !slices.Equal(pred, res.Pred) {
		t.Error("predict's classifier and the evaluator disagree on a standardised model")
	}
}

func TestSelectionNeedsHeldOutSet(t *testing.T) {
	dir := synthData(t, 300, 100)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--save-best"}, 2, "--val-split"},
		{[]string{"--patience", "2"}, 2, "--allow-test-selection"},
		{[]string{"--save-best", "--allow-test-selection"}, 0, ""},
		{[]string{"--save-best", "--val-split", "50"}, 0, ""},
		{[]string{"--val-split", "300"}, 2, "--val-split"},
		{[]string{"--val-split", "1.5"}, 2, "--val-split"},
		{[]string{"--momentum", "1"}, 2, "--momentum"},
		{[]string{"--nesterov"}, 2, "--nesterov"},
		{[]string{"--lr-schedule", "linear"}, 2, "--lr-schedule"},
		{[]string{"--warmup-epochs", "3"}, 2, "--warmup-epochs"},
		{[]string{"--recipe", "fast"}, 2, "--recipe"},
		{[]string{"--log", "x.txt"}, 2, "--log"},
		{[]string{"--init", "/nonexistent.safetensors"}, 1, "not found"},
	}
	for _, tt := range tests {
		args := append([]string{"train", "--data", dir, "--epochs", "3", "--batch-size", "30", "--out", out, "--json"}, tt.args...)
		r := execute(t, args...)
		if r.code != tt.code || !strings.Contains(r.err, tt.want) || tt.code != 0 && strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, r.code, r.err, tt.code, tt.want)
		}
		if tt.code == 0 && slices.Contains(tt.args, "--save-best") {
			ck := loadCk(t, out)
			var rr checkpoint.Recipe
			if err := json.Unmarshal([]byte(ck.Meta.Recipe), &rr); err != nil || rr.BestEpoch < 1 || ck.Meta.Metrics["best_epoch"] != float64(rr.BestEpoch) {
				t.Errorf("%v: recipe %q, metrics %v: want the best epoch recorded", tt.args, ck.Meta.Recipe, ck.Meta.Metrics)
			}
			if rr.TestSelection != !slices.Contains(tt.args, "--val-split") {
				t.Errorf("%v: test_selection %v", tt.args, rr.TestSelection)
			}
		}
	}
}

func TestChapterRecipeWritesNoRecipe(t *testing.T) {
	dir := synthData(t, 300, 100)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	if r := execute(t, "train", "--data", dir, "--epochs", "1", "--out", out, "--json"); r.code != 0 {
		t.Fatal(r.err)
	}
	if ck := loadCk(t, out); ck.Meta.Recipe != "" || len(ck.Extra) != 0 {
		t.Errorf("chapter recipe wrote recipe %q and tensors %v", ck.Meta.Recipe, ck.Extra)
	}
}

func TestInitAndLogAndPreset(t *testing.T) {
	dir := synthData(t, 300, 100)
	tmp := t.TempDir()
	plain, std := filepath.Join(tmp, "plain.safetensors"), filepath.Join(tmp, "std.safetensors")
	if r := execute(t, "train", "--data", dir, "--epochs", "1", "--out", plain, "--json"); r.code != 0 {
		t.Fatal(r.err)
	}
	r := execute(t, "train", "--data", dir, "--epochs", "1", "--out", std, "--standardize", "--init", plain)
	if r.code != 1 || !strings.Contains(r.err, "without standardisation") {
		t.Errorf("--init of another preprocessing: exit %d, %q", r.code, r.err)
	}
	log := filepath.Join(tmp, "log.csv")
	r = execute(t, "train", "--data", dir, "--epochs", "2", "--out", std, "--init", plain, "--log", log, "--json")
	if r.code != 0 {
		t.Fatalf("--init: %s", r.err)
	}
	b, err := os.ReadFile(log)
	if err != nil || !strings.HasPrefix(string(b), "epoch,train_loss") || strings.Count(string(b), "\n") != 3 {
		t.Errorf("--log csv: %q, %v", b, err)
	}
	r = execute(t, "train", "--data", dir, "--recipe", "best", "--epochs", "2", "--val-split", "50", "--batch-size", "32", "--out", std, "--json")
	if r.code != 0 || !strings.Contains(r.err, "recipe best: ") || !strings.Contains(r.err, "--epochs 2") {
		t.Fatalf("--recipe best: %d %q", r.code, r.err)
	}
	var rr checkpoint.Recipe
	if err := json.Unmarshal([]byte(loadCk(t, std).Meta.Recipe), &rr); err != nil || rr.Preset != "best" || rr.Epochs != 2 || rr.ValSplit != 50 || !rr.Standardize {
		t.Errorf("recipe record %+v, %v", rr, err)
	}
}

func TestShowWeights(t *testing.T) {
	dir := synthData(t, 300, 100)
	tmp := t.TempDir()
	m := filepath.Join(tmp, "m.safetensors")
	if r := execute(t, "train", "--data", dir, "--epochs", "1", "--out", m, "--json"); r.code != 0 {
		t.Fatal(r.err)
	}
	r := execute(t, "show-weights", "--model", m)
	if r.code != 0 {
		t.Fatalf("show-weights: %s", r.err)
	}
	img, err := png.Decode(bytes.NewReader([]byte(r.stdout)))
	if err != nil || img.Bounds().Dx() < 5*28*5 {
		t.Fatalf("stdout is not the grid PNG: %v", err)
	}
	out := filepath.Join(tmp, "w.png")
	if r := execute(t, "show-weights", "--model", m, "-o", out); r.code != 0 || r.stdout != "" {
		t.Fatalf("-o: %d %q", r.code, r.err)
	}
	if r := execute(t, "show-weights", "--model", m, "-o", m); r.code != 2 {
		t.Errorf("-o over the model: exit %d, %q", r.code, r.err)
	}
	if r := execute(t, "show-weights", "--model", m, "--scale", "0"); r.code != 2 {
		t.Errorf("--scale 0: exit %d", r.code)
	}
}
