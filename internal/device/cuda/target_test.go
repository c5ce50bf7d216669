package cuda

import (
	"strings"
	"testing"
)

// What nvrtcGetSupportedArchs returns: NVRTC 11.8's list (as Debian's
// libnvrtc11.2 reports it in make check-cuda), and one like NVRTC 13's
// (Turing and newer).
var (
	nvrtc118Archs = []int{35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90}
	nvrtc130Archs = []int{75, 80, 86, 87, 88, 89, 90, 100, 103, 110, 120, 121}
)

func TestKernelTarget(t *testing.T) {
	tests := []struct {
		name         string
		major, minor int
		archs        []int
		want         kernelTarget
		wantErr      string
	}{
		{"H100, NVRTC 11.8", 9, 0, nvrtc118Archs, kernelTarget{"sm_90", true}, ""},
		{"H100, NVRTC 13", 9, 0, nvrtc130Archs, kernelTarget{"sm_90", true}, ""},
		{"V100, NVRTC 11.8", 7, 0, nvrtc118Archs, kernelTarget{"sm_70", true}, ""},
		{"B200, NVRTC 11.8: PTX of the newest it knows", 10, 0, nvrtc118Archs, kernelTarget{"compute_90", false}, ""},
		{"a minor NVRTC lacks", 8, 8, nvrtc118Archs, kernelTarget{"compute_87", false}, ""},
		{"V100, NVRTC 13: too old", 7, 0, nvrtc130Archs, kernelTarget{}, "older than every architecture this NVRTC compiles for (7.5 and newer)"},
		{"no archs", 9, 0, nil, kernelTarget{}, "no GPU architectures"},
		{"nonsense capability", 0, 0, nvrtc118Archs, kernelTarget{}, "compute capability 0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseKernelTarget(tt.major, tt.minor, tt.archs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestKernelTrimNUL(t *testing.T) {
	for in, want := range map[string]string{"log\x00": "log", "ptx": "ptx", "": "", "\x00": "", "a\x00b\x00": "a\x00b"} {
		if got := string(trimNUL([]byte(in))); got != want {
			t.Errorf("trimNUL(%q) = %q, want %q", in, got, want)
		}
	}
}
