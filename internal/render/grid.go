package render

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sync"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Tile is one misclassified example for ErrorGrid.
type Tile struct {
	// Pix holds Rows×Cols bytes, row-major, 0 black to 255 white: the
	// model's input as the dataset stores it; for a colour tile
	// (Channels 3) it holds the red, green and blue planes in turn.
	Pix        []byte
	Rows, Cols int
	// Channels is 3 for an RGB tile; 0 and 1 mean grayscale.
	Channels int
	// True and Pred are the class names of the label and the prediction.
	True, Pred string
}

// MaxScale is the largest enlargement ErrorGrid accepts; beyond it a
// 28×28 tile is larger than most screens.
const MaxScale = 32

// MaxGridPixels bounds the picture ErrorGrid draws, width × height: at 4
// bytes a pixel the limit is 160 MB of memory, and a picture larger than it
// is no longer something a person looks at.
const MaxGridPixels = 40_000_000

// GridTooLargeError is ErrorGrid's refusal of a picture over MaxGridPixels.
// Fit is how many of the tiles would fit at the same scale (0 if not one).
type GridTooLargeError struct {
	Tiles, Scale int
	W, H         int
	Fit          int
}

func (e *GridTooLargeError) Error() string {
	return fmt.Sprintf("a grid of %d tiles at scale %d would be %d×%d pixels, over the %d-megapixel limit (at most %d tiles fit at this scale)",
		e.Tiles, e.Scale, e.W, e.H, MaxGridPixels/1_000_000, e.Fit)
}

// maxCaption is the longest class name, in characters, that a caption shows
// in full; longer names are shortened with an ellipsis so that one odd name
// cannot widen every tile.
const maxCaption = 24

// Colours of the grid.
var (
	whiteColor   = color.White
	trueColor    = color.RGBA{0x33, 0x33, 0x33, 0xff}
	predColor    = color.RGBA{0xc6, 0x28, 0x28, 0xff}
	outlineColor = color.RGBA{0xbb, 0xbb, 0xbb, 0xff}
)

// ErrorGrid tiles misclassified examples into one picture for a person to
// look at. Each tile is the example enlarged scale times by pixel
// repetition, so that it stays crisp, with a two-line caption under it:
// "true: <label>" in dark gray and "pred: <prediction>" in red. Every tile
// is as wide as the widest image or caption, and the number of columns is
// chosen to make the picture landscape (about 4:3 or wider). The caller
// encodes the result, as PNG for example.
func ErrorGrid(tiles []Tile, scale int) (image.Image, error) {
	if len(tiles) == 0 {
		return nil, errors.New("error grid: no misclassified examples to draw")
	}
	if scale < 1 || scale > MaxScale {
		return nil, fmt.Errorf("error grid: scale %d is out of range: use 1 to %d", scale, MaxScale)
	}
	imgW, imgH := 0, 0
	for i, t := range tiles {
		if t.Rows <= 0 || t.Cols <= 0 || (t.Channels > 1 && t.Channels != 3) || len(t.Pix) != max(t.Channels, 1)*t.Rows*t.Cols {
			return nil, fmt.Errorf("error grid: tile %d has %d pixels for %d channels of %d×%d: pass Channels×Rows×Cols bytes", i, len(t.Pix), max(t.Channels, 1), t.Rows, t.Cols)
		}
		imgW, imgH = max(imgW, t.Cols*scale), max(imgH, t.Rows*scale)
	}

	face, err := captionFace(scale)
	if err != nil {
		return nil, fmt.Errorf("error grid: %w", err)
	}
	m := face.Metrics()
	lineH := (m.Height).Ceil()
	ascent := m.Ascent.Ceil()
	captions := make([][2]string, len(tiles))
	textW := 0
	for i, t := range tiles {
		captions[i] = [2]string{"true: " + shorten(t.True), "pred: " + shorten(t.Pred)}
		for _, c := range captions[i] {
			textW = max(textW, font.MeasureString(face, c).Ceil())
		}
	}

	// Spacing grows with the font so that the grid keeps its proportions
	// at every scale.
	pad := max(8, lineH)
	gap := max(4, lineH/3) // between an image and its caption
	cellW := max(imgW, textW)
	cellH := imgH + gap + 2*lineH
	cols, W, H := gridLayout(len(tiles), cellW, cellH, pad)
	// Refuse before allocating: a picture's memory grows with tiles×scale².
	if int64(W)*int64(H) > MaxGridPixels {
		fit := 0
		for lo, hi := 1, len(tiles); lo <= hi; {
			mid := (lo + hi) / 2
			if _, w, h := gridLayout(mid, cellW, cellH, pad); int64(w)*int64(h) <= MaxGridPixels {
				fit, lo = mid, mid+1
			} else {
				hi = mid - 1
			}
		}
		return nil, &GridTooLargeError{Tiles: len(tiles), Scale: scale, W: W, H: H, Fit: fit}
	}
	dst := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(whiteColor), image.Point{}, draw.Src)

	for i, t := range tiles {
		x0 := pad + (i%cols)*(cellW+pad)
		y0 := pad + (i/cols)*(cellH+pad)
		// Centre the image over its caption column.
		ix := x0 + (cellW-t.Cols*scale)/2
		iy := y0 + (imgH - t.Rows*scale)
		outline(dst, image.Rect(ix-1, iy-1, ix+t.Cols*scale+1, iy+t.Rows*scale+1))
		enlarge(dst, t, scale, ix, iy)

		d := font.Drawer{Dst: dst, Face: face}
		for line, c := range captions[i] {
			d.Src = image.NewUniform(trueColor)
			if line == 1 {
				d.Src = image.NewUniform(predColor)
			}
			w := font.MeasureString(face, c).Ceil()
			d.Dot = fixed.P(x0+(cellW-w)/2, y0+imgH+gap+line*lineH+ascent)
			d.DrawString(c)
		}
	}
	return dst, nil
}

