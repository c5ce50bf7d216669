//go:build softmaxctl_cuda

package cuda

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

// TestCUDALibraryChoice checks which cuBLAS and NVRTC the binary opens, in
// a child process per case (the choice is made once per process): fake
// libraries of CUDA 11, 12 and 13 in a folder on LD_LIBRARY_PATH or under
// CUDA_HOME, and the stub driver playing a CUDA 12.4 or 13.0 driver. It
// needs the no-GPU stub driver, which takes its version from the
// environment (make check-cuda), and gcc for the fake libraries.
func TestCUDALibraryChoice(t *testing.T) {
	if os.Getenv("SMX_LIBCHOICE_CHILD") != "" {
		libraryChoiceChild()
		return
	}
	t.Setenv("SOFTMAXCTL_STUB_DRIVER_VERSION", "12345")
	if v, err := driverVersion(); err != nil || v != 12345 {
		if os.Getenv("SOFTMAXCTL_TEST_STUB_DRIVER") != "" {
			t.Fatalf("SOFTMAXCTL_TEST_STUB_DRIVER is set, but the driver is not the stub (version %d, %v)", v, err)
		}
		testenv.SkipByDesign(t, fmt.Sprintf("needs the no-GPU stub driver (make check-cuda sets SOFTMAXCTL_TEST_STUB_DRIVER, which requires it); this driver reports %d, %v", v, err))
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		testenv.Skip(t, "needs gcc for the fake libraries")
	}
	driverDir := stubDriverDir(t)

	type lib struct {
		soname string
		omit   string // a symbol the library lacks
	}
	all := []lib{{soname: "libcublas.so.11"}, {soname: "libcublas.so.12"}, {soname: "libcublas.so.13"},
		{soname: "libnvrtc.so.11.2"}, {soname: "libnvrtc.so.12"}, {soname: "libnvrtc.so.13"}}
	tests := []struct {
		name       string
		libs       []lib
		driver     string
		viaHome    bool // the folder is CUDA_HOME/lib64, not on LD_LIBRARY_PATH
		wantCublas string
		wantNVRTC  string
		wantErr    string
	}{
		{name: "CUDA 13 driver takes the newest", libs: all, driver: "13000", wantCublas: "libcublas.so.13 13.1.2", wantNVRTC: "libnvrtc.so.13 13.1"},
		{name: "CUDA 12 driver skips 13", libs: all, driver: "12040", wantCublas: "libcublas.so.12 12.1.2", wantNVRTC: "libnvrtc.so.12 12.1"},
		{name: "only CUDA 11", libs: []lib{{soname: "libcublas.so.11"}, {soname: "libnvrtc.so.11.2"}}, driver: "13000",
			wantCublas: "libcublas.so.11 11.1.2", wantNVRTC: "libnvrtc.so.11.2 11.1"},
		{name: "found under CUDA_HOME", libs: all, driver: "13000", viaHome: true, wantCublas: "libcublas.so.13 13.1.2", wantNVRTC: "libnvrtc.so.13 13.1"},
		{name: "a symbol missing", libs: []lib{{soname: "libcublas.so.13", omit: "cublasSgemm_v2"}, {soname: "libnvrtc.so.13"}}, driver: "13000",
			wantErr: "cuBLAS: libcublas.so.13 lacks cublasSgemm_v2"},
		{name: "none", driver: "13000", wantErr: "cuBLAS not found (tried libcublas.so.13, libcublas.so.12, libcublas.so.11"},
		{name: "only newer than the driver", libs: []lib{{soname: "libcublas.so.13"}, {soname: "libnvrtc.so.13"}}, driver: "12040",
			wantErr: "libcublas.so.13 (newer than the driver's CUDA 12)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			dir := filepath.Join(home, "lib64")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, l := range tt.libs {
				buildFakeLibrary(t, gcc, dir, l.soname, l.omit)
			}
			cmd := exec.Command(os.Args[0], "-test.run", "^TestCUDALibraryChoice$")
			env := []string{"SMX_LIBCHOICE_CHILD=1", "SOFTMAXCTL_STUB_DRIVER_VERSION=" + tt.driver}
			if tt.viaHome {
				env = append(env, "LD_LIBRARY_PATH="+driverDir, "CUDA_HOME="+home)
			} else {
				env = append(env, "LD_LIBRARY_PATH="+dir+":"+driverDir, "CUDA_HOME=", "CUDA_PATH=")
			}
			cmd.Env = append(cleanEnv(), env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var got libraryChoice
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				if line, ok := strings.CutPrefix(sc.Text(), "CHOICE "); ok {
					if err := json.Unmarshal([]byte(line), &got); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.wantErr != "" {
				if !strings.Contains(got.Err, tt.wantErr) || strings.Contains(got.Err, "\n") {
					t.Errorf("error %q, want one line with %q", got.Err, tt.wantErr)
				}
				return
			}
			if got.Err != "" || got.Cublas != tt.wantCublas || got.NVRTC != tt.wantNVRTC || !strings.HasPrefix(got.CublasPath, dir) {
				t.Errorf("got %+v, want cuBLAS %q and NVRTC %q from %s", got, tt.wantCublas, tt.wantNVRTC, dir)
			}
			t.Logf("%+v", got)
		})
	}
}

