package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTree(t *testing.T) {
	tests := []struct {
		name    string
		before  map[string]string // files at the destination before; nil: absent
		empty   bool              // the destination is an empty folder
		file    bool              // the destination is a file
		replace bool
		commit  bool
		wantErr string
		want    map[string]string // files at the destination after
	}{
		{name: "new", commit: true, want: map[string]string{"a/x": "new"}},
		{name: "empty folder", empty: true, commit: true, want: map[string]string{"a/x": "new"}},
		{name: "full folder refused", before: map[string]string{"old": "1"}, wantErr: "already exists and is not empty", want: map[string]string{"old": "1"}},
		{name: "full folder replaced", before: map[string]string{"old": "1"}, replace: true, commit: true, want: map[string]string{"a/x": "new"}},
		{name: "aborted: absent stays absent", commit: false},
		{name: "aborted: old kept", before: map[string]string{"old": "1"}, replace: true, want: map[string]string{"old": "1"}},
		{name: "a file", file: true, replace: true, wantErr: "not a folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "out")
			switch {
			case tt.file:
				os.WriteFile(dst, []byte("f"), 0o644)
			case tt.empty:
				os.Mkdir(dst, 0o755)
			case tt.before != nil:
				for p, c := range tt.before {
					os.MkdirAll(filepath.Dir(filepath.Join(dst, p)), 0o755)
					os.WriteFile(filepath.Join(dst, p), []byte(c), 0o644)
				}
			}
			tr, err := CreateTree(dst, tt.replace)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var te *TreeExistsError
				if strings.Contains(tt.wantErr, "not empty") && !errors.As(err, &te) {
					t.Errorf("err %T is not a *TreeExistsError", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				os.MkdirAll(filepath.Join(tr.Dir(), "a"), 0o755)
				os.WriteFile(filepath.Join(tr.Dir(), "a", "x"), []byte("new"), 0o644)
				if tt.commit {
					if err := tr.Commit(); err != nil {
						t.Fatal(err)
					}
				}
				tr.Abort()
			}
			got := map[string]string{}
			filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					b, _ := os.ReadFile(p)
					rel, _ := filepath.Rel(dst, p)
					got[filepath.ToSlash(rel)] = string(b)
				}
				return nil
			})
			if tt.file {
				got = nil
			}
			if len(got) != len(tt.want) {
				t.Errorf("destination holds %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("destination holds %v, want %v", got, tt.want)
				}
			}
			// Nothing temporary is left next to it.
			entries, _ := os.ReadDir(parent)
			for _, e := range entries {
				if e.Name() != "out" {
					t.Errorf("left %s behind", e.Name())
				}
			}
		})
	}
}
