package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// TestAcceptanceFashionMNIST trains the chapter's recipe on the real
// Fashion-MNIST when SOFTMAXCTL_TEST_DATA names a folder that holds it, and
// checks the chapter's accuracy and that eval reproduces it exactly.
func TestAcceptanceFashionMNIST(t *testing.T) {
	testenv.SkipShort(t, "trains 10 epochs on Fashion-MNIST")
	data := testenv.Data(t)
	model := filepath.Join(t.TempDir(), "model.safetensors")
	r := execute(t, "train", "--data", data, "--no-download", "--epochs", "10", "--lr", "0.1", "--json", "--out", model)
	if r.code != 0 {
		t.Fatalf("train exit %d: %s", r.code, r.err)
	}
	sum := lastJSON(t, r.stdout)
	valAcc := sum["val_acc"].(float64)
	t.Logf("10 epochs: val_acc %.4f, training loop %.2fs, whole run %.2fs", valAcc, sum["train_seconds"], sum["total_seconds"])
	if valAcc < 0.82 {
		t.Errorf("val_acc %.4f after the default recipe, want >= 0.82 (the chapter reaches about 0.83)", valAcc)
	}
	r = execute(t, "eval", "--model", model, "--data", data, "--no-download", "--json")
	if r.code != 0 {
		t.Fatalf("eval exit %d: %s", r.code, r.err)
	}
	var ev struct{ Accuracy float64 }
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Accuracy != valAcc {
		t.Errorf("eval accuracy %v, train val_acc %v: want identical", ev.Accuracy, valAcc)
	}
}

// The real Fashion-MNIST is not accepted as MNIST.
func TestAcceptanceWrongDataset(t *testing.T) {
	data := testenv.Data(t)
	r := execute(t, "train", "--dataset", "mnist", "--data", data, "--no-download", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
	if r.code != ExitUsage || !strings.Contains(r.err, "is fashion-mnist") {
		t.Errorf("train --dataset mnist on Fashion-MNIST: exit %d, %q", r.code, r.err)
	}
}
