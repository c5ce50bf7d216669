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
	os.WriteFile(filepath.Join(folder, ".DS_Store"), []byte("hi"), 0o644)
	// Subfolders are read too.
	os.Mkdir(filepath.Join(folder, "sub"), 0o755)
	savePNG(t, filepath.Join(folder, "sub", "e.png"), tile(1))
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
	if !strings.Contains(r.err, "skipped 2 entries") || !strings.Contains(r.err, "notes.txt (not an image extension)") || !strings.Contains(r.err, ".DS_Store (a hidden file)") {
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
	if len(got) != 6 {
		t.Fatalf("%d results, want 6 (a, b.bmp, blank, c.tiff, dark, sub/e): %v", len(got), got)
	}
	if !got["blank.png"].Blank || got["a.png"].Blank {
		t.Errorf("blank flags: blank.png %v, a.png %v", got["blank.png"].Blank, got["a.png"].Blank)
	}
	if got["a.png"].Inverted == nil || *got["a.png"].Inverted || got["dark.png"].Inverted == nil || !*got["dark.png"].Inverted {
		t.Errorf("inverted flags wrong: a %v, dark %v", got["a.png"].Inverted, got["dark.png"].Inverted)
	}
	// The saved input is exactly what Prepare makes of the image, each
	// pixel enlarged to 8×8.
	for name, i := range map[string]int{"a.png": 0, "b.bmp": 1, "c.tiff": 2, "e.png": 1} {
		want := imageprep.Prepare(tile(i), imageprep.InvertAuto, imageprep.Options{}).Pix
		if got := savedInput(t, got[name].Input); !bytes.Equal(got, want) {
			t.Errorf("%s: saved input is not the model's input", name)
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

// savedInput reads a picture --save-input wrote for a 28×28 model and
// returns the model input it shows, checking that each pixel is an 8×8
// block.
func savedInput(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("saved input: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 224, 224) {
		t.Fatalf("%s is %v, want 224×224 (28×28 enlarged 8 times)", path, img.Bounds())
	}
	pix := make([]byte, 784)
	for y := range 224 {
		for x := range 224 {
			v := color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
			p := &pix[(y/8)*28+x/8]
			if x%8 == 0 && y%8 == 0 {
				*p = v
			} else if v != *p {
				t.Fatalf("%s: pixel (%d, %d) is not part of an 8×8 block", path, x, y)
			}
		}
	}
	return pix
}
