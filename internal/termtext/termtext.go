// Package termtext decides which characters of text from files (file
// names, a model's class names) must not reach a terminal raw: printed as
// they are, control characters could set the terminal's title, clear the
// screen or forge lines, and bidirectional formatting characters reorder
// what follows them. The commands escape such text (Escape); the checkpoint
// reader refuses metadata that holds any (Unsafe).
package termtext

import (
	"fmt"
	"strings"
	"unicode"
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
// \r, \e for ESC, \xNN up to U+00FF and \uNNNN beyond. Printable text, in
// any script, is left as it is.
func Escape(s string) string {
	if strings.IndexFunc(s, Unsafe) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
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
