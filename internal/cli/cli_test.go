package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeIDX writes an IDX file of unsigned bytes, gzip-compressed.
func writeIDX(t *testing.T, path string, dims []int, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	hdr := []byte{0, 0, 8, byte(len(dims))}
	for _, d := range dims {
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(d))
	}
	zw.Write(hdr)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// synthData writes a small Fashion-MNIST-shaped dataset that a linear model
// can learn: class k lights up its own 4×4 patch over faint noise.
func synthData(t *testing.T, nTrain, nTest int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	make1 := func(n int) ([]byte, []byte) {
		pix := make([]byte, n*784)
		labels := make([]byte, n)
		for i := 0; i < n; i++ {
			k := rng.IntN(10)
			labels[i] = byte(k)
			img := pix[i*784 : (i+1)*784]
			for j := range img {
				img[j] = byte(rng.IntN(60))
			}
			r0, c0 := 2+(k/5)*12, 2+(k%5)*5
			for r := r0; r < r0+4; r++ {
				for c := c0; c < c0+4; c++ {
					img[r*28+c] = byte(180 + rng.IntN(76))
				}
			}
		}
		return pix, labels
	}
	p, l := make1(nTrain)
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), []int{nTrain, 28, 28}, p)
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), []int{nTrain}, l)
	p, l = make1(nTest)
	writeIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), []int{nTest, 28, 28}, p)
	writeIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), []int{nTest}, l)
	return dir
}

type result struct {
	code        int
	stdout, err string
}

// execute runs softmaxctl with args through cobra, with captured output.
func execute(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ios := &IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	code := Execute(context.Background(), ios, args)
	return result{code, out.String(), errOut.String()}
}

func lastJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last line %q is not JSON: %v", lines[len(lines)-1], err)
	}
	return m
}

func TestTrainThenEvalAgree(t *testing.T) {
	dir := synthData(t, 1000, 300)
	model := filepath.Join(t.TempDir(), "m.safetensors")
	r := execute(t, "train", "--data", dir, "--epochs", "3", "--batch-size", "64", "--lr", "0.5", "--out", model, "--json", "--seed", "5")
	if r.code != 0 {
		t.Fatalf("train exit %d, stderr %q", r.code, r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 3 epoch lines and a summary, got %d lines:\n%s", len(lines), r.stdout)
	}
	for i, l := range lines[:3] {
		var e map[string]float64
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("epoch line %d: %v", i, err)
		}
		for _, k := range []string{"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"} {
			if _, ok := e[k]; !ok {
				t.Errorf("epoch line %d lacks %q: %s", i, k, l)
			}
		}
	}
	sum := lastJSON(t, r.stdout)
	for _, k := range []string{"val_acc", "train_seconds", "total_seconds"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %q: %v", k, sum)
		}
	}
	valAcc := sum["val_acc"].(float64)
	if valAcc < 0.9 {
		t.Errorf("val_acc %v on separable data, want >= 0.9", valAcc)
	}

	r = execute(t, "eval", "--model", model, "--data", dir, "--json")
	if r.code != 0 {
		t.Fatalf("eval exit %d, stderr %q", r.code, r.err)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, r.stdout)
	}
	if ev["accuracy"].(float64) != valAcc {
		t.Errorf("eval accuracy %v, train val_acc %v: want identical", ev["accuracy"], valAcc)
	}
	for _, k := range []string{"loss", "per_class", "confusion"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("eval JSON lacks %q", k)
		}
	}

	r = execute(t, "eval", "--model", model, "--data", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "accuracy") || !strings.Contains(r.stdout, "Ankle boot") {
		t.Errorf("eval text: exit %d, stdout:\n%s", r.code, r.stdout)
	}
}

