// Package render draws softmaxctl's pictures: a grid of misclassified
// examples (ErrorGrid), training curves (Curves) and a confusion-matrix
// heatmap (ConfusionHeatmap).
//
// The charts are written as PNG or SVG, chosen by the file name's extension,
// and replace the file atomically: a failed or interrupted write leaves
// neither a half-written chart nor a temporary file behind.
package render

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// pngDPI is the resolution of PNG charts: at 96 dpi, gonum's default, 10 pt
// text is only 13 px high and hard to read on a high-density screen.
const pngDPI = 120

// format is an output format for charts.
type format string

const (
	formatPNG format = "png"
	formatSVG format = "svg"
)

// formatOf returns the chart format that path's extension asks for.
// CheckChartName reports whether Curves and ConfusionHeatmap can write a
// chart to path, judging by its extension (.png or .svg), so that a caller
// can refuse a bad name before any work.
func CheckChartName(path string) error {
	_, err := formatOf(path)
	return err
}

func formatOf(path string) (format, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png":
		return formatPNG, nil
	case ".svg":
		return formatSVG, nil
	case "":
		return "", fmt.Errorf("chart file %q has no extension: end the name in .png or .svg", path)
	default:
		return "", fmt.Errorf("chart file %q has unsupported extension %q: end the name in .png or .svg", path, ext)
	}
}

// newCanvas returns a white w×h canvas that writes itself in format f.
func newCanvas(f format, w, h vg.Length) vg.CanvasWriterTo {
	if f == formatSVG {
		// Fonts are referenced by name rather than embedded: embedding
		// would add about 400 KB per typeface to every chart.
		c := vgsvg.New(w, h)
		// SVG starts transparent; black text on a dark viewer's
		// background would vanish.
		c.SetColor(whiteColor)
		c.Fill(vg.Rectangle{Max: vg.Point{X: w, Y: h}}.Path())
		return svgCanvas{c}
	}
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI), vgimg.UseBackgroundColor(whiteColor))
	return vgimg.PngCanvas{Canvas: c}
}

// svgCanvas is an SVG canvas whose text falls back to fonts with the same
// metrics as Liberation Sans, which gonum lays the text out with: Arial is
// metric-compatible with it, and Helvetica nearly so. Without a fallback a
// viewer that lacks Liberation Sans substitutes a wider face, and labels
// run into their neighbours.
type svgCanvas struct{ *vgsvg.Canvas }

// svgFonts is the font-family declaration that svgCanvas writes.
var svgFonts = []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif")

// WriteTo implements io.WriterTo.
func (c svgCanvas) WriteTo(w io.Writer) (int64, error) {
	var buf bytes.Buffer
	if _, err := c.Canvas.WriteTo(&buf); err != nil {
		return 0, err
	}
	out := bytes.ReplaceAll(buf.Bytes(), []byte("font-family:Liberation Sans"), svgFonts)
	n, err := w.Write(out)
	return int64(n), err
}

// writeAtomic writes path atomically: readers never see a partial file
// and a failure leaves the old file, if any, in place.
func writeAtomic(path string, w io.WriterTo) error {
	return atomicfile.Write(path, func(f io.Writer) error {
		bw := bufio.NewWriter(f)
		if _, err := w.WriteTo(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// sans is the typeface for chart text: gonum's default is a serif face,
// which reads worse at small sizes on screen.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// styleText sets every text of p in the sans face, keeping sizes, with the
// title at titleSize points.
func styleText(p *plot.Plot, titleSize vg.Length) {
	p.Title.TextStyle.Font = font.From(sans, titleSize)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, a.Label.TextStyle.Font.Size)
		a.Tick.Label.Font = font.From(sans, a.Tick.Label.Font.Size)
	}
	p.Legend.TextStyle.Font = font.From(sans, p.Legend.TextStyle.Font.Size)
}
