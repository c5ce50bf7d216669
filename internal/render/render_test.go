package render

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// markedTile returns a 28×28 black tile with a 3-wide, 2-high block of
// level 20 at (5, 7): darker than any antialiased caption pixel (the
// darkest caption colour is 51), so that the test can find it exactly.
func markedTile(trueName, predName string) Tile {
	pix := make([]byte, 28*28)
	for y := 7; y < 9; y++ {
		for x := 5; x < 8; x++ {
			pix[y*28+x] = 20
		}
	}
	return Tile{Pix: pix, Rows: 28, Cols: 28, True: trueName, Pred: predName}
}

// countGray returns how many pixels of img are exactly gray level v, and
// their bounding box.
func countGray(img image.Image, v uint8) (int, image.Rectangle) {
	n, box := 0, image.Rectangle{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); c == (color.RGBA{v, v, v, 0xff}) {
				n++
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return n, box
}

func TestErrorGridLayout(t *testing.T) {
	tests := []struct {
		n, scale int
	}{{1, 1}, {1, 4}, {10, 3}, {32, 4}, {7, 1}}
	for _, tt := range tests {
		tiles := make([]Tile, tt.n)
		for i := range tiles {
			tiles[i] = markedTile("Coat", "Shirt")
		}
		img, err := ErrorGrid(tiles, tt.scale)
		if err != nil {
			t.Fatalf("n=%d scale=%d: %v", tt.n, tt.scale, err)
		}
		b := img.Bounds()
		if tt.n >= 6 && 3*b.Dx() < 4*b.Dy() {
			t.Errorf("n=%d scale=%d: %v is not landscape", tt.n, tt.scale, b.Size())
		}
		// Nearest-neighbour enlargement keeps every pixel's level
		// exactly: the marked block and the black background appear
		// scale² times each, with no blended levels between them.
		s2 := tt.scale * tt.scale
		if got, want := func() int { n, _ := countGray(img, 20); return n }(), tt.n*6*s2; got != want {
			t.Errorf("n=%d scale=%d: %d marked pixels, want %d", tt.n, tt.scale, got, want)
		}
		if got, want := func() int { n, _ := countGray(img, 0); return n }(), tt.n*(784-6)*s2; got != want {
			t.Errorf("n=%d scale=%d: %d black pixels, want %d", tt.n, tt.scale, got, want)
		}
		if tt.n == 1 {
			_, box := countGray(img, 20)
			if box.Dx() != 3*tt.scale || box.Dy() != 2*tt.scale {
				t.Errorf("scale=%d: marked block is %v, want %dx%d", tt.scale, box.Size(), 3*tt.scale, 2*tt.scale)
			}
		}
	}
}

func TestErrorGridCaptions(t *testing.T) {
	// At scale 1 the caption is far wider than the image: the tile must
	// grow to fit it, leaving the margins white.
	img, err := ErrorGrid([]Tile{markedTile("T-shirt/top", "Ankle boot")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	_, black := countGray(img, 0)
	if b.Dx() <= black.Dx()+20 {
		t.Errorf("picture is %d wide for a %d-wide image: the tile did not grow for its caption", b.Dx(), black.Dx())
	}
	var dark, red int
	ink := image.Rectangle{}
	for y := black.Max.Y + 1; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if c == (color.RGBA{0xff, 0xff, 0xff, 0xff}) {
				continue
			}
			ink = ink.Union(image.Rect(x, y, x+1, y+1))
			switch {
			case c.R > 150 && c.G < 100 && c.B < 100:
				red++
			case c.R < 100 && c.G < 100 && c.B < 100:
				dark++
			}
		}
	}
	if dark < 20 || red < 20 {
		t.Errorf("caption area has %d dark and %d red pixels, want both lines drawn", dark, red)
	}
	// Nothing may touch the picture's edges: the caption is not cut off.
	if inner := b.Inset(3); !ink.In(inner) {
		t.Errorf("caption ink %v reaches the edges of %v", ink, b)
	}
}

func TestErrorGridErrors(t *testing.T) {
	ok := markedTile("Coat", "Shirt")
	tests := []struct {
		name  string
		tiles []Tile
		scale int
		want  string
	}{
		{"no tiles", nil, 4, "no misclassified examples"},
		{"scale 0", []Tile{ok}, 0, "scale 0"},
		{"scale too big", []Tile{ok}, MaxScale + 1, "use 1 to"},
		{"short pixels", []Tile{ok, {Pix: make([]byte, 10), Rows: 28, Cols: 28}}, 2, "tile 1 has 10 pixels"},
		{"no rows", []Tile{{Pix: nil, Rows: 0, Cols: 28}}, 2, "tile 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ErrorGrid(tt.tiles, tt.scale)
			checkErr(t, err, tt.want)
		})
	}
}

