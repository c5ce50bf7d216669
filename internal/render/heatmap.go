package render

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// blues is ColorBrewer's nine-class sequential "Blues" scheme, light to
// dark: it prints well in gray and reads for colour-blind viewers.
var blues = []color.RGBA{
	{0xf7, 0xfb, 0xff, 0xff}, {0xde, 0xeb, 0xf7, 0xff}, {0xc6, 0xdb, 0xef, 0xff},
	{0x9e, 0xca, 0xe1, 0xff}, {0x6b, 0xae, 0xd6, 0xff}, {0x42, 0x92, 0xc6, 0xff},
	{0x21, 0x71, 0xb5, 0xff}, {0x08, 0x51, 0x9c, 0xff}, {0x08, 0x30, 0x6b, 0xff},
}

// MaxHeatmapClasses is the most classes ConfusionHeatmap draws; beyond it
// the cells are too small to read.
const MaxHeatmapClasses = 100

// ConfusionHeatmap draws the k×k confusion matrix counts (row-major, row =
// true class, column = predicted class) to path, a .png or .svg file, as a
// heatmap under title, with each cell's count written in it, the class
// names on both axes (true classes top to bottom, predicted left to
// right, their names slanted), and the axes titled "true" and
// "predicted". classes names the k classes; when it is empty they are
// numbered from 0.
//
// A cell's shade is its share of its true class's examples, on a square
// root scale: the share makes classes of different sizes comparable, and
// the square root makes confusions of a few percent visible next to a
// diagonal of 90%. Counts are written in white on dark cells and in black
// on light ones. The file is replaced atomically.
func ConfusionHeatmap(counts []int64, k int, classes []string, title, path string) error {
	f, err := formatOf(path)
	if err != nil {
		return err
	}
	if k < 1 || k > MaxHeatmapClasses {
		return fmt.Errorf("confusion heatmap: %d classes: draw 1 to %d", k, MaxHeatmapClasses)
	}
	if len(counts) != k*k {
		return fmt.Errorf("confusion heatmap: %d counts for %d classes: pass k×k = %d counts", len(counts), k, k*k)
	}
	if len(classes) == 0 {
		classes = make([]string, k)
		for i := range classes {
			classes[i] = strconv.Itoa(i)
		}
	}
	if len(classes) != k {
		return fmt.Errorf("confusion heatmap: %d class names for %d classes: pass one name per class", len(classes), k)
	}
	for i, n := range counts {
		if n < 0 {
			return fmt.Errorf("confusion heatmap: count for true %q, predicted %q is %d: counts cannot be negative", classes[i/k], classes[i%k], n)
		}
	}

	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "predicted"
	p.Y.Label.Text = "true"
	styleText(p, 14)
	p.X.Label.TextStyle.Font.Size = 12
	p.Y.Label.TextStyle.Font.Size = 12
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Tick.Marker = classTicks{names: classes}
	p.Y.Tick.Marker = classTicks{names: classes, reversed: true}
	p.X.Tick.Label.Rotation = math.Pi / 5
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.X.Tick.Label.Font.Size = 10
	p.Y.Tick.Label.Font.Size = 10
	// The cells line up with their names, and tick marks would cut
	// through the slanted names, so ticks are transparent; they are
	// still drawn, because only drawn ticks space the names from the
	// cells.
	p.X.LineStyle.Width, p.Y.LineStyle.Width = 0, 0
	p.X.Tick.LineStyle.Color, p.Y.Tick.LineStyle.Color = color.Transparent, color.Transparent
	p.X.Tick.Length, p.Y.Tick.Length = vg.Points(4), vg.Points(4)
	p.Title.Padding = vg.Points(10)
	p.Add(&cells{counts: counts, k: k})

	// Cells of about 0.6 inch hold four digits at a readable size; the
	// margins hold the slanted names, the axis titles and the title.
	cell := vg.Length(math.Max(0.25, math.Min(0.6, 6.0/float64(k)))) * vg.Inch
	w := vg.Length(k)*cell + 2*vg.Inch
	h := vg.Length(k)*cell + 2*vg.Inch
	c := newCanvas(f, w, h)
	p.Draw(draw.Crop(draw.New(c), vg.Points(6), -vg.Points(14), vg.Points(6), -vg.Points(8)))
	return writeAtomic(path, c)
}

