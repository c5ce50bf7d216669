package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/dataset"
	"github.com/softmaxctl/softmaxctl/internal/testenv"
	"github.com/softmaxctl/softmaxctl/internal/train"
)

// trainedModel trains a model on dir (epochs over the data) and returns
// its path.
func trainedModel(t *testing.T, dir string, epochs int, extra ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.safetensors")
	args := append([]string{"train", "--data", dir, "--no-download", "--epochs", strconv.Itoa(epochs), "--out", p}, extra...)
	if r := execute(t, args...); r.code != 0 {
		t.Fatalf("train: %s", r.err)
	}
	return p
}

// testImages returns the first n test images of dir and the model's
// predictions for them.
func testImages(t *testing.T, dir, model string, n int) (*dataset.Set, []int) {
	t.Helper()
	spec, _ := dataset.Lookup("fashion-mnist")
	s, err := dataset.Load(dir, spec, dataset.Test)
	if err != nil {
		t.Fatal(err)
	}
	s = &dataset.Set{Pix: s.Pix[:n*784], Labels: s.Labels[:n], N: n, Rows: 28, Cols: 28}
	_, m, err := loadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	res, err := train.Evaluate(m, s)
	if err != nil {
		t.Fatal(err)
	}
	return s, res.Pred
}

// photoLike turns a 28×28 image into what a person might hand predict:
// ×10 larger, RGB, dark on light, JPEG.
func photoLike(pix []byte) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 280, 280))
	for y := 0; y < 280; y++ {
		for x := 0; x < 280; x++ {
			v := 255 - pix[(y/10)*28+x/10]
			img.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	return buf.Bytes()
}

func grayPNG(pix []byte) []byte {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	copy(img.Pix, pix)
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// checkPredict writes test images as PNG and as photo-like JPEGs, runs
// predict on the folders and compares with the model's predictions.
func checkPredict(t *testing.T, dir string, epochs, n int) {
	model := trainedModel(t, dir, epochs)
	s, want := testImages(t, dir, model, n)
	pngDir, jpgDir := t.TempDir(), t.TempDir()
	for i := 0; i < n; i++ {
		name := filepath.Join(pngDir, fmt.Sprintf("img%05d.png", i))
		os.WriteFile(name, grayPNG(s.Pix[i*784:(i+1)*784]), 0o644)
		os.WriteFile(filepath.Join(jpgDir, fmt.Sprintf("img%05d.jpg", i)), photoLike(s.Pix[i*784:(i+1)*784]), 0o644)
	}
	for _, tt := range []struct {
		name, dir string
		minFrac   float64
	}{{"28x28 PNG", pngDir, 1}, {"x10 RGB dark-on-light JPEG", jpgDir, 0.95}} {
		r := execute(t, "predict", "--model", model, "--json", "--top", "2", tt.dir)
		if r.code != 0 {
			t.Fatalf("predict %s: exit %d: %s", tt.dir, r.code, r.err)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != n {
			t.Fatalf("predict printed %d lines for %d images", len(lines), n)
		}
		same := 0
		for i, l := range lines {
			var p predictLine
			if err := json.Unmarshal([]byte(l), &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Top) != 2 || p.Top[0].Prob < p.Top[1].Prob {
				t.Fatalf("line %d: %s", i, l)
			}
			if p.Top[0].Index == want[i] {
				same++
			}
		}
		frac := float64(same) / float64(n)
		t.Logf("%s: predict agrees with the model on %d of %d images (%.1f%%)", tt.name, same, n, 100*frac)
		if frac < tt.minFrac {
			t.Errorf("%s: predict agrees with the model on %.3f of images, want >= %.2f", tt.name, frac, tt.minFrac)
		}
	}
}

func TestPredictMatchesModelRealData(t *testing.T) {
	testenv.SkipShort(t, "trains on Fashion-MNIST")
	data := testenv.Data(t)
	checkPredict(t, data, 2, 500)
}

func TestPredictTextAndErrors(t *testing.T) {
	dir := synthData(t, 300, 50)
	model := trainedModel(t, dir, 2)
	s, _ := testImages(t, dir, model, 1)
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.png")
	os.WriteFile(good, grayPNG(s.Pix[:784]), 0o644)
	bad := filepath.Join(tmp, "bad.png")
	os.WriteFile(bad, []byte("not an image"), 0o644)

	r := execute(t, "predict", "--model", model, good, bad, filepath.Join(tmp, "missing.png"))
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stdout, "good.png") || strings.Count(r.stdout, "%") != 3 {
		t.Errorf("good image not classified with 3 classes:\n%s", r.stdout)
	}
	if !strings.Contains(r.err, "bad.png") || !strings.Contains(r.err, "missing.png") || !strings.Contains(r.err, "2 of 3 images") {
		t.Errorf("stderr %q", r.err)
	}

	// One image from standard input.
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), &IO{In: bytes.NewReader(grayPNG(s.Pix[:784])), Out: &out, ErrOut: &errOut}, []string{"predict", "--model", model, "--json", "-"})
	if code != 0 || !strings.Contains(out.String(), `"file":"-"`) {
		t.Errorf("stdin: exit %d, %s %s", code, out.String(), errOut.String())
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"predict", "--model", model}, 2, "needs at least one IMAGE"},
		{[]string{"predict", "--model", model, "--invert", "sometimes", good}, 2, "sometimes"},
		{[]string{"predict", "--model", model, "--top", "0", good}, 2, "--top"},
		{[]string{"predict", "--model", filepath.Join(tmp, "none"), good}, 1, "not found"},
		{[]string{"predict", "--model", model, t.TempDir()}, 1, "no PNG"},
	} {
		r := execute(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.err, tt.want) || strings.Count(r.err, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.err, tt.code, tt.want)
		}
	}
}

