package cli

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestReferenceCurrent fails when docs/reference or docs/man is not what
// the commands' help generates: a flag or a help text changed without
// `make docs`. The pages are compared file by file, names included.
func TestReferenceCurrent(t *testing.T) {
	md, man := t.TempDir(), t.TempDir()
	if err := WriteReference(md, man); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ got, want string }{
		{md, filepath.Join("..", "..", "docs", "reference")},
		{man, filepath.Join("..", "..", "docs", "man")},
	} {
		got, want := listDir(t, d.got), listDir(t, d.want)
		if !slices.Equal(got, want) {
			t.Errorf("%s holds %v, the commands generate %v: run make docs", d.want, want, got)
			continue
		}
		for _, name := range got {
			g, err := os.ReadFile(filepath.Join(d.got, name))
			if err != nil {
				t.Fatal(err)
			}
			w, err := os.ReadFile(filepath.Join(d.want, name))
			if err != nil {
				t.Fatal(err)
			}
			if string(g) != string(w) {
				t.Errorf("%s is not what the commands' help generates: run make docs", filepath.Join(d.want, name))
			}
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