// classTicks labels the integer positions 0..len(names)-1 of an axis with
// class names, last to first when reversed (so that row 0 is on top).
type classTicks struct {
	names    []string
	reversed bool
}

// Ticks implements plot.Ticker.
func (t classTicks) Ticks(float64, float64) []plot.Tick {
	ticks := make([]plot.Tick, len(t.names))
	for i, n := range t.names {
		v := i
		if t.reversed {
			v = len(t.names) - 1 - i
		}
		ticks[i] = plot.Tick{Value: float64(v), Label: n}
	}
	return ticks
}

// cells is the plotter that draws the heatmap's cells and their counts.
type cells struct {
	counts []int64
	k      int
}

// DataRange implements plot.DataRanger: each cell is one unit wide, centred
// on its class's integer position.
func (c *cells) DataRange() (xmin, xmax, ymin, ymax float64) {
	return -0.5, float64(c.k) - 0.5, -0.5, float64(c.k) - 0.5
}

// Plot implements plot.Plotter.
func (c *cells) Plot(dc draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&dc)
	cellW := trX(0.5) - trX(-0.5)
	cellH := trY(0.5) - trY(-0.5)
	sty := text.Style{
		Font:    font.From(sans, 10),
		XAlign:  draw.XCenter,
		YAlign:  draw.YCenter,
		Handler: p.TextHandler,
	}
	// Shrink the numbers until the widest fits its cell.
	var widest string
	for _, n := range c.counts {
		if s := strconv.FormatInt(n, 10); len(s) > len(widest) {
			widest = s
		}
	}
	for sty.Font.Size > 5 && sty.Width(widest) > 0.85*cellW {
		sty.Font.Size -= 0.5
	}
	showText := sty.Width(widest) <= 0.95*cellW && sty.Height(widest) <= 0.9*cellH

	for r := 0; r < c.k; r++ {
		var total int64
		for _, n := range c.counts[r*c.k : (r+1)*c.k] {
			total += n
		}
		y := float64(c.k - 1 - r)
		for col := 0; col < c.k; col++ {
			n := c.counts[r*c.k+col]
			share := 0.0
			if total > 0 {
				share = float64(n) / float64(total)
			}
			fill := shade(math.Sqrt(share))
			x := float64(col)
			rect := vg.Rectangle{
				Min: vg.Point{X: trX(x - 0.5), Y: trY(y - 0.5)},
				Max: vg.Point{X: trX(x + 0.5), Y: trY(y + 0.5)},
			}
			dc.SetColor(fill)
			dc.Fill(rect.Path())
			if showText {
				sty.Color = color.Black
				if luma(fill) < 0.5 {
					sty.Color = color.White
				}
				dc.FillText(sty, vg.Point{X: trX(x), Y: trY(y)}, strconv.FormatInt(n, 10))
			}
		}
	}
	// Thin white lines between cells keep neighbouring cells of similar
	// shade apart.
	sep := draw.LineStyle{Color: color.White, Width: vg.Points(1)}
	for i := 1; i < c.k; i++ {
		v := float64(i) - 0.5
		dc.StrokeLine2(sep, trX(v), trY(-0.5), trX(v), trY(float64(c.k)-0.5))
		dc.StrokeLine2(sep, trX(-0.5), trY(v), trX(float64(c.k)-0.5), trY(v))
	}
}

// shade returns the colour for t in [0, 1] on the blues scale, linearly
// interpolated between its nine steps.
func shade(t float64) color.RGBA {
	t = math.Min(math.Max(t, 0), 1) * float64(len(blues)-1)
	i := min(int(t), len(blues)-2)
	f := t - float64(i)
	a, b := blues[i], blues[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + f*(float64(y)-float64(x)))) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xff}
}

// luma returns the approximate perceived lightness of c in [0, 1].
func luma(c color.RGBA) float64 {
	return (0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)) / 255
}
