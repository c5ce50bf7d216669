// Command compare runs `softmaxctl train` and the plain Gorgonia loop
// (bench/plainloop) side by side, alternating, several times each, and
// reports the training-loop time, the whole-process time and the peak
// resident memory of each, with the ratios softmaxctl/plain as
// min/median/max. Both read the same data in place and train the same
// recipe and seed.
//
//	go run ./bench/compare -runs 5 -data ../shared/data/fashion-mnist
//
// It builds both programs itself (into a temporary folder) so that neither
// pays for compilation inside its timing.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type sample struct {
	ValAcc, TrainSec, TotalSec, WallSec float64
	RSSMB                               float64
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	runs := flag.Int("runs", 5, "runs of each program")
	data := flag.String("data", "../shared/data/fashion-mnist", "folder with Fashion-MNIST")
	epochs := flag.Int("epochs", 10, "epochs")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "softmaxctl-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins := map[string]string{
		"softmaxctl": filepath.Join(tmp, "softmaxctl"),
		"plain":      filepath.Join(tmp, "plainloop"),
	}
	for name, pkg := range map[string]string{"softmaxctl": "./cmd/softmaxctl", "plain": "./bench/plainloop"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", bins[name], pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	model := filepath.Join(tmp, "model.safetensors")
	args := map[string][]string{
		"softmaxctl": {"train", "--data", *data, "--no-download", "--epochs", fmt.Sprint(*epochs), "--json", "--out", model, "--device", "cpu"},
		"plain":      {"-data", *data, "-epochs", fmt.Sprint(*epochs)},
	}
	results := map[string][]sample{}
	for i := 0; i < *runs; i++ {
		for _, name := range []string{"plain", "softmaxctl"} {
			s, err := measure(bins[name], args[name])
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			results[name] = append(results[name], s)
			fmt.Fprintf(os.Stderr, "run %d %-10s loop %.3fs  process %.3fs  rss %.0f MB  acc %.4f\n", i+1, name, s.TrainSec, s.WallSec, s.RSSMB, s.ValAcc)
		}
	}

	fmt.Printf("machine: %s, %d CPUs, %s; %d runs each, %d epochs, data %s\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), *runs, *epochs, *data)
	fmt.Println("| measure | plain Gorgonia loop (min / median / max) | softmaxctl (min / median / max) | ratio softmaxctl/plain (min / median / max) |")
	fmt.Println("| --- | --- | --- | --- |")
	row := func(label, unit string, f func(sample) float64) {
		p := stats(results["plain"], f)
		s := stats(results["softmaxctl"], f)
		// Ratios pair run i of each program, which ran back to back.
		var r []float64
		for i := range results["plain"] {
			r = append(r, f(results["softmaxctl"][i])/f(results["plain"][i]))
		}
		rs := stats3(r)
		fmt.Printf("| %s | %s | %s | %.3f / %.3f / %.3f |\n", label, p.fmt(unit), s.fmt(unit), rs[0], rs[1], rs[2])
	}
	row("training loop", "s", func(s sample) float64 { return s.TrainSec })
	row("whole process", "s", func(s sample) float64 { return s.WallSec })
	row("peak RSS", "MB", func(s sample) float64 { return s.RSSMB })
	row("test accuracy", "", func(s sample) float64 { return s.ValAcc })
	return nil
}

// measure runs one program and reads its JSON summary and resource usage.
func measure(bin string, args []string) (sample, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
	}
	wall := time.Since(start).Seconds()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var sum struct {
		ValAcc   float64 `json:"val_acc"`
		TrainSec float64 `json:"train_seconds"`
		TotalSec float64 `json:"total_seconds"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		return sample{}, fmt.Errorf("read summary: %w", err)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	rss := 0.0
	if ru != nil {
		rss = float64(ru.Maxrss) / 1024 // Linux reports KiB
	}
	return sample{ValAcc: sum.ValAcc, TrainSec: sum.TrainSec, TotalSec: sum.TotalSec, WallSec: wall, RSSMB: rss}, nil
}

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
	case "MB":
		return fmt.Sprintf("%.0f / %.0f / %.0f MB", t[0], t[1], t[2])
	}
	return fmt.Sprintf("%.4f / %.4f / %.4f", t[0], t[1], t[2])
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
