package cli

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/softmaxctl/softmaxctl/internal/imageprep"
)

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// predict flags images with no object, says whether it inverted each one,
// saves what the model saw on request, reads BMP and TIFF, and lists what
// it skipped in a folder.
func TestPredictReportsWhatItSaw(t *testing.T) {
	dir := synthData(t, 300, 50)
	model := trainedModel(t, dir, 2)
	s, _ := testImages(t, dir, model, 3)
	folder := t.TempDir()
	tile := func(i int) *image.Gray {
		return &image.Gray{Pix: s.Pix[i*784 : (i+1)*784], Stride: 28, Rect: image.Rect(0, 0, 28, 28)}
	}
	savePNG(t, filepath.Join(folder, "a.png"), tile(0))
	blank := image.NewGray(image.Rect(0, 0, 40, 40))
	for i := range blank.Pix {
		blank.Pix[i] = 200
	}
	savePNG(t, filepath.Join(folder, "blank.png"), blank)
	var b bytes.Buffer
	bmp.Encode(&b, tile(1))
	os.WriteFile(filepath.Join(folder, "b.bmp"), b.Bytes(), 0o644)
	b.Reset()
	tiff.Encode(&b, tile(2), nil)
	os.WriteFile(filepath.Join(folder, "c.tiff"), b.Bytes(), 0o644)
	os.WriteFile(filepath.Join(folder, "notes.txt"), []byte("hi"), 0o644)
	os.Mkdir(filepath.Join(folder, "sub"), 0o755)
	// A dark object on white must be inverted.
	dark := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range dark.Pix {
		dark.Pix[i] = 255 - s.Pix[i]
	}
	savePNG(t, filepath.Join(folder, "dark.png"), dark)

	saveDir := t.TempDir()
	r := execute(t, "predict", "--json", "--model", model, "--save-input", saveDir, folder)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	if !strings.Contains(r.err, "skipped 2 entries") || !strings.Contains(r.err, "notes.txt (not an image extension)") || !strings.Contains(r.err, "sub (a folder)") {
		t.Errorf("stderr %q does not list the skipped entries", r.err)
	}
	got := map[string]predictLine{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var pl predictLine
		if err := json.Unmarshal([]byte(l), &pl); err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(pl.File)] = pl
	}
	if len(got) != 5 {
		t.Fatalf("%d results, want 5 (a, b.bmp, blank, c.tiff, dark): %v", len(got), got)
	}
	if !got["blank.png"].Blank || got["a.png"].Blank {
		t.Errorf("blank flags: blank.png %v, a.png %v", got["blank.png"].Blank, got["a.png"].Blank)
	}
	if got["a.png"].Inverted == nil || *got["a.png"].Inverted || got["dark.png"].Inverted == nil || !*got["dark.png"].Inverted {
		t.Errorf("inverted flags wrong: a %v, dark %v", got["a.png"].Inverted, got["dark.png"].Inverted)
	}
	// The saved input is exactly what Prepare makes of the image.
	for name, i := range map[string]int{"a.png": 0, "b.bmp": 1, "c.tiff": 2} {
		want := imageprep.Prepare(tile(i), imageprep.InvertAuto, imageprep.Options{}).Pix
		f, err := os.Open(got[name].Input)
		if err != nil {
			t.Fatalf("%s: saved input: %v", name, err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < 784; p++ {
			if v := color.GrayModel.Convert(img.At(p%28, p/28)).(color.Gray).Y; v != want[p] {
				t.Fatalf("%s: saved input differs from the model's input at pixel %d", name, p)
			}
		}
	}

	r = execute(t, "predict", "--model", model, filepath.Join(folder, "blank.png"))
	if !strings.Contains(r.stdout, "no object found") {
		t.Errorf("text output does not warn about a blank image:\n%s", r.stdout)
	}
	r = execute(t, "predict", "--model", model, "--save-input", filepath.Join(saveDir, "nope"), filepath.Join(folder, "a.png"))
	if r.code != 2 || !strings.Contains(r.err, "--save-input") {
		t.Errorf("--save-input into a missing folder: exit %d, %q", r.code, r.err)
	}
}
