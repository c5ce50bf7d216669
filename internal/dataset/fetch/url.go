package fetch

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// hidden is what messages show instead of credentials and query values.
const hidden = "xxxxx"

// RedactURL returns raw as a message may show it: the user name and
// password, every query value and the fragment are replaced by "xxxxx".
//
// It works on the text, not on a parsed URL, so that a URL that url.Parse
// rejects — typically because a password holds a space, a "%", a "/" or a
// "?" — is redacted as well. Where a password ends cannot be known in such
// a URL, so everything between the "//" and the last "@" is hidden, and
// when what is hidden holds a "?" or "#" the text after the "@" is hidden
// up to the next "&": an "@" in a path or query then hides more than
// needed, never less.
func RedactURL(raw string) string {
	var masks [][2]int // byte ranges to hide, in order
	hide := func(i, j int) {
		if j > i {
			masks = append(masks, [2]int{i, j})
		}
	}
	p := 0                      // where the text after any user info begins
	mode, continued := 0, false // 0 path, 1 query, 2 fragment
	if at := strings.LastIndexByte(raw, '@'); at >= 0 {
		start := 0
		if i := strings.Index(raw[:at], "//"); i >= 0 {
			start = i + 2
		}
		hide(start, at)
		// A "?" or "#" before the "@" may have begun a query or fragment
		// that goes on after it.
		if i := strings.IndexAny(raw[:at], "?#"); i >= 0 {
			mode, continued = 1, true
			if raw[i] == '#' {
				mode = 2
			}
		}
		p = at + 1
	}
	if mode == 0 {
		i := strings.IndexAny(raw[p:], "?#")
		if i < 0 {
			return apply(raw, masks)
		}
		p += i + 1
		mode = 1
		if raw[p-1] == '#' {
			mode = 2
		}
	}
	if mode == 1 {
		end := len(raw)
		if i := strings.IndexByte(raw[p:], '#'); i >= 0 {
			end = p + i
		}
		for i := p; i <= end; {
			j := strings.IndexByte(raw[i:end], '&')
			if j < 0 {
				j = end - i
			}
			param := raw[i : i+j]
			if eq := strings.IndexByte(param, '='); eq >= 0 && !continued {
				hide(i+eq+1, i+j)
			} else {
				hide(i, i+j)
			}
			continued = false
			i += j + 1
		}
		p = end + 1
	}
	if p < len(raw) {
		hide(p, len(raw))
	}
	return apply(raw, masks)
}

// apply returns raw with each of the ordered ranges masks replaced by
// "xxxxx", ranges that touch or overlap counting as one.
func apply(raw string, masks [][2]int) string {
	if len(masks) == 0 {
		return raw
	}
	var b strings.Builder
	last := 0
	for k := 0; k < len(masks); {
		i, j := masks[k][0], masks[k][1]
		for k++; k < len(masks) && masks[k][0] <= j; k++ {
			j = max(j, masks[k][1])
		}
		b.WriteString(raw[last:i])
		b.WriteString(hidden)
		last = j
	}
	b.WriteString(raw[last:])
	return b.String()
}

// parseProblem says why url.Parse rejected raw. Its own message can quote
// part of a password (invalid port ":pass" after host), so it is given only
// when RedactURL hides nothing.
func parseProblem(raw string, err error) error {
	if RedactURL(raw) == raw {
		return unwrapURL(err)
	}
	return errors.New("write characters such as @ / ? # % and spaces in a user name, password or query %-escaped (%40 for @)")
}

// CheckMirror reports whether raw can serve as a mirror: a URL that parses,
// with the scheme http, https or file. The error names raw redacted.
func CheckMirror(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a valid URL: %w", RedactURL(raw), parseProblem(raw, err))
	}
	switch u.Scheme {
	case "http", "https", "file":
		return nil
	}
	return fmt.Errorf("%q is not an http, https or file URL", RedactURL(raw))
}

// MirrorURL returns the base URL that a --mirror value names: an http,
// https or file URL as it is (checked by CheckMirror), or a path without
// a scheme, absolute or relative, naming a folder that exists, as the
// file URL of its absolute path — a copy of the files on a USB stick or
// a shared disk, given as a user would type it.
func MirrorURL(raw string) (string, error) {
	if u, err := url.Parse(raw); raw == "" || err != nil || u.Scheme != "" {
		return raw, CheckMirror(raw)
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return "", fmt.Errorf("%q: %w", raw, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%q is not a URL (http, https or file) and no such folder exists", raw)
	case err != nil:
		return "", fmt.Errorf("%q: %w", raw, unwrapPath(err))
	case !fi.IsDir():
		return "", fmt.Errorf("%q is a file: give the folder that holds the dataset's files, or a URL", raw)
	}
	return fileURL(abs), nil
}

// joinURL appends name to base's path, adding the "/" that users often
// leave off, before any query or fragment: a signed URL's token stays a
// token. The text of base is kept as it is, not re-encoded.
func joinURL(base, name string) string {
	end := len(base)
	if i := strings.IndexAny(base, "?#"); i >= 0 {
		end = i
	}
	p := base[:end]
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p + url.PathEscape(name) + base[end:]
}
