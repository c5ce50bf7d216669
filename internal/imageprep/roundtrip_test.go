package imageprep

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// The round trips below check the promise that matters downstream: a
// training-set picture that a person saves and feeds back must prepare to
// (nearly) the picture the model was trained on.

// roundTrip is one way of saving a 28×28 light-on-black picture.
type roundTrip struct {
	name string
	// save turns the original into a file's bytes.
	save func(t testing.TB, src *image.Gray) []byte
	// wantInverted is whether InvertAuto must invert the saved picture.
	wantInverted bool
	// maxMean and maxWorst bound the mean absolute pixel difference, in
	// levels of 255, over all pictures and for the worst single picture.
	maxMean, maxWorst float64
}

var roundTrips = []roundTrip{
	{"png 28x28 gray", func(t testing.TB, src *image.Gray) []byte { return encodePNG(t, src) }, false, 0, 0},
	{"png x3 rgb inverted", func(t testing.TB, src *image.Gray) []byte { return encodePNG(t, enlarge(src, 3, true)) }, true, 0, 0},
	{"jpeg q90 x10 rgb", func(t testing.TB, src *image.Gray) []byte { return encodeJPEG(t, enlarge(src, 10, false), 90) }, false, 0.5, 1.5},
	{"jpeg q90 x10 rgb inverted", func(t testing.TB, src *image.Gray) []byte { return encodeJPEG(t, enlarge(src, 10, true), 90) }, true, 0.5, 1.5},
}

// enlarge repeats each pixel of src k×k times (nearest neighbour) into an
// RGB picture, inverting the luminance when invert is set: a dark-on-light
// copy as a person might save it.
func enlarge(src *image.Gray, k int, invert bool) *image.RGBA {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy()*k; y++ {
		for x := 0; x < b.Dx()*k; x++ {
			v := src.GrayAt(b.Min.X+x/k, b.Min.Y+y/k).Y
			if invert {
				v = 255 - v
			}
			dst.SetRGBA(x, y, color.RGBA{v, v, v, 255})
		}
	}
	return dst
}

// meanAbsDiff returns the mean absolute difference, in levels, between two
// Size×Size pictures.
func meanAbsDiff(a, b []byte) float64 {
	var s int
	for i := range a {
		s += abs(int(a[i]) - int(b[i]))
	}
	return float64(s) / float64(len(a))
}

// checkRoundTrips runs every round trip over pics and reports the
// differences; label names the set of pictures in the log.
func checkRoundTrips(t *testing.T, label string, pics []*image.Gray) {
	for _, rt := range roundTrips {
		t.Run(rt.name, func(t *testing.T) {
			var sum, worst float64
			worstAt, wrongInversion := -1, 0
			for i, src := range pics {
				img, err := Decode(bytes.NewReader(rt.save(t, src)))
				if err != nil {
					t.Fatalf("picture %d: Decode: %v", i, err)
				}
				r := Prepare(img, InvertAuto, Options{})
				pix, inverted := r.Pix, r.Inverted
				if inverted != rt.wantInverted {
					wrongInversion++
				}
				d := meanAbsDiff(pix, src.Pix)
				sum += d
				if d > worst {
					worst, worstAt = d, i
				}
			}
			mean := sum / float64(len(pics))
			t.Logf("%s, %d pictures: mean |diff| %.3f levels, worst %.3f (picture %d), wrong inversion %d",
				label, len(pics), mean, worst, worstAt, wrongInversion)
			if wrongInversion > 0 {
				t.Errorf("%d pictures inverted wrongly, want 0", wrongInversion)
			}
			if mean > rt.maxMean {
				t.Errorf("mean |diff| = %.3f levels, want <= %.3f", mean, rt.maxMean)
			}
			if worst > rt.maxWorst {
				t.Errorf("worst picture %d: mean |diff| = %.3f levels, want <= %.3f", worstAt, worst, rt.maxWorst)
			}
		})
	}
}

// shape is one part of a synthetic garment: a filled ellipse or rectangle
// with a brightness, in a unit coordinate system.
type shape struct {
	ellipse                bool
	x0, y0, x1, y1, bright float64
}

func (s shape) contains(x, y float64) bool {
	if x < s.x0 || x > s.x1 || y < s.y0 || y > s.y1 {
		return false
	}
	if !s.ellipse {
		return true
	}
	cx, cy := (s.x0+s.x1)/2, (s.y0+s.y1)/2
	rx, ry := (s.x1-s.x0)/2, (s.y1-s.y0)/2
	return (x-cx)*(x-cx)/(rx*rx)+(y-cy)*(y-cy)/(ry*ry) <= 1
}

// overlaps says whether s and t share a point: one holds the other's
// centre.
func (s shape) overlaps(t shape) bool {
	return s.contains((t.x0+t.x1)/2, (t.y0+t.y1)/2) || t.contains((s.x0+s.x1)/2, (s.y0+s.y1)/2)
}

