package render

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"
)

// Diverging colour scale of WeightGrid: blue for negative weights, white
// for zero, red for positive (ColorBrewer's RdBu ends).
var (
	negColor = color.RGBA{0x21, 0x66, 0xac, 0xff}
	posColor = color.RGBA{0xb2, 0x18, 0x2b, 0xff}
)

// diverging maps t in [-1, 1] to the colour scale, white at 0.
func diverging(t float64) color.RGBA {
	t = math.Max(-1, math.Min(1, t))
	end := posColor
	if t < 0 {
		end, t = negColor, -t
	}
	mix := func(a uint8) uint8 { return uint8(math.Round(255 + t*(float64(a)-255))) }
	return color.RGBA{mix(end.R), mix(end.G), mix(end.B), 0xff}
}

// WeightGrid draws the columns of a softmax regression's weights W (in×out,
// row-major, in = rows×cols) as out images, one tile per class captioned
// with its name, on one diverging colour scale centred on zero and
// symmetric (±max |W|), so that the tiles compare, with a colour bar under
// them. Red pixels raise the class's score, blue ones lower it: each tile
// is the template the classifier matches an image against.
func WeightGrid(w []float32, rows, cols int, classes []string, scale int, title string) (image.Image, error) {
	out := len(classes)
	in := rows * cols
	switch {
	case out < 1 || rows < 1 || cols < 1 || len(w) != in*out:
		return nil, fmt.Errorf("weight grid: %d weights for %d×%d inputs and %d classes", len(w), rows, cols, out)
	case scale < 1 || scale > MaxScale:
		return nil, fmt.Errorf("weight grid: scale %d is out of range: use 1 to %d", scale, MaxScale)
	}
	var peak float64
	for _, v := range w {
		peak = math.Max(peak, math.Abs(float64(v)))
	}
	if !(peak > 0) || math.IsInf(peak, 0) {
		return nil, errors.New("weight grid: the weights are all zero or not finite")
	}
	face, err := captionFace(scale)
	if err != nil {
		return nil, fmt.Errorf("weight grid: %w", err)
	}
	m := face.Metrics()
	lineH, ascent := m.Height.Ceil(), m.Ascent.Ceil()
	imgW, imgH := cols*scale, rows*scale
	textW := 0
	for _, c := range classes {
		textW = max(textW, font.MeasureString(face, shorten(c)).Ceil())
	}
	pad := max(8, lineH)
	gap := max(4, lineH/3)
	cellW, cellH := max(imgW, textW), imgH+gap+lineH
	gcols := min(out, 5)
	grows := (out + gcols - 1) / gcols
	barH := max(12, 2*scale)
	W := pad + gcols*(cellW+pad)
	top := pad + lineH + gap // title
	H := top + grows*(cellH+pad) + barH + gap + lineH + pad
	if int64(W)*int64(H) > MaxGridPixels {
		return nil, &GridTooLargeError{Tiles: out, Scale: scale, W: W, H: H}
	}
	dst := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(whiteColor), image.Point{}, draw.Src)
	text := func(s string, x, y int, c color.Color) {
		d := font.Drawer{Dst: dst, Face: face, Src: image.NewUniform(c), Dot: fixed.P(x, y+ascent)}
		d.DrawString(s)
	}
	width := func(s string) int { return font.MeasureString(face, s).Ceil() }
	text(title, (W-width(title))/2, pad, trueColor)

	for k := 0; k < out; k++ {
		x0 := pad + (k%gcols)*(cellW+pad)
		y0 := top + (k/gcols)*(cellH+pad)
		ix := x0 + (cellW-imgW)/2
		outline(dst, image.Rect(ix-1, y0-1, ix+imgW+1, y0+imgH+1))
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				col := diverging(float64(w[(r*cols+c)*out+k]) / peak)
				draw.Draw(dst, image.Rect(ix+c*scale, y0+r*scale, ix+(c+1)*scale, y0+(r+1)*scale), image.NewUniform(col), image.Point{}, draw.Src)
			}
		}
		name := shorten(classes[k])
		text(name, x0+(cellW-width(name))/2, y0+imgH+gap, trueColor)
	}

	// The colour bar spans the grid's width, −peak on the left to +peak
	// on the right, with the two ends and zero labelled.
	by := top + grows*(cellH+pad)
	bx0, bx1 := pad, W-pad
	for x := bx0; x < bx1; x++ {
		t := 2*float64(x-bx0)/float64(bx1-bx0-1) - 1
		draw.Draw(dst, image.Rect(x, by, x+1, by+barH), image.NewUniform(diverging(t)), image.Point{}, draw.Src)
	}
	outline(dst, image.Rect(bx0-1, by-1, bx1+1, by+barH+1))
	ly := by + barH + gap
	lo, hi := strconv.FormatFloat(-peak, 'g', 3, 64), "+"+strconv.FormatFloat(peak, 'g', 3, 64)
	text(lo, bx0, ly, trueColor)
	text("0", (bx0+bx1-width("0"))/2, ly, trueColor)
	text(hi, bx1-width(hi), ly, trueColor)
	return dst, nil
}
