// Package imageprep turns a person's picture into the input that
// softmaxctl's models take: Size×Size bytes, 0..255, a light object on a
// black background, like the images of Fashion-MNIST and MNIST.
//
// Decode reads PNG, JPEG, GIF, WebP, BMP and TIFF files and refuses images too large to
// handle before decoding them. Prepare turns a decoded photo into the
// model's input: it fits the background from the picture's border (uneven
// light, a tinted surface), finds the object as what differs from it by
// more than the border's own noise, inverts it when it is darker than its
// background, and frames it the way the training data frames its objects.
// It says when it is unsure (Result). Fit is the simpler resize of models
// trained on image folders. Both scale with the package's one resampler,
// area averaging.
//
// Prepare is built to leave the training data's own pictures alone: a
// Fashion-MNIST or MNIST test image saved as a 28×28 PNG comes back
// unchanged, and the same image enlarged, inverted and saved as JPEG comes
// back within a few levels of the original. Package phototest renders the
// dataset's images as phone photos, to measure the rest.
package imageprep

import (
	"fmt"
	"strings"
)

// Size is the width and height, in pixels, of the pictures Prepare returns.
const Size = 28

// Invert says whether Prepare inverts an image's luminance so that the
// object ends up light on a dark background.
type Invert int

const (
	// InvertAuto inverts when the object is darker than its background;
	// see Prepare for the exact rule.
	InvertAuto Invert = iota
	// InvertAlways inverts every image, for dark drawings on light paper.
	InvertAlways
	// InvertNever keeps the luminance as it is, for images that are
	// already light on dark.
	InvertNever
)

// String returns the name ParseInvert accepts for i.
func (i Invert) String() string {
	switch i {
	case InvertAuto:
		return "auto"
	case InvertAlways:
		return "always"
	case InvertNever:
		return "never"
	}
	return fmt.Sprintf("Invert(%d)", int(i))
}

// ParseInvert parses "auto", "always" or "never", ignoring case and
// surrounding space.
func ParseInvert(s string) (Invert, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto":
		return InvertAuto, nil
	case "always":
		return InvertAlways, nil
	case "never":
		return InvertNever, nil
	}
	return InvertAuto, fmt.Errorf("invalid invert mode %q: use auto, always or never", s)
}

// Options tunes Prepare. The zero value suits Fashion-MNIST.
type Options struct {
	// Box is the side, in output pixels, of the square that the object's
	// longer side is fitted to, centred in the Size×Size frame. Fashion-MNIST
	// objects fill the frame edge to edge (Box 28, used when Box is 0);
	// MNIST digits fit a 20×20 box (Box 20). Valid values are 0..Size.
	Box int
}

// DefaultBox is the Box that Prepare uses when Options.Box is 0.
const DefaultBox = Size

// box returns the Box to use, falling back to DefaultBox for zero and for
// values outside 1..Size.
func (o Options) box() int {
	if o.Box <= 0 || o.Box > Size {
		return DefaultBox
	}
	return o.Box
}
