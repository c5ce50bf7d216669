//go:build unix

package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The README's predict example, end to end: the default recipe trained on
// the real Fashion-MNIST, then predict on the sample pictures in
// testdata/photos, compared with testdata/golden/predict.txt (what the
// README shows). Classes must match in order; probabilities may differ by a
// tenth of a point, as CPUs with other vector units round differently.
func TestGoldenPredict(t *testing.T) {
	data := testenv.Data(t)
	bin := buildBinary(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	model := filepath.Join(t.TempDir(), "model.safetensors")
	if out, err := exec.Command(bin, "train", "--data", data, "--no-download", "--out", model).CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "predict", "--model", model, "testdata/photos/")
	cmd.Dir = root
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, got)
	}
	golden := filepath.Join(root, "testdata", "golden", "predict.txt")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update with SOFTMAXCTL_TEST_DATA set to write it)", err)
	}
	if err := sameOutput(string(got), string(want), 0.1); err != nil {
		t.Errorf("predict output differs from %s: %v\ngot:\n%s", golden, err, got)
	}
}

// sameOutput compares predict's text output line by line, allowing the
// percentages to differ by tol points.
func sameOutput(got, want string, tol float64) error {
	g, w := strings.Split(strings.TrimSpace(got), "\n"), strings.Split(strings.TrimSpace(want), "\n")
	if len(g) != len(w) {
		return fmt.Errorf("%d lines, want %d", len(g), len(w))
	}
	for i := range g {
		gf, wf := strings.Fields(g[i]), strings.Fields(w[i])
		if len(gf) != len(wf) {
			return fmt.Errorf("line %d is %q, want %q", i+1, g[i], w[i])
		}
		for k := range gf {
			if gf[k] == wf[k] {
				continue
			}
			gp, err1 := strconv.ParseFloat(strings.TrimSuffix(gf[k], "%"), 64)
			wp, err2 := strconv.ParseFloat(strings.TrimSuffix(wf[k], "%"), 64)
			if err1 != nil || err2 != nil || !strings.HasSuffix(gf[k], "%") || math.Abs(gp-wp) > tol {
				return fmt.Errorf("line %d is %q, want %q", i+1, g[i], w[i])
			}
		}
	}
	return nil
}
