// Package termtext decides which characters of text from files (file
// names, a model's class names) must not reach a terminal raw: printed as
// they are, control characters could set the terminal's title, clear the
// screen or forge lines, and bidirectional formatting characters reorder
// what follows them. The commands escape such text (Escape, and EscapeJSON
// for their JSON output); the checkpoint reader refuses metadata that holds
// any (Unsafe).
package termtext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Unsafe reports whether a terminal would act on r instead of showing it:
// the C0 controls, DEL and the C1 controls (escape sequences, line
// breaks), the Unicode line and paragraph separators, the bidirectional
// embeddings, overrides, isolates and marks, and the other format
// characters (the zero-width joiner of emoji excepted).
func Unsafe(r rune) bool {
	switch {
	case r == unicode.ReplacementChar:
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029, r == 0x061c, r == 0x200e, r == 0x200f,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return unicode.Is(unicode.Cf, r) && r != 0x200d
}

// Escape returns s with its unsafe characters written as escapes: \n, \t,
// \r, \e for ESC, \xNN up to U+00FF and \uNNNN beyond. Bytes that are not
// UTF-8 are escaped one by one as \xNN: file names need not be UTF-8, and
// a lone 0x9b is CSI to a terminal that reads 8-bit controls. Printable
// text, in any script, is left as it is.
func Escape(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, Unsafe) < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			// range yields one RuneError per byte that is not UTF-8.
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == 0x1b:
			b.WriteString(`\e`)
		case Unsafe(r) && r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case Unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// EscapeJSON returns the JSON text js with every character that Unsafe
// names written as a \u escape (\u202e; beyond U+FFFF as a UTF-16
// surrogate pair), so that JSON printed on a terminal cannot drive it
// either: encoding/json escapes the C0 controls and U+2028 and U+2029, but
// writes DEL, the C1 controls and the bidirectional characters raw.
//
// Outside its strings JSON holds only ASCII, so every such character is in
// a string, where the escape decodes to the same character: the value is
// unchanged. Bytes that are not UTF-8, which encoding/json never writes,
// become \ufffd as encoding/json would make them.
func EscapeJSON(js []byte) []byte {
	var out []byte
	last := 0 // js[last:i] is still to be copied
	for i := 0; i < len(js); {
		c := js[i]
		if c < 0x7f {
			i++
			continue
		}
		r, n := utf8.DecodeRune(js[i:])
		invalid := r == utf8.RuneError && n == 1
		if !invalid && !Unsafe(r) {
			i += n
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(js)+16)
		}
		out = append(out, js[last:i]...)
		switch {
		case invalid:
			out = append(out, `\ufffd`...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
		last = i
	}
	if out == nil {
		return js
	}
	return append(out, js[last:]...)
}
