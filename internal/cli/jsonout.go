package cli

import (
	"encoding/json"
	"io"

	"github.com/softmaxctl/softmaxctl/internal/termtext"
)

// writeJSON writes v as JSON and a newline, as json.Encoder does (indented
// by indent if it is not empty), with what a terminal must not get raw
// escaped (termtext.EscapeJSON): file and class names in the output come
// from outside, and encoding/json writes bidirectional and C1 characters
// as they are. Every command's JSON output goes through it.
func writeJSON(w io.Writer, v any, indent string) error {
	var b []byte
	var err error
	if indent != "" {
		b, err = json.MarshalIndent(v, "", indent)
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(append(termtext.EscapeJSON(b), '\n'))
	return err
}
