package cuda

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// TestCUDACompatHeader compiles gorgonia.org/cu's old-style driver calls
// (testdata/oldcalls.c) against a stand-in for CUDA 13's cuda.h: without
// cudacompat/cuda.h first on the include path they must not compile, with
// it they must, calling the old entry points the CUDA 13 driver still
// exports.
func TestCUDACompatHeader(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		if cc, err = exec.LookPath("cc"); err != nil {
			testenv.Skip(t, "no C compiler (gcc or cc) to compile the CUDA compat header test")
		}
	}
	obj := filepath.Join(t.TempDir(), "oldcalls.o")
	compile := func(include ...string) ([]byte, error) {
		args := []string{"-c", "-std=c99", "-Werror", "-Wall", "-o", obj}
		for _, dir := range include {
			args = append(args, "-I", dir)
		}
		return exec.Command(cc, append(args, "testdata/oldcalls.c")...).CombinedOutput()
	}
	if out, err := compile("testdata/fakecuda13"); err == nil {
		t.Fatalf("old calls compile against the CUDA 13 stand-in without the compat header: the stand-in is wrong\n%s", out)
	}
	if out, err := compile("cudacompat", "testdata/fakecuda13"); err != nil {
		t.Fatalf("compile with the compat header: %v\n%s", err, out)
	}
	f, err := elf.Open(obj)
	if err != nil && runtime.GOOS != "linux" {
		testenv.SkipByDesign(t, fmt.Sprintf("the symbols are read from ELF objects, which %s's compiler may not make: %v", runtime.GOOS, err))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var undefined []string
	for _, s := range syms {
		// The C library's own (__stack_chk_fail where the compiler
		// protects the stack by default) are not driver calls.
		if s.Section == elf.SHN_UNDEF && s.Name != "" && !strings.HasPrefix(s.Name, "__") {
			undefined = append(undefined, s.Name)
		}
	}
	slices.Sort(undefined)
	want := []string{"cuCtxCreate_v2", "cuGraphAddDependencies", "cuGraphGetEdges", "cuGraphNodeGetDependencies",
		"cuGraphNodeGetDependentNodes", "cuGraphRemoveDependencies", "cuMemAdvise", "cuMemPrefetchAsync"}
	if !slices.Equal(undefined, want) {
		t.Errorf("old calls link to %v, want %v", undefined, want)
	}
}
