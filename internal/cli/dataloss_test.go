package cli

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// A learning rate so large that the weights overflow what a model may hold
// (finite, but beyond model.MaxLogit) never replaces a good model: the run
// exits 1 with one line, and the old file is kept byte for byte.
func TestHugeLRKeepsTheModel(t *testing.T) {
	dir := synthData(t, 200, 50)
	good := trainedModel(t, dir, 1, "--batch-size", "20")
	before := mustRead(t, good)
	for _, lr := range []string{"1e30", "3e38"} {
		r := execute(t, "train", "--data", dir, "--no-download", "--epochs", "2", "--batch-size", "20", "--lr", lr, "--out", good)
		if r.code != 1 {
			t.Fatalf("--lr %s: exit %d, want 1; stderr %q", lr, r.code, r.err)
		}
		oneErrorLine(t, r.err)
		for _, want := range []string{"diverged", "nothing was saved", good + " is unchanged", "use a smaller --lr than "} {
			if !strings.Contains(r.err, want) {
				t.Errorf("--lr %s: stderr %q lacks %q", lr, r.err, want)
			}
		}
		if !bytes.Equal(mustRead(t, good), before) {
			t.Fatalf("--lr %s replaced the good model", lr)
		}
		if r := execute(t, "eval", "--model", good, "--data", dir); r.code != 0 {
			t.Errorf("eval of the kept model: exit %d, %q", r.code, r.err)
		}
		if es, _ := os.ReadDir(filepath.Dir(good)); len(es) != 1 {
			t.Errorf("files left next to the model: %v", es)
		}
	}
}

// snapshot maps every file under dir (relative, slash-separated) to its
// content, for checking that a refused command changed nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	return files
}

// export-images never writes over its input: --out may not be, hold or lie
// inside the data folder (whatever --force says), and --force replaces only
// a folder that holds nothing but an earlier export. Each refusal exits 2
// before any work, in one line, and leaves every file as it was.
func TestExportNeverDestroysItsInput(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, parent, data string) string // returns --out
		force bool
		code  int
		want  string
	}{
		{name: "--out is --data", force: true, code: 2, want: " is the input ",
			setup: func(t *testing.T, parent, data string) string { return data }},
		{name: "--out holds --data", force: true, code: 2, want: " holds the input ",
			setup: func(t *testing.T, parent, data string) string { return parent }},
		{name: "--out inside --data", force: true, code: 2, want: " is inside the input ",
			setup: func(t *testing.T, parent, data string) string { return filepath.Join(data, "png") }},
		{name: "--out a link to --data", force: true, code: 2, want: " is the input ",
			setup: func(t *testing.T, parent, data string) string {
				link := filepath.Join(parent, "link")
				if err := os.Symlink(data, link); err != nil {
					testenv.Skip(t, fmt.Sprintf("cannot make symbolic links here: %v", err))
				}
				return link
			}},
		{name: "--out relative, the parent of --data", force: true, code: 2, want: " holds the input ",
			setup: func(t *testing.T, parent, data string) string {
				t.Chdir(data)
				return ".."
			}},
		{name: "--out a data file", force: true, code: 2, want: " is inside the input ",
			setup: func(t *testing.T, parent, data string) string {
				return filepath.Join(data, "train-images-idx3-ubyte.gz")
			}},
		{name: "--force and files of the user's", force: true, code: 2, want: "holds notes.txt, which is not part of an earlier export",
			setup: func(t *testing.T, parent, data string) string {
				out := filepath.Join(parent, "png")
				os.Mkdir(out, 0o755)
				os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
				return out
			}},
		{name: "--force and an earlier export with a file added", force: true, code: 2, want: "holds test/1_Trouser/notes.txt, which is not part",
			setup: func(t *testing.T, parent, data string) string {
				out := filepath.Join(parent, "png")
				if r := execute(t, "export-images", "--data", data, "--no-download", "--out", out, "--limit", "5"); r.code != 0 {
					t.Fatalf("first export: %d %s", r.code, r.err)
				}
				os.WriteFile(filepath.Join(out, "test", "1_Trouser", "notes.txt"), []byte("mine"), 0o644)
				return out
			}},
		{name: "--force replaces an earlier export", force: true, code: 0,
			setup: func(t *testing.T, parent, data string) string {
				out := filepath.Join(parent, "png")
				if r := execute(t, "export-images", "--data", data, "--no-download", "--out", out, "--limit", "5"); r.code != 0 {
					t.Fatalf("first export: %d %s", r.code, r.err)
				}
				return out
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			data := filepath.Join(parent, "fashion")
			os.Rename(synthData(t, 30, 20), data)
			os.WriteFile(filepath.Join(parent, "unrelated.txt"), []byte("keep me"), 0o644)
			out := tt.setup(t, parent, data)
			before := snapshot(t, parent)
			args := []string{"export-images", "--data", data, "--no-download", "--out", out}
			if tt.force {
				args = append(args, "--force")
			}
			r := execute(t, args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.err)
			}
			if tt.code == 0 {
				if n := len(snapshot(t, out)); n != 50 {
					t.Errorf("--out holds %d files after --force, want the 50 images", n)
				}
				return
			}
			oneErrorLine(t, r.err)
			if !strings.Contains(r.err, tt.want) {
				t.Errorf("stderr %q lacks %q", r.err, tt.want)
			}
			after := snapshot(t, parent)
			if len(after) != len(before) {
				t.Errorf("%d files before, %d after", len(before), len(after))
			}
			for k, v := range before {
				if after[k] != v {
					t.Errorf("%s was changed or removed", k)
				}
			}
			// Before any work: no temporary folder was made.
			if es, _ := os.ReadDir(parent); len(es) > 4 {
				t.Errorf("the parent holds %v", es)
			}
		})
	}
}

