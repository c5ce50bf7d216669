package phototest

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

func TestShapes(t *testing.T) {
	pix, labels := Shapes(200, 1)
	if len(pix) != 200*Side*Side || len(labels) != 200 {
		t.Fatalf("got %d pixels and %d labels", len(pix), len(labels))
	}
	seen := map[byte]int{}
	for i, l := range labels {
		if int(l) >= len(ShapeClasses) {
			t.Fatalf("label %d out of range", l)
		}
		seen[l]++
		img := pix[i*Side*Side : (i+1)*Side*Side]
		// Framed like Fashion-MNIST: the brightest pixel is white and
		// the longer side spans the image.
		var hi byte
		x0, y0, x1, y1 := Side, Side, 0, 0
		for p, v := range img {
			hi = max(hi, v)
			if v > 12 {
				x0, y0 = min(x0, p%Side), min(y0, p/Side)
				x1, y1 = max(x1, p%Side+1), max(y1, p/Side+1)
			}
		}
		if hi != 255 || max(x1-x0, y1-y0) < Side-1 {
			t.Fatalf("image %d (%s): brightest %d, box %dx%d; want 255 and a side of %d", i, ShapeClasses[l], hi, x1-x0, y1-y0, Side)
		}
	}
	if len(seen) != len(ShapeClasses) {
		t.Errorf("%d classes drawn, want %d", len(seen), len(ShapeClasses))
	}
	again, _ := Shapes(200, 1)
	if !bytes.Equal(pix, again) {
		t.Error("Shapes is not deterministic")
	}
}

// darkBox returns the bounding box of the pixels of m whose luminance is
// under half of the picture's corner's: the object, dark on a light
// surface.
func darkBox(m image.Image) image.Rectangle {
	b := m.Bounds()
	lum := func(x, y int) float64 {
		r, g, bl, _ := m.At(x, y).RGBA()
		return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 0xffff
	}
	ref := lum(b.Min.X, b.Min.Y)
	var box image.Rectangle
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if lum(x, y) < ref/2 {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

func TestRender(t *testing.T) {
	// A filled square: its dark box is the object's square.
	square := bytes.Repeat([]byte{255}, Side*Side)
	for _, c := range Conditions() {
		t.Run(c.Name, func(t *testing.T) {
			size := c.Size
			if size == [2]float64{} {
				size = [2]float64{0.6, 0.6}
			}
			for seed := range uint64(20) {
				ph, err := c.Render(square, seed)
				if err != nil {
					t.Fatal(err)
				}
				var dec image.Image
				if c.JPEG != [2]int{} {
					if ph.Ext != ".jpg" {
						t.Fatalf("extension %q, want .jpg", ph.Ext)
					}
					dec, err = jpeg.Decode(bytes.NewReader(ph.Data))
				} else {
					if ph.Ext != ".png" {
						t.Fatalf("extension %q, want .png", ph.Ext)
					}
					dec, err = png.Decode(bytes.NewReader(ph.Data))
				}
				if err != nil {
					t.Fatalf("seed %d: the file does not decode: %v", seed, err)
				}
				b := dec.Bounds()
				short, long := min(b.Dx(), b.Dy()), max(b.Dx(), b.Dy())
				if short < 240 || short > 400 || long != short*4/3 {
					t.Fatalf("seed %d: picture %v, want 4:3 with the shorter side in 240..400", seed, b)
				}
				if c.Clutter {
					// Dark clutter would count as the object.
					continue
				}
				// The square's side, as a share of the shorter side,
				// within the condition's range (blur and noise move
				// its edge by a pixel or two).
				box := darkBox(ph.Image)
				s := float64(box.Dx()) / float64(short)
				tol := 4 / float64(short)
				if s < size[0]-tol || s > size[1]+tol || math.Abs(float64(box.Dx()-box.Dy())) > 4 {
					t.Fatalf("seed %d: object %v in %v: side %.3f of the picture, want %.2f..%.2f", seed, box, b, s, size[0], size[1])
				}
				// Its centre within the offset allowed, and the whole
				// object inside the picture.
				cx := float64(box.Min.X+box.Max.X)/2 - float64(b.Dx())/2
				cy := float64(box.Min.Y+box.Max.Y)/2 - float64(b.Dy())/2
				if off := max(math.Abs(cx), math.Abs(cy)) / float64(short); off > c.Offset+tol {
					t.Fatalf("seed %d: object %v off centre by %.3f, want at most %.2f", seed, box, off, c.Offset)
				}
				if !box.In(b) || box.Min.X == 0 || box.Min.Y == 0 || box.Max.X == b.Dx() || box.Max.Y == b.Dy() {
					t.Fatalf("seed %d: object %v touches the edge of %v", seed, box, b)
				}
			}
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	pix, _ := Shapes(2, 7)
	img := pix[:Side*Side]
	a, err := Phone.Render(img, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Phone.Render(img, 3)
	c, _ := Phone.Render(img, 4)
	if !bytes.Equal(a.Data, b.Data) {
		t.Error("the same image and seed gave two photos")
	}
	if bytes.Equal(a.Data, c.Data) {
		t.Error("two seeds gave the same photo")
	}
	if _, err := Phone.Render(img[:100], 3); err == nil {
		t.Error("Render took 100 pixels")
	}
}