func TestGridColumns(t *testing.T) {
	tests := []struct{ n, w, h, want int }{
		{1, 120, 160, 1},
		{3, 120, 160, 3},
		{10, 120, 160, 5},
		{32, 120, 160, 8},
		{100, 120, 160, 15},
		{32, 400, 100, 4},
	}
	for _, tt := range tests {
		if got := gridColumns(tt.n, tt.w, tt.h); got != tt.want {
			t.Errorf("gridColumns(%d, %d, %d) = %d, want %d", tt.n, tt.w, tt.h, got, tt.want)
		}
	}
}

func TestShorten(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ankle boot", "Ankle boot"},
		{"abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"},
		{"abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvw…"},
	}
	for _, tt := range tests {
		if got := shorten(tt.in); got != tt.want {
			t.Errorf("shorten(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// checkErr fails unless err is a one-line error that mentions want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to mention %q", err, want)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error %q spans lines, want one line", err)
	}
}

// onlyFiles fails unless dir holds exactly the named files: no temporary
// file may be left behind.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("folder holds %q, want %q", got, names)
	}
}

// checkChart checks that path is a valid chart in the format its extension
// names, and for PNG that it is w×h pixels.
func checkChart(t *testing.T, path string, w, h int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".svg") {
		if !bytes.HasPrefix(data, []byte("<?xml")) && !bytes.HasPrefix(data, []byte("<svg")) {
			t.Errorf("%s starts %q, want an SVG document", path, data[:min(20, len(data))])
		}
		if !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, svgFonts) {
			t.Errorf("%s lacks an <svg> element or its font fallbacks", path)
		}
		return
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if got := img.Bounds().Size(); got != image.Pt(w, h) {
		t.Errorf("%s is %v, want %dx%d", path, got, w, h)
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm() != 0o644 {
		t.Errorf("%s has mode %v, want 0644", path, info.Mode().Perm())
	}
}

func TestCurves(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"c.png", "c.svg", "C.PNG"} {
		if err := Curves(sampleCurves, "fashion-mnist — lr 0.1", filepath.Join(dir, name)); err != nil {
			t.Fatalf("Curves(%s): %v", name, err)
		}
		checkChart(t, filepath.Join(dir, name), 1200, 504)
	}
	// Overwriting an existing chart works and leaves nothing else.
	if err := Curves(sampleCurves[:3], "", filepath.Join(dir, "c.png")); err != nil {
		t.Fatal(err)
	}
	onlyFiles(t, dir, "C.PNG", "c.png", "c.svg")

	noVal := make([]EpochPoint, len(sampleCurves))
	for i, p := range sampleCurves {
		p.ValLoss, p.ValAcc = math.NaN(), math.NaN()
		noVal[i] = p
	}
	if err := Curves(noVal, "no validation set", filepath.Join(dir, "noval.png")); err != nil {
		t.Errorf("Curves without validation values: %v", err)
	}
}

func TestCurvesErrors(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		points []EpochPoint
		file   string
		want   string
	}{
		{"jpeg", sampleCurves, "c.jpg", `unsupported extension ".jpg"`},
		{"no extension", sampleCurves, "curves", "no extension"},
		{"no points", nil, "c.png", "no epochs"},
		{"epoch 0", []EpochPoint{{Epoch: 0}}, "c.png", "1-based"},
		{"epochs out of order", []EpochPoint{{Epoch: 2}, {Epoch: 1}}, "c.svg", "increasing"},
		{"all NaN", []EpochPoint{{1, nan, nan, nan, nan}, {2, math.Inf(1), nan, nan, nan}}, "c.png", "diverged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			checkErr(t, Curves(tt.points, "t", filepath.Join(dir, tt.file)), tt.want)
			onlyFiles(t, dir)
		})
	}
}

func TestWriteFailureLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	// A folder where the chart should go makes the final rename fail
	// after the temporary file has been written.
	target := filepath.Join(dir, "chart.png")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	checkErr(t, Curves(sampleCurves, "t", target), "chart.png")
	checkErr(t, ConfusionHeatmap(sampleConfusion, 10, fashionClasses, "t", target), "chart.png")
	onlyFiles(t, dir, "chart.png")

	checkErr(t, Curves(sampleCurves, "t", filepath.Join(dir, "missing", "c.png")), "create it first")
}

func TestConfusionHeatmap(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"h.png", "h.svg"} {
		if err := ConfusionHeatmap(sampleConfusion, 10, fashionClasses, "confusion", filepath.Join(dir, name)); err != nil {
			t.Fatalf("ConfusionHeatmap(%s): %v", name, err)
		}
		checkChart(t, filepath.Join(dir, name), 960, 960)
	}
	// Unnamed classes, an empty row and a single class all draw.
	if err := ConfusionHeatmap([]int64{5, 0, 0, 0}, 2, nil, "", filepath.Join(dir, "small.png")); err != nil {
		t.Errorf("2 classes with an empty row: %v", err)
	}
	if err := ConfusionHeatmap([]int64{7}, 1, []string{"only"}, "one", filepath.Join(dir, "one.png")); err != nil {
		t.Errorf("1 class: %v", err)
	}
	onlyFiles(t, dir, "h.png", "h.svg", "one.png", "small.png")
}

func TestConfusionHeatmapErrors(t *testing.T) {
	tests := []struct {
		name    string
		counts  []int64
		k       int
		classes []string
		file    string
		want    string
	}{
		{"gif", sampleConfusion, 10, fashionClasses, "h.gif", `unsupported extension ".gif"`},
		{"k 0", nil, 0, nil, "h.png", "0 classes"},
		{"too many classes", nil, MaxHeatmapClasses + 1, nil, "h.png", "draw 1 to"},
		{"short counts", sampleConfusion[:99], 10, fashionClasses, "h.png", "99 counts for 10 classes"},
		{"class names", sampleConfusion, 10, fashionClasses[:9], "h.png", "9 class names"},
		{"negative", []int64{1, -2, 3, 4}, 2, []string{"a", "b"}, "h.svg", `true "a", predicted "b" is -2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			checkErr(t, ConfusionHeatmap(tt.counts, tt.k, tt.classes, "t", filepath.Join(dir, tt.file)), tt.want)
			onlyFiles(t, dir)
		})
	}
}

func TestShadeTextContrast(t *testing.T) {
	// Counts are written in white on the darkest shades and in black on
	// the lightest, so the cell colour must cross the threshold.
	if l := luma(shade(1)); l >= 0.5 {
		t.Errorf("darkest shade has luma %.2f, want < 0.5 for white text", l)
	}
	if l := luma(shade(0)); l < 0.5 {
		t.Errorf("lightest shade has luma %.2f, want >= 0.5 for black text", l)
	}
	prev := 2.0
	for i := 0; i <= 20; i++ {
		l := luma(shade(float64(i) / 20))
		if l > prev {
			t.Errorf("shade is not monotone at %d/20", i)
		}
		prev = l
	}
}

func TestEpochTicks(t *testing.T) {
	tests := []struct {
		min, max   float64
		wantLabels string
		wantTicks  int
	}{
		{0.7, 10.3, "1 2 3 4 5 6 7 8 9 10", 10},
		{0.7, 1.3, "1", 1},
		{0.7, 60.3, "5 10 15 20 25 30 35 40 45 50 55 60", 60},
		{0.7, 1000.3, "100 200 300 400 500 600 700 800 900 1000", 10},
	}
	for _, tt := range tests {
		ticks := epochTicks{}.Ticks(tt.min, tt.max)
		var labels []string
		for _, tk := range ticks {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if got := strings.Join(labels, " "); got != tt.wantLabels || len(ticks) != tt.wantTicks {
			t.Errorf("Ticks(%v, %v): labels %q and %d ticks, want %q and %d", tt.min, tt.max, got, len(ticks), tt.wantLabels, tt.wantTicks)
		}
	}
}
