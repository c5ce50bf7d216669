package fetch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A --mirror may be a URL or a folder on this machine, absolute or
// relative; a folder becomes the file URL of its absolute path.
func TestMirrorURL(t *testing.T) {
	dir := t.TempDir()
	copyDir := filepath.Join(dir, "my copy")
	os.Mkdir(copyDir, 0o755)
	file := filepath.Join(dir, "train-images-idx3-ubyte.gz")
	os.WriteFile(file, nil, 0o644)
	t.Chdir(dir)
	tests := []struct {
		raw, want, err string
	}{
		{"https://example.org/fashion/", "https://example.org/fashion/", ""},
		{"file:///srv/copy/", "file:///srv/copy/", ""},
		{copyDir, "file://" + filepath.ToSlash(dir) + "/my%20copy/", ""},
		{"my copy", "file://" + filepath.ToSlash(dir) + "/my%20copy/", ""},
		{"./my copy/", "file://" + filepath.ToSlash(dir) + "/my%20copy/", ""},
		{".", "file://" + filepath.ToSlash(dir) + "/", ""},
		{"nothere", "", `"nothere" is not a URL (http, https or file) and no such folder exists`},
		{file, "", "is a file: give the folder"},
		{"ftp://example.org/", "", "not an http, https or file URL"},
		{"", "", "not an http, https or file URL"},
	}
	for _, tt := range tests {
		got, err := MirrorURL(tt.raw)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("MirrorURL(%q) error %v, want %q", tt.raw, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("MirrorURL(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}
