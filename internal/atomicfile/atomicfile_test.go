package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWrite(t *testing.T) {
	writeHello := func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }
	failing := func(w io.Writer) error {
		io.WriteString(w, "partial")
		return errors.New("boom")
	}
	tests := []struct {
		name    string
		setup   func(dir string) string // returns the path to write
		write   func(io.Writer) error
		inject  bool
		wantErr string
		want    string // content at path afterwards ("" = absent)
	}{
		{"new file", func(d string) string { return filepath.Join(d, "a.png") }, writeHello, false, "", "hello"},
		{"replace", func(d string) string {
			p := filepath.Join(d, "a.png")
			os.WriteFile(p, []byte("old"), 0o644)
			return p
		}, writeHello, false, "", "hello"},
		{"writer fails, old kept", func(d string) string {
			p := filepath.Join(d, "a.png")
			os.WriteFile(p, []byte("old"), 0o644)
			return p
		}, failing, false, "boom", "old"},
		{"rename fails", func(d string) string { return filepath.Join(d, "a.png") }, writeHello, true, "injected", ""},
		{"missing folder", func(d string) string { return filepath.Join(d, "no", "a.png") }, writeHello, false, "does not exist", ""},
		{"is a directory", func(d string) string { return d }, writeHello, false, "is a directory", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(dir)
			if tt.inject {
				Rename = func(string, string) error { return &os.LinkError{Op: "rename", Err: errors.New("injected")} }
				t.Cleanup(func() { Rename = os.Rename })
			}
			before := entries(t, dir)
			err := Write(path, tt.write)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line with %q", err, tt.wantErr)
				}
				if got := entries(t, dir); strings.Join(got, ",") != strings.Join(before, ",") {
					t.Errorf("folder changed from %v to %v", before, got)
				}
			}
			if tt.want != "" {
				b, err := os.ReadFile(path)
				if err != nil || string(b) != tt.want {
					t.Errorf("content %q, %v; want %q", b, err, tt.want)
				}
				if info, _ := os.Stat(path); info.Mode().Perm() != 0o644 && tt.wantErr == "" {
					t.Errorf("mode %v, want 0644", info.Mode().Perm())
				}
			}
		})
	}
}
