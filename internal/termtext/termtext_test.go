package termtext

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Names from files are escaped before they reach a terminal.
func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain.png", "plain.png"},
		{"T-shirt/top", "T-shirt/top"},
		{"Ankle boot", "Ankle boot"},
		{"日本語.png", "日本語.png"},
		{"\x1b]0;owned\x07x.png", `\e]0;owned\x07x.png`},
		{"a\nsoftmaxctl: forged", `a\nsoftmaxctl: forged`},
		{"a\rb", `a\rb`},
		{"csi\u009b2J", `csi\x9b2J`},
		{"del\x7f", `del\x7f`},
		{"rtl\u202egnp.exe", `rtl\u202egnp.exe`},
		// Bytes that are not UTF-8 are escaped one by one: a lone 0x9b
		// is CSI to a terminal that reads 8-bit controls.
		{"csi\x9b2J", `csi\x9b2J`},
		{"\xff\xfe.png", `\xff\xfe.png`},
		{"cut\xe2\x80", `cut\xe2\x80`},
		{"surrogate\xed\xa0\x80", `surrogate\xed\xa0\x80`},
		{"ok\ufffd\x9b", "ok\ufffd\\x9b"},
		{"é\xc3", `é\xc3`},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The checkpoint reader refuses what the commands escape, and ordinary
// names pass.
func TestUnsafe(t *testing.T) {
	for _, r := range []rune{0, '\n', 0x1b, 0x7f, 0x9b, 0x2028, 0x202e, 0x2066, 0x200b, 0xfeff} {
		if !Unsafe(r) {
			t.Errorf("Unsafe(%U) = false", r)
		}
	}
	for _, r := range []rune{' ', 'a', 'é', '日', 0x200d, 0x1f600, unicode.ReplacementChar} {
		if Unsafe(r) {
			t.Errorf("Unsafe(%U) = true", r)
		}
	}
}

// JSON printed on a terminal escapes what encoding/json leaves raw, and
// still decodes to the same values.
func TestEscapeJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain.png", `"plain.png"`},
		{"日本語.png", `"日本語.png"`},
		{"rtl\u202egnp.png", `"rtl\u202egnp.png"`},
		{"csi\u009b2J", `"csi\u009b2J"`},
		{"del\x7f", `"del\u007f"`},
		{"zero\u200bwidth\ufeff", `"zero\u200bwidth\ufeff"`},
		{"tag\U000E0001", `"tag\udb40\udc01"`},
		{"esc\x1b[2J\n", `"esc\u001b[2J\n"`},
		{"bytes\x9b\xff", `"bytes\ufffd\ufffd"`},
		{"ls\u2028", `"ls\u2028"`},
	}
	for _, tt := range tests {
		js, err := json.Marshal(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got := EscapeJSON(js)
		if string(got) != tt.want {
			t.Errorf("EscapeJSON(%s) = %s, want %s", js, got, tt.want)
		}
		var before, after string
		json.Unmarshal(js, &before)
		if err := json.Unmarshal(got, &after); err != nil || after != before {
			t.Errorf("EscapeJSON(%s) = %s decodes to %q (%v), want %q", js, got, after, err, before)
		}
	}
	// Indentation, outside strings, is kept.
	js, _ := json.MarshalIndent(map[string]string{"f": "a\u202e"}, "", "  ")
	if got, want := string(EscapeJSON(js)), "{\n  \"f\": \"a\\u202e\"\n}"; got != want {
		t.Errorf("EscapeJSON(%q) = %q, want %q", js, got, want)
	}
}

// checkSafe fails unless s is UTF-8 and free of what Unsafe names, but for
// the characters allowed.
func checkSafe(t *testing.T, what string, s []byte, allowed string) {
	t.Helper()
	if !utf8.Valid(s) {
		t.Fatalf("%s %q is not UTF-8", what, s)
	}
	for _, r := range string(s) {
		if Unsafe(r) && !bytes.ContainsRune([]byte(allowed), r) {
			t.Fatalf("%s %q holds %U", what, s, r)
		}
	}
}

// FuzzEscape checks that any bytes come out as UTF-8 with nothing a
// terminal would act on, and that safe text is left as it is.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"plain.png", "日本語", "\x1b]0;x\x07", "csi\x9b2J", "\xff\xfe", "\xed\xa0\x80", "ok\ufffd", "rtl\u202e", "\U000E0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		checkSafe(t, "Escape of "+strconv.Quote(s), []byte(got), "")
		if safe := utf8.ValidString(s) && !strings.ContainsFunc(s, Unsafe); safe != (got == s) {
			t.Fatalf("Escape(%q) = %q", s, got)
		}
	})
}

// FuzzEscapeJSON checks that any string's JSON, escaped, is valid JSON of
// the same value with nothing a terminal would act on, and that any bytes
// come out UTF-8 without such characters beyond ASCII.
func FuzzEscapeJSON(f *testing.F) {
	for _, s := range []string{"plain.png", "日本語", "\x1b]0;x\x07", "csi\u009b2J", "\xff\xfe", "ok\ufffd", "rtl\u202e", "\U000E0001", "del\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		js, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := EscapeJSON(js)
		checkSafe(t, "EscapeJSON of "+string(js), got, "")
		var before, after string
		json.Unmarshal(js, &before)
		if err := json.Unmarshal(got, &after); err != nil || after != before {
			t.Fatalf("EscapeJSON(%s) = %s decodes to %q (%v), want %q", js, got, after, err, before)
		}
		// Any bytes: only ASCII controls, which are JSON's whitespace
		// outside strings, may be left.
		raw := EscapeJSON([]byte(s))
		checkSafe(t, "EscapeJSON of "+strconv.Quote(s), raw, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f")
	})
}
