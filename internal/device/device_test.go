package device

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/softmaxctl/softmaxctl/internal/testenv"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Kind
		wantErr string
	}{
		{"auto", Auto, ""},
		{"CPU", CPU, ""},
		{" cuda ", CUDA, ""},
		{"tpu", "", `unknown device "tpu"`},
		{"", "", `unknown device ""`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestSelectWithoutCUDA(t *testing.T) {
	if CUDASupport {
		testenv.SkipByDesign(t, "the CUDA build has CUDA support")
	}
	if k, err := testHost.Select(Auto); err != nil || k != CPU {
		t.Errorf("testHost.Select(auto) = %v, %v; want cpu", k, err)
	}
	if k, err := testHost.Select(CPU); err != nil || k != CPU {
		t.Errorf("testHost.Select(cpu) = %v, %v; want cpu", k, err)
	}
	_, err := testHost.Select(CUDA)
	var unavailable *UnavailableError
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "built without CUDA support") || strings.Contains(err.Error(), "\n") {
		t.Errorf("testHost.Select(cuda) error = %v, want one line: an UnavailableError saying the build has no CUDA support", err)
	}
}

// testHost is the Host the tests select with, as the command line makes
// one.
var testHost = NewHost(os.Getenv)
