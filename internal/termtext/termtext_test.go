package termtext

import (
	"testing"
	"unicode"
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
