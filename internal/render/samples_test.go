package render

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// fashionClasses are Fashion-MNIST's class names, by label.
var fashionClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// sampleCurves is ten epochs of a typical Fashion-MNIST softmax run.
var sampleCurves = []EpochPoint{
	{1, 0.785, 0.749, 0.612, 0.781},
	{2, 0.571, 0.811, 0.551, 0.806},
	{3, 0.525, 0.825, 0.531, 0.811},
	{4, 0.501, 0.831, 0.498, 0.826},
	{5, 0.486, 0.836, 0.502, 0.821},
	{6, 0.474, 0.839, 0.482, 0.832},
	{7, 0.465, 0.842, 0.487, 0.828},
	{8, 0.458, 0.845, 0.470, 0.834},
	{9, 0.452, 0.846, 0.475, 0.831},
	{10, 0.447, 0.848, 0.462, 0.836},
}

// sampleConfusion is a plausible Fashion-MNIST confusion matrix of a
// softmax model, 1000 examples a class, with shirts mistaken for T-shirts,
// pullovers and coats.
var sampleConfusion = []int64{
	812, 3, 15, 52, 5, 1, 98, 0, 14, 0,
	4, 948, 3, 33, 6, 0, 4, 0, 2, 0,
	18, 2, 716, 10, 156, 0, 88, 0, 10, 0,
	30, 14, 12, 858, 41, 0, 39, 0, 6, 0,
	0, 1, 108, 36, 790, 0, 60, 0, 5, 0,
	0, 0, 0, 1, 0, 905, 0, 57, 7, 30,
	142, 2, 127, 40, 110, 0, 553, 0, 26, 0,
	0, 0, 0, 0, 0, 33, 0, 930, 1, 36,
	4, 1, 6, 11, 3, 5, 18, 5, 946, 1,
	0, 0, 0, 0, 0, 12, 1, 45, 2, 940,
}

// TestWriteSamples writes sample pictures for a person to look at when
// SOFTMAXCTL_RENDER_SAMPLES names a folder; the error grid uses real
// Fashion-MNIST test pictures when SOFTMAXCTL_TEST_DATA names their folder,
// and noise otherwise.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("SOFTMAXCTL_RENDER_SAMPLES")
	if dir == "" {
		t.Skip("set SOFTMAXCTL_RENDER_SAMPLES to a folder to write sample pictures")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tiles := sampleTiles(t, 32)
	for _, scale := range []int{1, 3, 4} {
		img, err := ErrorGrid(tiles, scale)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("errors-x%d.png", scale)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, ext := range []string{".png", ".svg"} {
		if err := Curves(sampleCurves, "fashion-mnist — lr 0.1, batch 256, 10 epochs", filepath.Join(dir, "curves"+ext)); err != nil {
			t.Fatal(err)
		}
		if err := ConfusionHeatmap(sampleConfusion, 10, fashionClasses, "fashion-mnist test set — accuracy 0.840", filepath.Join(dir, "confusion"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	long := make([]EpochPoint, 60)
	for i := range long {
		e := float64(i + 1)
		long[i] = EpochPoint{i + 1, 0.4 + 1.9/e, 0.86 - 0.3/e, 0.45 + 1.8/e + 0.002*e, 0.85 - 0.3/e - 0.0005*e}
	}
	if err := Curves(long, "fashion-mnist — lr 0.01, batch 64, 60 epochs", filepath.Join(dir, "curves-60.png")); err != nil {
		t.Fatal(err)
	}
	digits := make([]int64, 100)
	for i := range digits {
		if i/10 == i%10 {
			digits[i] = 980
		} else {
			digits[i] = int64((i * 7) % 13)
		}
	}
	if err := ConfusionHeatmap(digits, 10, nil, "mnist", filepath.Join(dir, "confusion-numbered.png")); err != nil {
		t.Fatal(err)
	}
}

// sampleTiles returns n misclassified-looking tiles: real test pictures
// with made-up predictions when SOFTMAXCTL_TEST_DATA is set.
func sampleTiles(t *testing.T, n int) []Tile {
	rng := rand.New(rand.NewPCG(3, 4))
	tiles := make([]Tile, n)
	pix, labels := readSamplePictures(t, n)
	for i := range tiles {
		pred := rng.IntN(9)
		if pred >= labels[i] {
			pred++
		}
		tiles[i] = Tile{Pix: pix[i], Rows: 28, Cols: 28, True: fashionClasses[labels[i]], Pred: fashionClasses[pred]}
	}
	return tiles
}

func readSamplePictures(t *testing.T, n int) ([][]byte, []int) {
	rng := rand.New(rand.NewPCG(5, 6))
	pix := make([][]byte, n)
	labels := make([]int, n)
	dir := os.Getenv("SOFTMAXCTL_TEST_DATA")
	if dir == "" {
		for i := range pix {
			pix[i] = make([]byte, 784)
			for j := range pix[i] {
				pix[i][j] = byte(rng.IntN(256))
			}
			labels[i] = rng.IntN(10)
		}
		return pix, labels
	}
	images := readGz(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	lbls := readGz(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if binary.BigEndian.Uint32(images) != 0x803 || binary.BigEndian.Uint32(lbls) != 0x801 {
		t.Fatal("unexpected IDX magic numbers")
	}
	for i := range pix {
		k := rng.IntN(10000)
		pix[i] = images[16+k*784 : 16+(k+1)*784]
		labels[i] = int(lbls[8+k])
	}
	return pix, labels
}

func readGz(t *testing.T, path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