// Class folders whose names a model cannot record (control characters,
// invalid UTF-8) are refused before any image is read, not after training.
func TestClassFolderNamesCheckedFirst(t *testing.T) {
	for _, bad := range []string{"d\x07og", "bird\x1b[2J", "\xffcat"} {
		t.Run(strings.ToValidUTF8(bad, "?"), func(t *testing.T) {
			folder := filepath.Join(t.TempDir(), "pics")
			for _, c := range []string{"cat", bad} {
				for k := range 3 {
					writeColourPNG(t, filepath.Join(folder, c, fmt.Sprintf("%02d.png", k)), 8, 8, color.NRGBA{byte(40 * k), 90, 20, 255})
				}
			}
			out := filepath.Join(t.TempDir(), "m.safetensors")
			r := execute(t, "train", "--data", folder, "--epochs", "200", "--batch-size", "2", "--out", out)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want 2; stderr %q", r.code, r.err)
			}
			oneErrorLine(t, r.err)
			if !strings.Contains(r.err, "class folder name ") || !strings.Contains(r.err, "rename the folder") {
				t.Errorf("stderr %q does not name the folder and what to do", r.err)
			}
			if strings.Contains(r.err, "reading image folder") || strings.Contains(r.err, "training on") {
				t.Errorf("work was done before the refusal: %q", r.err)
			}
			if strings.ContainsAny(r.err, "\x07\x1b") || strings.Contains(r.err, "\xff") {
				t.Errorf("stderr holds the raw characters: %q", r.err)
			}
		})
	}
}

// The image-folder flags given with a known dataset cannot apply: each is
// a usage error that says why, instead of being ignored.
func TestFolderFlagsRefusedWithIDX(t *testing.T) {
	dir := synthData(t, 50, 20)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--image-size", "0"}, "--image-size applies only to image folders"},
		{[]string{"--image-size", "100000"}, "--image-size applies only to image folders"},
		{[]string{"--image-size", "28"}, "fashion-mnist's images are used at the size its files hold"},
		{[]string{"--test-split", "1.0"}, "--test-split applies only to image folders (--data FOLDER with one subfolder of images per class), and fashion-mnist is not one: fashion-mnist has its own test split; drop --test-split"},
		{[]string{"--color"}, "--color applies only to image folders"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := execute(t, append([]string{"train", "--data", dir, "--no-download", "--epochs", "1", "--out", out}, tt.args...)...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want 2; stderr %q", r.code, r.err)
			}
			oneErrorLine(t, r.err)
			if !strings.Contains(r.err, tt.want) {
				t.Errorf("stderr %q lacks %q", r.err, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a model was saved")
			}
		})
	}
}

// --init X --out X says that X will be replaced.
func TestInitSameAsOutSaysSo(t *testing.T) {
	dir := synthData(t, 100, 20)
	m := trainedModel(t, dir, 1, "--batch-size", "10")
	r := execute(t, "train", "--data", dir, "--no-download", "--epochs", "1", "--batch-size", "10", "--init", m, "--out", m)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %q", r.code, r.err)
	}
	if !strings.Contains(r.err, "--init and --out are the same file: "+m+" will be replaced") {
		t.Errorf("stderr %q does not say that --init is replaced", r.err)
	}
	other := filepath.Join(t.TempDir(), "new.safetensors")
	r = execute(t, "train", "--data", dir, "--no-download", "--epochs", "1", "--batch-size", "10", "--init", m, "--out", other)
	if r.code != 0 || strings.Contains(r.err, "same file") {
		t.Errorf("distinct --init and --out: exit %d, stderr %q", r.code, r.err)
	}
}
