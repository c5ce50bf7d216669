// Command compare runs `softmaxctl train` and its peers side by side on the
// same recipe and data, alternating, several rounds, and reports for each
// the training-loop time, the whole-process time and the peak resident
// memory as min / median / max, with the per-round ratios of softmaxctl
// to each peer. The peers are
//
//   - the plain Gorgonia loop (bench/plainloop): the same graph written the
//     straightforward way, always run;
//   - NumPy (bench/peers/numpy_softmax.py) and PyTorch
//     (bench/peers/torch_softmax.py), run when the Python interpreter
//     given by -python imports numpy (and torch); each says which BLAS it
//     loaded, as NumPy with a reference BLAS is several times slower than
//     with OpenBLAS.
//
// Every program prints the JSON summary of `softmaxctl train --json`
// (train_seconds, total_seconds, val_acc); the harness measures the whole
// process itself, from start to exit.
//
//	go run ./bench/compare -runs 5 [-data DIR] [-python python3]
//
// Without -data the folder is softmaxctl's own: $SOFTMAXCTL_DATA/
// fashion-mnist, else the user cache (see `softmaxctl train --help`). The
// Go programs are built first, into a temporary folder, so that none pays
// for compilation inside its timing.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/softmaxctl/softmaxctl/internal/blas"
	"github.com/softmaxctl/softmaxctl/internal/dataset"
)

// A program is one contestant: how to start it, and what it reported.
type program struct {
	name string   // as printed
	argv []string // command line
	dir  string   // working directory ("" for the current one)
	// about is what the program said about itself (its library and BLAS).
	about   string
	samples []sample
}

type sample struct {
	ValAcc, TrainSec, WallSec float64
	RSSMiB                    float64 // 0 where the system does not say
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	runs := flag.Int("runs", 5, "rounds; each runs every program once")
	data := flag.String("data", "", "folder with Fashion-MNIST (default $SOFTMAXCTL_DATA/fashion-mnist, else the user cache)")
	epochs := flag.Int("epochs", 10, "epochs")
	python := flag.String("python", "python3", "Python interpreter for the NumPy and PyTorch peers (skipped if it lacks numpy or torch)")
	flag.Parse()
	if *runs < 1 {
		return errors.New("-runs must be at least 1")
	}

	dir, err := dataset.ResolveDir(*data, dataRoot(), "fashion-mnist")
	if err != nil {
		return err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	spec, _ := dataset.Lookup("fashion-mnist")
	if missing := dataset.Missing(dir, spec); len(missing) > 0 {
		return fmt.Errorf("Fashion-MNIST is not in %s (missing %s): run `softmaxctl download` or pass -data", dir, strings.Join(missing, ", "))
	}

	tmp, err := os.MkdirTemp("", "softmaxctl-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := func(name, pkg string) (string, error) {
		out := filepath.Join(tmp, name)
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %v\n%s", pkg, err, msg)
		}
		return out, nil
	}
	smx, err := bin("softmaxctl", "./cmd/softmaxctl")
	if err != nil {
		return err
	}
	plain, err := bin("plainloop", "./bench/plainloop")
	if err != nil {
		return err
	}
	ep := fmt.Sprint(*epochs)
	progs := []*program{
		{name: "softmaxctl", argv: []string{smx, "train", "--data", dir, "--no-download", "--epochs", ep, "--json",
			"--out", filepath.Join(tmp, "model.safetensors"), "--device", "cpu"},
			about: "Go, Gorgonia tape machine, internal/blas " + blas.New().Kernels() + " kernels"},
		{name: "plain Gorgonia loop", argv: []string{plain, "-data", dir, "-epochs", ep},
			about: "Go, Gorgonia tape machine, Gonum BLAS"},
	}
	peers, err := filepath.Abs(filepath.Join("bench", "peers"))
	if err != nil {
		return err
	}
	for _, p := range []struct{ name, module, script string }{
		{"NumPy", "numpy", "numpy_softmax.py"},
		{"PyTorch", "torch", "torch_softmax.py"},
	} {
		if msg, err := exec.Command(*python, "-c", "import "+p.module).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "%s peer skipped: %s cannot import %s (%s)\n", p.name, *python, p.module, lastLine(string(msg), err))
			continue
		}
		progs = append(progs, &program{name: p.name, dir: peers,
			argv: []string{*python, filepath.Join(peers, p.script), "--data", dir, "--epochs", ep}})
	}

	// Rounds alternate the programs, starting with a different one each
	// round, so that a slow spell of the machine does not fall on one.
	for i := 0; i < *runs; i++ {
		for j := range progs {
			p := progs[(i+j)%len(progs)]
			s, about, err := measure(p)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if about != "" {
				p.about = about
			}
			p.samples = append(p.samples, s)
			fmt.Fprintf(os.Stderr, "round %d %-20s loop %6.3fs  process %6.3fs  rss %4.0f MiB  acc %.4f\n", i+1, p.name, s.TrainSec, s.WallSec, s.RSSMiB, s.ValAcc)
		}
	}
	report(os.Stdout, progs, *runs, *epochs)
	return nil
}

