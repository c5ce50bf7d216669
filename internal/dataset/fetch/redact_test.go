package fetch

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// redactCases are URLs as users type them, parsable or not, with what a
// message may show of them: never a user name, password, query value or
// fragment.
var redactCases = []struct{ in, want string }{
	{"https://example.org/fashion/", "https://example.org/fashion/"},
	{"file:///srv/mnist/", "file:///srv/mnist/"},
	{"http://alice:S3cret@example.org/data/", "http://xxxxx@example.org/data/"},
	{"http://alice@example.org/data/", "http://xxxxx@example.org/data/"},
	// url.Parse rejects these.
	{"http://alice:SECRET PW@example.org/data/", "http://xxxxx@example.org/data/"},
	{"http://alice:pw%zz@example.org/", "http://xxxxx@example.org/"},
	{"http://alice:S3cret@[::1/", "http://xxxxx@[::1/"},
	{"http://alice:S3cret@[::1", "http://xxxxx@[::1"},
	{"http://alice:p/S3cret@example.org/", "http://xxxxx@example.org/"},
	{"http://alice:2024/S3cret@example.org/", "http://xxxxx@example.org/"},
	// A "?" or "#" in a password may as well begin a query: what follows
	// the "@" is hidden too.
	{"http://alice:p?S3cret@example.org/", "http://xxxxx@xxxxx"},
	{"http://alice:p#S3cret@example.org/", "http://xxxxx@xxxxx"},
	{"http://alice:p@S3cret@example.org/", "http://xxxxx@example.org/"},
	{"alice:S3cret@example.org/data/", "xxxxx@example.org/data/"},
	{"http:alice:S3cret@example.org/", "xxxxx@example.org/"},
	// A scheme Download refuses.
	{"ftp://alice:pw@example.org/pub/", "ftp://xxxxx@example.org/pub/"},
	// Query values and fragments.
	{"https://example.org/data/?token=S3cret", "https://example.org/data/?token=xxxxx"},
	{"https://example.org/data/train.gz?token=S3cret&sig=S3cret2", "https://example.org/data/train.gz?token=xxxxx&sig=xxxxx"},
	{"https://example.org/data/?S3cret", "https://example.org/data/?xxxxx"},
	{"https://example.org/data/?a=&b", "https://example.org/data/?a=&xxxxx"},
	{"https://example.org/data/?", "https://example.org/data/?"},
	{"https://example.org/data/#S3cret", "https://example.org/data/#xxxxx"},
	{"https://example.org/d/?t=S3cret#S3cret2", "https://example.org/d/?t=xxxxx#xxxxx"},
	{"https://alice:pw@example.org/d/?t=S3cret", "https://xxxxx@example.org/d/?t=xxxxx"},
	{"https://example.org/d/?t=S3cret%zz", "https://example.org/d/?t=xxxxx"},
	// An "@" in a query: everything before it is hidden, and so are the
	// rest of its value and the values that follow.
	{"https://example.org/p?email=a@b.c&token=S3cret", "https://xxxxx@xxxxx&token=xxxxx"},
	// An "@" after the host cannot be told from a password holding "/":
	// the host is hidden too, which shows less but never a password.
	{"https://cdn.example.org/gh/u/r@master/data/", "https://xxxxx@master/data/"},
}

func TestRedactURL(t *testing.T) {
	for _, tt := range redactCases {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := RedactURL(tt.want); got != tt.want {
			t.Errorf("RedactURL(%q) = %q: redacting twice changes it", tt.want, got)
		}
	}
}

// FuzzRedactURL checks that a user name and password, whatever they hold,
// and a query value never show, that URLs with nothing to hide are shown as
// they are, and that the result is valid UTF-8 when its input is.
func FuzzRedactURL(f *testing.F) {
	for _, tt := range redactCases {
		f.Add(tt.in, "S3cret/x?y#z", "example.org/data/", "tok@en&x")
	}
	f.Add("", "", "", "")
	f.Add("http://", "a:b", "h:80/p", "v")
	f.Fuzz(func(t *testing.T, raw, userinfo, rest, value string) {
		got := RedactURL(raw)
		if utf8.ValidString(raw) && !utf8.ValidString(got) {
			t.Fatalf("RedactURL(%q) = %q, not valid UTF-8", raw, got)
		}
		if !strings.ContainsAny(raw, "@?#") && got != raw {
			t.Fatalf("RedactURL(%q) = %q, want it unchanged", raw, got)
		}
		// Credentials of any form, before a rest without "@".
		rest = strings.ReplaceAll(rest, "@", "")
		in := "https://" + userinfo + "@" + rest
		got = RedactURL(in)
		if userinfo != "" && !strings.HasPrefix(got, "https://xxxxx@") {
			t.Fatalf("RedactURL(%q) = %q, want it to start https://xxxxx@", in, got)
		}
		if len(userinfo) >= 6 && strings.Contains(got, userinfo) && !strings.Contains("https://xxxxx@"+rest, userinfo) {
			t.Fatalf("RedactURL(%q) = %q shows %q", in, got, userinfo)
		}
		// A query value, after a base with no query or fragment.
		base := strings.Map(func(r rune) rune {
			if strings.ContainsRune("?#&=", r) {
				return -1
			}
			return r
		}, rest)
		value = strings.Map(func(r rune) rune {
			if strings.ContainsRune("&#", r) {
				return -1
			}
			return r
		}, value)
		in = "https://" + base + "?token=" + value
		got = RedactURL(in)
		want := "https://" + base + "?token=xxxxx"
		switch {
		case value == "":
			want = in
		case strings.Contains(value, "@"):
			// All before the last "@" is hidden, and what follows it.
			want = "https://xxxxx@xxxxx"
			if strings.HasSuffix(value, "@") {
				want = "https://xxxxx@"
			}
		}
		if got != want {
			t.Fatalf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	})
}