// gridLayout returns the columns and the picture's size for n cells of
// cellW×cellH pixels with pad pixels around each.
func gridLayout(n, cellW, cellH, pad int) (cols, W, H int) {
	cols = gridColumns(n, cellW+pad, cellH+pad)
	rows := (n + cols - 1) / cols
	return cols, pad + cols*(cellW+pad), pad + rows*(cellH+pad)
}

// gridColumns returns the fewest columns for n cells of w×h pixels that
// make the grid at least 4:3 landscape, or n when even one row is not.
func gridColumns(n, w, h int) int {
	for c := 1; c < n; c++ {
		rows := (n + c - 1) / c
		if 3*c*w >= 4*rows*h {
			return c
		}
	}
	return n
}

// enlarge draws t's pixels at (x, y) in dst, each as a scale×scale square.
func enlarge(dst *image.RGBA, t Tile, scale, x, y int) {
	for r := 0; r < t.Rows; r++ {
		for c := 0; c < t.Cols; c++ {
			v := t.Pix[r*t.Cols+c]
			red, green, blue := v, v, v
			if t.Channels == 3 {
				plane := t.Rows * t.Cols
				green, blue = t.Pix[plane+r*t.Cols+c], t.Pix[2*plane+r*t.Cols+c]
			}
			for dy := 0; dy < scale; dy++ {
				off := dst.PixOffset(x+c*scale, y+r*scale+dy)
				for dx := 0; dx < scale; dx++ {
					p := dst.Pix[off+4*dx : off+4*dx+4 : off+4*dx+4]
					p[0], p[1], p[2], p[3] = red, green, blue, 0xff
				}
			}
		}
	}
}

// outline draws a one-pixel frame around r, which shows where an image's
// black background ends on a white page even at scale 1.
func outline(dst *image.RGBA, r image.Rectangle) {
	src := image.NewUniform(outlineColor)
	for _, e := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+1)},
		{image.Pt(r.Min.X, r.Max.Y-1), r.Max},
		{r.Min, image.Pt(r.Min.X+1, r.Max.Y)},
		{image.Pt(r.Max.X-1, r.Min.Y), r.Max},
	} {
		draw.Draw(dst, e, src, image.Point{}, draw.Src)
	}
}

// shorten returns s cut to maxCaption characters with an ellipsis.
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxCaption {
		return s
	}
	r := []rune(s)
	return string(r[:maxCaption-1]) + "…"
}

var (
	goRegular     *opentype.Font
	goRegularErr  error
	goRegularOnce sync.Once
)

// captionFace returns the caption font, Go Regular, at a size that suits the
// images' scale: readable at small scales and in proportion at large ones.
func captionFace(scale int) (font.Face, error) {
	goRegularOnce.Do(func() {
		goRegular, goRegularErr = opentype.Parse(goregular.TTF)
	})
	if goRegularErr != nil {
		return nil, fmt.Errorf("load caption font: %w", goRegularErr)
	}
	size := math.Min(math.Max(3.5*float64(scale), 13), 24)
	face, err := opentype.NewFace(goRegular, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("load caption font: %w", err)
	}
	return face, nil
}