// measure runs a program once and reads its JSON summary (the last line of
// its output) and its resource usage.
func measure(p *program) (sample, string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return sample{}, "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
	}
	wall := time.Since(start).Seconds()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var sum struct {
		ValAcc   *float64 `json:"val_acc"`
		TrainSec *float64 `json:"train_seconds"`
		TotalSec *float64 `json:"total_seconds"`
		Library  string   `json:"library"`
		BLAS     string   `json:"blas"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		return sample{}, "", fmt.Errorf("read summary: %w", err)
	}
	if sum.ValAcc == nil || sum.TrainSec == nil || sum.TotalSec == nil {
		return sample{}, "", errors.New("summary lacks val_acc, train_seconds or total_seconds")
	}
	rss, _ := peakRSS(cmd.ProcessState)
	about := ""
	if sum.Library != "" {
		about = sum.Library + ", BLAS: " + sum.BLAS
	}
	return sample{ValAcc: *sum.ValAcc, TrainSec: *sum.TrainSec, WallSec: wall, RSSMiB: rss}, about, nil
}

// report prints the machine, each program's figures and softmaxctl's
// per-round ratios to each peer, as Markdown tables.
func report(w *os.File, progs []*program, runs, epochs int) {
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s; %d rounds, %d epochs, Fashion-MNIST\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), runs, epochs)
	for _, p := range progs {
		fmt.Fprintf(w, "- %s: %s\n", p.name, p.about)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| program | training loop (min / median / max) | whole process | peak RSS | test accuracy |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	for _, p := range progs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", p.name,
			stats(p.samples, loop).fmt("s"), stats(p.samples, wall).fmt("s"), stats(p.samples, rss).fmt("MiB"), stats(p.samples, acc).fmt(""))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| ratio softmaxctl / peer, per round (min / median / max) | training loop | whole process | peak RSS |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	smx := progs[0]
	for _, p := range progs[1:] {
		ratio := func(f func(sample) float64) string {
			var r []float64
			for i := range p.samples {
				if d := f(p.samples[i]); d > 0 {
					r = append(r, f(smx.samples[i])/d)
				}
			}
			if len(r) == 0 {
				return "n/a"
			}
			t := stats3(r)
			return fmt.Sprintf("%.3f / %.3f / %.3f", t[0], t[1], t[2])
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", p.name, ratio(loop), ratio(wall), ratio(rss))
	}
}

func loop(s sample) float64 { return s.TrainSec }
func wall(s sample) float64 { return s.WallSec }
func rss(s sample) float64  { return s.RSSMiB }
func acc(s sample) float64  { return s.ValAcc }

type triple [3]float64

func stats3(v []float64) triple {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return triple{s[0], med, s[n-1]}
}

func stats(ss []sample, f func(sample) float64) triple {
	var v []float64
	for _, s := range ss {
		v = append(v, f(s))
	}
	return stats3(v)
}

func (t triple) fmt(unit string) string {
	switch unit {
	case "s":
		return fmt.Sprintf("%.2f / %.2f / %.2f s", t[0], t[1], t[2])
	case "MiB":
		if t[2] == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f / %.0f / %.0f MiB", t[0], t[1], t[2])
	}
	return fmt.Sprintf("%.4f / %.4f / %.4f", t[0], t[1], t[2])
}

func lastLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return err.Error()
	}
	return s
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.Index(l, ":"); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return runtime.GOARCH
}

// dataRoot is softmaxctl's data folder root ($SOFTMAXCTL_DATA, else the
// user cache), empty when neither is known.
func dataRoot() string {
	root, _ := dataset.DefaultRoot(os.Getenv, os.UserCacheDir)
	return root
}