// syntheticPictures returns n Fashion-MNIST-like pictures: a few
// overlapping shapes with texture, antialiased, scaled so that the longer
// side of their bounding box spans the frame and centred, as Fashion-MNIST
// frames its objects, with levels stretched so that the brightest pixel is
// white.
func syntheticPictures(n int) []*image.Gray {
	rng := rand.New(rand.NewPCG(1, 2))
	pics := make([]*image.Gray, 0, n)
	for len(pics) < n {
		shapes := make([]shape, 1+rng.IntN(3))
		bx0, by0, bx1, by1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for j := range shapes {
			x, y := rng.Float64(), rng.Float64()
			w, h := 0.2+rng.Float64()*0.8, 0.2+rng.Float64()*0.8
			shapes[j] = shape{rng.IntN(2) == 0, x, y, x + w, y + h, 0.3 + 0.7*rng.Float64()}
			if j > 0 && !shapes[j].overlaps(shapes[j-1]) {
				// One object, as a garment is: each shape overlaps the
				// one before.
				shapes = shapes[:j]
				break
			}
			bx0, by0 = math.Min(bx0, x), math.Min(by0, y)
			bx1, by1 = math.Max(bx1, x+w), math.Max(by1, y+h)
		}
		scale := Size / math.Max(bx1-bx0, by1-by0)
		offX := (Size - (bx1-bx0)*scale) / 2
		offY := (Size - (by1-by0)*scale) / 2
		texture := rng.Float64() * 0.3
		const ss = 4 // supersampling for antialiased edges
		v := make([]float64, Size*Size)
		var hi float64
		for py := 0; py < Size; py++ {
			for px := 0; px < Size; px++ {
				var sum float64
				for sy := 0; sy < ss; sy++ {
					for sx := 0; sx < ss; sx++ {
						x := bx0 + (float64(px)+(float64(sx)+0.5)/ss-offX)/scale
						y := by0 + (float64(py)+(float64(sy)+0.5)/ss-offY)/scale
						for _, s := range shapes {
							if s.contains(x, y) {
								sum += s.bright * (1 - texture*math.Sin(float64(px*7+py*3))*math.Sin(float64(py*5)))
								break
							}
						}
					}
				}
				v[py*Size+px] = sum / (ss * ss)
				hi = math.Max(hi, sum/(ss*ss))
			}
		}
		// Like Fashion-MNIST's and MNIST's, the brightest pixel is white.
		pic := grayImage(Size, Size, func(x, y int) float64 { return v[y*Size+x] / hi })
		// Fashion-MNIST objects leave much of the border black: over its
		// test set, at least 18.5% of the outer ring is black (85% in the
		// median picture) and the ring's median is at most 95. Shapes that
		// cover more of the border leave no background to find, so they
		// are drawn again.
		if ring := ringOf(pic); zeroShare(ring) < 0.185 || median(ring) > 95 {
			continue
		}
		pics = append(pics, pic)
	}
	return pics
}

// ringOf returns the outermost one-pixel ring of a Size×Size picture.
func ringOf(pic *image.Gray) []byte {
	var r []byte
	for x := 0; x < Size; x++ {
		r = append(r, pic.Pix[x], pic.Pix[(Size-1)*Size+x])
	}
	for y := 1; y < Size-1; y++ {
		r = append(r, pic.Pix[y*Size], pic.Pix[y*Size+Size-1])
	}
	return r
}

func zeroShare(v []byte) float64 {
	return float64(bytes.Count(v, []byte{0})) / float64(len(v))
}

func median(v []byte) byte {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestRoundTripSynthetic(t *testing.T) {
	checkRoundTrips(t, "synthetic", syntheticPictures(200))
}

// realPictures is how many Fashion-MNIST test pictures the real round trips
// use: the JPEG ones take about 3 ms a picture. All 10,000 give the same
// differences to within 0.001 level.
const realPictures = 1000

func TestRoundTripFashionMNIST(t *testing.T) {
	dir := testenv.Data(t)
	pics, err := readIDXImages(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}

	// Every test picture, as it is in memory, must pass through unchanged,
	// must not be inverted, and must not be doubted.
	changed, inverted, flagged := 0, 0, 0
	for i, src := range pics {
		r := Prepare(src, InvertAuto, Options{})
		pix, inv := r.Pix, r.Inverted
		if inv {
			inverted++
		}
		if r.Blank || r.SmallObject() || r.Uneven {
			flagged++
		}
		if !bytes.Equal(pix, src.Pix) {
			changed++
			if changed <= 3 {
				t.Errorf("picture %d changed: mean |diff| %.3f", i, meanAbsDiff(pix, src.Pix))
			}
		}
	}
	t.Logf("fashion-mnist, %d pictures in memory: %d changed, %d inverted, %d flagged", len(pics), changed, inverted, flagged)
	if changed > 0 || inverted > 0 || flagged > 0 {
		t.Errorf("%d of %d pictures changed, %d inverted and %d flagged blank, small or uneven; want none", changed, len(pics), inverted, flagged)
	}

	checkRoundTrips(t, "fashion-mnist", pics[:min(realPictures, len(pics))])
}

// readIDXImages reads a gzip-compressed IDX file of 8-bit images: a 16-byte
// big-endian header (magic 0x00000803, count, rows, cols), then the pixels.
func readIDXImages(path string) ([]*image.Gray, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open test images: %w", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var hdr [4]uint32
	if err := binary.Read(z, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("read %s header: %w", path, err)
	}
	if hdr[0] != 0x803 || hdr[2] != Size || hdr[3] != Size {
		return nil, fmt.Errorf("%s: magic %#x, %dx%d pictures, want 0x803 and %dx%d", path, hdr[0], hdr[2], hdr[3], Size, Size)
	}
	pics := make([]*image.Gray, hdr[1])
	for i := range pics {
		pics[i] = image.NewGray(image.Rect(0, 0, Size, Size))
		if _, err := io.ReadFull(z, pics[i].Pix); err != nil {
			return nil, fmt.Errorf("read %s picture %d: %w", path, i, err)
		}
	}
	return pics, nil
}
