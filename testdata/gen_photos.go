//go:build ignore

// gen draws the sample pictures that the README's predict examples use:
// simple silhouettes of clothing, dark on a light, slightly uneven
// background, as a phone photo of a drawing might look. They are drawn,
// not taken from any dataset. Run from the repository root:
//
//	go run testdata/gen_photos.go
package main

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
)

// shape reports whether the point (x, y), both in [0, 1], is inside.
type shape func(x, y float64) bool

func inPoly(pts [][2]float64) shape {
	return func(x, y float64) bool {
		in := false
		for i, j := 0, len(pts)-1; i < len(pts); j, i = i, i+1 {
			xi, yi, xj, yj := pts[i][0], pts[i][1], pts[j][0], pts[j][1]
			if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
				in = !in
			}
		}
		return in
	}
}

func union(ss ...shape) shape {
	return func(x, y float64) bool {
		for _, s := range ss {
			if s(x, y) {
				return true
			}
		}
		return false
	}
}

func minus(a, b shape) shape { return func(x, y float64) bool { return a(x, y) && !b(x, y) } }

var pictures = map[string]shape{
	"trouser": inPoly([][2]float64{{0.30, 0.08}, {0.70, 0.08}, {0.74, 0.92}, {0.56, 0.92}, {0.50, 0.35}, {0.44, 0.92}, {0.26, 0.92}}),
	"tshirt":  inPoly([][2]float64{{0.36, 0.12}, {0.64, 0.12}, {0.92, 0.28}, {0.82, 0.44}, {0.72, 0.38}, {0.72, 0.90}, {0.28, 0.90}, {0.28, 0.38}, {0.18, 0.44}, {0.08, 0.28}}),
	"bag": union(
		inPoly([][2]float64{{0.12, 0.38}, {0.88, 0.38}, {0.92, 0.88}, {0.08, 0.88}}),
		minus(func(x, y float64) bool { return math.Hypot(x-0.5, (y-0.38)*1.3) < 0.26 && y < 0.38 },
			func(x, y float64) bool { return math.Hypot(x-0.5, (y-0.38)*1.3) < 0.19 })),
	"dress": inPoly([][2]float64{{0.40, 0.06}, {0.60, 0.06}, {0.62, 0.40}, {0.80, 0.94}, {0.20, 0.94}, {0.38, 0.40}}),
}

func main() {
	const side = 240
	for name, s := range pictures {
		img := image.NewRGBA(image.Rect(0, 0, side, side))
		for py := 0; py < side; py++ {
			for px := 0; px < side; px++ {
				x, y := (float64(px)+0.5)/side, (float64(py)+0.5)/side
				// Paper: light, a little darker towards one corner.
				bg := 235 - 25*(x+y)/2
				c := color.RGBA{uint8(bg), uint8(bg - 4), uint8(bg - 14), 255}
				if s(x, y) {
					c = color.RGBA{48, 44, 52, 255}
				}
				img.Set(px, py, c)
			}
		}
		path := filepath.Join("testdata", "photos", name+".png")
		f, err := os.Create(path)
		if err != nil {
			log.Fatal(err)
		}
		if name == "dress" || name == "bag" {
			f.Close()
			os.Remove(path)
			path = filepath.Join("testdata", "photos", name+".jpg")
			if f, err = os.Create(path); err != nil {
				log.Fatal(err)
			}
			err = jpeg.Encode(f, img, &jpeg.Options{Quality: 85})
		} else {
			err = png.Encode(f, img)
		}
		if err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}