func TestSameSeedSameModel(t *testing.T) {
	dir := synthData(t, 300, 100)
	var files [2][]byte
	for i := range files {
		p := filepath.Join(t.TempDir(), "m.safetensors")
		if r := execute(t, "train", "--data", dir, "--epochs", "2", "--batch-size", "32", "--seed", "9", "--out", p, "--json"); r.code != 0 {
			t.Fatalf("train: %s", r.err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("two runs with the same seed saved different checkpoints")
	}
}

func TestTrainTextOutput(t *testing.T) {
	dir := synthData(t, 200, 50)
	r := execute(t, "train", "--data", dir, "--epochs", "2", "--batch-size", "50", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	for _, want := range []string{"epoch 1/2", "epoch 2/2", "train loss", "val acc"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.err, "saved") {
		t.Errorf("stderr lacks the saved line: %q", r.err)
	}
}

// Every failure a user can cause is one line on stderr with exit 1 or 2.
func TestErrorsAreOneLine(t *testing.T) {
	dir := synthData(t, 100, 50)
	empty := t.TempDir()
	tmp := t.TempDir()
	goodModel := filepath.Join(tmp, "good.safetensors")
	if r := execute(t, "train", "--data", dir, "--epochs", "1", "--batch-size", "10", "--out", goodModel); r.code != 0 {
		t.Fatalf("train: %s", r.err)
	}
	corrupt := filepath.Join(tmp, "corrupt.safetensors")
	os.WriteFile(corrupt, []byte("this is not a model"), 0o644)

	badLabels := t.TempDir()
	for _, f := range []string{"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(badLabels, f), b, 0o644)
	}
	writeIDX(t, filepath.Join(badLabels, "train-labels-idx1-ubyte.gz"), []int{100}, bytes.Repeat([]byte{12}, 100))

	mismatch := t.TempDir()
	for _, f := range []string{"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(mismatch, f), b, 0o644)
	}
	writeIDX(t, filepath.Join(mismatch, "train-labels-idx1-ubyte.gz"), []int{99}, make([]byte, 99))

	truncated := t.TempDir()
	for _, f := range []string{"train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(truncated, f), b, 0o644)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	os.WriteFile(filepath.Join(truncated, "train-images-idx3-ubyte.gz"), b[:len(b)/2], 0o644)

	badMagic := t.TempDir()
	for _, f := range []string{"train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(badMagic, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(badMagic, "train-images-idx3-ubyte.gz"), []byte("\x1f\x00\x08\x03garbage-garbage-garbage"), 0o644)

	out := filepath.Join(tmp, "out.safetensors")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"epochs < 1", []string{"train", "--data", dir, "--epochs", "0"}, 2, "--epochs"},
		{"lr <= 0", []string{"train", "--data", dir, "--lr", "0"}, 2, "--lr"},
		{"lr NaN", []string{"train", "--data", dir, "--lr", "NaN"}, 2, "--lr"},
		{"batch < 1", []string{"train", "--data", dir, "--batch-size", "0"}, 2, "--batch-size"},
		{"diverging lr", []string{"train", "--data", dir, "--lr", "3e38", "--batch-size", "10", "--out", out}, 1, "smaller --lr"},
		{"sigma beyond float32", []string{"train", "--data", dir, "--sigma", "1e38", "--out", out}, 2, "--sigma must be between 0 and 100"},
		{"negative sigma", []string{"train", "--data", dir, "--sigma", "-1", "--out", out}, 2, "--sigma"},
		{"unknown dataset", []string{"train", "--dataset", "cifar"}, 2, "cifar"},
		{"unknown device", []string{"train", "--data", dir, "--device", "tpu"}, 2, "tpu"},
		{"cuda without support", []string{"train", "--data", dir, "--device", "cuda"}, 1, "make build-cuda"},
		{"unknown flag", []string{"train", "--epoch", "3"}, 2, "unknown flag"},
		{"unknown command", []string{"fly"}, 2, "unknown command"},
		{"empty data folder", []string{"train", "--data", empty, "--no-download"}, 1, "softmaxctl download"},
		{"label >= 10", []string{"train", "--data", badLabels, "--no-download", "--out", out}, 1, "label"},
		{"count mismatch", []string{"train", "--data", mismatch, "--no-download", "--out", out}, 1, "99"},
		{"truncated gzip", []string{"train", "--data", truncated, "--no-download", "--out", out}, 1, "train-images"},
		{"wrong magic", []string{"train", "--data", badMagic, "--no-download", "--out", out}, 1, "not an IDX file"},
		{"missing model", []string{"eval", "--model", filepath.Join(tmp, "none.safetensors"), "--data", dir}, 1, "not found"},
		{"corrupt model", []string{"eval", "--model", corrupt, "--data", dir}, 1, "corrupt.safetensors"},
		{"model for another dataset", []string{"eval", "--model", goodModel, "--dataset", "mnist", "--data", dir}, 2, "trained on fashion-mnist"},
		{"bad split", []string{"eval", "--model", goodModel, "--data", dir, "--split", "val"}, 2, "--split"},
		{"bad mirror", []string{"download", "--data", empty, "--mirror", "ftp://x/"}, 2, "--mirror"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := execute(t, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", r.code, tt.code, r.err)
			}
			// Progress notes may come first; the error is the one last line.
			lines := strings.Split(strings.TrimSuffix(r.err, "\n"), "\n")
			if !strings.HasPrefix(lines[len(lines)-1], "softmaxctl: ") || strings.Count(r.err, "softmaxctl: ") != 1 {
				t.Errorf("stderr does not end in one error line: %q", r.err)
			}
			if !strings.Contains(r.err, tt.want) {
				t.Errorf("stderr %q lacks %q", r.err, tt.want)
			}
			if strings.Contains(r.err, "goroutine") || strings.Contains(r.err, "panic") {
				t.Errorf("stderr has a panic: %q", r.err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed run left %s behind", out)
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"train", "eval", "download", "version"} {
		r := execute(t, cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%s --help: exit %d, no example:\n%s", cmd, r.code, r.stdout)
		}
	}
	r := execute(t, "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "softmaxctl") {
		t.Errorf("completion bash: exit %d", r.code)
	}
}

// download against a mirror whose files are not the official ones fails
// with one line naming the URL and the checksum, and leaves nothing behind.
func TestDownloadCorruptMirror(t *testing.T) {
	src := synthData(t, 20, 10) // right names, wrong bytes
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()
	dst := t.TempDir()
	r := execute(t, "download", "--dataset", "mnist", "--data", dst, "--mirror", srv.URL+"/")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.err)
	}
	// Download logs a "trying URL" line per attempt before the error line.
	lines := strings.Split(strings.TrimSuffix(r.err, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "softmaxctl: ") || !strings.Contains(last, srv.URL) || !strings.Contains(last, "MD5 mismatch") || strings.Count(r.err, "softmaxctl: ") != 1 {
		t.Errorf("stderr %q: want one error line naming the URL and the MD5 mismatch", r.err)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 0 {
		t.Errorf("a failed download left %v in %s", entries, dst)
	}
}
