//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// Root does not write through another user's link in a sticky,
// world-writable folder (the kernel's protected_symlinks rule, which the
// atomic writer applies itself as it follows links itself): train refuses
// before any work, and the file the link leads to is untouched.
func TestTrainRefusesPlantedLink(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "only root can give a link to another user: run as root")
	}
	dir := synthData(t, 100, 20)
	base := t.TempDir()
	os.Chmod(base, 0o755)
	shared := filepath.Join(base, "tmp")
	os.Mkdir(shared, 0o755)
	if err := os.Chmod(shared, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	important := filepath.Join(base, "important.conf")
	os.WriteFile(important, []byte("secret"), 0o600)
	link := filepath.Join(shared, "model.safetensors")
	if err := os.Symlink(important, link); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot make symbolic links here: %v", err))
	}
	if err := os.Lchown(link, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r := execute(t, "train", "--data", dir, "--no-download", "--epochs", "1", "--batch-size", "10", "--out", link)
	if r.code != ExitUsage {
		t.Fatalf("exit %d, want 2; stderr %q", r.code, r.err)
	}
	oneErrorLine(t, r.err)
	if !strings.Contains(r.err, "owned by another user (uid 65534) in the sticky, world-writable folder") {
		t.Errorf("stderr %q does not say why", r.err)
	}
	if strings.Contains(r.err, "training on") {
		t.Errorf("training started before the refusal: %q", r.err)
	}
	if b, _ := os.ReadFile(important); string(b) != "secret" {
		t.Errorf("the link's target was overwritten: %q", b)
	}
	if es, _ := os.ReadDir(shared); len(es) != 1 {
		t.Errorf("the shared folder holds %v", es)
	}
	// The caller's own link there is followed, as the kernel would.
	os.Lchown(link, 0, 0)
	if r := execute(t, "train", "--data", dir, "--no-download", "--epochs", "1", "--batch-size", "10", "--out", link); r.code != 0 {
		t.Fatalf("own link: exit %d, %q", r.code, r.err)
	}
	if b, _ := os.ReadFile(important); string(b) == "secret" {
		t.Errorf("the caller's own link was not followed")
	}
}

// Two trains to the same --out at once: the second refuses to start (exit
// 1, one line naming the first), instead of both exiting 0 with one model
// silently lost; the first saves its model, and then --out is free again.
func TestConcurrentTrainsToOneOut(t *testing.T) {
	dir := synthData(t, 100, 20)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	args := []string{"train", "--data", dir, "--no-download", "--epochs", "2", "--batch-size", "10", "--out", out, "--seed", "1"}
	// The first run stops in its first epoch line until released.
	reached, release := make(chan struct{}), make(chan struct{})
	first := &hookWriter{hook: func() { close(reached); <-release }}
	done := make(chan int)
	go func() {
		var errOut bytes.Buffer
		done <- Execute(context.Background(), &IO{In: strings.NewReader(""), Out: first, ErrOut: &errOut}, args)
	}()
	<-reached
	r := execute(t, slices.Concat(args[:len(args)-1], []string{"2"})...)
	close(release)
	if code := <-done; code != 0 {
		t.Fatalf("first run: exit %d", code)
	}
	if r.code != 1 {
		t.Fatalf("second run: exit %d, want 1; stderr %q", r.code, r.err)
	}
	oneErrorLine(t, r.err)
	if want := "--out " + out + " is being written by another softmaxctl run (pid " + strconv.Itoa(os.Getpid()) + ")"; !strings.Contains(r.err, want) {
		t.Errorf("stderr %q lacks %q", r.err, want)
	}
	if strings.Contains(r.err, "training on") {
		t.Errorf("the second run started training: %q", r.err)
	}
	ck, _, err := loadModel(out)
	if err != nil || ck.Meta.Seed != 1 {
		t.Fatalf("--out does not hold the first run's model: %v", err)
	}
	if r := execute(t, args...); r.code != 0 {
		t.Fatalf("after the first run: exit %d, %q", r.code, r.err)
	}
	if es, _ := os.ReadDir(filepath.Dir(out)); len(es) != 1 {
		t.Errorf("files left next to --out: %v", es)
	}
}

// The temporary folder of an export killed by SIGKILL (tens of megabytes
// for a whole dataset) is removed by the next export to the same --out;
// that of a live export is left alone.
func TestExportRemovesStaleTemp(t *testing.T) {
	data := synthData(t, 30, 20)
	parent := t.TempDir()
	dead := testenv.DeadPID(t)
	stale := filepath.Join(parent, ".png.tmp-"+strconv.Itoa(dead)+"-0123456789ab")
	live := filepath.Join(parent, ".png.tmp-"+strconv.Itoa(os.Getppid())+"-0123456789ab")
	for _, d := range []string{stale, live} {
		os.MkdirAll(filepath.Join(d, "train", "0_T-shirt_top"), 0o755)
		os.WriteFile(filepath.Join(d, "train", "0_T-shirt_top", "00000.png"), []byte("x"), 0o644)
	}
	if r := execute(t, "export-images", "--data", data, "--no-download", "--out", filepath.Join(parent, "png")); r.code != 0 {
		t.Fatalf("exit %d, %q", r.code, r.err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the killed export's folder is still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live export's folder was removed: %v", err)
	}
}
