package cli

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// predict says when it is unsure of a picture: one line on stderr per
// reason, and a field in --json.
func TestPredictSaysWhenUnsure(t *testing.T) {
	dir := synthData(t, 300, 20)
	model := trainedModel(t, dir, 2)
	picture := func(w, h int, f func(x, y int) byte) *image.Gray {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.Pix[y*w+x] = f(x, y)
			}
		}
		return img
	}
	disc := func(w, h int, r float64) *image.Gray {
		return picture(w, h, func(x, y int) byte {
			if math.Hypot(float64(x-w/2), float64(y-h/2)) < r {
				return 25
			}
			return 230
		})
	}
	busy := picture(300, 300, func(x, y int) byte {
		if math.Hypot(float64(x-150), float64(y-150)) < 90 {
			return 12
		}
		h := uint32(x/4)*2654435761 ^ uint32(y/4)*40503
		return byte(64 + (h>>24)*3/4)
	})
	tests := []struct {
		name          string
		img           *image.Gray
		small, uneven bool
		stderr        string
	}{
		{"filling.png", disc(200, 200, 80), false, false, ""},
		{"speck.png", disc(1000, 800, 25), true, false, "speck.png: unsure: the object takes 0.3% of the picture (under 5%), so the model sees it enlarged from few pixels: crop the picture closer to it"},
		{"busy.png", busy, false, true, "busy.png: unsure: the background is too uneven to separate the object from it"},
	}
	folder := t.TempDir()
	for _, tt := range tests {
		savePNG(t, filepath.Join(folder, tt.name), tt.img)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := execute(t, "predict", "--json", "--model", model, filepath.Join(folder, tt.name))
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.err)
			}
			var pl predictLine
			if err := json.Unmarshal([]byte(r.stdout), &pl); err != nil {
				t.Fatal(err)
			}
			if pl.SmallObject != tt.small || pl.UnevenBackground != tt.uneven {
				t.Errorf("small_object %v, uneven_background %v; want %v, %v", pl.SmallObject, pl.UnevenBackground, tt.small, tt.uneven)
			}
			if tt.stderr != "" && !strings.Contains(r.err, tt.stderr) {
				t.Errorf("stderr %q does not say %q", r.err, tt.stderr)
			}
			if !tt.small && !tt.uneven && strings.Contains(r.err, "the object takes") || strings.Contains(r.err, "too uneven") != tt.uneven {
				t.Errorf("stderr %q", r.err)
			}
			for _, l := range strings.Split(strings.TrimSpace(r.err), "\n") {
				if l != "" && !strings.Contains(l, ": unsure: ") {
					t.Errorf("stderr line %q", l)
				}
			}
		})
	}
}

// A model that has learnt nothing is unsure of everything: each image is
// marked low_confidence, and stderr gives the reasons for the first ten
// images, then a count.
func TestPredictLowConfidence(t *testing.T) {
	dir := synthData(t, 300, 20)
	model := trainedModel(t, dir, 1, "--lr", "1e-9")
	s, _ := testImages(t, dir, model, 12)
	folder := t.TempDir()
	for i := range s.N {
		savePNG(t, filepath.Join(folder, fmt.Sprintf("%02d.png", i)), &image.Gray{Pix: s.Pix[i*784 : (i+1)*784], Stride: 28, Rect: image.Rect(0, 0, 28, 28)})
	}
	r := execute(t, "predict", "--json", "--model", model, folder)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var pl predictLine
		if err := json.Unmarshal([]byte(l), &pl); err != nil {
			t.Fatal(err)
		}
		if !pl.LowConfidence || pl.Top[0].Prob >= lowConfidence {
			t.Errorf("%s: low_confidence %v at %.3f", pl.File, pl.LowConfidence, pl.Top[0].Prob)
		}
	}
	if n := strings.Count(r.err, "unsure: the most likely class,"); n != unsureShown {
		t.Errorf("%d low-confidence lines on stderr, want %d:\n%s", n, unsureShown, r.err)
	}
	if !strings.Contains(r.err, "unsure of 12 of 12 images (reasons shown for the first 10; --json marks each)") {
		t.Errorf("stderr does not count the images it was unsure of:\n%s", r.err)
	}
}
