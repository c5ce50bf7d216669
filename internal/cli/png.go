package cli

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"

	"github.com/softmaxctl/softmaxctl/internal/atomicfile"
)

// writePNG writes img as PNG atomically to path, or to standard output
// when path is empty. It is encoded fully first, so an error leaves
// standard output empty and no file half-written.
func writePNG(ios *IO, path string, img image.Image) error {
	encode := func(w io.Writer) error { return png.Encode(w, img) }
	if path != "" {
		if err := atomicfile.Write(path, encode); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	var buf bytes.Buffer
	if err := encode(&buf); err != nil {
		return fmt.Errorf("encode PNG: %w", err)
	}
	_, err := ios.Out.Write(buf.Bytes())
	return err
}