// A PNG header claiming 100000×100000 pixels must be refused without
// decoding it.
func TestPredictRefusesHugeImage(t *testing.T) {
	dir := synthData(t, 300, 20)
	model := trainedModel(t, dir, 1)
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	path := filepath.Join(t.TempDir(), "huge.png")
	os.WriteFile(path, b.Bytes(), 0o644)
	start := time.Now()
	r := execute(t, "predict", "--model", model, path)
	if r.code != 1 || !strings.Contains(r.err, "huge.png") {
		t.Errorf("exit %d, stderr %q", r.code, r.err)
	}
	t.Logf("refused a %d-byte PNG claiming 10 gigapixels in %v", b.Len(), time.Since(start))
}

func TestShowErrors(t *testing.T) {
	dir := synthData(t, 200, 300)
	model := trainedModel(t, dir, 1, "--lr", "0.01", "--batch-size", "100")

	r := execute(t, "show-errors", "--model", model, "--data", dir, "--limit", "5")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	img, err := png.Decode(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("stdout is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 5*28*3 || b.Dy() < 28*3 {
		t.Errorf("grid of 5 tiles at scale 3 is only %v", b)
	}

	out := filepath.Join(t.TempDir(), "errors.png")
	if r := execute(t, "show-errors", "--model", model, "--data", dir, "-o", out); r.code != 0 || r.stdout != "" {
		t.Fatalf("-o: exit %d, stdout %d bytes: %s", r.code, len(r.stdout), r.err)
	}
	if f, err := os.Open(out); err != nil {
		t.Fatal(err)
	} else if _, err := png.Decode(f); err != nil {
		t.Errorf("%s: %v", out, err)
	}

	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), &IO{Out: &stdout, ErrOut: &stderr, OutTTY: true}, []string{"show-errors", "--model", model, "--data", dir})
	if code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "redirect") {
		t.Errorf("terminal stdout: exit %d, %d bytes written, stderr %q", code, stdout.Len(), stderr.String())
	}
}

func TestPlots(t *testing.T) {
	dir := synthData(t, 300, 50)
	tmp := t.TempDir()
	curves := filepath.Join(tmp, "curves.png")
	model := trainedModel(t, dir, 2, "--plot", curves)
	heat := filepath.Join(tmp, "confusion.svg")
	if r := execute(t, "eval", "--model", model, "--data", dir, "--plot", heat); r.code != 0 {
		t.Fatalf("eval --plot: %s", r.err)
	}
	f, err := os.Open(curves)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("curves: %v", err)
	}
	svg, err := os.ReadFile(heat)
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("heatmap is not SVG: %v", err)
	}
	if r := execute(t, "train", "--data", dir, "--plot", filepath.Join(tmp, "c.pdf")); r.code != 2 || !strings.Contains(r.err, ".png or .svg") {
		t.Errorf("--plot c.pdf: exit %d, %q", r.code, r.err)
	}
	// A plot that cannot be written is found before any training.
	out := filepath.Join(tmp, "kept.safetensors")
	r := execute(t, "train", "--data", dir, "--epochs", "3", "--out", out, "--plot", filepath.Join(tmp, "missing", "c.png"))
	if r.code != 2 || strings.Count(r.err, "softmaxctl: ") != 1 || !strings.Contains(r.err, "does not exist") || strings.Contains(r.err, "training on") {
		t.Errorf("--plot into a missing folder: exit %d, stderr %q", r.code, r.err)
	}
}
