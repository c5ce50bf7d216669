package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/checkpoint"
)

// cifarData writes a small cifar-10-binary.tar.gz in the real layout: 40
// records per training batch and 60 test records whose colour says the
// class (class k is bright in channel k%3).
func cifarData(t *testing.T) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	records := func(n int) []byte {
		b := make([]byte, 0, n*3073)
		for range n {
			k := rng.IntN(10)
			b = append(b, byte(k))
			for c := range 3 {
				for range 1024 {
					v := rng.IntN(80)
					if c == k%3 {
						v += 100 + 10*k
					}
					b = append(b, byte(v))
				}
			}
		}
		return b
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	add("batches.meta.txt", []byte("airplane\n"))
	for i := 1; i <= 5; i++ {
		add(fmt.Sprintf("data_batch_%d.bin", i), records(40))
	}
	add("test_batch.bin", records(60))
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cifar-10-binary.tar.gz"), gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// train, eval, predict and show-errors on CIFAR-10, in colour and --gray:
// the model records its shape and preprocessing, and the other commands
// follow it.
func TestCIFAR10(t *testing.T) {
	dir := cifarData(t)
	photo := filepath.Join(t.TempDir(), "red.png")
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.SetNRGBA(3, 3, color.NRGBA{0, 0, 0, 255})
	var b bytes.Buffer
	png.Encode(&b, img)
	os.WriteFile(photo, b.Bytes(), 0o644)
	tests := []struct {
		name  string
		args  []string
		shape []int
		color bool
	}{
		{"colour", nil, []int{3, 32, 32}, true},
		{"gray", []string{"--gray"}, []int{32, 32}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := filepath.Join(t.TempDir(), "m.safetensors")
			// Batches of 40 records are not the official 10,000.
			r := execute(t, append([]string{"train", "--dataset", "cifar10", "--data", dir, "--no-download", "--skip-dataset-check", "--epochs", "2", "--batch-size", "20", "--out", model, "--json"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("train: %d %s", r.code, r.err)
			}
			if !strings.Contains(r.err, "200 train, 60 test images") {
				t.Errorf("stderr %q does not count 200 train and 60 test images", r.err)
			}
			ck, err := checkpoint.Load(model)
			if err != nil {
				t.Fatal(err)
			}
			p := ck.Meta.Prep()
			if ck.Meta.Dataset != "cifar10" || fmt.Sprint(ck.Meta.InputShape) != fmt.Sprint(tt.shape) || p.Kind != checkpoint.PrepResize || p.Size != 32 || p.Color != tt.color || ck.Meta.Classes[0] != "airplane" {
				t.Fatalf("meta %+v, preprocess %+v", ck.Meta, p)
			}
			if r := execute(t, "eval", "--model", model, "--data", dir, "--no-download", "--skip-dataset-check"); r.code != 0 || !strings.Contains(r.stdout, "accuracy") {
				t.Errorf("eval: %d %q %q", r.code, r.stdout, r.err)
			}
			if r := execute(t, "predict", "--model", model, photo); r.code != 0 {
				t.Errorf("predict: %d %s", r.code, r.err)
			}
			tiles := filepath.Join(t.TempDir(), "e.png")
			r = execute(t, "show-errors", "--model", model, "--data", dir, "--no-download", "--skip-dataset-check", "-o", tiles)
			if r.code != 0 {
				t.Fatalf("show-errors: %d %s", r.code, r.err)
			}
			if fi, err := os.Stat(tiles); err != nil || fi.Size() == 0 {
				t.Errorf("show-errors wrote no tiles: %v", err)
			}
		})
	}
	// Without --skip-dataset-check, batches of another size than the
	// official archive's are refused, in one line that names the flag.
	r := execute(t, "train", "--dataset", "cifar10", "--data", dir, "--no-download", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
	if r.code != 2 || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, "not the size of the official file") || !strings.Contains(r.err, "--skip-dataset-check") {
		t.Errorf("batches of 40 records: %d %q", r.code, r.err)
	}
	r = execute(t, "train", "--data", synthData(t, 20, 10), "--no-download", "--gray", "--out", filepath.Join(t.TempDir(), "m.safetensors"))
	if r.code != 2 || !strings.Contains(r.err, "--gray applies to cifar10") {
		t.Errorf("--gray on fashion-mnist: %d %q", r.code, r.err)
	}
}