type libraryChoice struct {
	Cublas, CublasPath, NVRTC, Err string
}

// libraryChoiceChild prints, on a line of its own, what
// loadCUDALibraries chose in this process.
func libraryChoiceChild() {
	var c libraryChoice
	if l, err := loadCUDALibraries(testConfig.LibraryDirs); err != nil {
		c.Err = err.Error()
	} else {
		c.Cublas = strings.TrimSpace(l.cublas.Soname + " " + l.cublas.Version)
		c.CublasPath = l.cublas.Path
		c.NVRTC = strings.TrimSpace(l.nvrtc.Soname + " " + l.nvrtc.Version)
	}
	b, _ := json.Marshal(c)
	fmt.Printf("\nCHOICE %s\n", b)
}

// cleanEnv is the environment without the loader's and CUDA's variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "SOFTMAXCTL_STUB_DRIVER_VERSION":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// stubDriverDir is a folder holding only the libcuda.so.1 this process
// runs with (the stub), so that a child finds the driver and nothing else
// of the folder it came from.
func stubDriverDir(t *testing.T) string {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot find the driver library: %v", err))
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) == 6 && strings.HasPrefix(filepath.Base(f[5]), "libcuda.so") {
			dir := t.TempDir()
			if err := os.Symlink(f[5], filepath.Join(dir, "libcuda.so.1")); err != nil {
				t.Fatal(err)
			}
			return dir
		}
	}
	testenv.Skip(t, "libcuda is not mapped in this process")
	return ""
}

// buildFakeLibrary compiles dir/soname: every symbol softmaxctl looks up
// in that library but omit, answering version queries with the soname's
// major version and minor 1 (patch 2).
func buildFakeLibrary(t *testing.T, gcc, dir, soname, omit string) {
	t.Helper()
	lib := 0
	if strings.HasPrefix(soname, "libnvrtc") {
		lib = 1
	}
	major := sonameMajor(soname)
	names, _ := cudaSymbols(lib)
	var src strings.Builder
	for _, n := range names {
		switch {
		case n == omit:
		case n == "cublasGetProperty":
			fmt.Fprintf(&src, "int %s(int t, int *v) { *v = t == 0 ? %d : t == 1 ? 1 : 2; return 0; }\n", n, major)
		case n == "nvrtcVersion":
			fmt.Fprintf(&src, "int %s(int *a, int *b) { *a = %d; *b = 1; return 0; }\n", n, major)
		default:
			fmt.Fprintf(&src, "int %s(void) { return 1; }\n", n)
		}
	}
	c := filepath.Join(t.TempDir(), "fake.c")
	if err := os.WriteFile(c, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-w", "-o", filepath.Join(dir, soname), "-Wl,-soname,"+soname, c).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", soname, err, out)
	}
}
