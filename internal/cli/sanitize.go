package cli

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"unicode"
)

// sanitize escapes the characters of s that a terminal would act on
// instead of showing: C0 and C1 control characters, DEL and the Unicode
// bidirectional overrides. File names and a model's class names come from
// files a user may not have made; printed raw, they could set the terminal's
// title, clear the screen or forge lines. Printable text, tabs excepted, is
// left as it is, so ordinary names in any script print unchanged.
func sanitize(s string) string {
	if strings.IndexFunc(s, unsafeRune) < 0 {
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
		case unsafeRune(r) && r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune reports whether r must be escaped before it reaches a terminal.
func unsafeRune(r rune) bool {
	switch {
	case r == utf8RuneError:
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		// Bidi embeddings, overrides, isolates and marks reorder what
		// follows them on the line.
		return true
	}
	return unicode.Is(unicode.Cf, r) && r != 0x200d // format characters, zero-width joiner (emoji) excepted
}

const utf8RuneError = '\uFFFD'

// isBrokenPipe reports whether err is a write to a pipe whose reader has
// gone (EPIPE).
func isBrokenPipe(err error) bool { return errors.Is(err, syscall.EPIPE) }
