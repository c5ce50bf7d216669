//go:build unix

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// These tests run the real binary, because what they check lives in main:
// the signal handling and SIGPIPE.

func buildBinary(t *testing.T) string {
	t.Helper()
	testenv.SkipShort(t, "builds the binary")
	bin := filepath.Join(t.TempDir(), "softmaxctl")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// randomData writes a Fashion-MNIST-shaped dataset of random pixels.
func randomData(t *testing.T, nTrain, nTest int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(name string, dims []int) {
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.IntN(10))
			if len(dims) == 3 {
				data[i] = byte(rng.IntN(256))
			}
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		hdr := []byte{0, 0, 8, byte(len(dims))}
		for _, d := range dims {
			hdr = binary.BigEndian.AppendUint32(hdr, uint32(d))
		}
		zw.Write(hdr)
		zw.Write(data)
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("train-images-idx3-ubyte.gz", []int{nTrain, 28, 28})
	write("train-labels-idx1-ubyte.gz", []int{nTrain})
	write("t10k-images-idx3-ubyte.gz", []int{nTest, 28, 28})
	write("t10k-labels-idx1-ubyte.gz", []int{nTest})
	return dir
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// `softmaxctl train --json | head -1` finishes training and saves the
// model instead of dying of SIGPIPE.
func TestClosedPipeStillSaves(t *testing.T) {
	bin := buildBinary(t)
	dir := randomData(t, 2000, 200)
	out := filepath.Join(t.TempDir(), "m.safetensors")
	cmd := exec.Command(bin, "train", "--data", dir, "--no-download", "--epochs", "20", "--batch-size", "50", "--json", "--out", out)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, `"epoch":1`) {
		t.Fatalf("first line %q: %v", line, err)
	}
	stdout.Close() // as head -1 does
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("train did not finish after its reader went away")
	}
	if code := exitCode(err); code != 0 {
		t.Fatalf("exit %d, want 0; stderr %q", code, stderr.String())
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("no model saved: %v; stderr %q", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "standard output was closed") {
		t.Errorf("stderr %q does not say stdout was closed", stderr.String())
	}
}

// The first SIGINT or SIGTERM stops train before its first epoch without
// saving, and a good model at --out survives; the status names the signal.
func TestSignalBeforeFirstEpoch(t *testing.T) {
	bin := buildBinary(t)
	dir := randomData(t, 30000, 100)
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "m.safetensors")
			good := []byte("a model the user wants to keep")
			os.WriteFile(out, good, 0o644)
			// batch size 1: the first epoch takes seconds, so the
			// signal lands inside it.
			cmd := exec.Command(bin, "train", "--data", dir, "--no-download", "--batch-size", "1", "--out", out)
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stderr)
			first, _ := r.ReadString('\n')
			if !strings.HasPrefix(first, "training on") {
				cmd.Process.Kill()
				t.Fatalf("first stderr line %q", first)
			}
			cmd.Process.Signal(tt.sig)
			rest, _ := r.ReadString(0)
			err := cmd.Wait()
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, rest)
			}
			if !strings.Contains(rest, "nothing was saved") || strings.Count(rest, "softmaxctl: ") != 1 {
				t.Errorf("stderr %q", rest)
			}
			if b, _ := os.ReadFile(out); !bytes.Equal(b, good) {
				t.Error("the file at --out was replaced")
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
				t.Errorf("files left behind: %v", entries)
			}
		})
	}
}
