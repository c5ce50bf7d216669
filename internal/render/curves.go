package render

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// EpochPoint is one epoch's measurements for Curves. A value that was not
// measured, such as the validation loss of a run without a validation set,
// is NaN.
type EpochPoint struct {
	// Epoch is the 1-based epoch number.
	Epoch int
	// TrainLoss and TrainAcc are the mean cross-entropy and the accuracy
	// on the training set.
	TrainLoss, TrainAcc float64
	// ValLoss and ValAcc are the same on the validation set.
	ValLoss, ValAcc float64
}

// Colours and dashes of the two series in both panels, the familiar
// matplotlib pair, with validation also dashed for readers who cannot tell
// the colours apart.
var (
	trainStyle = seriesStyle{"train", color.RGBA{0x1f, 0x77, 0xb4, 0xff}, nil}
	valStyle   = seriesStyle{"validation", color.RGBA{0xff, 0x7f, 0x0e, 0xff}, []vg.Length{vg.Points(5), vg.Points(3)}}
	gridColor  = color.Gray{0xe4}
)

// maxDotted is the most epochs for which Curves marks each epoch's value
// with a dot.
const maxDotted = 25

type seriesStyle struct {
	name   string
	colour color.Color
	dashes []vg.Length
}

// Curves draws training curves to path, a .png or .svg file: loss in a left
// panel and accuracy in a right one, each with the training and validation
// series against the epoch, under title (for example "fashion-mnist — lr
// 0.1, batch 256, 10 epochs").
//
// Two panels rather than one shared axis keep both readable whatever the
// loss's scale: an early loss of 2.3 would squash accuracy's 0.75–0.85 into
// a sliver. Each legend sits in headroom above the data, so it never covers
// a point, and gives the series' final value. Non-finite values are left
// out; a series with none left is not drawn. The file is replaced
// atomically.
func Curves(points []EpochPoint, title, path string) error {
	f, err := formatOf(path)
	if err != nil {
		return err
	}
	if len(points) == 0 {
		return errors.New("training curves: no epochs to draw: train for at least one epoch")
	}
	for i, p := range points {
		if p.Epoch < 1 || (i > 0 && p.Epoch <= points[i-1].Epoch) {
			return fmt.Errorf("training curves: epoch %d at position %d: epochs must be 1-based and increasing", p.Epoch, i)
		}
	}
	first, last := points[0].Epoch, points[len(points)-1].Epoch

	lossPanel, err := curvePanel("loss", "cross-entropy loss", points, first, last,
		func(p EpochPoint) float64 { return p.TrainLoss },
		func(p EpochPoint) float64 { return p.ValLoss })
	if err != nil {
		return err
	}
	accPanel, err := curvePanel("accuracy", "accuracy", points, first, last,
		func(p EpochPoint) float64 { return p.TrainAcc },
		func(p EpochPoint) float64 { return p.ValAcc })
	if err != nil {
		return err
	}
	if lossPanel == nil && accPanel == nil {
		return errors.New("training curves: every value is NaN or infinite: the run may have diverged, try a smaller learning rate")
	}

	const w, h = 10 * vg.Inch, 4.2 * vg.Inch
	c := newCanvas(f, w, h)
	dc := draw.New(c)
	titleBand := vg.Length(0)
	if title != "" {
		sty := text.Style{
			Color:   color.Black,
			Font:    font.From(sans, 14),
			XAlign:  draw.XCenter,
			YAlign:  draw.YTop,
			Handler: plot.DefaultTextHandler,
		}
		dc.FillText(sty, vg.Point{X: w / 2, Y: h - vg.Points(8)}, title)
		titleBand = sty.Height(title) + vg.Points(14)
	}
	body := draw.Crop(dc, 0, 0, 0, -titleBand)
	panels := [][]*plot.Plot{{lossPanel, accPanel}}
	tiles := draw.Tiles{
		Rows: 1, Cols: 2,
		PadX:    vg.Points(36),
		PadTop:  vg.Points(4),
		PadLeft: vg.Points(8), PadRight: vg.Points(14), PadBottom: vg.Points(8),
	}
	for i, cv := range plot.Align(panels, tiles, body)[0] {
		if panels[0][i] != nil {
			panels[0][i].Draw(cv)
		}
	}
	return writeAtomic(path, c)
}

// curvePanel returns one panel of Curves with the train and validation
// series that train and val pick from points, or nil when neither has a
// finite value.
func curvePanel(name, yLabel string, points []EpochPoint, first, last int, train, val func(EpochPoint) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = name
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = yLabel
	styleText(p, 12)
	p.X.Tick.Marker = epochTicks{}
	p.X.Min, p.X.Max = float64(first)-0.3, float64(last)+0.3
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = gridColor, gridColor
	p.Add(grid)

	lo, hi := math.Inf(1), math.Inf(-1)
	drawn := 0
	for _, s := range []struct {
		style seriesStyle
		pick  func(EpochPoint) float64
	}{{trainStyle, train}, {valStyle, val}} {
		var xys plotter.XYs
		for _, pt := range points {
			if v := s.pick(pt); !math.IsNaN(v) && !math.IsInf(v, 0) {
				xys = append(xys, plotter.XY{X: float64(pt.Epoch), Y: v})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, dots, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("training curves: %s %s: %w", s.style.name, name, err)
		}
		line.Color, line.Width, line.Dashes = s.style.colour, vg.Points(2), s.style.dashes
		dots.Color, dots.Shape, dots.Radius = s.style.colour, draw.CircleGlyph{}, vg.Points(2.5)
		legend := fmt.Sprintf("%s (final %.3f)", s.style.name, xys[len(xys)-1].Y)
		// A dot per epoch helps to read a short run; on a long one the
		// dots merge and hide the dashes.
		if len(xys) <= maxDotted {
			p.Add(line, dots)
			p.Legend.Add(legend, line, dots)
		} else {
			p.Add(line)
			p.Legend.Add(legend, line)
		}
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	// Leave headroom above the data for the legend, sized for its lines,
	// so that it never covers a point.
	span := hi - lo
	if span < 1e-9 {
		span = math.Max(math.Abs(hi)*0.1, 0.1)
	}
	p.Y.Min = lo - 0.08*span
	p.Y.Max = hi + (0.12+0.22*float64(drawn))*span
	p.Legend.Top = true
	p.Legend.XOffs = -vg.Points(6)
	p.Legend.YOffs = -vg.Points(4)
	p.Legend.ThumbnailWidth = vg.Points(28)
	return p, nil
}

// epochTicks marks whole epochs: a label every 1, 2, 5, 10, 20, … epochs so
// that at most about 12 labels show, and an unlabelled tick at every epoch
// when there are not too many.
type epochTicks struct{}

// Ticks implements plot.Ticker.
func (epochTicks) Ticks(min, max float64) []plot.Tick {
	lo, hi := int(math.Ceil(min)), int(math.Floor(max))
	if hi < lo {
		return nil
	}
	step := 1
	for n := 0; (hi-lo)/step >= 12; n++ {
		step = []int{2, 5, 10}[n%3] * int(math.Pow(10, float64(n/3)))
	}
	var ticks []plot.Tick
	for e := lo; e <= hi; e++ {
		switch {
		case e%step == 0 || step == 1:
			ticks = append(ticks, plot.Tick{Value: float64(e), Label: strconv.Itoa(e)})
		case hi-lo <= 100:
			ticks = append(ticks, plot.Tick{Value: float64(e)})
		}
	}
	return ticks
}
